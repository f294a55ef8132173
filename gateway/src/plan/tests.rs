use super::*;

const C2: &str = "totem {\n    version: 2\n    cluster_name: prod\n    transport: udpu\n    token: 3000\n    crypto_cipher: none\n    crypto_hash: none\n    interface {\n        ringnumber: 0\n        bindnetaddr: 192.0.2.0\n        mcastport: 5405\n    }\n}\nnodelist {\n    node {\n        ring0_addr: 192.0.2.11\n        nodeid: 1\n    }\n    node {\n        ring0_addr: 192.0.2.12\n        nodeid: 2\n    }\n}\nquorum {\n    provider: corosync_votequorum\n    two_node: 1\n}\n";

#[test]
fn a_udpu_cluster_gets_a_step_and_a_final_config() {
    let c = read_cluster(C2).unwrap();
    assert_eq!(
        (c.cluster_name.as_str(), c.port, c.nodes.len()),
        ("prod", 5405, 2)
    );
    let s = step(
        &c,
        2,
        LocalTransport::Udpu,
        "/usr/bin/totem-gateway",
        "/etc/totem-gateway",
    )
    .unwrap();
    // The corosync 3 config parses with our own grammar and says what the gateway expects.
    let root = parse(&s.corosync_conf).unwrap();
    let t = root.section("totem").unwrap();
    assert_eq!(t.get("transport"), Some("udpu"));
    assert_eq!(t.get("token"), Some("3000"));
    assert_eq!(root.section("quorum").unwrap().get("two_node"), Some("1"));
    let g = crate::conf::GatewayConf::parse(&s.gateway_conf).unwrap();
    assert_eq!(g.nodeid, 2);
    assert_eq!(g.daemon_addr.to_string(), shadow(2));
    assert_eq!(
        g.by_ring_addr("192.0.2.11".parse().unwrap())
            .unwrap()
            .shadow
            .to_string(),
        shadow(1)
    );
    assert!(s.prepare_sh.contains("127.1.0.2/32"));
    assert!(s
        .unit
        .contains("ExecStart=/usr/bin/totem-gateway run -c /etc/totem-gateway/gateway.conf"));
    let f = parse(&final_conf(&c)).unwrap();
    assert_eq!(f.section("totem").unwrap().get("transport"), Some("knet"));
    assert_eq!(f.section("nodelist").unwrap().sections("node").count(), 2);
}

#[test]
fn what_cannot_be_bridged_is_refused_with_the_way_out() {
    for (from, to, why) in [
        ("transport: udpu", "transport: udp", "udpu"),
        (
            "crypto_cipher: none",
            "crypto_cipher: blowfish",
            "crypto_cipher",
        ),
        ("nodeid: 2", "nodeid: 0\n", "nodeid"),
    ] {
        let e = read_cluster(&C2.replace(from, to)).unwrap_err();
        assert!(e.to_string().contains(why), "{to}: {e}");
    }
    // Node ids falling as addresses rise: the generations would order the ring two ways.
    let swapped = C2.replace("nodeid: 1", "nodeid: 9");
    let e = read_cluster(&swapped).unwrap_err();
    assert!(e.to_string().contains("renumber"), "{e}");
    let e = step(
        &read_cluster(C2).unwrap(),
        5,
        LocalTransport::Knet,
        "b",
        "d",
    )
    .unwrap_err();
    assert!(e.to_string().contains("node 5"), "{e}");
}

#[test]
fn crypto_goes_to_the_gateway_and_maps_to_knet_in_the_final_config() {
    let c2 = C2
        .replace("crypto_cipher: none", "crypto_cipher: aes256")
        .replace("crypto_hash: none", "crypto_hash: sha1");
    let c = read_cluster(&c2).unwrap();
    let s = step(&c, 1, LocalTransport::Udpu, "b", "d").unwrap();
    let g = crate::conf::GatewayConf::parse(&s.gateway_conf).unwrap();
    assert_eq!(
        (g.crypto_cipher.as_str(), g.crypto_hash.as_str()),
        ("aes256", "sha1")
    );
    assert_eq!(
        g.keyfile.as_deref(),
        Some(std::path::Path::new("/etc/corosync/authkey"))
    );
    // Over udpu the daemon beside the gateway runs without crypto (corosync 3 refuses it there).
    let d = parse(&s.corosync_conf).unwrap();
    assert_eq!(
        d.section("totem").unwrap().get("crypto_cipher"),
        Some("none")
    );
    assert_eq!(g.daemon_transport, crate::conf::DaemonTransport::Udpu);
    // Over knet (the default) the daemon and the gateway agree on knet crypto: the same
    // cipher, sha256 for sha1, the cluster key; the 2.x netmtu bounds Totem's frames.
    let s = step(&c, 1, LocalTransport::Knet, "b", "d").unwrap();
    let d = parse(&s.corosync_conf).unwrap();
    let t = d.section("totem").unwrap();
    assert_eq!(
        (
            t.get("transport"),
            t.get("crypto_cipher"),
            t.get("crypto_hash"),
            t.get("netmtu")
        ),
        (Some("knet"), Some("aes256"), Some("sha256"), Some("1500"))
    );
    assert_eq!(t.get("keyfile"), Some("/etc/corosync/authkey"));
    let g = crate::conf::GatewayConf::parse(&s.gateway_conf).unwrap();
    let crate::conf::DaemonTransport::Knet { crypto, token } = g.daemon_transport else {
        panic!("knet expected: {}", s.gateway_conf)
    };
    assert_eq!(
        crypto,
        totem_wire::envelope::knet::KnetCryptoConfig::from_names("nss", "aes256", "sha256")
            .unwrap()
    );
    assert_eq!(token, std::time::Duration::from_millis(3000));
    // The corosync 3 side of the step is a configuration our own node reader (the same
    // keys and checks corosync 3 applies) takes as knet with that crypto and netmtu.
    let cfg = totem::node_config::map(
        &d,
        totem::node_config::Overrides {
            generation: Some(totem_wire::Generation::G3),
            nodeid: Some(1),
        },
        &|_| false,
    )
    .unwrap();
    assert_eq!(cfg.transport, totem::node_config::TransportKind::Knet);
    assert_eq!(cfg.netmtu, 1500);
    assert_eq!(cfg.knet.crypto.map(|k| k.config), Some(crypto));
    let f = parse(&final_conf(&c)).unwrap();
    let t = f.section("totem").unwrap();
    assert_eq!(
        (t.get("crypto_cipher"), t.get("crypto_hash")),
        (Some("aes256"), Some("sha256"))
    );
    // secauth: on alone is aes256 + sha1 in corosync 2.
    let on = C2.replace(
        "    crypto_cipher: none\n    crypto_hash: none\n",
        "    secauth: on\n",
    );
    assert_eq!(read_cluster(&on).unwrap().crypto.unwrap().hash, "sha1");
}

#[test]
fn a_redundant_ring_is_bridged_on_both_rings_and_becomes_two_knet_links() {
    let rrp = C2
        .replace(
            "    crypto_hash: none\n",
            "    crypto_hash: none\n    rrp_mode: active\n",
        )
        .replace(
            "        mcastport: 5405\n    }\n",
            "        mcastport: 5405\n    }\n    interface {\n        ringnumber: 1\n        bindnetaddr: 198.51.100.0\n        mcastport: 5407\n    }\n",
        )
        .replace(
            "ring0_addr: 192.0.2.11\n",
            "ring0_addr: 192.0.2.11\n        ring1_addr: 198.51.100.11\n",
        );
    // One node without its ring 1 address: refused, with the way out.
    let e = read_cluster(&rrp).unwrap_err();
    assert!(
        e.to_string().contains("node 2") && e.to_string().contains("ring1_addr"),
        "{e}"
    );
    let rrp = rrp.replace(
        "ring0_addr: 192.0.2.12\n",
        "ring0_addr: 192.0.2.12\n        ring1_addr: 198.51.100.12\n",
    );
    let c = read_cluster(&rrp).unwrap();
    assert_eq!(
        (c.rrp_mode.as_deref(), c.port, c.port1),
        (Some("active"), 5405, 5407)
    );
    let s = step(&c, 2, LocalTransport::Knet, "b", "d").unwrap();
    let g = crate::conf::GatewayConf::parse(&s.gateway_conf).unwrap();
    assert!(g.redundant());
    assert_eq!(g.ring1_port, 5407);
    assert_eq!(
        g.by_addr_on(1, "198.51.100.11".parse().unwrap())
            .map(|n| n.nodeid),
        Some(1)
    );
    assert_eq!(g.by_addr_on(0, "198.51.100.11".parse().unwrap()), None);
    let f = parse(&final_conf(&c)).unwrap();
    let t = f.section("totem").unwrap();
    assert_eq!(t.get("link_mode"), Some("active"));
    let links: Vec<(Option<&str>, Option<&str>)> = t
        .sections("interface")
        .map(|i| (i.get("linknumber"), i.get("mcastport")))
        .collect();
    assert_eq!(
        links,
        [(Some("0"), Some("5405")), (Some("1"), Some("5407"))]
    );
    // ring1_addr without rrp_mode: 2.x runs one ring; the plan says so.
    let e = read_cluster(&rrp.replace("    rrp_mode: active\n", "")).unwrap_err();
    assert!(e.to_string().contains("rrp_mode"), "{e}");
}
