//! Five of our totem-nodes (G3 udpu) over IPv6 in network namespaces, 5 % random packet
//! loss on every node: formation, one total order, kill -9 and restart, partition and merge.
//! Needs root (the README's test command); see `common/live_ring.rs` for the phases.

#[path = "common/live_ring.rs"]
mod live_ring;

#[test]
fn five_node_ring_ipv6() {
    live_ring::five_nodes_with_loss_crash_and_partition(true, "lr6");
}
