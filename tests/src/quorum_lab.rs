//! A udpu ring of one of our `totem-node`s and real corosync daemons of one generation
//! (2.4.6 from `../shared/old-corosync/`, or Debian's 3.1.7), every node with the same
//! `quorum {}` section and nodelist `quorum_votes`, for the live quorum option tests: each
//! real daemon judged by its own `corosync-quorumtool -s`, ours by `totem-node status`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::corosync::Corosync;
use crate::netns::{Lab, LabError};
use crate::oldcs::{self, OldCorosync};

/// Which corosync the real nodes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Real {
    /// corosync 2.4.6 (G2), installed from `../shared/old-corosync/`.
    V246,
    /// Debian's corosync 3.1.7 (G3).
    V317,
}

impl Real {
    /// `--generation` of our node in a ring of these daemons.
    pub fn generation(self) -> &'static str {
        match self {
            Real::V246 => "g2",
            Real::V317 => "g3",
        }
    }
}

/// What a `corosync-quorumtool -s` (or our status) says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuorumView {
    pub quorate: bool,
    pub total_votes: u32,
    pub expected_votes: u32,
    /// The "Flags:" words.
    pub flags: Vec<String>,
    /// (nodeid, votes) of the membership list.
    pub votes: Vec<(u32, u32)>,
}

impl QuorumView {
    /// Parses `corosync-quorumtool -s` output (2.4.6 and 3.1.7 print the same lines);
    /// `None` without a "Quorate:" line (the daemon did not answer).
    pub fn parse(out: &str) -> Option<QuorumView> {
        let field = |k: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
        };
        let quorate = field("Quorate:")?.starts_with("Yes");
        let num = |k: &str| {
            field(k)
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let flags = field("Flags:")
            .map(|f| f.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        // Membership information: "    Nodeid      Votes Name" then one line per node.
        let mut votes = Vec::new();
        let mut in_members = false;
        for l in out.lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.first() == Some(&"Nodeid") && w.get(1) == Some(&"Votes") {
                in_members = true;
                continue;
            }
            if in_members {
                match (w.first().and_then(|s| s.parse::<u32>().ok()), w.get(1)) {
                    (Some(id), Some(v)) => {
                        if let Ok(v) = v.parse() {
                            votes.push((id, v));
                        }
                    }
                    _ => in_members = false,
                }
            }
        }
        Some(QuorumView {
            quorate,
            total_votes: num("Total votes:"),
            expected_votes: num("Expected votes:"),
            flags,
            votes,
        })
    }

    /// From `totem-node status --json`'s exec quorum object.
    pub fn from_status(q: &serde_json::Value) -> Option<QuorumView> {
        let u = |k: &str| q.get(k)?.as_u64().map(|v| v as u32);
        let f = q.get("features")?;
        let on = |k: &str| f.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
        let quorate = q.get("quorate")?.as_bool()?;
        let flags = [
            (on("two_node"), "2Node"),
            (quorate, "Quorate"),
            (on("wait_for_all"), "WaitForAll"),
            (on("last_man_standing"), "LastManStanding"),
            (on("auto_tie_breaker"), "AutoTieBreaker"),
            (on("allow_downscale"), "AllowDownscale"),
        ]
        .into_iter()
        .filter(|(b, _)| *b)
        .map(|(_, w)| w.to_string())
        .collect();
        let votes = q
            .get("nodes")?
            .as_array()?
            .iter()
            .filter_map(|n| {
                let a = n.as_array()?;
                // (nodeid, votes, expected, state): members (state 1) only.
                if a.get(3)?.as_u64()? != 1 {
                    return None;
                }
                Some((a.first()?.as_u64()? as u32, a.get(1)?.as_u64()? as u32))
            })
            .collect();
        Some(QuorumView {
            quorate,
            total_votes: u("total_votes")?,
            expected_votes: u("expected_votes")?,
            flags,
            votes,
        })
    }

    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }
}

/// The lab: our node at `ours`, real daemons at the other indices `1..=n`.
pub struct QuorumLab {
    pub lab: Lab,
    pub dir: PathBuf,
    pub real: Real,
    pub ours: usize,
    pub n: usize,
    node_bin: PathBuf,
    quorum: Vec<String>,
    votes: BTreeMap<usize, u32>,
    /// Pid of every running node, by lab index.
    pub pids: BTreeMap<usize, u32>,
    starts: BTreeMap<usize, u32>,
}

impl QuorumLab {
    /// A lab of `n` namespaces; nothing runs yet. `quorum` are the lines of the quorum
    /// section after `provider: corosync_votequorum`; `votes` the nodes with a
    /// `quorum_votes` line. Installs 2.4.6 first when `real` is [`Real::V246`].
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        prefix: &str,
        real: Real,
        n: usize,
        ours: usize,
        quorum: &[&str],
        votes: &[(usize, u32)],
        node_bin: &Path,
        dir: &Path,
    ) -> Result<QuorumLab, LabError> {
        if real == Real::V246 {
            oldcs::install()?;
        }
        Ok(QuorumLab {
            lab: Lab::new(prefix, n)?,
            dir: dir.to_path_buf(),
            real,
            ours,
            n,
            node_bin: node_bin.to_path_buf(),
            quorum: quorum.iter().map(|s| s.to_string()).collect(),
            votes: votes.iter().copied().collect(),
            pids: BTreeMap::new(),
            starts: BTreeMap::new(),
        })
    }

    fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("n{i}"))
    }

    /// The corosync.conf of node `i` (ours: logging to stderr, no system section).
    pub fn conf(&self, i: usize) -> String {
        let mut nodes = String::new();
        for k in 1..=self.n {
            let votes = self
                .votes
                .get(&k)
                .map(|v| format!("        quorum_votes: {v}\n"))
                .unwrap_or_default();
            nodes += &format!(
                "    node {{\n        ring0_addr: {}\n        nodeid: {k}\n{votes}    }}\n",
                self.lab.node(k).ipv4
            );
        }
        let mut quorum = String::from("    provider: corosync_votequorum\n");
        for l in &self.quorum {
            quorum += &format!("    {l}\n");
        }
        let dir = self.node_dir(i);
        let iface = match self.real {
            Real::V246 => "    interface {\n        ringnumber: 0\n        bindnetaddr: 192.0.2.0\n        mcastport: 5405\n    }\n",
            Real::V317 => "    ip_version: ipv4\n",
        };
        let tail = if i == self.ours {
            "logging {\n    to_stderr: yes\n}\n".to_string()
        } else {
            let system = match self.real {
                Real::V317 => format!(
                    "system {{\n    sched_rr: no\n    move_to_root_cgroup: no\n    state_dir: {}\n}}\n",
                    dir.join("state").display()
                ),
                Real::V246 => String::new(),
            };
            format!(
                "{system}logging {{\n    to_stderr: no\n    to_syslog: no\n    to_logfile: yes\n    logfile: {}\n    timestamp: on\n    debug: on\n}}\n",
                dir.join("corosync.log").display()
            )
        };
        format!(
            "totem {{\n    version: 2\n    cluster_name: quorum\n    transport: udpu\n    crypto_cipher: none\n    crypto_hash: none\n    token: 1000\n    token_coefficient: 0\n{iface}}}\nnodelist {{\n{nodes}}}\nquorum {{\n{quorum}}}\n{tail}"
        )
    }

    /// Starts (or restarts) node `i`: ours or the real daemon.
    pub fn start(&mut self, i: usize) -> Result<u32, LabError> {
        let dir = self.node_dir(i);
        for sub in ["state", "run"] {
            let _ = std::fs::create_dir_all(dir.join(sub));
        }
        let conf = self.conf(i);
        let path = dir.join("corosync.conf");
        std::fs::write(&path, conf).map_err(|source| LabError::Spawn {
            cmd: path.display().to_string(),
            source,
        })?;
        let k = self.starts.entry(i).or_insert(0);
        *k += 1;
        let pid = if i == self.ours {
            let log = dir.join(format!("totem.{k}.log"));
            let control = self.control();
            self.lab.spawn(
                i,
                &[
                    &self.node_bin.display().to_string(),
                    "-c",
                    &path.display().to_string(),
                    "--generation",
                    self.real.generation(),
                    "--nodeid",
                    &i.to_string(),
                    "--control",
                    &control.display().to_string(),
                ],
                &log,
            )?
        } else {
            match self.real {
                Real::V246 => OldCorosync::start(&mut self.lab, i, &dir)?.pid,
                Real::V317 => Corosync::start(&mut self.lab, i, &dir)?.pid,
            }
        };
        self.pids.insert(i, pid);
        Ok(pid)
    }

    /// kill -9 of node `i` (no leave message).
    pub fn kill9(&mut self, i: usize) {
        if let Some(pid) = self.pids.remove(&i) {
            self.lab.signal(pid, "KILL");
        }
    }

    /// Our node's control socket.
    pub fn control(&self) -> PathBuf {
        self.node_dir(self.ours).join("totem.sock")
    }

    /// `corosync-quorumtool -s` of real node `i` (bounded by `timeout 5`).
    pub fn quorumtool(&self, i: usize) -> Option<String> {
        let bin = match self.real {
            Real::V246 => format!("{}/sbin/corosync-quorumtool", oldcs::PREFIX),
            Real::V317 => "corosync-quorumtool".into(),
        };
        // Not through Lab::exec: quorumtool exits non-zero when not quorate, and that
        // output is the point.
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.lab.node(i).netns,
                "timeout",
                "5",
                &bin,
                "-s",
            ])
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// What real node `i`'s quorumtool says (`None`: it did not answer).
    pub fn real_view(&self, i: usize) -> Option<QuorumView> {
        QuorumView::parse(&self.quorumtool(i)?)
    }

    /// `totem-node status --json` of our node: (ring members, quorum view).
    pub fn our_view(&self) -> Option<(Vec<u32>, QuorumView)> {
        let v = crate::ring::status_json(&self.node_bin, &self.control())?;
        Some((
            crate::ring::status_members(&v)?,
            QuorumView::from_status(&v[2]["quorum"])?,
        ))
    }

    /// Our node's plain `totem-node status` text.
    pub fn our_status_text(&self) -> String {
        Command::new(&self.node_bin)
            .args(["status", "--control"])
            .arg(self.control())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default()
    }

    /// Ring members real node `i` lists as joined.
    pub fn real_members(&self, i: usize) -> Vec<u32> {
        match self.real {
            Real::V246 => OldCorosync {
                index: i,
                pid: 0,
                dir: self.node_dir(i),
            }
            .members(&self.lab),
            Real::V317 => Corosync {
                index: i,
                pid: 0,
                dir: self.node_dir(i),
            }
            .members(&self.lab),
        }
    }

    /// Waits (bounded) until every node in `who` lists exactly `want` as members and
    /// `check` holds for its quorum view; the error names what each one said.
    pub fn wait(
        &self,
        who: &[usize],
        want: &[u32],
        timeout: Duration,
        check: impl Fn(&QuorumView) -> bool,
    ) -> Result<(), String> {
        crate::wait::until(timeout, Duration::from_millis(250), || {
            who.iter()
                .all(|&i| self.view(i).is_some_and(|(m, q)| m == want && check(&q)))
                .then_some(())
        })
        .ok_or_else(|| format!("wanted {want:?} on {who:?}: {}", self.describe(who)))
    }

    /// (members, quorum view) of node `i`, ours or real.
    pub fn view(&self, i: usize) -> Option<(Vec<u32>, QuorumView)> {
        if i == self.ours {
            self.our_view()
        } else {
            Some((self.real_members(i), self.real_view(i)?))
        }
    }

    /// The votequorum NODEINFOs from `from` that real node `i` logged as it decoded them
    /// (its debug line "nodeinfo message[N]: votes: V, expected: E flags: F"), in order:
    /// (votes, expected_votes, flags).
    pub fn nodeinfo_log(&self, i: usize, from: u32) -> Vec<(u32, u32, u32)> {
        let text =
            std::fs::read_to_string(self.node_dir(i).join("corosync.log")).unwrap_or_default();
        let tag = format!("nodeinfo message[{from}]: votes: ");
        text.lines()
            .filter_map(|l| {
                let rest = &l[l.find(&tag)? + tag.len()..];
                let (votes, rest) = rest.split_once(", expected: ")?;
                let (expected, flags) = rest.split_once(" flags: ")?;
                Some((
                    votes.trim().parse().ok()?,
                    expected.trim().parse().ok()?,
                    flags.trim().parse().ok()?,
                ))
            })
            .collect()
    }

    /// Waits (bounded) until real node `i` logged a NODEINFO from `from` that `check`
    /// accepts, past the first `skip` it logged.
    pub fn wait_nodeinfo(
        &self,
        i: usize,
        from: u32,
        skip: usize,
        timeout: Duration,
        check: impl Fn(&(u32, u32, u32)) -> bool,
    ) -> Result<(u32, u32, u32), String> {
        crate::wait::until(timeout, Duration::from_millis(200), || {
            self.nodeinfo_log(i, from)
                .into_iter()
                .skip(skip)
                .find(|n| check(n))
        })
        .ok_or_else(|| {
            format!(
                "node {i} logged no such NODEINFO from {from}; it logged (votes, expected, flags) {:?}",
                self.nodeinfo_log(i, from)
            )
        })
    }

    /// Every node's view and log tail, for failure messages.
    pub fn describe(&self, who: &[usize]) -> String {
        let mut s = String::new();
        for &i in who {
            s += &format!("\n--- node {i}: {:?}", self.view(i));
            let log = if i == self.ours {
                let k = self.starts.get(&i).copied().unwrap_or(1);
                self.node_dir(i).join(format!("totem.{k}.log"))
            } else {
                self.node_dir(i).join("corosync.log")
            };
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            s += "\n";
            s += &lines[lines.len().saturating_sub(12)..].join("\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorumtool_output_parses() {
        let out = "Quorum information\n------------------\nDate:             Thu Dec  3 15:00:00 2026\nQuorum provider:  corosync_votequorum\nNodes:            3\nNode ID:          2\nRing ID:          1.10\nQuorate:          Yes\n\nVotequorum information\n----------------------\nExpected votes:   4\nHighest expected: 4\nTotal votes:      4\nQuorum:           3  \nFlags:            Quorate WaitForAll \n\nMembership information\n----------------------\n    Nodeid      Votes Name\n         1          2 192.0.2.11\n         2          1 192.0.2.12 (local)\n         3          1 192.0.2.13\n";
        let v = QuorumView::parse(out).unwrap();
        assert_eq!(
            v,
            QuorumView {
                quorate: true,
                total_votes: 4,
                expected_votes: 4,
                flags: vec!["Quorate".into(), "WaitForAll".into()],
                votes: vec![(1, 2), (2, 1), (3, 1)],
            }
        );
        assert!(QuorumView::parse("Cannot initialize QUORUM service\n").is_none());
    }
}
