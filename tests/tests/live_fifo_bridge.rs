//! A CPG group bridged between two rings of real corosync 3.1.7 daemons (Debian's), seen
//! by libcpg clients on both: ring A is nodes 1 and 2 on 192.0.2.0/24, ring B nodes 3 and 4
//! on 198.51.100.0/24, and node 5 runs `totem-gateway bridge` in `mode: fifo`, a member of
//! both rings (our node) and of the group on both.
//!
//! Checked by the daemons' own tools and the clients: each ring's membership has the
//! gateway; `corosync-cpgtool` on a ring-B daemon lists the group with the gateway's
//! processes (the proxies of ring A's members); every client receives every message of
//! both senders, each sender's without gap or duplicate and in its order; the clients of
//! one ring agree on one order. Needs root (namespaces) and Debian's corosync and libcpg.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use totem_tests::corosync::{write_conf, Corosync, Transport};
use totem_tests::load::LoadResult;
use totem_tests::netns::{is_root, Lab};
use totem_tests::wait;

const METRICS: &str = "127.0.0.1:9518";

/// A corosync.conf of `members`, on the lab's second network when `second`.
fn conf(lab: &Lab, members: &[usize], me: usize, second: bool, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = write_conf(lab, members, me, Transport::Udpu, false, dir);
    if second {
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("192.0.2.", "198.51.100.");
        std::fs::write(&p, text).unwrap();
    }
    p
}

fn build_client(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/cpgload.c");
    let bin = dir.join("cpgload-3.1.7");
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "libcpg"])
        .output()
        .expect("pkg-config");
    let flags = String::from_utf8_lossy(&flags.stdout).to_string();
    let ok = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .args(flags.split_whitespace())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "building the libcpg client (gcc, libcpg-dev)");
    bin
}

fn metrics(lab: &Lab) -> String {
    lab.exec(
        5,
        &[
            env!("CARGO_BIN_EXE_lab-totem-gateway"),
            "status",
            "--raw",
            "--metrics",
            METRICS,
        ],
    )
    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    .unwrap_or_default()
}

#[test]
fn a_group_bridged_between_two_corosync_rings() {
    if !is_root() {
        eprintln!("skipped: needs root for network namespaces");
        return;
    }
    let mut lab = Lab::new("fb", 5).expect("lab");
    lab.add_second_link().expect("second network");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let client = build_client(root);
    let mut daemons = Vec::new();
    for (i, members, second) in [
        (1usize, [1usize, 2, 5], false),
        (2, [1, 2, 5], false),
        (3, [3, 4, 5], true),
        (4, [3, 4, 5], true),
    ] {
        let dir = root.join(format!("n{i}"));
        conf(&lab, &members, i, second, &dir);
        daemons.push(Corosync::start(&mut lab, i, &dir).expect("corosync starts"));
    }
    let ga = conf(&lab, &[1, 2, 5], 5, false, &root.join("gw-a"));
    let gb = conf(&lab, &[3, 4, 5], 5, true, &root.join("gw-b"));
    let bridge = root.join("bridge.conf");
    std::fs::write(
        &bridge,
        format!(
            "bridge {{\n    mode: fifo\n    ring: {}\n    ring: {}\n    groups: fb\n    nodeid: 5\n    metrics: {METRICS}\n}}\n",
            ga.display(),
            gb.display()
        ),
    )
    .unwrap();
    let gw_log = root.join("gateway.log");
    let gw_bin = env!("CARGO_BIN_EXE_lab-totem-gateway");
    lab.spawn(
        5,
        &[gw_bin, "bridge", "-c", &bridge.display().to_string()],
        &gw_log,
    )
    .expect("gateway starts");
    let gw_tail = || std::fs::read_to_string(&gw_log).unwrap_or_default();
    for (d, want) in daemons
        .iter()
        .zip([[1, 2, 5], [1, 2, 5], [3, 4, 5], [3, 4, 5]])
    {
        d.wait_members(&lab, &want, Duration::from_secs(40))
            .unwrap_or_else(|e| panic!("{e}\ngateway:\n{}", gw_tail()));
    }

    // Receivers on all four daemons, then the mirror is complete, then one sender a ring.
    let c = client.display().to_string();
    let mut rx = Vec::new();
    for i in 1..=4 {
        let out = root.join(format!("rx{i}.out"));
        let pid = lab
            .spawn(
                i,
                &[&c, "-g", "fb", "-e", "2", "-T", "60", "-s", "300"],
                &out,
            )
            .unwrap();
        rx.push((i, pid, out));
    }
    let mirrored = wait::until(Duration::from_secs(30), Duration::from_millis(250), || {
        let m = metrics(&lab);
        (0..2)
            .all(|r| {
                m.contains(&format!(
                    "totem_mrp_fifo_members{{ring=\"{r}\",group=\"fb\"}} 2"
                )) && m.contains(&format!(
                    "totem_mrp_fifo_proxies{{ring=\"{r}\",group=\"fb\"}} 2"
                ))
            })
            .then_some(())
    });
    assert!(
        mirrored.is_some(),
        "group not mirrored:\n{}\ngateway:\n{}",
        metrics(&lab),
        gw_tail()
    );
    let cpgtool = daemons[2]
        .tool(&lab, &["corosync-cpgtool", "-e"])
        .unwrap_or_default();
    assert!(cpgtool.contains("fb"), "{cpgtool}");
    let gw_procs = cpgtool
        .lines()
        .filter(|l| l.contains("198.51.100.15"))
        .count();
    assert!(
        gw_procs >= 3,
        "ring B's daemon lists the listener and two proxies on the gateway node:\n{cpgtool}"
    );
    let mut tx = Vec::new();
    for i in [1, 3] {
        let out = root.join(format!("tx{i}.out"));
        let pid = lab
            .spawn(
                i,
                &[
                    &c, "-g", "fb", "-S", "-n", "300", "-r", "300", "-s", "300", "-e", "1", "-T",
                    "60",
                ],
                &out,
            )
            .unwrap();
        tx.push((i, pid, out));
    }
    for (i, pid, out) in tx {
        let done = lab.wait_exit(pid, Duration::from_secs(70));
        assert!(
            done,
            "sender on node {i} did not exit:\n{}",
            std::fs::read_to_string(&out).unwrap_or_default()
        );
    }
    let mut results = Vec::new();
    for (i, pid, out) in rx {
        let done = lab.wait_exit(pid, Duration::from_secs(70));
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        assert!(done, "receiver on node {i} did not exit:\n{text}");
        let r = LoadResult::find(&text).unwrap_or_else(|e| panic!("node {i}: {e}:\n{text}"));
        assert!(
            r.all_ended(),
            "node {i} missed an end message: {r:?}\ngateway:\n{}",
            gw_tail()
        );
        assert_eq!(r.num("recv").unwrap(), 600.0, "node {i}: {r:?}");
        assert_eq!(r.num("gaps").unwrap(), 0.0, "node {i}: {r:?}");
        assert_eq!(r.num("dups").unwrap(), 0.0, "node {i}: {r:?}");
        results.push((i, r));
    }
    // One ring, one order (the ring's total order); across rings only each sender's.
    for pair in [(0, 1), (2, 3)] {
        assert_eq!(
            results[pair.0].1.text("order").unwrap(),
            results[pair.1].1.text("order").unwrap(),
            "nodes {} and {} are in one ring",
            results[pair.0].0,
            results[pair.1].0
        );
    }
    // The gateway counted each sender's 300 messages and its end message (the page is
    // refreshed every 250 ms).
    let counted = wait::until(Duration::from_secs(5), Duration::from_millis(100), || {
        let m = metrics(&lab);
        (m.contains("totem_mrp_fifo_forwarded_total{ring=\"0\"} 301")
            && m.contains("totem_mrp_fifo_forwarded_total{ring=\"1\"} 301"))
        .then_some(())
    });
    assert!(counted.is_some(), "{}", metrics(&lab));
}
