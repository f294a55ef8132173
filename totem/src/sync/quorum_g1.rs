//! corosync 1.x votequorum (services/votequorum.c of v1.4.10, service 15): no sync step;
//! every node multicasts a 48-byte NODEINFO at each configuration change, and each node
//! counts the votes of the nodes it has heard from and not seen leave.

use std::collections::BTreeMap;

use totem_wire::service::votequorum::{self, NodeInfoV1, VotequorumMessage};
use totem_wire::service::ServiceHeader;
use totem_wire::Generation;

use super::quorum::QuorumStatus;

/// NODEINFO flag: this node describes itself (1.x sets it on its own record).
pub const FLAG_US: u32 = 128;
/// The 1.x votequorum protocol version (major 7, minor 0, patch 0).
pub const VERSION: (u32, u32, u32) = (7, 0, 0);
/// 1.x node states (the code `corosync-quorumtool -l` prints).
pub const STATE_MEMBER: u32 = 2;
pub const STATE_DEAD: u32 = 3;
pub const STATE_LEAVING: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    votes: u32,
    expected: u32,
    state: u32,
}

/// One node's 1.x votequorum state.
#[derive(Debug)]
pub struct QuorumG1 {
    nodeid: u32,
    votes: u32,
    expected: u32,
    /// Until a configuration with more than one member.
    first_trans: bool,
    nodes: BTreeMap<u32, Node>,
    quorum: u32,
    quorate: bool,
    /// `quorum.two_node`: with two members or fewer, one vote is quorate.
    two_node: bool,
}

impl QuorumG1 {
    /// Votequorum for `nodeid` voting once, expecting `expected` votes.
    pub fn new(nodeid: u32, expected: u32) -> Self {
        Self::with_options(nodeid, expected, 1, false)
    }

    /// Votequorum with 1.4's options: `quorum.expected_votes`, `quorum.votes` and
    /// `quorum.two_node`.
    pub fn with_options(nodeid: u32, expected: u32, votes: u32, two_node: bool) -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            nodeid,
            Node {
                votes,
                expected,
                state: STATE_MEMBER,
            },
        );
        let mut q = QuorumG1 {
            nodeid,
            votes,
            expected,
            first_trans: true,
            nodes,
            quorum: 0,
            quorate: false,
            two_node,
        };
        q.recalculate(false);
        q
    }

    /// Our NODEINFO as 1.x sends it (48 bytes, group "a").
    pub fn nodeinfo(&self) -> Vec<u8> {
        let m = VotequorumMessage::NodeInfoV1(NodeInfoV1 {
            header: ServiceHeader::new(
                Generation::G1,
                votequorum::service_id(Generation::G1),
                0,
                48,
            ),
            first_trans: u32::from(self.first_trans),
            votes: self.votes,
            expected_votes: self.expected,
            major_version: VERSION.0,
            minor_version: VERSION.1,
            patch_version: VERSION.2,
            config_version: 0,
            flags: FLAG_US,
        });
        let mut b = vec![0u8; m.buffer_len()];
        // Sized by buffer_len; every field is in range.
        let n = m.emit(&mut b).unwrap_or(0);
        b.truncate(n);
        b
    }

    /// A configuration change (transitional or regular): nodes that left are dead; returns
    /// the NODEINFO to multicast when there are members, as 1.x does.
    pub fn config_change(&mut self, members: &[u32], left: &[u32]) -> Option<Vec<u8>> {
        if members.len() > 1 {
            self.first_trans = false;
        }
        let mut leaving = false;
        for n in left {
            if let Some(node) = self.nodes.get_mut(n) {
                leaving |= node.state == STATE_LEAVING;
                node.state = STATE_DEAD;
            }
        }
        if !left.is_empty() {
            self.recalculate(leaving);
        }
        (!members.is_empty()).then(|| self.nodeinfo())
    }

    /// A votequorum message delivered from `sender`.
    pub fn deliver(&mut self, sender: u32, m: &VotequorumMessage) {
        match m {
            VotequorumMessage::NodeInfoV1(i) => {
                let node = self.nodes.entry(sender).or_insert(Node {
                    votes: 0,
                    expected: 0,
                    state: STATE_DEAD,
                });
                let before = *node;
                node.votes = i.votes;
                node.expected = i.expected_votes;
                node.state = STATE_MEMBER;
                if before != *node || i.first_trans != 0 {
                    self.recalculate(false);
                }
            }
            VotequorumMessage::ReconfigureV1(r) => {
                match r.param {
                    1 => {
                        for n in self.nodes.values_mut() {
                            if n.state == STATE_MEMBER && n.expected > r.value {
                                n.expected = r.value;
                            }
                        }
                        if self.expected > r.value {
                            self.expected = r.value;
                        }
                    }
                    2 => {
                        if let Some(n) = self.nodes.get_mut(&r.nodeid) {
                            n.votes = r.value;
                        }
                    }
                    3 => {
                        if let Some(n) = self.nodes.get_mut(&r.nodeid) {
                            n.state = match (r.value, n.state) {
                                (1, STATE_MEMBER) => STATE_LEAVING,
                                (0, STATE_LEAVING) => STATE_MEMBER,
                                (_, s) => s,
                            };
                        }
                        return;
                    }
                    other => {
                        tracing::debug!(sender, param = other, "votequorum reconfigure ignored");
                        return;
                    }
                }
                self.recalculate(true);
            }
            VotequorumMessage::KillNodeV1(k) if k.nodeid == self.nodeid => {
                tracing::warn!(sender, reason = k.reason, "1.x votequorum asks us to leave");
            }
            other => tracing::debug!(sender, msg = %other, "votequorum message ignored"),
        }
    }

    /// 1.x's quorum: max((highest expected + 2) / 2, (total votes + 2) / 2), never lower
    /// than before unless `allow_decrease`; 1 with `two_node` and at most two members.
    fn recalculate(&mut self, allow_decrease: bool) {
        let members = self.nodes.values().filter(|n| n.state == STATE_MEMBER);
        let count = members.clone().count();
        let total: u32 = members.clone().map(|n| n.votes).sum();
        let highest = members.map(|n| n.expected).max().unwrap_or(0);
        if total > self.expected {
            self.expected = total;
        }
        let mut q = ((highest + 2) / 2).max((total + 2) / 2);
        if !allow_decrease {
            q = q.max(self.quorum);
        }
        if self.two_node && count <= 2 {
            q = 1;
        }
        self.quorum = q;
        self.quorate = total >= q;
    }

    /// Votes of the nodes counted as members.
    pub fn total_votes(&self) -> u32 {
        self.nodes
            .values()
            .filter(|n| n.state == STATE_MEMBER)
            .map(|n| n.votes)
            .sum()
    }

    /// The summary for status output.
    pub fn status(&self) -> QuorumStatus {
        QuorumStatus {
            quorate: self.quorate,
            quorum: self.quorum,
            total_votes: self.total_votes(),
            expected_votes: self.expected,
            flags: 0,
            nodes: self
                .nodes
                .iter()
                .map(|(id, n)| (*id, n.votes, n.expected, n.state))
                .collect(),
            highest_expected: self
                .nodes
                .values()
                .map(|n| n.expected)
                .max()
                .unwrap_or(self.expected),
            votes: self.votes,
            features: crate::sync::quorum::QuorumFeatures {
                two_node: self.two_node,
                ..Default::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use totem_wire::Endian;

    /// Spec §9.2 (1.x NODEINFO, 48 bytes) against 1.4.10's own: size 48 at 0, id
    /// 0x000f0000 at 8, votes/expected/version/flags as node 2 sent them in
    /// 1.4.10-udpu-01-formation frame 180 (config_version is stack garbage there; we send 0).
    #[test]
    fn nodeinfo_matches_1_4_10_layout() {
        let mut q = QuorumG1::new(3, 3);
        let b = q.config_change(&[1, 2, 3], &[]).unwrap();
        assert_eq!(b.len(), 48);
        let le = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        assert_eq!((le(0), le(8)), (48, 0x000f_0000));
        assert_eq!(
            [
                le(16),
                le(20),
                le(24),
                le(28),
                le(32),
                le(36),
                le(40),
                le(44)
            ],
            [0, 1, 3, 7, 0, 0, 0, 0x80]
        );
        let m = VotequorumMessage::parse(&b, Generation::G1, Endian::Little).unwrap();
        assert_eq!(
            m.to_string(),
            "votequorum.nodeinfo votes=1 expected=3 version=7.0.0 config=0 flags=0x80 first_trans=0"
        );
    }

    #[test]
    fn votes_are_counted_and_leavers_dropped() {
        let mut q = QuorumG1::new(3, 3);
        assert!(!q.status().quorate);
        let info = |n: u32| {
            let mut b = QuorumG1::new(n, 3).nodeinfo();
            b[16] = 0;
            VotequorumMessage::parse(&b, Generation::G1, Endian::Little).unwrap()
        };
        q.deliver(1, &info(1));
        assert_eq!(q.total_votes(), 2);
        assert!(q.status().quorate, "2 of 3 votes is quorate");
        q.deliver(2, &info(2));
        assert_eq!((q.total_votes(), q.status().quorum), (3, 2));
        q.config_change(&[3], &[1, 2]);
        assert_eq!(q.total_votes(), 1);
        assert!(!q.status().quorate);
    }

    /// 1.4's two_node: a pair keeps quorum with one vote when the other dies; a third
    /// member turns it off in effect.
    #[test]
    fn two_node_keeps_one_survivor_quorate() {
        let info = |n: u32| {
            let mut b = QuorumG1::new(n, 2).nodeinfo();
            b[16] = 0;
            VotequorumMessage::parse(&b, Generation::G1, Endian::Little).unwrap()
        };
        let mut q = QuorumG1::with_options(1, 2, 1, true);
        q.deliver(2, &info(2));
        assert!(q.status().quorate);
        assert!(q.status().features.two_node);
        q.config_change(&[1], &[2]);
        assert_eq!(q.total_votes(), 1);
        assert!(q.status().quorate, "one of two with two_node");
        let mut plain = QuorumG1::with_options(1, 2, 1, false);
        plain.deliver(2, &info(2));
        plain.config_change(&[1], &[2]);
        assert!(!plain.status().quorate, "one of two without two_node");
        // votes: 2 on us counts twice.
        let heavy = QuorumG1::with_options(1, 3, 2, false);
        assert_eq!(heavy.total_votes(), 2);
        assert!(heavy.status().quorate, "2 of 3 expected votes");
    }
}
