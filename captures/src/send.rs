//! Putting a capture's datagrams back on the wire: addresses rewritten by `OLD=NEW` maps,
//! with the capture's timing (scaled by a speed factor) or as fast as possible.
//!
//! A datagram is sent when its destination matches a map (`OLD` an address, or address and
//! port); it goes to `NEW` (with the original port unless `NEW` names one). When its source
//! matches a map too, it is sent from a socket bound to that `NEW` address (port 0 unless
//! both sides of the map name a port), so a receiver sees the rewritten source; otherwise
//! from an unbound socket.
//! Datagrams no map covers are skipped. The payload is sent as captured, byte for byte.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::UdpDatagram;

/// One side of a map: an address, optionally with a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// IP address.
    pub ip: IpAddr,
    /// Port, if given.
    pub port: Option<u16>,
}

impl std::str::FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(Endpoint {
                ip: sa.ip(),
                port: Some(sa.port()),
            });
        }
        let ip = s.trim_start_matches('[').trim_end_matches(']');
        ip.parse::<IpAddr>()
            .map(|ip| Endpoint { ip, port: None })
            .map_err(|_| format!("{s:?}: expected IP, IP:PORT or [IPv6]:PORT"))
    }
}

impl Endpoint {
    fn matches(&self, a: SocketAddr) -> bool {
        self.ip == a.ip() && self.port.is_none_or(|p| p == a.port())
    }
}

/// An address rewrite `OLD=NEW`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Map {
    /// What the capture shows.
    pub old: Endpoint,
    /// What to use instead.
    pub new: Endpoint,
}

impl std::str::FromStr for Map {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected OLD=NEW"))?;
        let (old, new): (Endpoint, Endpoint) = (a.parse()?, b.parse()?);
        if old.ip.is_ipv4() != new.ip.is_ipv4() {
            return Err(format!("{s:?}: OLD and NEW must be of one address family"));
        }
        Ok(Map { old, new })
    }
}

fn rewrite(maps: &[Map], a: SocketAddr) -> Option<SocketAddr> {
    maps.iter()
        .find(|m| m.old.matches(a))
        .map(|m| SocketAddr::new(m.new.ip, m.new.port.unwrap_or(a.port())))
}

/// One datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Frame it came from.
    pub frame: u64,
    /// Time after the first datagram of the capture.
    pub offset: Duration,
    /// Address to bind the sending socket to (port 0: any).
    pub from: SocketAddr,
    /// Destination.
    pub to: SocketAddr,
    /// The payload, as captured.
    pub payload: Vec<u8>,
}

/// Why a plan or a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A destination outside 127.0.0.0/8 and ::1 without permission.
    #[error("frame {frame}: destination {to} is not a loopback address (pass --allow-remote to send there)")]
    Remote {
        /// The frame.
        frame: u64,
        /// The destination.
        to: SocketAddr,
    },
    /// A socket operation failed.
    #[error("frame {frame}: {op} {addr}")]
    Io {
        /// The frame.
        frame: u64,
        /// What was being done.
        op: &'static str,
        /// The address involved.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Rewrites the capture's datagrams; returns what to send and how many were skipped.
pub fn plan(
    datagrams: &[UdpDatagram],
    maps: &[Map],
    allow_remote: bool,
) -> Result<(Vec<Planned>, usize), SendError> {
    let t0 = datagrams.first().map(|d| d.timestamp).unwrap_or_default();
    let mut out = Vec::new();
    let mut skipped = 0;
    for d in datagrams {
        let Some(to) = rewrite(maps, d.dst) else {
            skipped += 1;
            continue;
        };
        if !allow_remote && !to.ip().is_loopback() {
            return Err(SendError::Remote { frame: d.frame, to });
        }
        // A source is bound to the NEW address; to its port only if the map names both ports.
        let from = match maps.iter().find(|m| m.old.matches(d.src)) {
            Some(m) => SocketAddr::new(m.new.ip, m.old.port.and(m.new.port).unwrap_or(0)),
            None if to.is_ipv4() => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            None => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
        };
        out.push(Planned {
            frame: d.frame,
            offset: d.timestamp.saturating_sub(t0),
            from,
            to,
            payload: d.payload.clone(),
        });
    }
    Ok((out, skipped))
}

/// What a send did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Datagrams sent.
    pub datagrams: u64,
    /// Payload bytes sent.
    pub bytes: u64,
}

/// Sends the plan: at `offset / speed` after the start, or back to back when `speed` is 0.
pub fn send(plan: &[Planned], speed: f64) -> Result<Sent, SendError> {
    let mut sockets: HashMap<SocketAddr, UdpSocket> = HashMap::new();
    let start = Instant::now();
    let mut sent = Sent::default();
    for p in plan {
        if speed > 0.0 {
            let due = start + p.offset.div_f64(speed);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let sock = match sockets.entry(p.from) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let s = UdpSocket::bind(p.from).map_err(|source| SendError::Io {
                    frame: p.frame,
                    op: "bind",
                    addr: p.from,
                    source,
                })?;
                v.insert(s)
            }
        };
        let n = sock
            .send_to(&p.payload, p.to)
            .map_err(|source| SendError::Io {
                frame: p.frame,
                op: "send to",
                addr: p.to,
                source,
            })?;
        sent.datagrams += 1;
        sent.bytes += n as u64;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dgram(frame: u64, ms: u64, src: &str, dst: &str) -> UdpDatagram {
        UdpDatagram {
            frame,
            timestamp: Duration::from_millis(1000 + ms),
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            payload: vec![frame as u8; 3],
            fragments: 1,
        }
    }

    #[test]
    fn maps_parse_and_rewrite_address_and_port() {
        let m: Map = "192.0.2.12=127.0.0.1:9999".parse().unwrap();
        assert_eq!(m.new.port, Some(9999));
        assert!("192.0.2.12".parse::<Map>().is_err());
        assert!("192.0.2.12=::1".parse::<Map>().is_err());
        let m6: Map = "[fd00::12]:5405=[::1]:7000".parse().unwrap();
        assert_eq!(m6.old.port, Some(5405));
        let maps = vec![m, "192.0.2.11=127.0.0.11".parse().unwrap()];
        let d = [
            dgram(1, 0, "192.0.2.11:5405", "192.0.2.12:5405"),
            dgram(2, 5, "192.0.2.12:5405", "192.0.2.13:5405"),
            dgram(3, 9, "192.0.2.13:5405", "192.0.2.11:5405"),
        ];
        let (p, skipped) = plan(&d, &maps, false).unwrap();
        assert_eq!(skipped, 1);
        assert_eq!(p[0].to, "127.0.0.1:9999".parse().unwrap());
        assert_eq!(p[0].from, "127.0.0.11:0".parse().unwrap());
        assert_eq!(p[1].frame, 3);
        assert_eq!(p[1].to, "127.0.0.11:5405".parse().unwrap());
        assert_eq!(p[1].offset, Duration::from_millis(9));
        assert_eq!(p[1].from, "0.0.0.0:0".parse().unwrap());
    }

    #[test]
    fn refuses_remote_destinations_unless_allowed() {
        let maps: Vec<Map> = vec!["192.0.2.12=198.51.100.1".parse().unwrap()];
        let d = [dgram(7, 0, "192.0.2.11:5405", "192.0.2.12:5405")];
        let e = plan(&d, &maps, false).unwrap_err();
        assert!(e.to_string().contains("frame 7"), "{e}");
        assert_eq!(plan(&d, &maps, true).unwrap().0.len(), 1);
    }
}
