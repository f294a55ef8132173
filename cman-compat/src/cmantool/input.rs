//! What `cman_tool` shows, as data: cluster facts, the local node, per-node facts and the
//! quorum state (from a [`QuorumSnapshot`] of the engine). Read from JSON for now; a running
//! node will fill it later.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use totem::quorum::QuorumSnapshot;

/// Why a [`ToolInput`] could not be read.
#[derive(Debug, Error)]
pub enum ToolInputError {
    /// The JSON did not parse or a field had the wrong type.
    #[error("invalid cman_tool input at line {line}, column {column}: {message}")]
    Json {
        /// What was wrong.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A value outside what cman could represent.
    #[error("invalid cman_tool input: {field} = {value}: {message}")]
    Value {
        /// Field path.
        field: &'static str,
        /// The offending value.
        value: String,
        /// What was wrong.
        message: &'static str,
    },
}

/// cman's protocol version, what cman 3.x reports as `Version:`.
pub const CMAN_VERSION: [u32; 3] = [6, 2, 0];

fn default_version() -> [u32; 3] {
    CMAN_VERSION
}

fn default_membership_state() -> u32 {
    2
}

/// Cluster-wide facts cman_tool status prints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterFacts {
    /// Cluster name.
    pub name: String,
    /// Cluster id; default: cman's id generated from the name ([`cluster_id_from_name`]).
    #[serde(default)]
    pub id: Option<u16>,
    /// cluster.conf `config_version`.
    #[serde(default)]
    pub config_version: u32,
    /// Cluster generation (ring sequence).
    #[serde(default)]
    pub generation: u32,
    /// cman version triple (default 6.2.0).
    #[serde(default = "default_version")]
    pub version: [u32; 3],
    /// Number of registered subsystems.
    #[serde(default)]
    pub active_subsystems: u32,
    /// cman ports bound (0..=255).
    #[serde(default)]
    pub ports_bound: Vec<u16>,
    /// Multicast address of each interface.
    #[serde(default)]
    pub multicast_addresses: Vec<IpAddr>,
    /// Membership state code (1 Joining, 2 Cluster-Member, 3 Not-in-Cluster, 4 Leaving).
    #[serde(default = "default_membership_state")]
    pub membership_state: u32,
    /// Shutdown in progress.
    #[serde(default)]
    pub shutdown: bool,
    /// cman is in an error state.
    #[serde(default)]
    pub error: bool,
    /// The cluster holds state ("Dirty": must not merge with another active cluster).
    #[serde(default)]
    pub dirty: bool,
    /// Names of disallowed nodes.
    #[serde(default)]
    pub disallowed_nodes: Vec<String>,
}

/// The node cman_tool runs on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LocalNode {
    /// Node id.
    pub nodeid: u32,
    /// Node name.
    pub name: String,
    /// Its interface addresses.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
}

/// One node as `cman_tool nodes` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeFacts {
    /// Node id.
    pub nodeid: u32,
    /// Node name.
    pub name: String,
    /// Incarnation (ring sequence when it joined).
    #[serde(default)]
    pub incarnation: u32,
    /// When it joined, Unix seconds (0 = unknown).
    #[serde(default)]
    pub join_time: i64,
    /// Its addresses.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// Member now; default: whether the quorum snapshot lists it among the members.
    #[serde(default)]
    pub member: Option<bool>,
}

/// The quorum numbers cman_tool prints, as the engine reports them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QuorumFacts {
    /// Quorate.
    pub quorate: bool,
    /// Votes needed.
    pub quorum: u32,
    /// Votes present.
    pub total_votes: u32,
    /// Expected votes.
    pub expected_votes: u32,
    /// This node's votes.
    pub node_votes: u32,
    /// two_node in force.
    #[serde(default)]
    pub two_node: bool,
    /// Quorum device votes counted (0 = none).
    #[serde(default)]
    pub qdevice_votes: u32,
    /// Current members.
    pub members: Vec<u32>,
}

impl QuorumFacts {
    /// The facts of an engine snapshot.
    pub fn from_snapshot(s: &QuorumSnapshot) -> Self {
        let node_votes = s
            .nodes
            .iter()
            .find(|n| n.nodeid == s.nodeid)
            .map_or(0, |n| n.votes);
        QuorumFacts {
            quorate: s.quorate,
            quorum: s.quorum,
            total_votes: s.total_votes,
            expected_votes: s.expected_votes,
            node_votes,
            two_node: s.two_node,
            qdevice_votes: s.qdevice_votes,
            members: s.members.clone(),
        }
    }
}

/// Everything `cman_tool status` and `cman_tool nodes` print.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ToolInput {
    /// Cluster facts.
    pub cluster: ClusterFacts,
    /// This node.
    pub local: LocalNode,
    /// Quorum state.
    pub quorum: QuorumFacts,
    /// Known nodes (any order).
    #[serde(default)]
    pub nodes: Vec<NodeFacts>,
}

/// cman's cluster id for a cluster name: shift left one bit and add each byte (as a signed
/// `char`), keep the low 16 bits.
pub fn cluster_id_from_name(name: &str) -> u16 {
    let mut v: i32 = 0;
    for &b in name.as_bytes() {
        v = v.wrapping_shl(1).wrapping_add(i32::from(b as i8));
    }
    (v & 0xFFFF) as u16
}

impl ToolInput {
    /// Parses the JSON form and checks the values cman could not have shown.
    pub fn from_json(text: &str) -> Result<Self, ToolInputError> {
        let t: ToolInput = serde_json::from_str(text).map_err(|e| ToolInputError::Json {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        })?;
        if let Some(p) = t.cluster.ports_bound.iter().find(|&&p| p > 255) {
            return Err(ToolInputError::Value {
                field: "cluster.ports_bound",
                value: p.to_string(),
                message: "cman ports are 0..=255",
            });
        }
        Ok(t)
    }

    /// The cluster id shown: the configured one or the one cman derives from the name.
    pub fn cluster_id(&self) -> u16 {
        self.cluster
            .id
            .unwrap_or_else(|| cluster_id_from_name(&self.cluster.name))
    }

    /// Whether node `nodeid` is a current member.
    pub fn is_member(&self, n: &NodeFacts) -> bool {
        n.member
            .unwrap_or_else(|| self.quorum.members.contains(&n.nodeid))
    }
}
