//! A rolling upgrade with real daemons: three corosync 2.4.6 nodes (udpu) upgraded one at
//! a time to Debian's corosync 3.1.7 behind `totem-gateway`, judged by each daemon's own
//! tools at every step: one membership (2.4.6 `runtime.totem.pg.mrp.srp.members`, 3.1.7
//! `runtime.members`), the nodes not being upgraded quorate throughout (quorumtool), libcpg
//! clients on both generations delivering every message once in one order; a gateway
//! killed with SIGKILL takes out only its node, and its restart brings the node back; so do
//! SIGKILL of a 2.x and of a 3.x daemon mid-upgrade, and a partition heals into one ring.
//! Once on udpu without crypto, once with aes256/sha1 on the 2.x ring; the corosync 3
//! daemons on knet (the plan's default; knet crypto mapped from the 2.x crypto), the five
//! nodes on udpu (`plan --udpu`). Each step runs under continuous CPG load from libcpg
//! clients on the nodes not being upgraded, both generations once the ring is mixed.

use std::time::Duration;
use totem_tests::corosync::Corosync;
use totem_tests::netns::is_root;
use totem_tests::oldcs::{self, OldCorosync};

use totem_tests::upgrade::{
    build_clients, check_cpg, check_knet_links, check_load, cpg_round, finish_load, ring_id,
    rrp_status, start_load, Cluster, Daemon, QuorumWatch,
};
use totem_tests::wait;

/// Restarts node `i` on the final configuration while the other nodes' clients send (25 s
/// at 150/s each): every client delivered every message once in one order, every node lists
/// all, and node i's knet has `links` links connected to every other node.
fn finalize_under_load(
    c: &mut Cluster,
    clients: &(std::path::PathBuf, std::path::PathBuf),
    i: usize,
    links: usize,
    tag: &str,
) {
    let load = start_load(c, clients, i, &format!("{tag}{i}"), 25, 150);
    std::thread::sleep(Duration::from_secs(3));
    c.finalize(i);
    c.wait_view(&[1, 2, 3], &[1, 2, 3])
        .unwrap_or_else(|e| panic!("{tag}: after the final restart of node {i}: {e}"));
    let r = finish_load(c, load);
    check_load(
        &r,
        1000,
        &format!("{tag}: node {i} onto the final configuration"),
    );
    // A second link may come up a moment after the first.
    let c: &Cluster = c;
    let ok = wait::until(Duration::from_secs(20), Duration::from_millis(500), || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_knet_links(c, i, links)
        }))
        .ok()
    });
    if ok.is_none() {
        check_knet_links(c, i, links);
    }
}

/// Upgrades node `i` while the other nodes' clients send (25 s at 150/s each); every
/// client then delivered every message once in one order, and every node lists all.
fn upgrade_under_load(
    c: &mut Cluster,
    clients: &(std::path::PathBuf, std::path::PathBuf),
    i: usize,
) {
    let n = c.nodes.len();
    let load = start_load(c, clients, i, &format!("during{i}"), 25, 150);
    // The nodes not being upgraded stay quorate throughout (their own quorumtool).
    let watch = QuorumWatch::start(c, i);
    // Let the load run on the old view first.
    std::thread::sleep(std::time::Duration::from_secs(3));
    c.upgrade(i);
    let all: Vec<usize> = (1..=n).collect();
    let want: Vec<u32> = (1..=n as u32).collect();
    c.wait_view(&all, &want)
        .unwrap_or_else(|e| panic!("after upgrading node {i}: {e}"));
    let (polls, lost) = watch.finish();
    assert!(polls >= 2, "quorum watched only {polls} times");
    assert!(
        lost.is_empty(),
        "while upgrading node {i}, quorum was lost: {lost:?}"
    );
    let r = finish_load(c, load);
    check_load(&r, 1000, &format!("load while upgrading node {i}"));
    if !c.local_udpu {
        check_knet_links(c, i, 1);
    }
}

const GATEWAY: &str = env!("CARGO_BIN_EXE_lab-totem-gateway");

/// The whole upgrade of three nodes; `crypto`: aes256/sha1 on the 2.x ring (the gateway
/// seals with the cluster's authkey); `faults`: SIGKILL of a 2.x and a 3.x daemon and a
/// partition and its merge while the ring is mixed.
fn upgrade_scenario(crypto: bool, faults: bool) {
    if !is_root() {
        eprintln!("skipped: live tests need root");
        return;
    }
    oldcs::install().expect("corosync 2.4.6 installs from ../shared/old-corosync");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let clients = build_clients(&root);
    let key = root.join("authkey");
    if crypto {
        let bytes: Vec<u8> = (0..128u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        std::fs::write(&key, bytes).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let ring_crypto = crypto.then_some(("aes256", "sha1", key.as_path()));
    let mut c = Cluster::start_old("gu", 3, &root, GATEWAY.into(), ring_crypto)
        .expect("2.4.6 ring of three");

    // Node 3, then node 2: stop 2.4.6 (the others stay one quorate ring), start 3.1.7 and
    // its gateway; every daemon sees the three.
    for i in [3, 2] {
        upgrade_under_load(&mut c, &clients, i);
        let r = cpg_round(&mut c, &clients, &format!("step{i}"));
        check_cpg(&r, &format!("after upgrading node {i}"));
    }

    // The gateway's own status (from its metrics port) shows traffic both ways, no refusal.
    let st = c
        .lab
        .exec(3, &[GATEWAY, "status"])
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .expect("totem-gateway status");
    assert!(
        st.contains("Gateway for node 3") && st.contains("refused:  none"),
        "{st}"
    );
    // Peers by generation, found on the wire: node 1 still runs 2.4.6, node 2 is 3.1.7
    // behind its gateway.
    let line = |k: u32| {
        st.lines()
            .find(|l| l.trim().starts_with(&format!("node {k}: ")))
            .unwrap_or("")
            .to_string()
    };
    assert!(line(1).contains("corosync 2.x on the ring"), "{st}");
    assert!(line(2).contains("corosync 3 behind its gateway"), "{st}");
    assert!(
        line(1).contains("knet link up") && line(2).contains("knet link up"),
        "{st}"
    );
    let to_ring: f64 = st
        .lines()
        .find_map(|l| l.trim().strip_prefix("to ring:"))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    assert!(to_ring > 1000.0, "{st}");

    // SIGKILL node 3's gateway: only node 3 leaves; a new gateway brings it back.
    let Daemon::New { gateway, .. } = c.nodes[2] else {
        unreachable!()
    };
    c.lab.signal(gateway, "KILL");
    c.wait_view(&[1, 2], &[1, 2])
        .expect("nodes 1 and 2 go on as a quorate ring of two");
    let g = c.start_gateway(3);
    if let Daemon::New { gateway, .. } = &mut c.nodes[2] {
        *gateway = g;
    }
    c.wait_view(&[1, 2, 3], &[1, 2, 3])
        .expect("node 3 back after its gateway's restart");

    if faults {
        // SIGKILL corosync 2.4.6 on node 1 (the last 2.x node): nodes 2 and 3 (3.1.7) go
        // on; 2.4.6 restarted rejoins.
        let Daemon::Old(o) = &c.nodes[0] else {
            unreachable!()
        };
        let (pid, dir) = (o.pid, o.dir.clone());
        c.lab.signal(pid, "KILL");
        c.wait_view(&[2, 3], &[2, 3])
            .expect("nodes 2 and 3 without node 1");
        c.nodes[0] = Daemon::Old(OldCorosync::start(&mut c.lab, 1, &dir).expect("2.4.6 restarts"));
        c.wait_view(&[1, 2, 3], &[1, 2, 3]).expect("node 1 back");
        // SIGKILL corosync 3.1.7 on node 3 (its gateway stays): nodes 1 and 2 go on; the
        // restarted daemon rejoins through the same gateway.
        let Daemon::New { cs, gateway } = &c.nodes[2] else {
            unreachable!()
        };
        let (pid, dir, gateway) = (cs.pid, cs.dir.clone(), *gateway);
        c.lab.signal(pid, "KILL");
        c.wait_view(&[1, 2], &[1, 2])
            .expect("nodes 1 and 2 without node 3");
        let cs = Corosync::start(&mut c.lab, 3, &dir).expect("3.1.7 restarts");
        c.nodes[2] = Daemon::New { cs, gateway };
        c.wait_view(&[1, 2, 3], &[1, 2, 3]).expect("node 3 back");
        // Partition node 2 (3.1.7 behind its gateway) away and merge it back.
        c.lab.set_link(2, false).unwrap();
        c.wait_view(&[1, 3], &[1, 3])
            .expect("nodes 1 and 3 without node 2");
        c.lab.set_link(2, true).unwrap();
        c.wait_view(&[1, 2, 3], &[1, 2, 3])
            .expect("merged after the partition");
        let r = cpg_round(&mut c, &clients, "after-faults");
        check_cpg(&r, "after the faults");
    }

    // The last 2.x node: afterwards three 3.1.7 daemons, still one ring through gateways.
    upgrade_under_load(&mut c, &clients, 1);
    let r = cpg_round(&mut c, &clients, "final");
    check_cpg(&r, "all on 3.1.7");

    // The final rolling restart: node by node onto plan --final's direct knet
    // configuration; the gateways still running carry the restarted nodes' knet to their
    // daemons unchanged. At the end no gateway runs and knet links join every pair.
    for i in [3, 2, 1] {
        finalize_under_load(&mut c, &clients, i, 1, "final");
        if i != 1 {
            // A node still behind its gateway sees node i as direct knet.
            let st = c
                .lab
                .exec(1, &[GATEWAY, "status"])
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            assert!(
                st.lines()
                    .any(|l| l.trim().starts_with(&format!("node {i}: "))
                        && l.contains("direct knet")),
                "{st}"
            );
        }
    }
    let r = cpg_round(&mut c, &clients, "direct");
    check_cpg(&r, "all on the final configuration");
}

#[test]
fn live_rolling_upgrade_2_4_6_udpu_to_3_1_7_knet_with_faults() {
    upgrade_scenario(false, true);
}

#[test]
fn live_rolling_upgrade_2_4_6_aes256_sha1_to_3_1_7_knet_crypto() {
    upgrade_scenario(true, false);
}

/// Five nodes, three moved to 3.1.7 and two left on 2.4.6: one ring, one quorum, CPG across.
#[test]
fn live_five_nodes_two_left_on_2_4_6_three_on_3_1_7_udpu() {
    if !is_root() {
        eprintln!("skipped: live tests need root");
        return;
    }
    oldcs::install().expect("corosync 2.4.6 installs from ../shared/old-corosync");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let clients = build_clients(&root);
    let mut c =
        Cluster::start_old("g5", 5, &root, GATEWAY.into(), None).expect("2.4.6 ring of five");
    c.local_udpu = true;
    for i in [5, 4, 3] {
        upgrade_under_load(&mut c, &clients, i);
    }
    let r = cpg_round(&mut c, &clients, "five");
    check_cpg(&r, "two 2.4.6 and three 3.1.7");
}

/// 2.4.6 on two rings (RRP `mode`) upgraded to 3.1.7 behind gateways that carry both rings:
/// ring 1 of the upgraded node, then of a 2.x node, fails and comes back under CPG load:
/// no membership change (the same ring id on every daemon), nothing lost; the 2.x nodes
/// that marked ring 1 FAULTY recover it by themselves (their ring test goes around through
/// the gateway).
fn rrp_scenario(prefix: &str, mode: &str) {
    if !is_root() {
        eprintln!("skipped: live tests need root");
        return;
    }
    oldcs::install().expect("corosync 2.4.6 installs from ../shared/old-corosync");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let clients = build_clients(&root);
    let mut c = Cluster::start_old_rrp(prefix, 3, &root, GATEWAY.into(), mode)
        .expect("2.4.6 ring of three on two rings");
    upgrade_under_load(&mut c, &clients, 3);
    for who in [3, 1] {
        let before: Vec<Option<String>> = (1..=3).map(|i| ring_id(&c, i)).collect();
        assert!(before.iter().all(Option::is_some), "{before:?}");
        let load = start_load(&mut c, &clients, 0, &format!("rrp{who}"), 40, 150);
        std::thread::sleep(Duration::from_secs(3));
        c.lab.set_net_link(who, 1, false).unwrap();
        // A 2.x node marks ring 1 FAULTY (passive: its receive counts; active: the missing
        // token copies, 10 problems at ~1 per token round when 2.4.6 delays each token).
        wait::until(Duration::from_secs(30), Duration::from_millis(250), || {
            [1, 2]
                .iter()
                .any(|i| rrp_status(&c, *i).contains("FAULTY"))
                .then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "{mode}: ring 1 of node {who} down: no 2.x node marked it: {} / {}",
                rrp_status(&c, 1),
                rrp_status(&c, 2)
            )
        });
        std::thread::sleep(Duration::from_secs(2));
        c.lab.set_net_link(who, 1, true).unwrap();
        wait::until(Duration::from_secs(30), Duration::from_millis(500), || {
            [1, 2]
                .iter()
                .all(|i| !rrp_status(&c, *i).contains("FAULTY"))
                .then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "{mode}: ring 1 not recovered after node {who}'s link came back: {} / {}",
                rrp_status(&c, 1),
                rrp_status(&c, 2)
            )
        });
        let r = finish_load(&mut c, load);
        check_load(
            &r,
            1000,
            &format!("{mode}: ring 1 of node {who} down and up"),
        );
        let after: Vec<Option<String>> = (1..=3).map(|i| ring_id(&c, i)).collect();
        assert_eq!(
            before, after,
            "{mode}: ring 1 of node {who}: the membership changed"
        );
    }
    // The automatic recovery went around the ring through node 3's gateway.
    let st = c
        .lab
        .exec(3, &[GATEWAY, "status", "--raw"])
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let passed: f64 = st
        .lines()
        .find_map(|l| l.strip_prefix("totem_gateway_ring_tests_total"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0.0);
    assert!(
        passed > 0.0,
        "no ring test passed through the gateway: {st}"
    );
    upgrade_under_load(&mut c, &clients, 2);
    let r = cpg_round(&mut c, &clients, "rrp-mixed");
    check_cpg(&r, &format!("{mode}: one 2.4.6 and two 3.1.7 on two rings"));
    upgrade_under_load(&mut c, &clients, 1);
    // The final rolling restart: two knet links (the two rings) between every pair, the
    // gateways still running answering on both.
    for i in [3, 2, 1] {
        finalize_under_load(&mut c, &clients, i, 2, &format!("{mode}-final"));
    }
    let r = cpg_round(&mut c, &clients, "rrp-direct");
    check_cpg(&r, &format!("{mode}: three 3.1.7 on two knet links"));
}

#[test]
fn live_rolling_upgrade_2_4_6_rrp_passive_to_3_1_7_knet() {
    rrp_scenario("grp", "passive");
}

#[test]
fn live_rolling_upgrade_2_4_6_rrp_active_to_3_1_7_knet() {
    rrp_scenario("gra", "active");
}
