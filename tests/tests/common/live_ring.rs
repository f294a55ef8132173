//! The live ring scenario shared by `live_ring_ipv4` and `live_ring_ipv6`: five of our
//! `totem-node`s (G3 udpu) in lab namespaces, nftables dropping 5 % of the Totem packets
//! entering every node for the whole run.
//!
//! Phases, each checked with `totem-cpgload` clients in a fresh CPG group: (1) the ring
//! forms and two senders' messages are delivered complete and in one total order (equal
//! order hashes on all five nodes); (2) kill -9 of node 5 while two senders keep sending:
//! nodes 1-4 re-form and deliver every message in one order; (3) node 5 restarts, rejoins,
//! and all five agree again; (4) node 5's veth goes down: {1..4} and {5} each form a ring
//! and keep delivering; the link comes up, the rings merge and all five agree again.

use std::time::{Duration, Instant};

use totem_tests::load::{assert_one_order, LoadResult};
use totem_tests::netns::Lab;
use totem_tests::ring::{collect, Bins, Ring, Timers};

const LOSS_PERCENT: u32 = 5;
const FORM: Duration = Duration::from_secs(30);

fn bins() -> Bins {
    Bins {
        node: env!("CARGO_BIN_EXE_lab-totem-node").into(),
        load: env!("CARGO_BIN_EXE_totem-cpgload").into(),
    }
}

/// Runs one load phase: clients on `nodes` join `group`, `senders` send `count` messages
/// each at `rate`/s; `during` runs once the clients are started. Returns the RESULTs of the
/// clients on `check` (the others only need to exit).
#[allow(clippy::too_many_arguments)]
fn phase(
    lab: &mut Lab,
    ring: &Ring,
    group: &str,
    nodes: &[usize],
    senders: &[usize],
    count: u64,
    rate: u64,
    check: &[usize],
    during: impl FnOnce(&mut Lab),
) -> Vec<(usize, LoadResult)> {
    let m = nodes.len().to_string();
    let e = senders.len().to_string();
    let n = count.to_string();
    let r = rate.to_string();
    let mut clients = Vec::new();
    for &i in nodes {
        let mut args = vec!["-g", group, "-m", &m, "-e", &e, "-T", "45", "-s", "512"];
        if senders.contains(&i) {
            args.extend_from_slice(&["-S", "-n", &n, "-r", &r]);
        }
        let (pid, out) = ring
            .spawn_load(lab, i, &format!("{group}-n{i}"), &args)
            .expect("start totem-cpgload");
        clients.push((i, pid, out));
    }
    during(lab);
    let results = collect(lab, &clients, Duration::from_secs(50));
    let mut ok = Vec::new();
    for (i, r) in results {
        if !check.contains(&i) {
            continue;
        }
        match r {
            Ok(r) => ok.push((i, r)),
            Err(e) => panic!(
                "{group}: client on node {i}: {e}\n{}",
                ring.log_tails(check, 20)
            ),
        }
    }
    ok
}

/// The whole scenario over IPv4 or IPv6.
pub fn five_nodes_with_loss_crash_and_partition(ipv6: bool, prefix: &str) {
    let t0 = Instant::now();
    let mut lab = Lab::new(prefix, 5).expect("lab (run as root)");
    let tmp = tempfile::tempdir().unwrap();
    let all = [1, 2, 3, 4, 5];
    let addrs: Vec<_> = all.iter().map(|&i| Ring::lab_addr(&lab, i, ipv6)).collect();
    let mut ring = Ring::new(bins(), &addrs, None, Timers::default(), tmp.path());
    for i in all {
        lab.set_loss(i, LOSS_PERCENT).expect("nftables loss rule");
    }
    // The loss rule is really there (nft lists it back).
    let rules = lab
        .exec(1, &["nft", "list", "table", "inet", "totemloss"])
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(rules.contains("numgen random mod 100 < 5"), "{rules}");

    for i in all {
        ring.start(&mut lab, i).expect("start totem-node");
    }
    ring.wait_ring(&all, FORM).unwrap();
    eprintln!("[{:?}] 5-node ring formed", t0.elapsed());

    // (1) Two senders, 300 messages each, one total order everywhere.
    let r = phase(&mut lab, &ring, "p1", &all, &[1, 3], 300, 300, &all, |_| {});
    assert_one_order("p1", &r, 600);
    eprintln!(
        "[{:?}] p1: 600 messages in one order on 5 nodes",
        t0.elapsed()
    );

    // (2) kill -9 of node 5 while nodes 1 and 2 keep sending (8 s at 100/s each).
    let survivors = [1, 2, 3, 4];
    let pid5 = ring.pids.remove(&5);
    let r = phase(
        &mut lab,
        &ring,
        "p2",
        &all,
        &[1, 2],
        800,
        100,
        &survivors,
        |lab| {
            std::thread::sleep(Duration::from_secs(2));
            if let Some(pid) = pid5 {
                lab.signal(pid, "KILL");
            }
        },
    );
    ring.wait_ring(&survivors, FORM).unwrap();
    assert_one_order("p2", &r, 1600);
    eprintln!(
        "[{:?}] p2: node 5 killed mid-load, 1600 messages in one order on 1-4",
        t0.elapsed()
    );

    // (3) Node 5 restarts and rejoins.
    ring.start(&mut lab, 5).expect("restart totem-node 5");
    ring.wait_ring(&all, FORM).unwrap();
    let r = phase(&mut lab, &ring, "p3", &all, &[2, 5], 200, 200, &all, |_| {});
    assert_one_order("p3", &r, 400);
    eprintln!(
        "[{:?}] p3: node 5 rejoined, 400 messages in one order on 5 nodes",
        t0.elapsed()
    );

    // (4) Partition node 5 (veth down at the bridge), deliver on both sides, heal, merge.
    lab.set_link(5, false).unwrap();
    ring.wait_ring(&survivors, FORM).unwrap();
    ring.wait_ring(&[5], FORM).unwrap();
    let r = phase(
        &mut lab,
        &ring,
        "p4a",
        &survivors,
        &[4],
        200,
        200,
        &survivors,
        |_| {},
    );
    assert_one_order("p4a", &r, 200);
    let r = phase(&mut lab, &ring, "p4b", &[5], &[5], 100, 200, &[5], |_| {});
    assert_one_order("p4b", &r, 100);
    eprintln!(
        "[{:?}] p4: partition {{1-4}} | {{5}} delivers on both sides",
        t0.elapsed()
    );
    lab.set_link(5, true).unwrap();
    ring.wait_ring(&all, FORM).unwrap();
    let r = phase(&mut lab, &ring, "p5", &all, &[1, 5], 200, 200, &all, |_| {});
    assert_one_order("p5", &r, 400);
    eprintln!(
        "[{:?}] p5: merged, 400 messages in one order on 5 nodes",
        t0.elapsed()
    );
    drop(lab);
}
