//! Per-node records, votequorum node flags and the snapshot the engine reports.

/// Membership state of a node as one votequorum instance sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// In the current membership.
    Member,
    /// Left (or was lost) without a clean leave.
    Dead,
    /// Announced a clean leave (allow_downscale).
    Leaving,
}

impl NodeState {
    /// The numeric state votequorum uses (1 member, 2 dead, 3 leaving).
    pub fn code(self) -> u32 {
        match self {
            NodeState::Member => 1,
            NodeState::Dead => 2,
            NodeState::Leaving => 3,
        }
    }
}

/// votequorum's per-node flag bits, as carried in nodeinfo messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeFlags(pub u32);

impl NodeFlags {
    /// The node is quorate.
    pub const QUORATE: u32 = 1;
    /// The node is leaving cleanly.
    pub const LEAVING: u32 = 2;
    /// The node is still waiting for all (wait_for_all_status).
    pub const WFA_STATUS: u32 = 4;
    /// The node has not yet seen any other node.
    pub const FIRST: u32 = 8;
    /// A quorum device is registered on the node.
    pub const QDEVICE_REGISTERED: u32 = 16;
    /// The node's quorum device is alive.
    pub const QDEVICE_ALIVE: u32 = 32;
    /// The node's quorum device casts its vote.
    pub const QDEVICE_CAST_VOTE: u32 = 64;
    /// The node's quorum device uses master_wins.
    pub const QDEVICE_MASTER_WINS: u32 = 128;

    /// Whether `bit` is set.
    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
    /// Sets or clears `bit`.
    pub fn set(&mut self, bit: u32, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
}

/// What one node knows about another (or itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRecord {
    /// Node id.
    pub nodeid: u32,
    /// Votes the node holds.
    pub votes: u32,
    /// Expected votes recorded for the node.
    pub expected_votes: u32,
    /// Membership state.
    pub state: NodeState,
    /// Last flags the node advertised.
    pub flags: NodeFlags,
}

/// The quorum state one node reports (what `corosync-quorumtool -s` shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumSnapshot {
    /// This node's id.
    pub nodeid: u32,
    /// Whether this node considers its partition quorate.
    pub quorate: bool,
    /// Current quorum (votes needed).
    pub quorum: u32,
    /// Votes of current members plus a voting quorum device.
    pub total_votes: u32,
    /// This node's expected votes.
    pub expected_votes: u32,
    /// Highest expected votes among members (what quorum is computed from).
    pub highest_expected: u32,
    /// wait_for_all still pending.
    pub wait_for_all_status: bool,
    /// This node's flags.
    pub flags: NodeFlags,
    /// Current membership (ring members) as delivered.
    pub members: Vec<u32>,
    /// Every node this instance has a record of, ascending node id.
    pub nodes: Vec<NodeRecord>,
    /// Effective two_node.
    pub two_node: bool,
    /// Effective last_man_standing (may be switched off at runtime).
    pub last_man_standing: bool,
    /// Quorum device votes counted (0 if none or not voting).
    pub qdevice_votes: u32,
}
