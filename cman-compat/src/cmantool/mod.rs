//! `cman_tool status` / `cman_tool nodes` views: the text cman 3.x's `cman_tool` printed,
//! rendered from a [`ToolInput`] (a quorum engine snapshot plus cluster and node facts).
//!
//! Formats follow cman_tool's `show_status()` / `show_nodes()` / `print_node()` (cluster.git,
//! last revision before the tree split, `cman/cman_tool/main.c` at 64cbd506b in the
//! resource-agents history): field names, order, spacing and trailing blanks included.

pub mod input;
pub mod node;
pub mod nodes;
pub mod status;
pub mod timefmt;

pub use input::{
    ClusterFacts, LocalNode, NodeFacts, QuorumFacts, ToolInput, ToolInputError, CMAN_VERSION,
};
pub use node::{from_node_status_json, tool_input};
pub use nodes::{render_nodes, NodesOptions};
pub use status::{membership_state_name, render_status};
