//! cluster.conf → corosync.conf migration on realistic cluster.conf files: the output is parsed
//! back (totem's corosync.conf grammar, and corosync 3.1.7's own `corosync -t` when installed) and
//! checked key by key against values worked out by hand from the cluster.conf and cman's rules
//! (cman-preconfig.c: default port 5405, token 10000, join 60, consensus 4800,
//! token_retransmits_before_loss_const 20, multicast 239.192.(id>>8).(id%255)).

use std::collections::BTreeMap;
use std::process::Command;

use cman_compat::migrate::{migrate, Kind, MigrateError, MigrateOptions, Migration};
use totem::corosync_conf::{flatten, parse};

fn data(name: &str) -> String {
    let p = format!(
        "{}/tests/data/cluster-conf/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn run(name: &str, opts: &MigrateOptions) -> (Migration, BTreeMap<String, String>) {
    let m = migrate(&data(name), opts).expect("migrate");
    let top = parse(&m.corosync_conf).expect("output parses as corosync.conf");
    (m, flatten(&top))
}

fn assert_keys(keys: &BTreeMap<String, String>, expected: &[(&str, &str)]) {
    for (k, v) in expected {
        assert_eq!(
            keys.get(*k).map(String::as_str),
            Some(*v),
            "key {k}; all keys: {keys:#?}"
        );
    }
}

/// Runs corosync's own config check when corosync is installed: it must get past parsing and
/// validation (only key loading, local-node matching and name resolution may fail here).
fn corosync_accepts(conf: &str) {
    let Ok(out) = Command::new("corosync").arg("-v").output() else {
        println!("SKIP: corosync not installed");
        return;
    };
    if !out.status.success() {
        println!("SKIP: corosync -v failed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("migrate-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let key = dir.join("authkey");
    std::fs::write(&key, [7u8; 128]).expect("key");
    let mut text = String::new();
    for line in conf.lines() {
        if line.trim_start().starts_with("keyfile:") {
            text.push_str(&format!("    keyfile: {}\n", key.display()));
        } else {
            text.push_str(line);
            text.push('\n');
        }
        if line.trim() == "totem {" && !conf.contains("keyfile:") {
            text.push_str(&format!("    keyfile: {}\n", key.display()));
        }
    }
    let path = dir.join(format!("c{}.conf", text.len()));
    std::fs::write(&path, &text).expect("conf");
    let out = Command::new("timeout")
        .arg("20")
        .arg("corosync")
        .arg("-t")
        .arg("-c")
        .arg(&path)
        .output()
        .expect("run corosync -t");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ok_failures = [
        "No valid name found for local host",
        "failed to parse bindnet address",
        "Configuration is OK",
    ];
    assert!(
        !log.contains("parser error"),
        "corosync could not parse:\n{text}\n{log}"
    );
    assert!(
        out.status.success() || ok_failures.iter().any(|f| log.contains(f)),
        "corosync rejected:\n{text}\n{log}"
    );
}

#[test]
fn two_node_with_fencing_and_rgmanager() {
    let (m, k) = run("two-node.xml", &MigrateOptions::default());
    assert_keys(
        &k,
        &[
            ("totem.version", "2"),
            ("totem.cluster_name", "mycluster"),
            ("totem.config_version", "7"),
            ("totem.token", "10000"),
            ("totem.join", "60"),
            ("totem.consensus", "4800"),
            ("totem.token_retransmits_before_loss_const", "20"),
            ("totem.rrp_mode", "none"),
            ("totem.secauth", "on"),
            ("totem.transport", "udp"),
            // cluster id of "mycluster" is 56756 = 0xDDB4: 239.192.221.(56756 % 255 = 146).
            ("totem.interface.0.mcastaddr", "239.192.221.146"),
            ("totem.interface.0.mcastport", "5405"),
            ("nodelist.node.0.ring0_addr", "node1.example.com"),
            ("nodelist.node.0.nodeid", "1"),
            ("nodelist.node.0.quorum_votes", "1"),
            ("nodelist.node.1.ring0_addr", "node2.example.com"),
            ("nodelist.node.1.nodeid", "2"),
            ("nodelist.node.1.quorum_votes", "1"),
            ("quorum.provider", "corosync_votequorum"),
            ("quorum.two_node", "1"),
        ],
    );
    assert!(!k.contains_key("quorum.expected_votes"));
    assert!(!k.contains_key("totem.interface.1.mcastaddr"));
    assert!(!k.contains_key("totem.keyfile"));
    let r = &m.report;
    for p in [
        "cluster/fence_daemon",
        "cluster/clusternodes/clusternode[@name='node1.example.com']/fence",
        "cluster/clusternodes/clusternode[@name='node2.example.com']/fence",
        "cluster/fencedevices/fencedevice[@name='ipmi-node1']",
        "cluster/fencedevices/fencedevice[@name='ipmi-node2']",
        "cluster/rm",
    ] {
        assert!(
            r.mentions(Kind::NotMigrated, p),
            "{p} not reported:\n{}",
            r.render()
        );
    }
    assert!(r.mentions(Kind::Changed, "cluster/cman/@expected_votes"));
    assert!(r.mentions(Kind::Changed, "cluster/cman/@two_node"));
    assert!(r.mentions(Kind::Derived, "cluster/cman/multicast/@addr"));
    assert!(r.mentions(Kind::ActionRequired, "cluster/cman/@keyfile"));
    corosync_accepts(&m.corosync_conf);
}

#[test]
fn five_nodes_with_qdisk() {
    let opts = MigrateOptions {
        qnetd_host: Some("qnetd.example.com".into()),
    };
    let (m, k) = run("five-node-qdisk.xml", &opts);
    assert_keys(
        &k,
        &[
            ("totem.cluster_name", "alpha"),
            ("totem.config_version", "42"),
            ("totem.token", "21000"),
            ("totem.consensus", "25200"),
            ("totem.secauth", "off"),
            ("totem.window_size", "100"),
            ("totem.join", "60"),
            ("totem.token_retransmits_before_loss_const", "20"),
            ("totem.interface.0.mcastaddr", "239.192.100.1"),
            ("totem.interface.0.mcastport", "5404"),
            ("totem.interface.0.ttl", "3"),
            ("nodelist.node.4.ring0_addr", "n5"),
            ("nodelist.node.4.nodeid", "5"),
            ("quorum.expected_votes", "9"),
            ("quorum.device.model", "net"),
            ("quorum.device.votes", "4"),
            // interval 2 s x tko 8 = 16 s.
            ("quorum.device.timeout", "16000"),
            ("quorum.device.net.host", "qnetd.example.com"),
            ("quorum.device.heuristics.mode", "sync"),
            ("quorum.device.heuristics.interval", "2000"),
            (
                "quorum.device.heuristics.exec_heuristic1",
                "ping -c1 -w1 192.0.2.254",
            ),
            (
                "quorum.device.heuristics.exec_heuristic2",
                "/usr/local/bin/check-san",
            ),
        ],
    );
    assert_eq!(
        k.keys().filter(|x| x.ends_with(".ring0_addr")).count(),
        5,
        "five nodes"
    );
    assert!(!k.contains_key("quorum.two_node"));
    assert!(!k.contains_key("totem.keyfile"));
    let r = &m.report;
    for p in [
        "cluster/quorumd/@label",
        "cluster/quorumd/@min_score",
        "cluster/quorumd/heuristic[1]/@score",
        "cluster/quorumd/heuristic[1]/@tko",
        "cluster/quorumd/heuristic[2]/@score",
        "cluster/logging",
        "cluster/dlm",
    ] {
        assert!(
            r.mentions(Kind::NotMigrated, p),
            "{p} not reported:\n{}",
            r.render()
        );
    }
    assert!(!r.mentions(Kind::ActionRequired, "cluster/quorumd"));
    assert!(!r.has(Kind::Derived, "cluster/totem/@token"));
    assert!(r.has(Kind::Derived, "cluster/totem/@join"));
    // The migrated configuration passes votequorum's own start-up rules (device votes 4 with
    // expected 9 leaves 5 node votes, nodes all vote 1).
    let q = totem::quorum::QuorumOptions {
        nodelist: (1..=5)
            .map(|i| totem::quorum::NodeEntry {
                nodeid: i,
                votes: 1,
            })
            .collect(),
        expected_votes: Some(9),
        device: Some(Some(4)),
        ..Default::default()
    };
    let eff = q.resolve(1, None).expect("votequorum accepts");
    assert_eq!((eff.expected_votes, eff.qdevice_votes), (9, 4));
    corosync_accepts(&m.corosync_conf);
    // Without a qnetd host the placeholder is written and flagged.
    let (m, k) = run("five-node-qdisk.xml", &MigrateOptions::default());
    assert_keys(&k, &[("quorum.device.net.host", "REPLACE_WITH_QNETD_HOST")]);
    assert!(m.report.mentions(Kind::ActionRequired, "cluster/quorumd"));
}

#[test]
fn rrp_with_altnames() {
    let (m, k) = run("rrp-altname.xml", &MigrateOptions::default());
    assert_keys(
        &k,
        &[
            ("totem.cluster_name", "ring-cluster"),
            ("totem.rrp_mode", "passive"),
            ("totem.token", "15000"),
            ("totem.join", "100"),
            ("totem.consensus", "4800"),
            ("totem.secauth", "on"),
            ("totem.keyfile", "/etc/cluster/cman_authkey"),
            ("totem.interface.0.mcastaddr", "239.192.200.1"),
            ("totem.interface.0.mcastport", "5405"),
            ("totem.interface.1.mcastaddr", "239.192.200.2"),
            ("totem.interface.1.mcastport", "5405"),
            ("nodelist.node.0.ring0_addr", "192.0.2.11"),
            ("nodelist.node.0.ring1_addr", "198.51.100.11"),
            ("nodelist.node.0.nodeid", "11"),
            ("nodelist.node.0.quorum_votes", "2"),
            ("nodelist.node.1.ring1_addr", "198.51.100.12"),
            ("nodelist.node.1.quorum_votes", "1"),
            ("nodelist.node.2.ring0_addr", "192.0.2.13"),
            ("nodelist.node.2.ring1_addr", "198.51.100.13"),
            ("nodelist.node.2.nodeid", "13"),
        ],
    );
    let r = &m.report;
    assert!(r.mentions(
        Kind::NotMigrated,
        "cluster/clusternodes/clusternode[@name='192.0.2.13']/altname[@name='203.0.113.13']"
    ));
    assert!(r.mentions(
        Kind::Changed,
        "cluster/clusternodes/clusternode[@name='192.0.2.13']/altname/@port"
    ));
    assert!(r.mentions(Kind::Changed, "cluster/totem/@keyfile"));
    assert!(!r.mentions(Kind::ActionRequired, ""));
    corosync_accepts(&m.corosync_conf);
}

#[test]
fn derived_rrp_mode_and_missing_ring1() {
    let xml = r#"<cluster name="c" config_version="1"><clusternodes>
        <clusternode name="192.0.2.1" nodeid="1"><altname name="198.51.100.1"/></clusternode>
        <clusternode name="192.0.2.2" nodeid="2"/>
      </clusternodes></cluster>"#;
    let m = migrate(xml, &MigrateOptions::default()).expect("migrate");
    let k = flatten(&parse(&m.corosync_conf).expect("parse"));
    // cman: rrp_mode active when more than one interface; ring 1 reuses ring 0's multicast.
    assert_eq!(k.get("totem.rrp_mode").map(String::as_str), Some("active"));
    assert_eq!(
        k.get("totem.interface.1.mcastaddr"),
        k.get("totem.interface.0.mcastaddr")
    );
    assert!(m.report.mentions(
        Kind::ActionRequired,
        "cluster/clusternodes/clusternode[@name='192.0.2.2']"
    ));
}

#[test]
fn udpu_transport_and_ipv6_default_multicast() {
    let xml = r#"<cluster name="v6" config_version="2"><cman transport="udpu" port="5500"/>
      <clusternodes><clusternode name="fd00::1" nodeid="1"/><clusternode name="fd00::2" nodeid="2"/></clusternodes></cluster>"#;
    let m = migrate(xml, &MigrateOptions::default()).expect("migrate");
    let k = flatten(&parse(&m.corosync_conf).expect("parse"));
    assert_eq!(k.get("totem.transport").map(String::as_str), Some("udpu"));
    assert!(!k.contains_key("totem.interface.0.mcastaddr"));
    assert_eq!(
        k.get("totem.interface.0.mcastport").map(String::as_str),
        Some("5500")
    );
    let xml6 = xml.replace(r#" transport="udpu""#, "");
    let m = migrate(&xml6, &MigrateOptions::default()).expect("migrate");
    let k = flatten(&parse(&m.corosync_conf).expect("parse"));
    // "v6": ('v'=118)*2 + ('6'=54) = 290 = 0x122.
    assert_eq!(
        k.get("totem.interface.0.mcastaddr").map(String::as_str),
        Some("ff15::122")
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let e = migrate(
        "<cluster name='x'><clusternodes>",
        &MigrateOptions::default(),
    );
    assert!(matches!(e, Err(MigrateError::Xml { .. })), "{e:?}");
    let e = migrate("<cluster/>", &MigrateOptions::default());
    assert_eq!(
        e.err(),
        Some(MigrateError::Missing {
            what: "cluster/@name"
        })
    );
    let e = migrate(
        "<cluster name='x'><clusternodes><clusternode name='a' nodeid='zz'/></clusternodes></cluster>",
        &MigrateOptions::default(),
    );
    assert_eq!(
        e.err(),
        Some(MigrateError::BadValue {
            path: "cluster/clusternodes/clusternode[@name='a']/@nodeid".into(),
            value: "zz".into(),
            expected: "an unsigned integer in range",
        })
    );
    let e = migrate(
        "<cluster name='x'><clusternodes><clusternode name='a' nodeid='1'/><clusternode name='b' nodeid='1'/></clusternodes></cluster>",
        &MigrateOptions::default(),
    );
    assert!(matches!(e, Err(MigrateError::BadValue { .. })), "{e:?}");
    let e = migrate("<cluster name='x'/>", &MigrateOptions::default());
    assert!(matches!(e, Err(MigrateError::Missing { .. })));
}

#[test]
fn cli_writes_conf_and_report() {
    let bin = env!("CARGO_BIN_EXE_cluster-conf-migrate");
    let input = format!(
        "{}/tests/data/cluster-conf/two-node.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = Command::new(bin).arg(&input).output().expect("run");
    assert!(out.status.success());
    let conf = String::from_utf8_lossy(&out.stdout);
    let k = flatten(&parse(&conf).expect("parse"));
    assert_eq!(k.get("quorum.two_node").map(String::as_str), Some("1"));
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(report.contains("not migrated: cluster/rm:"), "{report}");
    let bad = Command::new(bin)
        .arg("/nonexistent/cluster.conf")
        .output()
        .expect("run");
    assert!(!bad.status.success());
}
