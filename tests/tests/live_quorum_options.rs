//! Live: the `quorum {}` options of our totem-node in rings with real corosync daemons
//! (2.4.6 on G2, Debian's 3.1.7 on G3, udpu), judged by each real daemon's own
//! `corosync-quorumtool -s` (Quorate, Total votes, Flags, the votes per node) and by our
//! `totem-node status`:
//! - two_node, our node and one real daemon: kill -9 of the real one leaves ours quorate
//!   throughout; after its restart, kill -9 of ours leaves the real one quorate throughout.
//! - wait_for_all, three nodes with one held back: no node is quorate with two; all are
//!   once the third was seen; losing one then keeps the other two quorate.
//! - quorum_votes: 2 on our node in a ring of three: every daemon counts 4 total votes and
//!   lists our node with 2; losing one real node (3 of 4 votes left) stays quorate.
//!
//! - allow_downscale, three nodes: our node stopped with SIGTERM announces its leave; the
//!   real daemons lower expected votes to 2 and stay quorate.
//!
//! Our NODEINFO is also checked as each real daemon decoded it (its debug log line
//! "nodeinfo message[1]: votes, expected, flags"): our votes and expected votes, QUORATE
//! (1) once quorate and WFA_STATUS (4) while waiting for all.
//!
//! Needs root. Without `../shared/old-corosync` the 2.4.6 cases print one loud line and
//! skip, except under CI=true, where that is a failure.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use totem_tests::netns::is_root;
use totem_tests::oldcs;
use totem_tests::quorum_lab::{QuorumLab, QuorumView, Real};

const NODE: &str = env!("CARGO_BIN_EXE_lab-totem-node");
/// Ring formation and sync with token 1000 ms, consensus 1200 ms, with margin.
const FORM: Duration = Duration::from_secs(25);
/// How long a node must hold its state once reached.
const HOLD: Duration = Duration::from_secs(2);

/// One lab at a time under `cargo test` threads (nextest runs live_ binaries one by one).
static SERIAL: Mutex<()> = Mutex::new(());

/// Whether the scenario can run: root, and the 2.4.6 build for [`Real::V246`].
fn runnable(real: Real) -> bool {
    if !is_root() {
        eprintln!("skipped: live tests need root");
        return false;
    }
    if real == Real::V246 && !oldcs::tarball().exists() {
        let msg = format!(
            "!!! corosync 2.4.6 build missing ({}): 2.4.6 quorum tests NOT RUN !!!",
            oldcs::tarball().display()
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("{msg}");
        return false;
    }
    true
}

fn lab(
    prefix: &str,
    real: Real,
    n: usize,
    quorum: &[&str],
    votes: &[(usize, u32)],
) -> (QuorumLab, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let q = QuorumLab::new(prefix, real, n, 1, quorum, votes, NODE.as_ref(), tmp.path())
        .expect("lab (root, ip netns)");
    (q, tmp)
}

/// Waits (bounded) until `who` list exactly `want` and pass `check`, while node `keep`
/// never reports a non-quorate view (views it cannot give, during sync, are skipped).
fn wait_keeping_quorum(
    q: &QuorumLab,
    who: &[usize],
    want: &[u32],
    keep: usize,
    check: impl Fn(&QuorumView) -> bool,
) {
    let end = Instant::now() + FORM;
    loop {
        if let Some((_, v)) = q.view(keep) {
            assert!(
                v.quorate,
                "node {keep} lost quorum: {v:?}{}",
                q.describe(who)
            );
        }
        if who
            .iter()
            .all(|&i| q.view(i).is_some_and(|(m, v)| m == want && check(&v)))
        {
            break;
        }
        assert!(
            Instant::now() < end,
            "wanted {want:?} on {who:?}: {}",
            q.describe(who)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    hold(q, who, |v| v.quorate);
}

/// `check` holds on every node of `who` for [`HOLD`].
fn hold(q: &QuorumLab, who: &[usize], check: impl Fn(&QuorumView) -> bool) {
    let end = Instant::now() + HOLD;
    while Instant::now() < end {
        for &i in who {
            if let Some((_, v)) = q.view(i) {
                assert!(check(&v), "node {i} changed: {v:?}{}", q.describe(who));
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn two_node(real: Real, prefix: &str) {
    if !runnable(real) {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let (mut q, _tmp) = lab(prefix, real, 2, &["two_node: 1"], &[]);
    q.start(1).unwrap();
    q.start(2).unwrap();
    q.wait(&[1, 2], &[1, 2], FORM, |v| {
        v.quorate && v.total_votes == 2 && v.has_flag("2Node") && v.has_flag("WaitForAll")
    })
    .unwrap();
    // The real daemon's view of our NODEINFO: one vote, and both flags in its own quorumtool.
    let rv = q.real_view(2).unwrap();
    assert_eq!(rv.votes, [(1, 1), (2, 1)], "{rv:?}");
    let text = q.our_status_text();
    assert!(
        text.contains("Flags:            2Node Quorate WaitForAll"),
        "{text}"
    );
    eprintln!("[{:?}] {real:?} two_node: both quorate", t0.elapsed());

    // kill -9 of the real daemon: ours stays quorate, alone with its one vote.
    q.kill9(2);
    wait_keeping_quorum(&q, &[1], &[1], 1, |v| v.quorate && v.total_votes == 1);
    eprintln!(
        "[{:?}] real daemon killed: ours quorate alone",
        t0.elapsed()
    );

    // Restart it: both quorate again; then kill -9 ours: the real one stays quorate.
    let before = q.nodeinfo_log(2, 1).len();
    q.start(2).unwrap();
    q.wait(&[1, 2], &[1, 2], FORM, |v| v.quorate && v.total_votes == 2)
        .unwrap();
    // The restarted daemon decoded our NODEINFO: 1 vote, expected 2, quorate and no
    // longer waiting for all (flags 1).
    q.wait_nodeinfo(2, 1, before, FORM, |n| *n == (1, 2, 1))
        .unwrap();
    q.kill9(1);
    wait_keeping_quorum(&q, &[2], &[2], 2, |v| {
        v.quorate && v.total_votes == 1 && v.has_flag("2Node")
    });
    eprintln!(
        "[{:?}] ours killed: real daemon quorate alone",
        t0.elapsed()
    );
}

fn wait_for_all(real: Real, prefix: &str) {
    if !runnable(real) {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let (mut q, _tmp) = lab(prefix, real, 3, &["wait_for_all: 1"], &[]);
    // Node 3 held back: ours and one real daemon form a ring and wait.
    q.start(1).unwrap();
    q.start(2).unwrap();
    q.wait(&[1, 2], &[1, 2], FORM, |v| {
        !v.quorate && v.total_votes == 2 && v.has_flag("WaitForAll")
    })
    .unwrap();
    hold(&q, &[1, 2], |v| !v.quorate);
    // Our NODEINFO as the real daemon decoded it: waiting for all (4), not quorate (1).
    q.wait_nodeinfo(2, 1, 0, FORM, |&(v, e, f)| (v, e) == (1, 3) && f & 5 == 4)
        .unwrap();
    eprintln!(
        "[{:?}] {real:?} wait_for_all: two of three wait",
        t0.elapsed()
    );
    // The third seen once: all quorate.
    q.start(3).unwrap();
    q.wait(&[1, 2, 3], &[1, 2, 3], FORM, |v| {
        v.quorate && v.total_votes == 3 && v.has_flag("WaitForAll")
    })
    .unwrap();
    eprintln!("[{:?}] all three quorate", t0.elapsed());
    // Lose one: the two stay quorate.
    let before = q.nodeinfo_log(2, 1).len();
    q.kill9(3);
    wait_keeping_quorum(&q, &[1, 2], &[1, 2], 1, |v| v.quorate && v.total_votes == 2);
    // The round after the loss carries our NODEINFO quorate, not waiting (flags 1).
    q.wait_nodeinfo(2, 1, before, FORM, |n| *n == (1, 3, 1))
        .unwrap();
    eprintln!(
        "[{:?}] node 3 killed: 1 and 2 still quorate; NODEINFOs node 2 decoded from 1 {:?}, from 2 {:?}",
        t0.elapsed(),
        q.nodeinfo_log(2, 1),
        q.nodeinfo_log(2, 2)
    );
}

fn quorum_votes(real: Real, prefix: &str) {
    if !runnable(real) {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let (mut q, _tmp) = lab(prefix, real, 3, &[], &[(1, 2)]);
    for i in 1..=3 {
        q.start(i).unwrap();
    }
    q.wait(&[1, 2, 3], &[1, 2, 3], FORM, |v| {
        v.quorate && v.total_votes == 4 && v.expected_votes == 4
    })
    .unwrap();
    for i in 1..=3 {
        let (_, v) = q.view(i).unwrap();
        assert_eq!(v.votes, [(1, 2), (2, 1), (3, 1)], "node {i}: {v:?}");
    }
    // Both real daemons decoded our NODEINFO with 2 votes and expected 4.
    for i in [2, 3] {
        q.wait_nodeinfo(i, 1, 0, FORM, |&(v, e, _)| (v, e) == (2, 4))
            .unwrap();
    }
    eprintln!(
        "[{:?}] {real:?} quorum_votes: 4 total, ours 2",
        t0.elapsed()
    );
    // 3 of 4 votes left (quorum 3): still quorate.
    q.kill9(3);
    wait_keeping_quorum(&q, &[1, 2], &[1, 2], 1, |v| v.quorate && v.total_votes == 3);
    eprintln!("[{:?}] node 3 killed: 3 of 4 votes, quorate", t0.elapsed());
}

/// allow_downscale: our node stops cleanly (SIGTERM) and announces it leaves; the real
/// daemons lower expected votes to the two left (their quorumtool: Expected votes 2,
/// AllowDownscale) and stay quorate.
fn allow_downscale(real: Real, prefix: &str) {
    if !runnable(real) {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let (mut q, _tmp) = lab(prefix, real, 3, &["allow_downscale: 1"], &[]);
    for i in 1..=3 {
        q.start(i).unwrap();
    }
    q.wait(&[1, 2, 3], &[1, 2, 3], FORM, |v| {
        v.quorate && v.expected_votes == 3 && v.has_flag("AllowDownscale")
    })
    .unwrap();
    let pid = q.pids.remove(&1).unwrap();
    q.lab.signal(pid, "TERM");
    assert!(
        q.lab.wait_exit(pid, Duration::from_secs(10)),
        "totem-node did not stop on SIGTERM"
    );
    q.wait(&[2, 3], &[2, 3], FORM, |v| {
        v.quorate && v.expected_votes == 2 && v.total_votes == 2
    })
    .unwrap();
    // The real daemons decoded our NODEINFO with the leaving flag (2).
    q.wait_nodeinfo(2, 1, 0, FORM, |&(_, _, f)| f & 2 != 0)
        .unwrap();
    eprintln!(
        "[{:?}] {real:?} allow_downscale: ours left cleanly, expected votes 2",
        t0.elapsed()
    );
}

#[test]
fn allow_downscale_with_corosync_246() {
    allow_downscale(Real::V246, "qda");
}

#[test]
fn allow_downscale_with_corosync_317() {
    allow_downscale(Real::V317, "qdb");
}

#[test]
fn two_node_with_corosync_246() {
    two_node(Real::V246, "q2a");
}

#[test]
fn two_node_with_corosync_317() {
    two_node(Real::V317, "q2b");
}

#[test]
fn wait_for_all_with_corosync_317() {
    wait_for_all(Real::V317, "qwb");
}

#[test]
fn wait_for_all_with_corosync_246() {
    wait_for_all(Real::V246, "qwa");
}

#[test]
fn quorum_votes_with_corosync_246() {
    quorum_votes(Real::V246, "qva");
}

#[test]
fn quorum_votes_with_corosync_317() {
    quorum_votes(Real::V317, "qvb");
}
