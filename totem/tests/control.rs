//! The control socket's bounds and identities, on one in-process node (127.0.0.1, udpu):
//! clients are announced with their real pid, an endless request line is refused without
//! being buffered, and a client that does not read its deliveries is disconnected.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::time::{sleep, timeout};
use totem::control::{self, ControlLimits, ControlStats, CpgClient};
use totem::cpg::{Cpg, CpgEvent};
use totem::driver::{self, NodeHandle};
use totem::node_config::{self, Overrides};
use totem_wire::Generation;

struct One {
    node: NodeHandle,
    cpg: Cpg,
    sock: PathBuf,
    _dir: tempfile::TempDir,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for One {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn start(port: u16, limits: ControlLimits) -> One {
    let text = format!(
        "totem {{\n    version: 2\n    transport: udpu\n    token: 1000\n    interface {{\n        mcastport: {port}\n    }}\n}}\nnodelist {{\n    node {{\n        nodeid: 1\n        ring0_addr: 127.0.0.1\n    }}\n}}\n"
    );
    let root = totem::corosync_conf::parse(&text).unwrap();
    let ov = Overrides {
        generation: Some(Generation::G3),
        nodeid: Some(1),
    };
    let cfg = node_config::map(&root, ov, &node_config::is_local_address).unwrap();
    let opts = totem::cpg::ExecOptions::from_config(&cfg);
    let (node, events, task) = driver::spawn(cfg).unwrap();
    let cpg = Cpg::start_with(node.clone(), events, opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("n1.sock");
    let server = control::serve_with(&sock, node.clone(), cpg.clone(), limits).unwrap();
    One {
        node,
        cpg,
        sock,
        _dir: dir,
        tasks: vec![task, server],
    }
}

fn port(base: u16) -> u16 {
    base + (std::process::id() % 1000) as u16 * 2
}

async fn stats(sock: &Path) -> ControlStats {
    let (s, _, _) = control::status_full(sock).await.unwrap();
    s.control.expect("the control server fills in its counters")
}

/// The member a control client gets is its own process: SO_PEERCRED's pid, shown in the
/// group and in the confchg; a second member of the same process in the same group is
/// refused as corosync refuses it (CS_ERR_EXIST), another group is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpg_members_carry_the_clients_real_pid() {
    let n = start(port(10_000), ControlLimits::default());
    let me = std::process::id();
    let mut cl = timeout(Duration::from_secs(10), CpgClient::join(&n.sock, "pids"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        cl.pid, me,
        "the node announced a pid that is not the client's"
    );
    let ev = timeout(Duration::from_secs(10), async {
        loop {
            if let Some(CpgEvent::ConfChg { members, .. }) = cl.next().await.unwrap() {
                return members;
            }
        }
    })
    .await
    .expect("a confchg for our join");
    assert!(ev.iter().any(|p| p.pid == me && p.nodeid == 1), "{ev:?}");
    let again = CpgClient::join(&n.sock, "pids")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        again.contains(&format!(
            "process {me} is already a member of group \"pids\""
        )),
        "{again}"
    );
    let other = CpgClient::join(&n.sock, "other").await.unwrap();
    assert_eq!(other.pid, me);
    let groups = n.cpg.groups().await.unwrap();
    let pids: Vec<u32> = groups
        .iter()
        .find(|g| g.group == "pids")
        .map(|g| g.members.iter().map(|p| p.pid).collect())
        .unwrap_or_default();
    assert_eq!(pids, vec![me]);
}

/// Streams `len` bytes of 'x' (no newline) after `prefix`; returns how many were written
/// before the node closed the connection, and what the node answered.
async fn endless_line(sock: &Path, prefix: &[u8], len: usize) -> (usize, Vec<String>) {
    let s = UnixStream::connect(sock).await.unwrap();
    let (r, mut w) = s.into_split();
    let prefix = prefix.to_vec();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0usize;
        if w.write_all(&prefix).await.is_err() {
            return 0;
        }
        while sent < len {
            if w.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let mut replies = Vec::new();
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(l)) = lines.next_line().await {
        replies.push(l);
    }
    let sent = timeout(Duration::from_secs(10), writer)
        .await
        .expect("the client's writes end once the node closes")
        .unwrap();
    (sent, replies)
}

/// A 100 MB request line is refused at the limit with an error naming it, the connection
/// is closed (the client's writes fail long before 100 MB), and it is counted; the first
/// line of a connection has a smaller limit of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_request_line_is_refused_and_the_connection_closed() {
    let n = start(port(12_000), ControlLimits::default());
    const HUNDRED_MB: usize = 100_000_000;

    let (sent, replies) = endless_line(&n.sock, b"", HUNDRED_MB).await;
    assert!(
        sent < HUNDRED_MB / 10,
        "{sent} bytes went in before the close"
    );
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].contains(&format!(
            "request longer than {} bytes refused",
            control::FIRST_LINE_MAX
        )),
        "{replies:?}"
    );

    let join = b"{\"op\":\"cpg_join\",\"group\":\"long\"}\n{\"op\":\"mcast\",\"data\":\"";
    let (sent, replies) = endless_line(&n.sock, join, HUNDRED_MB).await;
    assert!(
        sent < HUNDRED_MB / 10,
        "{sent} bytes went in before the close"
    );
    assert!(replies[0].contains("\"joined\""), "{replies:?}");
    assert!(
        replies.iter().any(|r| r.contains(&format!(
            "request longer than {} bytes refused",
            control::REQUEST_LINE_MAX
        ))),
        "{replies:?}"
    );

    let s = stats(&n.sock).await;
    assert_eq!(s.requests_too_long, 2, "{s:?}");
    assert_eq!(s.sessions_open, 0, "the refused session is gone: {s:?}");
    assert_eq!(s.queued_bytes, 0, "{s:?}");
    // The leave is delivered in agreed order, a moment after the session ended.
    let mut groups = n.cpg.groups().await.unwrap();
    for _ in 0..100 {
        if groups
            .iter()
            .all(|g| g.group != "long" || g.members.is_empty())
        {
            break;
        }
        sleep(Duration::from_millis(50)).await;
        groups = n.cpg.groups().await.unwrap();
    }
    assert!(
        groups
            .iter()
            .all(|g| g.group != "long" || g.members.is_empty()),
        "the refused client's member did not leave: {groups:?}"
    );
}

/// A binary session's frame with a length prefix over FRAME_MAX is refused from the prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_binary_frame_is_refused_from_its_length() {
    let n = start(port(14_000), ControlLimits::default());
    let mut s = UnixStream::connect(&n.sock).await.unwrap();
    s.write_all(b"{\"op\":\"cpg_join\",\"group\":\"bin\",\"encoding\":\"binary\"}\n")
        .await
        .unwrap();
    s.write_all(&u32::MAX.to_le_bytes()).await.unwrap();
    let mut got = Vec::new();
    timeout(Duration::from_secs(10), s.read_to_end(&mut got))
        .await
        .expect("the node closes the connection")
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("frame length 4294967295 outside 1..="),
        "{text}"
    );
    assert_eq!(stats(&n.sock).await.requests_too_long, 1);
}

/// Under load, a client that joined and never reads is disconnected once its queue is over
/// the bound, counted once, and its queue released; the ring and the sender go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected_and_counted() {
    let limits = ControlLimits {
        delivery_queue_max: 1 << 20,
        ..ControlLimits::default()
    };
    let n = start(port(16_000), limits);
    // The idle client: joins over the socket and never reads again.
    let mut idle = UnixStream::connect(&n.sock).await.unwrap();
    idle.write_all(b"{\"op\":\"cpg_join\",\"group\":\"load\"}\n")
        .await
        .unwrap();
    // Its `joined` line, one byte at a time (nothing after it is read).
    let mut joined = Vec::new();
    while joined.last() != Some(&b'\n') {
        joined.push(idle.read_u8().await.unwrap());
    }
    assert!(String::from_utf8_lossy(&joined).contains("\"joined\""));
    // The sender, in-process, in the same group.
    let mut h = n.cpg.join(b"load").await.unwrap();
    let body = vec![0x5au8; 32 * 1024];
    let count = 256; // 8 MiB: far more than the bound plus both socket buffers
    for _ in 0..count {
        h.mcast(body.clone()).await.unwrap();
    }
    let mut got = 0;
    timeout(Duration::from_secs(30), async {
        while got < count {
            if let Some(CpgEvent::Deliver { .. }) = h.recv().await {
                got += 1;
            }
        }
    })
    .await
    .expect("the sender's own messages come back");
    let mut s = stats(&n.sock).await;
    for _ in 0..200 {
        if s.slow_client_disconnects > 0 && s.sessions_open == 0 {
            break;
        }
        sleep(Duration::from_millis(50)).await;
        s = stats(&n.sock).await;
    }
    assert!(
        s.slow_client_disconnects > 0 && s.sessions_open == 0,
        "the idle client was not disconnected: {s:?}"
    );
    assert_eq!(s.slow_client_disconnects, 1, "{s:?}");
    assert_eq!(s.queued_bytes, 0, "its queue is released: {s:?}");
    // The idle client's socket ends (after what the kernel had buffered for it).
    let mut sink = Vec::new();
    let read = timeout(Duration::from_secs(10), idle.read_to_end(&mut sink)).await;
    assert!(read.is_ok(), "the node closed the idle client's connection");
    assert!(
        sink.len() < 8 << 20,
        "{} bytes reached the idle client: it was not cut off",
        sink.len()
    );
    let st = n.node.status().await.unwrap();
    assert_eq!(st.state, "operational");
}
