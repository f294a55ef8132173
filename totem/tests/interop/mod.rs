//! Live interop lab: real corosync 3.1.7 daemons and our `totem-node` in one udpu nodelist,
//! each in its own network namespace (tests crate harness). These tests live in the totem
//! crate so that `env!("CARGO_BIN_EXE_totem-node")` names the freshly built binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub mod cpg;

use totem_tests::corosync::{nodelist, write_conf_links, Corosync, Transport};
use totem_tests::netns::{is_root, Lab};
use totem_tests::wait;

/// Our node's binary, built by cargo for this test.
pub const TOTEM_NODE: &str = env!("CARGO_BIN_EXE_totem-node");
pub const TOTEM_CPG: &str = env!("CARGO_BIN_EXE_totem-cpg");

/// One of our nodes.
#[derive(Debug)]
pub struct Ours {
    pub index: usize,
    pub pid: u32,
    pub dir: PathBuf,
}

impl Ours {
    pub fn control(&self) -> PathBuf {
        self.dir.join("totem.sock")
    }

    /// `totem-node status --json`: (status, groups, exec) as JSON.
    pub fn status(&self) -> Option<serde_json::Value> {
        let out = Command::new(TOTEM_NODE)
            .args(["status", "--json", "--control"])
            .arg(self.control())
            .output()
            .ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }

    /// `totem-node status --json | cman_tool --node-status status`, rendered with cman-compat.
    pub fn cman_tool_status(&self) -> Option<String> {
        let out = Command::new(TOTEM_NODE)
            .args(["status", "--json", "--control"])
            .arg(self.control())
            .output()
            .ok()?;
        totem_tests::cman::tool_status(&String::from_utf8_lossy(&out.stdout), "lab")
    }

    pub fn members(&self) -> Vec<u32> {
        self.status()
            .and_then(|s| {
                s[0]["members"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|m| m["nodeid"].as_u64().map(|n| n as u32))
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// "rep.seq(hex)" as corosync-quorumtool prints the ring id.
    pub fn ring_id(&self) -> Option<String> {
        let s = self.status()?;
        Some(format!(
            "{}.{:x}",
            s[0]["ring_seq"]
                .as_u64()
                .map(|_| s[0]["ring_rep"].as_str().unwrap_or("?"))?,
            s[0]["ring_seq"].as_u64()?
        ))
    }

    pub fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("totem.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// The lab: which nodeids run corosync and which run ours.
pub struct Interop {
    pub lab: Lab,
    pub tmp: tempfile::TempDir,
    pub corosync: Vec<Corosync>,
    pub ours: Vec<Ours>,
    pub all: Vec<usize>,
    /// Transport of every node (udpu unless started with [`Interop::start_with`]).
    pub transport: Transport,
    /// knet links per node (2 adds the lab's second network as ring1_addr).
    pub links: usize,
    /// Ring over the lab's IPv6 addresses.
    pub ipv6: bool,
    /// knet crypto (nss/aes256/sha256) key file of the corosync nodes; `None` = crypto off.
    pub knet_key: Option<PathBuf>,
    /// Key file our nodes use (a test may point it at a wrong key before a restart).
    pub our_key: Option<PathBuf>,
    /// knet crypto_model of every node when crypto is on ("nss" unless started with
    /// [`Interop::start_crypto_model`]).
    pub crypto_model: &'static str,
}

/// The totem lines that turn knet crypto on with `key` (aes256/sha256 under `model`).
fn crypto_lines(model: &str, key: &Path) -> String {
    format!(
        "    crypto_model: {model}\n    crypto_cipher: aes256\n    crypto_hash: sha256\n    keyfile: {}\n",
        key.display()
    )
}

/// Our node's corosync.conf: the same nodelist and timers as the corosync nodes.
pub fn our_conf(lab: &Lab, members: &[usize], dir: &Path) -> PathBuf {
    our_conf_with(lab, members, Transport::Udpu, 1, false, dir)
}

/// [`our_conf`] for `transport` with `links` knet links.
pub fn our_conf_with(
    lab: &Lab,
    members: &[usize],
    transport: Transport,
    links: usize,
    ipv6: bool,
    dir: &Path,
) -> PathBuf {
    let nodes = nodelist(lab, members, ipv6, links);
    let conf = format!(
        "totem {{\n    version: 2\n    cluster_name: lab\n    transport: {}\n    ip_version: {}\n}}\n\nnodelist {{\n{nodes}}}\n\nquorum {{\n    provider: corosync_votequorum\n}}\n\nlogging {{\n    to_stderr: no\n    to_logfile: yes\n    logfile: {}\n    debug: off\n}}\n",
        transport.name(),
        if ipv6 { "ipv6" } else { "ipv4" },
        dir.join("totem.log").display()
    );
    let path = dir.join("corosync.conf");
    std::fs::write(&path, conf).expect("write our corosync.conf");
    path
}

impl Interop {
    /// None when not root (the test is skipped).
    pub fn start(prefix: &str, corosync_at: &[usize], ours_at: &[usize]) -> Option<Interop> {
        Self::start_with(prefix, corosync_at, ours_at, Transport::Udpu, 1)
    }

    /// [`Interop::start`] with a transport and (knet) number of links per node.
    pub fn start_with(
        prefix: &str,
        corosync_at: &[usize],
        ours_at: &[usize],
        transport: Transport,
        links: usize,
    ) -> Option<Interop> {
        Self::start_opts(prefix, corosync_at, ours_at, transport, links, false)
    }

    /// [`Interop::start_with`], optionally over IPv6.
    pub fn start_opts(
        prefix: &str,
        corosync_at: &[usize],
        ours_at: &[usize],
        transport: Transport,
        links: usize,
        ipv6: bool,
    ) -> Option<Interop> {
        Self::start_inner(prefix, corosync_at, ours_at, transport, links, ipv6, None)
    }

    /// A knet lab with crypto nss/aes256/sha256 and `key` (128..=4096 bytes) on every node.
    pub fn start_crypto(
        prefix: &str,
        corosync_at: &[usize],
        ours_at: &[usize],
        key: &[u8],
    ) -> Option<Interop> {
        Self::start_crypto_model(prefix, corosync_at, ours_at, key, "nss")
    }

    /// [`Interop::start_crypto`] with crypto_model `model` ("nss" or "openssl").
    pub fn start_crypto_model(
        prefix: &str,
        corosync_at: &[usize],
        ours_at: &[usize],
        key: &[u8],
        model: &'static str,
    ) -> Option<Interop> {
        Self::start_inner(
            prefix,
            corosync_at,
            ours_at,
            Transport::Knet,
            1,
            false,
            Some((key, model)),
        )
    }

    fn start_inner(
        prefix: &str,
        corosync_at: &[usize],
        ours_at: &[usize],
        transport: Transport,
        links: usize,
        ipv6: bool,
        key: Option<(&[u8], &'static str)>,
    ) -> Option<Interop> {
        if !is_root() {
            eprintln!("skipped: needs root for network namespaces");
            return None;
        }
        let mut all: Vec<usize> = corosync_at.iter().chain(ours_at).copied().collect();
        all.sort();
        let lab = Lab::new(prefix, all.len()).expect("lab");
        if links > 1 {
            lab.add_second_link().expect("second network");
        }
        let tmp = tempfile::tempdir().expect("tmp");
        let mut me = Interop {
            lab,
            tmp,
            corosync: Vec::new(),
            ours: Vec::new(),
            all,
            transport,
            links,
            ipv6,
            knet_key: None,
            our_key: None,
            crypto_model: "nss",
        };
        if let Some((k, model)) = key {
            me.crypto_model = model;
            let path = me.tmp.path().join("authkey");
            std::fs::write(&path, k).expect("write authkey");
            // Our node refuses key files others can read (corosync-keygen writes 0400).
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .expect("chmod authkey");
            me.knet_key = Some(path.clone());
            me.our_key = Some(path);
        }
        for &i in ours_at {
            me.start_ours(i);
        }
        for &i in corosync_at {
            me.start_corosync(i);
        }
        Some(me)
    }

    pub fn start_corosync(&mut self, i: usize) {
        let dir = self.tmp.path().join(format!("c{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        write_conf_links(
            &self.lab,
            &self.all,
            i,
            self.transport,
            self.ipv6,
            self.links,
            &dir,
        );
        if let Some(k) = &self.knet_key {
            let p = dir.join("corosync.conf");
            let t = std::fs::read_to_string(&p).expect("read corosync.conf");
            let t = t.replace(
                "    crypto_cipher: none\n    crypto_hash: none\n",
                &crypto_lines(self.crypto_model, k),
            );
            std::fs::write(&p, t).expect("write corosync.conf");
        }
        let c = Corosync::start(&mut self.lab, i, &dir).expect("corosync starts");
        self.corosync.retain(|x| x.index != i);
        self.corosync.push(c);
    }

    pub fn start_ours(&mut self, i: usize) {
        let dir = self.tmp.path().join(format!("t{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = our_conf_with(
            &self.lab,
            &self.all,
            self.transport,
            self.links,
            self.ipv6,
            &dir,
        );
        if let Some(k) = &self.our_key {
            let t = std::fs::read_to_string(&conf).expect("read our conf");
            let t = t.replacen(
                "    ip_version:",
                &format!("{}    ip_version:", crypto_lines(self.crypto_model, k)),
                1,
            );
            std::fs::write(&conf, t).expect("write our conf");
        }
        let control = dir.join("totem.sock");
        let pid = self
            .lab
            .spawn(
                i,
                &[
                    TOTEM_NODE,
                    "-c",
                    &conf.display().to_string(),
                    "--control",
                    &control.display().to_string(),
                ],
                &dir.join("stdout.log"),
            )
            .expect("totem-node starts");
        self.ours.retain(|x| x.index != i);
        self.ours.push(Ours { index: i, pid, dir });
    }

    pub fn corosync(&self, i: usize) -> &Corosync {
        self.corosync
            .iter()
            .find(|c| c.index == i)
            .expect("corosync node")
    }

    pub fn ours(&self, i: usize) -> &Ours {
        self.ours.iter().find(|c| c.index == i).expect("our node")
    }

    /// Everything a failure message needs: corosync log tails and our logs.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for c in &self.corosync {
            s += &format!("\n=== corosync node {} ===\n{}\n", c.index, c.log_tail(60));
        }
        for o in &self.ours {
            s += &format!("\n=== totem-node {} ===\n{}\n", o.index, o.log());
        }
        s
    }

    /// Waits (bounded) until every running node sees exactly `want`.
    pub fn wait_ring(&self, want: &[u32], timeout: Duration) -> Result<(), String> {
        wait::until(timeout, Duration::from_millis(250), || {
            let ok = self.corosync.iter().all(|c| c.members(&self.lab) == want)
                && self.ours.iter().all(|o| {
                    let mut m = o.members();
                    m.sort();
                    m == want
                });
            ok.then_some(())
        })
        .ok_or_else(|| {
            let mut s = format!("ring {want:?} not reached:");
            for c in &self.corosync {
                s += &format!(" corosync {}: {:?};", c.index, c.members(&self.lab));
            }
            for o in &self.ours {
                s += &format!(" ours {}: {:?};", o.index, o.members());
            }
            s + &self.logs()
        })
    }

    /// `corosync-quorumtool -s` of a corosync node (None if it does not answer in time).
    pub fn quorumtool(&self, i: usize, args: &[&str]) -> Option<String> {
        let mut v = vec!["timeout", "5", "corosync-quorumtool"];
        v.extend_from_slice(args);
        self.corosync(i).tool(&self.lab, &v)
    }

    /// Waits (bounded) until every corosync node logged the completion of a sync round
    /// that includes the ring `members` and its quorum and CPG IPC answer.
    pub fn wait_sync(&self, timeout: Duration) -> Result<(), String> {
        wait::until(timeout, Duration::from_millis(300), || {
            self.corosync
                .iter()
                .all(|c| {
                    self.quorumtool(c.index, &["-s"])
                        .is_some_and(|o| o.contains("Quorate:"))
                        && c.tool(&self.lab, &["timeout", "5", "corosync-cpgtool"])
                            .is_some_and(|o| o.contains("Group Name"))
                })
                .then_some(())
        })
        .ok_or_else(|| {
            format!(
                "corosync IPC does not answer (sync stalled?){}",
                self.logs()
            )
        })
    }
}

/// A value from `corosync-quorumtool -s` output, e.g. "Total votes".
pub fn field(out: &str, key: &str) -> Option<String> {
    out.lines()
        .find(|l| l.trim_start().starts_with(key))
        .and_then(|l| l.split(':').nth(1))
        .map(|v| v.trim().to_string())
}
