//! Shared test helpers: running tshark as the oracle and reading its field output.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use totem_captures::UdpDatagram;

pub mod build;

pub const FILTER: &str = "(udp.port==5405 || udp.port==5404) && !icmp && !icmpv6";

/// What tshark says about one matching frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Expected {
    pub frame: u64,
    pub timestamp: Duration,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub fragments: u32,
    pub payload: Vec<u8>,
}

pub fn tshark_present() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The bundled real captures (`captures/real`), or $TOTEM_CAPTURES_DIR.
pub fn captures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TOTEM_CAPTURES_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("real")
}

/// "1795320352.239326531" -> Duration.
pub fn parse_epoch(s: &str) -> Duration {
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let mut frac = frac.to_string();
    assert!(frac.len() <= 9, "epoch {s}");
    while frac.len() < 9 {
        frac.push('0');
    }
    Duration::new(secs.parse().unwrap(), frac.parse().unwrap())
}

pub fn tshark(file: &Path) -> Vec<Expected> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-o", "ip.defragment:TRUE", "-o", "ipv6.defragment:TRUE"])
        .args(["-Y", FILTER, "-T", "fields", "-E", "separator=/t"])
        .args(["-e", "frame.number", "-e", "frame.time_epoch"])
        .args(["-e", "ip.src", "-e", "ipv6.src", "-e", "udp.srcport"])
        .args(["-e", "ip.dst", "-e", "ipv6.dst", "-e", "udp.dstport"])
        .args(["-e", "ip.fragment.count", "-e", "ipv6.fragment.count"])
        .args(["-e", "udp.payload"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed on {file:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("tshark output is UTF-8");
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 11, "unexpected tshark line in {file:?}: {line}");
            let addr = |v4: &str, v6: &str| -> IpAddr {
                let a = if v4.is_empty() { v6 } else { v4 };
                a.parse()
                    .unwrap_or_else(|_| panic!("address {a:?} in {line}"))
            };
            let frags = if !f[8].is_empty() { f[8] } else { f[9] };
            Expected {
                frame: f[0].parse().unwrap(),
                timestamp: parse_epoch(f[1]),
                src: SocketAddr::new(addr(f[2], f[3]), f[4].parse().unwrap()),
                dst: SocketAddr::new(addr(f[5], f[6]), f[7].parse().unwrap()),
                fragments: if frags.is_empty() {
                    1
                } else {
                    frags.parse().unwrap()
                },
                payload: hex::decode(f[10]).unwrap_or_else(|e| panic!("hex in {line}: {e}")),
            }
        })
        .collect()
}

pub fn ours(d: &UdpDatagram) -> Expected {
    Expected {
        frame: d.frame,
        timestamp: d.timestamp,
        src: d.src,
        dst: d.dst,
        fragments: d.fragments,
        payload: d.payload.clone(),
    }
}
