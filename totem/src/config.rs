//! Engine configuration: corosync 3.1 timer and flow-control defaults, the wire generation
//! and the node's own identity.

use std::time::Duration;

use totem_wire::ip_address::TotemIpAddress;
use totem_wire::Generation;

/// Settings of one Totem node. Derived timeouts follow corosync's totemconfig rules unless
/// set explicitly.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Wire generation of the ring; every message is encoded and decoded in it.
    pub generation: Generation,
    /// This node's id (must not be 0: 0 marks a leave message).
    pub nodeid: u32,
    /// This node's ring-0 address, required in G1/G2 where members are named by address.
    pub address: Option<TotemIpAddress>,
    /// This node's ring-1 address on a redundant ring (RRP, G1/G2): our member identity then
    /// carries both addresses, as 1.x and 2.x write it.
    pub address1: Option<TotemIpAddress>,
    /// Ring seq this node starts from (corosync: persisted seq + 1 in 2.x/3.x, as is in 1.x).
    pub ring_seq_start: u64,
    /// Base token timeout (`token`, 3000 ms in corosync 3.1).
    pub token: Duration,
    /// Added to the token timeout per node beyond two (`token_coefficient`).
    pub token_coefficient: Duration,
    /// Number of nodes in the nodelist, used with `token_coefficient` (0 = no nodelist).
    pub nodelist_size: usize,
    /// Token retransmits before the token is declared lost.
    pub token_retransmits_before_loss_const: u32,
    /// Explicit token retransmit interval; derived from the token timeout when `None`.
    pub token_retransmit: Option<Duration>,
    /// Explicit token hold interval; derived from the retransmit interval when `None`.
    pub hold: Option<Duration>,
    /// Interval between joins while gathering.
    pub join: Duration,
    /// Explicit consensus timeout; 1.2 × token timeout when `None`.
    pub consensus: Option<Duration>,
    /// How long the idle representative waits before sending merge-detect.
    pub merge: Duration,
    /// Downcheck interval (kept for completeness; the single-ring engine does not use it).
    pub downcheck: Duration,
    /// Rotations with an unchanged aru set by this node before it declares FAILED TO RECEIVE.
    pub fail_recv_const: u32,
    /// Rotations with an unchanged token seq before an idle token is held.
    pub seqno_unchanged_const: u32,
    /// Most messages (new and retransmitted) sent per token rotation ring-wide.
    pub window_size: u32,
    /// Most messages one node sends per token visit.
    pub max_messages: u32,
    /// Token visits a gap must persist before it is put on the retransmit list.
    pub miss_count_const: u32,
    /// Most messages waiting in the send queue before `submit` refuses more.
    pub send_queue_max: usize,
    /// Largest payload `submit` accepts (frame limit minus the mcast header).
    pub max_payload: usize,
    /// The nodes allowed in the ring (the nodelist); joins, commit tokens and merge detects
    /// naming any other node are refused. G3 names members by nodeid, G1/G2 by ring-0
    /// address (an entry without an address then matches by nodeid). Empty: any node (udp
    /// without a nodelist).
    pub nodelist: Vec<Peer>,
    /// Consecutive consensus timeouts without reaching OPERATIONAL after which the node
    /// drops what it gathered (failed list, silent members) and gathers afresh, so that a
    /// gather poisoned by forged or stale joins cannot hold it out of every ring (corosync
    /// only logs "continuously in gather state"). 0 disables.
    pub gather_stuck_after: u32,
    /// Capture replay only: the engine sees part of the ring's traffic (one ring of an RRP
    /// pair, a capture's edges), so tokens may skip hops; token_seq continuity is not
    /// checked. A node on the network never sets it.
    pub partial_view: bool,
    /// The peers run openais 0.80.6 (G1), which passes tokens on under a stale header
    /// nodeid: a token it held or retransmits goes out under the nodeid of the member
    /// before it (it copies the token before setting its own, exec/totemsrp.c
    /// `token_send`), a commit token's second rotation under the last member's (only
    /// `memb_state_commit_token_update` sets it). Set, those count as from the predecessor.
    /// corosync 1.4+ always sends its own nodeid; off by default.
    pub openais_stale_nodeids: bool,
}

/// One nodelist entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// 0 when the list does not know it (G1/G2 interface members): matched by address.
    pub nodeid: u32,
    /// Ring-0 address (G1/G2 members are named by it).
    pub address: Option<TotemIpAddress>,
}

impl Config {
    /// A G3 node with corosync 3.1 defaults.
    pub fn new(generation: Generation, nodeid: u32) -> Self {
        Config {
            generation,
            nodeid,
            address: None,
            address1: None,
            ring_seq_start: 0,
            token: Duration::from_millis(3000),
            token_coefficient: Duration::from_millis(650),
            nodelist_size: 0,
            token_retransmits_before_loss_const: 4,
            token_retransmit: None,
            hold: None,
            join: Duration::from_millis(50),
            consensus: None,
            merge: Duration::from_millis(200),
            downcheck: Duration::from_millis(1000),
            fail_recv_const: 2500,
            seqno_unchanged_const: 30,
            window_size: 50,
            max_messages: 17,
            miss_count_const: 5,
            send_queue_max: 10_000,
            max_payload: match generation {
                Generation::G3 => 65_536 - 45 - 45,
                _ => 10_000 - 99 - 99,
            },
            nodelist: Vec::new(),
            gather_stuck_after: 4,
            partial_view: false,
            openais_stale_nodeids: false,
        }
    }

    /// A G1/G2 node named by `address` (its nodeid is taken from the address).
    pub fn with_address(generation: Generation, address: TotemIpAddress) -> Self {
        let mut c = Config::new(generation, address.nodeid);
        c.address = Some(address);
        c
    }

    /// Effective token timeout: `token` plus `token_coefficient` per nodelist node beyond two.
    pub fn token_timeout(&self) -> Duration {
        if self.nodelist_size >= 3 {
            self.token + self.token_coefficient * (self.nodelist_size as u32 - 2)
        } else {
            self.token
        }
    }

    /// Token retransmit interval: token timeout / (retransmits + 0.2), truncated to ms.
    pub fn token_retransmit_timeout(&self) -> Duration {
        self.token_retransmit.unwrap_or_else(|| {
            let ms = self.token_timeout().as_millis() as f64
                / (f64::from(self.token_retransmits_before_loss_const) + 0.2);
            Duration::from_millis(ms as u64)
        })
    }

    /// Token hold interval: retransmit × 0.8 − 10 ms (1000/HZ with HZ = 100).
    pub fn hold_timeout(&self) -> Duration {
        self.hold.unwrap_or_else(|| {
            let ms = self.token_retransmit_timeout().as_millis() as f64 * 0.8 - 10.0;
            Duration::from_millis(ms.max(1.0) as u64)
        })
    }

    /// Consensus timeout: 1.2 × token timeout unless set.
    pub fn consensus_timeout(&self) -> Duration {
        self.consensus
            .unwrap_or_else(|| self.token_timeout().mul_f64(1.2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime values corosync 3.1.7 reported in cmap for a 3-node nodelist
    /// (findings-corosync3-live.md): token 3650, retransmit 869, hold 685, consensus 4380.
    #[test]
    fn derived_timeouts_match_corosync_3_1_runtime() {
        let mut c = Config::new(Generation::G3, 1);
        c.nodelist_size = 3;
        assert_eq!(c.token_timeout(), Duration::from_millis(3650));
        assert_eq!(c.token_retransmit_timeout(), Duration::from_millis(869));
        assert_eq!(c.hold_timeout(), Duration::from_millis(685));
        assert_eq!(c.consensus_timeout(), Duration::from_millis(4380));
    }

    /// corosync-wire.md §10: token 3000 alone gives retransmit 714 and hold 561.
    #[test]
    fn derived_timeouts_two_nodes() {
        let c = Config::new(Generation::G3, 1);
        assert_eq!(c.token_retransmit_timeout(), Duration::from_millis(714));
        assert_eq!(c.hold_timeout(), Duration::from_millis(561));
        assert_eq!(c.consensus_timeout(), Duration::from_millis(3600));
        assert_eq!(c.window_size, 50);
        assert_eq!(c.max_messages, 17);
        assert_eq!(c.miss_count_const, 5);
        assert_eq!(c.fail_recv_const, 2500);
        assert_eq!(c.seqno_unchanged_const, 30);
        assert_eq!(c.join, Duration::from_millis(50));
        assert_eq!(c.merge, Duration::from_millis(200));
    }
}
