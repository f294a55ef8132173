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

/// A real datagram of `wire/testdata/upper`.
fn sample(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/../wire/testdata/upper/{name}.hex",
        env!("CARGO_MANIFEST_DIR")
    );
    let t = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let t = t.trim();
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&t[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_generation_behind_a_node_is_found_in_its_service_build() {
    // A real 2.4.6 service_build (CMAP, CPG, VOTEQUORUM...) and a real 3.1.7 one (with
    // QUORUM, id 3) tell the two apart; a token tells nothing.
    let g2 = sample("g2_service_build");
    let m2 = SrpMessage::parse(&g2[4..], Generation::G2).unwrap().message;
    let (n2, k2) = peer_kind_of(&m2).expect("a service_build");
    assert_eq!(k2, PeerKind::Corosync2);
    let g3 = sample("g3_service_build");
    let m3 = SrpMessage::parse(&g3, Generation::G3).unwrap().message;
    let (n3, k3) = peer_kind_of(&m3).expect("a service_build");
    assert_eq!(k3, PeerKind::Corosync3);
    assert!(n2 != 0 && n3 != 0);
    let ring = RingId {
        rep: RingRep::Addr(book().node(1).unwrap().g2[0]),
        seq: 8,
    };
    let t = SrpMessage::parse(&token(Generation::G2, 1, ring), Generation::G2)
        .unwrap()
        .message;
    assert_eq!(peer_kind_of(&t), None);
    // The gateway notes it from the ring, whether or not the datagram could be forwarded
    // (the capture's addresses are not in this book).
    let mut g = gw();
    let _ = g.from_ring(&g2[4..], n2);
    assert_eq!(g.peers().get(&n2), Some(&PeerKind::Corosync2));
}
