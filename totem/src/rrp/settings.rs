//! What a node's configuration says about its redundant rings (G1/G2 `rrp_mode`): the mode,
//! the failure-detection parameters and ring 1's own interface. Parsed by `node_config`,
//! run by [`super::Rrp`] and bound by the driver.

use std::net::IpAddr;
use std::time::Duration;

use super::super::node_config::NodeEntry;

/// `totem.rrp_mode` other than `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RrpMode {
    /// Each mcast and each token on one ring, round-robin over the rings not faulty.
    Passive,
    /// Every mcast and every token on every ring not faulty; a token is taken once it has
    /// come on all of them, or after `token_expired_timeout`.
    Active,
}

impl RrpMode {
    /// As corosync.conf spells it.
    pub fn name(self) -> &'static str {
        match self {
            RrpMode::Passive => "passive",
            RrpMode::Active => "active",
        }
    }
}

impl std::fmt::Display for RrpMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Failure detection and recovery, with corosync's defaults (exec/totemconfig.c, 1.4 and
/// 2.4 alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RrpSettings {
    pub mode: RrpMode,
    /// `rrp_problem_count_threshold` (default 10, at least 2): active, problems before a
    /// ring is FAULTY; passive, how far a ring's token count may fall behind.
    pub problem_count_threshold: u32,
    /// `rrp_problem_count_mcast_threshold` (default 10 × the threshold): passive, how far a
    /// ring's mcast count may fall behind.
    pub problem_count_mcast_threshold: u32,
    /// `rrp_problem_count_timeout` (default 2000 ms): active, period of the decrementer.
    pub problem_count_timeout: Duration,
    /// `rrp_token_expired_timeout` (default token_retransmit): active, how long a token
    /// waits for its copies on the other rings.
    pub token_expired_timeout: Duration,
    /// `rrp_autorecovery_check_timeout` (default 1000 ms): period of the ring test while a
    /// ring is FAULTY.
    pub autorecovery_check_timeout: Duration,
}

impl RrpSettings {
    /// corosync's defaults for `mode`, with the token retransmit timeout it derives.
    pub fn defaults(mode: RrpMode, token_retransmit: Duration) -> Self {
        RrpSettings {
            mode,
            problem_count_threshold: 10,
            problem_count_mcast_threshold: 100,
            problem_count_timeout: Duration::from_millis(2000),
            token_expired_timeout: token_retransmit,
            autorecovery_check_timeout: Duration::from_millis(1000),
        }
    }
}

/// Ring 1's interface (`interface { ringnumber: 1 }` and the nodes' `ring1_addr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingInterface {
    /// Our ring-1 address.
    pub bind_addr: IpAddr,
    /// Its IPv6 scope (0 unless link-local).
    pub scope_id: u32,
    /// udp: ring 1's multicast group.
    pub mcastaddr: Option<IpAddr>,
    /// Ring 1's port (its `mcastport`; the ring also uses port − 1).
    pub mcastport: u16,
    pub ttl: u32,
    /// Every node on ring 1, ours included, with its ring-1 address in `addr` (nodeid 0:
    /// a G1 `member` of ring 1's interface, learnt from its datagrams).
    pub nodes: Vec<NodeEntry>,
}
