//! Our votequorum participant: cman-compat's votequorum engine fed with the nodeinfo and
//! reconfigure messages delivered on the ring, and the nodeinfo we multicast during sync.

use crate::quorum::events::{Message, NodeInfo as VqNodeInfo, Reconfigure};
use crate::quorum::{NodeEntry, NodeFlags, QuorumOptions, QuorumSnapshot, VoteQuorum};
use totem_wire::service::votequorum::VotequorumMessage;
use totem_wire::Generation;

use super::messages;

/// Why the quorum participant could not start.
#[derive(Debug, thiserror::Error)]
pub enum QuorumStartError {
    #[error("votequorum configuration: {0}")]
    Config(#[from] crate::quorum::QuorumError),
}

/// What `totem-node status` shows of quorum.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuorumStatus {
    pub quorate: bool,
    pub quorum: u32,
    pub total_votes: u32,
    pub expected_votes: u32,
    pub flags: u32,
    /// (nodeid, votes, expected_votes, state code) of every node seen.
    pub nodes: Vec<(u32, u32, u32, u32)>,
}

/// One node's votequorum state.
#[derive(Debug)]
pub struct Quorum {
    gen: Generation,
    vq: VoteQuorum,
}

impl Quorum {
    /// Votequorum for `nodeid` with every nodelist entry voting once (no `quorum` section
    /// keys are read: expected_votes is the nodelist's vote count).
    pub fn new(gen: Generation, nodeid: u32, nodelist: &[u32]) -> Result<Self, QuorumStartError> {
        let opts = QuorumOptions {
            nodelist: nodelist
                .iter()
                .map(|&n| NodeEntry {
                    nodeid: n,
                    votes: 1,
                })
                .collect(),
            ..QuorumOptions::default()
        };
        let vq = VoteQuorum::new(nodeid, &opts, None, 0)?;
        Ok(Quorum { gen, vq })
    }

    /// Sync init of a new ring.
    pub fn sync_init(&mut self, members: &[u32]) {
        self.vq.sync_init(members);
    }

    /// The NODEINFO messages for our sync turn: ours, then the quorum device's (nodeid 0).
    pub fn sync_messages(&self) -> Vec<Vec<u8>> {
        self.vq
            .sync_messages()
            .iter()
            .filter_map(|m| match m {
                Message::NodeInfo(i) => Some(messages::nodeinfo(
                    self.gen,
                    i.nodeid,
                    i.votes,
                    i.expected_votes,
                    i.flags.0,
                )),
                Message::Reconfigure(_) => None,
            })
            .collect()
    }

    /// Every member's barrier for VOTEQUORUM is in.
    pub fn sync_activate(&mut self) {
        self.vq.sync_activate();
    }

    /// A votequorum message delivered from `sender`.
    pub fn deliver(&mut self, sender: u32, m: &VotequorumMessage) {
        let msg = match m {
            VotequorumMessage::NodeInfo(i) => Message::NodeInfo(VqNodeInfo {
                nodeid: i.nodeid,
                votes: i.votes,
                expected_votes: i.expected_votes,
                flags: NodeFlags(i.flags),
            }),
            VotequorumMessage::Reconfigure(r) => {
                let rc = match r.param {
                    1 => Reconfigure::ExpectedVotes(r.value),
                    2 => Reconfigure::NodeVotes {
                        nodeid: r.nodeid,
                        votes: r.value,
                    },
                    3 => Reconfigure::CancelWaitForAll,
                    other => {
                        tracing::debug!(sender, param = other, "votequorum reconfigure ignored");
                        return;
                    }
                };
                Message::Reconfigure(rc)
            }
            other => {
                tracing::debug!(sender, msg = ?other, "votequorum message ignored");
                return;
            }
        };
        self.vq.deliver(sender, &msg);
    }

    /// The engine's full snapshot.
    pub fn snapshot(&self) -> QuorumSnapshot {
        self.vq.snapshot()
    }

    /// The summary for status output.
    pub fn status(&self) -> QuorumStatus {
        let s = self.vq.snapshot();
        QuorumStatus {
            quorate: s.quorate,
            quorum: s.quorum,
            total_votes: s.total_votes,
            expected_votes: s.expected_votes,
            flags: s.flags.0,
            nodes: s
                .nodes
                .iter()
                .map(|n| (n.nodeid, n.votes, n.expected_votes, n.state.code()))
                .collect(),
        }
    }
}
