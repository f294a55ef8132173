//! Compares the datagrams we extract from the real captures in `shared/captures` with what tshark
//! (the independent oracle, IP reassembly on) reports for the same files: frame numbers, payload
//! bytes, timestamps, addresses, ports and fragment counts.
//!
//! tshark's filter excludes ICMP: a port-unreachable error quotes the offending IP+UDP header, and
//! `udp.port==5405` matches that quoted header too; those frames carry no datagram of their own.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use totem_captures::{read_udp, PortFilter, UdpDatagram};

const FILTER: &str = "(udp.port==5405 || udp.port==5404) && !icmp && !icmpv6";

/// What tshark says about one matching frame.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    frame: u64,
    timestamp: Duration,
    src: SocketAddr,
    dst: SocketAddr,
    fragments: u32,
    payload: Vec<u8>,
}

fn tshark_present() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `shared/captures`: $TOTEM_CAPTURES_DIR, or the first ancestor of this crate holding it.
fn captures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TOTEM_CAPTURES_DIR") {
        return PathBuf::from(dir);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|a| a.join("shared").join("captures"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| {
            panic!("shared/captures not found above {here:?}; set TOTEM_CAPTURES_DIR")
        })
}

/// "1795320352.239326531" -> Duration.
fn parse_epoch(s: &str) -> Duration {
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let mut frac = frac.to_string();
    assert!(frac.len() <= 9, "epoch {s}");
    while frac.len() < 9 {
        frac.push('0');
    }
    Duration::new(secs.parse().unwrap(), frac.parse().unwrap())
}

fn tshark(file: &Path) -> Vec<Expected> {
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

fn ours(d: &UdpDatagram) -> Expected {
    Expected {
        frame: d.frame,
        timestamp: d.timestamp,
        src: d.src,
        dst: d.dst,
        fragments: d.fragments,
        payload: d.payload.clone(),
    }
}

/// Checks one capture against tshark; returns (datagrams, fragmented datagrams), or None if skipped.
fn check(name: &str) -> Option<(usize, usize)> {
    if !tshark_present() {
        println!("SKIP: tshark missing");
        return None;
    }
    let file = captures_dir().join(name);
    let expected = tshark(&file);
    let (got, stats) = read_udp(&file, &PortFilter::default()).expect("read capture");
    assert_eq!(
        got.len(),
        expected.len(),
        "{name}: datagram count (ours vs tshark)"
    );
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(&ours(g), e, "{name}: frame {}", e.frame);
    }
    assert_eq!(
        stats.matched,
        expected.len() as u64,
        "{name}: stats.matched"
    );
    assert_eq!(stats.malformed, 0, "{name}: malformed frames");
    assert_eq!(
        stats.incomplete_fragments, 0,
        "{name}: incomplete reassemblies"
    );
    let fragmented = got.iter().filter(|d| d.fragments > 1).count();
    println!(
        "{name}: {} datagrams match tshark ({fragmented} reassembled), stats {stats:?}",
        got.len()
    );
    Some((got.len(), fragmented))
}

#[test]
fn g1_1_4_10_udp_formation() {
    if let Some((n, _)) = check("1.4.10-udp-01-formation.pcapng") {
        assert_eq!(n, 419);
    }
}

#[test]
fn g1_1_4_10_udpu_secauth_formation_has_fragments() {
    if let Some((n, fragmented)) = check("1.4.10-udpu-secauth-01-formation.pcapng") {
        // 16 fragment frames in tshark: 8 datagrams of two fragments each.
        assert_eq!((n, fragmented), (475, 8));
    }
}

#[test]
fn g1_openais_0_80_6_udp_formation() {
    if let Some((n, _)) = check("openais-0.80.6-udp-01-formation.pcapng") {
        assert_eq!(n, 480);
    }
}

#[test]
fn g2_2_4_6_udpu_formation() {
    if let Some((n, _)) = check("2.4.6-udpu-01-formation.pcapng") {
        assert_eq!(n, 343);
    }
}

#[test]
fn g2_2_4_6_udpu_ipv6_formation() {
    if let Some((n, _)) = check("2.4.6-udpu-ipv6-01-formation.pcapng") {
        assert_eq!(n, 338);
    }
}

#[test]
fn g2_2_4_6_rrp_active_with_icmp_errors() {
    if let Some((n, _)) = check("2.4.6-udpu-rrp-active-01-formation.pcapng") {
        assert_eq!(n, 693);
    }
}

/// Every capture in the directory, so new captures are covered without editing this file.
#[test]
fn every_shared_capture_matches_tshark() {
    if !tshark_present() {
        println!("SKIP: tshark missing");
        return;
    }
    let mut names: Vec<String> = std::fs::read_dir(captures_dir())
        .expect("list captures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".pcapng") || n.ends_with(".pcap"))
        .collect();
    names.sort();
    assert!(names.len() >= 3, "too few captures: {names:?}");
    for name in &names {
        check(name);
    }
}
