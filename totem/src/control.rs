//! The node's unix control socket: one JSON object per line each way.
//!
//! Requests: `{"op":"status"}` answers one [`Reply::Status`] and closes.
//! `{"op":"cpg_join","group":"name"}` answers [`Reply::Joined`] and then streams
//! [`Reply::Event`]s; on that connection `{"op":"mcast","data":"<hex>"}` multicasts and
//! `{"op":"leave"}` leaves the group and closes. Closing the connection also leaves.
//!
//! `cpg_join` may carry `"encoding":"base64"` (standard alphabet, padded) so that `data`
//! both ways is base64 instead of hex for that session. Mcasts are pipelined: up to
//! [`MCAST_WINDOW`] may wait for the CPG service's acceptance at once, in order; beyond
//! that the node stops reading the socket until one is accepted (lossless backpressure).
//! A refused mcast answers one [`Reply::Error`].
//!
//! `"encoding":"binary"` switches the session to length-prefixed binary frames after the
//! `joined` line (see [`frame`]): no text encoding of data and no JSON on the hot path.
//!
//! Request lengths and each client's delivery queue are bounded ([`ControlLimits`]); a CPG
//! member is announced with its client's pid (SO_PEERCRED).

pub mod frame;
pub mod lines;
mod server;

pub use server::{
    serve, serve_with, ControlLimits, ControlStats, DELIVERY_QUEUE_MAX, FIRST_LINE_MAX,
    REQUEST_LINE_MAX,
};

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::cpg::{CpgEvent, ExecStatus, GroupState, Process, Reason};
use crate::driver::Status;

/// Default control socket path.
pub const DEFAULT_PATH: &str = "/run/totem/totem-node.sock";

/// How a CPG session carries binary `data`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Lower-case hex (the default; older clients send nothing else).
    #[default]
    Hex,
    /// Standard base64 with padding.
    Base64,
    /// Binary frames after the `joined` line ([`frame`]); where data must still be text
    /// (a [`WireEvent`] built by hand), base64.
    Binary,
}

impl Encoding {
    fn is_hex(&self) -> bool {
        *self == Encoding::Hex
    }

    /// Encodes `data` as this session's text.
    pub fn encode(self, data: &[u8]) -> String {
        match self {
            Encoding::Hex => hex_lower(data),
            Encoding::Base64 | Encoding::Binary => crate::base64::encode(data),
        }
    }

    /// Decodes this session's text (errors name the encoding and what was wrong).
    pub fn decode(self, text: &str) -> Result<Vec<u8>, String> {
        match self {
            Encoding::Hex => unhex(text).map_err(|e| format!("data is not hex: {e}")),
            Encoding::Base64 | Encoding::Binary => {
                crate::base64::decode(text).map_err(|e| format!("data is not base64: {e}"))
            }
        }
    }
}

/// Appends the [`Reply::Event`] line of a delivery to `buf` without going through serde
/// (its data needs no JSON escaping in either encoding).
fn deliver_line(buf: &mut Vec<u8>, nodeid: u32, pid: u32, data: &[u8], enc: Encoding) {
    use std::io::Write as _;
    let _ = write!(
        buf,
        "{{\"event\":{{\"kind\":\"deliver\",\"nodeid\":{nodeid},\"pid\":{pid},\"data\":\""
    );
    match enc {
        Encoding::Hex => {
            let start = buf.len();
            buf.resize(start + data.len().saturating_mul(2), 0);
            if let Some(dst) = buf.get_mut(start..) {
                if hex::encode_to_slice(data, dst).is_err() {
                    buf.truncate(start);
                    buf.extend_from_slice(hex::encode(data).as_bytes());
                }
            }
        }
        Encoding::Base64 | Encoding::Binary => crate::base64::encode_into(data, buf),
    }
    buf.extend_from_slice(b"\"}}\n");
}

/// What a session's writer task sends: a reply, or a delivery still in bytes.
enum Out {
    Reply(Reply),
    Deliver {
        nodeid: u32,
        pid: u32,
        data: Vec<u8>,
    },
}

/// Mcasts of one session that may await the CPG service's acceptance at once.
pub const MCAST_WINDOW: usize = 256;

/// A client request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Status,
    CpgJoin {
        group: String,
        /// Encoding of `data` in this session (hex when absent).
        #[serde(default, skip_serializing_if = "Encoding::is_hex")]
        encoding: Encoding,
    },
    Mcast {
        data: String,
    },
    Leave,
}

/// An event of a CPG session, with binary data in the session's [`Encoding`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WireEvent {
    Deliver {
        nodeid: u32,
        pid: u32,
        data: String,
    },
    ConfChg {
        members: Vec<Process>,
        joined: Vec<(Process, Reason)>,
        left: Vec<(Process, Reason)>,
    },
    Ring {
        ring_seq: u64,
        members: Vec<u32>,
    },
}

impl From<CpgEvent> for WireEvent {
    fn from(e: CpgEvent) -> Self {
        WireEvent::encoded(e, Encoding::Hex)
    }
}

impl WireEvent {
    /// The wire form of `e` with its data in `enc`.
    pub fn encoded(e: CpgEvent, enc: Encoding) -> Self {
        match e {
            CpgEvent::Deliver { nodeid, pid, data } => WireEvent::Deliver {
                nodeid,
                pid,
                data: enc.encode(&data),
            },
            CpgEvent::ConfChg {
                members,
                joined,
                left,
            } => WireEvent::ConfChg {
                members,
                joined,
                left,
            },
            CpgEvent::Ring { ring_seq, members } => WireEvent::Ring { ring_seq, members },
        }
    }
}

/// A server reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Status {
        status: Box<Status>,
        groups: Vec<GroupState>,
        /// Sync, quorum and CPG counters (absent from older nodes).
        #[serde(default)]
        exec: Option<ExecStatus>,
    },
    Joined {
        nodeid: u32,
        pid: u32,
    },
    Event(WireEvent),
    Error(String),
}

/// Lower-case hex through a byte table: `hex::encode` builds its String one char at a time,
/// which was ~40 % of a node's CPU under CPG load (totem-bench, perf).
fn hex_lower(data: &[u8]) -> String {
    let mut out = vec![0u8; data.len().saturating_mul(2)];
    if hex::encode_to_slice(data, &mut out).is_err() {
        return hex::encode(data);
    }
    String::from_utf8(out).unwrap_or_else(|_| hex::encode(data))
}

/// Hex to bytes into a buffer sized up front (odd lengths and non-hex digits are errors).
fn unhex(text: &str) -> Result<Vec<u8>, hex::FromHexError> {
    let mut out = vec![0u8; text.len() / 2];
    hex::decode_to_slice(text, &mut out)?;
    Ok(out)
}

/// Asks a running node for its status.
pub async fn status(path: &Path) -> io::Result<(Status, Vec<GroupState>)> {
    let (s, g, _) = status_full(path).await?;
    Ok((s, g))
}

/// Asks a running node for its status, groups and executive (sync/quorum) counters.
pub async fn status_full(path: &Path) -> io::Result<(Status, Vec<GroupState>, Option<ExecStatus>)> {
    let s = UnixStream::connect(path)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let (r, mut w) = s.into_split();
    let mut req = serde_json::to_string(&Request::Status).map_err(io::Error::other)?;
    req.push('\n');
    w.write_all(req.as_bytes()).await?;
    let line = BufReader::new(r)
        .lines()
        .next_line()
        .await?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no reply"))?;
    match serde_json::from_str::<Reply>(&line).map_err(io::Error::other)? {
        Reply::Status {
            status,
            groups,
            exec,
        } => Ok((*status, groups, exec)),
        Reply::Error(e) => Err(io::Error::other(e)),
        other => Err(io::Error::other(format!("unexpected reply {other:?}"))),
    }
}

/// The reading side of a client session.
#[derive(Debug)]
enum ClientInput {
    Lines(tokio::io::Lines<BufReader<OwnedReadHalf>>),
    Frames(frame::FrameReader<OwnedReadHalf>),
}

/// A CPG session with a running node over its control socket.
#[derive(Debug)]
pub struct CpgClient {
    input: ClientInput,
    w: OwnedWriteHalf,
    enc: Encoding,
    wbuf: Vec<u8>,
    pub nodeid: u32,
    pub pid: u32,
}

impl CpgClient {
    /// Connects to `path` and joins `group` (data in hex, as every node understands).
    pub async fn join(path: &Path, group: &str) -> io::Result<Self> {
        Self::join_with(path, group, Encoding::Hex).await
    }

    /// Connects to `path` and joins `group` with data carried in `enc`.
    pub async fn join_with(path: &Path, group: &str, enc: Encoding) -> io::Result<Self> {
        let s = UnixStream::connect(path)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let (r, mut w) = s.into_split();
        let mut req = serde_json::to_string(&Request::CpgJoin {
            group: group.to_string(),
            encoding: enc,
        })
        .map_err(io::Error::other)?;
        req.push('\n');
        w.write_all(req.as_bytes()).await?;
        let mut lines = BufReader::new(r).lines();
        let line = lines
            .next_line()
            .await?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no reply"))?;
        match serde_json::from_str::<Reply>(&line).map_err(io::Error::other)? {
            Reply::Joined { nodeid, pid } => Ok(CpgClient {
                input: if enc == Encoding::Binary {
                    let br = lines.into_inner();
                    let pending = br.buffer().to_vec();
                    ClientInput::Frames(frame::FrameReader::new(br.into_inner(), pending))
                } else {
                    ClientInput::Lines(lines)
                },
                w,
                enc,
                wbuf: Vec::new(),
                nodeid,
                pid,
            }),
            Reply::Error(e) => Err(io::Error::other(e)),
            other => Err(io::Error::other(format!("unexpected reply {other:?}"))),
        }
    }

    /// Multicasts `data` to the group (sends it and anything buffered at once).
    pub async fn mcast(&mut self, data: &[u8]) -> io::Result<()> {
        self.mcast_buffered(data)?;
        self.flush().await
    }

    /// Queues a multicast of `data` in this client; [`CpgClient::flush`] sends the queue.
    pub fn mcast_buffered(&mut self, data: &[u8]) -> io::Result<()> {
        if self.enc == Encoding::Binary {
            if data.len() >= frame::FRAME_MAX {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("message of {} bytes is too large", data.len()),
                ));
            }
            frame::put(&mut self.wbuf, frame::MCAST, &[data]);
            return Ok(());
        }
        serde_json::to_writer(
            &mut self.wbuf,
            &Request::Mcast {
                data: self.enc.encode(data),
            },
        )
        .map_err(io::Error::other)?;
        self.wbuf.push(b'\n');
        Ok(())
    }

    /// Sends every buffered multicast in one write.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let r = self.w.write_all(&self.wbuf).await;
        self.wbuf.clear();
        r
    }

    /// The next event (`Ok(None)` when the node closed the session).
    pub async fn next(&mut self) -> io::Result<Option<CpgEvent>> {
        next_event(&mut self.input, self.enc).await
    }

    /// Sends every buffered multicast, handing the events that arrive meanwhile to
    /// `on_event`: while the node holds this session back (flow control), the client keeps
    /// taking its deliveries, as a libcpg client dispatches while it gets TRY_AGAIN.
    pub async fn flush_while_reading(
        &mut self,
        mut on_event: impl FnMut(CpgEvent),
    ) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.wbuf);
        let write = self.w.write_all(&buf);
        tokio::pin!(write);
        let r = loop {
            tokio::select! {
                biased;
                r = &mut write => break r,
                // Both readers are cancel-safe: an event is either returned or stays buffered.
                ev = next_event(&mut self.input, self.enc) => match ev {
                    Ok(Some(e)) => on_event(e),
                    Ok(None) => {
                        break Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the node closed the session",
                        ))
                    }
                    Err(e) => break Err(e),
                },
            }
        };
        self.wbuf = buf;
        self.wbuf.clear();
        r
    }

    /// Leaves the group and closes the session.
    pub async fn leave(mut self) -> io::Result<()> {
        self.flush().await?;
        if self.enc == Encoding::Binary {
            let mut f = Vec::new();
            frame::put(&mut f, frame::LEAVE, &[]);
            self.w.write_all(&f).await?;
        } else {
            self.w.write_all(b"{\"op\":\"leave\"}\n").await?;
        }
        self.w.shutdown().await
    }
}

/// The next event on a session (`Ok(None)` when the node closed it).
async fn next_event(input: &mut ClientInput, enc: Encoding) -> io::Result<Option<CpgEvent>> {
    loop {
        let reply = match input {
            ClientInput::Lines(lines) => {
                let Some(line) = lines.next_line().await? else {
                    return Ok(None);
                };
                serde_json::from_str::<Reply>(&line).map_err(io::Error::other)?
            }
            ClientInput::Frames(r) => {
                let Some((kind, body)) = r.next().await? else {
                    return Ok(None);
                };
                match kind {
                    frame::DELIVER => {
                        let (nodeid, pid, data) = frame::parse_deliver(&body)?;
                        return Ok(Some(CpgEvent::Deliver {
                            nodeid,
                            pid,
                            data: data.to_vec(),
                        }));
                    }
                    frame::REPLY => {
                        serde_json::from_slice::<Reply>(&body).map_err(io::Error::other)?
                    }
                    k => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("unknown frame kind {k} from the node"),
                        ))
                    }
                }
            }
        };
        match reply {
            Reply::Event(WireEvent::Deliver { nodeid, pid, data }) => {
                let data = enc.decode(&data).map_err(io::Error::other)?;
                return Ok(Some(CpgEvent::Deliver { nodeid, pid, data }));
            }
            Reply::Event(WireEvent::ConfChg {
                members,
                joined,
                left,
            }) => {
                return Ok(Some(CpgEvent::ConfChg {
                    members,
                    joined,
                    left,
                }))
            }
            Reply::Event(WireEvent::Ring { ring_seq, members }) => {
                return Ok(Some(CpgEvent::Ring { ring_seq, members }))
            }
            Reply::Error(e) => tracing::warn!(error = %e, "node reported an error"),
            other => tracing::warn!(?other, "unexpected reply"),
        }
    }
}

#[cfg(test)]
mod hex_tests {
    use super::{deliver_line, hex_lower, unhex, Encoding, Reply, WireEvent};

    #[test]
    fn deliver_fast_path_matches_serde() {
        let data = [0x00u8, 0xfb, 0xff, 0xbf, 0x41];
        for (enc, text) in [
            (Encoding::Hex, "00fbffbf41"),
            (Encoding::Base64, "APv/v0E="),
        ] {
            let mut buf = Vec::new();
            deliver_line(&mut buf, 3, 4242, &data, enc);
            let want = serde_json::to_string(&Reply::Event(WireEvent::Deliver {
                nodeid: 3,
                pid: 4242,
                data: text.to_string(),
            }))
            .unwrap()
                + "\n";
            assert_eq!(String::from_utf8(buf).unwrap(), want);
        }
    }

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(hex_lower(&[0x00, 0xab, 0x7f, 0xff]), "00ab7fff");
        assert_eq!(hex_lower(&[]), "");
        assert_eq!(unhex("00ab7fff").unwrap(), vec![0x00, 0xab, 0x7f, 0xff]);
        assert_eq!(unhex("00AB").unwrap(), vec![0x00, 0xab]);
        assert!(unhex("abc").is_err(), "odd length");
        assert!(unhex("zz").is_err(), "not hex");
    }
}
