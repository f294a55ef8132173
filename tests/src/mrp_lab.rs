//! Multiple-ring labs: rings of our totem-nodes with an `mrp` section, the gateway's
//! metrics, and two site namespaces joined by an emulated WAN (veth, tbf, nftables loss;
//! the propagation delay is `totem-wan-emu`'s, the lab kernel having no netem).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::ring::{Bins, Ring, Timers};
use crate::wait;

/// A ring `n` of `nodes` and its gateway `gw` on 127.81.n.i (nodeid i), mcastport `port`,
/// with `mrp { ring: n }` (or none when `mrp` is false).
pub fn mrp_ring(
    bins: Bins,
    n: u8,
    nodes: &[usize],
    gw: Option<usize>,
    port: u16,
    mrp: bool,
    dir: &Path,
) -> Ring {
    let members: Vec<(usize, IpAddr)> = nodes
        .iter()
        .chain(gw.iter())
        .map(|&i| (i, IpAddr::V4(Ipv4Addr::new(127, 81, n, i as u8))))
        .collect();
    let r = Ring::new(bins, &members, Some(port), Timers::default(), dir);
    if mrp {
        let path = dir.join("corosync.conf");
        let mut conf = std::fs::read_to_string(&path).expect("ring conf");
        conf += &format!("\nmrp {{\n    ring: {n}\n}}\n");
        std::fs::write(&path, conf).expect("ring conf");
    }
    r
}

/// Waits until the nodes of `ring` report exactly `want` (sorted) as operational members.
pub fn wait_members(
    ring: &Ring,
    nodes: &[usize],
    want: &[u32],
    timeout: Duration,
) -> Result<(), String> {
    wait::until(timeout, Duration::from_millis(200), || {
        nodes
            .iter()
            .all(|&i| {
                ring.status(i)
                    .is_some_and(|(m, s)| m == want && s.eq_ignore_ascii_case("operational"))
            })
            .then_some(())
    })
    .ok_or_else(|| {
        format!(
            "ring of {nodes:?} did not reach {want:?}: {:?}\n{}",
            nodes.iter().map(|&i| ring.status(i)).collect::<Vec<_>>(),
            ring.log_tails(nodes, 20)
        )
    })
}

/// A gateway's metrics page over HTTP from this namespace.
pub fn metrics_here(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    Some(text.split_once("\r\n\r\n")?.1.to_string())
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Two site namespaces and the veth between them (203.0.113.1 in site A, .2 in site B):
/// `rate` (tbf) each way and `loss_pct` % loss each way on the TCP segments of port 7700
/// (nftables). Removed on drop: drop the processes in them first.
pub struct Sites {
    pub ns: [String; 2],
}

impl Sites {
    pub fn new(tag: &str, rate: &str, loss_pct: u32) -> Result<Sites, String> {
        let tag = format!("{tag}{}", std::process::id());
        let s = Sites {
            ns: [format!("{tag}-a"), format!("{tag}-b")],
        };
        for n in &s.ns {
            ip(&["netns", "add", n])?;
            ip(&["netns", "exec", n, "ip", "link", "set", "lo", "up"])?;
        }
        ip(&[
            "netns", "exec", &s.ns[0], "ip", "link", "add", "wa", "type", "veth", "peer", "name",
            "wb", "netns", &s.ns[1],
        ])?;
        for (n, dev, addr, dir) in [
            (&s.ns[0], "wa", "203.0.113.1/24", "dport"),
            (&s.ns[1], "wb", "203.0.113.2/24", "sport"),
        ] {
            ip(&["netns", "exec", n, "ip", "addr", "add", addr, "dev", dev])?;
            ip(&["netns", "exec", n, "ip", "link", "set", dev, "up"])?;
            // A kernel without tbf runs the link unshaped (said once, on stderr).
            if let Err(e) = ip(&[
                "netns", "exec", n, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate,
                "burst", "64kb", "latency", "100ms",
            ]) {
                eprintln!("mrp_lab: WAN rate limit unavailable, link unshaped: {e}");
            }
            if loss_pct > 0 {
                let rules = format!(
                    "table inet wanloss {{ chain input {{ type filter hook input priority 0; policy accept; tcp {dir} 7700 numgen random mod 100 < {loss_pct} counter drop; }}; }}"
                );
                ip(&["netns", "exec", n, "nft", &rules])?;
            }
        }
        Ok(s)
    }

    /// `argv` run in site `site`'s namespace.
    pub fn argv(&self, site: usize, argv: Vec<String>) -> Vec<String> {
        let mut v = vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            self.ns[site].clone(),
        ];
        v.extend(argv);
        v
    }

    /// Cuts (or heals) the WAN at site A's end.
    pub fn set_wan(&self, up: bool) -> Result<(), String> {
        ip(&[
            "netns",
            "exec",
            &self.ns[0],
            "ip",
            "link",
            "set",
            "wa",
            if up { "up" } else { "down" },
        ])
    }

    /// A gateway's metrics page, fetched inside site `site` with `gateway_bin status`.
    pub fn metrics(&self, site: usize, gateway_bin: &str, addr: &str) -> String {
        self.gateway_status(site, gateway_bin, &["--raw", "--metrics", addr])
    }

    /// `gateway_bin status` in site `site`.
    pub fn status(&self, site: usize, gateway_bin: &str, addr: &str) -> String {
        self.gateway_status(site, gateway_bin, &["--metrics", addr])
    }

    fn gateway_status(&self, site: usize, gateway_bin: &str, args: &[&str]) -> String {
        Command::new("ip")
            .args(["netns", "exec", &self.ns[site], gateway_bin, "status"])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Sites {
    fn drop(&mut self) {
        for n in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}
