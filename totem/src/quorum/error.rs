//! Errors of the quorum engine: configurations votequorum refuses and bad cluster operations.

use thiserror::Error;

/// What was wrong with a quorum configuration or a cluster operation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuorumError {
    /// Neither a nodelist nor `quorum.expected_votes` was given.
    #[error("configuration error: nodelist or quorum.expected_votes must be configured")]
    NoExpectedVotes,
    /// `two_node` together with a quorum device.
    #[error(
        "configuration error: two_node and quorum device cannot be configured at the same time"
    )]
    TwoNodeWithQdevice,
    /// `auto_tie_breaker` and `last_man_standing` in a cluster with an odd vote count and no `wait_for_all`.
    #[error("configuration error: auto_tie_breaker & last_man_standing not available in odd sized cluster")]
    AtbLmsOddCluster,
    /// A quorum device combined with a feature it cannot work with (field names the feature).
    #[error("configuration error: quorum.device is not compatible with {feature}")]
    QdeviceIncompatible {
        /// The conflicting option, e.g. `last_man_standing`.
        feature: &'static str,
    },
    /// `quorum.device.votes` missing where it cannot be derived.
    #[error("configuration error: quorum.device.votes must be specified when {reason}")]
    QdeviceVotesRequired {
        /// Why votes cannot be derived.
        reason: &'static str,
    },
    /// `expected_votes - device.votes < 2`.
    #[error("configuration error: quorum.device.votes ({device_votes}) is too high or expected_votes ({expected_votes}) is too low")]
    QdeviceVotesTooHigh {
        /// Configured device votes.
        device_votes: u32,
        /// Configured expected votes.
        expected_votes: u32,
    },
    /// A node id that is not known where one was required.
    #[error("node {nodeid} is not up")]
    NodeNotUp {
        /// The node id named.
        nodeid: u32,
    },
    /// A node id that is already up.
    #[error("node {nodeid} is already up (partition {partition})")]
    NodeAlreadyUp {
        /// The node id named.
        nodeid: u32,
        /// Partition it is in.
        partition: usize,
    },
    /// Node id 0 is reserved for the quorum device.
    #[error("node id 0 is reserved for the quorum device")]
    ReservedNodeId,
    /// A partition number out of range.
    #[error("partition {partition} out of range (max {max})")]
    BadPartition {
        /// The partition named.
        partition: usize,
        /// Highest allowed partition number.
        max: usize,
    },
    /// An admin value that votequorum rejects (e.g. expected votes 0).
    #[error("invalid value {value} for {field}")]
    InvalidValue {
        /// Which admin field.
        field: &'static str,
        /// The value given.
        value: u32,
    },
}
