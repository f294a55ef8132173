//! RRP settings of corosync 1.x/2.x configs (rrp.rs): defaults, refusals, the real
//! capture configs.

use super::*;
use crate::rrp::{RingInterface, RrpMode, RrpSettings};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Maps `text` as `gen`, our addresses being `mine` (and our nodeid `nodeid`, if given).
fn conf(text: &str, gen: Generation, nodeid: Option<u32>, mine: &[&str]) -> Result<NodeConfig> {
    let root = corosync_conf::parse(text)?;
    let mine: Vec<IpAddr> = mine.iter().map(|s| ip(s)).collect();
    map(
        &root,
        Overrides {
            generation: Some(gen),
            nodeid,
        },
        &move |a| mine.contains(&a),
    )
}

const UDPU_246: &str = include_str!("../../tests/data/2.4.6-udpu-n1.conf");
const PASSIVE_246: &str = include_str!("../../tests/data/2.4.6-udpu-rrp-passive-n1.conf");
const UDP_ACTIVE_246: &str = include_str!("../../tests/data/2.4.6-udp-rrp-active-n1.conf");
const ACTIVE_1410: &str = include_str!("../../tests/data/1.4.10-udpu-rrp-active-n1.conf");

/// Every RRP config of the real captures, with its name.
const REAL: &[(&str, &str)] = &[
    (
        "1.4.10-udpu-rrp-active-n1",
        include_str!("../../tests/data/1.4.10-udpu-rrp-active-n1.conf"),
    ),
    (
        "1.4.10-udpu-rrp-active-n2",
        include_str!("../../tests/data/1.4.10-udpu-rrp-active-n2.conf"),
    ),
    (
        "1.4.10-udpu-rrp-active-n3",
        include_str!("../../tests/data/1.4.10-udpu-rrp-active-n3.conf"),
    ),
    (
        "1.4.10-udpu-rrp-passive-n1",
        include_str!("../../tests/data/1.4.10-udpu-rrp-passive-n1.conf"),
    ),
    (
        "1.4.10-udpu-rrp-passive-n2",
        include_str!("../../tests/data/1.4.10-udpu-rrp-passive-n2.conf"),
    ),
    (
        "1.4.10-udpu-rrp-passive-n3",
        include_str!("../../tests/data/1.4.10-udpu-rrp-passive-n3.conf"),
    ),
    (
        "2.4.6-udp-rrp-active-n1",
        include_str!("../../tests/data/2.4.6-udp-rrp-active-n1.conf"),
    ),
    (
        "2.4.6-udp-rrp-active-n2",
        include_str!("../../tests/data/2.4.6-udp-rrp-active-n2.conf"),
    ),
    (
        "2.4.6-udp-rrp-active-n3",
        include_str!("../../tests/data/2.4.6-udp-rrp-active-n3.conf"),
    ),
    (
        "2.4.6-udpu-rrp-active-n1",
        include_str!("../../tests/data/2.4.6-udpu-rrp-active-n1.conf"),
    ),
    (
        "2.4.6-udpu-rrp-active-n2",
        include_str!("../../tests/data/2.4.6-udpu-rrp-active-n2.conf"),
    ),
    (
        "2.4.6-udpu-rrp-active-n3",
        include_str!("../../tests/data/2.4.6-udpu-rrp-active-n3.conf"),
    ),
    (
        "2.4.6-udpu-rrp-passive-n1",
        include_str!("../../tests/data/2.4.6-udpu-rrp-passive-n1.conf"),
    ),
    (
        "2.4.6-udpu-rrp-passive-n2",
        include_str!("../../tests/data/2.4.6-udpu-rrp-passive-n2.conf"),
    ),
    (
        "2.4.6-udpu-rrp-passive-n3",
        include_str!("../../tests/data/2.4.6-udpu-rrp-passive-n3.conf"),
    ),
];

fn ring1_addrs(r: &RingInterface) -> Vec<(u32, IpAddr)> {
    r.nodes.iter().map(|n| (n.nodeid, n.addr)).collect()
}

/// Each real config maps, as the node its name says, to its mode, our ring-1 address
/// and ring 1's nodes.
#[test]
fn every_real_rrp_config_maps() {
    assert_eq!(REAL.len(), 15);
    for (name, text) in REAL {
        let n: u32 = name.rsplit_once("-n").unwrap().1.parse().unwrap();
        let r0 = format!("198.51.100.1{n}");
        let r1 = format!("203.0.113.1{n}");
        let g1 = name.starts_with("1.");
        let (gen, nodeid) = if g1 {
            (Generation::G1, None)
        } else {
            (Generation::G2, Some(n))
        };
        let c = conf(text, gen, nodeid, &[&r0, &r1]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mode = if name.contains("passive") {
            RrpMode::Passive
        } else {
            RrpMode::Active
        };
        let rrp = c.rrp.unwrap_or_else(|| panic!("{name}: no rrp"));
        assert_eq!(rrp.mode, mode, "{name}");
        assert_eq!(c.nodeid, n, "{name}");
        assert_eq!(c.bind_addr, ip(&r0), "{name}");
        let ring1 = c.ring1.as_ref().unwrap();
        assert_eq!(ring1.bind_addr, ip(&r1), "{name}");
        assert_eq!(ring1.mcastport, 5405, "{name}");
        assert_eq!(ring1.scope_id, 0);
        let want: Vec<(u32, IpAddr)> = (1..=3)
            .map(|i| {
                let id = if !g1 || i == n { i } else { 0 };
                (id, ip(&format!("203.0.113.1{i}")))
            })
            .collect();
        assert_eq!(ring1_addrs(ring1), want, "{name}");
        if name.contains("-udp-") {
            assert_eq!(c.transport, TransportKind::Udp);
            assert_eq!(c.mcastaddr, Some(ip("239.255.51.1")));
            assert_eq!(ring1.mcastaddr, Some(ip("239.255.51.2")), "{name}");
        } else {
            assert_eq!(c.transport, TransportKind::Udpu);
            assert_eq!(ring1.mcastaddr, None, "{name}");
        }
        assert_eq!(
            c.engine.address1,
            Some(TotemIpAddress::v4(n, r1.parse().unwrap())),
            "{name}"
        );
        let me = c.nodes.iter().find(|x| x.nodeid == n).unwrap();
        assert_eq!(
            me.ring_addrs,
            vec![(0, ip(&r0), 0), (1, ip(&r1), 0)],
            "{name}"
        );
    }
}

/// corosync's defaults: thresholds 10 and 100, 2000 ms, token retransmit, 1000 ms.
#[test]
fn defaults_are_corosyncs() {
    let c = conf(PASSIVE_246, Generation::G2, Some(1), &[]).unwrap();
    let rrp = c.rrp.unwrap();
    // G2, three nodes: token 1000 + 650 coefficient, / 4.2 = 392 ms.
    assert_eq!(
        c.engine.token_retransmit_timeout(),
        Duration::from_millis(392)
    );
    assert_eq!(
        rrp,
        RrpSettings {
            mode: RrpMode::Passive,
            problem_count_threshold: 10,
            problem_count_mcast_threshold: 100,
            problem_count_timeout: Duration::from_millis(2000),
            token_expired_timeout: Duration::from_millis(392),
            autorecovery_check_timeout: Duration::from_millis(1000),
        }
    );
    // G1: no token coefficient, 1000 / 4.2 = 238 ms.
    let c = conf(
        ACTIVE_1410,
        Generation::G1,
        None,
        &["198.51.100.12", "203.0.113.12"],
    )
    .unwrap();
    assert_eq!(
        c.rrp.unwrap().token_expired_timeout,
        Duration::from_millis(238)
    );
    assert_eq!(c.rrp.unwrap().mode, RrpMode::Active);
    // Without rrp_mode: one ring, as before.
    let c = conf(UDPU_246, Generation::G2, Some(1), &[]).unwrap();
    assert!(c.rrp.is_none() && c.ring1.is_none() && c.engine.address1.is_none());
}

fn with_keys(base: &str, keys: &str) -> String {
    let t = base.replacen("rrp_mode:", &format!("{keys}\n    rrp_mode:"), 1);
    assert_ne!(t, base);
    t
}

/// Each rrp_* key is read; the mcast threshold defaults to 10 × the threshold given.
#[test]
fn rrp_keys_are_read() {
    let t = with_keys(
        PASSIVE_246,
        "rrp_problem_count_threshold: 5\n    rrp_problem_count_timeout: 30\n    rrp_token_expired_timeout: 500\n    rrp_autorecovery_check_timeout: 700",
    );
    let s = conf(&t, Generation::G2, Some(2), &[]).unwrap().rrp.unwrap();
    assert_eq!(s.problem_count_threshold, 5);
    assert_eq!(s.problem_count_mcast_threshold, 50);
    assert_eq!(s.problem_count_timeout, Duration::from_millis(30));
    assert_eq!(s.token_expired_timeout, Duration::from_millis(500));
    assert_eq!(s.autorecovery_check_timeout, Duration::from_millis(700));
    let t = with_keys(PASSIVE_246, "rrp_problem_count_mcast_threshold: 2");
    let s = conf(&t, Generation::G2, Some(2), &[]).unwrap().rrp.unwrap();
    assert_eq!(
        (s.problem_count_threshold, s.problem_count_mcast_threshold),
        (10, 2)
    );
}

fn invalid_of(r: Result<NodeConfig>) -> (String, usize, String) {
    match r {
        Err(NodeConfigError::Invalid {
            key, line, reason, ..
        }) => (key, line, reason),
        other => panic!("expected an invalid value, got {other:?}"),
    }
}

fn refused_of(r: Result<NodeConfig>) -> (String, usize, String) {
    match r {
        Err(NodeConfigError::Refused {
            key, line, reason, ..
        }) => (key, line, reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Out-of-range rrp_* values are refused at their key and line.
#[test]
fn rrp_values_below_minimums_are_invalid() {
    for (kv, key, why) in [
        (
            "rrp_problem_count_threshold: 1",
            "totem.rrp_problem_count_threshold",
            "at least 2",
        ),
        (
            "rrp_problem_count_mcast_threshold: 1",
            "totem.rrp_problem_count_mcast_threshold",
            "at least 2",
        ),
        (
            "rrp_problem_count_timeout: 29",
            "totem.rrp_problem_count_timeout",
            "at least 30 ms",
        ),
        (
            "rrp_token_expired_timeout: 10",
            "totem.rrp_token_expired_timeout",
            "at least 30 ms",
        ),
        (
            "rrp_autorecovery_check_timeout: 0",
            "totem.rrp_autorecovery_check_timeout",
            "at least 1 ms",
        ),
        (
            "rrp_problem_count_timeout: soon",
            "totem.rrp_problem_count_timeout",
            "unsigned integer",
        ),
    ] {
        let t = with_keys(PASSIVE_246, kv);
        let (k, line, reason) = invalid_of(conf(&t, Generation::G2, Some(1), &[]));
        assert_eq!((k.as_str(), line), (key, 7), "{kv}");
        assert!(reason.contains(why), "{kv}: {reason}");
    }
    let t = PASSIVE_246.replace("rrp_mode: passive", "rrp_mode: both");
    let (k, line, reason) = invalid_of(conf(&t, Generation::G2, Some(1), &[]));
    assert_eq!((k.as_str(), line), ("totem.rrp_mode", 7));
    assert_eq!(reason, "must be none, active or passive");
}

/// G3 keeps refusing rrp_mode and the rrp_* keys (knet links are its redundancy).
#[test]
fn g3_still_refuses_rrp() {
    let (k, _, _) = refused_of(conf(PASSIVE_246, Generation::G3, Some(1), &[]));
    assert_eq!(k, "totem.rrp_mode");
    let t = UDPU_246.replace(
        "transport: udpu",
        "transport: udpu\n    rrp_problem_count_threshold: 4",
    );
    let (k, line, _) = refused_of(conf(&t, Generation::G3, Some(1), &[]));
    assert_eq!((k.as_str(), line), ("totem.rrp_problem_count_threshold", 5));
    let t = UDPU_246.replace("transport: udpu", "transport: knet\n    rrp_mode: active");
    let (k, _, _) = refused_of(conf(&t, Generation::G3, Some(1), &[]));
    assert_eq!(k, "totem.rrp_mode");
}

/// Two rings with rrp_mode none, a third ring, ring1_addr without rrp or in G1, a second
/// ring-1 section: refused at the key, with corosync's reason.
#[test]
fn ring_refusals_name_the_key() {
    let none = PASSIVE_246.replace("    rrp_mode: passive\n", "");
    let (k, line, reason) = refused_of(conf(&none, Generation::G2, Some(1), &[]));
    assert_eq!((k.as_str(), line), ("totem.interface.ringnumber", 13));
    assert!(
        reason.contains("2 is too many configured interfaces for the rrp_mode setting none"),
        "{reason}"
    );

    let only_addr = UDPU_246.replace(
        "nodeid: 1\n",
        "nodeid: 1\n        ring1_addr: 203.0.113.11\n",
    );
    let (k, line, reason) = refused_of(conf(&only_addr, Generation::G2, Some(1), &[]));
    assert_eq!((k.as_str(), line), ("nodelist.node.ring1_addr", 18));
    assert!(reason.contains("rrp_mode"), "{reason}");
    let g1 = only_addr
        .replace("    crypto_cipher: none\n    crypto_hash: none\n", "")
        .replace("transport: udpu", "transport: udpu\n    rrp_mode: passive");
    let (k, _, reason) = refused_of(conf(&g1, Generation::G1, Some(1), &[]));
    assert_eq!(k, "nodelist.node.ring1_addr");
    assert!(reason.contains("corosync 1.x"), "{reason}");

    let ring2 = PASSIVE_246.replace("ringnumber: 1", "ringnumber: 2");
    let (k, _, reason) = refused_of(conf(&ring2, Generation::G2, Some(1), &[]));
    assert_eq!(k, "totem.interface.ringnumber");
    assert!(reason.contains("corosync supports two rings"), "{reason}");
    let addr2 = PASSIVE_246.replace("ring1_addr: 203.0.113.12", "ring2_addr: 203.0.113.12");
    let (k, _, reason) = refused_of(conf(&addr2, Generation::G2, Some(1), &[]));
    assert_eq!(k, "nodelist.node.ring2_addr");
    assert!(reason.contains("two rings"), "{reason}");

    let twice = PASSIVE_246.replace(
        "    interface {\n        ringnumber: 1",
        "    interface {\n        ringnumber: 1\n    }\n    interface {\n        ringnumber: 1",
    );
    let (k, _, reason) = refused_of(conf(&twice, Generation::G2, Some(1), &[]));
    assert_eq!(k, "totem.interface.ringnumber");
    assert!(
        reason.contains("a second interface with ringnumber 1"),
        "{reason}"
    );
}

/// With two rings every node needs its ring-1 address, unique and of the ring's family.
#[test]
fn ring1_addr_checks() {
    let t = PASSIVE_246.replace("        ring1_addr: 203.0.113.12\n", "");
    match conf(&t, Generation::G2, Some(1), &[]) {
        Err(NodeConfigError::Missing { key, reason }) => {
            assert_eq!(key, "nodelist.node (line 26).ring1_addr");
            assert!(reason.contains("nodeid 2"), "{reason}");
        }
        other => panic!("expected ring1_addr missing, got {other:?}"),
    }
    let t = PASSIVE_246.replace("ring1_addr: 203.0.113.12", "ring1_addr: 203.0.113.11");
    let (k, line, reason) = invalid_of(conf(&t, Generation::G2, Some(1), &[]));
    assert_eq!((k.as_str(), line), ("nodelist.node.ring1_addr", 28));
    assert!(reason.contains("for nodeid 1"), "{reason}");
    let t = PASSIVE_246.replace("ring1_addr: 203.0.113.12", "ring1_addr: 198.51.100.11");
    let (k, _, reason) = invalid_of(conf(&t, Generation::G2, Some(1), &[]));
    assert_eq!(k, "nodelist.node.ring1_addr");
    assert!(reason.contains("for nodeid 1"), "{reason}");
    let t = PASSIVE_246.replace("ring1_addr: 203.0.113.12", "ring1_addr: fd00::12");
    let (k, _, reason) = invalid_of(conf(&t, Generation::G2, Some(1), &[]));
    assert_eq!(k, "nodelist.node.ring1_addr");
    assert!(
        reason.contains("an IPv6 address, but totem.ip_version is ipv4"),
        "{reason}"
    );
}

/// A G2 udpu nodelist with ring1_addr and no ring-1 interface: passive, port 5405.
#[test]
fn g2_nodelist_ring1_addr_udpu_passive() {
    let t = UDPU_246
        .replace("transport: udpu", "transport: udpu\n    rrp_mode: passive")
        .replace("nodeid: 1\n", "nodeid: 1\n        ring1_addr: 192.0.2.11\n")
        .replace("nodeid: 2\n", "nodeid: 2\n        ring1_addr: 192.0.2.12\n")
        .replace("nodeid: 3\n", "nodeid: 3\n        ring1_addr: 192.0.2.13\n");
    let c = conf(&t, Generation::G2, None, &["198.51.100.13"]).unwrap();
    assert_eq!(c.nodeid, 3);
    assert_eq!(c.rrp.unwrap().mode, RrpMode::Passive);
    let r1 = c.ring1.unwrap();
    assert_eq!(
        (r1.bind_addr, r1.mcastport, r1.mcastaddr),
        (ip("192.0.2.13"), 5405, None)
    );
    assert_eq!(
        ring1_addrs(&r1),
        vec![
            (1, ip("192.0.2.11")),
            (2, ip("192.0.2.12")),
            (3, ip("192.0.2.13"))
        ]
    );
    assert_eq!(
        c.engine.address1,
        Some(TotemIpAddress::v4(3, "192.0.2.13".parse().unwrap()))
    );
    // Ring 0's list keeps ring 0's addresses, with both rings in ring_addrs.
    assert_eq!(c.nodes[0].addr, ip("198.51.100.11"));
    assert_eq!(
        c.nodes[0].ring_addrs,
        vec![(0, ip("198.51.100.11"), 0), (1, ip("192.0.2.11"), 0)]
    );
}

/// G2 udp active with two groups; one group needs ports at least 2 apart.
#[test]
fn g2_udp_active_two_groups_and_shared_group_ports() {
    let c = conf(UDP_ACTIVE_246, Generation::G2, Some(2), &[]).unwrap();
    let r1 = c.ring1.as_ref().unwrap();
    assert_eq!(c.rrp.unwrap().mode, RrpMode::Active);
    assert_eq!((c.mcastaddr, c.mcastport), (Some(ip("239.255.51.1")), 5405));
    assert_eq!(
        (r1.mcastaddr, r1.mcastport, r1.ttl),
        (Some(ip("239.255.51.2")), 5405, 1)
    );
    assert_eq!(r1.bind_addr, ip("203.0.113.12"));

    let shared = UDP_ACTIVE_246.replace("mcastaddr: 239.255.51.2", "mcastaddr: 239.255.51.1");
    let (k, line, reason) = refused_of(conf(&shared, Generation::G2, Some(2), &[]));
    assert_eq!((k.as_str(), line), ("totem.interface.mcastport", 18));
    assert!(reason.contains("differ by at least 2"), "{reason}");
    let near = shared.replacen("mcastport: 5405\n    }\n}", "mcastport: 5406\n    }\n}", 1);
    assert_ne!(near, shared);
    let (k, _, _) = refused_of(conf(&near, Generation::G2, Some(2), &[]));
    assert_eq!(k, "totem.interface.mcastport");
    let apart = shared.replacen(
        "mcastport: 5405\n    }\n}",
        "mcastport: 5407\n    ttl: 3\n    }\n}",
        1,
    );
    let c = conf(&apart, Generation::G2, Some(2), &[]).unwrap();
    let r1 = c.ring1.unwrap();
    assert_eq!(
        (r1.mcastaddr, r1.mcastport, r1.ttl),
        (Some(ip("239.255.51.1")), 5407, 3)
    );

    let no_group = UDP_ACTIVE_246.replace("        mcastaddr: 239.255.51.2\n", "");
    match conf(&no_group, Generation::G2, Some(2), &[]) {
        Err(NodeConfigError::Missing { key, reason }) => {
            assert_eq!(key, "totem.interface.mcastaddr");
            assert!(reason.contains("ring 1"), "{reason}");
        }
        other => panic!("expected mcastaddr missing, got {other:?}"),
    }
}

/// G2 udp without a nodelist: ring 1's own address is its bindnetaddr, found as ring 0's.
#[test]
fn udp_without_nodelist_binds_ring1_bindnetaddr() {
    let t = "totem {\n    version: 2\n    rrp_mode: passive\n    interface {\n        ringnumber: 0\n        bindnetaddr: 192.0.2.1\n        mcastaddr: 239.255.1.1\n        mcastport: 5405\n    }\n    interface {\n        ringnumber: 1\n        bindnetaddr: 192.0.2.129\n        mcastaddr: 239.255.2.1\n    }\n}\n";
    let c = conf(t, Generation::G2, None, &["192.0.2.1", "192.0.2.129"]).unwrap();
    let r1 = c.ring1.unwrap();
    assert_eq!((r1.bind_addr, r1.mcastport), (ip("192.0.2.129"), 5405));
    assert!(r1.nodes.is_empty());
    assert_eq!(
        c.engine.address1,
        Some(TotemIpAddress::v4(
            v4_nodeid("192.0.2.1".parse().unwrap()),
            "192.0.2.129".parse().unwrap()
        ))
    );
    // Not a local address: refused like ring 0's, naming ring 1.
    match conf(t, Generation::G2, None, &["192.0.2.1"]) {
        Err(NodeConfigError::OwnNode(why)) => assert!(why.starts_with("ring 1: "), "{why}"),
        other => panic!("expected own node, got {other:?}"),
    }
}

/// G1 udpu with two member lists: ours gets our nodeid on both rings, the others 0.
#[test]
fn g1_udpu_two_member_lists() {
    let c = conf(
        ACTIVE_1410,
        Generation::G1,
        None,
        &["198.51.100.13", "203.0.113.13"],
    )
    .unwrap();
    assert_eq!(c.nodeid, 1, "totem.nodeid of the file");
    let r1 = c.ring1.as_ref().unwrap();
    assert_eq!(
        ring1_addrs(r1),
        vec![
            (0, ip("203.0.113.11")),
            (0, ip("203.0.113.12")),
            (1, ip("203.0.113.13"))
        ]
    );
    assert_eq!(r1.bind_addr, ip("203.0.113.13"));
    // Ring 1 without members is refused; so are members on ring 1 next to a nodelist.
    let bare = ACTIVE_1410.replace(
        "        member {\n            memberaddr: 203.0.113.11\n        }\n        member {\n            memberaddr: 203.0.113.12\n        }\n        member {\n            memberaddr: 203.0.113.13\n        }\n",
        "",
    );
    assert_ne!(bare, ACTIVE_1410);
    match conf(
        &bare,
        Generation::G1,
        None,
        &["198.51.100.13", "203.0.113.13"],
    ) {
        Err(NodeConfigError::Missing { key, .. }) => assert_eq!(key, "totem.interface.member"),
        other => panic!("expected members missing, got {other:?}"),
    }
    // G1 requires ring 1's mcastport as ring 0's.
    let noport = ACTIVE_1410.replacen(
        "bindnetaddr: 203.0.113.0\n        mcastport: 5405\n",
        "bindnetaddr: 203.0.113.0\n",
        1,
    );
    assert_ne!(noport, ACTIVE_1410);
    match conf(
        &noport,
        Generation::G1,
        None,
        &["198.51.100.13", "203.0.113.13"],
    ) {
        Err(NodeConfigError::Missing { key, .. }) => assert_eq!(key, "totem.interface.mcastport"),
        other => panic!("expected mcastport missing, got {other:?}"),
    }
}

/// rrp_mode with one ring runs one ring (corosync warns).
#[test]
fn rrp_mode_with_one_ring_is_one_ring() {
    let t = UDPU_246.replace("transport: udpu", "transport: udpu\n    rrp_mode: active");
    let c = conf(&t, Generation::G2, Some(1), &[]).unwrap();
    assert!(c.rrp.is_none() && c.ring1.is_none() && c.engine.address1.is_none());
    // Its keys are still checked.
    let t = t.replace(
        "rrp_mode: active",
        "rrp_mode: active\n    rrp_problem_count_threshold: 0",
    );
    let (k, _, _) = invalid_of(conf(&t, Generation::G2, Some(1), &[]));
    assert_eq!(k, "totem.rrp_problem_count_threshold");
}
