//! A test network: one namespace per node, joined by a bridge in a hub namespace, with
//! addresses from 192.0.2.0/24 and fd00:db8::/64 only.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static LABS: AtomicU32 = AtomicU32::new(0);

/// Why a lab step failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("live tests need root (network namespaces); run the README's test command as root")]
    NotRoot,
    #[error("`{cmd}` failed: {stderr}")]
    Command { cmd: String, stderr: String },
    #[error("`{cmd}` could not start: {source}")]
    Spawn { cmd: String, source: std::io::Error },
}

/// One node's namespace and addresses.
#[derive(Debug, Clone)]
pub struct LabNode {
    /// 1-based.
    pub index: usize,
    pub netns: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
    /// The node's veth end in the hub (down = node partitioned).
    pub hub_port: String,
    /// Second network (after [`Lab::add_second_link`]): the node's address on it.
    pub ipv4_1: Ipv4Addr,
    pub ipv6_1: Ipv6Addr,
    /// The node's `eth1` end in the hub, on bridge `br1`.
    pub hub_port1: String,
}

/// Namespaces, bridge and the processes started in them; all removed on drop.
#[derive(Debug)]
pub struct Lab {
    pub hub: String,
    pub nodes: Vec<LabNode>,
    children: Vec<Child>,
}

fn run(cmd: &mut Command) -> Result<Output, LabError> {
    let text = format!("{cmd:?}");
    let out = cmd.output().map_err(|source| LabError::Spawn {
        cmd: text.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(LabError::Command {
            cmd: text,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

fn ip(args: &[&str]) -> Result<Output, LabError> {
    run(Command::new("ip").args(args))
}

/// Whether this process may create namespaces.
pub fn is_root() -> bool {
    // SAFETY-free check: /proc/self/status Uid line, effective uid field.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

impl Lab {
    /// Builds `n` node namespaces named `<prefix><pid>x<k>-nN` around a bridge.
    pub fn new(prefix: &str, n: usize) -> Result<Lab, LabError> {
        if !is_root() {
            return Err(LabError::NotRoot);
        }
        let k = LABS.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{prefix}{}x{k}", std::process::id());
        let hub = format!("{tag}-hub");
        let mut lab = Lab {
            hub: hub.clone(),
            nodes: Vec::new(),
            children: Vec::new(),
        };
        ip(&["netns", "add", &hub])?;
        lab.hub_exec(&["ip", "link", "set", "lo", "up"])?;
        lab.hub_exec(&["ip", "link", "add", "br0", "type", "bridge"])?;
        lab.hub_exec(&[
            "ip",
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        lab.hub_exec(&["ip", "link", "set", "br0", "up"])?;
        lab.plain_switch();
        for i in 1..=n {
            let node = LabNode {
                index: i,
                netns: format!("{tag}-n{i}"),
                ipv4: Ipv4Addr::new(192, 0, 2, 10 + i as u8),
                ipv6: Ipv6Addr::new(0xfd00, 0xdb8, 0, 0, 0, 0, 0, 0x10 + i as u16),
                hub_port: format!("v{k}n{i}"),
                ipv4_1: Ipv4Addr::new(198, 51, 100, 10 + i as u8),
                ipv6_1: Ipv6Addr::new(0xfd00, 0xdb9, 0, 0, 0, 0, 0, 0x10 + i as u16),
                hub_port1: format!("w{k}n{i}"),
            };
            ip(&["netns", "add", &node.netns])?;
            lab.nodes.push(node.clone());
            lab.exec(i, &["ip", "link", "set", "lo", "up"])?;
            lab.plug(&node, "eth0", &node.hub_port, "br0", node.ipv4, node.ipv6)?;
            lab.exec(i, &["ip", "route", "add", "224.0.0.0/4", "dev", "eth0"])?;
        }
        Ok(lab)
    }

    /// Adds a second, independent network: bridge `br1` in the hub and `eth1` in every node
    /// with 198.51.100.(10+i)/24 and fd00:db9::(10+i)/64 (knet link 1).
    pub fn add_second_link(&self) -> Result<(), LabError> {
        self.hub_exec(&["ip", "link", "add", "br1", "type", "bridge"])?;
        self.hub_exec(&[
            "ip",
            "link",
            "set",
            "br1",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        self.hub_exec(&["ip", "link", "set", "br1", "up"])?;
        for node in &self.nodes {
            self.plug(
                node,
                "eth1",
                &node.hub_port1,
                "br1",
                node.ipv4_1,
                node.ipv6_1,
            )?;
        }
        Ok(())
    }

    /// Takes a node's port on network `net` (0 = br0, 1 = br1) down or up at the bridge.
    pub fn set_net_link(&self, index: usize, net: usize, up: bool) -> Result<(), LabError> {
        let n = self.node(index);
        let port = if net == 0 { &n.hub_port } else { &n.hub_port1 };
        self.hub_exec(&["ip", "link", "set", port, if up { "up" } else { "down" }])
            .map(|_| ())
    }

    /// Wires `node` to `bridge` in the hub: a veth pair, `dev` in the node with `v4`/24 and
    /// `v6`/64 (no duplicate address detection), `hub_port` in the hub on the bridge, all up.
    fn plug(
        &self,
        node: &LabNode,
        dev: &str,
        hub_port: &str,
        bridge: &str,
        v4: Ipv4Addr,
        v6: Ipv6Addr,
    ) -> Result<(), LabError> {
        let i = node.index;
        self.exec(
            i,
            &[
                "ip", "link", "add", dev, "type", "veth", "peer", "name", hub_port, "netns",
                &self.hub,
            ],
        )?;
        self.exec(i, &["ip", "addr", "add", &format!("{v4}/24"), "dev", dev])?;
        self.exec(
            i,
            &[
                "ip",
                "-6",
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                dev,
                "nodad",
            ],
        )?;
        self.exec(i, &["ip", "link", "set", dev, "up"])?;
        self.hub_exec(&["ip", "link", "set", hub_port, "master", bridge])?;
        self.hub_exec(&["ip", "link", "set", hub_port, "up"])?;
        Ok(())
    }

    /// Makes the hub's bridges a plain switch: with the host's `br_netfilter` loaded, every
    /// bridged frame would also run the IP firewall hooks (`bridge-nf-call-*` = 1), which no
    /// LAN switch does and which cost as much CPU as the rest of the path. The settings are
    /// per namespace (Linux >= 5.3); absent without `br_netfilter`, then nothing to do. The
    /// loss rules of the tests sit in the node namespaces and are not affected.
    fn plain_switch(&self) {
        for f in [
            "bridge-nf-call-iptables",
            "bridge-nf-call-ip6tables",
            "bridge-nf-call-arptables",
        ] {
            let path = format!("/proc/sys/net/bridge/{f}");
            let cmd = format!("[ ! -e {path} ] || echo 0 > {path}");
            if let Err(e) = self.hub_exec(&["sh", "-c", &cmd]) {
                tracing::debug!(error = %e, setting = f, "bridge netfilter setting left as is");
            }
        }
    }

    fn hub_exec(&self, args: &[&str]) -> Result<Output, LabError> {
        let mut v = vec!["netns", "exec", self.hub.as_str()];
        v.extend_from_slice(args);
        ip(&v)
    }

    /// The node with 1-based `index`.
    pub fn node(&self, index: usize) -> &LabNode {
        &self.nodes[index - 1]
    }

    /// Runs a command to completion in a node's namespace.
    pub fn exec(&self, index: usize, args: &[&str]) -> Result<Output, LabError> {
        let mut v = vec!["netns", "exec", self.node(index).netns.as_str()];
        v.extend_from_slice(args);
        ip(&v)
    }

    /// Starts a command in a node's namespace; the lab kills it on drop. Returns its pid.
    pub fn spawn(
        &mut self,
        index: usize,
        args: &[&str],
        log: &std::path::Path,
    ) -> Result<u32, LabError> {
        let ns = self.node(index).netns.clone();
        let file = std::fs::File::create(log).map_err(|source| LabError::Spawn {
            cmd: log.display().to_string(),
            source,
        })?;
        let err = file.try_clone().map_err(|source| LabError::Spawn {
            cmd: log.display().to_string(),
            source,
        })?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err);
        let child = cmd.spawn().map_err(|source| LabError::Spawn {
            cmd: format!("{cmd:?}"),
            source,
        })?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// Takes a node's link down (partition) or up (heal) at the bridge.
    pub fn set_link(&self, index: usize, up: bool) -> Result<(), LabError> {
        self.hub_exec(&[
            "ip",
            "link",
            "set",
            &self.node(index).hub_port,
            if up { "up" } else { "down" },
        ])
        .map(|_| ())
    }

    /// Drops `percent` % of packets entering a node, at random (nftables `numgen random`).
    pub fn set_loss(&self, index: usize, percent: u32) -> Result<(), LabError> {
        let _ = self.exec(index, &["nft", "delete", "table", "inet", "totemloss"]);
        if percent == 0 {
            return Ok(());
        }
        let rules = format!(
            "table inet totemloss {{ chain input {{ type filter hook input priority 0; policy accept; udp dport 5404-5409 numgen random mod 100 < {percent} counter drop; }}; }}"
        );
        self.exec(index, &["nft", &rules]).map(|_| ())
    }

    /// Packets the loss rule of node `index` dropped so far (`None` without a rule).
    pub fn loss_drops(&self, index: usize) -> Option<u64> {
        let out = self
            .exec(index, &["nft", "list", "table", "inet", "totemloss"])
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let rest = text.split("counter packets ").nth(1)?;
        rest.split_whitespace().next()?.parse().ok()
    }

    /// Sends `signal` to a process started with [`Lab::spawn`] and reaps it.
    pub fn signal(&mut self, pid: u32, signal: &str) {
        let _ = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status();
        if let Some(pos) = self.children.iter().position(|c| c.id() == pid) {
            if signal == "KILL" {
                let mut c = self.children.remove(pos);
                let _ = c.wait();
            }
        }
    }

    /// Waits (bounded) for a started process to exit; true if it did.
    pub fn wait_exit(&mut self, pid: u32, timeout: std::time::Duration) -> bool {
        let Some(pos) = self.children.iter().position(|c| c.id() == pid) else {
            return true;
        };
        let exited = crate::wait::until(timeout, std::time::Duration::from_millis(50), || {
            matches!(self.children[pos].try_wait(), Ok(Some(_))).then_some(())
        });
        if exited.is_some() {
            // Already reaped by try_wait; wait() just returns the status.
            let _ = self.children.remove(pos).wait();
            true
        } else {
            false
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let pid = c.id();
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        for c in &mut self.children {
            while std::time::Instant::now() < deadline {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
            // corosync leaves its libqb blackbox in /dev/shm when killed.
            for f in ["data", "header"] {
                let _ =
                    std::fs::remove_file(format!("/dev/shm/qb-corosync-{}-blackbox-{f}", c.id()));
            }
        }
        for n in &self.nodes {
            let _ = ip(&["netns", "del", &n.netns]);
        }
        let _ = ip(&["netns", "del", &self.hub]);
    }
}
