//! Five of our totem-node processes (G3 udpu) on 127.77.0.1-5 (Linux routes all of 127/8
//! on lo), no namespaces and no root needed: the ring forms, two senders' messages arrive
//! in one total order on all five, kill -9 of node 5 during load leaves 1-4 agreeing on
//! every message, and the restarted node rejoins. Loss and partitions need the namespace
//! tests (`live_ring_ipv4`, `live_ring_ipv6`).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use totem_tests::ring::{Bins, Ring, Timers};

#[path = "common/loopback.rs"]
mod loopback;
use loopback::{phase, Procs};
use totem_tests::load::assert_one_order;

#[test]
fn five_node_ring_on_loopback() {
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let bins = Bins {
        node: env!("CARGO_BIN_EXE_lab-totem-node").into(),
        load: env!("CARGO_BIN_EXE_totem-cpgload").into(),
    };
    let all = [1usize, 2, 3, 4, 5];
    let addrs: Vec<(usize, IpAddr)> = all
        .iter()
        .map(|&i| (i, IpAddr::V4(Ipv4Addr::new(127, 77, 0, i as u8))))
        .collect();
    // A port of its own: other loopback tests use 5405.
    let mut ring = Ring::new(bins, &addrs, Some(5921), Timers::default(), tmp.path());
    let mut procs = Procs::default();
    let mut pids = std::collections::BTreeMap::new();
    for i in all {
        let (argv, log) = ring.node_command(i);
        pids.insert(i, procs.spawn(i, &argv, &log));
    }
    ring.wait_ring(&all, Duration::from_secs(30)).unwrap();
    eprintln!("[{:?}] formed", t0.elapsed());

    let r = phase(&mut procs, &ring, "l1", &all, &[1, 4], 300, &all, |_| {});
    assert_one_order("l1", &r, 600);

    let survivors = [1, 2, 3, 4];
    let pid5 = pids[&5];
    let r = phase(
        &mut procs,
        &ring,
        "l2",
        &all,
        &[2, 3],
        800,
        &survivors,
        |p| {
            std::thread::sleep(Duration::from_secs(2));
            p.kill9(pid5);
        },
    );
    ring.wait_ring(&survivors, Duration::from_secs(30)).unwrap();
    assert_one_order("l2", &r, 1600);
    eprintln!("[{:?}] crash of node 5 survived", t0.elapsed());

    let (argv, log) = ring.node_command(5);
    procs.spawn(5, &argv, &log);
    ring.wait_ring(&all, Duration::from_secs(30)).unwrap();
    let r = phase(&mut procs, &ring, "l3", &all, &[5], 300, &all, |_| {});
    assert_one_order("l3", &r, 300);
    eprintln!("[{:?}] node 5 rejoined", t0.elapsed());
}
