//! Real corosync 3.1.7 daemons (Debian package) in lab namespaces.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::{Lab, LabError};
use crate::wait;

/// corosync.conf transport settings for a lab ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udpu,
    Udp,
    Knet,
}

impl Transport {
    /// The corosync.conf `transport` value.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udpu => "udpu",
            Transport::Udp => "udp",
            Transport::Knet => "knet",
        }
    }
}

/// Writes a corosync.conf for a ring of `members` (nodeid = lab index) into `dir`.
///
/// `ipv6` uses the fd00:db8:: addresses. Timers are corosync's defaults unless `token_ms`.
pub fn write_conf(
    lab: &Lab,
    members: &[usize],
    me: usize,
    transport: Transport,
    ipv6: bool,
    dir: &Path,
) -> PathBuf {
    write_conf_links(lab, members, me, transport, ipv6, 1, dir)
}

/// The `node {}` entries of a nodelist with `links` ringN_addr each (link 1 on the lab's
/// second network).
pub fn nodelist(lab: &Lab, members: &[usize], ipv6: bool, links: usize) -> String {
    let mut nodes = String::new();
    for &i in members {
        let n = lab.node(i);
        let a0 = if ipv6 {
            n.ipv6.to_string()
        } else {
            n.ipv4.to_string()
        };
        let a1 = if ipv6 {
            n.ipv6_1.to_string()
        } else {
            n.ipv4_1.to_string()
        };
        let ring1 = if links > 1 {
            format!("        ring1_addr: {a1}\n")
        } else {
            String::new()
        };
        nodes += &format!("    node {{\n        name: n{i}\n        nodeid: {i}\n        ring0_addr: {a0}\n{ring1}    }}\n");
    }
    nodes
}

/// [`write_conf`] with `links` knet links per node (1 or 2).
pub fn write_conf_links(
    lab: &Lab,
    members: &[usize],
    me: usize,
    transport: Transport,
    ipv6: bool,
    links: usize,
    dir: &Path,
) -> PathBuf {
    let nodes = nodelist(lab, members, ipv6, links);
    let iface = match transport {
        Transport::Udp => "    interface {\n        linknumber: 0\n        mcastaddr: 233.252.0.1\n        mcastport: 5405\n    }\n",
        _ => "",
    };
    let state = dir.join("state");
    let _ = std::fs::create_dir_all(&state);
    let _ = std::fs::create_dir_all(dir.join("run"));
    let conf = format!(
        "totem {{\n    version: 2\n    cluster_name: lab\n    transport: {t}\n    crypto_cipher: none\n    crypto_hash: none\n    ip_version: {ipv}\n{iface}}}\n\nnodelist {{\n{nodes}}}\n\nquorum {{\n    provider: corosync_votequorum\n}}\n\nsystem {{\n    sched_rr: no\n    move_to_root_cgroup: no\n    state_dir: {state}\n}}\n\nlogging {{\n    to_stderr: no\n    to_syslog: no\n    to_logfile: yes\n    logfile: {log}\n    timestamp: hires\n}}\n",
        t = transport.name(),
        ipv = if ipv6 { "ipv6" } else { "ipv4" },
        state = state.display(),
        log = dir.join("corosync.log").display(),
    );
    let _ = me;
    let path = dir.join("corosync.conf");
    std::fs::write(&path, conf).expect("write corosync.conf");
    path
}

/// A running corosync daemon.
#[derive(Debug)]
pub struct Corosync {
    pub index: usize,
    pub pid: u32,
    pub dir: PathBuf,
}

impl Corosync {
    /// Starts corosync in node `index`'s namespace with a private /run (corosync 3.1.7 locks
    /// a fixed /run/corosync.pid) and the config in `dir`.
    pub fn start(lab: &mut Lab, index: usize, dir: &Path) -> Result<Corosync, LabError> {
        let run = dir.join("run");
        let conf = dir.join("corosync.conf");
        let script = "mount --bind \"$1\" /run && exec corosync -f -c \"$2\"";
        let pid = lab.spawn(
            index,
            &[
                "sh",
                "-c",
                script,
                "sh",
                &run.display().to_string(),
                &conf.display().to_string(),
            ],
            &dir.join("stdout.log"),
        )?;
        Ok(Corosync {
            index,
            pid,
            dir: dir.to_path_buf(),
        })
    }

    /// Runs a corosync tool in this node's namespace and returns its stdout.
    pub fn tool(&self, lab: &Lab, args: &[&str]) -> Option<String> {
        lab.exec(self.index, args)
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
    }

    /// Nodeids in `runtime.members` that are joined.
    pub fn members(&self, lab: &Lab) -> Vec<u32> {
        let Some(out) = self.tool(lab, &["corosync-cmapctl", "-b", "runtime.members"]) else {
            return Vec::new();
        };
        let mut v: Vec<u32> = out
            .lines()
            .filter(|l| l.contains(".status (str) = joined"))
            .filter_map(|l| l.split('.').nth(2)?.parse().ok())
            .collect();
        v.sort();
        v
    }

    /// Waits (bounded) until this node sees exactly `want` as members.
    pub fn wait_members(&self, lab: &Lab, want: &[u32], timeout: Duration) -> Result<(), String> {
        wait::until(timeout, Duration::from_millis(200), || {
            (self.members(lab) == want).then_some(())
        })
        .ok_or_else(|| {
            format!(
                "node {}: members {:?}, wanted {want:?}\n{}",
                self.index,
                self.members(lab),
                self.log_tail(40)
            )
        })
    }

    /// The last `n` lines of the daemon's log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("corosync.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}
