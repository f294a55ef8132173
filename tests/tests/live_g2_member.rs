//! Live: our node as a full member of a corosync 2.4.6 ring: two real 2.4.6 daemons and one
//! `totem-node --generation g2`, each in its own namespace, one configuration for all, over
//! udpu, udp multicast, udpu with `crypto_cipher: aes256` / `crypto_hash: sha1` and a shared
//! authkey, and udpu on IPv6. Judged by 2.4.6's own tools: `corosync-cmapctl
//! runtime.totem.pg.mrp.srp.members` lists the three as joined and `corosync-quorumtool -s`
//! counts three votes (ours included) and says Quorate. CPG both ways: a libcpg client built
//! against 2.4.6 on each real node and `totem-cpgload` on ours, all sending, every message of
//! every sender delivered on every node without gap or duplicate, in one order (200 B and
//! 64 KiB messages, the latter fragmented by totempg across many Totem packets). kill -9 of
//! our node and of a 2.4.6 daemon: the other two stay quorate (2 of 3 votes) and the
//! restarted node rejoins; CPG works again afterwards.
//!
//! Needs root. Without `../shared/old-corosync` the cases print one loud line and skip,
//! except under CI=true, where that is a failure.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use totem_tests::mixed_lab::{runnable, MixedLab, Old, Shape};

const NODE: &str = env!("CARGO_BIN_EXE_lab-totem-node");
const LOAD: &str = env!("CARGO_BIN_EXE_totem-cpgload");
const FORM: Duration = Duration::from_secs(40);
/// Our node's lab index (and nodeid); 1 and 2 run 2.4.6.
const OURS: usize = 3;

/// One lab at a time under `cargo test` threads.
static SERIAL: Mutex<()> = Mutex::new(());

/// Every node of `who` counts `votes` votes and is quorate (2.4.6's quorumtool, our
/// votequorum).
fn check_quorum(l: &MixedLab, who: &[usize], votes: u32) {
    let ok = totem_tests::wait::until(Duration::from_secs(15), Duration::from_millis(250), || {
        who.iter()
            .all(|&i| {
                l.quorum(i)
                    .is_some_and(|q| q.quorate && q.total_votes == votes)
            })
            .then_some(())
    });
    assert!(
        ok.is_some(),
        "quorum with {votes} votes on {who:?}: {:?}\n{}",
        who.iter().map(|&i| (i, l.quorum(i))).collect::<Vec<_>>(),
        l.describe()
    );
}

fn cpg_round(l: &mut MixedLab, client: &Path, tag: &str, n: u64, size: usize) {
    let clients = l.start_load(Some(client), tag, n, size, 100);
    l.finish_load(tag, &clients, n);
}

fn scenario(tag: &str, shape: Shape) {
    if !runnable(Some(Old::V246), "G2 member tests") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let mut l = MixedLab::new(
        tag,
        Some(Old::V246),
        shape,
        3,
        &[OURS],
        NODE.as_ref(),
        LOAD.as_ref(),
        tmp.path(),
    )
    .expect("lab (root, ip netns)");
    let t0 = Instant::now();
    l.start_all(FORM).unwrap_or_else(|e| panic!("{tag}: {e}"));
    check_quorum(&l, &[1, 2, 3], 3);
    eprintln!(
        "{tag}: ring of three, 3 votes everywhere, in {:?}",
        t0.elapsed()
    );
    eprintln!(
        "{tag}: 2.4.6 n1 corosync-quorumtool -s:\n{}",
        l.old_tool(1, "corosync-quorumtool", &["-s"])
    );
    let client = l.build_client().expect("2.4.6 libcpg client");
    cpg_round(&mut l, &client, "formed", 300, 200);
    cpg_round(&mut l, &client, "large", 20, 65536);
    // kill -9 of our node: the 2.4.6 pair goes on, quorate with 2 of 3 votes.
    l.kill9(OURS);
    l.wait_members(&[1, 2], &[1, 2], FORM)
        .unwrap_or_else(|e| panic!("{tag}: ours killed: {e}"));
    check_quorum(&l, &[1, 2], 2);
    l.start(OURS).expect("our node restarts");
    let t1 = Instant::now();
    l.wait_formed(&[1, 2, 3], FORM)
        .unwrap_or_else(|e| panic!("{tag}: ours restarted: {e}"));
    check_quorum(&l, &[1, 2, 3], 3);
    eprintln!(
        "{tag}: our node restarted -> ring of three in {:?}",
        t1.elapsed()
    );
    // kill -9 of a 2.4.6 daemon: ours and the other go on.
    l.kill9(1);
    l.wait_members(&[2, OURS], &[2, 3], FORM)
        .unwrap_or_else(|e| panic!("{tag}: 2.4.6 n1 killed: {e}"));
    check_quorum(&l, &[2, OURS], 2);
    l.start(1).expect("2.4.6 n1 restarts");
    l.wait_formed(&[1, 2, 3], FORM)
        .unwrap_or_else(|e| panic!("{tag}: 2.4.6 n1 restarted: {e}"));
    check_quorum(&l, &[1, 2, 3], 3);
    cpg_round(&mut l, &client, "healed", 300, 200);
}

#[test]
fn g2_udpu_member() {
    scenario("g2m-udpu", Shape::default());
}

#[test]
fn g2_udp_multicast_member() {
    scenario(
        "g2m-udp",
        Shape {
            udp: true,
            ..Shape::default()
        },
    );
}

#[test]
fn g2_udpu_aes256_sha1_member() {
    scenario(
        "g2m-aes",
        Shape {
            crypto: true,
            ..Shape::default()
        },
    );
}

#[test]
fn g2_udpu_ipv6_member() {
    scenario(
        "g2m-v6",
        Shape {
            ipv6: true,
            ..Shape::default()
        },
    );
}
