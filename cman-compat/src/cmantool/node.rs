//! The cman view of a running totem node: its membership and votequorum state (what
//! `totem-node status --json` prints) as the input of `cman_tool status` / `cman_tool nodes`,
//! so the cman tools read a live node: `totem-node status --json | cman_tool --node-status status`.

use totem::cpg::{ExecStatus, GroupState};
use totem::driver::Status;

use super::input::{
    ClusterFacts, LocalNode, NodeFacts, QuorumFacts, ToolInput, ToolInputError, CMAN_VERSION,
};

/// Reads `totem-node status --json` (status, groups, executive state) and builds the
/// `cman_tool` input of that node; `cluster_name` is corosync.conf `totem.cluster_name`.
pub fn from_node_status_json(text: &str, cluster_name: &str) -> Result<ToolInput, ToolInputError> {
    let (s, _groups, exec): (Status, Vec<GroupState>, Option<ExecStatus>) =
        serde_json::from_str(text).map_err(|e| ToolInputError::Json {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        })?;
    Ok(tool_input(&s, exec.as_ref(), cluster_name))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmantool::render_status;
    use totem::driver::node::MemberStatus;
    use totem::driver::DriverStats;
    use totem::sync::quorum::QuorumStatus;

    fn node_status_json() -> String {
        let member = |nodeid: u32, local: bool| MemberStatus {
            nodeid,
            addr: Some(format!("192.0.2.{nodeid}:5405").parse().unwrap()),
            local,
        };
        let s = Status {
            nodeid: 2,
            generation: "g3".into(),
            transport: "knet".into(),
            local_addr: Some("192.0.2.2:5405".parse().unwrap()),
            state: "operational".into(),
            ring_rep: "1".into(),
            ring_seq: 12,
            members: vec![member(1, false), member(2, true)],
            backlog: 0,
            pending: 0,
            driver: DriverStats::default(),
            engine: Vec::new(),
            knet: None,
            secure: None,
            control: None,
            rrp: None,
        };
        let exec = ExecStatus {
            quorum: Some(QuorumStatus {
                quorate: true,
                quorum: 2,
                total_votes: 2,
                expected_votes: 3,
                flags: 0,
                nodes: vec![(1, 1, 3, 1), (2, 1, 3, 1), (3, 1, 3, 2)],
                ..QuorumStatus::default()
            }),
            ..ExecStatus::default()
        };
        let groups: Vec<GroupState> = Vec::new();
        serde_json::to_string(&(s, groups, Some(exec))).unwrap()
    }

    #[test]
    fn a_node_status_becomes_cman_tool_input() {
        let t = from_node_status_json(&node_status_json(), "lab").unwrap();
        assert_eq!(t.cluster.name, "lab");
        assert_eq!(t.local.nodeid, 2);
        assert_eq!(t.local.name, "192.0.2.2");
        // Node 3 is known to votequorum but not a ring member.
        let ids: Vec<(u32, Option<bool>)> = t.nodes.iter().map(|n| (n.nodeid, n.member)).collect();
        assert_eq!(
            ids,
            vec![(1, Some(true)), (2, Some(true)), (3, Some(false))]
        );
        assert_eq!(t.nodes[2].name, "node3");
        assert_eq!((t.quorum.quorum, t.quorum.expected_votes), (2, 3));
        assert_eq!(t.quorum.node_votes, 1);
        let text = render_status(&t);
        assert!(text.contains("Node ID: 2\n"), "{text}");
        assert!(text.lines().any(|l| l.starts_with("Quorum: 2")), "{text}");
    }

    #[test]
    fn a_snapshot_is_not_a_node_status() {
        assert!(matches!(
            from_node_status_json("{\"cluster\": {}}", "lab"),
            Err(ToolInputError::Json { .. })
        ));
    }
}
