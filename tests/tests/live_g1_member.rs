//! Our node as a full member of a corosync 1.4.10 ring: two real 1.4.10 daemons and one
//! `totem-node --generation g1`, each in its own namespace, judged by 1.4.10's own tools:
//! its log says service synchronisation completed for the ring of three,
//! `corosync-objctl runtime.totem.pg.mrp.srp.members` lists the three as joined and
//! `corosync-quorumtool -s` counts three nodes and three votes (ours included); a CPG group
//! joined on our node shows in `corosync-cpgtool`, and a 1.4.10 libcpg client's messages
//! reach our node's member and ours reach it (200 B and 64 KiB). kill -9 of our node and of
//! a 1.4.10 daemon, and their restarts, converge again (a long-lived CPG member is learnt by
//! the restarted node through the sync round's JOINLISTs), and so does a partition of our
//! node and its merge.
//! udpu and udp multicast, `compatibility: whitetank` (1.4's default) and `none`, and
//! secauth (SOBER and NSS).

use std::path::{Path, PathBuf};
use std::time::Duration;

use totem_tests::netns::{is_root, Lab};
use totem_tests::oldcs1::{self, Corosync1, G1Ring};
use totem_tests::ring::{Bins, Ring, Timers};
use totem_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_lab-totem-node");
const LOAD: &str = env!("CARGO_BIN_EXE_totem-cpgload");
/// Our node's lab index (and nodeid); 1 and 2 run 1.4.10.
const OURS: usize = 3;
const VIEW: Duration = Duration::from_secs(30);

/// Whether the live test can run here: root and the 1.4.10 build. Without the build the
/// test says so loudly and skips, except under CI where that is a failure.
fn runnable() -> bool {
    if !is_root() {
        eprintln!("skipped: live tests need root");
        return false;
    }
    if !oldcs1::available() {
        let msg = "!!! SKIPPED: ../shared/old-corosync/corosync-1.4.10-*.tar.xz is missing: no 1.4.10 live test ran !!!";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("{msg}");
        return false;
    }
    oldcs1::install().expect("corosync 1.4.10 installs from ../shared/old-corosync");
    true
}

/// The lab: nodes 1 and 2 on 1.4.10, node 3 ours, all reading one G1 configuration.
struct G1Lab {
    lab: Lab,
    ring: Ring,
    g1: G1Ring,
    root: PathBuf,
    old: Vec<Corosync1>,
}

impl G1Lab {
    fn new(tag: &str, root: &Path, udpu: bool, compat: &str, secauth: Option<bool>) -> G1Lab {
        let lab = Lab::new(tag, 3).expect("lab of three namespaces");
        let members: Vec<std::net::IpAddr> = (1..=3).map(|i| lab.node(i).ipv4.into()).collect();
        let secauth = secauth.map(|nss| {
            let key = root.join("authkey");
            let bytes: Vec<u8> = (0..128u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
                .collect();
            std::fs::write(&key, bytes).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            (key, nss)
        });
        let g1 = G1Ring {
            udpu,
            secauth,
            compatibility: compat.into(),
            members: members.clone(),
            bindnet: "192.0.2.0".parse().unwrap(),
        };
        let bins = Bins {
            node: NODE.into(),
            load: LOAD.into(),
        };
        let ours = root.join("ours");
        let ring = Ring::new(
            bins,
            &[(OURS, members[OURS - 1])],
            None,
            Timers::default(),
            &ours,
        );
        std::fs::write(
            ours.join("corosync.conf"),
            g1.conf_bound(OURS as u32, &ours.join("totem-node.log"), members[OURS - 1]),
        )
        .unwrap();
        G1Lab {
            lab,
            ring,
            g1,
            root: root.to_path_buf(),
            old: Vec::new(),
        }
    }

    fn start_old(&mut self, i: usize) -> Corosync1 {
        let dir = self.root.join(format!("n{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("corosync.conf"),
            self.g1.conf(i as u32, &dir.join("corosync.log")),
        )
        .unwrap();
        Corosync1::start(&mut self.lab, i, &dir).expect("1.4.10 starts")
    }

    /// Starts (or restarts) our node with `--generation g1`.
    fn start_ours(&mut self) {
        let (mut args, log) = self.ring.node_command(OURS);
        args.extend(["--generation".to_string(), "g1".to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let pid = self.lab.spawn(OURS, &args, &log).expect("our node starts");
        self.ring.pids.insert(OURS, pid);
    }

    fn old(&self, i: usize) -> &Corosync1 {
        self.old.iter().find(|o| o.index == i).expect("1.4.10 node")
    }

    /// Waits until every running 1.4.10 node and ours see exactly `want`, 1.4.10 counts
    /// their votes, and our node has finished its sync round.
    fn wait_view(&self, want: &[u32]) -> Result<(), String> {
        for o in &self.old {
            if want.contains(&(o.index as u32)) {
                o.wait_view(&self.lab, want, VIEW)
                    .map_err(|e| format!("{e}\n{}", self.diagnostics()))?;
            }
        }
        if want.contains(&(OURS as u32)) {
            wait::until(VIEW, Duration::from_millis(250), || {
                let (m, s) = self.ring.status(OURS)?;
                let e = exec_status(&self.ring)?;
                (m == want && s == "operational" && !e.0).then_some(())
            })
            .ok_or_else(|| {
                format!(
                    "our node: {:?}, sync in progress {:?}\n{}",
                    self.ring.status(OURS),
                    exec_status(&self.ring),
                    self.diagnostics()
                )
            })?;
        }
        Ok(())
    }

    fn diagnostics(&self) -> String {
        let mut s = String::new();
        for o in &self.old {
            let log = o.log();
            let lines: Vec<&str> = log.lines().collect();
            s += &format!(
                "--- 1.4.10 n{} ---\n{}\n",
                o.index,
                lines[lines.len().saturating_sub(25)..].join("\n")
            );
        }
        let ours =
            std::fs::read_to_string(self.ring.dir.join("totem-node.log")).unwrap_or_default();
        let lines: Vec<&str> = ours.lines().collect();
        s += &format!(
            "--- ours ---\n{}\n{}",
            lines[lines.len().saturating_sub(25)..].join("\n"),
            self.ring.log_tails(&[OURS], 25)
        );
        s
    }
}

/// Builds `tests/bench/cpgload.c` against 1.4.10's libcpg.
fn build_client(dir: &Path) -> PathBuf {
    let bin = dir.join("cpgload-1.4.10");
    totem_tests::oldcs::build_cpgload(&oldcs1::prefix(), "1.4.10", &bin);
    bin
}

fn field<'a>(line: &'a str, k: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{k}=")))
        .unwrap_or("?")
}

impl G1Lab {
    /// One CPG client per node in group `tag` — libcpg on the 1.4.10 nodes, `totem-cpgload`
    /// on ours — each sending `n` messages: every client must get all 3n, without gap or
    /// duplicate, in one order; while they run, 1.4.10's `corosync-cpgtool` must list our
    /// node's member in the group.
    fn cpg_round(&mut self, client: &Path, tag: &str, n: u32) {
        self.cpg_round_sized(client, tag, n, 200, true);
    }

    /// [`G1Lab::cpg_round`] with messages of `size` bytes; `listed`: also require
    /// 1.4.10's cpgtool to list our member while the clients run (a short round may be
    /// over before the first look).
    fn cpg_round_sized(&mut self, client: &Path, tag: &str, n: u32, size: usize, listed: bool) {
        let n_s = n.to_string();
        let size_s = size.to_string();
        let args = [
            "-g", tag, "-S", "-n", &n_s, "-s", &size_s, "-r", "200", "-m", "3", "-e", "3", "-T",
            "40",
        ];
        let mut runs = Vec::new();
        for i in [1, 2] {
            let out = self.root.join(format!("n{i}/cpg-{tag}.out"));
            let mut v = vec![client.to_str().unwrap()];
            v.extend_from_slice(&args);
            let pid = self.lab.spawn(i, &v, &out).expect("libcpg client starts");
            runs.push((pid, out));
        }
        let (pid, out) = self
            .ring
            .spawn_load(&mut self.lab, OURS, &format!("cpg-{tag}"), &args)
            .expect("totem-cpgload starts");
        runs.push((pid, out));
        let ours = self.lab.node(OURS).ipv4.to_string();
        let check = listed;
        let listed = if check {
            wait::until(Duration::from_secs(15), Duration::from_millis(200), || {
                let t = self.old(1).cpgtool(&self.lab);
                (t.contains(tag) && t.contains(&ours)).then_some(t)
            })
        } else {
            Some(String::from("(not looked at)"))
        };
        let results: Vec<String> = runs
            .iter()
            .map(|(pid, out)| {
                let exited = self.lab.wait_exit(*pid, Duration::from_secs(50));
                if !exited {
                    self.lab.signal(*pid, "KILL");
                }
                let t = std::fs::read_to_string(out).unwrap_or_default();
                t.lines()
                    .find(|l| l.starts_with("RESULT"))
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("no RESULT (exited {exited}): {t}"))
            })
            .collect();
        let listed = listed.unwrap_or_else(|| {
            panic!(
                "1.4.10 cpgtool never listed our member of {tag}: {}\n{}",
                self.old(1).cpgtool(&self.lab),
                self.diagnostics()
            )
        });
        eprintln!("1.4.10 n1 corosync-cpgtool during {tag}:\n{listed}");
        let want = (3 * n).to_string();
        for r in &results {
            assert_eq!(
                field(r, "recv"),
                want,
                "{tag}: {results:?}\n{}",
                self.diagnostics()
            );
            assert_eq!(field(r, "gaps"), "0", "{tag}: {r}");
            assert_eq!(field(r, "dups"), "0", "{tag}: {r}");
            assert_eq!(
                field(r, "order"),
                field(&results[0], "order"),
                "{tag}: {results:?}"
            );
        }
    }
}

impl Drop for G1Lab {
    fn drop(&mut self) {
        for o in std::mem::take(&mut self.old) {
            self.lab.signal(o.pid, "KILL");
        }
        if let Some(p) = self.ring.pids.remove(&OURS) {
            self.lab.signal(p, "KILL");
        }
    }
}

/// (sync in progress, quorum total votes) from our node's status.
fn exec_status(ring: &Ring) -> Option<(bool, u64)> {
    let v = ring.status_json(OURS)?;
    let e = v.get(2)?;
    Some((
        e.get("sync_in_progress")?.as_bool()?,
        e.get("quorum")?.get("total_votes")?.as_u64()?,
    ))
}

/// The nodeids our node lists as members of `group` (`totem-node status`).
fn group_nodes(ring: &Ring, group: &str) -> Option<Vec<u64>> {
    let v = ring.status_json(OURS)?;
    let g = v
        .get(1)?
        .as_array()?
        .iter()
        .find(|g| g.get("group").and_then(|n| n.as_str()) == Some(group))?;
    Some(
        g.get("members")?
            .as_array()?
            .iter()
            .filter_map(|m| m.get("nodeid")?.as_u64())
            .collect(),
    )
}

/// Formation, sync and votes with `udpu`/`compat`/`secauth`, then kill -9 and restart of
/// ours and of a 1.4.10 daemon.
fn scenario(tag: &str, udpu: bool, compat: &str, secauth: Option<bool>, faults: bool) {
    if !runnable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut l = G1Lab::new(tag, tmp.path(), udpu, compat, secauth);
    for i in [1, 2] {
        let o = l.start_old(i);
        l.old.push(o);
    }
    l.start_ours();
    let t0 = std::time::Instant::now();
    l.wait_view(&[1, 2, 3])
        .unwrap_or_else(|e| panic!("ring of three: {e}"));
    eprintln!(
        "{tag}: our node started -> 1.4.10 synced with 3 votes and ours done: {:?}",
        t0.elapsed()
    );
    for i in [1, 2] {
        let o = l.old(i);
        assert!(
            o.synced_since_last_change(),
            "1.4.10 n{i} did not complete service synchronization with us\n{}",
            l.diagnostics()
        );
        let q = o.quorum(&l.lab).unwrap();
        assert!(q.quorate, "n{i}: {q:?}");
    }
    assert_eq!(exec_status(&l.ring).map(|e| e.1), Some(3), "our votequorum");
    let client = build_client(tmp.path());
    l.cpg_round(&client, "formed", 300);
    // 64 KiB messages: totempg fragments them across many Totem packets, both ways.
    l.cpg_round_sized(&client, "large", 20, 65536, false);
    let o = l.old(1);
    eprintln!(
        "1.4.10 n1 quorumtool -s:\n{}\nobjctl members:\n{}",
        o.tool(&l.lab, "corosync-quorumtool", &["-s"])
            .unwrap_or_default(),
        o.tool(
            &l.lab,
            "corosync-objctl",
            &["runtime.totem.pg.mrp.srp.members"]
        )
        .unwrap_or_default()
    );
    if !faults {
        return;
    }
    // A member of group "persist" on 1.4.10 n1 lives through what follows.
    let persist = ["-g", "persist", "-e", "0", "-T", "90"];
    let mut v = vec![client.to_str().unwrap()];
    v.extend_from_slice(&persist);
    let n1_member = l
        .lab
        .spawn(1, &v, &tmp.path().join("n1/persist.out"))
        .expect("libcpg member on n1");
    // kill -9 of our node: the 1.4.10 pair goes on as two (2 votes of 3: still quorate).
    l.ring.kill9(&mut l.lab, OURS);
    l.wait_view(&[1, 2])
        .unwrap_or_else(|e| panic!("ours killed: {e}"));
    let before = l.old(1).syncs_completed();
    l.start_ours();
    let t0 = std::time::Instant::now();
    l.wait_view(&[1, 2, 3])
        .unwrap_or_else(|e| panic!("ours restarted: {e}"));
    eprintln!("{tag}: our node restarted -> converged: {:?}", t0.elapsed());
    assert!(l.old(1).syncs_completed() > before, "{}", l.diagnostics());
    // The restarted node learnt n1's member from 1.4.10's JOINLIST in the sync round.
    let seen = wait::until(Duration::from_secs(10), Duration::from_millis(200), || {
        group_nodes(&l.ring, "persist")
            .filter(|n| n.contains(&1))
            .map(|_| ())
    });
    assert!(
        seen.is_some(),
        "our node does not list n1's member of persist: {:?}",
        group_nodes(&l.ring, "persist")
    );
    let (ours_member, _) = l
        .ring
        .spawn_load(&mut l.lab, OURS, "persist", &persist)
        .expect("our member of persist");
    // kill -9 of a 1.4.10 daemon, and its restart.
    let pid = l.old(2).pid;
    l.lab.signal(pid, "KILL");
    l.lab.wait_exit(pid, Duration::from_secs(5));
    l.old.retain(|o| o.index != 2);
    l.wait_view(&[1, 3])
        .unwrap_or_else(|e| panic!("1.4.10 n2 killed: {e}"));
    let o = l.start_old(2);
    l.old.push(o);
    l.wait_view(&[1, 2, 3])
        .unwrap_or_else(|e| panic!("1.4.10 n2 restarted: {e}"));
    // The restarted 1.4.10 daemon learnt our member (and n1's) from the sync round's
    // JOINLISTs.
    let ours_ip = l.lab.node(OURS).ipv4.to_string();
    let n1_ip = l.lab.node(1).ipv4.to_string();
    let listed = wait::until(Duration::from_secs(10), Duration::from_millis(200), || {
        let t = l.old(2).cpgtool(&l.lab);
        let sec = t.split("persist").nth(1)?.to_string();
        (sec.contains(&ours_ip) && sec.contains(&n1_ip)).then_some(())
    });
    assert!(
        listed.is_some(),
        "restarted n2's cpgtool: {}",
        l.old(2).cpgtool(&l.lab)
    );
    l.lab.signal(n1_member, "KILL");
    l.lab.signal(ours_member, "KILL");
    l.cpg_round(&client, "healed", 300);
}

#[test]
fn g1_udpu_whitetank_member() {
    scenario("g1u", true, "whitetank", None, true);
}

#[test]
fn g1_udp_multicast_whitetank_member() {
    scenario("g1m", false, "whitetank", None, true);
}

#[test]
fn g1_udpu_compat_none_member() {
    scenario("g1n", true, "none", None, true);
}

#[test]
fn g1_udpu_secauth_sober_member() {
    scenario("g1s", true, "whitetank", Some(false), true);
}

#[test]
fn g1_udpu_secauth_nss_member() {
    scenario("g1x", true, "whitetank", Some(true), true);
}

/// A partition of our node and its merge (udpu, whitetank): the 1.4.10 pair goes on as two,
/// our node alone counts only its own vote; after the merge the three sync again, 1.4.10
/// counts three votes, and CPG crosses both ways.
#[test]
fn g1_udpu_partition_and_merge() {
    if !runnable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut l = G1Lab::new("g1p", tmp.path(), true, "whitetank", None);
    for i in [1, 2] {
        let o = l.start_old(i);
        l.old.push(o);
    }
    l.start_ours();
    l.wait_view(&[1, 2, 3])
        .unwrap_or_else(|e| panic!("ring of three: {e}"));
    l.lab.set_link(OURS, false).unwrap();
    l.wait_view(&[1, 2])
        .unwrap_or_else(|e| panic!("partitioned: {e}"));
    let alone = wait::until(VIEW, Duration::from_millis(250), || {
        let (m, _) = l.ring.status(OURS)?;
        let e = exec_status(&l.ring)?;
        (m == [3] && !e.0).then_some(e.1)
    });
    assert_eq!(alone, Some(1), "our node alone counts its own vote only");
    l.lab.set_link(OURS, true).unwrap();
    let t0 = std::time::Instant::now();
    l.wait_view(&[1, 2, 3])
        .unwrap_or_else(|e| panic!("merged: {e}"));
    eprintln!("g1p: link up -> merged and synced: {:?}", t0.elapsed());
    assert_eq!(exec_status(&l.ring).map(|e| e.1), Some(3));
    let client = build_client(tmp.path());
    l.cpg_round(&client, "merged", 200);
}
