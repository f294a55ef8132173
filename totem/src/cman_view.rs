//! The cman view of a running node: its membership and votequorum state as the input of
//! `cman_tool status` / `cman_tool nodes` (cman-compat), so the cman tools read a live node.

use cman_compat::cmantool::{
    ClusterFacts, LocalNode, NodeFacts, QuorumFacts, ToolInput, CMAN_VERSION,
};

use crate::cpg::ExecStatus;
use crate::driver::Status;

/// Builds what `cman_tool` shows from a node's status reply. Nodes are named by address
/// (cman took names from cluster.conf; corosync nodelists often have none).
pub fn tool_input(s: &Status, exec: Option<&ExecStatus>, cluster_name: &str) -> ToolInput {
    let members: Vec<u32> = s.members.iter().map(|m| m.nodeid).collect();
    let name_of = |nodeid: u32| {
        s.members
            .iter()
            .find(|m| m.nodeid == nodeid)
            .and_then(|m| m.addr)
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| format!("node{nodeid}"))
    };
    let q = exec.and_then(|x| x.quorum.as_ref());
    let mut nodes: Vec<NodeFacts> = Vec::new();
    let mut ids: Vec<u32> = members.clone();
    if let Some(q) = q {
        ids.extend(q.nodes.iter().map(|n| n.0).filter(|&id| id != 0));
    }
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        let addr = s
            .members
            .iter()
            .find(|m| m.nodeid == id)
            .and_then(|m| m.addr)
            .map(|a| a.ip());
        nodes.push(NodeFacts {
            nodeid: id,
            name: name_of(id),
            incarnation: s.ring_seq as u32,
            join_time: 0,
            addresses: addr.into_iter().collect(),
            member: Some(members.contains(&id)),
        });
    }
    let node_votes = q
        .and_then(|q| q.nodes.iter().find(|n| n.0 == s.nodeid).map(|n| n.1))
        .unwrap_or(0);
    ToolInput {
        cluster: ClusterFacts {
            name: cluster_name.to_string(),
            id: None,
            config_version: 0,
            generation: s.ring_seq as u32,
            version: CMAN_VERSION,
            active_subsystems: 0,
            ports_bound: Vec::new(),
            multicast_addresses: Vec::new(),
            membership_state: 2,
            shutdown: false,
            error: false,
            dirty: false,
            disallowed_nodes: Vec::new(),
        },
        local: LocalNode {
            nodeid: s.nodeid,
            name: name_of(s.nodeid),
            addresses: s.local_addr.map(|a| a.ip()).into_iter().collect(),
        },
        quorum: QuorumFacts {
            quorate: q.is_some_and(|q| q.quorate),
            quorum: q.map_or(0, |q| q.quorum),
            total_votes: q.map_or(0, |q| q.total_votes),
            expected_votes: q.map_or(0, |q| q.expected_votes),
            node_votes,
            two_node: false,
            qdevice_votes: 0,
            members,
        },
        nodes,
    }
}
