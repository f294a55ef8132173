//! A corosync 2.4.6 cluster moved to corosync 3.1.7 node by node behind `totem-gateway`, as
//! the live upgrade tests and the gateway benchmark drive it: each daemon judged by its own
//! tools, libcpg load clients built against each daemon's libcpg.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::corosync::Corosync;
use crate::netns::Lab;
use crate::oldcs::{self, OldCorosync};
use crate::wait;

pub const T: Duration = Duration::from_secs(30);

pub enum Daemon {
    Old(OldCorosync),
    New {
        cs: Corosync,
        gateway: u32,
    },
    /// corosync 3 on the final configuration (`plan --final`), no gateway.
    Direct(Corosync),
}

pub struct Cluster {
    pub lab: Lab,
    pub root: PathBuf,
    pub nodes: Vec<Daemon>,
    /// The gateway binary (lab-totem-gateway).
    pub gateway_bin: PathBuf,
    /// Plan the upgraded daemons on udpu (`plan --udpu`) instead of knet.
    pub local_udpu: bool,
}

impl Cluster {
    /// A lab of `n` namespaces (`prefix`) running corosync 2.4.6 on udpu, each node's files
    /// under `root/n<i>`, with `crypto` (cipher, hash, authkey) on the ring if given; returns
    /// once every node lists all `n` and is quorate.
    pub fn start_old(
        prefix: &str,
        n: usize,
        root: &Path,
        gateway_bin: PathBuf,
        crypto: Option<(&str, &str, &Path)>,
    ) -> Result<Cluster, String> {
        Self::start_old_with(prefix, n, root, gateway_bin, crypto, None)
    }

    /// As [`start_old`](Self::start_old), on two rings (RRP `rrp_mode`): ring 0 on the
    /// lab's first network, ring 1 on its second (198.51.100.0/24).
    pub fn start_old_rrp(
        prefix: &str,
        n: usize,
        root: &Path,
        gateway_bin: PathBuf,
        rrp_mode: &str,
    ) -> Result<Cluster, String> {
        Self::start_old_with(prefix, n, root, gateway_bin, None, Some(rrp_mode))
    }

    fn start_old_with(
        prefix: &str,
        n: usize,
        root: &Path,
        gateway_bin: PathBuf,
        crypto: Option<(&str, &str, &Path)>,
        rrp_mode: Option<&str>,
    ) -> Result<Cluster, String> {
        let mut lab = Lab::new(prefix, n).map_err(|e| e.to_string())?;
        if rrp_mode.is_some() {
            lab.add_second_link().map_err(|e| e.to_string())?;
        }
        let nodes: Vec<(u32, String)> = (1..=n)
            .map(|k| (k as u32, lab.node(k).ipv4.to_string()))
            .collect();
        let mut daemons = Vec::new();
        for i in 1..=n {
            let dir = root.join(format!("n{i}"));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let mut conf = oldcs::conf_crypto(&nodes, "192.0.2.0", &dir, crypto);
            if let Some(mode) = rrp_mode {
                conf = rrp_conf(&conf, mode, &lab, n);
            }
            if i == 1 {
                // The cluster's 2.x configuration as the operator keeps it for `plan`.
                std::fs::write(root.join("cluster-2.x.conf"), &conf).map_err(|e| e.to_string())?;
            }
            std::fs::write(dir.join("corosync.conf"), conf).map_err(|e| e.to_string())?;
            let o = OldCorosync::start(&mut lab, i, &dir).map_err(|e| e.to_string())?;
            daemons.push(Daemon::Old(o));
        }
        let c = Cluster {
            lab,
            root: root.to_path_buf(),
            nodes: daemons,
            gateway_bin,
            local_udpu: false,
        };
        let all: Vec<usize> = (1..=n).collect();
        let want: Vec<u32> = (1..=n as u32).collect();
        c.wait_view(&all, &want)?;
        Ok(c)
    }

    pub fn members(&self, i: usize) -> Vec<u32> {
        match &self.nodes[i - 1] {
            Daemon::Old(o) => o.members(&self.lab),
            Daemon::New { cs, .. } | Daemon::Direct(cs) => cs.members(&self.lab),
        }
    }
    pub fn quorate(&self, i: usize) -> bool {
        match &self.nodes[i - 1] {
            Daemon::Old(o) => o.quorate(&self.lab),
            Daemon::New { cs, .. } | Daemon::Direct(cs) => {
                oldcs::quorate(&cs.tool(&self.lab, &["corosync-quorumtool", "-s"]))
            }
        }
    }
    /// Waits until every node in `who` lists exactly `want` and is quorate.
    pub fn wait_view(&self, who: &[usize], want: &[u32]) -> Result<(), String> {
        wait::until(T, Duration::from_millis(250), || {
            who.iter()
                .all(|i| self.members(*i) == want && self.quorate(*i))
                .then_some(())
        })
        .ok_or_else(|| {
            let seen: Vec<String> = who
                .iter()
                .map(|i| {
                    format!(
                        "node {i}: {:?} quorate={}",
                        self.members(*i),
                        self.quorate(*i)
                    )
                })
                .collect();
            let logs: Vec<String> = self
                .nodes
                .iter()
                .filter_map(|d| match d {
                    Daemon::New { cs, .. } => Some(format!(
                        "corosync 3.1.7 on node {}:\n{}\nstdout: {}\ngateway: {}",
                        cs.index,
                        cs.log_tail(15),
                        std::fs::read_to_string(cs.dir.join("stdout.log")).unwrap_or_default(),
                        last_gateway_log(&cs.dir)
                    )),
                    Daemon::Direct(cs) => Some(format!(
                        "corosync 3.1.7 (final configuration) on node {}:\n{}",
                        cs.index,
                        cs.log_tail(15)
                    )),
                    Daemon::Old(_) => None,
                })
                .collect();
            format!(
                "wanted {want:?} on {who:?}; {}\n{}",
                seen.join("; "),
                logs.join("\n")
            )
        })
    }
    pub fn start_gateway(&mut self, i: usize) -> u32 {
        let dir = self.root.join(format!("n{i}"));
        let gw_bin = self.gateway_bin.display().to_string();
        let log = dir.join(format!(
            "gateway-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        ));
        self.lab
            .spawn(
                i,
                &[
                    gw_bin.as_str(),
                    "run",
                    "-c",
                    &dir.join("gateway.conf").display().to_string(),
                ],
                &log,
            )
            .expect("gateway starts")
    }
    /// Stops 2.4.6 on node i and starts 3.1.7 behind a gateway there.
    pub fn upgrade(&mut self, i: usize) {
        let Daemon::Old(o) = &self.nodes[i - 1] else {
            panic!("node {i} already upgraded")
        };
        let pid = o.pid;
        self.lab.signal(pid, "TERM");
        assert!(
            self.lab.wait_exit(pid, Duration::from_secs(15)),
            "2.4.6 on node {i} did not stop"
        );
        let dir = self.root.join(format!("n{i}"));
        std::fs::create_dir_all(dir.join("run")).unwrap();
        // The operator's commands: plan, prepare.sh, then the gateway and corosync 3 with
        // the planned files (the log goes to the test's folder instead of /var/log).
        let out = self.plan(i, &dir, self.local_udpu.then_some("--udpu"));
        assert!(out.contains(&format!("Upgrade step for node {i}")), "{out}");
        let prep = dir.join("prepare.sh").display().to_string();
        self.lab.exec(i, &["sh", &prep]).expect("prepare.sh");
        log_here(&dir);
        let gateway = self.start_gateway(i);
        let cs = Corosync::start(&mut self.lab, i, &dir).expect("corosync 3.1.7 starts");
        self.nodes[i - 1] = Daemon::New { cs, gateway };
    }
}

impl Cluster {
    /// The operator's `totem-gateway plan` for node i into `dir` (with `extra`: `--udpu`,
    /// `--final`); its standard output.
    fn plan(&self, i: usize, dir: &Path, extra: Option<&str>) -> String {
        let plan = Command::new(&self.gateway_bin)
            .arg("plan")
            .args(extra)
            .arg("--cluster-conf")
            .arg(self.root.join("cluster-2.x.conf"))
            .args(["--node", &i.to_string(), "--out"])
            .arg(dir)
            .output()
            .expect("plan runs");
        assert!(
            plan.status.success(),
            "plan {extra:?}: {}",
            String::from_utf8_lossy(&plan.stderr)
        );
        String::from_utf8_lossy(&plan.stdout).to_string()
    }
}

/// The planned corosync.conf of `dir` logging into `dir` instead of /var/log.
fn log_here(dir: &Path) {
    let conf = std::fs::read_to_string(dir.join("corosync.conf")).unwrap();
    let conf = conf.replace(
        "/var/log/corosync/corosync.log",
        &dir.join("corosync.log").display().to_string(),
    );
    std::fs::write(dir.join("corosync.conf"), conf).unwrap();
}

/// A one-ring 2.4.6 udpu config made redundant: `rrp_mode`, the ring 1 interface and every
/// node's ring1_addr on the lab's second network.
fn rrp_conf(conf: &str, mode: &str, lab: &Lab, n: usize) -> String {
    let mut c = conf
        .replace(
            "transport: udpu\n",
            &format!("transport: udpu\n    rrp_mode: {mode}\n"),
        )
        .replace(
            "        mcastport: 5405\n    }\n}\n",
            "        mcastport: 5405\n    }\n    interface {\n        ringnumber: 1\n        bindnetaddr: 198.51.100.0\n        mcastport: 5405\n    }\n}\n",
        );
    for k in 1..=n {
        let a = lab.node(k).ipv4.to_string();
        c = c.replace(
            &format!("ring0_addr: {a}\n"),
            &format!(
                "ring0_addr: {a}\n        ring1_addr: {}\n",
                lab.node(k).ipv4_1
            ),
        );
    }
    assert!(
        c.contains("rrp_mode")
            && c.contains("ringnumber: 1")
            && c.matches("ring1_addr").count() == n,
        "RRP config: {c}"
    );
    c
}

/// The ring id a daemon's `corosync-quorumtool -s` shows ("Ring ID:" line, as printed).
pub fn ring_id(c: &Cluster, i: usize) -> Option<String> {
    let out = match &c.nodes[i - 1] {
        Daemon::Old(o) => o.tool(&c.lab, "corosync-quorumtool", &["-s"]),
        Daemon::New { cs, .. } | Daemon::Direct(cs) => {
            cs.tool(&c.lab, &["corosync-quorumtool", "-s"])
        }
    }?;
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Ring ID:"))
        .map(|r| r.trim().to_string())
}

/// A 2.x node's `corosync-cfgtool -s`: the status of each ring.
pub fn rrp_status(c: &Cluster, i: usize) -> String {
    // Its exit status is 1 while a ring is faulty: take the output either way.
    match &c.nodes[i - 1] {
        Daemon::Old(_) => Command::new("ip")
            .args(["netns", "exec", &c.lab.node(i).netns])
            .arg(format!("{}/sbin/corosync-cfgtool", oldcs::PREFIX))
            .arg("-s")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default(),
        Daemon::New { .. } | Daemon::Direct(_) => String::new(),
    }
}

impl Cluster {
    /// The final rolling restart on node i: stop its gateway and corosync 3, start corosync
    /// 3 on `plan --final`'s configuration (knet on the real addresses, no gateway).
    pub fn finalize(&mut self, i: usize) {
        let Daemon::New { cs, gateway } = &self.nodes[i - 1] else {
            panic!("node {i} is not behind a gateway")
        };
        let (pid, gateway) = (cs.pid, *gateway);
        self.lab.signal(pid, "TERM");
        assert!(
            self.lab.wait_exit(pid, Duration::from_secs(15)),
            "corosync 3 on node {i} did not stop"
        );
        self.lab.signal(gateway, "TERM");
        assert!(
            self.lab.wait_exit(gateway, Duration::from_secs(15)),
            "the gateway on node {i} did not stop"
        );
        let dir = self.root.join(format!("n{i}/final"));
        std::fs::create_dir_all(dir.join("run")).unwrap();
        self.plan(i, &dir, Some("--final"));
        let conf = std::fs::read_to_string(dir.join("corosync.conf")).unwrap();
        assert!(conf.contains("transport: knet"), "{conf}");
        log_here(&dir);
        let cs = Corosync::start(&mut self.lab, i, &dir).expect("corosync 3.1.7 restarts");
        self.nodes[i - 1] = Daemon::Direct(cs);
    }
}

/// Polls `corosync-quorumtool -s` of every node but `skip` in the background (each with its
/// own daemon's tool), recording every answer that says not quorate.
pub struct QuorumWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<(u32, Vec<String>)>,
}

impl QuorumWatch {
    pub fn start(c: &Cluster, skip: usize) -> QuorumWatch {
        let targets: Vec<(usize, String, String)> = (1..=c.nodes.len())
            .filter(|i| *i != skip)
            .map(|i| {
                let tool = match c.nodes[i - 1] {
                    Daemon::Old(_) => format!("{}/sbin/corosync-quorumtool", oldcs::PREFIX),
                    _ => "corosync-quorumtool".to_string(),
                };
                (i, c.lab.node(i).netns.clone(), tool)
            })
            .collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut polls = 0u32;
            let mut lost = Vec::new();
            // Bounded: 10 minutes at most, whatever the caller does.
            let end = std::time::Instant::now() + Duration::from_secs(600);
            while !flag.load(std::sync::atomic::Ordering::Relaxed)
                && std::time::Instant::now() < end
            {
                for (i, ns, tool) in &targets {
                    let out = Command::new("ip")
                        .args(["netns", "exec", ns, tool, "-s"])
                        .output()
                        .ok()
                        .map(|o| String::from_utf8_lossy(&o.stdout).to_string());
                    // A tool that cannot reach its daemon for a moment says nothing either
                    // way; only an answer of "Quorate: No" is a loss.
                    if let Some(o) = &out {
                        if o.contains("Quorate:") && !oldcs::quorate(&out) {
                            lost.push(format!("node {i}: {}", o.trim()));
                        }
                    }
                }
                polls += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            (polls, lost)
        });
        QuorumWatch { stop, handle }
    }

    /// Stops polling: the number of rounds and the non-quorate answers.
    pub fn finish(self) -> (u32, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle
            .join()
            .unwrap_or((0, vec!["watcher panicked".into()]))
    }
}

fn last_gateway_log(dir: &Path) -> String {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    logs.retain(|p| {
        p.file_name()
            .is_some_and(|f| f.to_string_lossy().starts_with("gateway-"))
    });
    logs.sort();
    logs.last()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.lines().rev().take(8).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

/// Builds the libcpg load client against 2.4.6 and against 3.1.7.
pub fn build_clients(dir: &Path) -> (PathBuf, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/cpgload.c");
    let old = dir.join("cpgload-2.4.6");
    let new = dir.join("cpgload-3.1.7");
    oldcs::build_cpgload(Path::new(oldcs::PREFIX), "2.4.6", &old);
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "libcpg"])
        .output()
        .unwrap();
    let flags = String::from_utf8_lossy(&flags.stdout).to_string();
    let ok = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&new)
        .arg(&src)
        .args(flags.split_whitespace())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "building the 3.1.7 libcpg client");
    (old, new)
}

/// One libcpg client per node (each built for its daemon), 1000 messages each at 400/s;
/// returns their RESULT lines.
pub fn cpg_round(c: &mut Cluster, clients: &(PathBuf, PathBuf), tag: &str) -> Vec<String> {
    let mut pids = Vec::new();
    let mut outs = Vec::new();
    let n = c.nodes.len();
    let peers = n.to_string();
    for i in 1..=n {
        let bin = client_for(c, clients, i);
        let out = c.root.join(format!("n{i}/cpg-{tag}.out"));
        let pid = c
            .lab
            .spawn(
                i,
                &[
                    &bin.display().to_string(),
                    "-g",
                    tag,
                    "-S",
                    "-n",
                    "1000",
                    "-s",
                    "200",
                    "-r",
                    "400",
                    "-m",
                    &peers,
                    "-e",
                    &peers,
                    "-T",
                    "40",
                ],
                &out,
            )
            .unwrap();
        pids.push(pid);
        outs.push(out);
    }
    for pid in pids {
        assert!(
            c.lab.wait_exit(pid, Duration::from_secs(50)),
            "cpg client did not finish"
        );
    }
    result_lines(&outs)
}

/// libcpg clients sending in the background while the cluster changes under them.
pub struct Load {
    pids: Vec<u32>,
    outs: Vec<PathBuf>,
}

/// Starts one client on every node but `skip` (the node about to change; 0: none), each built for
/// its daemon and sending 200-byte messages at `rate`/s for `secs` seconds in group `tag`.
pub fn start_load(
    c: &mut Cluster,
    clients: &(PathBuf, PathBuf),
    skip: usize,
    tag: &str,
    secs: u32,
    rate: u32,
) -> Load {
    let n = c.nodes.len();
    let members = (1..=n).filter(|i| *i != skip).count().to_string();
    let mut load = Load {
        pids: Vec::new(),
        outs: Vec::new(),
    };
    for i in (1..=n).filter(|i| *i != skip) {
        let bin = client_for(c, clients, i);
        let out = c.root.join(format!("n{i}/load-{tag}.out"));
        let pid = c
            .lab
            .spawn(
                i,
                &[
                    &bin.display().to_string(),
                    "-g",
                    tag,
                    "-S",
                    "-t",
                    &secs.to_string(),
                    "-s",
                    "200",
                    "-r",
                    &rate.to_string(),
                    "-m",
                    &members,
                    "-e",
                    &members,
                    "-T",
                    &(secs + 60).to_string(),
                ],
                &out,
            )
            .unwrap();
        load.pids.push(pid);
        load.outs.push(out);
    }
    load
}

/// Waits for the clients of `load` to finish; their RESULT lines.
pub fn finish_load(c: &mut Cluster, load: Load) -> Vec<String> {
    for pid in &load.pids {
        assert!(
            c.lab.wait_exit(*pid, Duration::from_secs(120)),
            "background cpg client did not finish"
        );
    }
    result_lines(&load.outs)
}

/// Every client of a background load delivered every message every client sent, once, in
/// one order, and sent a fair number (`min_each`) of them.
pub fn check_load(results: &[String], min_each: u64, what: &str) {
    let sent: u64 = results
        .iter()
        .map(|r| field(r, "sent").parse::<u64>().unwrap_or(0))
        .sum();
    for r in results {
        let mine: u64 = field(r, "sent").parse().unwrap_or(0);
        assert!(mine >= min_each, "{what}: a client sent only {mine}: {r}");
        assert_eq!(field(r, "recv"), sent.to_string(), "{what}: {results:?}");
        assert_eq!(field(r, "gaps"), "0", "{what}: {r}");
        assert_eq!(field(r, "dups"), "0", "{what}: {r}");
        assert!(!r.contains("timeout=1"), "{what}: {r}");
        assert_eq!(
            field(r, "order"),
            field(&results[0], "order"),
            "{what}: one order: {results:?}"
        );
    }
}

/// On an upgraded node: `corosync-cfgtool -s` shows knet with `links` links, each connected
/// to every other node (their knet hosts in a gateway, or their own daemons).
pub fn check_knet_links(c: &Cluster, i: usize, links: usize) {
    let (Daemon::New { cs, .. } | Daemon::Direct(cs)) = &c.nodes[i - 1] else {
        panic!("node {i} runs 2.x")
    };
    let out = cs
        .tool(&c.lab, &["corosync-cfgtool", "-s"])
        .unwrap_or_default();
    assert!(out.contains("transport knet"), "node {i}: {out}");
    assert_eq!(out.matches("LINK ID").count(), links, "node {i}: {out}");
    let connected = out
        .lines()
        .filter(|l| l.split_whitespace().last() == Some("connected"))
        .count();
    assert_eq!(connected, links * (c.nodes.len() - 1), "node {i}: {out}");
}

/// The libcpg client built for node i's daemon.
pub fn client_for<'a>(c: &Cluster, clients: &'a (PathBuf, PathBuf), i: usize) -> &'a PathBuf {
    match c.nodes[i - 1] {
        Daemon::Old(_) => &clients.0,
        Daemon::New { .. } | Daemon::Direct(_) => &clients.1,
    }
}

/// Each client's RESULT line (or what it printed instead).
fn result_lines(outs: &[PathBuf]) -> Vec<String> {
    outs.iter()
        .map(|o| {
            let t = std::fs::read_to_string(o).unwrap_or_default();
            t.lines()
                .find(|l| l.starts_with("RESULT"))
                .map(str::to_string)
                .unwrap_or_else(|| format!("no RESULT: {t}"))
        })
        .collect()
}

pub fn field<'a>(line: &'a str, k: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{k}=")))
        .unwrap_or("?")
}

pub fn check_cpg(results: &[String], what: &str) {
    for r in results {
        let want = (1000 * results.len()).to_string();
        assert_eq!(field(r, "recv"), want, "{what}: {r}");
        assert_eq!(field(r, "gaps"), "0", "{what}: {r}");
        assert_eq!(field(r, "dups"), "0", "{what}: {r}");
        assert_eq!(
            field(r, "order"),
            field(&results[0], "order"),
            "{what}: one order: {results:?}"
        );
    }
}
