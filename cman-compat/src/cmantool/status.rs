//! `cman_tool status`.

use std::fmt::Write;

use super::input::ToolInput;

/// cman_tool's name for a membership state code.
pub fn membership_state_name(code: u32) -> String {
    match code {
        1 => "Joining".into(),
        2 => "Cluster-Member".into(),
        3 => "Not-in-Cluster".into(),
        4 => "Leaving".into(),
        c => format!("Unknown: code={c}"),
    }
}

/// The text `cman_tool status` printed for `t`.
pub fn render_status(t: &ToolInput) -> String {
    let c = &t.cluster;
    let q = &t.quorum;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Version: {}.{}.{}",
        c.version[0], c.version[1], c.version[2]
    );
    let _ = writeln!(o, "Config Version: {}", c.config_version);
    let _ = writeln!(o, "Cluster Name: {}", c.name);
    let _ = writeln!(o, "Cluster Id: {}", t.cluster_id());
    o.push_str("Cluster Member: Yes\n");
    let _ = writeln!(o, "Cluster Generation: {}", c.generation);
    let _ = writeln!(
        o,
        "Membership state: {}",
        membership_state_name(c.membership_state)
    );
    let _ = writeln!(o, "Nodes: {}", q.members.len());
    let _ = writeln!(o, "Expected votes: {}", q.expected_votes);
    if q.qdevice_votes > 0 {
        let _ = writeln!(o, "Quorum device votes: {}", q.qdevice_votes);
    }
    let _ = writeln!(o, "Total votes: {}", q.total_votes);
    let _ = writeln!(o, "Node votes: {}", q.node_votes);
    let _ = writeln!(
        o,
        "Quorum: {} {}",
        q.quorum,
        if q.quorate { " " } else { "Activity blocked" }
    );
    let _ = writeln!(o, "Active subsystems: {}", c.active_subsystems);
    o.push_str("Flags:");
    if q.two_node {
        o.push_str(" 2node");
    }
    if c.shutdown {
        o.push_str(" Shutdown");
    }
    if c.error {
        o.push_str(" Error");
    }
    if !c.disallowed_nodes.is_empty() {
        o.push_str(" DisallowedNodes");
    }
    if c.dirty {
        o.push_str(" Dirty");
    }
    o.push_str(" \n");
    o.push_str("Ports Bound: ");
    let mut ports = c.ports_bound.clone();
    ports.sort_unstable();
    ports.dedup();
    for p in ports {
        let _ = write!(o, "{p} ");
    }
    o.push_str(" \n");
    let _ = writeln!(o, "Node name: {}", t.local.name);
    let _ = writeln!(o, "Node ID: {}", t.local.nodeid);
    o.push_str("Multicast addresses: ");
    for a in &c.multicast_addresses {
        let _ = write!(o, "{a} ");
    }
    o.push('\n');
    o.push_str("Node addresses: ");
    for a in &t.local.addresses {
        let _ = write!(o, "{a} ");
    }
    o.push('\n');
    if !c.disallowed_nodes.is_empty() {
        o.push_str("Disallowed nodes: ");
        for n in &c.disallowed_nodes {
            let _ = write!(o, "{n} ");
        }
        o.push('\n');
    }
    o
}
