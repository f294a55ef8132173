//! Votequorum-compatible quorum engine: one [`VoteQuorum`] per node plus a deterministic
//! partitioned [`Cluster`] that delivers membership changes and votequorum messages to them.

pub mod cluster;
pub mod engine;
pub mod error;
pub mod events;
pub mod options;
pub mod state;

pub use cluster::Cluster;
pub use engine::VoteQuorum;
pub use error::QuorumError;
pub use events::{NodeInfo, Reconfigure};
pub use options::{AtbMode, NodeEntry, QuorumOptions};
pub use state::{NodeFlags, NodeRecord, NodeState, QuorumSnapshot};

/// Quorum for a given number of expected (or present) votes: a strict majority, ⌊v/2⌋+1.
pub fn majority(votes: u32) -> u32 {
    votes / 2 + 1
}
