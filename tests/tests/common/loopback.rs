//! Helpers of the loopback ring tests (`live_ring_loopback`, `live_secure_ring_loopback`):
//! child processes reaped on drop, one load phase of `totem-cpgload` clients, and the check
//! that every node delivered the same messages in the same order.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use totem_tests::load::LoadResult;
use totem_tests::ring::Ring;
use totem_tests::wait;

/// Child processes killed (and reaped) on drop.
#[derive(Default)]
pub struct Procs(Vec<(usize, Child)>);

impl Procs {
    pub fn spawn(&mut self, tag: usize, argv: &[String], out: &Path) -> u32 {
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
    pub fn kill9(&mut self, pid: u32) {
        if let Some(p) = self.0.iter().position(|(_, c)| c.id() == pid) {
            let (_, mut c) = self.0.remove(p);
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    pub fn wait_exit(&mut self, pid: u32, timeout: Duration) -> bool {
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
pub fn phase(
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

/// A load phase across joined rings (the multiple-ring tests): receivers join `group` on
/// every `(ring, node)` of `receivers` first; once `ready` holds (the gateways forward
/// the group), each of `senders` sends `count` messages at 200/s once its ring's three
/// receivers and itself are in the group. Every client gives up after `deadline_s`;
/// returns the receivers' results.
#[allow(clippy::too_many_arguments)]
pub fn bridged_phase(
    procs: &mut Procs,
    rings: &[&Ring; 2],
    group: &str,
    receivers: &[(usize, usize)],
    senders: &[(usize, usize)],
    count: u64,
    deadline_s: u64,
    ready: impl FnOnce(),
) -> Vec<(usize, LoadResult)> {
    let e = senders.len().to_string();
    let n = count.to_string();
    let t = deadline_s.to_string();
    let wait = Duration::from_secs(deadline_s + 10);
    let mut rx = Vec::new();
    for &(r, i) in receivers {
        let args = ["-g", group, "-e", &e, "-T", &t, "-s", "700"];
        let (argv, out) = rings[r].load_command(i, &format!("{group}-rx-n{i}"), &args);
        rx.push((i, procs.spawn(100 + i, &argv, &out), out));
    }
    ready();
    let mut tx = Vec::new();
    for &(r, i) in senders {
        let args = [
            "-g", group, "-m", "4", "-e", "1", "-S", "-n", &n, "-r", "200", "-T", &t, "-s", "700",
        ];
        let (argv, out) = rings[r].load_command(i, &format!("{group}-tx-n{i}"), &args);
        tx.push((i, procs.spawn(200 + i, &argv, &out), out));
    }
    for (i, pid, out) in tx {
        let exited = procs.wait_exit(pid, wait);
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        assert!(exited, "{group}: sender on node {i} did not exit:\n{text}");
    }
    let mut results = Vec::new();
    for (i, pid, out) in rx {
        let exited = procs.wait_exit(pid, wait);
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        assert!(
            exited,
            "{group}: receiver on node {i} did not exit:\n{text}"
        );
        let r =
            LoadResult::find(&text).unwrap_or_else(|e| panic!("{group}: node {i}: {e}:\n{text}"));
        results.push((i, r));
    }
    results
}
