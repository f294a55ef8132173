//! The cman view of one of our live nodes, for tests that check it against corosync's
//! quorum tools (totem itself does not depend on cman-compat, which sits above it).

/// `cman_tool status` of a node, from its `totem-node status --json` output; `None` when the
/// output is not a node status.
pub fn tool_status(node_status_json: &str, cluster_name: &str) -> Option<String> {
    let input =
        cman_compat::cmantool::from_node_status_json(node_status_json, cluster_name).ok()?;
    Some(cman_compat::cmantool::render_status(&input))
}
