//! The multiple-ring LAN gateway, live: two rings of three of our totem-nodes (G3 udpu,
//! ring 0 on 127.81.0.1-3, ring 1 on 127.81.1.4-6, each with an `mrp` section) and one
//! `totem-gateway bridge` process that is node 7 of both. No namespaces and no root: Linux
//! routes all of 127/8 on lo.
//!
//! Checked: senders on both rings, one order (the same hash) on all six nodes for the
//! bridged group; the gateway's status names the group as forwarded both ways; after kill
//! -9 of the gateway both rings go on alone (each delivers its own senders' messages, no
//! stall waiting for the other ring); restarted, it joins both rings again and the six
//! nodes are back to one order.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use totem_tests::load::assert_one_order;
use totem_tests::mrp_lab::{self, mrp_ring};
use totem_tests::ring::{Bins, Ring};
use totem_tests::wait;

#[path = "common/loopback.rs"]
mod loopback;
use loopback::{bridged_phase, Procs};

const GATEWAY: usize = 7;
const METRICS: &str = "127.0.0.1:9516";

fn bins() -> Bins {
    Bins {
        node: env!("CARGO_BIN_EXE_lab-totem-node").into(),
        load: env!("CARGO_BIN_EXE_totem-cpgload").into(),
    }
}

fn ring(n: u8, nodes: &[usize], port: u16, dir: &Path) -> Ring {
    mrp_ring(bins(), n, nodes, Some(GATEWAY), port, true, dir)
}

fn metrics() -> Option<String> {
    mrp_lab::metrics_here(METRICS)
}

fn wait_members(ring: &Ring, nodes: &[usize], want: &[u32], timeout: Duration) {
    mrp_lab::wait_members(ring, nodes, want, timeout).unwrap();
}

fn gateway_status() -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lab-totem-gateway"))
        .args(["status", "--metrics", METRICS])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Gateway {
    pid: u32,
    log: PathBuf,
}

fn start_gateway(procs: &mut Procs, dir: &Path, k: u32) -> Gateway {
    let log = dir.join(format!("gateway.{k}.log"));
    let argv = vec![
        env!("CARGO_BIN_EXE_lab-totem-gateway").to_string(),
        "bridge".into(),
        "-c".into(),
        dir.join("bridge.conf").display().to_string(),
    ];
    let pid = procs.spawn(GATEWAY, &argv, &log);
    Gateway { pid, log }
}

/// Waits until the gateway's ports are joined and `group` is forwarded from both rings.
fn wait_forwarded(gw: &Gateway, group: &str) {
    let want = [0, 1].map(|r| {
        format!("totem_mrp_bridge_group{{ring=\"{r}\",group=\"{group}\",members=\"here\"}} 1")
    });
    let ok = wait::until(Duration::from_secs(30), Duration::from_millis(200), || {
        let m = metrics()?;
        (m.contains("totem_mrp_bridge_connected 1") && want.iter().all(|w| m.contains(w)))
            .then_some(())
    });
    assert!(
        ok.is_some(),
        "group {group} not forwarded both ways; metrics:\n{}\ngateway log:\n{}",
        metrics().unwrap_or_default(),
        std::fs::read_to_string(&gw.log).unwrap_or_default()
    );
}

#[test]
fn two_rings_bridged_into_one_order() {
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let d0 = tmp.path().join("ring0");
    let d1 = tmp.path().join("ring1");
    let mut r0 = ring(0, &[1, 2, 3], 5931, &d0);
    let mut r1 = ring(1, &[4, 5, 6], 5941, &d1);
    std::fs::write(
        tmp.path().join("bridge.conf"),
        format!(
            "bridge {{\n    ring: ring0/corosync.conf\n    ring: ring1/corosync.conf\n    nodeid: {GATEWAY}\n    metrics: {METRICS}\n}}\n"
        ),
    )
    .unwrap();
    let mut procs = Procs::default();
    for i in [1, 2, 3] {
        let (argv, log) = r0.node_command(i);
        procs.spawn(i, &argv, &log);
    }
    for i in [4, 5, 6] {
        let (argv, log) = r1.node_command(i);
        procs.spawn(i, &argv, &log);
    }
    let gw = start_gateway(&mut procs, tmp.path(), 1);
    wait_members(&r0, &[1, 2, 3], &[1, 2, 3, 7], Duration::from_secs(30));
    wait_members(&r1, &[4, 5, 6], &[4, 5, 6, 7], Duration::from_secs(30));
    eprintln!("[{:?}] both rings formed with the gateway", t0.elapsed());

    // Phase 1: senders on both rings, one order on all six.
    let all_rx = [(0, 1), (0, 2), (0, 3), (1, 4), (1, 5), (1, 6)];
    let r = bridged_phase(
        &mut procs,
        &[&r0, &r1],
        "b1",
        &all_rx,
        &[(0, 1), (1, 4), (1, 6)],
        300,
        60,
        || {
            wait_forwarded(&gw, "b1");
            // While the group has members on both sides, status names it forwarded.
            let text = gateway_status();
            assert!(text.contains("ports joined"), "{text}");
            assert!(text.contains("b1 (here, forwarded)"), "{text}");
        },
    );
    assert_one_order("b1", &r, 900);
    let v = r0.status_json(1).expect("node 1 answers");
    let mrp = &v[2]["mrp"];
    assert_eq!(mrp["origins"].as_array().map(Vec::len), Some(2), "{v}");
    let human = std::process::Command::new(env!("CARGO_BIN_EXE_lab-totem-node"))
        .args(["status", "--control"])
        .arg(r0.control(1))
        .output()
        .unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("Multiple-ring order (ring 0)"), "{human}");
    assert!(human.contains("ring 1 via gateway 0:7"), "{human}");
    eprintln!("[{:?}] one order on six nodes of two rings", t0.elapsed());

    // Phase 2: the gateway dies; each ring goes on alone.
    procs.kill9(gw.pid);
    wait_members(&r0, &[1, 2, 3], &[1, 2, 3], Duration::from_secs(30));
    wait_members(&r1, &[4, 5, 6], &[4, 5, 6], Duration::from_secs(30));
    for (ring, rx, tx) in [
        (0usize, [(0usize, 1usize), (0, 2), (0, 3)], (0usize, 2usize)),
        (1, [(1, 4), (1, 5), (1, 6)], (1, 5)),
    ] {
        let g = format!("alone{ring}");
        let r = bridged_phase(&mut procs, &[&r0, &r1], &g, &rx, &[tx], 200, 60, || {
            std::thread::sleep(Duration::from_millis(500))
        });
        assert_one_order(&g, &r, 200);
    }
    eprintln!(
        "[{:?}] both rings went on without the gateway",
        t0.elapsed()
    );

    // Phase 3: restarted, it bridges again.
    let gw = start_gateway(&mut procs, tmp.path(), 2);
    wait_members(&r0, &[1, 2, 3], &[1, 2, 3, 7], Duration::from_secs(30));
    wait_members(&r1, &[4, 5, 6], &[4, 5, 6, 7], Duration::from_secs(30));
    let r = bridged_phase(
        &mut procs,
        &[&r0, &r1],
        "b3",
        &all_rx,
        &[(0, 3), (1, 5)],
        300,
        60,
        || wait_forwarded(&gw, "b3"),
    );
    assert_one_order("b3", &r, 600);
    eprintln!("[{:?}] restarted gateway: one order again", t0.elapsed());
}
