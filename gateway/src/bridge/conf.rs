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
//!
//! Rings of unmodified corosync daemons are bridged group by group, each sender's order
//! kept and the groups' membership mirrored (no global order: that needs our nodes):
//!
//! ```text
//! bridge {
//!     mode: fifo                       # default: global (rings of our nodes)
//!     ring: /etc/corosync/site-a.conf  # the rings' own corosync.conf files
//!     ring: /etc/corosync/site-b.conf
//!     groups: pacemaker-notify app     # the groups to bridge (required)
//!     generation: 3                    # the daemons' major version (2 or 3; default 3)
//! }
//! ```
//!
//! A WAN gateway names one ring, its own site's, and the link to the other site's gateway:
//!
//! ```text
//! bridge {
//!     ring: /etc/corosync/corosync.conf
//!     wan {
//!         listen: 203.0.113.1:7700     # or  peer: 203.0.113.2:7700  (one side each)
//!         key: /etc/corosync/authkey   # the cluster authkey, the same file on both sites
//!         groups: bench ops            # optional: only these groups cross
//!         heartbeat_ms: 500
//!         dead_ms: 3000
//!     }
//! }
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
    /// A WAN gateway's link (then `rings` has one entry).
    pub wan: Option<WanConf>,
    /// Global order (our nodes) or per-sender order (unmodified corosync rings).
    pub mode: Mode,
    /// Groups a FIFO bridge mirrors.
    pub groups: Vec<Vec<u8>>,
    /// The rings' corosync major version (FIFO bridges of corosync 2.x rings).
    pub generation: Option<totem_wire::Generation>,
}

/// What a bridge keeps across rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The multiple-ring protocol's one total order (every ring's nodes are ours).
    Global,
    /// Each sender's order and the groups' membership (rings of corosync daemons).
    Fifo,
}

/// The `wan` subsection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WanConf {
    pub role: super::wan::Role,
    pub key: PathBuf,
    /// Groups that may cross (`None`: every group).
    pub groups: Option<Vec<Vec<u8>>>,
    pub heartbeat_ms: u64,
    pub dead_ms: u64,
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
    #[error("a WAN gateway names exactly one ring, its own site's (it names {0})")]
    WanRingCount(usize),
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
        let mut mode = Mode::Global;
        let mut groups = Vec::new();
        let mut generation = None;
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
                "mode" => {
                    mode = match e.value.as_str() {
                        "global" => Mode::Global,
                        "fifo" => Mode::Fifo,
                        _ => return Err(refused("global (our nodes) or fifo (corosync rings)")),
                    }
                }
                "groups" => {
                    for g in e.value.split_whitespace() {
                        if g.len() > 128 {
                            return Err(refused("a group name is at most 128 bytes"));
                        }
                        groups.push(g.as_bytes().to_vec());
                    }
                }
                "generation" => {
                    generation = Some(match e.value.as_str() {
                        "2" => totem_wire::Generation::G2,
                        "3" => totem_wire::Generation::G3,
                        _ => return Err(refused("2 (corosync 2.x) or 3 (corosync 3.x)")),
                    })
                }
                _ => {
                    return Err(refused(
                        "unknown key (bridge has ring, mode, groups, generation, selective, metrics, nodeid)",
                    ))
                }
            }
        }
        let wan = s.section("wan").map(|w| wan_section(w, base)).transpose()?;
        if let Some(sub) = s.subsections().find(|x| x.name != "wan") {
            return Err(BridgeConfError::Refused {
                key: sub.name.clone(),
                value: String::new(),
                line: sub.line,
                reason: "unknown section (bridge has wan)".into(),
            });
        }
        if mode == Mode::Fifo && groups.is_empty() {
            return Err(BridgeConfError::Refused {
                key: "groups".into(),
                value: String::new(),
                line: s.line,
                reason: "a fifo bridge names the groups it mirrors".into(),
            });
        }
        if mode == Mode::Fifo && wan.is_some() {
            return Err(BridgeConfError::Refused {
                key: "wan".into(),
                value: String::new(),
                line: s.line,
                reason: "a fifo bridge joins two rings in one process; WAN links carry the global order only".into(),
            });
        }
        match (&wan, rings.len()) {
            (None, 2) | (Some(_), 1) => {}
            (None, n) => return Err(BridgeConfError::RingCount(n)),
            (Some(_), n) => return Err(BridgeConfError::WanRingCount(n)),
        }
        Ok(BridgeConf {
            rings,
            selective,
            metrics,
            nodeid,
            wan,
            mode,
            groups,
            generation,
        })
    }
}

fn wan_section(
    s: &totem::corosync_conf::Section,
    base: &std::path::Path,
) -> Result<WanConf, BridgeConfError> {
    use super::wan::Role;
    let mut role = None;
    let mut key = PathBuf::from("/etc/corosync/authkey");
    let mut groups = None;
    let mut heartbeat_ms = 500;
    let mut dead_ms = 3000;
    for e in s.entries() {
        let refused = |reason: &str| BridgeConfError::Refused {
            key: format!("wan.{}", e.key),
            value: e.value.clone(),
            line: e.line,
            reason: reason.into(),
        };
        let addr = || {
            e.value
                .parse::<SocketAddr>()
                .map_err(|_| refused("an address and port, e.g. 203.0.113.1:7700"))
        };
        let ms = || {
            e.value
                .parse::<u64>()
                .ok()
                .filter(|v| (10..=600_000).contains(v))
                .ok_or_else(|| refused("milliseconds, 10 to 600000"))
        };
        match e.key.as_str() {
            "listen" | "peer" if role.is_some() => {
                return Err(refused(
                    "one of listen or peer, once: one side listens, the other connects",
                ))
            }
            "listen" => role = Some(Role::Listen(addr()?)),
            "peer" => role = Some(Role::Connect(addr()?)),
            "key" => key = base.join(&e.value),
            "groups" => {
                groups = Some(
                    e.value
                        .split_whitespace()
                        .map(|g| g.as_bytes().to_vec())
                        .collect(),
                )
            }
            "heartbeat_ms" => heartbeat_ms = ms()?,
            "dead_ms" => dead_ms = ms()?,
            _ => {
                return Err(refused(
                    "unknown key (wan has listen, peer, key, groups, heartbeat_ms, dead_ms)",
                ))
            }
        }
    }
    let role = role.ok_or_else(|| BridgeConfError::Refused {
        key: "wan.listen".into(),
        value: String::new(),
        line: s.line,
        reason: "missing: listen (this side accepts) or peer (this side connects)".into(),
    })?;
    if dead_ms <= heartbeat_ms {
        return Err(BridgeConfError::Refused {
            key: "wan.dead_ms".into(),
            value: dead_ms.to_string(),
            line: s.line,
            reason: format!("must be above heartbeat_ms ({heartbeat_ms})"),
        });
    }
    Ok(WanConf {
        role,
        key,
        groups,
        heartbeat_ms,
        dead_ms,
    })
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

    #[test]
    fn a_fifo_bridge_names_its_groups() {
        let base = Path::new("/");
        let c = BridgeConf::parse(
            "bridge {\n mode: fifo\n ring: a\n ring: b\n groups: x y\n generation: 2\n}\n",
            base,
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Fifo);
        assert_eq!(c.groups, vec![b"x".to_vec(), b"y".to_vec()]);
        assert_eq!(c.generation, Some(totem_wire::Generation::G2));
        let e =
            BridgeConf::parse("bridge {\n mode: fifo\n ring: a\n ring: b\n}\n", base).unwrap_err();
        assert!(e.to_string().contains("names the groups"), "{e}");
        let e = BridgeConf::parse("bridge {\n mode: total\n}\n", base).unwrap_err();
        assert!(e.to_string().contains("global"), "{e}");
    }

    #[test]
    fn a_wan_gateway_names_its_ring_and_its_peer() {
        let c = BridgeConf::parse(
            "bridge {\n ring: r0.conf\n wan {\n  peer: 203.0.113.2:7700\n  key: authkey\n  groups: a b\n }\n}\n",
            Path::new("/cfg"),
        )
        .unwrap();
        let w = c.wan.unwrap();
        assert_eq!(
            w.role,
            super::super::wan::Role::Connect("203.0.113.2:7700".parse().unwrap())
        );
        assert_eq!(w.key, PathBuf::from("/cfg/authkey"));
        assert_eq!(w.groups, Some(vec![b"a".to_vec(), b"b".to_vec()]));
        let base = Path::new("/");
        assert_eq!(
            BridgeConf::parse(
                "bridge {\n ring: a\n ring: b\n wan {\n listen: 127.0.0.1:1\n }\n}\n",
                base
            ),
            Err(BridgeConfError::WanRingCount(2))
        );
        let e = BridgeConf::parse(
            "bridge {\n ring: a\n wan {\n listen: 127.0.0.1:1\n peer: 127.0.0.1:2\n }\n}\n",
            base,
        )
        .unwrap_err();
        assert!(e.to_string().contains("one side listens"), "{e}");
        let e =
            BridgeConf::parse("bridge {\n ring: a\n wan {\n key: k\n }\n}\n", base).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        let e = BridgeConf::parse(
            "bridge {\n ring: a\n wan {\n listen: 127.0.0.1:1\n dead_ms: 100\n }\n}\n",
            base,
        )
        .unwrap_err();
        assert!(e.to_string().contains("above heartbeat_ms"), "{e}");
    }
}
