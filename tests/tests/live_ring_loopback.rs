//! Five of our totem-node processes (G3 udpu) on 127.77.0.1-5 (Linux routes all of 127/8
//! on lo), no namespaces and no root needed: the ring forms, two senders' messages arrive
//! in one total order on all five, kill -9 of node 5 during load leaves 1-4 agreeing on
//! every message, and the restarted node rejoins. Loss and partitions need the namespace
//! tests (`live_ring_ipv4`, `live_ring_ipv6`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use totem_tests::load::LoadResult;
use totem_tests::ring::{Bins, Ring, Timers};
use totem_tests::wait;

/// Child processes killed (and reaped) on drop.
#[derive(Default)]
struct Procs(Vec<(usize, Child)>);

impl Procs {
    fn spawn(&mut self, tag: usize, argv: &[String], out: &PathBuf) -> u32 {
        let f = std::fs::File::create(out).expect("output file");
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .expect("spawn");
        let pid = child.id();
        self.0.push((tag, child));
        pid
    }
    fn kill9(&mut self, pid: u32) {
        if let Some(p) = self.0.iter().position(|(_, c)| c.id() == pid) {
            let (_, mut c) = self.0.remove(p);
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    fn wait_exit(&mut self, pid: u32, timeout: Duration) -> bool {
        let Some(p) = self.0.iter().position(|(_, c)| c.id() == pid) else {
            return true;
        };
        let done = wait::until(timeout, Duration::from_millis(50), || {
            matches!(self.0[p].1.try_wait(), Ok(Some(_))).then_some(())
        });
        if done.is_some() {
            self.0.remove(p);
            true
        } else {
            self.kill9(pid);
            false
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn phase(
    procs: &mut Procs,
    ring: &Ring,
    group: &str,
    nodes: &[usize],
    senders: &[usize],
    count: u64,
    check: &[usize],
    during: impl FnOnce(&mut Procs),
) -> Vec<(usize, LoadResult)> {
    let (m, e, n) = (
        nodes.len().to_string(),
        senders.len().to_string(),
        count.to_string(),
    );
    let mut clients = Vec::new();
    for &i in nodes {
        let mut args = vec!["-g", group, "-m", &m, "-e", &e, "-T", "40", "-s", "700"];
        if senders.contains(&i) {
            args.extend_from_slice(&["-S", "-n", &n, "-r", "200"]);
        }
        let (argv, out) = ring.load_command(i, &format!("{group}-n{i}"), &args);
        clients.push((i, procs.spawn(100 + i, &argv, &out), out));
    }
    during(procs);
    let mut results = Vec::new();
    for (i, pid, out) in clients {
        let exited = procs.wait_exit(pid, Duration::from_secs(45));
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if !check.contains(&i) {
            continue;
        }
        assert!(exited, "{group}: client on node {i} did not exit:\n{text}");
        let r =
            LoadResult::find(&text).unwrap_or_else(|e| panic!("{group}: node {i}: {e}:\n{text}"));
        results.push((i, r));
    }
    results
}

fn assert_one_order(group: &str, results: &[(usize, LoadResult)], expect: u64) {
    let order = results[0].1.text("order").unwrap().to_string();
    for (i, r) in results {
        assert!(r.all_ended(), "{group}: node {i}: {r:?}");
        assert_eq!(
            r.num("recv").unwrap() as u64,
            expect,
            "{group}: node {i}: {r:?}"
        );
        assert_eq!(r.num("gaps").unwrap(), 0.0, "{group}: node {i}: {r:?}");
        assert_eq!(r.num("dups").unwrap(), 0.0, "{group}: node {i}: {r:?}");
        assert_eq!(
            r.text("order").unwrap(),
            order,
            "{group}: node {i} order differs"
        );
    }
}

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
