use std::net::{IpAddr, Ipv4Addr};

use totem_wire::header::Header;
use totem_wire::retarget::{AddressBook, BookEntry, Payload};
use totem_wire::srp::orf_token::OrfToken;
use totem_wire::{Generation, MessageType, RingId, RingRep, SrpMessage};

use super::*;

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

fn gw() -> Gateway {
    Gateway::new(GatewayConfig {
        book: book(),
        local: 2,
        ring: Generation::G2,
        daemon: Generation::G3,
        payload: Payload::Totempg,
    })
    .unwrap()
}

fn token(gen: Generation, sender: u32, ring: RingId) -> Vec<u8> {
    SrpMessage::OrfToken(OrfToken {
        header: Header::new(gen, MessageType::OrfToken, sender),
        seq: 3,
        token_seq: 9,
        aru: 3,
        aru_addr: 0,
        ring_id: ring,
        backlog: 0,
        fcc: 0,
        retrans_flg: 0,
        rtr_list: vec![],
    })
    .to_vec()
}

#[test]
fn the_token_crosses_both_ways_and_names_the_local_daemon() {
    let mut g = gw();
    let b = book();
    let g2ring = RingId {
        rep: RingRep::Addr(b.node(1).unwrap().g2[0]),
        seq: 8,
    };
    let to_local = g.from_ring(&token(Generation::G2, 1, g2ring), 1).unwrap();
    let m = SrpMessage::parse(&to_local, Generation::G3)
        .unwrap()
        .message;
    let SrpMessage::OrfToken(t) = &m else {
        panic!()
    };
    assert_eq!((t.header.target_nodeid, t.ring_id), (2, RingId::node(1, 8)));
    let to_ring = g
        .from_local(&token(Generation::G3, 2, RingId::node(1, 8)), Some(3))
        .unwrap();
    let m = SrpMessage::parse(&to_ring, Generation::G2).unwrap().message;
    assert_eq!(m.nodeid(), 2);
    assert_eq!(
        g.stats()
            .translated_of(Direction::ToLocal, MessageType::OrfToken),
        1
    );
    assert_eq!(
        g.stats()
            .translated_of(Direction::ToRing, MessageType::OrfToken),
        1
    );
}

#[test]
fn what_cannot_be_translated_is_refused_by_reason() {
    let mut g = gw();
    // Garbage, a G3 datagram on the G2 side, the local node's name from the ring, another
    // node's name from the local daemon, a node the book does not know.
    let b = book();
    let g2ring = RingId {
        rep: RingRep::Addr(b.node(1).unwrap().g2[0]),
        seq: 8,
    };
    let cases: Vec<(Result<Vec<u8>, GatewayError>, Refusal)> = vec![
        (g.from_ring(b"\x01\x02garbage", 1), Refusal::Undecodable),
        (
            g.from_ring(&token(Generation::G3, 1, RingId::node(1, 8)), 1),
            Refusal::Undecodable,
        ),
        (
            g.from_ring(&token(Generation::G2, 2, g2ring), 1),
            Refusal::Loop,
        ),
        (
            g.from_local(&token(Generation::G3, 3, RingId::node(1, 8)), None),
            Refusal::NotLocal,
        ),
        (
            g.from_local(&token(Generation::G3, 2, RingId::node(7, 8)), None),
            Refusal::UnknownNode,
        ),
    ];
    for (i, (r, want)) in cases.into_iter().enumerate() {
        assert_eq!(r.unwrap_err().refusal(), want, "case {i}");
    }
    assert_eq!(g.stats().refused_total(), 5);
    assert_eq!(g.stats().translated_total(Direction::ToRing), 0);
}

#[test]
fn a_book_that_orders_two_ways_is_refused_up_front() {
    let mut b = AddressBook::new();
    b.insert(BookEntry::new(1, "192.0.2.9".parse().unwrap(), None))
        .unwrap();
    b.insert(BookEntry::new(2, "192.0.2.3".parse().unwrap(), None))
        .unwrap();
    let e = Gateway::new(GatewayConfig {
        book: b,
        local: 1,
        ring: Generation::G2,
        daemon: Generation::G3,
        payload: Payload::Totempg,
    })
    .unwrap_err();
    assert_eq!(e.refusal(), Refusal::Order);
}
