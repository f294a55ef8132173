//! The multiple-ring WAN gateways, live: two sites, each a network namespace with a ring of
//! three of our totem-nodes on its loopback and one `totem-gateway bridge` WAN gateway,
//! joined by a veth pair (203.0.113.1 and .2) that is the WAN: 100 Mbit/s (tbf), 1 % loss
//! each way on the link's TCP segments (nftables), 25 ms each way of propagation delay
//! (`totem-wan-emu`, a delaying relay: the lab kernel has no netem), so 50 ms RTT.
//!
//! Checked: senders on both sites, one order (the same hash) on all six nodes; the link
//! cut: each site goes on alone with its own senders (no stall), and its gateway reports
//! what it delivered alone; the link healed: one order on all six again; a gateway killed
//! with -9 and restarted: one order again. Needs root (namespaces); the README's test
//! command runs as root.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use totem_tests::load::assert_one_order;
use totem_tests::mrp_lab::{self, mrp_ring, Sites};
use totem_tests::netns::is_root;
use totem_tests::ring::{Bins, Ring};
use totem_tests::wait;

#[path = "common/loopback.rs"]
mod loopback;
use loopback::{bridged_phase, Procs};

const METRICS: &str = "127.0.0.1:9517";

fn bins() -> Bins {
    Bins {
        node: env!("CARGO_BIN_EXE_lab-totem-node").into(),
        load: env!("CARGO_BIN_EXE_totem-cpgload").into(),
    }
}

fn ring(n: u8, nodes: &[usize], gw: usize, port: u16, dir: &Path) -> Ring {
    mrp_ring(bins(), n, nodes, Some(gw), port, true, dir)
}

fn wait_members(ring: &Ring, nodes: &[usize], want: &[u32]) {
    mrp_lab::wait_members(ring, nodes, want, Duration::from_secs(30)).unwrap();
}

fn metrics(sites: &Sites, site: usize) -> String {
    sites.metrics(site, env!("CARGO_BIN_EXE_lab-totem-gateway"), METRICS)
}

fn status(sites: &Sites, site: usize) -> String {
    sites.status(site, env!("CARGO_BIN_EXE_lab-totem-gateway"), METRICS)
}

fn wait_link(sites: &Sites, up: bool, group: Option<&str>, logs: &[PathBuf]) {
    let ok = wait::until(Duration::from_secs(40), Duration::from_millis(250), || {
        (0..2)
            .all(|s| {
                let m = metrics(sites, s);
                let linked = m.contains(&format!("totem_mrp_bridge_connected {}", u8::from(up)));
                let fwd = group
                    .is_none_or(|g| m.contains(&format!("group=\"{g}\",members=\"here\"}} 1")));
                linked && fwd
            })
            .then_some(())
    });
    assert!(
        ok.is_some(),
        "WAN link not {} (group {group:?}):\nA:\n{}\nB:\n{}\nlogs:\n{}",
        if up { "up" } else { "down" },
        metrics(sites, 0),
        metrics(sites, 1),
        logs.iter()
            .map(|l| std::fs::read_to_string(l).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n----\n")
    );
}

struct Gw {
    pid: u32,
    log: PathBuf,
}

fn start_gw(procs: &mut Procs, sites: &Sites, site: usize, dir: &Path, k: u32) -> Gw {
    let log = dir.join(format!("gw{site}.{k}.log"));
    let argv = sites.argv(
        site,
        vec![
            env!("CARGO_BIN_EXE_lab-totem-gateway").into(),
            "bridge".into(),
            "-c".into(),
            dir.join(format!("bridge{site}.conf")).display().to_string(),
        ],
    );
    let pid = procs.spawn(50 + site, &argv, &log);
    Gw { pid, log }
}

#[test]
fn two_sites_over_an_emulated_wan() {
    if !is_root() {
        eprintln!(
            "skipped: needs root for network namespaces (the README's test command runs as root)"
        );
        return;
    }
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let sites = Sites::new("mrpw", "100mbit", 1).expect("sites");
    let mut procs = Procs::default();
    let d = tmp.path();
    let mut r0 = ring(0, &[1, 2, 3], 7, 5951, &d.join("a"));
    let mut r1 = ring(1, &[4, 5, 6], 8, 5961, &d.join("b"));
    let key = d.join("authkey");
    std::fs::write(
        &key,
        (0..128u8).map(|b| b.wrapping_mul(37)).collect::<Vec<_>>(),
    )
    .unwrap();
    for (site, wan, nodeid) in [
        (0, "listen: 203.0.113.1:7700", 7),
        (1, "peer: 127.0.0.1:7701", 8),
    ] {
        let dir = if site == 0 { "a" } else { "b" };
        std::fs::write(
            d.join(format!("bridge{site}.conf")),
            format!(
                "bridge {{\n    ring: {dir}/corosync.conf\n    nodeid: {nodeid}\n    metrics: {METRICS}\n    wan {{\n        {wan}\n        key: authkey\n        heartbeat_ms: 300\n        dead_ms: 2000\n    }}\n}}\n"
            ),
        )
        .unwrap();
    }
    for i in [1, 2, 3] {
        let (argv, log) = r0.node_command(i);
        procs.spawn(i, &sites.argv(0, argv), &log);
    }
    for i in [4, 5, 6] {
        let (argv, log) = r1.node_command(i);
        procs.spawn(i, &sites.argv(1, argv), &log);
    }
    let emu = sites.argv(
        1,
        vec![
            env!("CARGO_BIN_EXE_totem-wan-emu").into(),
            "--listen".into(),
            "127.0.0.1:7701".into(),
            "--upstream".into(),
            "203.0.113.1:7700".into(),
            "--delay-ms".into(),
            "25".into(),
        ],
    );
    procs.spawn(60, &emu, &d.join("emu.log"));
    let ga = start_gw(&mut procs, &sites, 0, d, 1);
    let mut gb = start_gw(&mut procs, &sites, 1, d, 1);
    wait_members(&r0, &[1, 2, 3], &[1, 2, 3, 7]);
    wait_members(&r1, &[4, 5, 6], &[4, 5, 6, 8]);
    eprintln!("[{:?}] both sites formed with their gateways", t0.elapsed());

    let rings = [&r0, &r1];
    let all_rx = [(0, 1), (0, 2), (0, 3), (1, 4), (1, 5), (1, 6)];
    let logs = [ga.log.clone(), gb.log.clone()];
    let r = bridged_phase(
        &mut procs,
        &rings,
        "w1",
        &all_rx,
        &[(0, 1), (1, 4)],
        300,
        90,
        || wait_link(&sites, true, Some("w1"), &logs),
    );
    assert_one_order("w1", &r, 600);
    eprintln!("[{:?}] one order on both sites over the WAN", t0.elapsed());

    // The WAN is cut: each site goes on alone.
    sites.set_wan(false).unwrap();
    wait_link(&sites, false, None, &logs);
    for (site, rx, tx) in [
        (0usize, [(0usize, 1usize), (0, 2), (0, 3)], (0usize, 2usize)),
        (1, [(1, 4), (1, 5), (1, 6)], (1, 5)),
    ] {
        let g = format!("cut{site}");
        let r = bridged_phase(&mut procs, &rings, &g, &rx, &[tx], 200, 90, || {
            std::thread::sleep(Duration::from_millis(500))
        });
        assert_one_order(&g, &r, 200);
    }
    eprintln!("[{:?}] cut: both sites went on alone", t0.elapsed());

    // Healed: one order again, and each gateway reports what its site delivered alone.
    sites.set_wan(true).unwrap();
    let r = bridged_phase(
        &mut procs,
        &rings,
        "w2",
        &all_rx,
        &[(0, 3), (1, 6)],
        300,
        90,
        || wait_link(&sites, true, Some("w2"), &logs),
    );
    assert_one_order("w2", &r, 600);
    for s in 0..2 {
        let text = status(&sites, s);
        assert!(text.contains("WAN link: up"), "{text}");
        assert!(
            !text.contains("delivered alone in the last cut: 0\n"),
            "site {s} delivered its cut messages alone and says so:\n{text}"
        );
    }
    eprintln!("[{:?}] healed: one order again", t0.elapsed());

    // Site B's gateway is killed and restarted.
    procs.kill9(gb.pid);
    wait_members(&r1, &[4, 5, 6], &[4, 5, 6]);
    gb = start_gw(&mut procs, &sites, 1, d, 2);
    wait_members(&r1, &[4, 5, 6], &[4, 5, 6, 8]);
    let logs = [ga.log.clone(), gb.log.clone()];
    let r = bridged_phase(
        &mut procs,
        &rings,
        "w3",
        &all_rx,
        &[(0, 2), (1, 5)],
        300,
        90,
        || wait_link(&sites, true, Some("w3"), &logs),
    );
    assert_one_order("w3", &r, 600);
    eprintln!("[{:?}] gateway restarted: one order again", t0.elapsed());
    drop(procs);
}
