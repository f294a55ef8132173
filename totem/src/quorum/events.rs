//! Messages votequorum instances exchange (nodeinfo, reconfigure) and admin operations.

use super::state::NodeFlags;

/// Node id votequorum uses for the quorum device.
pub const QDEVICE_NODEID: u32 = 0;

/// A nodeinfo message: a node's (or, with nodeid 0, the quorum device's) votes, expected votes, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeInfo {
    /// Subject node (0 = quorum device).
    pub nodeid: u32,
    /// Votes.
    pub votes: u32,
    /// Expected votes.
    pub expected_votes: u32,
    /// Flags.
    pub flags: NodeFlags,
}

/// A reconfigure message, sent cluster-wide by admin operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconfigure {
    /// Set expected votes everywhere (may lower quorum).
    ExpectedVotes(u32),
    /// Set one node's votes (may lower quorum).
    NodeVotes {
        /// Node whose votes change.
        nodeid: u32,
        /// New votes.
        votes: u32,
    },
    /// Clear wait_for_all status everywhere.
    CancelWaitForAll,
}

/// A message one instance sends to its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// nodeinfo.
    NodeInfo(NodeInfo),
    /// reconfigure.
    Reconfigure(Reconfigure),
}
