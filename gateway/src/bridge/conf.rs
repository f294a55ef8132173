//! The bridge's configuration file, in corosync.conf's grammar:
//!
//! ```text
//! bridge {
//!     ring: /etc/corosync/ring0.conf   # a ring's corosync.conf, with its mrp section and
//!     ring: /etc/corosync/ring1.conf   # this host's address in its nodelist (two rings)
//!     selective: yes                   # forward a group only where it has members
//!     metrics: 127.0.0.1:9406          # Prometheus text on GET /metrics
//!     nodeid: 7                        # optional: the bridge's nodelist entry in every
//! }                                    # ring (default: found by local address)
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

/// What the bridge runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConf {
    /// The rings' corosync.conf files (exactly two).
    pub rings: Vec<PathBuf>,
    pub selective: bool,
    pub metrics: SocketAddr,
    /// The bridge's nodeid in every ring's nodelist (`None`: by local address).
    pub nodeid: Option<u32>,
}

/// Default metrics address of a bridge (the upgrade gateway uses 9405).
pub const DEFAULT_METRICS: &str = "127.0.0.1:9406";

/// Why a bridge configuration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BridgeConfError {
    #[error("not in corosync.conf syntax: {0}")]
    Syntax(String),
    #[error("no bridge section")]
    NoSection,
    #[error("line {line}: bridge.{key} = {value:?}: {reason}")]
    Refused {
        key: String,
        value: String,
        line: usize,
        reason: String,
    },
    #[error("bridge names {0} rings; a LAN bridge joins exactly two (chain more rings with more bridges)")]
    RingCount(usize),
}

impl BridgeConf {
    /// Reads a bridge configuration; relative ring paths are taken from `base`.
    pub fn parse(text: &str, base: &std::path::Path) -> Result<Self, BridgeConfError> {
        let root = totem::corosync_conf::parse(text)
            .map_err(|e| BridgeConfError::Syntax(e.to_string()))?;
        let s = root.section("bridge").ok_or(BridgeConfError::NoSection)?;
        let mut rings = Vec::new();
        let mut selective = true;
        let mut metrics: SocketAddr = DEFAULT_METRICS.parse().expect("a socket address");
        let mut nodeid = None;
        for e in s.entries() {
            let refused = |reason: &str| BridgeConfError::Refused {
                key: e.key.clone(),
                value: e.value.clone(),
                line: e.line,
                reason: reason.into(),
            };
            match e.key.as_str() {
                "ring" => rings.push(base.join(&e.value)),
                "selective" => {
                    selective = match e.value.as_str() {
                        "yes" | "on" | "1" => true,
                        "no" | "off" | "0" => false,
                        _ => return Err(refused("yes or no")),
                    }
                }
                "metrics" => {
                    metrics = e
                        .value
                        .parse()
                        .map_err(|_| refused("an address and port, e.g. 127.0.0.1:9406"))?
                }
                "nodeid" => {
                    nodeid = Some(
                        e.value
                            .parse::<u32>()
                            .ok()
                            .filter(|n| *n != 0)
                            .ok_or_else(|| refused("a nodeid (1 to 4294967295)"))?,
                    )
                }
                _ => {
                    return Err(refused(
                        "unknown key (bridge has ring, selective, metrics, nodeid)",
                    ))
                }
            }
        }
        if rings.len() != 2 {
            return Err(BridgeConfError::RingCount(rings.len()));
        }
        Ok(BridgeConf {
            rings,
            selective,
            metrics,
            nodeid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_bridge_of_two_rings() {
        let c = BridgeConf::parse(
            "bridge {\n ring: r0.conf\n ring: /etc/r1.conf\n selective: no\n metrics: 127.0.0.1:9500\n nodeid: 7\n}\n",
            Path::new("/cfg"),
        )
        .unwrap();
        assert_eq!(
            c.rings,
            vec![PathBuf::from("/cfg/r0.conf"), PathBuf::from("/etc/r1.conf")]
        );
        assert!(!c.selective);
        assert_eq!(c.metrics.port(), 9500);
        assert_eq!(c.nodeid, Some(7));
    }

    #[test]
    fn what_is_refused_is_named() {
        let base = Path::new("/");
        assert_eq!(
            BridgeConf::parse("bridge {\n ring: a\n}\n", base),
            Err(BridgeConfError::RingCount(1))
        );
        assert_eq!(
            BridgeConf::parse("totem {\n}\n", base),
            Err(BridgeConfError::NoSection)
        );
        let e = BridgeConf::parse("bridge {\n ring: a\n ring: b\n metrics: nine\n}\n", base)
            .unwrap_err();
        assert!(
            matches!(e, BridgeConfError::Refused { ref key, line: 4, .. } if key == "metrics"),
            "{e}"
        );
        let e = BridgeConf::parse("bridge {\n wan: x\n}\n", base).unwrap_err();
        assert!(e.to_string().contains("unknown key"), "{e}");
    }
}
