//! Live: corosync 1.4's votequorum options in a ring of our node and one real 1.4.10
//! daemon. With `quorum { two_node: 1 }` (and expected_votes 2) each side stays quorate
//! when the other dies: kill -9 of the 1.4.10 daemon leaves our node quorate (its own
//! status), and after the daemon's restart, kill -9 of our node leaves 1.4.10 quorate (its
//! own `corosync-quorumtool -s`). Without two_node the survivor is not quorate.
//!
//! Needs root. Without `../shared/old-corosync` the cases print one loud line and skip,
//! except under CI=true, where that is a failure.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use totem_tests::mixed_lab::{runnable, MixedLab, Old, Shape};
use totem_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_lab-totem-node");
const LOAD: &str = env!("CARGO_BIN_EXE_totem-cpgload");
const FORM: Duration = Duration::from_secs(40);
const OURS: usize = 2;
const REAL: usize = 1;

static SERIAL: Mutex<()> = Mutex::new(());

fn lab(tag: &str, quorum: &[&str], dir: &std::path::Path) -> MixedLab {
    let shape = Shape {
        quorum: quorum.iter().map(|s| s.to_string()).collect(),
        ..Shape::default()
    };
    let mut l = MixedLab::new(
        tag,
        Some(Old::V1410),
        shape,
        2,
        &[OURS],
        NODE.as_ref(),
        LOAD.as_ref(),
        dir,
    )
    .expect("lab (root, ip netns)");
    l.start_all(FORM).unwrap_or_else(|e| panic!("{tag}: {e}"));
    l
}

/// Node `i` reports `quorate` with `votes` total votes within 15 s, then for 3 s more.
fn holds(l: &MixedLab, i: usize, quorate: bool, votes: u32) {
    let ok = |l: &MixedLab| {
        l.quorum(i)
            .is_some_and(|q| q.quorate == quorate && q.total_votes == votes)
    };
    wait::until(Duration::from_secs(15), Duration::from_millis(250), || {
        ok(l).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "n{i}: wanted quorate={quorate} votes={votes}, got {:?}\n{}",
            l.quorum(i),
            l.describe()
        )
    });
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        assert!(ok(l), "n{i} changed: {:?}\n{}", l.quorum(i), l.describe());
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn g1_two_node_survivor_stays_quorate() {
    if !runnable(Some(Old::V1410), "G1 quorum tests") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let mut l = lab("g1q-2n", &["two_node: 1"], tmp.path());
    holds(&l, REAL, true, 2);
    holds(&l, OURS, true, 2);
    eprintln!(
        "1.4.10 quorumtool -s:\n{}",
        l.old_tool(REAL, "corosync-quorumtool", &["-s"])
    );
    // The real daemon dies: ours alone keeps quorum.
    l.kill9(REAL);
    l.wait_members(&[OURS], &[2], FORM)
        .unwrap_or_else(|e| panic!("{e}"));
    holds(&l, OURS, true, 1);
    l.start(REAL).expect("1.4.10 restarts");
    l.wait_formed(&[1, 2], FORM)
        .unwrap_or_else(|e| panic!("{e}"));
    holds(&l, REAL, true, 2);
    // Ours dies: 1.4.10 alone keeps quorum.
    l.kill9(OURS);
    l.wait_members(&[REAL], &[1], FORM)
        .unwrap_or_else(|e| panic!("{e}"));
    holds(&l, REAL, true, 1);
}

#[test]
fn g1_without_two_node_the_survivor_is_not_quorate() {
    if !runnable(Some(Old::V1410), "G1 quorum tests") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let mut l = lab("g1q-plain", &[], tmp.path());
    holds(&l, OURS, true, 2);
    l.kill9(REAL);
    l.wait_members(&[OURS], &[2], FORM)
        .unwrap_or_else(|e| panic!("{e}"));
    holds(&l, OURS, false, 1);
}
