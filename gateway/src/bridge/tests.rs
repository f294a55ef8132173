//! The bridge between two tiny rings, each an agreed-order queue: a node on each side and
//! the bridge's port.

use totem::engine::{ConfigKind, Event, Guarantee};
use totem::mrp::{Delivery, Orderer};
use totem_wire::{RingId, RingRep};

use super::Bridge;

struct Ring {
    id: RingId,
    node: Orderer,
    seq: u32,
    /// Submitted, not yet delivered: (sender, element).
    queue: Vec<(u32, Vec<u8>)>,
    delivered: Vec<Delivery>,
}

fn ring_id(rep: u32) -> RingId {
    RingId {
        rep: RingRep::Node(rep),
        seq: 4,
    }
}

impl Ring {
    fn new(ring: u32, node: u32) -> Self {
        Ring {
            id: ring_id(node),
            node: Orderer::new(ring, node),
            seq: 0,
            queue: Vec::new(),
            delivered: Vec::new(),
        }
    }
}

/// Delivers everything submitted on both rings, to the node and the bridge's side, until
/// nothing moves (bounded).
fn settle(rings: &mut [Ring; 2], bridge: &mut Bridge, gw: [u32; 2]) {
    for _ in 0..10_000 {
        let mut moved = false;
        for side in 0..2 {
            let r = &mut rings[side];
            while let Some(b) = r.node.poll_send() {
                r.queue.push((r.node.nodeid(), b));
            }
            while let Some(b) = bridge.poll_ring(side) {
                r.queue.push((gw[side], b));
            }
            for (sender, b) in std::mem::take(&mut r.queue) {
                moved = true;
                r.seq += 1;
                let ev = Event::Deliver {
                    sender,
                    payload: b,
                    guarantee: Guarantee::Agreed,
                    ring_id: r.id,
                    seq: r.seq,
                };
                r.node.handle_event(&ev);
                bridge.handle_event(side, &ev);
            }
            while let Some(d) = r.node.poll_delivery() {
                r.delivered.push(d);
            }
        }
        if !moved {
            return;
        }
    }
    panic!("the rings never settled");
}

#[test]
fn a_message_of_a_bridged_group_is_delivered_on_both_rings_at_one_key() {
    let gw = [3, 13];
    let mut rings = [Ring::new(0, 1), Ring::new(1, 11)];
    let mut bridge = Bridge::new((0, 3), (1, 13), true);
    for (side, r) in rings.iter_mut().enumerate() {
        let ev = Event::Config {
            kind: ConfigKind::Regular,
            ring_id: r.id,
            members: vec![r.node.nodeid(), gw[side]],
            left: Vec::new(),
            joined: Vec::new(),
        };
        r.node.handle_event(&ev);
        bridge.handle_event(side, &ev);
    }
    assert!(!bridge.connected());
    settle(&mut rings, &mut bridge, gw);
    assert!(bridge.connected(), "both rings synced: ports joined");
    for r in rings.iter_mut() {
        let j = r.node.join(b"g");
        r.queue.push((r.node.nodeid(), j));
    }
    settle(&mut rings, &mut bridge, gw);
    let m = rings[0].node.data(b"g", b"hello").expect("clocked");
    rings[0].queue.push((1, m));
    settle(&mut rings, &mut bridge, gw);
    let data = |r: &Ring| -> Vec<_> {
        r.delivered
            .iter()
            .filter_map(|d| match d {
                Delivery::Data { key, payload, .. } => Some((*key, payload.clone())),
                _ => None,
            })
            .collect()
    };
    let (a, b) = (data(&rings[0]), data(&rings[1]));
    assert_eq!(a.len(), 1, "{:?}", rings[0].delivered);
    assert_eq!(a, b, "one key, one payload on both rings");
    assert_eq!(a[0].1, b"hello".to_vec());
    assert_eq!(a[0].0.origin, 0);
    let st = bridge.side(0);
    assert_eq!(st.forwarded_groups, vec!["g".to_string()]);
    assert_eq!(st.far_origins, vec![1]);
    assert!(st.stats.forwarded.get("data").copied().unwrap_or(0) >= 1);
}
