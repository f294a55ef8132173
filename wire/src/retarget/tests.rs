//! Retarget on hand-built messages; the captures' round trips are in captures/tests.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::header::{Header, MessageType};
use crate::ring_id::RingId;
use crate::service::sync::{RingMessage, BARRIER};
use crate::srp::memb_join::MembJoin;
use crate::srp::orf_token::{OrfToken, RtrItem};
use crate::srp_addr::SrpAddr;

fn book() -> AddressBook {
    let mut b = AddressBook::new();
    for n in 1..=3u8 {
        b.insert(BookEntry::new(
            u32::from(n),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)),
            None,
        ))
        .unwrap();
    }
    b
}

fn token(gen: Generation, rep: RingId) -> SrpMessage {
    SrpMessage::OrfToken(OrfToken {
        header: Header::new(gen, MessageType::OrfToken, 2),
        seq: 9,
        token_seq: 40,
        aru: 7,
        aru_addr: 3,
        ring_id: rep,
        backlog: 0,
        fcc: 1,
        retrans_flg: 1,
        rtr_list: vec![RtrItem {
            ring_id: rep,
            seq: 8,
        }],
    })
}

#[test]
fn token_g3_to_g2_and_back() {
    let b = book();
    let g3 = token(Generation::G3, RingId::node(1, 0x18));
    let to2 = Retarget::new(&b, Generation::G3, Generation::G2);
    let g2 = to2.message(&g3).unwrap();
    let SrpMessage::OrfToken(t) = &g2 else {
        panic!()
    };
    assert_eq!(t.header.generation, Generation::G2);
    assert_eq!(t.ring_id.rep, RingRep::Addr(b.node(1).unwrap().g2[0]));
    assert_eq!(t.rtr_list[0].ring_id, t.ring_id);
    assert_eq!(g2.try_to_vec().unwrap().len(), g2.buffer_len());
    let back = to2.reverse().message(&g2).unwrap();
    assert_eq!(back, g3);
}

#[test]
fn unknown_nodes_and_addresses_are_named() {
    let b = book();
    let to2 = Retarget::new(&b, Generation::G3, Generation::G2);
    assert_eq!(
        to2.message(&token(Generation::G3, RingId::node(9, 4))),
        Err(RetargetError::UnknownNode(9))
    );
    let stranger = crate::ip_address::TotemIpAddress::v4(4, Ipv4Addr::new(198, 51, 100, 4));
    let join = SrpMessage::MembJoin(MembJoin {
        header: Header::new(Generation::G2, MessageType::MembJoin, 4),
        system_from: SrpAddr::single(stranger),
        ring_seq: 4,
        proc_list: vec![SrpAddr::single(stranger)],
        failed_list: vec![],
    });
    let err = to2.reverse().message(&join).unwrap_err();
    assert_eq!(err, RetargetError::UnknownAddress("198.51.100.4".into()));
    assert!(err.to_string().contains("198.51.100.4"));
}

#[test]
fn a_shape_mismatch_no_longer_encodes() {
    // A G3 ring id given to the G2 encoder used to become a zero-filled address.
    let m = token(Generation::G2, RingId::node(1, 4));
    assert!(matches!(
        m.try_to_vec(),
        Err(crate::error::Error::ShapeMismatch {
            field: "ring_id",
            ..
        })
    ));
}

#[test]
fn sync_barrier_changes_size_inside_the_mcast() {
    use crate::srp::mcast::Mcast;
    let b = book();
    let ring = RingId::node(1, 0x20);
    let barrier = RingMessage::new(Generation::G3, BARRIER, ring);
    let mut body = vec![0u8; barrier.buffer_len()];
    barrier.emit(&mut body).unwrap();
    let mut g = crate::group::GroupMessage::new(KnownGroup::Sync, body);
    g.endian = crate::Endian::Little;
    let mut msg = vec![0u8; g.buffer_len()];
    g.emit(&mut msg).unwrap();
    let p = crate::totempg::Packet::new(0, 0, vec![msg]);
    let mut payload = vec![0u8; p.buffer_len()];
    p.emit(&mut payload).unwrap();
    let m = SrpMessage::Mcast(Mcast {
        header: Header::new(Generation::G3, MessageType::Mcast, 1),
        system_from: SrpAddr::Node(1),
        seq: 1,
        this_seqno: 1,
        ring_id: ring,
        node_id: 0,
        guarantee: 0,
        payload,
    });
    let to2 = Retarget::new(&b, Generation::G3, Generation::G2);
    let g2 = to2.message(&m).unwrap();
    // 48 - 32 bytes of sync message, 99 - 45 of mcast header.
    assert_eq!(g2.buffer_len(), m.buffer_len() + 16 + 54);
    let SrpMessage::Mcast(mc) = &g2 else { panic!() };
    let p2 = crate::totempg::Packet::parse(&mc.payload, crate::Endian::Little).unwrap();
    let a = AppMessage::decode(&p2.pieces[0], Generation::G2, crate::Endian::Little).unwrap();
    let ServiceMessage::Sync(SyncMessage::Barrier(bm)) = a.message else {
        panic!()
    };
    assert_eq!(bm.header.size, 48);
    assert_eq!(bm.ring_id.rep, RingRep::Addr(b.node(1).unwrap().g2[0]));
    assert_eq!(to2.reverse().message(&g2).unwrap(), m);
}

#[test]
fn ring_tests_have_no_g3_form() {
    let b = book();
    let rt = SrpMessage::parse(&[6, 0, 0x22, 0xff, 1, 0, 0, 0, 2, 0, 0, 0], Generation::G2)
        .unwrap()
        .message;
    assert!(matches!(
        Retarget::new(&b, Generation::G2, Generation::G3).message(&rt),
        Err(RetargetError::NoCounterpart {
            to: Generation::G3,
            ..
        })
    ));
    assert!(Retarget::new(&b, Generation::G2, Generation::G1)
        .message(&rt)
        .is_ok());
}

use crate::group::KnownGroup;
use crate::ring_id::RingRep;
use crate::service::message::{AppMessage, ServiceMessage};
use crate::service::sync::SyncMessage;

#[test]
fn a_leave_keeps_each_generations_form_of_its_sender() {
    let b = book();
    let leave = |gen: Generation, from: SrpAddr| {
        let mut h = Header::new(gen, MessageType::MembJoin, 2);
        h.nodeid = 0;
        SrpMessage::MembJoin(MembJoin {
            header: h,
            system_from: from,
            ring_seq: 8,
            proc_list: vec![],
            failed_list: vec![from],
        })
    };
    let g3 = leave(Generation::G3, SrpAddr::Node(2));
    let g2 = Retarget::new(&b, Generation::G3, Generation::G2)
        .message(&g3)
        .unwrap();
    let SrpMessage::MembJoin(j) = &g2 else {
        panic!()
    };
    let SrpAddr::Addrs { addrs, .. } = j.system_from else {
        panic!()
    };
    assert_eq!(
        (addrs[0].nodeid, addrs[0].ip()),
        (0, b.node(2).unwrap().g2[0].ip())
    );
    assert_eq!(j.failed_list[0].nodeid(), 2);
    let back = Retarget::new(&b, Generation::G2, Generation::G3)
        .message(&g2)
        .unwrap();
    assert_eq!(back, g3);
}
