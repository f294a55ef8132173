//! The node side of the control socket: accepting connections, status requests and CPG
//! sessions, with bounds on what a client can make the node hold.
//!
//! * A request line longer than [`ControlLimits::line_max`] (the first line of a
//!   connection: [`ControlLimits::first_line_max`]), or a binary frame whose length prefix
//!   is over [`super::frame::FRAME_MAX`], is answered with one error naming the limit and
//!   the connection is closed; the node never holds more of it than the limit.
//! * Deliveries wait for a slow client in its session's queue. A client whose queue holds
//!   more than [`ControlLimits::delivery_queue_max`] bytes (it joined and does not read) is
//!   counted (`slow_client_disconnects`), logged once and disconnected: its member leaves
//!   the group and its queue is freed. corosync's IPC likewise drops a client whose
//!   outgoing queue overflows.
//!
//! Counters are in [`ControlStats`], part of every status reply.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use super::lines::{Line, LineReader};
use super::{deliver_line, frame, Encoding, Out, Reply, Request, WireEvent, MCAST_WINDOW};
use crate::cpg::{Cpg, CpgEvent};
use crate::driver::NodeHandle;

/// Longest request line of a CPG session: an mcast of the largest CPG message in hex
/// (twice [`crate::cpg::MESSAGE_MAX`]) with its JSON around it.
pub const REQUEST_LINE_MAX: usize = 2 * crate::cpg::MESSAGE_MAX + 1024;

/// Longest first line of a connection (`status` or `cpg_join` with a group name of at most
/// 128 bytes, JSON-escaped).
pub const FIRST_LINE_MAX: usize = 4096;

/// Bytes of deliveries that may wait for one client before it is disconnected.
pub const DELIVERY_QUEUE_MAX: usize = 64 << 20;

/// How long a leaving session's queued output may take to reach its client.
const FINAL_FLUSH: Duration = Duration::from_secs(5);

/// The bounds of [`serve_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlLimits {
    pub first_line_max: usize,
    pub line_max: usize,
    pub delivery_queue_max: usize,
}

impl Default for ControlLimits {
    fn default() -> Self {
        ControlLimits {
            first_line_max: FIRST_LINE_MAX,
            line_max: REQUEST_LINE_MAX,
            delivery_queue_max: DELIVERY_QUEUE_MAX,
        }
    }
}

/// Control socket counters (in `totem-node status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlStats {
    /// Connections accepted.
    pub connections: u64,
    /// CPG sessions open now.
    pub sessions_open: u64,
    /// Requests refused for their length (a line or a frame over the limit).
    pub requests_too_long: u64,
    /// Requests that did not parse or were not valid where they came.
    pub bad_requests: u64,
    /// Clients disconnected because their delivery queue overflowed.
    pub slow_client_disconnects: u64,
    /// Bytes of deliveries queued for all clients now.
    pub queued_bytes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    sessions_open: AtomicU64,
    requests_too_long: AtomicU64,
    bad_requests: AtomicU64,
    slow_client_disconnects: AtomicU64,
    /// Shared with the sessions' writer tasks.
    queued_bytes: Arc<AtomicU64>,
}

impl Counters {
    fn snapshot(&self) -> ControlStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ControlStats {
            connections: get(&self.connections),
            sessions_open: get(&self.sessions_open),
            requests_too_long: get(&self.requests_too_long),
            bad_requests: get(&self.bad_requests),
            slow_client_disconnects: get(&self.slow_client_disconnects),
            queued_bytes: get(&self.queued_bytes),
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// What every connection shares.
struct Ctx {
    node: NodeHandle,
    cpg: Cpg,
    limits: ControlLimits,
    counters: Counters,
}

async fn write_line(w: &mut OwnedWriteHalf, r: &Reply) -> io::Result<()> {
    let mut s = serde_json::to_string(r).map_err(io::Error::other)?;
    s.push('\n');
    w.write_all(s.as_bytes()).await
}

fn too_long(limit: usize) -> String {
    format!("request longer than {limit} bytes refused; closing the connection")
}

/// Binds `path` (replacing a stale socket) and serves connections until the task is dropped.
pub fn serve(path: &Path, node: NodeHandle, cpg: Cpg) -> io::Result<JoinHandle<()>> {
    serve_with(path, node, cpg, ControlLimits::default())
}

/// [`serve`] with other bounds (tests use small ones).
pub fn serve_with(
    path: &Path,
    node: NodeHandle,
    cpg: Cpg,
    limits: ControlLimits,
) -> io::Result<JoinHandle<()>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is in use by a running node", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    let path: PathBuf = path.to_path_buf();
    let ctx = Arc::new(Ctx {
        node,
        cpg,
        limits,
        counters: Counters::default(),
    });
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((s, _)) => {
                    bump(&ctx.counters.connections);
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        if let Err(e) = connection(s, &ctx).await {
                            tracing::debug!(error = %e, "control connection ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "control accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

/// The pid of the process at the other end of `s` (SO_PEERCRED), if the kernel tells.
fn peer_pid(s: &UnixStream) -> Option<u32> {
    s.peer_cred()
        .ok()
        .and_then(|c| c.pid())
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p != 0)
}

async fn connection(s: UnixStream, ctx: &Ctx) -> io::Result<()> {
    let pid = peer_pid(&s);
    let (r, mut w) = s.into_split();
    let mut lines = LineReader::new(r, ctx.limits.first_line_max);
    let first = match lines.next_line().await? {
        Line::Text(l) => l,
        Line::End => return Ok(()),
        Line::TooLong { limit } => {
            bump(&ctx.counters.requests_too_long);
            return write_line(&mut w, &Reply::Error(too_long(limit))).await;
        }
    };
    match serde_json::from_str::<Request>(&first) {
        Ok(Request::Status) => {
            let reply = match (ctx.node.status().await, ctx.cpg.groups().await) {
                (Ok(mut status), Ok(groups)) => {
                    status.control = Some(ctx.counters.snapshot());
                    Reply::Status {
                        status: Box::new(status),
                        groups,
                        exec: ctx.cpg.exec_status().await.ok(),
                    }
                }
                (Err(e), _) => Reply::Error(e.to_string()),
                (_, Err(e)) => Reply::Error(e.to_string()),
            };
            write_line(&mut w, &reply).await
        }
        Ok(Request::CpgJoin { group, encoding }) => {
            lines.set_limit(ctx.limits.line_max);
            bump(&ctx.counters.sessions_open);
            let r = cpg_session(group, pid, encoding, lines, w, ctx).await;
            ctx.counters.sessions_open.fetch_sub(1, Ordering::Relaxed);
            r
        }
        Ok(other) => {
            bump(&ctx.counters.bad_requests);
            write_line(
                &mut w,
                &Reply::Error(format!("{other:?} needs a cpg_join first")),
            )
            .await
        }
        Err(e) => {
            bump(&ctx.counters.bad_requests);
            write_line(&mut w, &Reply::Error(format!("bad request: {e}"))).await
        }
    }
}

/// One request of a CPG session, whichever its framing.
enum SessionRequest {
    Mcast(Vec<u8>),
    Leave,
    /// A request that could not be taken, with the reason for the client.
    Bad(String),
    /// A request over the length limit: answered, then the connection closes.
    TooLong(String),
}

/// The reading side of a CPG session: JSON lines or binary frames.
enum SessionInput {
    Lines(LineReader<OwnedReadHalf>, Encoding),
    Frames(frame::FrameReader<OwnedReadHalf>),
}

impl SessionInput {
    fn new(lines: LineReader<OwnedReadHalf>, enc: Encoding) -> Self {
        if enc == Encoding::Binary {
            let (r, pending) = lines.into_parts();
            SessionInput::Frames(frame::FrameReader::new(r, pending))
        } else {
            SessionInput::Lines(lines, enc)
        }
    }

    /// The next request (cancel-safe); `Ok(None)` when the client closed.
    async fn next(&mut self) -> io::Result<Option<SessionRequest>> {
        match self {
            SessionInput::Lines(lines, enc) => {
                let l = match lines.next_line().await? {
                    Line::Text(l) => l,
                    Line::End => return Ok(None),
                    Line::TooLong { limit } => {
                        return Ok(Some(SessionRequest::TooLong(too_long(limit))))
                    }
                };
                Ok(Some(match serde_json::from_str::<Request>(&l) {
                    Ok(Request::Mcast { data }) => match enc.decode(&data) {
                        Ok(bytes) => SessionRequest::Mcast(bytes),
                        Err(e) => SessionRequest::Bad(e),
                    },
                    Ok(Request::Leave) => SessionRequest::Leave,
                    Ok(other) => {
                        SessionRequest::Bad(format!("{other:?} is not valid in a cpg session"))
                    }
                    Err(e) => SessionRequest::Bad(format!("bad request: {e}")),
                }))
            }
            SessionInput::Frames(r) => match r.next().await {
                Ok(f) => Ok(f.map(|(kind, body)| match kind {
                    frame::MCAST => SessionRequest::Mcast(body),
                    frame::LEAVE => SessionRequest::Leave,
                    k => SessionRequest::Bad(format!("unknown frame kind {k}")),
                })),
                Err(e) => match frame::BadFrameLength::of(&e) {
                    Some(b) => Ok(Some(SessionRequest::TooLong(format!(
                        "{b}; closing the connection"
                    )))),
                    None => Err(e),
                },
            },
        }
    }
}

/// Bytes a delivery occupies in a session's queue (data plus framing).
fn queued_len(data: &[u8]) -> u64 {
    data.len() as u64 + 64
}

/// The writer task of a session: everything queued goes out in one write (one syscall per
/// batch, not per event); `pending` (this session's queued bytes) and the node-wide count
/// drop once a batch is written.
fn spawn_writer(
    mut w: OwnedWriteHalf,
    enc: Encoding,
    mut out_rx: tokio::sync::mpsc::UnboundedReceiver<Out>,
    pending: Arc<AtomicU64>,
    ctx_queued: Arc<AtomicU64>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = Vec::with_capacity(64 * 1024);
        while let Some(r) = out_rx.recv().await {
            let mut next = Some(r);
            let mut batch = 0u64;
            while let Some(r) = next.take() {
                match r {
                    Out::Deliver { nodeid, pid, data } => {
                        batch += queued_len(&data);
                        if enc == Encoding::Binary {
                            frame::put_deliver(&mut buf, nodeid, pid, &data)
                        } else {
                            deliver_line(&mut buf, nodeid, pid, &data, enc)
                        }
                    }
                    Out::Reply(r) if enc == Encoding::Binary => match serde_json::to_vec(&r) {
                        Ok(json) => frame::put(&mut buf, frame::REPLY, &[&json]),
                        Err(_) => tracing::warn!("control reply not serializable"),
                    },
                    Out::Reply(r) => {
                        if serde_json::to_writer(&mut buf, &r).is_err() {
                            tracing::warn!("control reply not serializable");
                        } else {
                            buf.push(b'\n');
                        }
                    }
                }
                if buf.len() < 256 * 1024 {
                    next = out_rx.try_recv().ok();
                }
            }
            let ok = w.write_all(&buf).await.is_ok();
            pending.fetch_sub(batch, Ordering::Relaxed);
            ctx_queued.fetch_sub(batch, Ordering::Relaxed);
            if !ok {
                break;
            }
            buf.clear();
        }
    })
}

async fn cpg_session(
    group: String,
    pid: Option<u32>,
    enc: Encoding,
    lines: LineReader<OwnedReadHalf>,
    mut w: OwnedWriteHalf,
    ctx: &Ctx,
) -> io::Result<()> {
    let mut input = SessionInput::new(lines, enc);
    let mut h = match ctx.cpg.join_as(group.as_bytes(), pid).await {
        Ok(h) => h,
        Err(e) => return write_line(&mut w, &Reply::Error(e.to_string())).await,
    };
    write_line(
        &mut w,
        &Reply::Joined {
            nodeid: h.nodeid(),
            pid: h.pid(),
        },
    )
    .await?;
    // Writes go through their own task so that reading requests never waits on a client
    // that is itself blocked writing to us (both socket buffers full). The queued bytes
    // are counted for this session (`pending`) and node-wide.
    let (out, out_rx) = tokio::sync::mpsc::unbounded_channel::<Out>();
    let pending = Arc::new(AtomicU64::new(0));
    let queued = ctx.counters.queued_bytes.clone();
    let writer = spawn_writer(w, enc, out_rx, pending.clone(), queued.clone());
    // Acceptances are awaited in order by their own task; its bounded queue is the
    // pipelining window, and a full window holds the reader back.
    let (acks, mut acks_rx) = tokio::sync::mpsc::channel::<
        tokio::sync::oneshot::Receiver<Result<(), crate::cpg::CpgError>>,
    >(MCAST_WINDOW);
    let ack_out = out.clone();
    let acker = tokio::spawn(async move {
        while let Some(rx) = acks_rx.recv().await {
            let err = match rx.await {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "the CPG service stopped".to_string(),
            };
            if ack_out.send(Out::Reply(Reply::Error(err))).is_err() {
                break;
            }
        }
    });
    let max = ctx.limits.delivery_queue_max as u64;
    let mut slow = false;
    let result = loop {
        tokio::select! {
            ev = h.recv() => match ev {
                Some(ev) => {
                    let o = match ev {
                        CpgEvent::Deliver { nodeid, pid, data } => {
                            let n = queued_len(&data);
                            pending.fetch_add(n, Ordering::Relaxed);
                            queued.fetch_add(n, Ordering::Relaxed);
                            Out::Deliver { nodeid, pid, data }
                        }
                        ev => Out::Reply(Reply::Event(WireEvent::encoded(ev, enc))),
                    };
                    if out.send(o).is_err() {
                        break Ok(());
                    }
                    let p = pending.load(Ordering::Relaxed);
                    if p > max {
                        bump(&ctx.counters.slow_client_disconnects);
                        tracing::warn!(
                            pid = h.pid(),
                            group = %group,
                            queued = p,
                            limit = max,
                            "CPG client does not read its deliveries: disconnected"
                        );
                        slow = true;
                        break Ok(());
                    }
                }
                None => break Ok(()),
            },
            req = input.next() => match req {
                Err(e) => break Err(e),
                Ok(None | Some(SessionRequest::Leave)) => break Ok(()),
                Ok(Some(SessionRequest::Mcast(bytes))) => match h.mcast_queued(bytes).await {
                    Ok(rx) => {
                        if acks.send(rx).await.is_err() {
                            break Ok(());
                        }
                    }
                    Err(e) => {
                        let _ = out.send(Out::Reply(Reply::Error(e.to_string())));
                    }
                },
                Ok(Some(SessionRequest::Bad(e))) => {
                    bump(&ctx.counters.bad_requests);
                    let _ = out.send(Out::Reply(Reply::Error(e)));
                }
                Ok(Some(SessionRequest::TooLong(e))) => {
                    bump(&ctx.counters.requests_too_long);
                    let _ = out.send(Out::Reply(Reply::Error(e)));
                    break Ok(());
                }
            },
        }
    };
    // Nothing more is read from this client: its read buffer goes now.
    drop(input);
    // Every queued mcast is accepted (or refused) before the member leaves.
    drop(acks);
    let _ = acker.await;
    let _ = h.leave().await;
    drop(out);
    let mut writer = writer;
    if slow
        || tokio::time::timeout(FINAL_FLUSH, &mut writer)
            .await
            .is_err()
    {
        writer.abort();
        let _ = writer.await;
    }
    // Whatever the writer did not write is released with it.
    let left = pending.swap(0, Ordering::Relaxed);
    queued.fetch_sub(left, Ordering::Relaxed);
    result
}
