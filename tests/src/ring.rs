//! Our own `totem-node`s in lab namespaces (G3 udpu), with load clients and status queries.
//!
//! Binaries: integration tests pass `env!("CARGO_BIN_EXE_lab-totem-node")` and
//! `env!("CARGO_BIN_EXE_totem-cpgload")` (cargo builds both, fresh, for `cargo test -p
//! totem-tests`: `lab-totem-node` is totem's `totem-node` source compiled as a bin of this
//! crate); other programs (totem-bench) use [`Bins::beside_current_exe`].

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::load::LoadResult;
use crate::netns::{Lab, LabError};
use crate::wait;

/// Where the node and load client binaries are.
#[derive(Debug, Clone)]
pub struct Bins {
    pub node: PathBuf,
    pub load: PathBuf,
}

impl Bins {
    /// `lab-totem-node` and `totem-cpgload` in the directory of the running executable (or
    /// its parent when that is cargo's `deps/`), or in `$TOTEM_BIN_DIR` when set. Panics
    /// with the build command when they are missing.
    pub fn beside_current_exe() -> Bins {
        let dir = std::env::var_os("TOTEM_BIN_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                let exe = std::env::current_exe().ok()?;
                let dir = exe.parent()?.to_path_buf();
                if dir.file_name().is_some_and(|n| n == "deps") {
                    dir.parent().map(Path::to_path_buf)
                } else {
                    Some(dir)
                }
            })
            .unwrap_or_else(|| PathBuf::from("."));
        let bins = Bins {
            node: dir.join("lab-totem-node"),
            load: dir.join("totem-cpgload"),
        };
        for b in [&bins.node, &bins.load] {
            assert!(
                b.exists(),
                "{} is missing: build it with `cargo build -p totem-tests --bins` (add --release for the bench) or set TOTEM_BIN_DIR",
                b.display()
            );
        }
        bins
    }
}

/// Totem timers of a lab ring.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    pub token_ms: u32,
    /// `None` leaves corosync's default (650 ms per node above two).
    pub token_coefficient_ms: Option<u32>,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            token_ms: 1000,
            token_coefficient_ms: Some(0),
        }
    }
}

/// A ring of `totem-node`s, one per lab node listed in `members`.
#[derive(Debug)]
pub struct Ring {
    pub dir: PathBuf,
    pub bins: Bins,
    pub members: Vec<usize>,
    pub ipv6: bool,
    /// Pid of each running node, by lab index.
    pub pids: std::collections::BTreeMap<usize, u32>,
    starts: std::collections::BTreeMap<usize, u32>,
}

impl Ring {
    /// Writes one corosync.conf (G3 udpu, no crypto) for `members` (lab index, address)
    /// into `dir`; `port` sets `mcastport` (default 5405).
    pub fn new(
        bins: Bins,
        members: &[(usize, IpAddr)],
        port: Option<u16>,
        timers: Timers,
        dir: &Path,
    ) -> Ring {
        let mut nodes = String::new();
        for (i, addr) in members {
            nodes += &format!(
                "    node {{\n        name: n{i}\n        nodeid: {i}\n        ring0_addr: {addr}\n    }}\n"
            );
        }
        let ipv6 = members.first().is_some_and(|(_, a)| a.is_ipv6());
        let coeff = timers
            .token_coefficient_ms
            .map(|c| format!("    token_coefficient: {c}\n"))
            .unwrap_or_default();
        let iface = port
            .map(|p| {
                format!("    interface {{\n        linknumber: 0\n        mcastport: {p}\n    }}\n")
            })
            .unwrap_or_default();
        let conf = format!(
            "totem {{\n    version: 2\n    cluster_name: lab\n    transport: udpu\n    crypto_cipher: none\n    crypto_hash: none\n    ip_version: {ipv}\n    token: {token}\n{coeff}{iface}}}\n\nnodelist {{\n{nodes}}}\n\nlogging {{\n    to_stderr: yes\n}}\n",
            ipv = if ipv6 { "ipv6" } else { "ipv4" },
            token = timers.token_ms,
        );
        std::fs::create_dir_all(dir).expect("ring dir");
        std::fs::write(dir.join("corosync.conf"), conf).expect("write corosync.conf");
        Ring {
            dir: dir.to_path_buf(),
            bins,
            members: members.iter().map(|(i, _)| *i).collect(),
            ipv6,
            pids: Default::default(),
            starts: Default::default(),
        }
    }

    /// Sets `key: value` in the totem section of the ring's corosync.conf (before any node
    /// starts): replaces the key's line if there is one, else adds it. E.g. `netmtu` for an
    /// experiment outside corosync's defaults, or `transport: knet`.
    pub fn totem_option(&self, key: &str, value: &str) -> std::io::Result<()> {
        let path = self.dir.join("corosync.conf");
        let conf = std::fs::read_to_string(&path)?;
        let prefix = format!("    {key}:");
        let conf = if conf.lines().any(|l| l.starts_with(&prefix)) {
            conf.lines()
                .map(|l| {
                    if l.starts_with(&prefix) {
                        format!("    {key}: {value}")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        } else {
            conf.replacen("totem {\n", &format!("totem {{\n    {key}: {value}\n"), 1)
        };
        std::fs::write(path, conf)
    }

    /// Lab node `i`'s address for a ring, IPv4 or IPv6.
    pub fn lab_addr(lab: &Lab, i: usize, ipv6: bool) -> (usize, IpAddr) {
        let n = lab.node(i);
        (i, if ipv6 { n.ipv6.into() } else { n.ipv4.into() })
    }

    /// The control socket of node `i`.
    pub fn control(&self, i: usize) -> PathBuf {
        self.dir.join(format!("n{i}.sock"))
    }

    /// The command line of node `i` and the log file of its next start.
    pub fn node_command(&mut self, i: usize) -> (Vec<String>, PathBuf) {
        let k = self.starts.entry(i).or_insert(0);
        *k += 1;
        let log = self.dir.join(format!("n{i}.{k}.log"));
        let args = vec![
            self.bins.node.display().to_string(),
            "-c".into(),
            self.dir.join("corosync.conf").display().to_string(),
            "--nodeid".into(),
            i.to_string(),
            "--control".into(),
            self.control(i).display().to_string(),
        ];
        (args, log)
    }

    /// Starts (or restarts) node `i` in its namespace; its log is `n<i>.<k>.log`.
    pub fn start(&mut self, lab: &mut Lab, i: usize) -> Result<u32, LabError> {
        let (args, log) = self.node_command(i);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let pid = lab.spawn(i, &args, &log)?;
        self.pids.insert(i, pid);
        Ok(pid)
    }

    /// kill -9 of node `i` (a crash: no leave message).
    pub fn kill9(&mut self, lab: &mut Lab, i: usize) {
        if let Some(pid) = self.pids.remove(&i) {
            lab.signal(pid, "KILL");
        }
    }

    /// Ring members (sorted) and state as node `i` reports them; `None` if it does not answer.
    pub fn status(&self, i: usize) -> Option<(Vec<u32>, String)> {
        let v = self.status_json(i)?;
        let s = v.get(0)?;
        Some((status_members(&v)?, s.get("state")?.as_str()?.to_string()))
    }

    /// Node `i`'s `totem-node status --json` reply (see [`status_json`]).
    pub fn status_json(&self, i: usize) -> Option<serde_json::Value> {
        status_json(&self.bins.node, &self.control(i))
    }

    /// Waits (bounded) until every node in `nodes` reports exactly `nodes` as ring members
    /// in state operational.
    pub fn wait_ring(&self, nodes: &[usize], timeout: Duration) -> Result<(), String> {
        let want: Vec<u32> = nodes.iter().map(|&i| i as u32).collect();
        let ok = wait::until(timeout, Duration::from_millis(200), || {
            nodes
                .iter()
                .all(|&i| {
                    self.status(i)
                        .is_some_and(|(m, s)| m == want && s.eq_ignore_ascii_case("operational"))
                })
                .then_some(())
        });
        ok.ok_or_else(|| {
            let seen: Vec<String> = nodes
                .iter()
                .map(|&i| format!("n{i}: {:?}", self.status(i)))
                .collect();
            format!(
                "ring {want:?} did not form within {timeout:?}; {}\n{}",
                seen.join("; "),
                self.log_tails(nodes, 15)
            )
        })
    }

    /// The last lines of each node's latest log, for failure messages.
    pub fn log_tails(&self, nodes: &[usize], n: usize) -> String {
        let mut out = String::new();
        for &i in nodes {
            let k = self.starts.get(&i).copied().unwrap_or(1);
            let log =
                std::fs::read_to_string(self.dir.join(format!("n{i}.{k}.log"))).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            out += &format!("--- n{i} ---\n");
            out += &lines[lines.len().saturating_sub(n)..].join("\n");
            out.push('\n');
        }
        out
    }

    /// The command line of a `totem-cpgload` on node `i` with `args`, and its output file
    /// `<name>.out`.
    pub fn load_command(&self, i: usize, name: &str, args: &[&str]) -> (Vec<String>, PathBuf) {
        let mut v = vec![
            self.bins.load.display().to_string(),
            "--control".into(),
            self.control(i).display().to_string(),
        ];
        v.extend(args.iter().map(|a| a.to_string()));
        (v, self.dir.join(format!("{name}.out")))
    }

    /// Starts a `totem-cpgload` on node `i` (see [`Ring::load_command`]); returns its pid.
    pub fn spawn_load(
        &self,
        lab: &mut Lab,
        i: usize,
        name: &str,
        args: &[&str],
    ) -> Result<(u32, PathBuf), LabError> {
        let (v, out) = self.load_command(i, name, args);
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        let pid = lab.spawn(i, &v, &out)?;
        Ok((pid, out))
    }
}

/// `totem-node status --json` of the node behind `control`, run with `node_bin`: the
/// array (node status, CPG groups, executive status); `None` if it does not answer.
pub fn status_json(node_bin: &Path, control: &Path) -> Option<serde_json::Value> {
    let out = std::process::Command::new(node_bin)
        .args(["status", "--json", "--control"])
        .arg(control)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The ring members (sorted) of a [`status_json`] reply.
pub fn status_members(v: &serde_json::Value) -> Option<Vec<u32>> {
    let mut m: Vec<u32> = v
        .get(0)?
        .get("members")?
        .as_array()?
        .iter()
        .filter_map(|m| m.get("nodeid")?.as_u64().map(|n| n as u32))
        .collect();
    m.sort_unstable();
    Some(m)
}

/// Waits for load clients (pid, output) and reads their `RESULT` lines.
pub fn collect(
    lab: &mut Lab,
    clients: &[(usize, u32, PathBuf)],
    timeout: Duration,
) -> Vec<(usize, Result<LoadResult, String>)> {
    let end = std::time::Instant::now() + timeout;
    clients
        .iter()
        .map(|(i, pid, out)| {
            let left = end.saturating_duration_since(std::time::Instant::now());
            let exited = lab.wait_exit(*pid, left);
            let text = std::fs::read_to_string(out).unwrap_or_default();
            let r = if exited {
                LoadResult::find(&text).map_err(|e| format!("{e}; output:\n{text}"))
            } else {
                lab.signal(*pid, "KILL");
                Err(format!("client did not exit in time; output:\n{text}"))
            };
            (*i, r)
        })
        .collect()
}
