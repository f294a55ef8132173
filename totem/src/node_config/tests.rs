use super::*;
use std::net::Ipv6Addr;

fn conf(text: &str, gen: Generation, me: &str) -> Result<NodeConfig> {
    let root = corosync_conf::parse(text)?;
    let me: IpAddr = me.parse().unwrap();
    map(
        &root,
        Overrides {
            generation: Some(gen),
            nodeid: None,
        },
        &move |ip| ip == me,
    )
}

const UDPU_246: &str = include_str!("../../tests/data/2.4.6-udpu-n1.conf");
const MIXED_317: &str = include_str!("../../tests/data/mixed-2.4.6x2+3.1.7-udpu-n3.conf");
const AES_246: &str = include_str!("../../tests/data/2.4.6-udpu-aes256-sha1-n1.conf");
const SECAUTH_1410: &str = include_str!("../../tests/data/1.4.10-udpu-secauth-n1.conf");
const OPENAIS: &str = include_str!("../../tests/data/openais-0.80.6-udp-n1.conf");
const IPV6_246: &str = include_str!("../../tests/data/2.4.6-udpu-ipv6-n1.conf");

fn refused_key(r: Result<NodeConfig>) -> (String, String) {
    match r {
        Err(NodeConfigError::Refused { key, reason, .. }) => (key, reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// 2.4.6 udpu none/none IPv4: net_mtu 1270 is what 2.4.6 put on the wire (spec §5.1).
#[test]
fn g2_udpu_capture_config() {
    let c = conf(UDPU_246, Generation::G2, "198.51.100.12").unwrap();
    assert_eq!(c.nodeid, 2);
    assert_eq!(c.transport, TransportKind::Udpu);
    assert_eq!(c.mcastport, 5405);
    assert_eq!(c.bind_addr, "198.51.100.12".parse::<IpAddr>().unwrap());
    assert_eq!(c.nodes.len(), 3);
    assert_eq!(
        c.crypto,
        CryptoSetting::TotemCrypto {
            cipher: Cipher::None,
            hash: Hash::None,
            keyfile: None
        }
    );
    assert_eq!(c.net_mtu(), 1270);
    assert_eq!(c.cluster_name.as_deref(), Some("old246"));
    assert_eq!(
        c.engine.address,
        Some(TotemIpAddress::v4(2, "198.51.100.12".parse().unwrap()))
    );
    // The quorum section is ours (votequorum, one vote per node).
    assert!(c.ignored.is_empty(), "{:?}", c.ignored);
    let q = c.quorum.as_ref().expect("votequorum configured");
    assert_eq!(q.nodelist.len(), 3);
    assert!(q.nodelist.iter().all(|n| n.votes == 1));
    assert_eq!(
        c.logging.logfile,
        Some(PathBuf::from("@RUNDIR@/n1/corosync.log"))
    );
    assert!(!c.logging.to_stderr && !c.logging.debug);
    assert!(c.block_unlisted_ips);
}

/// corosync 3.1.7 with a 3-node nodelist ran token 3650, consensus 4380
/// (findings-corosync3-live.md).
#[test]
fn g3_udpu_capture_config() {
    let c = conf(MIXED_317, Generation::G3, "198.51.100.13").unwrap();
    assert_eq!(c.nodeid, 3);
    assert_eq!(c.crypto, CryptoSetting::None);
    assert_eq!(c.engine.token_timeout(), Duration::from_millis(3650));
    assert_eq!(c.engine.consensus_timeout(), Duration::from_millis(4380));
    assert_eq!(c.engine.address, None);
    assert_eq!(c.net_mtu(), 1500 - 28 - 2 * 45);
    assert_eq!(c.ignored, ["system"]);
}

#[test]
fn g2_aes_and_g3_refuses_crypto_like_corosync_3() {
    let c = conf(AES_246, Generation::G2, "198.51.100.11").unwrap();
    assert_eq!(
        c.crypto,
        CryptoSetting::TotemCrypto {
            cipher: Cipher::Aes256,
            hash: Hash::Sha1,
            keyfile: Some(PathBuf::from("@RUNDIR@/authkey"))
        }
    );
    // 4 header + 20 sha1 + 16 salt + 2 blocks of 16.
    assert_eq!(c.net_mtu(), 1500 - 28 - (4 + 20 + 16 + 32) - 2 * 99);
    let (key, reason) = refused_key(conf(AES_246, Generation::G3, "198.51.100.11"));
    assert_eq!(key, "totem.crypto_cipher");
    assert_eq!(
        reason,
        "crypto_cipher & crypto_hash are only valid for the Knet transport"
    );
    let t = UDPU_246.replace("crypto_cipher: none", "secauth: on");
    let (key, reason) = refused_key(conf(&t, Generation::G3, "198.51.100.11"));
    assert_eq!(key, "totem.secauth");
    assert!(reason.contains("Knet"));
}

/// G2 defaults: no crypto keys and no secauth means aes256/sha1 (corosync 2.x totemconfig).
#[test]
fn g2_crypto_defaults() {
    let t = UDPU_246
        .replace("crypto_cipher: none\n", "")
        .replace("crypto_hash: none\n", "");
    let c = conf(&t, Generation::G2, "198.51.100.11").unwrap();
    assert!(matches!(
        c.crypto,
        CryptoSetting::TotemCrypto {
            cipher: Cipher::Aes256,
            hash: Hash::Sha1,
            ..
        }
    ));
    let t2 = t.replace("transport: udpu", "transport: udpu\n secauth: off");
    let c = conf(&t2, Generation::G2, "198.51.100.11").unwrap();
    assert!(matches!(
        c.crypto,
        CryptoSetting::TotemCrypto {
            cipher: Cipher::None,
            hash: Hash::None,
            keyfile: None
        }
    ));
}

#[test]
fn g1_secauth_with_interface_members() {
    let c = conf(SECAUTH_1410, Generation::G1, "198.51.100.11").unwrap();
    assert_eq!(c.nodeid, 1);
    assert_eq!(c.nodes.len(), 3);
    assert_eq!(c.nodes[0].nodeid, 1);
    assert_eq!(c.nodes[1].nodeid, 0);
    assert_eq!(
        c.crypto,
        CryptoSetting::Secauth {
            mode: SecauthMode::Sober,
            trailer: Some(0),
            keyfile: PathBuf::from("@RUNDIR@/authkey-1410")
        }
    );
    assert_eq!(c.engine.token, Duration::from_millis(1000));
}

#[test]
fn g1_openais_multicast() {
    let c = conf(OPENAIS, Generation::G1, "198.51.100.11").unwrap();
    assert_eq!(c.transport, TransportKind::Udp);
    assert_eq!(c.mcastaddr, Some("239.255.51.1".parse().unwrap()));
    assert_eq!(c.crypto, CryptoSetting::None);
    // 198.51.100.11 = c6 33 64 0b, read little-endian.
    assert_eq!(c.nodeid, 0x0b64_33c6);
    assert_eq!(c.ignored, ["amf", "aisexec"]);
    assert!(c.nodes.is_empty());
}

#[test]
fn ipv6_nodelist() {
    let c = conf(IPV6_246, Generation::G2, "fd00:51::13").unwrap();
    assert_eq!(c.nodeid, 3);
    assert_eq!(c.ip_version, IpVersion::V6);
    assert_eq!(
        c.bind_addr,
        IpAddr::V6("fd00:51::13".parse::<Ipv6Addr>().unwrap())
    );
    assert_eq!(c.net_mtu(), 1500 - 48 - 4 - 2 * 99);
    let t = IPV6_246.replace("fd00:51::12", "fe80::12%7");
    let c = conf(&t, Generation::G2, "fe80::12").unwrap();
    assert_eq!((c.nodeid, c.scope_id), (2, 7));
}

#[test]
fn knet_accepted_and_default_in_g3() {
    let t = UDPU_246.replace("transport: udpu", "transport: knet");
    let c = conf(&t, Generation::G3, "198.51.100.11").unwrap();
    assert_eq!(c.transport, TransportKind::Knet);
    // corosync 3.1.7 totemconfig.c: net_mtu = KNET_MAX_PACKET_SIZE (65536), minus two
    // 45-byte mcast headers (totemsrp_net_mtu_adjust).
    assert_eq!(c.net_mtu(), 65536 - 2 * 45);
    assert_eq!(c.knet.links.len(), 1);
    let l = &c.knet.links[0];
    assert_eq!((l.linknumber, l.port), (0, 5405));
    // 3 nodes: token timeout 3000 + 650 = 3650 ms; ping interval = 3650 / (2 × pong_count 2),
    // ping timeout = 3650 / 2 (calc_knet_ping_timers).
    assert_eq!(l.params.ping_interval.as_millis(), 912);
    assert_eq!(l.params.ping_timeout.as_millis(), 1825);
    assert_eq!((l.params.pong_count, l.params.priority), (2, 1));
    assert_eq!(l.params.ping_precision, 2048);
    let t = UDPU_246.replace("transport: udpu\n", "");
    let c = conf(&t, Generation::G3, "198.51.100.11").unwrap();
    assert_eq!(c.transport, TransportKind::Knet, "the corosync 3 default");
    // G2 without transport defaults to udp, which then needs mcastaddr.
    assert!(matches!(
        conf(&t, Generation::G2, "198.51.100.11"),
        Err(NodeConfigError::Missing { key, .. }) if key == "totem.interface.mcastaddr"
    ));
    let (key, _) = refused_key(conf(
        &UDPU_246.replace("transport: udpu", "transport: knet"),
        Generation::G2,
        "198.51.100.11",
    ));
    assert_eq!(key, "totem.transport");
}

#[test]
fn knet_two_links_and_options() {
    let t = UDPU_246
        .replace("transport: udpu", "transport: knet\n    link_mode: active\n    knet_compression_model: none")
        .replace(
            "interface {\n        ringnumber: 0\n        bindnetaddr: 198.51.100.0\n        mcastport: 5405\n    }",
            "interface {\n        linknumber: 0\n        knet_link_priority: 5\n        knet_pong_count: 3\n    }\n    interface {\n        linknumber: 1\n        knet_ping_interval: 200\n        knet_ping_timeout: 1000\n        knet_transport: udp\n    }",
        )
        .replace("nodeid: 1\n", "nodeid: 1\n        ring1_addr: 203.0.113.11\n")
        .replace("nodeid: 2\n", "nodeid: 2\n        ring1_addr: 203.0.113.12\n");
    let c = conf(&t, Generation::G3, "198.51.100.11").unwrap();
    assert_eq!(c.knet.link_mode, crate::knet::LinkPolicy::Active);
    let ports: Vec<(u8, u16, u8)> = c
        .knet
        .links
        .iter()
        .map(|l| (l.linknumber, l.port, l.params.priority))
        .collect();
    // Default port of link N is 5405 + N (totemconfig.c without broadcast).
    assert_eq!(ports, vec![(0, 5405, 5), (1, 5406, 1)]);
    assert_eq!(c.knet.links[0].params.pong_count, 3);
    assert_eq!(
        c.knet.links[0].params.ping_timeout,
        std::time::Duration::from_millis(1216)
    );
    assert_eq!(c.knet.links[1].params.ping_interval.as_millis(), 200);
    assert_eq!(c.nodes[1].ring_addrs.len(), 2);
    assert_eq!(c.nodes[2].ring_addrs.len(), 1);
    for (from, to, key, why) in [
        (
            "knet_transport: udp",
            "knet_transport: sctp",
            "totem.interface.knet_transport",
            "SCTP",
        ),
        (
            "knet_compression_model: none",
            "knet_compression_model: zlib",
            "totem.knet_compression_model",
            "compression",
        ),
    ] {
        let (k, reason) = refused_key(conf(&t.replace(from, to), Generation::G3, "198.51.100.11"));
        assert_eq!(k, key);
        assert!(reason.contains(why), "{reason}");
    }
    // knet crypto (corosync 3.1.7 totem_get_crypto): a cipher needs a hash.
    let bad = t.replace("crypto_cipher: none", "crypto_cipher: aes256");
    assert!(matches!(
        conf(&bad, Generation::G3, "198.51.100.11"),
        Err(NodeConfigError::Invalid { key, reason, .. })
            if key == "totem.crypto_hash" && reason.contains("crypto_hash")
    ));
    let on = bad.replace(
        "crypto_hash: none",
        "crypto_hash: sha256\n    crypto_model: openssl\n    keyfile: /tmp/k",
    );
    let c = conf(&on, Generation::G3, "198.51.100.11").unwrap();
    let k = c.knet.crypto.expect("crypto on");
    assert_eq!(k.keyfile, std::path::PathBuf::from("/tmp/k"));
    assert_eq!(
        k.config,
        totem_wire::envelope::knet::KnetCryptoConfig::from_names("openssl", "aes256", "sha256")
            .unwrap()
    );
    assert_eq!(
        c.crypto,
        CryptoSetting::None,
        "the Totem envelope stays bare over knet"
    );
    // secauth: on means nss/aes256/sha256 with the default key file.
    let sec = t
        .replace("crypto_cipher: none\n", "")
        .replace("crypto_hash: none\n", "")
        .replace("link_mode: active", "link_mode: active\n    secauth: on");
    let c = conf(&sec, Generation::G3, "198.51.100.11").unwrap();
    let k = c.knet.crypto.expect("secauth on");
    assert_eq!(
        k.config,
        totem_wire::envelope::knet::KnetCryptoConfig::COROSYNC_SECAUTH
    );
    assert_eq!(k.keyfile, std::path::PathBuf::from("/etc/corosync/authkey"));
    assert!(conf(&t, Generation::G3, "198.51.100.11")
        .unwrap()
        .knet
        .crypto
        .is_none());
}

#[test]
fn refusals_name_the_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("transport: udpu", "transport: udpu\n  foo: 1", "totem.foo"),
        (
            "transport: udpu",
            "transport: udpu\n  rrp_mode: passive",
            "totem.rrp_mode",
        ),
        (
            "transport: udpu",
            "transport: udpu\n  threads: 4",
            "totem.threads",
        ),
        (
            "ringnumber: 0",
            "ringnumber: 1",
            "totem.interface.ringnumber",
        ),
        (
            "mcastport: 5405",
            "mcastport: 5405\n broadcast: yes",
            "totem.interface.broadcast",
        ),
        (
            "mcastport: 5405",
            "mcastport: 5405\n knet_ping_interval: 5",
            "totem.interface.knet_ping_interval",
        ),
        (
            "transport: udpu",
            "transport: udpu\n  link_mode: active",
            "totem.link_mode",
        ),
        (
            "nodeid: 2\n",
            "nodeid: 2\n ring1_addr: 203.0.113.2\n",
            "nodelist.node.ring1_addr",
        ),
        (
            "ring0_addr: 198.51.100.13",
            "ring0_addr: node3.example",
            "nodelist.node.ring0_addr",
        ),
        (
            "debug: off",
            "debug: off\n to_ringbuffer: yes",
            "logging.to_ringbuffer",
        ),
        ("version: 2", "version: 3", "totem.version"),
    ];
    for (from, to, key) in cases {
        let t = UDPU_246.replacen(from, to, 1);
        assert_ne!(t, UDPU_246, "{from}");
        let (k, reason) = refused_key(conf(&t, Generation::G3, "198.51.100.11"));
        assert_eq!(&k, key, "{to}: {reason}");
        assert!(!reason.is_empty());
    }
}

#[test]
fn invalid_values_carry_line_numbers() {
    let t = UDPU_246.replace("transport: udpu", "transport: udpu\n    token: soon");
    match conf(&t, Generation::G3, "198.51.100.11") {
        Err(NodeConfigError::Invalid {
            key, line, value, ..
        }) => {
            assert_eq!(
                (key.as_str(), line, value.as_str()),
                ("totem.token", 5, "soon")
            );
        }
        other => panic!("{other:?}"),
    }
    let e = conf(&t, Generation::G3, "198.51.100.11")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("line 5: totem.token"), "{e}");
    let t = UDPU_246.replace("nodeid: 3", "nodeid: 2");
    assert!(matches!(
        conf(&t, Generation::G3, "198.51.100.11"),
        Err(NodeConfigError::Invalid { reason, line: 25, .. }) if reason.starts_with("duplicate nodeid")
    ));
}

#[test]
fn timers_and_flow_control_are_mapped() {
    let t = UDPU_246.replace(
        "transport: udpu",
        "transport: udpu\n token: 1000\n token_coefficient: 0\n consensus: 1500\n join: 60\n merge: 300\n max_messages: 20\n window_size: 60\n netmtu: 9000",
    );
    let c = conf(&t, Generation::G3, "198.51.100.11").unwrap();
    assert_eq!(c.engine.token_timeout(), Duration::from_millis(1000));
    assert_eq!(c.engine.consensus_timeout(), Duration::from_millis(1500));
    assert_eq!(c.engine.join, Duration::from_millis(60));
    assert_eq!(c.engine.merge, Duration::from_millis(300));
    assert_eq!((c.engine.max_messages, c.engine.window_size), (20, 60));
    assert_eq!(c.net_mtu(), 9000 - 28 - 90);
}

#[test]
fn own_node_selection() {
    let root = corosync_conf::parse(UDPU_246).unwrap();
    let g3 = |nodeid| Overrides {
        generation: Some(Generation::G3),
        nodeid,
    };
    assert!(matches!(
        map(&root, g3(None), &|_| false),
        Err(NodeConfigError::OwnNode(m)) if m.contains("pass --nodeid")
    ));
    assert!(matches!(
        map(&root, g3(None), &|_| true),
        Err(NodeConfigError::OwnNode(m)) if m.contains("several")
    ));
    let c = map(&root, g3(Some(3)), &|_| true).unwrap();
    assert_eq!(c.bind_addr, "198.51.100.13".parse::<IpAddr>().unwrap());
    assert!(matches!(
        map(&root, g3(Some(9)), &|_| true),
        Err(NodeConfigError::OwnNode(m)) if m.contains("nodeid 9")
    ));
}

#[test]
fn logging_keys() {
    let t = UDPU_246
        .replace("to_stderr: no", "to_stderr: yes")
        .replace("debug: off", "debug: on");
    let c = conf(&t, Generation::G3, "198.51.100.11").unwrap();
    assert!(c.logging.to_stderr && c.logging.debug);
    let t = UDPU_246.replace("to_logfile: yes", "to_logfile: no");
    let c = conf(&t, Generation::G3, "198.51.100.11").unwrap();
    assert_eq!(c.logging.logfile, None);
}

#[test]
fn generation_flag() {
    assert_eq!(parse_generation("G2"), Ok(Generation::G2));
    assert_eq!(parse_generation("g3"), Ok(Generation::G3));
    assert!(parse_generation("g4").is_err());
}

/// MIXED_317 (G3 udpu, node 3) with a `keygen` section made of `body` lines; returns the
/// text and the line number of the section's first body line.
fn with_keygen(base: &str, body: &[&str]) -> (String, usize) {
    let first = base.lines().count() + 2;
    let mut t = base.to_string();
    if !t.ends_with('\n') {
        t.push('\n');
        return with_keygen(&t, body);
    }
    t.push_str("keygen {\n");
    for l in body {
        t.push_str("    ");
        t.push_str(l);
        t.push('\n');
    }
    t.push_str("}\n");
    (t, first)
}

fn invalid_at(r: Result<NodeConfig>) -> (String, usize, String) {
    match r {
        Err(NodeConfigError::Invalid {
            key, line, reason, ..
        }) => (key, line, reason),
        other => panic!("expected an invalid value, got {other:?}"),
    }
}

#[test]
fn keygen_section_enables_the_secure_layer() {
    let (t, _) = with_keygen(
        MIXED_317,
        &[
            "enable: yes",
            "keyfile: /etc/totem/authkey",
            "rekey_interval: 1000",
            "rekey_packets: 5000",
            "retire_grace: 250",
        ],
    );
    let c = conf(&t, Generation::G3, "198.51.100.13").unwrap();
    assert_eq!(
        c.secure,
        Some(SecureSettings {
            keyfile: PathBuf::from("/etc/totem/authkey"),
            rekey_interval: Some(Duration::from_millis(1000)),
            rekey_packets: Some(5000),
            retire_grace: Duration::from_millis(250),
        })
    );
    // The corosync envelope stays off; the secure envelope (32 + 16) and frame byte count.
    assert_eq!(c.crypto, CryptoSetting::None);
    assert_eq!(c.net_mtu(), 1500 - 28 - 49 - 2 * 45);
    assert!(c.engine.max_payload > c.net_mtu());
    // The section is ours, not an ignored one.
    assert_eq!(c.ignored, ["system"]);

    // Defaults: totem.keyfile, no rekey by time or volume, 2 s grace.
    let base = MIXED_317.replace("    crypto_hash: none\n", "    keyfile: /k/auth\n");
    let (t, _) = with_keygen(&base, &["enable: on", "rekey_interval: 0"]);
    let c = conf(&t, Generation::G3, "198.51.100.13").unwrap();
    let s = c.secure.unwrap();
    assert_eq!(s.keyfile, PathBuf::from("/k/auth"));
    assert_eq!(s.rekey_interval, None);
    assert_eq!(s.rekey_packets, None);
    assert_eq!(s.retire_grace, Duration::from_secs(2));

    // enable: no leaves the ring corosync-compatible.
    let (t, _) = with_keygen(MIXED_317, &["enable: no"]);
    let c = conf(&t, Generation::G3, "198.51.100.13").unwrap();
    assert_eq!(c.secure, None);
    assert_eq!(c.net_mtu(), 1500 - 28 - 2 * 45);
}

#[test]
fn keygen_refuses_corosync_crypto_knet_and_other_generations() {
    let on = ["enable: yes"];
    let cases: [(String, &str, &str); 5] = [
        (
            MIXED_317.replace("crypto_cipher: none", "crypto_cipher: aes256"),
            "totem.crypto_cipher",
            "corosync crypto cannot be combined with keygen.enable",
        ),
        (
            MIXED_317.replace("crypto_hash: none", "crypto_hash: sha256"),
            "totem.crypto_hash",
            "corosync crypto cannot be combined with keygen.enable",
        ),
        (
            MIXED_317.replace("crypto_hash: none", "secauth: on"),
            "totem.secauth",
            "corosync crypto cannot be combined with keygen.enable",
        ),
        (
            MIXED_317.replace("transport: udpu", "transport: knet"),
            "totem.transport",
            "use transport udpu or udp",
        ),
        (
            MIXED_317.replace("    transport: udpu\n", ""),
            "keygen.enable",
            "the G3 default transport is knet",
        ),
    ];
    for (base, key, why) in cases {
        let (t, _) = with_keygen(&base, &on);
        let (k, reason) = refused_key(conf(&t, Generation::G3, "198.51.100.13"));
        assert_eq!((k.as_str(), reason.contains(why)), (key, true), "{reason}");
    }
    let (t, line) = with_keygen(UDPU_246, &on);
    for gen in [Generation::G1, Generation::G2] {
        match conf(&t, gen, "198.51.100.11") {
            Err(NodeConfigError::Refused {
                key,
                line: l,
                reason,
                ..
            }) => {
                assert_eq!((key.as_str(), l), ("keygen.enable", line));
                assert!(reason.contains("generation G3"), "{reason}");
            }
            other => panic!("{gen}: expected a refusal, got {other:?}"),
        }
    }
}

#[test]
fn keygen_invalid_values_name_key_and_line() {
    let cases: [(&str, &str, &str); 7] = [
        (
            "rekey_interval: 50",
            "keygen.rekey_interval",
            "below 100 ms",
        ),
        (
            "rekey_interval: 1s",
            "keygen.rekey_interval",
            "not an unsigned integer",
        ),
        (
            "rekey_interval: 86400001",
            "keygen.rekey_interval",
            "above one day",
        ),
        (
            "rekey_packets: 10",
            "keygen.rekey_packets",
            "below 100 datagrams",
        ),
        (
            "rekey_packets: -1",
            "keygen.rekey_packets",
            "not an unsigned integer",
        ),
        ("retire_grace: 0", "keygen.retire_grace", "at least 1 ms"),
        ("enable: maybe", "keygen.enable", "expected yes/no"),
    ];
    for (entry, key, why) in cases {
        let lead = if entry.starts_with("enable") {
            "keyfile: /k"
        } else {
            "enable: yes"
        };
        let (t, first) = with_keygen(MIXED_317, &[lead, entry]);
        let (k, line, reason) = invalid_at(conf(&t, Generation::G3, "198.51.100.13"));
        assert_eq!((k.as_str(), line), (key, first + 1), "{entry}");
        assert!(reason.contains(why), "{entry}: {reason}");
    }
    let (t, first) = with_keygen(MIXED_317, &["enable: yes", "rekey_every: 5"]);
    match conf(&t, Generation::G3, "198.51.100.13") {
        Err(NodeConfigError::Refused { key, line, .. }) => {
            assert_eq!((key.as_str(), line), ("keygen.rekey_every", first + 1))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let (t, _) = with_keygen(MIXED_317, &["rekey_interval: 1000"]);
    match conf(&t, Generation::G3, "198.51.100.13") {
        Err(NodeConfigError::Missing { key, .. }) => assert_eq!(key, "keygen.enable"),
        other => panic!("expected enable missing, got {other:?}"),
    }
}

/// Every corosync.conf bundled with the repository (and the shared capture configs, where
/// present) in the generation its file name says, as the node of its `-nN` suffix.
fn bundled_configs() -> Vec<(String, String, Generation, Option<u32>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    for dir in [
        "totem/tests/data",
        "captures/g3",
        "../shared/captures/configs",
    ] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for p in files {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".conf") {
                continue;
            }
            let gen = if name.starts_with("3.") {
                Generation::G3
            } else if name.starts_with("2.") || name.starts_with("mixed-2") {
                Generation::G2
            } else {
                Generation::G1
            };
            let n = name
                .rsplit_once("-n")
                .and_then(|(_, r)| r.trim_end_matches(".conf").parse().ok());
            out.push((name, std::fs::read_to_string(&p).unwrap(), gen, n));
        }
    }
    out
}

/// The new consistency checks refuse none of the configs corosync ran for the captures:
/// each maps, or stops only at the own-node choice (RRP configs included: rrp_mode is read).
#[test]
fn every_bundled_config_still_maps() {
    let all = bundled_configs();
    assert!(all.len() >= 10, "only {} configs found", all.len());
    let mut ok = 0;
    for (name, text, gen, n) in all {
        let root = corosync_conf::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ov = Overrides {
            generation: Some(gen),
            nodeid: n.filter(|_| root.section("nodelist").is_some()),
        };
        match map(&root, ov, &|_| true) {
            Ok(_) => ok += 1,
            Err(NodeConfigError::OwnNode(_)) => {}
            Err(e) => panic!("{name}: {e}"),
        }
    }
    assert!(ok >= 6, "only {ok} configs mapped");
}

fn with_totem(extra: &str) -> String {
    UDPU_246.replace("transport: udpu", &format!("transport: udpu\n{extra}"))
}

fn invalid_key(r: Result<NodeConfig>) -> (String, usize, String) {
    match r {
        Err(NodeConfigError::Invalid {
            key, line, reason, ..
        }) => (key, line, reason),
        other => panic!("expected an invalid value, got {other:?}"),
    }
}

/// corosync 3's timer minimums (30 ms; hold 14 ms) and consensus ≥ join, at the key, with
/// its line; a derived value is refused at the key it comes from.
#[test]
fn timers_below_corosyncs_minimums_are_refused() {
    for (extra, key, why) in [
        (
            "    token: 20",
            "totem.token",
            "below corosync's minimum of 30 ms",
        ),
        (
            "    join: 10",
            "totem.join",
            "below corosync's minimum of 30 ms",
        ),
        (
            "    merge: 5",
            "totem.merge",
            "below corosync's minimum of 30 ms",
        ),
        (
            "    downcheck: 29",
            "totem.downcheck",
            "below corosync's minimum of 30 ms",
        ),
        (
            "    consensus: 20",
            "totem.consensus",
            "below corosync's minimum of 30 ms",
        ),
        (
            "    hold: 10",
            "totem.hold",
            "below corosync's minimum of 14 ms",
        ),
        (
            "    token_retransmit: 25",
            "totem.token_retransmit",
            "below corosync's minimum of 30 ms",
        ),
        (
            "    join: 500\n    consensus: 400",
            "totem.consensus",
            "may not be below join (500 ms)",
        ),
        (
            "    token: 100\n    token_coefficient: 0\n    token_retransmits_before_loss_const: 10",
            "totem.token_retransmits_before_loss_const",
            "token retransmit timeout it gives",
        ),
    ] {
        let t = with_totem(extra);
        let (k, line, reason) = invalid_key(conf(&t, Generation::G3, "198.51.100.11"));
        assert_eq!(k, key, "{extra}");
        assert!(line >= 5, "{extra}: line {line}");
        assert!(reason.contains(why), "{extra}: {reason}");
    }
    // corosync accepts consensus below 1.2 × token (its man page calls it safe with two
    // nodes): warned about, not refused.
    assert!(conf(
        &with_totem("    token: 1000\n    consensus: 900"),
        Generation::G3,
        "198.51.100.11"
    )
    .is_ok());
    assert!(conf(
        &with_totem("    token: 30\n    join: 30"),
        Generation::G3,
        "198.51.100.11"
    )
    .is_ok());
}

/// Two nodes with one address, or one node with an address twice, are refused at the
/// second address's line; so is a duplicate nodeid, derived (G2, IPv4) or written.
#[test]
fn duplicate_addresses_and_nodeids_are_refused() {
    let t = UDPU_246.replace("ring0_addr: 198.51.100.13", "ring0_addr: 198.51.100.12");
    let (k, line, reason) = invalid_key(conf(&t, Generation::G2, "198.51.100.11"));
    assert_eq!((k.as_str(), line), ("nodelist.node.ring0_addr", 24));
    assert!(
        reason.contains("already in the nodelist for nodeid 2"),
        "{reason}"
    );
    let knet = UDPU_246
        .replace("transport: udpu", "transport: knet")
        .replace(
            "nodeid: 1\n",
            "nodeid: 1\n        ring1_addr: 198.51.100.11\n",
        );
    let (_, _, reason) = invalid_key(conf(&knet, Generation::G3, "198.51.100.11"));
    assert!(reason.contains("another link of this node"), "{reason}");
    let knet = UDPU_246
        .replace("transport: udpu", "transport: knet")
        .replace(
            "nodeid: 1\n",
            "nodeid: 1\n        ring1_addr: 203.0.113.11\n",
        )
        .replace(
            "nodeid: 2\n",
            "nodeid: 2\n        ring1_addr: 203.0.113.11\n",
        );
    let (k, _, reason) = invalid_key(conf(&knet, Generation::G3, "198.51.100.11"));
    assert_eq!(k, "nodelist.node.ring1_addr");
    assert!(reason.contains("for nodeid 1"), "{reason}");
}

/// An address of the other family is refused at its own line (it was once "line 0").
#[test]
fn a_mixed_family_nodelist_names_the_real_line() {
    let t = UDPU_246.replace("ring0_addr: 198.51.100.13", "ring0_addr: fd00::13");
    let (k, line, reason) = invalid_key(conf(&t, Generation::G2, "198.51.100.11"));
    assert_eq!((k.as_str(), line), ("nodelist.node.ring0_addr", 24));
    assert!(
        reason.contains("an IPv6 address, but totem.ip_version is ipv4"),
        "{reason}"
    );
    let e = conf(&t, Generation::G2, "198.51.100.11")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("line 24: nodelist.node.ring0_addr: invalid value \"fd00::13\""),
        "{e}"
    );
    let knet = UDPU_246
        .replace("transport: udpu", "transport: knet")
        .replace(
            "nodeid: 1\n",
            "nodeid: 1\n        ring1_addr: 203.0.113.11\n",
        )
        .replace("nodeid: 2\n", "nodeid: 2\n        ring1_addr: fd00::12\n");
    let (k, _, reason) = invalid_key(conf(&knet, Generation::G3, "198.51.100.11"));
    assert_eq!(k, "nodelist.node.ring1_addr");
    assert!(reason.contains("link 1 of nodeid 1"), "{reason}");
}

/// A second totem (or nodelist, logging, ...) section is refused, naming both lines.
#[test]
fn repeated_top_level_sections_are_refused() {
    for section in ["totem", "nodelist", "logging", "quorum"] {
        let t = format!("{UDPU_246}\n{section} {{\n}}\n");
        let last = t.lines().count() - 1;
        match conf(&t, Generation::G2, "198.51.100.11") {
            Err(NodeConfigError::Repeated {
                section: s,
                line,
                first,
            }) => {
                assert_eq!((s.as_str(), line), (section, last));
                assert!(first < line);
            }
            other => panic!("{section}: {other:?}"),
        }
    }
}

/// ttl is refused outside multicast, as corosync 3 refuses it.
#[test]
fn ttl_outside_multicast_is_refused() {
    let t = UDPU_246.replace("mcastport: 5405", "mcastport: 5405\n        ttl: 4");
    let (k, _) = refused_key(conf(&t, Generation::G2, "198.51.100.11"));
    assert_eq!(k, "totem.interface.ttl");
    let ok = UDPU_246.replace("mcastport: 5405", "mcastport: 5405\n        ttl: 1");
    assert!(conf(&ok, Generation::G2, "198.51.100.11").is_ok());
}

/// Error messages quote at most 80 characters of a bad line or value, always with the line.
#[test]
fn long_bad_text_is_quoted_in_part() {
    let junk = "x".repeat(400);
    let e = corosync_conf::parse(&format!("totem {{\n {junk}\n}}\n"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("line 2: "), "{e}");
    assert!(
        e.contains(&format!("{}…", "x".repeat(80))) && !e.contains(&"x".repeat(81)),
        "{e}"
    );
    let e = conf(
        &with_totem(&format!("    token: {junk}")),
        Generation::G3,
        "198.51.100.11",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("line 5: totem.token: invalid value \""),
        "{e}"
    );
    assert!(e.len() < 200, "{e}");
    let e = corosync_conf::parse(&format!("totem {{\n a: {}\n}}\n", "y".repeat(600)))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "line 2: 604 bytes long; corosync reads lines of at most 511 bytes"
    );
}

/// Key files readable by group or others are refused like OpenSSH refuses private keys,
/// naming the file, its mode and the key that set the path; 0600 and 0400 are fine.
#[test]
fn key_files_open_to_others_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("authkey");
    std::fs::write(&key, [7u8; 128]).unwrap();
    let t = AES_246.replace(
        "keyfile: @RUNDIR@/authkey",
        &format!("keyfile: {}", key.display()),
    );
    assert!(
        t.contains(&key.display().to_string()),
        "the capture config names a keyfile"
    );
    let root = corosync_conf::parse(&t).unwrap();
    let cfg = conf(&t, Generation::G2, "198.51.100.11").unwrap();
    for (mode, ok) in [
        (0o644, false),
        (0o640, false),
        (0o604, false),
        (0o600, true),
        (0o400, true),
    ] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        match key_file_modes(&cfg, &root) {
            Ok(()) => assert!(ok, "mode {mode:o} accepted"),
            Err(e) => {
                assert!(!ok, "mode {mode:o} refused: {e}");
                let msg = e.to_string();
                assert!(
                    msg.contains("totem.keyfile") && msg.contains(&key.display().to_string()),
                    "{msg}"
                );
                assert!(msg.contains(&format!("mode {mode:04o}")), "{msg}");
            }
        }
    }
}

/// A G3 udpu ring of three (nodeids 1..=3, we are 1) with `quorum` holding `body` lines
/// (`None`: no quorum section) and `votes[i]` as node i+1's quorum_votes line when given.
fn with_quorum(body: Option<&[&str]>, votes: &[Option<&str>]) -> String {
    let mut s = String::from(
        "totem {\n    version: 2\n    cluster_name: q\n    transport: udpu\n}\nnodelist {\n",
    );
    for i in 1..=3usize {
        s += &format!("    node {{\n        nodeid: {i}\n        ring0_addr: 192.0.2.{i}\n");
        if let Some(Some(v)) = votes.get(i - 1) {
            s += &format!("        quorum_votes: {v}\n");
        }
        s += "    }\n";
    }
    s += "}\n";
    if let Some(b) = body {
        s += "quorum {\n";
        for l in b {
            s += &format!("    {l}\n");
        }
        s += "}\n";
    }
    s
}

fn quorum_of(text: &str) -> Result<NodeConfig> {
    conf(text, Generation::G3, "192.0.2.1")
}

/// Line of `needle` in `text` (1-based).
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn quorum_section_absent_or_without_provider_means_no_votequorum() {
    let c = quorum_of(&with_quorum(None, &[])).unwrap();
    assert_eq!(c.quorum, None);
    assert!(c.quorum_ignored.is_empty());
    // Keys without a provider are not used (corosync loads no votequorum): listed for the
    // warning, each with its line.
    let t = with_quorum(Some(&["two_node: 1", "expected_votes: 2"]), &[]);
    let c = quorum_of(&t).unwrap();
    assert_eq!(c.quorum, None);
    assert_eq!(
        c.quorum_ignored,
        [
            format!(
                "quorum.two_node (line {}, no provider)",
                line_of(&t, "two_node")
            ),
            format!(
                "quorum.expected_votes (line {}, no provider)",
                line_of(&t, "expected_votes")
            ),
        ]
    );
    // G1 runs no votequorum: the section stays an ignored one.
    let g1 = "totem {\n    version: 2\n    interface {\n        ringnumber: 0\n        bindnetaddr: 192.0.2.1\n        mcastaddr: 239.255.1.1\n        mcastport: 5405\n    }\n}\nquorum {\n    provider: corosync_votequorum\n    two_node: 1\n}\n";
    let c = conf(g1, Generation::G1, "192.0.2.1").unwrap();
    assert_eq!(c.quorum, None);
    assert_eq!(c.ignored, ["quorum"]);
}

#[test]
fn every_quorum_key_is_mapped() {
    let t = with_quorum(
        Some(&[
            "provider: corosync_votequorum",
            "expected_votes: 5",
            "votes: 3",
            "two_node: 0",
            "wait_for_all: 1",
            "last_man_standing: 1",
            "last_man_standing_window: 20000",
            "auto_tie_breaker: 1",
            "auto_tie_breaker_node: 3 2",
            "allow_downscale: 1",
            "expected_votes_tracking: 1",
        ]),
        &[None, Some("2"), None],
    );
    let c = quorum_of(&t).unwrap();
    let q = c.quorum.unwrap();
    assert_eq!(
        q,
        crate::quorum::QuorumOptions {
            nodelist: vec![
                crate::quorum::NodeEntry {
                    nodeid: 1,
                    votes: 1
                },
                crate::quorum::NodeEntry {
                    nodeid: 2,
                    votes: 2
                },
                crate::quorum::NodeEntry {
                    nodeid: 3,
                    votes: 1
                },
            ],
            expected_votes: Some(5),
            votes: Some(3),
            two_node: false,
            wait_for_all: Some(true),
            last_man_standing: true,
            last_man_standing_window_ms: Some(20000),
            auto_tie_breaker: true,
            auto_tie_breaker_node: Some("3 2".into()),
            allow_downscale: true,
            expected_votes_tracking: true,
            device: None,
        }
    );
    assert!(c.quorum_ignored.is_empty());
    // Each flag alone, and non-zero means on (corosync's uint8).
    for (k, get) in [
        (
            "two_node",
            (|q: &crate::quorum::QuorumOptions| q.two_node) as fn(&_) -> bool,
        ),
        ("wait_for_all", |q| q.wait_for_all == Some(true)),
        ("last_man_standing", |q| q.last_man_standing),
        ("auto_tie_breaker", |q| q.auto_tie_breaker),
        ("allow_downscale", |q| q.allow_downscale),
        ("expected_votes_tracking", |q| q.expected_votes_tracking),
    ] {
        for (v, on) in [("0", false), ("1", true), ("255", true)] {
            let line = format!("{k}: {v}");
            let t = with_quorum(Some(&["provider: corosync_votequorum", &line]), &[]);
            let q = quorum_of(&t).unwrap().quorum.unwrap();
            assert_eq!(get(&q), on, "{line}");
        }
    }
}

#[test]
fn bad_quorum_values_name_key_and_line() {
    for (line, key) in [
        ("two_node: yes", "quorum.two_node"),
        ("wait_for_all: 256", "quorum.wait_for_all"),
        ("last_man_standing: -1", "quorum.last_man_standing"),
        ("auto_tie_breaker: on", "quorum.auto_tie_breaker"),
        ("allow_downscale: 1x", "quorum.allow_downscale"),
        (
            "expected_votes_tracking: ",
            "quorum.expected_votes_tracking",
        ),
        ("expected_votes: many", "quorum.expected_votes"),
        ("expected_votes: 4294967296", "quorum.expected_votes"),
        (
            "last_man_standing_window: 1.5",
            "quorum.last_man_standing_window",
        ),
        ("votes: -2", "quorum.votes"),
        (
            "auto_tie_breaker_node: middle",
            "quorum.auto_tie_breaker_node",
        ),
        (
            "auto_tie_breaker_node: 1 zero",
            "quorum.auto_tie_breaker_node",
        ),
        ("auto_tie_breaker_node: 0", "quorum.auto_tie_breaker_node"),
    ] {
        let t = with_quorum(Some(&["provider: corosync_votequorum", line]), &[]);
        let (k, l, _) = invalid_at(quorum_of(&t));
        assert_eq!((k.as_str(), l), (key, line_of(&t, line)), "{line}");
    }
    // quorum_votes: not a number, with its line.
    let t = with_quorum(
        Some(&["provider: corosync_votequorum"]),
        &[None, None, Some("two")],
    );
    let (k, l, _) = invalid_at(quorum_of(&t));
    assert_eq!(
        (k.as_str(), l),
        ("nodelist.node.quorum_votes", line_of(&t, "quorum_votes"))
    );
    let e = quorum_of(&t).unwrap_err().to_string();
    assert!(e.contains("quorum_votes") && e.contains("\"two\""), "{e}");
}

#[test]
fn quorum_refusals_and_warnings() {
    // Another provider.
    let t = with_quorum(Some(&["provider: corosync_ykd"]), &[]);
    let (k, reason) = refused_key(quorum_of(&t));
    assert_eq!(k, "quorum.provider");
    assert!(reason.contains("corosync_votequorum"), "{reason}");
    // A quorum device.
    let mut t = with_quorum(Some(&["provider: corosync_votequorum"]), &[]);
    t = t.replace(
        "    provider: corosync_votequorum\n",
        "    provider: corosync_votequorum\n    device {\n        model: net\n        votes: 1\n    }\n",
    );
    let r = quorum_of(&t);
    let e = r.as_ref().unwrap_err().to_string();
    assert!(
        e.contains(&format!("line {}", line_of(&t, "device {"))),
        "{e}"
    );
    let (k, reason) = refused_key(r);
    assert_eq!(k, "quorum.device");
    assert!(reason.contains("qdevice"), "{reason}");
    // Unknown keys (and known ones we do not use) are accepted and listed once.
    let t = with_quorum(
        Some(&[
            "provider: corosync_votequorum",
            "leaving_timeout: 5000",
            "colour: blue",
        ]),
        &[],
    );
    let c = quorum_of(&t).unwrap();
    assert!(c.quorum.is_some());
    assert_eq!(
        c.quorum_ignored,
        [
            format!(
                "quorum.leaving_timeout (line {})",
                line_of(&t, "leaving_timeout")
            ),
            format!("quorum.colour (line {})", line_of(&t, "colour")),
        ]
    );
}

#[test]
fn quorum_startup_rules_apply() {
    use crate::sync::quorum::Quorum;
    let status = |t: &str| {
        let c = quorum_of(t).unwrap();
        Quorum::new(Generation::G3, c.nodeid, c.quorum.as_ref().unwrap())
            .unwrap()
            .status()
    };
    // two_node implies wait_for_all...
    let s = status(&with_quorum(
        Some(&["provider: corosync_votequorum", "two_node: 1"]),
        &[],
    ));
    assert!(s.features.two_node && s.features.wait_for_all);
    assert_eq!(s.flag_words(), ["2Node", "WaitForAll"]);
    // ...unless wait_for_all says otherwise.
    let s = status(&with_quorum(
        Some(&[
            "provider: corosync_votequorum",
            "two_node: 1",
            "wait_for_all: 0",
        ]),
        &[],
    ));
    assert!(s.features.two_node && !s.features.wait_for_all);
    // auto_tie_breaker turns two_node off (an even vote count: 4 with our 2 votes).
    let s = status(&with_quorum(
        Some(&[
            "provider: corosync_votequorum",
            "two_node: 1",
            "auto_tie_breaker: 1",
        ]),
        &[Some("2")],
    ));
    assert!(!s.features.two_node && s.features.auto_tie_breaker && s.features.wait_for_all);
    // ATB in an odd-sized cluster without wait_for_all: ATB is off.
    let s = status(&with_quorum(
        Some(&["provider: corosync_votequorum", "auto_tie_breaker: 1"]),
        &[],
    ));
    assert!(!s.features.auto_tie_breaker);
    // ...and with last_man_standing it is refused, at the last_man_standing line.
    let t = with_quorum(
        Some(&[
            "provider: corosync_votequorum",
            "auto_tie_breaker: 1",
            "last_man_standing: 1",
        ]),
        &[],
    );
    let r = quorum_of(&t);
    match &r {
        Err(NodeConfigError::Refused {
            key, line, reason, ..
        }) => {
            assert_eq!(
                (key.as_str(), *line),
                ("quorum.last_man_standing", line_of(&t, "last_man_standing"))
            );
            assert!(reason.contains("odd sized"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // allow_downscale implies expected_votes_tracking; quorum_votes feed expected votes.
    let s = status(&with_quorum(
        Some(&["provider: corosync_votequorum", "allow_downscale: 1"]),
        &[Some("2"), None, None],
    ));
    assert!(s.features.allow_downscale);
    assert_eq!((s.votes, s.expected_votes, s.quorum), (2, 4, 3));
    assert_eq!(s.flag_words(), ["AllowDownscale"]);
    // expected_votes overrides the nodelist sum.
    let s = status(&with_quorum(
        Some(&["provider: corosync_votequorum", "expected_votes: 7"]),
        &[],
    ));
    assert_eq!((s.expected_votes, s.quorum), (7, 4));
}
