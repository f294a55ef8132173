//! Golden tests for the `cman_tool status` / `cman_tool nodes` views. Every expected text was
//! written by hand from cman_tool's printf formats (cluster.git `cman/cman_tool/main.c`,
//! `show_status()` and `print_node()`), e.g. `"Quorum: %d %s\n"` with `" "` when quorate,
//! `"Flags:"` + `" 2node"` + `" \n"`, `"Ports Bound: "` + `"%d "` each + `" \n"`,
//! `"%4d   %c  %5d   %s  %s\n"` per node. Trailing blanks are spelled out. Cluster ids were
//! computed separately (a Python transcription of cman's generate_cluster_id).

use std::io::Write;
use std::process::{Command, Stdio};

use cman_compat::cmantool::input::{cluster_id_from_name, QuorumFacts};
use cman_compat::cmantool::{render_nodes, render_status, NodesOptions, ToolInput};
use totem::quorum::{Cluster, NodeEntry, QuorumOptions};

const TWO_NODE: &str = r#"{
  "cluster": {"name": "mycluster", "config_version": 3, "generation": 8,
              "active_subsystems": 7, "ports_bound": [0],
              "multicast_addresses": ["239.192.221.146"]},
  "local": {"nodeid": 1, "name": "node1", "addresses": ["192.0.2.1"]},
  "quorum": {"quorate": true, "quorum": 1, "total_votes": 2, "expected_votes": 1,
             "node_votes": 1, "two_node": true, "members": [1, 2]},
  "nodes": [
    {"nodeid": 2, "name": "node2", "incarnation": 8, "join_time": 1234567990,
     "addresses": ["192.0.2.2"]},
    {"nodeid": 1, "name": "node1", "incarnation": 4, "join_time": 1234567890,
     "addresses": ["192.0.2.1", "198.51.100.1"]}
  ]
}"#;

const FIVE_NODE_QDISK_INQUORATE: &str = r#"{
  "cluster": {"name": "alpha", "id": 4242, "config_version": 17, "generation": 1204,
              "active_subsystems": 9, "ports_bound": [177, 0, 11, 11],
              "multicast_addresses": ["239.192.16.146", "239.192.16.147"],
              "dirty": true, "disallowed_nodes": ["node5"]},
  "local": {"nodeid": 3, "name": "node3", "addresses": ["192.0.2.3", "198.51.100.3"]},
  "quorum": {"quorate": false, "quorum": 5, "total_votes": 3, "expected_votes": 9,
             "node_votes": 1, "qdevice_votes": 1, "members": [3, 4, 5]},
  "nodes": [
    {"nodeid": 1, "name": "node1", "incarnation": 1196, "join_time": 1300000000},
    {"nodeid": 3, "name": "node3", "incarnation": 1196, "join_time": 1300000100,
     "addresses": ["192.0.2.3", "198.51.100.3"]},
    {"nodeid": 4, "name": "node4", "incarnation": 1200, "join_time": 1300000200},
    {"nodeid": 5, "name": "node5", "incarnation": 1204, "join_time": 1300000300},
    {"nodeid": 12, "name": "node12"}
  ]
}"#;

#[test]
fn status_two_node_quorate() {
    let t = ToolInput::from_json(TWO_NODE).expect("input");
    let expected = concat!(
        "Version: 6.2.0\n",
        "Config Version: 3\n",
        "Cluster Name: mycluster\n",
        "Cluster Id: 56756\n",
        "Cluster Member: Yes\n",
        "Cluster Generation: 8\n",
        "Membership state: Cluster-Member\n",
        "Nodes: 2\n",
        "Expected votes: 1\n",
        "Total votes: 2\n",
        "Node votes: 1\n",
        "Quorum: 1  \n",
        "Active subsystems: 7\n",
        "Flags: 2node \n",
        "Ports Bound: 0  \n",
        "Node name: node1\n",
        "Node ID: 1\n",
        "Multicast addresses: 239.192.221.146 \n",
        "Node addresses: 192.0.2.1 \n",
    );
    assert_eq!(render_status(&t), expected);
}

#[test]
fn status_inquorate_with_qdisk_dirty_disallowed() {
    let t = ToolInput::from_json(FIVE_NODE_QDISK_INQUORATE).expect("input");
    let expected = concat!(
        "Version: 6.2.0\n",
        "Config Version: 17\n",
        "Cluster Name: alpha\n",
        "Cluster Id: 4242\n",
        "Cluster Member: Yes\n",
        "Cluster Generation: 1204\n",
        "Membership state: Cluster-Member\n",
        "Nodes: 3\n",
        "Expected votes: 9\n",
        "Quorum device votes: 1\n",
        "Total votes: 3\n",
        "Node votes: 1\n",
        "Quorum: 5 Activity blocked\n",
        "Active subsystems: 9\n",
        "Flags: DisallowedNodes Dirty \n",
        "Ports Bound: 0 11 177  \n",
        "Node name: node3\n",
        "Node ID: 3\n",
        "Multicast addresses: 239.192.16.146 239.192.16.147 \n",
        "Node addresses: 192.0.2.3 198.51.100.3 \n",
        "Disallowed nodes: node5 \n",
    );
    assert_eq!(render_status(&t), expected);
}

#[test]
fn status_no_flags_no_ports_other_states() {
    let mut t = ToolInput::from_json(TWO_NODE).expect("input");
    t.quorum.two_node = false;
    t.cluster.ports_bound.clear();
    t.cluster.membership_state = 4;
    let s = render_status(&t);
    assert!(s.contains("\nFlags: \n"), "{s}");
    assert!(s.contains("\nPorts Bound:  \n"), "{s}");
    assert!(s.contains("\nMembership state: Leaving\n"), "{s}");
    t.cluster.membership_state = 9;
    assert!(render_status(&t).contains("\nMembership state: Unknown: code=9\n"));
    t.cluster.shutdown = true;
    t.cluster.error = true;
    t.quorum.two_node = true;
    assert!(render_status(&t).contains("\nFlags: 2node Shutdown Error \n"));
}

#[test]
fn nodes_default_and_addresses() {
    let t = ToolInput::from_json(TWO_NODE).expect("input");
    let expected = concat!(
        "Node  Sts   Inc   Joined               Name\n",
        "   1   M      4   2009-02-13 23:31:30  node1\n",
        "   2   M      8   2009-02-13 23:33:10  node2\n",
    );
    assert_eq!(render_nodes(&t, &NodesOptions::default()), expected);
    let with_addr = concat!(
        "Node  Sts   Inc   Joined               Name\n",
        "   1   M      4   2009-02-13 23:31:30  node1\n",
        "       Addresses: 192.0.2.1 198.51.100.1 \n",
        "   2   M      8   2009-02-13 23:33:10  node2\n",
        "       Addresses: 192.0.2.2 \n",
    );
    let o = NodesOptions {
        addresses: true,
        ..NodesOptions::default()
    };
    assert_eq!(render_nodes(&t, &o), with_addr);
}

#[test]
fn nodes_dead_disallowed_and_unjoined() {
    let t = ToolInput::from_json(FIVE_NODE_QDISK_INQUORATE).expect("input");
    let expected = concat!(
        "NOTE: There are 1 disallowed nodes,\n",
        "      members list may seem inconsistent across the cluster\n",
        "Node  Sts   Inc   Joined               Name\n",
        "   1   X   1196                        node1\n",
        "   3   M   1196   2011-03-13 07:08:20  node3\n",
        "   4   M   1200   2011-03-13 07:10:00  node4\n",
        "   5   d   1204   2011-03-13 07:11:40  node5\n",
        "  12   X      0                        node12\n",
    );
    assert_eq!(render_nodes(&t, &NodesOptions::default()), expected);
}

#[test]
fn nodes_format_and_filter() {
    let t = ToolInput::from_json(TWO_NODE).expect("input");
    let o = NodesOptions {
        format: Some("id,name,type,addr".into()),
        ..NodesOptions::default()
    };
    assert_eq!(
        render_nodes(&t, &o),
        "1 node1 M 192.0.2.1,198.51.100.1 \n2 node2 M 192.0.2.2 \n"
    );
    let o = NodesOptions {
        format: Some("name,bogus,id".into()),
        names: vec!["node2".into()],
        ..NodesOptions::default()
    };
    assert_eq!(render_nodes(&t, &o), "node2 2 \n");
    let o = NodesOptions {
        names: vec!["node1".into()],
        ..NodesOptions::default()
    };
    assert_eq!(
        render_nodes(&t, &o),
        "Node  Sts   Inc   Joined               Name\n   1   M      4   2009-02-13 23:31:30  node1\n"
    );
}

#[test]
fn cluster_ids_from_names() {
    // Python transcription of generate_cluster_id() (value <<= 1; value += name[i]; & 0xFFFF).
    assert_eq!(cluster_id_from_name("mycluster"), 56756);
    assert_eq!(cluster_id_from_name("alpha"), 3169);
    assert_eq!(
        cluster_id_from_name("production-db-cluster-with-a-long-name"),
        56035
    );
}

#[test]
fn status_from_engine_snapshot() {
    // 3 nodes, one vote each; node 3 dies: 2 of 3 votes present, quorum 2 (votequorum rule).
    let opts = QuorumOptions {
        nodelist: (1..=3)
            .map(|i| NodeEntry {
                nodeid: i,
                votes: 1,
            })
            .collect(),
        ..QuorumOptions::default()
    };
    let mut c = Cluster::start_all(opts).expect("start");
    c.down(3).expect("down");
    let snap = c.snapshot(1).expect("node 1");
    let mut t = ToolInput::from_json(TWO_NODE).expect("input");
    t.quorum = QuorumFacts::from_snapshot(&snap);
    let s = render_status(&t);
    for line in [
        "\nNodes: 2\n",
        "\nExpected votes: 3\n",
        "\nTotal votes: 2\n",
        "\nNode votes: 1\n",
        "\nQuorum: 2  \n",
        "\nFlags: \n",
    ] {
        assert!(s.contains(line), "missing {line:?} in\n{s}");
    }
}

#[test]
fn binary_prints_status_and_rejects_bad_input() {
    let bin = env!("CARGO_BIN_EXE_cman_tool");
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cman_tool");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write");
        child.wait_with_output().expect("wait")
    };
    let out = run(&["status"], TWO_NODE);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(
        text.starts_with("Version: 6.2.0\nConfig Version: 3\n"),
        "{text}"
    );
    let out = run(&["nodes", "-F", "id,type"], TWO_NODE);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1 M \n2 M \n");
    let out = run(&["status"], "{\"cluster\": 5}");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid cman_tool input"));
    let bad_port = TWO_NODE.replace("\"ports_bound\": [0]", "\"ports_bound\": [256]");
    let out = run(&["status"], &bad_port);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cluster.ports_bound = 256"));
}
