//! The executive's part in a multiple-ring system (`crate::mrp`): elements travel in
//! totempg group "mrp", each numbered by its place among the configuration's elements (the
//! same on every member: one agreed order), and the messages of bridged CPG groups leave
//! and arrive through the global order instead of CPG's MCAST.
//!
//! A node runs an [`Orderer`]; a gateway's executive hands the ring's element events to
//! the gateway process, which runs a [`crate::mrp::Port`] over them and submits what the
//! port puts into the ring.

use std::collections::BTreeMap;

use tokio::sync::mpsc;

use crate::engine::{ConfigKind, Event, Guarantee};
use crate::mrp::{Delivery, Orderer, Refusal};
use totem_wire::RingId;

/// What the `mrp` section of corosync.conf says (our nodes only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrpOptions {
    /// This ring's number in the multi-ring system (the same on all its nodes, unique
    /// among the system's rings).
    pub ring: u32,
    /// CPG groups whose messages take the global order (empty: every group).
    pub groups: Vec<Vec<u8>>,
}

/// Most own bridged messages a node has sent and not yet delivered in the global order:
/// beyond it, its library requests wait (as corosync answers TRY_AGAIN when its queues are
/// full), so a slow gateway or WAN link slows the senders instead of filling memory.
pub const MRP_WINDOW: u64 = 1024;

/// What a gateway's executive hands out: the ring's configurations and elements, as the
/// port wants them.
pub type MrpTap = mpsc::UnboundedReceiver<Event>;

/// Counters of the executive's global order, for `totem-node status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MrpStatus {
    pub ring: u32,
    pub synced: bool,
    /// Messages and configurations delivered in the global order.
    pub delivered: u64,
    /// Elements waiting for the other rings to move past them.
    pub waiting: usize,
    /// Rings in the system (this one included) and the gateway path to each.
    pub origins: Vec<(u32, Vec<(u32, u32)>)>,
    /// Refused elements by reason.
    pub refused: BTreeMap<String, u64>,
    /// Elements seen in this configuration.
    pub elements: u32,
    /// Own messages sent and not yet delivered (senders wait at [`MRP_WINDOW`]).
    #[serde(default)]
    pub in_flight: u64,
}

enum Role {
    Node(Box<Orderer>),
    Gateway(mpsc::UnboundedSender<Event>),
}

pub(super) struct Mrp {
    ring: u32,
    role: Role,
    groups: Vec<Vec<u8>>,
    /// The current ring and the elements delivered in it so far.
    ring_id: Option<RingId>,
    seq: u32,
    tap_gone: bool,
    me: u32,
    in_flight: u64,
}

/// A bridged message's element payload: the sender's pid (little-endian) and the data.
fn payload(pid: u32, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(4 + data.len());
    b.extend_from_slice(&pid.to_le_bytes());
    b.extend_from_slice(data);
    b
}

/// A delivered message of a bridged group: group, nodeid, pid, data.
pub(super) type Bridged = (Vec<u8>, u32, u32, Vec<u8>);

impl Mrp {
    /// A node's part: its own global order.
    pub(super) fn node(opts: &MrpOptions, nodeid: u32) -> Self {
        Mrp {
            ring: opts.ring,
            role: Role::Node(Box::new(Orderer::new(opts.ring, nodeid))),
            groups: opts.groups.clone(),
            ring_id: None,
            seq: 0,
            tap_gone: false,
            me: nodeid,
            in_flight: 0,
        }
    }

    /// A gateway's part: the events go to the gateway process.
    pub(super) fn gateway(opts: &MrpOptions, nodeid: u32) -> (Self, MrpTap) {
        let (tx, rx) = mpsc::unbounded_channel();
        let m = Mrp {
            ring: opts.ring,
            role: Role::Gateway(tx),
            groups: opts.groups.clone(),
            ring_id: None,
            seq: 0,
            tap_gone: false,
            me: nodeid,
            in_flight: 0,
        };
        (m, rx)
    }

    /// Whether `group`'s messages take the global order here.
    pub(super) fn bridges(&self, group: &[u8]) -> bool {
        matches!(self.role, Role::Node(_))
            && (self.groups.is_empty() || self.groups.iter().any(|g| g == group))
    }

    fn feed(&mut self, ev: &Event) {
        match &mut self.role {
            Role::Node(o) => o.handle_event(ev),
            Role::Gateway(tx) => {
                if tx.send(ev.clone()).is_err() && !self.tap_gone {
                    self.tap_gone = true;
                    tracing::error!("multiple-ring gateway: the port is gone, elements dropped");
                }
            }
        }
    }

    /// A regular configuration of the ring.
    pub(super) fn regular(&mut self, ring_id: RingId, members: &[u32]) {
        self.ring_id = Some(ring_id);
        self.seq = 0;
        self.feed(&Event::Config {
            kind: ConfigKind::Regular,
            ring_id,
            members: members.to_vec(),
            left: Vec::new(),
            joined: Vec::new(),
        });
    }

    /// An element delivered in `ring_id` from `sender`.
    pub(super) fn element(&mut self, sender: u32, ring_id: RingId, bytes: Vec<u8>) {
        if self.ring_id == Some(ring_id) {
            self.seq = self.seq.wrapping_add(1);
        }
        let ev = Event::Deliver {
            sender,
            payload: bytes,
            guarantee: Guarantee::Agreed,
            ring_id,
            seq: self.seq,
        };
        self.feed(&ev);
    }

    /// A bridged group's message from local process `pid`: the element to send now, if
    /// this node's clock is in (otherwise it leaves through [`Mrp::poll_send`] later).
    pub(super) fn data(&mut self, group: &[u8], pid: u32, data: &[u8]) -> Option<Vec<u8>> {
        match &mut self.role {
            Role::Node(o) => {
                self.in_flight += 1;
                o.data(group, &payload(pid, data))
            }
            Role::Gateway(_) => None,
        }
    }

    /// Whether the window of own undelivered messages is full.
    pub(super) fn full(&self) -> bool {
        self.in_flight >= MRP_WINDOW
    }

    /// The first local member joined `group` (the gateways forward a group only where it
    /// has members).
    pub(super) fn join(&mut self, group: &[u8]) -> Option<Vec<u8>> {
        match &mut self.role {
            Role::Node(o) => Some(o.join(group)),
            Role::Gateway(_) => None,
        }
    }

    /// The last local member left `group`.
    pub(super) fn leave(&mut self, group: &[u8]) -> Option<Vec<u8>> {
        match &mut self.role {
            Role::Node(o) => Some(o.leave(group)),
            Role::Gateway(_) => None,
        }
    }

    /// Next element the node itself must send into the ring.
    pub(super) fn poll_send(&mut self) -> Option<Vec<u8>> {
        match &mut self.role {
            Role::Node(o) => o.poll_send(),
            Role::Gateway(_) => None,
        }
    }

    /// Next bridged message to deliver to local members, in the global order; the other
    /// deliveries (group changes, ring configurations, origins) are logged.
    pub(super) fn poll_delivery(&mut self) -> Option<Bridged> {
        let Role::Node(o) = &mut self.role else {
            return None;
        };
        loop {
            match o.poll_delivery()? {
                Delivery::Data {
                    key,
                    sender,
                    group,
                    payload,
                } => {
                    if sender == self.me && key.origin == self.ring {
                        self.in_flight = self.in_flight.saturating_sub(1);
                    }
                    if payload.len() < 4 {
                        continue;
                    }
                    let pid = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
                    return Some((group, sender, pid, payload[4..].to_vec()));
                }
                Delivery::RingConfig { key, members } => {
                    tracing::info!(
                        ring = key.origin,
                        ?members,
                        ts = key.ts,
                        "global order: ring configuration"
                    );
                }
                Delivery::Origins {
                    attached, detached, ..
                } => {
                    tracing::info!(
                        ?attached,
                        ?detached,
                        "global order: rings attached or detached"
                    );
                }
                Delivery::Group { .. } => {}
            }
        }
    }

    pub(super) fn status(&self) -> MrpStatus {
        let mut s = MrpStatus {
            ring: self.ring,
            elements: self.seq,
            in_flight: self.in_flight,
            ..MrpStatus::default()
        };
        if let Role::Node(o) = &self.role {
            s.synced = o.synced();
            s.delivered = o.delivered();
            s.waiting = o.waiting();
            s.origins = o.attached();
            s.refused = Refusal::ALL
                .iter()
                .filter_map(|r| o.refused().get(r).map(|n| (r.as_str().to_string(), *n)))
                .collect();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use totem_wire::RingRep;

    fn rid() -> RingId {
        RingId {
            rep: RingRep::Node(1),
            seq: 4,
        }
    }

    #[test]
    fn the_window_fills_with_own_undelivered_messages_and_drains_as_they_are_delivered() {
        let mut m = Mrp::node(
            &MrpOptions {
                ring: 0,
                groups: Vec::new(),
            },
            1,
        );
        assert!(m.bridges(b"any"), "no groups listed: every group");
        m.regular(rid(), &[1]);
        let clock = m.poll_send().expect("the node's clock");
        m.element(1, rid(), clock);
        let mut sent = Vec::new();
        for i in 0..MRP_WINDOW {
            assert!(!m.full(), "{i}");
            sent.push(
                m.data(b"g", 7, &i.to_le_bytes())
                    .expect("clocked: sent now"),
            );
        }
        assert!(m.full(), "a full window holds the senders");
        assert_eq!(m.status().in_flight, MRP_WINDOW);
        for b in sent {
            m.element(1, rid(), b);
        }
        let got: Vec<Bridged> = std::iter::from_fn(|| m.poll_delivery()).collect();
        assert_eq!(got.len(), MRP_WINDOW as usize);
        assert_eq!(got[0], (b"g".to_vec(), 1, 7, 0u64.to_le_bytes().to_vec()));
        assert!(!m.full());
        assert_eq!(m.status().in_flight, 0);
        assert_eq!(
            m.status().delivered,
            MRP_WINDOW + 1,
            "and the ring configuration"
        );
    }

    #[test]
    fn only_listed_groups_take_the_global_order() {
        let m = Mrp::node(
            &MrpOptions {
                ring: 0,
                groups: vec![b"app".to_vec()],
            },
            1,
        );
        assert!(m.bridges(b"app"));
        assert!(!m.bridges(b"pacemaker"));
        let (g, _tap) = Mrp::gateway(
            &MrpOptions {
                ring: 0,
                groups: Vec::new(),
            },
            7,
        );
        assert!(
            !g.bridges(b"app"),
            "a gateway has no local members to bridge"
        );
    }
}
