//! Real corosync 1.4.10 daemons (`../shared/old-corosync/`) in lab namespaces, and the
//! corosync.conf a G1 ring of them and our nodes shares; their own tools (`corosync-objctl`,
//! `corosync-quorumtool`, `corosync-cpgtool`) read back what they see.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::{Lab, LabError};
use crate::oldcs::{install_version, prefix_of, tarball_of};
use crate::wait;

/// The version string of the build.
pub const VERSION: &str = "1.4.10";

/// Where the 1.4.10 build lives once installed.
pub fn prefix() -> PathBuf {
    prefix_of(VERSION)
}

/// Whether the 1.4.10 tarball is beside the repository.
pub fn available() -> bool {
    tarball_of(VERSION).exists() || prefix().join("sbin/corosync").exists()
}

/// Installs 1.4.10 under [`prefix`] if it is not there (root only).
pub fn install() -> Result<(), LabError> {
    install_version(VERSION)
}

/// Transport and security of a G1 lab ring.
#[derive(Debug, Clone)]
pub struct G1Ring {
    /// `udpu` (members listed) or `udp` (multicast 239.192.x).
    pub udpu: bool,
    /// `secauth: on` with this authkey; `nss` picks `crypto_type: nss` (else SOBER).
    pub secauth: Option<(PathBuf, bool)>,
    /// The top-level `compatibility` key ("whitetank", 1.4's default, or "none").
    pub compatibility: String,
    /// Ring-0 addresses of all members.
    pub members: Vec<IpAddr>,
    /// The network address of the ring (`bindnetaddr`).
    pub bindnet: IpAddr,
}

impl G1Ring {
    /// The corosync.conf of node `nodeid`, logging to `logfile` (1.4.10 and ours read the
    /// same file; 1.4 needs `nodeid` in totem, the quorum provider and its expected votes).
    pub fn conf(&self, nodeid: u32, logfile: &Path) -> String {
        self.conf_bound(nodeid, logfile, self.bindnet)
    }

    /// As [`G1Ring::conf`] with `bindnetaddr: bindnet` (our node takes its own address
    /// there on udp: it does not match network addresses against interfaces).
    pub fn conf_bound(&self, nodeid: u32, logfile: &Path, bindnet: IpAddr) -> String {
        let members: String = if self.udpu {
            self.members
                .iter()
                .map(|a| format!("        member {{\n            memberaddr: {a}\n        }}\n"))
                .collect()
        } else {
            "        mcastaddr: 239.255.51.1\n        ttl: 1\n".into()
        };
        let security = match &self.secauth {
            None => "    secauth: off\n".to_string(),
            Some((key, nss)) => format!(
                "    secauth: on\n    keyfile: {}\n{}",
                key.display(),
                if *nss {
                    "    crypto_type: nss\n    crypto_accept: new\n"
                } else {
                    ""
                }
            ),
        };
        format!(
            "compatibility: {compat}\n\ntotem {{\n    version: 2\n    nodeid: {nodeid}\n    \
             transport: {transport}\n{security}    threads: 0\n    interface {{\n        \
             ringnumber: 0\n        bindnetaddr: {bindnet}\n        mcastport: 5405\n{members}    \
             }}\n}}\n\nquorum {{\n    provider: corosync_votequorum\n    expected_votes: {n}\n}}\n\n\
             logging {{\n    fileline: off\n    to_stderr: no\n    to_syslog: no\n    \
             to_logfile: yes\n    logfile: {log}\n    timestamp: on\n    debug: off\n}}\n",
            compat = self.compatibility,
            transport = if self.udpu { "udpu" } else { "udp" },
            bindnet = bindnet,
            n = self.members.len(),
            log = logfile.display(),
        )
    }
}

/// A running 1.4.10 daemon.
#[derive(Debug)]
pub struct Corosync1 {
    pub index: usize,
    pub pid: u32,
    pub dir: PathBuf,
}

impl Corosync1 {
    /// Starts 1.4.10 in node `index`'s namespace with `dir/corosync.conf` and `dir/var` as
    /// its state folder (bind-mounted over the build's var, private to the namespace).
    pub fn start(lab: &mut Lab, index: usize, dir: &Path) -> Result<Corosync1, LabError> {
        let pid = crate::oldcs::spawn_daemon(lab, index, dir, &prefix())?;
        Ok(Corosync1 {
            index,
            pid,
            dir: dir.to_path_buf(),
        })
    }

    /// Runs a 1.4.10 tool (`corosync-quorumtool`, …) in this node's namespace.
    pub fn tool(&self, lab: &Lab, tool: &str, args: &[&str]) -> Option<String> {
        let bin = prefix().join("sbin").join(tool).display().to_string();
        let mut v = vec![bin.as_str()];
        v.extend_from_slice(args);
        lab.exec(self.index, &v)
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
    }

    /// The members `corosync-objctl runtime.totem.pg.mrp.srp.members` lists as joined.
    pub fn members(&self, lab: &Lab) -> Vec<u32> {
        objctl_members(&self.tool(
            lab,
            "corosync-objctl",
            &["runtime.totem.pg.mrp.srp.members"],
        ))
    }

    /// `corosync-quorumtool -s` parsed: (total votes, nodes, quorate).
    pub fn quorum(&self, lab: &Lab) -> Option<QuorumView> {
        QuorumView::parse(&self.tool(lab, "corosync-quorumtool", &["-s"])?)
    }

    /// `corosync-cpgtool` output.
    pub fn cpgtool(&self, lab: &Lab) -> String {
        self.tool(lab, "corosync-cpgtool", &[]).unwrap_or_default()
    }

    /// The daemon's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("corosync.log")).unwrap_or_default()
    }

    /// How many times the log says service synchronisation completed.
    pub fn syncs_completed(&self) -> usize {
        self.log()
            .matches("Completed service synchronization, ready to provide service.")
            .count()
    }

    /// Whether the log says service synchronisation completed after the last membership
    /// change (what 1.4.10 never said while our node sent no sync messages).
    pub fn synced_since_last_change(&self) -> bool {
        let log = self.log();
        match (
            log.rfind("a new membership was formed"),
            log.rfind("Completed service synchronization"),
        ) {
            (Some(change), Some(done)) => done > change,
            _ => false,
        }
    }

    /// Waits (bounded) until this node lists exactly `want`, its quorumtool counts
    /// `want.len()` votes and nodes, and its sync round after the last change completed.
    pub fn wait_view(&self, lab: &Lab, want: &[u32], timeout: Duration) -> Result<(), String> {
        wait::until(timeout, Duration::from_millis(250), || {
            let q = self.quorum(lab)?;
            (self.members(lab) == want
                && self.synced_since_last_change()
                && q.total_votes == want.len() as u32
                && q.nodes == want.len() as u32)
                .then_some(())
        })
        .ok_or_else(|| {
            format!(
                "1.4.10 node {}: members {:?}, quorum {:?}, wanted {want:?}",
                self.index,
                self.members(lab),
                self.quorum(lab)
            )
        })
    }
}

/// What `corosync-quorumtool -s` of 1.4.10 says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumView {
    pub total_votes: u32,
    pub nodes: u32,
    pub quorate: bool,
}

impl QuorumView {
    /// Parses the `Nodes:`, `Total votes:` and `Quorate:` lines.
    pub fn parse(out: &str) -> Option<QuorumView> {
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        Some(QuorumView {
            total_votes: field("Total votes:")?.parse().ok()?,
            nodes: field("Nodes:")?.parse().ok()?,
            quorate: field("Quorate:")?.starts_with("Yes"),
        })
    }
}

/// Joined nodeids in a 1.x `corosync-objctl runtime.totem.pg.mrp.srp.members` listing
/// (1.4.10 prints `runtime.totem.pg.mrp.srp.N.status=joined`).
pub fn objctl_members(out: &Option<String>) -> Vec<u32> {
    let Some(out) = out else { return Vec::new() };
    let mut v: Vec<u32> = out
        .lines()
        .filter(|l| l.trim_end().ends_with(".status=joined"))
        .filter_map(|l| {
            let key = l.split('=').next()?;
            key.split('.').rev().nth(1)?.parse().ok()
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_read_1_4_10_output() {
        // As 1.4.10's objctl prints the members object (without "members.").
        let out = "runtime.totem.pg.mrp.srp.1.ip=r(0) ip(192.0.2.11) \n\
                   runtime.totem.pg.mrp.srp.1.join_count=1\n\
                   runtime.totem.pg.mrp.srp.1.status=joined\n\
                   runtime.totem.pg.mrp.srp.3.status=left\n\
                   runtime.totem.pg.mrp.srp.2.status=joined\n";
        assert_eq!(objctl_members(&Some(out.into())), [1, 2]);
        let q = "Version:          1.4.10\nNodes:            3\nRing ID:          12\n\
                 Quorum type:      corosync_votequorum\nQuorate:          Yes\n\
                 Node votes:       1\nExpected votes:   3\nHighest expected: 3\n\
                 Total votes:      3\nQuorum:           2  \nFlags:            Quorate \n";
        assert_eq!(
            QuorumView::parse(q),
            Some(QuorumView {
                total_votes: 3,
                nodes: 3,
                quorate: true
            })
        );
    }
}
