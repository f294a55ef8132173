//! `gateway.conf`: what `totem-gateway run` needs, in corosync.conf syntax.
//!
//! ```text
//! gateway {
//!     nodeid: 3              # the node this gateway serves (runs corosync 3)
//!     ring_port: 5405        # where the corosync 2 daemons send (on this node's ring0_addr)
//!     ring1_port: 5405       # the same on ring1_addr (RRP; default ring_port)
//!     daemon_addr: 127.0.1.3 # the local corosync 3's address (its own ring0_addr)
//!     daemon_port: 5405      # its port
//!     metrics_port: 9405     # Prometheus metrics on 127.0.0.1 (0: off)
//!     crypto_cipher: none    # the 2.x ring's crypto (aes256 …) and hash (sha1 …)
//!     crypto_hash: none
//!     keyfile: /etc/corosync/authkey
//!     daemon_transport: knet # how the local corosync 3 talks: knet (default of plan) or udpu
//!     daemon_crypto_model: nss    # knet crypto towards the local daemon (knet only)
//!     daemon_crypto_cipher: none
//!     daemon_crypto_hash: none
//!     daemon_token: 1000     # the daemon's token timeout in ms (knet heartbeat timers)
//! }
//! nodelist {
//!     node {
//!         nodeid: 1
//!         ring0_addr: 192.0.2.11   # the address the 2.x ring knows
//!         ring1_addr: 198.51.100.11 # its second ring (RRP), if the 2.x cluster has one
//!         shadow_addr: 127.0.1.1   # where the local corosync 3 reaches node 1
//!     }
//! }
//! ```

use std::net::{IpAddr, SocketAddr};

use totem::corosync_conf::{parse, Section};
use totem_wire::envelope::knet::KnetCryptoConfig;
use totem_wire::retarget::{AddressBook, BookEntry};

/// One node as the gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub nodeid: u32,
    pub ring0: IpAddr,
    /// Its ring 1 address (RRP).
    pub ring1: Option<IpAddr>,
    /// Where the local daemon reaches this node (its address in the corosync 3 config).
    pub shadow: IpAddr,
}

/// How the local corosync 3 reaches the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonTransport {
    /// udpu: one plain Totem message a datagram.
    Udpu,
    /// knet: the gateway is a knet host per other node, with this crypto (sealed with the
    /// cluster authkey) and the heartbeat timers of this token timeout.
    Knet {
        crypto: KnetCryptoConfig,
        token: std::time::Duration,
    },
}

impl Node {
    /// Its address on ring `ring` (0 or 1).
    pub fn ring_addr(&self, ring: u8) -> Option<IpAddr> {
        match ring {
            0 => Some(self.ring0),
            1 => self.ring1,
            _ => None,
        }
    }
}

/// A parsed gateway.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConf {
    pub nodeid: u32,
    pub ring_port: u16,
    /// The port on ring 1 (RRP), ring_port by default.
    pub ring1_port: u16,
    pub daemon_addr: IpAddr,
    pub daemon_port: u16,
    /// Local HTTP port of the Prometheus metrics (127.0.0.1; 0: off). Default 9405.
    pub metrics_port: u16,
    /// The 2.x ring's `crypto_cipher` and `crypto_hash` (none/none by default).
    pub crypto_cipher: String,
    pub crypto_hash: String,
    /// The cluster authkey (needed when cipher or hash is not none).
    pub keyfile: Option<std::path::PathBuf>,
    /// The local side: udpu (default when absent) or knet.
    pub daemon_transport: DaemonTransport,
    pub nodes: Vec<Node>,
}

/// What is wrong with a gateway.conf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfError {
    #[error("{0}")]
    Syntax(String),
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("line {line}: {key}: {value:?} is not {what}")]
    Value {
        line: usize,
        key: String,
        value: String,
        what: &'static str,
    },
    #[error("node {0} (gateway.nodeid) is not in the nodelist")]
    NotListed(u32),
    #[error("{0}")]
    Book(String),
}

fn value<T: std::str::FromStr>(
    s: &Section,
    key: &'static str,
    what: &'static str,
) -> Result<T, ConfError> {
    let e = s.entry(key).ok_or(ConfError::Missing(key))?;
    e.value.trim().parse().map_err(|_| ConfError::Value {
        line: e.line,
        key: key.into(),
        value: e.value.clone(),
        what,
    })
}

fn daemon_transport(g: &Section) -> Result<DaemonTransport, ConfError> {
    let bad = |key: &'static str, what: &'static str| {
        let e = g.entry(key);
        ConfError::Value {
            line: e.map(|e| e.line).unwrap_or(0),
            key: key.into(),
            value: e.map(|e| e.value.clone()).unwrap_or_default(),
            what,
        }
    };
    match g.get("daemon_transport").map(str::trim).unwrap_or("udpu") {
        "udpu" => Ok(DaemonTransport::Udpu),
        "knet" => {
            let crypto = KnetCryptoConfig::from_names(
                g.get("daemon_crypto_model").unwrap_or("nss").trim(),
                g.get("daemon_crypto_cipher").unwrap_or("none").trim(),
                g.get("daemon_crypto_hash").unwrap_or("none").trim(),
            )
            .map_err(|e| ConfError::Book(format!("daemon crypto: {e}")))?;
            crypto
                .validate()
                .map_err(|e| ConfError::Book(format!("daemon crypto: {e}")))?;
            let token = match g.entry("daemon_token") {
                Some(_) => value::<u64>(g, "daemon_token", "a time in milliseconds")?,
                None => 1000,
            };
            if token == 0 {
                return Err(bad("daemon_token", "a time above 0 ms"));
            }
            Ok(DaemonTransport::Knet {
                crypto,
                token: std::time::Duration::from_millis(token),
            })
        }
        _ => Err(bad("daemon_transport", "knet or udpu")),
    }
}

impl GatewayConf {
    /// Parses the text of a gateway.conf.
    pub fn parse(text: &str) -> Result<Self, ConfError> {
        let root = parse(text).map_err(|e| ConfError::Syntax(e.to_string()))?;
        let g = root
            .section("gateway")
            .ok_or(ConfError::Missing("gateway section"))?;
        let nl = root
            .section("nodelist")
            .ok_or(ConfError::Missing("nodelist section"))?;
        let mut nodes = Vec::new();
        for n in nl.sections("node") {
            nodes.push(Node {
                nodeid: value(n, "nodeid", "a nodeid")?,
                ring0: value(n, "ring0_addr", "an IP address")?,
                ring1: match n.entry("ring1_addr") {
                    Some(_) => Some(value(n, "ring1_addr", "an IP address")?),
                    None => None,
                },
                shadow: value(n, "shadow_addr", "an IP address")?,
            });
        }
        let c = GatewayConf {
            nodeid: value(g, "nodeid", "a nodeid")?,
            ring_port: value(g, "ring_port", "a port")?,
            ring1_port: match g.entry("ring1_port") {
                Some(_) => value(g, "ring1_port", "a port")?,
                None => value(g, "ring_port", "a port")?,
            },
            daemon_addr: value(g, "daemon_addr", "an IP address")?,
            daemon_port: value(g, "daemon_port", "a port")?,
            metrics_port: match g.entry("metrics_port") {
                Some(_) => value(g, "metrics_port", "a port")?,
                None => 9405,
            },
            crypto_cipher: g.get("crypto_cipher").unwrap_or("none").trim().to_string(),
            crypto_hash: g.get("crypto_hash").unwrap_or("none").trim().to_string(),
            keyfile: g.get("keyfile").map(|k| k.trim().into()),
            daemon_transport: daemon_transport(g)?,
            nodes,
        };
        if !c.nodes.iter().any(|n| n.nodeid == c.nodeid) {
            return Err(ConfError::NotListed(c.nodeid));
        }
        let with_ring1 = c.nodes.iter().filter(|n| n.ring1.is_some()).count();
        if with_ring1 != 0 && with_ring1 != c.nodes.len() {
            return Err(ConfError::Book(
                "ring1_addr is given for some nodes only: every node needs one on a redundant ring"
                    .into(),
            ));
        }
        c.book()?;
        c.ring_crypto()?;
        c.final_knet()?;
        if let DaemonTransport::Knet { crypto, .. } = &c.daemon_transport {
            if crypto.is_enabled() && c.keyfile.is_none() {
                return Err(ConfError::Missing(
                    "keyfile (the cluster authkey, for the knet crypto)",
                ));
            }
        }
        Ok(c)
    }

    /// The cluster's address book (ring 0 addresses as the 2.x ring knows them).
    pub fn book(&self) -> Result<AddressBook, ConfError> {
        let mut b = AddressBook::new();
        for n in &self.nodes {
            b.insert(BookEntry::new(n.nodeid, n.ring0, n.ring1))
                .map_err(|e| ConfError::Book(e.to_string()))?;
        }
        Ok(b)
    }

    /// The ring's totemcrypto settings (corosync 2.3+ header in every case).
    pub fn ring_crypto(&self) -> Result<totem_wire::envelope::CryptoConfig, ConfError> {
        use totem_wire::envelope::{Cipher, CryptoConfig, Hash, Variant};
        let bad = |e: totem_wire::envelope::EnvelopeError| ConfError::Book(e.to_string());
        let c = CryptoConfig {
            cipher: Cipher::from_config_name(&self.crypto_cipher).map_err(bad)?,
            hash: Hash::from_config_name(&self.crypto_hash).map_err(bad)?,
            variant: Variant::V2_3,
        };
        if c.cipher != Cipher::None && c.hash == Hash::None {
            return Err(ConfError::Book(
                "crypto_cipher needs a crypto_hash other than none".into(),
            ));
        }
        if (c.cipher != Cipher::None || c.hash != Hash::None) && self.keyfile.is_none() {
            return Err(ConfError::Missing(
                "keyfile (the cluster authkey, for crypto)",
            ));
        }
        Ok(c)
    }

    /// This node's entry.
    pub fn local(&self) -> &Node {
        // parse() checked it is listed.
        self.nodes
            .iter()
            .find(|n| n.nodeid == self.nodeid)
            .unwrap_or(&self.nodes[0])
    }

    /// The node whose ring 0 address is `ip`.
    pub fn by_ring_addr(&self, ip: IpAddr) -> Option<&Node> {
        self.by_addr_on(0, ip)
    }

    /// The node whose address on ring `ring` (0 or 1) is `ip`.
    pub fn by_addr_on(&self, ring: u8, ip: IpAddr) -> Option<&Node> {
        self.nodes.iter().find(|n| n.ring_addr(ring) == Some(ip))
    }

    /// Whether the 2.x ring is redundant (every node has a ring 1 address).
    pub fn redundant(&self) -> bool {
        self.nodes.iter().all(|n| n.ring1.is_some())
    }

    /// The knet crypto and token timeout of the final corosync 3 configuration, which
    /// direct peers (nodes already restarted on it) speak: the daemon's, over knet; over
    /// udpu, the 2.x crypto mapped as the plan maps it (the same cipher, sha1 -> sha256).
    pub fn final_knet(&self) -> Result<(KnetCryptoConfig, std::time::Duration), ConfError> {
        if let DaemonTransport::Knet { crypto, token } = &self.daemon_transport {
            return Ok((*crypto, *token));
        }
        let hash = if self.crypto_hash == "sha1" {
            "sha256"
        } else {
            &self.crypto_hash
        };
        let c = KnetCryptoConfig::from_names("nss", &self.crypto_cipher, hash)
            .map_err(|e| ConfError::Book(format!("final knet crypto: {e}")))?;
        Ok((c, std::time::Duration::from_millis(1000)))
    }

    /// The local daemon's socket address.
    pub fn daemon(&self) -> SocketAddr {
        SocketAddr::new(self.daemon_addr, self.daemon_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "gateway {\n nodeid: 2\n ring_port: 5405\n daemon_addr: 127.0.1.2\n daemon_port: 5405\n}\nnodelist {\n node {\n  nodeid: 1\n  ring0_addr: 192.0.2.11\n  shadow_addr: 127.0.1.1\n }\n node {\n  nodeid: 2\n  ring0_addr: 192.0.2.12\n  shadow_addr: 127.0.1.2\n }\n}\n";

    #[test]
    fn parses_and_names_what_is_wrong() {
        let c = GatewayConf::parse(CONF).unwrap();
        assert_eq!((c.nodeid, c.nodes.len()), (2, 2));
        assert_eq!(
            c.by_ring_addr("192.0.2.11".parse().unwrap())
                .unwrap()
                .nodeid,
            1
        );
        let bad = CONF.replace("192.0.2.11", "192.0.2.x");
        let e = GatewayConf::parse(&bad).unwrap_err();
        assert!(
            matches!(e, ConfError::Value { ref key, .. } if key == "ring0_addr"),
            "{e}"
        );
        assert!(e.to_string().contains("line 10"), "{e}");
        let e = GatewayConf::parse(&CONF.replace("nodeid: 2\n ring_port", "nodeid: 7\n ring_port"))
            .unwrap_err();
        assert_eq!(e, ConfError::NotListed(7));
        let e = GatewayConf::parse(&CONF.replace("192.0.2.12", "192.0.2.11")).unwrap_err();
        assert!(matches!(e, ConfError::Book(_)), "{e}");
    }

    #[test]
    fn daemon_transport_knet_with_crypto_needs_the_key() {
        assert_eq!(
            GatewayConf::parse(CONF).unwrap().daemon_transport,
            DaemonTransport::Udpu
        );
        let knet = CONF.replace(
            " daemon_port: 5405\n",
            " daemon_port: 5405\n daemon_transport: knet\n daemon_token: 3000\n",
        );
        let c = GatewayConf::parse(&knet).unwrap();
        assert_eq!(
            c.daemon_transport,
            DaemonTransport::Knet {
                crypto: KnetCryptoConfig::default(),
                token: std::time::Duration::from_secs(3)
            }
        );
        let crypto = knet.replace(
            " daemon_token: 3000\n",
            " daemon_crypto_cipher: aes256\n daemon_crypto_hash: sha256\n",
        );
        let e = GatewayConf::parse(&crypto).unwrap_err();
        assert!(e.to_string().contains("keyfile"), "{e}");
        let c = GatewayConf::parse(&crypto.replace(
            " daemon_crypto_hash: sha256\n",
            " daemon_crypto_hash: sha256\n keyfile: /etc/corosync/authkey\n",
        ))
        .unwrap();
        assert!(
            matches!(c.daemon_transport, DaemonTransport::Knet { crypto, .. } if crypto.is_enabled())
        );
        let e = GatewayConf::parse(&knet.replace("transport: knet", "transport: udp")).unwrap_err();
        assert!(e.to_string().contains("knet or udpu"), "{e}");
        let e = GatewayConf::parse(&crypto.replace("sha256", "sha1024")).unwrap_err();
        assert!(e.to_string().contains("sha1024"), "{e}");
    }
}
