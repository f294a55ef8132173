//! Hostile and malformed input to the orderer and the port, fed as ring events.

use proptest::prelude::*;
use totem_wire::mrp::{Body, Element, Kind};
use totem_wire::{RingId, RingRep};

use super::order::{Delivery, Orderer, Refusal};
use super::port::{LinkMsg, Port};
use crate::engine::{ConfigKind, Event, Guarantee};

fn ring(seq: u64) -> RingId {
    RingId {
        rep: RingRep::Node(1),
        seq,
    }
}

fn regular(seq: u64, members: &[u32]) -> Event {
    Event::Config {
        kind: ConfigKind::Regular,
        ring_id: ring(seq),
        members: members.to_vec(),
        left: Vec::new(),
        joined: Vec::new(),
    }
}

fn deliver(sender: u32, payload: Vec<u8>, seq: u64, at: u32) -> Event {
    Event::Deliver {
        sender,
        payload,
        guarantee: Guarantee::Agreed,
        ring_id: ring(seq),
        seq: at,
    }
}

/// A clock of `sender` for the configuration of ring seq `cfg`.
fn clock(ring_no: u32, sender: u32, ts: u64, cfg: u64) -> Vec<u8> {
    let mut e = Element::new(Kind::Clock, ring_no, sender, ts, b"", Body::Empty);
    e.ring_seq = super::order::ring_position(&ring(cfg));
    e.to_vec().unwrap()
}

/// Node 1 of ring 0, in a synced configuration with node 2.
fn synced() -> Orderer {
    let mut o = Orderer::new(0, 1);
    o.handle_event(&regular(4, &[1, 2]));
    assert!(o.poll_send().is_some(), "its clock");
    o.handle_event(&deliver(1, clock(0, 1, 0, 4), 4, 1));
    o.handle_event(&deliver(2, clock(0, 2, 7, 4), 4, 2));
    assert!(o.synced());
    o
}

fn count(o: &Orderer, r: Refusal) -> u64 {
    o.refused().get(&r).copied().unwrap_or(0)
}

#[test]
fn a_configuration_is_delivered_at_the_largest_clock() {
    let mut o = synced();
    match o.poll_delivery() {
        Some(Delivery::RingConfig { key, members }) => {
            assert_eq!(key.ts, 7);
            assert_eq!(members, vec![1, 2]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn hostile_elements_are_refused_by_reason() {
    let mut o = synced();
    let before = o.delivered();
    o.handle_event(&deliver(2, b"not an element".to_vec(), 4, 3));
    assert_eq!(count(&o, Refusal::Malformed), 1);
    // Node 2 sends an element claiming to be node 3's.
    let forged = Element::new(Kind::Data, 0, 3, 9, b"g", Body::Payload(vec![1]));
    o.handle_event(&deliver(2, forged.to_vec().unwrap(), 4, 4));
    // An element claiming another ring as its origin without being forwarded.
    let foreign = Element::new(Kind::Data, 5, 2, 9, b"g", Body::Payload(vec![1]));
    o.handle_event(&deliver(2, foreign.to_vec().unwrap(), 4, 5));
    assert_eq!(count(&o, Refusal::Forged), 2);
    // A forwarded element of this very ring, and one of a ring not in the system.
    let mut own = Element::new(Kind::Data, 0, 2, 9, b"g", Body::Payload(vec![1]));
    own.forwarded = true;
    o.handle_event(&deliver(2, own.to_vec().unwrap(), 4, 6));
    assert_eq!(count(&o, Refusal::OwnOrigin), 1);
    let mut stray = Element::new(Kind::Data, 9, 2, 9, b"g", Body::Payload(vec![1]));
    stray.forwarded = true;
    o.handle_event(&deliver(2, stray.to_vec().unwrap(), 4, 7));
    assert_eq!(count(&o, Refusal::Unattached), 1);
    // From a ring configuration that is not the current one.
    let good = Element::new(Kind::Data, 0, 2, 9, b"g", Body::Payload(vec![1]));
    o.handle_event(&deliver(2, good.to_vec().unwrap(), 8, 1));
    assert_eq!(count(&o, Refusal::WrongRing), 1);
    assert_eq!(o.delivered(), before, "nothing hostile was delivered");
    // And the node still works.
    o.handle_event(&deliver(2, good.to_vec().unwrap(), 4, 8));
    assert_eq!(o.delivered(), before + 1);
}

#[test]
fn an_element_in_flight_across_a_configuration_change_is_sent_again() {
    let mut o = synced();
    while o.poll_send().is_some() {}
    let mine = o.data(b"g", b"hello").expect("clocked: sent at once");
    o.handle_event(&regular(8, &[1, 2]));
    // In the new configuration it is ordered before node 1's clock: dropped by everyone,
    // sent again by node 1.
    o.handle_event(&deliver(1, mine, 8, 1));
    assert_eq!(count(&o, Refusal::BeforeClock), 1);
    let sends: Vec<Element> = std::iter::from_fn(|| o.poll_send())
        .map(|b| Element::parse(&b).unwrap())
        .collect();
    assert_eq!(sends[0].kind, Kind::Clock);
    assert!(sends
        .iter()
        .any(|e| e.body == Body::Payload(b"hello".to_vec())));
    // Messages of the application wait for the clock.
    assert!(o.data(b"g", b"later").is_none());
}

#[test]
fn a_configuration_that_does_not_move_on_is_refused() {
    let mut o = synced();
    while o.poll_delivery().is_some() {}
    o.handle_event(&regular(4, &[1, 2]));
    o.handle_event(&regular(2, &[1]));
    assert_eq!(count(&o, Refusal::StaleConfig), 2);
    assert!(o.synced(), "the current configuration stands");
    assert_eq!(o.members(), &[1, 2]);
}

#[test]
fn a_clock_sent_for_an_earlier_configuration_does_not_count() {
    let mut o = synced();
    let good = Element::new(Kind::Data, 0, 2, 500, b"g", Body::Payload(vec![1]));
    o.handle_event(&deliver(2, good.to_vec().unwrap(), 4, 3));
    while o.poll_send().is_some() {}
    o.handle_event(&regular(8, &[1, 2]));
    // Node 1's clock of configuration 4 (in flight across the change, far below what
    // node 1 delivered since) reaches configuration 8 first, then node 2's.
    o.handle_event(&deliver(1, clock(0, 1, 3, 4), 8, 1));
    o.handle_event(&deliver(2, clock(0, 2, 4, 8), 8, 2));
    assert_eq!(count(&o, Refusal::Stale), 1);
    assert!(
        !o.synced(),
        "node 1's clock of this configuration is still to come"
    );
    o.handle_event(&deliver(1, clock(0, 1, o.clock(), 8), 8, 3));
    assert!(o.synced());
    // A second clock of a member does not count either.
    o.handle_event(&deliver(2, clock(0, 2, 9999, 8), 8, 4));
    assert_eq!(
        count(&o, Refusal::Stale),
        1,
        "after the base, clocks are ignored"
    );
    let keys: Vec<_> = std::iter::from_fn(|| o.poll_delivery())
        .map(|d| d.key())
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    assert!(keys.last().unwrap().ts >= 500);
}

#[test]
fn a_port_refuses_what_it_cannot_forward() {
    let mut p = Port::new(0, 3, true);
    p.handle_event(&regular(4, &[3]));
    while p.poll_ring().is_some() {}
    p.connect();
    p.handle_link(LinkMsg::Element(b"garbage".to_vec()));
    // Not flagged forwarded, or claiming the port's own ring as origin.
    let plain = Element::new(Kind::Data, 1, 2, 1, b"g", Body::Payload(vec![]));
    p.handle_link(LinkMsg::Element(plain.to_vec().unwrap()));
    let mut own = Element::new(Kind::Data, 0, 2, 1, b"g", Body::Payload(vec![]));
    own.forwarded = true;
    p.handle_link(LinkMsg::Element(own.to_vec().unwrap()));
    assert_eq!(p.stats.refused, 3);
    assert_eq!(p.stats.injected, 0);
}

proptest! {
    /// Arbitrary events (garbage, forged and misplaced elements, clocks of the other
    /// members with any timestamp and for any configuration, configuration changes, this
    /// node's own elements coming back late, across changes) never panic the orderer, and
    /// whatever it delivers comes in rising key order. (A clock of this very node made up
    /// by someone else is not among them: without the ring's authentication it cannot be
    /// told from the real one, on any member.)
    #[test]
    fn arbitrary_input_never_breaks_the_order(
        steps in proptest::collection::vec(
            (0u8..5, 1u32..4, any::<u64>(), 0u64..3, 0u32..50, proptest::collection::vec(any::<u8>(), 0..48)),
            1..80)
    ) {
        let mut o = Orderer::new(0, 1);
        let mut last = None;
        let mut own: std::collections::VecDeque<Vec<u8>> = Default::default();
        // Configurations mostly move on, sometimes repeat or go back (hostile); deliveries
        // mostly belong to the current one, sometimes to another.
        let mut cur = 1u64;
        let mut at = 0u32;
        for (what, sender, ts, cfg, seq, junk) in steps {
            if what == 0 {
                cur = match cfg { 0 => cur, 1 => cur + 1, _ => cur.saturating_sub(1) };
            }
            let ring_seq = 4 * if what != 0 && cfg == 2 { cur + 1 } else { cur };
            let ev = match what {
                0 => regular(ring_seq, &[1, 2, 3]),
                1 => {
                    let from = if sender == 1 { 2 } else { sender };
                    let tag = if ts % 5 == 0 { 4 * cur.saturating_sub(1) } else { ring_seq };
                    deliver(from, clock(0, from, ts % 1000, tag), ring_seq, seq)
                }
                2 => deliver(sender, junk, ring_seq, seq),
                3 => {
                    // This node's own next element, back from the ring (in ring order).
                    at += 1;
                    match own.pop_front() {
                        Some(b) => deliver(1, b, 4 * cur, at),
                        None => deliver(sender, junk, ring_seq, seq),
                    }
                }
                _ => {
                    let kind = Kind::ALL[(ts % 9) as usize];
                    let body = match kind {
                        Kind::Data => Body::Payload(junk),
                        Kind::Attach | Kind::Detach => Body::Origins { path: vec![(0, sender)], origins: vec![(ts % 3) as u32] },
                        Kind::RingConfig => Body::Members(vec![1, 2]),
                        _ => Body::Empty,
                    };
                    let mut e = Element::new(kind, (ts % 2) as u32, sender, ts % 1000, b"g", body);
                    e.forwarded = ts % 3 == 0;
                    e.ring_seq = ts % 7;
                    // Not this node's clock (see above).
                    let from = if kind == Kind::Clock && !e.forwarded && sender == 1 { 2 } else { sender };
                    e.sender = from;
                    deliver(from, e.to_vec().unwrap(), ring_seq, seq)
                }
            };
            o.handle_event(&ev);
            while let Some(d) = o.poll_delivery() {
                if !matches!(d, Delivery::Origins { .. }) {
                    let k = d.key();
                    prop_assert!(last.is_none_or(|l| k > l), "{:?} after {:?}", k, last);
                    last = Some(k);
                }
            }
            while let Some(b) = o.poll_send() {
                own.push_back(b);
            }
        }
    }
}
