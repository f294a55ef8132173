//! cman codecs: one hand-built byte string per message, laid out field by field from the C
//! structs (cluster.git `cman/daemon/cnxman-private.h` + `ais.c` for cman 3.x on openais,
//! `cman-kernel/src/cnxman-private.h` + `membership.c` for the kernel cman), round-trip
//! property tests, and malformed input that must be rejected without panicking.

use proptest::prelude::*;
use totem_wire::cman::kernel::{
    self, JoinReq, KernelHeader, KernelPacket, KernelPacketView, KernelPayload, MembMsg,
    StartTrans, ViewNode,
};
use totem_wire::cman::openais::{
    self, CmanMsg, CmanPacket, CmanPacketView, Payload, ProtHeader, Transition,
};
use totem_wire::{Endian, Error};

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

fn name16(s: &str) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..s.len()].copy_from_slice(s.as_bytes());
    a
}

// ---------- cman 3.x on openais ----------

/// cl_protheader: tgtport, srcport, pad(u16), flags(u32), srcid(i32), tgtid(i32).
fn prot_header_le(tgtport: u8, srcport: u8, flags: u32, srcid: u32, tgtid: u32) -> Vec<u8> {
    cat(&[
        &[tgtport, srcport, 0, 0],
        &le32(flags),
        &le32(srcid),
        &le32(tgtid),
    ])
}

fn roundtrip_openais(bytes: &[u8], endian: Endian) -> CmanPacket {
    let p = CmanPacket::parse(bytes, endian).expect("parse");
    let mut out = vec![0u8; p.buffer_len()];
    let n = p.emit(&mut out, endian).expect("emit");
    assert_eq!(&out[..n], bytes, "re-encoding differs");
    p
}

fn cman_msg(bytes: &[u8]) -> CmanMsg {
    match roundtrip_openais(bytes, Endian::Little).payload {
        Payload::Cman(m) => m,
        Payload::Data(_) => panic!("port 0 must decode as a cman message"),
    }
}

#[test]
fn openais_header_and_view() {
    let b = cat(&[&prot_header_le(0, 0, 0x0400_0000, 3, 0), &[9]]);
    let v = CmanPacketView::new_checked(&b, Endian::Little).expect("view");
    assert_eq!(
        (v.tgtport(), v.srcport(), v.srcid(), v.tgtid()),
        (0, 0, 3, 0)
    );
    assert_eq!(v.flags(), openais::MSG_TOTEM_SAFE);
    assert_eq!(v.payload(), &[9]);
    let h = ProtHeader::parse(&b, Endian::Little).expect("header");
    assert_eq!(h.srcid, 3);
    assert_eq!(openais::PROT_HEADER_LEN, 16);
    // Big-endian sender: the same header with swapped integers.
    let be = cat(&[
        &[0, 0, 0, 0],
        &[4, 0, 0, 0],
        &[0, 0, 0, 3],
        &[0, 0, 0, 0],
        &[9],
    ]);
    let p = roundtrip_openais(&be, Endian::Big);
    assert_eq!(
        (p.header.flags, p.header.srcid),
        (openais::MSG_TOTEM_SAFE, 3)
    );
    // Client data on another port stays opaque.
    let d = cat(&[&prot_header_le(11, 11, 0, 1, 2), b"clvmd"]);
    assert_eq!(
        roundtrip_openais(&d, Endian::Little).payload,
        Payload::Data(b"clvmd".to_vec())
    );
}

#[test]
fn openais_port_messages() {
    let h = prot_header_le(0, 0, 0, 1, 0);
    assert_eq!(
        cman_msg(&cat(&[&h, &[2, 11]])),
        CmanMsg::PortOpened { port: 11 }
    );
    assert_eq!(
        cman_msg(&cat(&[&h, &[3, 11]])),
        CmanMsg::PortClosed { port: 11 }
    );
    assert_eq!(cman_msg(&cat(&[&h, &[9]])), CmanMsg::PortEnq);
    let mut bits = [0u8; 32];
    bits[0] = 0b0000_1001; // ports 0 and 3
    bits[22] = 0x02; // port 177
    let m = cman_msg(&cat(&[&h, &[10], &bits]));
    assert_eq!(m, CmanMsg::PortStatus { ports: bits });
    assert_eq!(cman_msg(&cat(&[&h, &[1, 0xAA]])), CmanMsg::Ack(vec![0xAA]));
}

#[test]
fn openais_barrier() {
    // cl_barriermsg: cmd, subcmd, pad u16, name[33], 1 byte struct padding = 38.
    let mut name = [0u8; 33];
    name[..9].copy_from_slice(b"fence_bar");
    let b = cat(&[&prot_header_le(0, 0, 0, 2, 0), &[4, 4, 0, 0], &name, &[0]]);
    match cman_msg(&b) {
        CmanMsg::Barrier {
            subcmd, name: n, ..
        } => {
            assert_eq!(subcmd, 4);
            assert_eq!(&n[..9], b"fence_bar");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(b.len(), 16 + openais::BARRIER_MSG_LEN);
}

#[test]
fn openais_transition() {
    // cl_transmsg: cmd, first_trans, cluster_id u16, votes, expected, major, minor, patch,
    // config_version, flags, fence_time u64 @32, join_time u64 @40, clustername[16] @48,
    // fence_agent NUL-terminated @64.
    let body = cat(&[
        &[5, 1],
        &56756u16.to_le_bytes(),
        &le32(1),
        &le32(3),
        &le32(6),
        &le32(2),
        &le32(0),
        &le32(7),
        &le32(16),
        &1_300_000_000u64.to_le_bytes(),
        &1_300_000_100u64.to_le_bytes(),
        &name16("mycluster"),
        b"fence_ipmilan\0",
    ]);
    assert_eq!(body.len(), 64 + 14);
    match cman_msg(&cat(&[&prot_header_le(0, 0, 0, 1, 0), &body])) {
        CmanMsg::Transition(t) => {
            assert_eq!(
                t,
                Transition {
                    first_trans: 1,
                    cluster_id: 56756,
                    votes: 1,
                    expected_votes: 3,
                    major_version: 6,
                    minor_version: 2,
                    patch_version: 0,
                    config_version: 7,
                    flags: 16,
                    fence_time: 1_300_000_000,
                    join_time: 1_300_000_100,
                    clustername: name16("mycluster"),
                    fence_agent: b"fence_ipmilan".to_vec(),
                }
            );
            assert_eq!(t.clustername_text(), "mycluster");
        }
        other => panic!("{other:?}"),
    }
    // Empty agent: just the NUL (len = sizeof + 1).
    let mut short = body[..64].to_vec();
    short.push(0);
    assert!(matches!(
        cman_msg(&cat(&[&prot_header_le(0, 0, 0, 1, 0), &short])),
        CmanMsg::Transition(Transition { ref fence_agent, .. }) if fence_agent.is_empty()
    ));
}

#[test]
fn openais_kill_leave_reconfigure_fence() {
    let h = prot_header_le(0, 0, 0, 1, 4);
    // cl_killmsg: cmd, pad1, reason u16, nodeid i32.
    assert_eq!(
        cman_msg(&cat(&[&h, &[6, 0], &2u16.to_le_bytes(), &le32(4)])),
        CmanMsg::KillNode {
            pad1: 0,
            reason: 2,
            nodeid: 4
        }
    );
    // cl_leavemsg: cmd, pad1, reason u16.
    assert_eq!(
        cman_msg(&cat(&[&h, &[7, 0], &3u16.to_le_bytes()])),
        CmanMsg::Leave { pad1: 0, reason: 3 }
    );
    // cl_reconfig_msg: cmd, param, pad u16, nodeid, value.
    assert_eq!(
        cman_msg(&cat(&[&h, &[8, 1, 0, 0], &le32(0), &le32(5)])),
        CmanMsg::Reconfigure {
            param: 1,
            pad: 0,
            nodeid: 0,
            value: 5
        }
    );
    // cl_fencemsg: cmd, fenced, pad u16, nodeid, timesec u64, agent NUL-terminated.
    assert_eq!(
        cman_msg(&cat(&[
            &h,
            &[11, 1, 0, 0],
            &le32(2),
            &1_234_567_890u64.to_le_bytes(),
            b"fence_apc\0"
        ])),
        CmanMsg::FenceStatus {
            fenced: 1,
            pad: 0,
            nodeid: 2,
            timesec: 1_234_567_890,
            agent: b"fence_apc".to_vec()
        }
    );
}

#[test]
fn openais_big_endian_reconfigure() {
    let b = cat(&[
        &[0, 0, 0, 0],
        &[0, 0, 0, 0],
        &[0, 0, 0, 2],
        &[0, 0, 0, 0],
        &[8, 2, 0, 0],
        &[0, 0, 0, 3],
        &[0, 0, 0, 2],
    ]);
    let p = roundtrip_openais(&b, Endian::Big);
    assert_eq!(
        p.payload,
        Payload::Cman(CmanMsg::Reconfigure {
            param: 2,
            pad: 0,
            nodeid: 3,
            value: 2
        })
    );
}

#[test]
fn openais_malformed_is_rejected() {
    let h = prot_header_le(0, 0, 0, 1, 0);
    let err = |b: &[u8]| CmanPacket::parse(b, Endian::Little).expect_err("must fail");
    assert!(matches!(
        err(&h[..15]),
        Error::Truncated {
            need: 16,
            have: 15,
            ..
        }
    ));
    assert!(matches!(
        err(&cat(&[&h, &[12]])),
        Error::Invalid {
            field: "cmd",
            offset: 16,
            value: 12,
            ..
        }
    ));
    assert!(matches!(
        err(&cat(&[&h, &[6, 0, 2, 0]])),
        Error::Truncated {
            field: "nodeid",
            ..
        }
    ));
    assert!(matches!(
        err(&cat(&[&h, &[9, 0]])),
        Error::Invalid {
            field: "length",
            ..
        }
    ));
    // Fence agent without its NUL, and bytes after the NUL.
    let f = cat(&[&h, &[11, 1, 0, 0], &le32(2), &0u64.to_le_bytes(), b"x"]);
    assert!(matches!(err(&f), Error::Truncated { field: "agent", .. }));
    let f2 = cat(&[&h, &[11, 1, 0, 0], &le32(2), &0u64.to_le_bytes(), b"x\0y"]);
    assert!(matches!(err(&f2), Error::Invalid { field: "agent", .. }));
    // An agent containing NUL cannot be encoded.
    let m = CmanMsg::FenceStatus {
        fenced: 0,
        pad: 0,
        nodeid: 1,
        timesec: 0,
        agent: b"a\0b".to_vec(),
    };
    let mut buf = vec![0u8; m.buffer_len()];
    assert!(m.emit(&mut buf, Endian::Little).is_err());
    let mut small = [0u8; 3];
    assert!(matches!(
        CmanMsg::PortEnq.emit(&mut small[..0], Endian::Little),
        Err(Error::BufferTooSmall { .. })
    ));
}

// ---------- kernel cman ----------

/// Kernel cl_protheader: tgtport, srcport, seq u16, ack u16, cluster u16, flags u32, srcid,
/// tgtid — all little-endian.
fn kheader(tgtport: u8, seq: u16, cluster: u16, srcid: u32, tgtid: u32) -> Vec<u8> {
    cat(&[
        &[tgtport, tgtport],
        &seq.to_le_bytes(),
        &0u16.to_le_bytes(),
        &cluster.to_le_bytes(),
        &le32(0),
        &le32(srcid),
        &le32(tgtid),
    ])
}

fn sockaddr_in(ip: [u8; 4], port: u16) -> Vec<u8> {
    // struct sockaddr_in: family (host order u16, AF_INET=2 on x86), port (network order),
    // address, 8 bytes zero.
    cat(&[&2u16.to_le_bytes(), &port.to_be_bytes(), &ip, &[0u8; 8]])
}

fn kmsg(bytes: &[u8], addr_len: usize) -> MembMsg {
    let p = KernelPacket::parse(bytes, addr_len).expect("parse");
    let mut out = vec![0u8; p.buffer_len()];
    let n = p.emit(&mut out).expect("emit");
    assert_eq!(&out[..n], bytes, "re-encoding differs");
    match p.payload {
        KernelPayload::Membership(m) => m,
        KernelPayload::Data(_) => panic!("port 1 must decode as membership"),
    }
}

#[test]
fn kernel_header_and_view() {
    let b = cat(&[
        &kheader(1, 7, 4242, 2, 0),
        &[4, 3],
        &5u16.to_le_bytes(),
        &le32(12),
    ]);
    let v = KernelPacketView::new_checked(&b).expect("view");
    assert_eq!(
        (v.tgtport(), v.seq(), v.cluster(), v.srcid(), v.tgtid()),
        (1, 7, 4242, 2, 0)
    );
    assert_eq!(
        KernelHeader::parse(&b).expect("h").cluster,
        4242,
        "cluster number"
    );
    assert_eq!(kernel::KERNEL_HEADER_LEN, 20);
    assert_eq!(kernel::CMAN_KERNEL_PORT, 6809);
    assert_eq!(
        kmsg(&b, 16),
        MembMsg::Hello {
            flags: 3,
            members: 5,
            generation: 12
        }
    );
    let data = cat(&[&kheader(10, 1, 1, 1, 2), b"sysman"]);
    let p = KernelPacket::parse(&data, 16).expect("data");
    assert_eq!(p.payload, KernelPayload::Data(b"sysman".to_vec()));
}

#[test]
fn kernel_joinreq() {
    // cl_mem_join_msg: cmd, votes, num_addr u16, expected, nodeid, major, minor, patch,
    // config_version, addr_len, clustername[16] = 48 bytes; addresses; NUL-terminated name.
    let a = sockaddr_in([192, 0, 2, 1], 6809);
    let b = cat(&[
        &kheader(1, 1, 4242, 0, 0),
        &[2, 1],
        &1u16.to_le_bytes(),
        &le32(3),
        &le32(1),
        &le32(5),
        &le32(0),
        &le32(1),
        &le32(9),
        &le32(16),
        &name16("alpha"),
        &a,
        b"node1\0",
    ]);
    match kmsg(&b, 0) {
        MembMsg::JoinReq(j) => {
            assert_eq!(
                (
                    j.votes,
                    j.expected_votes,
                    j.nodeid,
                    j.major_version,
                    j.config_version
                ),
                (1, 3, 1, 5, 9)
            );
            assert_eq!(j.addrs, vec![a.clone()]);
            assert_eq!(j.name, b"node1");
            assert_eq!(j.clustername_text(), "alpha");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn kernel_view_messages() {
    // send_cluster_view: cmd, flags, then per node: namelen u8, name, state u8, num_addrs u16,
    // addresses, votes u8, expected u32, nodeid u32.
    let a1 = sockaddr_in([192, 0, 2, 1], 6809);
    let a2 = sockaddr_in([192, 0, 2, 2], 6809);
    let nodes = cat(&[
        &[5],
        b"node1",
        &[2],
        &1u16.to_le_bytes(),
        &a1,
        &[1],
        &le32(2),
        &le32(1),
        &[5],
        b"node2",
        &[2],
        &1u16.to_le_bytes(),
        &a2,
        &[1],
        &le32(2),
        &le32(2),
    ]);
    let b = cat(&[&kheader(1, 3, 4242, 1, 2), &[1, 3], &nodes]);
    let expect_nodes = vec![
        ViewNode {
            name: b"node1".to_vec(),
            state: 2,
            addrs: vec![a1],
            votes: 1,
            expected_votes: 2,
            nodeid: 1,
        },
        ViewNode {
            name: b"node2".to_vec(),
            state: 2,
            addrs: vec![a2],
            votes: 1,
            expected_votes: 2,
            nodeid: 2,
        },
    ];
    assert_eq!(
        kmsg(&b, 16),
        MembMsg::JoinConf {
            flags: 3,
            nodes: expect_nodes.clone()
        }
    );
    let mv = cat(&[&kheader(1, 3, 4242, 1, 0), &[9, 3], &nodes]);
    assert_eq!(
        kmsg(&mv, 16),
        MembMsg::MasterView {
            flags: 3,
            nodes: expect_nodes
        }
    );
}

#[test]
fn kernel_starttrans_and_nominate() {
    // cl_mem_starttrans_msg: cmd, reason, flags, votes, expected u32, generation u32,
    // nodeid i32, num_addrs u16, 2 bytes padding; for TRANS_NEWNODE addresses and name.
    let a = sockaddr_in([192, 0, 2, 3], 6809);
    let b = cat(&[
        &kheader(1, 9, 4242, 1, 0),
        &[10, 1, 0, 1],
        &le32(3),
        &le32(13),
        &le32(3),
        &1u16.to_le_bytes(),
        &[0, 0],
        &a,
        b"node3\0",
    ]);
    match kmsg(&b, 16) {
        MembMsg::StartTrans(s) => assert_eq!(
            s,
            StartTrans {
                reason: 1,
                flags: 0,
                votes: 1,
                expected_votes: 3,
                generation: 13,
                nodeid: 3,
                pad: 0,
                new_node: Some((vec![a], b"node3".to_vec())),
            }
        ),
        other => panic!("{other:?}"),
    }
    // TRANS_REMNODE: just the 20-byte struct.
    let r = cat(&[
        &kheader(1, 10, 4242, 1, 0),
        &[17, 2, 1, 1],
        &le32(3),
        &le32(14),
        &le32(2),
        &0u16.to_le_bytes(),
        &[0, 0],
    ]);
    assert!(matches!(
        kmsg(&r, 16),
        MembMsg::Nominate(StartTrans {
            reason: 2,
            nodeid: 2,
            new_node: None,
            ..
        })
    ));
}

#[test]
fn kernel_small_messages() {
    let h = kheader(1, 2, 7, 1, 2);
    let m = |body: &[u8]| kmsg(&cat(&[&h, body]), 16);
    assert_eq!(m(&[3, 1]), MembMsg::Leave { flags: 1 });
    assert_eq!(m(&[5]), MembMsg::Kill);
    assert_eq!(m(&[6, 1]), MembMsg::JoinAck { acktype: 1 });
    assert_eq!(
        m(&cat(&[
            &[7, 0, 0, 0],
            &le32(2),
            &le32(3),
            &le32(14),
            &le32(3)
        ])),
        MembMsg::EndTrans {
            pad1: 0,
            pad2: 0,
            quorum: 2,
            total_votes: 3,
            generation: 14,
            new_node_id: 3
        }
    );
    assert_eq!(
        m(&cat(&[&[8, 1, 0, 0], &le32(4)])),
        MembMsg::Reconfig {
            param: 1,
            pad: 0,
            value: 4
        }
    );
    assert_eq!(m(&[12, 1]), MembMsg::ViewAck { ack: 1 });
    assert_eq!(
        m(&cat(&[&[13, 1, 0, 0], &le32(14)])),
        MembMsg::StartAck {
            reason: 1,
            pad: 0,
            generation: 14
        }
    );
    assert_eq!(
        m(&cat(&[&[15], &le32(0x0102_00C0)])),
        MembMsg::NewCluster { lowip: 0x0102_00C0 }
    );
    assert_eq!(m(&[16]), MembMsg::ConfAck);
    assert_eq!(
        m(&cat(&[&[18, 2, 0, 0], &le32(5)])),
        MembMsg::NodeDown {
            reason: 2,
            pad: 0,
            nodeid: 5
        }
    );
    assert_eq!(
        m(&[11, 9, 9]),
        MembMsg::Other {
            cmd: 11,
            body: vec![9, 9]
        }
    );
    assert_eq!(
        m(&[14]),
        MembMsg::Other {
            cmd: 14,
            body: vec![]
        }
    );
}

#[test]
fn kernel_malformed_is_rejected() {
    let h = kheader(1, 2, 7, 1, 2);
    let err = |b: &[u8], al: usize| KernelPacket::parse(b, al).expect_err("must fail");
    assert!(matches!(
        err(&h[..19], 16),
        Error::Truncated {
            need: 20,
            have: 19,
            ..
        }
    ));
    assert!(matches!(
        err(&cat(&[&h, &[19]]), 16),
        Error::Invalid {
            field: "cmd",
            offset: 20,
            value: 19,
            ..
        }
    ));
    assert!(matches!(
        err(&cat(&[&h, &[4, 0, 0]]), 16),
        Error::Truncated {
            field: "members",
            ..
        }
    ));
    // A view that claims 60000 addresses in a short packet.
    let v = cat(&[&h, &[1, 3, 1, b'a', 2], &60000u16.to_le_bytes(), &[0; 4]]);
    assert!(matches!(
        err(&v, 16),
        Error::Truncated {
            field: "addresses",
            ..
        }
    ));
    // A view with an address length of 0.
    assert!(matches!(
        err(&cat(&[&h, &[9, 3]]), 0),
        Error::Invalid {
            field: "addr_len",
            ..
        }
    ));
    // JOINREQ whose addr_len is absurd.
    let j = cat(&[
        &h,
        &[2, 1],
        &1u16.to_le_bytes(),
        &[0; 24],
        &le32(100_000),
        &[0; 16],
        b"n\0",
    ]);
    assert!(matches!(
        err(&j, 16),
        Error::Invalid {
            field: "addr_len",
            ..
        }
    ));
    // Emit refuses what cannot be encoded.
    let long = MembMsg::JoinConf {
        flags: 0,
        nodes: vec![ViewNode {
            name: vec![b'x'; 300],
            state: 2,
            addrs: vec![],
            votes: 1,
            expected_votes: 1,
            nodeid: 1,
        }],
    };
    let mut buf = vec![0u8; long.buffer_len()];
    assert!(long.emit(&mut buf).is_err());
    let jr = MembMsg::JoinReq(JoinReq {
        votes: 1,
        expected_votes: 1,
        nodeid: 1,
        major_version: 5,
        minor_version: 0,
        patch_version: 1,
        config_version: 1,
        addr_len: 16,
        clustername: [0; 16],
        addrs: vec![vec![0; 12]],
        name: b"n".to_vec(),
    });
    let mut buf = vec![0u8; jr.buffer_len()];
    assert!(
        jr.emit(&mut buf).is_err(),
        "address length must match addr_len"
    );
}

// ---------- properties ----------

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn cstr(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, 0..max)
}

fn arb_cman_msg() -> impl Strategy<Value = CmanMsg> {
    prop_oneof![
        bytes(8).prop_map(CmanMsg::Ack),
        any::<u8>().prop_map(|port| CmanMsg::PortOpened { port }),
        any::<u8>().prop_map(|port| CmanMsg::PortClosed { port }),
        (any::<u8>(), any::<u16>(), any::<[u8; 33]>(), any::<u8>()).prop_map(
            |(subcmd, pad, name, tail)| CmanMsg::Barrier {
                subcmd,
                pad,
                name,
                tail
            }
        ),
        (
            (
                any::<u8>(),
                any::<u16>(),
                any::<i32>(),
                any::<i32>(),
                any::<u32>()
            ),
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
            (any::<u64>(), any::<u64>(), any::<[u8; 16]>(), cstr(40))
        )
            .prop_map(|(a, b, c)| CmanMsg::Transition(Transition {
                first_trans: a.0,
                cluster_id: a.1,
                votes: a.2,
                expected_votes: a.3,
                major_version: a.4,
                minor_version: b.0,
                patch_version: b.1,
                config_version: b.2,
                flags: b.3,
                fence_time: c.0,
                join_time: c.1,
                clustername: c.2,
                fence_agent: c.3,
            })),
        (any::<u8>(), any::<u16>(), any::<i32>()).prop_map(|(pad1, reason, nodeid)| {
            CmanMsg::KillNode {
                pad1,
                reason,
                nodeid,
            }
        }),
        (any::<u8>(), any::<u16>()).prop_map(|(pad1, reason)| CmanMsg::Leave { pad1, reason }),
        (any::<u8>(), any::<u16>(), any::<i32>(), any::<u32>()).prop_map(
            |(param, pad, nodeid, value)| CmanMsg::Reconfigure {
                param,
                pad,
                nodeid,
                value
            }
        ),
        Just(CmanMsg::PortEnq),
        any::<[u8; 32]>().prop_map(|ports| CmanMsg::PortStatus { ports }),
        (
            any::<u8>(),
            any::<u16>(),
            any::<i32>(),
            any::<u64>(),
            cstr(40)
        )
            .prop_map(
                |(fenced, pad, nodeid, timesec, agent)| CmanMsg::FenceStatus {
                    fenced,
                    pad,
                    nodeid,
                    timesec,
                    agent
                }
            ),
    ]
}

fn arb_addrs(addr_len: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), addr_len), 0..3)
}

fn arb_view_node(addr_len: usize) -> impl Strategy<Value = ViewNode> {
    (
        bytes(20),
        any::<u8>(),
        arb_addrs(addr_len),
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(name, state, addrs, votes, expected_votes, nodeid)| ViewNode {
                name,
                state,
                addrs,
                votes,
                expected_votes,
                nodeid,
            },
        )
}

fn arb_starttrans(addr_len: usize) -> impl Strategy<Value = StartTrans> {
    (
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u32>()),
        (any::<u32>(), any::<i32>(), any::<u16>()),
        prop::option::of((arb_addrs(addr_len), cstr(20))),
    )
        .prop_map(|(a, b, new_node)| StartTrans {
            reason: a.0,
            flags: a.1,
            votes: a.2,
            expected_votes: a.3,
            generation: b.0,
            nodeid: b.1,
            pad: b.2,
            new_node,
        })
}

const AL: usize = 16;

fn arb_memb() -> impl Strategy<Value = MembMsg> {
    prop_oneof![
        (any::<u8>(), prop::collection::vec(arb_view_node(AL), 0..4))
            .prop_map(|(flags, nodes)| MembMsg::JoinConf { flags, nodes }),
        (any::<u8>(), prop::collection::vec(arb_view_node(AL), 0..4))
            .prop_map(|(flags, nodes)| MembMsg::MasterView { flags, nodes }),
        (
            (any::<u8>(), any::<u32>(), any::<u32>(), any::<u32>()),
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<[u8; 16]>()),
            (arb_addrs(28), cstr(20))
        )
            .prop_map(|(a, b, c)| MembMsg::JoinReq(JoinReq {
                votes: a.0,
                expected_votes: a.1,
                nodeid: a.2,
                major_version: a.3,
                minor_version: b.0,
                patch_version: b.1,
                config_version: b.2,
                addr_len: 28,
                clustername: b.3,
                addrs: c.0,
                name: c.1,
            })),
        any::<u8>().prop_map(|flags| MembMsg::Leave { flags }),
        (any::<u8>(), any::<u16>(), any::<u32>()).prop_map(|(flags, members, generation)| {
            MembMsg::Hello {
                flags,
                members,
                generation,
            }
        }),
        Just(MembMsg::Kill),
        any::<u8>().prop_map(|acktype| MembMsg::JoinAck { acktype }),
        (
            any::<u8>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(
                |(pad1, pad2, quorum, total_votes, generation, new_node_id)| {
                    MembMsg::EndTrans {
                        pad1,
                        pad2,
                        quorum,
                        total_votes,
                        generation,
                        new_node_id,
                    }
                }
            ),
        (any::<u8>(), any::<u16>(), any::<u32>())
            .prop_map(|(param, pad, value)| MembMsg::Reconfig { param, pad, value }),
        arb_starttrans(AL).prop_map(MembMsg::StartTrans),
        arb_starttrans(AL).prop_map(MembMsg::Nominate),
        any::<u8>().prop_map(|ack| MembMsg::ViewAck { ack }),
        (any::<u8>(), any::<u16>(), any::<u32>()).prop_map(|(reason, pad, generation)| {
            MembMsg::StartAck {
                reason,
                pad,
                generation,
            }
        }),
        any::<u32>().prop_map(|lowip| MembMsg::NewCluster { lowip }),
        Just(MembMsg::ConfAck),
        (any::<u8>(), any::<u16>(), any::<u32>()).prop_map(|(reason, pad, nodeid)| {
            MembMsg::NodeDown {
                reason,
                pad,
                nodeid,
            }
        }),
        (prop::sample::select(vec![11u8, 14]), bytes(8))
            .prop_map(|(cmd, body)| MembMsg::Other { cmd, body }),
    ]
}

proptest! {
    #[test]
    fn openais_roundtrip(
        m in arb_cman_msg(),
        srcid in any::<i32>(), tgtid in any::<i32>(), flags in any::<u32>(), pad in any::<u16>(),
        big in any::<bool>(),
    ) {
        let endian = if big { Endian::Big } else { Endian::Little };
        // ACK's body is open-ended, so its prefixes may be valid messages too.
        let open_ended = matches!(m, CmanMsg::Ack(_));
        let p = CmanPacket {
            header: ProtHeader { tgtport: 0, srcport: 0, pad, flags, srcid, tgtid },
            payload: Payload::Cman(m),
        };
        let mut buf = vec![0u8; p.buffer_len()];
        let n = p.emit(&mut buf, endian).expect("emit");
        prop_assert_eq!(n, buf.len());
        prop_assert_eq!(CmanPacket::parse(&buf, endian).expect("parse"), p);
        // Every strict prefix is rejected, never a panic.
        for cut in 0..buf.len() {
            let r = CmanPacket::parse(&buf[..cut], endian);
            prop_assert!(open_ended || r.is_err(), "prefix {} accepted", cut);
        }
    }

    #[test]
    fn kernel_roundtrip(m in arb_memb(), seq in any::<u16>(), ack in any::<u16>(),
                        cluster in any::<u16>(), flags in any::<u32>(), srcid in any::<i32>()) {
        let p = KernelPacket {
            header: KernelHeader { tgtport: 1, srcport: 1, seq, ack, cluster, flags, srcid, tgtid: 0 },
            payload: KernelPayload::Membership(m),
        };
        let mut buf = vec![0u8; p.buffer_len()];
        let n = p.emit(&mut buf).expect("emit");
        prop_assert_eq!(n, buf.len());
        prop_assert_eq!(KernelPacket::parse(&buf, AL).expect("parse"), p);
        for cut in 0..buf.len() {
            let _ = KernelPacket::parse(&buf[..cut], AL);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in bytes(200), al in 0usize..200, big in any::<bool>()) {
        let endian = if big { Endian::Big } else { Endian::Little };
        let _ = CmanPacket::parse(&b, endian);
        let _ = CmanMsg::parse(&b, endian);
        let _ = KernelPacket::parse(&b, al);
        let _ = MembMsg::parse(&b, al);
        if let Ok(v) = CmanPacketView::new_checked(&b, endian) {
            let _ = (v.tgtport(), v.srcport(), v.flags(), v.srcid(), v.tgtid(), v.payload());
        }
        if let Ok(v) = KernelPacketView::new_checked(&b) {
            let _ = (v.tgtport(), v.seq(), v.cluster(), v.srcid(), v.tgtid(), v.payload());
        }
    }
}
