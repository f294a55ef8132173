//! One side of a gateway: a node of one ring that carries that ring's stream to a peer
//! port and the peer's stream into the ring (sans-IO).
//!
//! A LAN gateway is two ports in one process, joined directly; a WAN gateway is one port per
//! site, joined by a point-to-point link. Either way the port:
//! - forwards every keyed element of its ring's stream that it did not put there itself,
//!   unchanged but for the `forwarded` flag, so every node computes the same key;
//! - puts every element from the peer into its ring, and then, once, a `Null` stamped above
//!   it, so its own ring's stream moves past the forwarded key and the far side can deliver
//!   (an idle ring keeps advancing; a `Null` never causes another `Null`);
//! - announces the origins behind the peer with `Attach` when the link comes up (and again
//!   at every new ring configuration, for members that were elsewhere), and takes them out
//!   with `Detach` when the link goes down; both are resent until they come back keyed;
//! - forwards a group's data only while the far side has members of it; otherwise the far
//!   side gets a `Skip` with the key and no payload (it moves the origin on, and the rings
//!   beyond answer it with nulls as they answer data).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use totem_wire::mrp::{Body, Element, Kind};

use super::order::{Delivery, Orderer};
use crate::engine::Event;

/// What ports say to each other over their link (in order, reliably: a stream); its
/// codec is `totem_wire::mrp_link`.
pub use totem_wire::mrp_link::LinkMsg;

/// Counters of a port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Elements sent to the peer, by kind name.
    pub forwarded: BTreeMap<&'static str, u64>,
    /// Data elements of groups the far side has no members of (a `Skip` instead).
    pub filtered: u64,
    /// Elements from the peer put into the ring.
    pub injected: u64,
    /// Nulls this port sent into its ring.
    pub nulls: u64,
    /// Link messages refused (not an element, not forwarded, own ring as origin).
    pub refused: u64,
    pub connects: u64,
    pub disconnects: u64,
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Data => "data",
        Kind::Null => "null",
        Kind::Clock => "clock",
        Kind::Attach => "attach",
        Kind::Detach => "detach",
        Kind::RingConfig => "ring_config",
        Kind::Join => "join",
        Kind::Leave => "leave",
        Kind::Skip => "skip",
    }
}

/// One side of a gateway.
#[derive(Debug)]
pub struct Port {
    order: Orderer,
    /// Filter data by the far side's groups.
    selective: bool,
    link_up: bool,
    /// Origins behind the peer, with their paths as seen from this ring.
    far: BTreeMap<u32, Vec<(u32, u32)>>,
    /// Groups with members on the far side.
    far_groups: BTreeSet<Vec<u8>>,
    /// Members of each group on this side (nodeids of this side's rings, by origin).
    near_groups: BTreeMap<Vec<u8>, BTreeSet<(u32, u32)>>,
    sent_groups: Option<BTreeSet<Vec<u8>>>,
    null_out: bool,
    /// Highest timestamp from the peer since the last null went out.
    peer_ts: u64,
    /// Attach/Detach elements sent but not seen keyed yet (resent at a new configuration).
    control: Vec<Element>,
    ring_seq: u64,
    to_ring: VecDeque<Vec<u8>>,
    to_link: VecDeque<LinkMsg>,
    deliveries: VecDeque<Delivery>,
    pub stats: PortStats,
}

impl Port {
    /// The port of gateway node `me` on ring `ring`.
    pub fn new(ring: u32, me: u32, selective: bool) -> Self {
        Port {
            order: Orderer::new(ring, me).with_tap(),
            selective,
            link_up: false,
            far: BTreeMap::new(),
            far_groups: BTreeSet::new(),
            near_groups: BTreeMap::new(),
            sent_groups: None,
            null_out: false,
            peer_ts: 0,
            control: Vec::new(),
            ring_seq: 0,
            to_ring: VecDeque::new(),
            to_link: VecDeque::new(),
            deliveries: VecDeque::new(),
            stats: PortStats::default(),
        }
    }

    pub fn orderer(&self) -> &Orderer {
        &self.order
    }
    pub fn link_up(&self) -> bool {
        self.link_up
    }
    /// Origins reached through the peer.
    pub fn far_origins(&self) -> Vec<u32> {
        self.far.keys().copied().collect()
    }
    /// Groups forwarded to the peer (those with members on the far side).
    pub fn forwarded_groups(&self) -> Vec<Vec<u8>> {
        self.far_groups.iter().cloned().collect()
    }
    /// Groups with members on this side.
    pub fn near_groups(&self) -> Vec<Vec<u8>> {
        self.near_groups
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(g, _)| g.clone())
            .collect()
    }

    /// Next element to submit into the port's ring.
    pub fn poll_ring(&mut self) -> Option<Vec<u8>> {
        self.order.poll_send().or_else(|| self.to_ring.pop_front())
    }
    /// Next message for the peer.
    pub fn poll_link(&mut self) -> Option<LinkMsg> {
        self.to_link.pop_front()
    }
    /// The port's own global deliveries (a gateway is a node of its ring too).
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }

    /// The origins on this side, as the peer should learn them.
    fn near_origins(&self) -> Vec<(u32, Vec<(u32, u32)>)> {
        let me = (self.order.ring(), self.order.nodeid());
        self.order
            .attached()
            .into_iter()
            .filter(|(_, path)| !path.contains(&me))
            .collect()
    }

    /// The link to the peer is up (a new connection): say hello.
    pub fn connect(&mut self) {
        self.link_up = true;
        self.stats.connects += 1;
        self.sent_groups = None;
        self.to_link.push_back(LinkMsg::Hello {
            origins: self.near_origins(),
            clock: self.order.clock(),
        });
        self.send_groups();
    }

    /// The link is gone: the origins behind it leave the system.
    pub fn disconnect(&mut self) {
        if !self.link_up {
            return;
        }
        self.link_up = false;
        self.stats.disconnects += 1;
        self.far_groups.clear();
        let origins: Vec<u32> = std::mem::take(&mut self.far).into_keys().collect();
        self.control.retain(|e| e.kind != Kind::Attach);
        if !origins.is_empty() {
            self.control_element(
                Kind::Detach,
                Body::Origins {
                    path: vec![(self.order.ring(), self.order.nodeid())],
                    origins,
                },
                0,
            );
        }
    }

    fn control_element(&mut self, kind: Kind, body: Body, at_least: u64) {
        let bytes = self.order.element(kind, b"", body, at_least);
        if let Ok(e) = Element::parse(&bytes) {
            self.control.push(e);
        }
        self.to_ring.push_back(bytes);
    }

    /// Announces the far origins (grouped by path) into the ring.
    fn announce(&mut self, at_least: u64) {
        let mut by_path: BTreeMap<Vec<(u32, u32)>, Vec<u32>> = BTreeMap::new();
        for (o, path) in &self.far {
            by_path.entry(path.clone()).or_default().push(*o);
        }
        self.control.retain(|e| e.kind != Kind::Attach);
        for (path, origins) in by_path {
            self.control_element(Kind::Attach, Body::Origins { path, origins }, at_least);
        }
    }

    /// A message from the peer.
    pub fn handle_link(&mut self, msg: LinkMsg) {
        if !self.link_up {
            return;
        }
        let here = (self.order.ring(), self.order.nodeid());
        match msg {
            LinkMsg::Hello { origins, clock } => {
                self.far = origins
                    .into_iter()
                    .filter(|(o, _)| *o != here.0)
                    .map(|(o, path)| {
                        let mut p = vec![here];
                        p.extend(path);
                        (o, p)
                    })
                    .collect();
                self.announce(clock);
            }
            LinkMsg::Groups(g) => self.far_groups = g.into_iter().collect(),
            // The link's own liveness: nothing for the port.
            LinkMsg::Heartbeat => {}
            LinkMsg::Element(bytes) => {
                let e = match Element::parse(&bytes) {
                    Ok(e) if e.forwarded && e.origin != here.0 => e,
                    _ => {
                        self.stats.refused += 1;
                        return;
                    }
                };
                if let Body::Origins { path, origins } = &e.body {
                    // Origins further out, announced on the far side: they are reached
                    // through this port too. The forwarded announcement may fall below
                    // where this ring took in the far ring (and be refused there), so the
                    // port says it again in its own name.
                    let origins: Vec<u32> =
                        origins.iter().copied().filter(|o| *o != here.0).collect();
                    let mut p = vec![here];
                    p.extend(path.iter().copied());
                    for o in &origins {
                        if e.kind == Kind::Attach {
                            self.far.insert(*o, p.clone());
                        } else {
                            self.far.remove(o);
                        }
                    }
                    if !origins.is_empty() {
                        let body = if e.kind == Kind::Attach {
                            Body::Origins { path: p, origins }
                        } else {
                            Body::Origins {
                                path: vec![here],
                                origins,
                            }
                        };
                        self.control_element(e.kind, body, e.ts);
                    }
                }
                self.stats.injected += 1;
                self.to_ring.push_back(bytes);
                if e.kind != Kind::Null {
                    self.wants_null(e.ts);
                }
            }
        }
    }

    fn wants_null(&mut self, ts: u64) {
        self.peer_ts = self.peer_ts.max(ts);
        if !self.null_out {
            self.send_null();
        }
    }

    fn send_null(&mut self) {
        let b = self
            .order
            .element(Kind::Null, b"", Body::Empty, self.peer_ts);
        self.null_out = true;
        self.stats.nulls += 1;
        self.to_ring.push_back(b);
    }

    fn send_groups(&mut self) {
        if !self.link_up || !self.selective {
            return;
        }
        let now: BTreeSet<Vec<u8>> = self.near_groups().into_iter().collect();
        if self.sent_groups.as_ref() != Some(&now) {
            self.to_link
                .push_back(LinkMsg::Groups(now.iter().cloned().collect()));
            self.sent_groups = Some(now);
        }
    }

    /// An event of the port's ring.
    pub fn handle_event(&mut self, ev: &Event) {
        self.order.handle_event(ev);
        let me = self.order.nodeid();
        let here = (self.order.ring(), me);
        while let Some(t) = self.order.poll_tap() {
            let e = t.element;
            let mine = !e.forwarded && e.sender == me;
            if mine {
                if e.kind == Kind::Null {
                    self.null_out = false;
                    if self.peer_ts >= e.ts {
                        self.send_null();
                    }
                }
                self.control
                    .retain(|c| !(c.kind == e.kind && c.body == e.body));
            }
            if e.kind == Kind::RingConfig && !e.forwarded && e.ring_seq != self.ring_seq {
                if self.ring_seq == 0 {
                    // A new process under a nodeid an earlier one may have had: whatever
                    // that one attached through this node is gone with it.
                    self.control_element(
                        Kind::Detach,
                        Body::Origins {
                            path: vec![here],
                            origins: Vec::new(),
                        },
                        0,
                    );
                }
                self.ring_seq = e.ring_seq;
                // Members that were elsewhere learn the far origins, and what was not
                // keyed in the last configuration goes again.
                let pending: Vec<Element> = std::mem::take(&mut self.control);
                for c in pending {
                    if c.kind == Kind::Detach {
                        self.control_element(Kind::Detach, c.body, 0);
                    }
                }
                if self.link_up && !self.far.is_empty() {
                    self.announce(0);
                }
                // A lost null would leave the far side waiting.
                if self.null_out {
                    self.send_null();
                }
            }
            if let (Kind::RingConfig, Body::Members(m)) = (&e.kind, &e.body) {
                // Members gone from a ring leave its groups; those still there announce
                // their groups again in the new configuration.
                let before = self.near_groups.clone();
                for set in self.near_groups.values_mut() {
                    set.retain(|(o, n)| *o != e.origin || m.contains(n));
                }
                let live: BTreeSet<u32> =
                    self.order.attached().into_iter().map(|(o, _)| o).collect();
                for set in self.near_groups.values_mut() {
                    set.retain(|(o, _)| live.contains(o));
                }
                if before != self.near_groups {
                    self.send_groups();
                }
            }
            if matches!(e.kind, Kind::Join | Kind::Leave) && !(e.forwarded && t.via == me) {
                let m = self.near_groups.entry(e.group.clone()).or_default();
                if e.kind == Kind::Join {
                    m.insert((e.origin, e.sender));
                } else {
                    m.remove(&(e.origin, e.sender));
                }
                self.send_groups();
            }
            if !self.link_up {
                continue;
            }
            let injected_here = e.forwarded && t.via == me;
            let own_announcement =
                matches!(&e.body, Body::Origins { path, .. } if path.first() == Some(&here));
            if injected_here || own_announcement {
                continue;
            }
            let mut f = e;
            if self.selective && f.kind == Kind::Data && !self.far_groups.contains(&f.group) {
                // The far side still has to see this origin move past the key, and its
                // rings have to answer with nulls; the payload stays here.
                self.stats.filtered += 1;
                f.kind = Kind::Skip;
                f.body = Body::Empty;
            }
            f.forwarded = true;
            if let Ok(b) = f.to_vec() {
                *self.stats.forwarded.entry(kind_name(f.kind)).or_default() += 1;
                self.to_link.push_back(LinkMsg::Element(b));
            }
        }
        while let Some(d) = self.order.poll_delivery() {
            self.deliveries.push_back(d);
        }
    }
}
