//! What a node of a multi-ring system runs above its ring: the global order.
//!
//! Each ring's agreed order is one stream of elements (`totem_wire::mrp`). A node sees its
//! own ring's elements (native) and, injected by gateways, the elements of other rings
//! (forwarded), each stream in its ring's order. Every element has a key
//! `(ts, origin, ring_seq, seq)`; the keys of one origin rise along its stream, so the node
//! can merge the streams: it delivers the element with the smallest key once every other
//! origin that is part of the system at that key has been seen past it (TOCS 1998: deliver a
//! stamped message once every ring that can send has advanced beyond its stamp).
//!
//! A native element's key is fixed when its ring orders it: `ts = max(stamp, previous ts)`
//! along the ring's order, so the keys of a configuration rise with Totem's seq. A new
//! configuration starts from a clock agreed by its members: each member sends its Lamport
//! clock first (`Clock`), and the configuration's keys start at the largest one, above
//! everything any member ordered before. The configuration itself takes that key, so ring
//! configurations are delivered in the global order too.
//!
//! Origins come and go with gateways: an `Attach` element puts origins in the system from
//! its key on, a `Detach` element, or a ring configuration without the gateway node the
//! origins were reached through, takes them out (and every origin attached through them).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use totem_wire::mrp::{Body, Element, ElementView, Key, Kind};

use crate::engine::{ConfigKind, Event};

/// A ring configuration's place in the key: Totem's ring seq above, its representative
/// below (two partitions can form rings of one seq; their representatives differ).
pub fn ring_position(id: &totem_wire::RingId) -> u64 {
    let rep = match id.rep {
        totem_wire::RingRep::Node(n) => n,
        totem_wire::RingRep::Addr(a) if a.nodeid != 0 => a.nodeid,
        totem_wire::RingRep::Addr(a) => a.addr.iter().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        }),
    };
    (id.seq << 32) | u64::from(rep)
}

/// What a node delivers, in the global order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// An application message.
    Data {
        key: Key,
        sender: u32,
        group: Vec<u8>,
        payload: Vec<u8>,
    },
    /// `sender` (of ring `key.origin`) joined or left `group`.
    Group {
        key: Key,
        sender: u32,
        group: Vec<u8>,
        joined: bool,
    },
    /// Ring `key.origin` has a new regular configuration.
    RingConfig { key: Key, members: Vec<u32> },
    /// Origins entered or left the system at this key.
    Origins {
        key: Key,
        attached: Vec<u32>,
        detached: Vec<u32>,
    },
}

impl Delivery {
    pub fn key(&self) -> Key {
        match self {
            Delivery::Data { key, .. }
            | Delivery::Group { key, .. }
            | Delivery::RingConfig { key, .. }
            | Delivery::Origins { key, .. } => *key,
        }
    }
}

/// An origin as [`Orderer::origin_states`] shows it: origin, attached at, detached at,
/// horizon, key of the first element waiting.
pub type OriginState = (u32, Key, Option<Key>, Key, Option<Key>);

/// Why an element was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Refusal {
    /// Not an element (a message of some other layer, or garbage).
    Malformed,
    /// A native element whose origin is another ring, or whose sender field is not the
    /// node that sent it.
    Forged,
    /// A forwarded element claiming this ring as its origin.
    OwnOrigin,
    /// From an origin not in the system at that key.
    Unattached,
    /// At or below what was already seen from its origin (a duplicate or a reordering).
    Stale,
    /// Ordered in a ring configuration that is not the current one.
    WrongRing,
    /// A native element of a configuration that ended before its members' clocks were all
    /// in, so it never had a key (its sender resends application messages of its own).
    Unsynced,
    /// A native element ordered before its sender's clock in this configuration (resent by
    /// its sender).
    BeforeClock,
    /// A regular configuration whose ring is not above the current one (Totem's ring ids
    /// only rise at a node; an old or repeated one is a replay or a forgery).
    StaleConfig,
}

impl Refusal {
    pub const ALL: [Refusal; 9] = [
        Refusal::Malformed,
        Refusal::Forged,
        Refusal::OwnOrigin,
        Refusal::Unattached,
        Refusal::Stale,
        Refusal::WrongRing,
        Refusal::Unsynced,
        Refusal::BeforeClock,
        Refusal::StaleConfig,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Forged => "forged",
            Refusal::OwnOrigin => "own_origin",
            Refusal::Unattached => "unattached",
            Refusal::Stale => "stale",
            Refusal::WrongRing => "wrong_ring",
            Refusal::Unsynced => "unsynced",
            Refusal::BeforeClock => "before_clock",
            Refusal::StaleConfig => "stale_config",
        }
    }
}

/// An element of some ring's stream as this node sees it, with its key set.
#[derive(Debug, Clone)]
pub struct Tapped {
    pub element: Element,
    /// The Totem sender that put it in this ring.
    pub via: u32,
}

#[derive(Debug, Clone)]
struct Origin {
    attached_at: Key,
    detached_at: Option<Key>,
    horizon: Key,
    queue: VecDeque<Element>,
    /// Gateway nodes `(ring, node)` the origin is reached through.
    path: Vec<(u32, u32)>,
    /// The origin whose element announced this one (detaching it detaches this one).
    through: Option<u32>,
}

impl Origin {
    /// Whether an element at `k` must wait for this origin to move past it. A detached
    /// origin holds nothing up: its detach came after everything of it in the stream that
    /// carries it, so what it still has queued is all it will ever have.
    fn constrains(&self, k: Key) -> bool {
        self.live() && self.attached_at < k
    }
    fn live(&self) -> bool {
        self.detached_at.is_none()
    }
}

#[derive(Debug, Clone)]
struct Cfg {
    ring_seq: u64,
    members: Vec<u32>,
    clocks: BTreeMap<u32, u64>,
    base: Option<u64>,
    prev_ts: u64,
    /// Elements ordered before the base was known, in ring order, with Totem sender and seq.
    held: Vec<(Element, u32, u32)>,
}

/// The global order of one node (sans-IO: feed its ring's events, drain deliveries and the
/// elements it must send into its ring).
#[derive(Debug)]
pub struct Orderer {
    ring: u32,
    me: u32,
    clock: u64,
    cfg: Option<Cfg>,
    origins: BTreeMap<u32, Origin>,
    /// Attach/detach effects of an element, delivered with it.
    effects: BTreeMap<Key, (Vec<u32>, Vec<u32>)>,
    out: VecDeque<Delivery>,
    send: VecDeque<Vec<u8>>,
    tap: Option<VecDeque<Tapped>>,
    /// Groups this node is in (announced again at every configuration, as CPG's sync
    /// exchanges its join lists).
    groups: BTreeSet<Vec<u8>>,
    /// Application messages waiting for this node's clock.
    app_hold: VecDeque<Vec<u8>>,
    refused: BTreeMap<Refusal, u64>,
    delivered: u64,
}

impl Orderer {
    /// Node `me` of ring `ring` (ring numbers are the system's, not Totem ring ids).
    pub fn new(ring: u32, me: u32) -> Self {
        let mut origins = BTreeMap::new();
        origins.insert(
            ring,
            Origin {
                attached_at: Key::default(),
                detached_at: None,
                horizon: Key::default(),
                queue: VecDeque::new(),
                path: Vec::new(),
                through: None,
            },
        );
        Orderer {
            ring,
            me,
            clock: 0,
            cfg: None,
            origins,
            effects: BTreeMap::new(),
            out: VecDeque::new(),
            send: VecDeque::new(),
            tap: None,
            groups: BTreeSet::new(),
            app_hold: VecDeque::new(),
            refused: BTreeMap::new(),
            delivered: 0,
        }
    }

    /// Keeps every keyed element of the ring's stream for [`Orderer::poll_tap`] (gateways).
    pub fn with_tap(mut self) -> Self {
        self.tap = Some(VecDeque::new());
        self
    }

    pub fn ring(&self) -> u32 {
        self.ring
    }
    pub fn nodeid(&self) -> u32 {
        self.me
    }
    /// The Lamport clock.
    pub fn clock(&self) -> u64 {
        self.clock
    }
    /// Whether the current configuration's clocks are all in.
    pub fn synced(&self) -> bool {
        self.cfg.as_ref().is_some_and(|c| c.base.is_some())
    }
    /// Members of the current ring configuration.
    pub fn members(&self) -> &[u32] {
        self.cfg.as_ref().map_or(&[], |c| &c.members)
    }
    /// Origins in the system now, with the gateway path each is reached through.
    pub fn attached(&self) -> Vec<(u32, Vec<(u32, u32)>)> {
        self.origins
            .iter()
            .filter(|(_, o)| o.live())
            .map(|(r, o)| (*r, o.path.clone()))
            .collect()
    }
    /// Every origin known, live or not: (origin, attached at, detached at, horizon, key of
    /// the first element waiting), for status and post-mortems.
    pub fn origin_states(&self) -> Vec<OriginState> {
        self.origins
            .iter()
            .map(|(r, o)| {
                (
                    *r,
                    o.attached_at,
                    o.detached_at,
                    o.horizon,
                    o.queue.front().map(Element::key),
                )
            })
            .collect()
    }
    /// Elements waiting for the other origins to advance.
    pub fn waiting(&self) -> usize {
        self.origins.values().map(|o| o.queue.len()).sum()
    }
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
    pub fn refused(&self) -> &BTreeMap<Refusal, u64> {
        &self.refused
    }

    fn stamp(&mut self, at_least: u64) -> u64 {
        self.clock = self.clock.max(at_least) + 1;
        self.clock
    }

    /// A new native element of this node, stamped; the caller submits the bytes.
    pub fn element(&mut self, kind: Kind, group: &[u8], body: Body, at_least: u64) -> Vec<u8> {
        let ts = self.stamp(at_least);
        Element::new(kind, self.ring, self.me, ts, group, body)
            .to_vec()
            .unwrap_or_default()
    }
    /// Joins `group`: the element to submit.
    pub fn join(&mut self, group: &[u8]) -> Vec<u8> {
        self.groups.insert(group.to_vec());
        self.element(Kind::Join, group, Body::Empty, 0)
    }
    /// Leaves `group`: the element to submit.
    pub fn leave(&mut self, group: &[u8]) -> Vec<u8> {
        self.groups.remove(group);
        self.element(Kind::Leave, group, Body::Empty, 0)
    }
    /// A stamped application message to `group`: the bytes to submit now, or `None` while
    /// this node's clock has not come back in the current configuration (the message then
    /// leaves through [`Orderer::poll_send`] after what the configuration change makes this
    /// node send again, so its messages stay in the order it sent them).
    pub fn data(&mut self, group: &[u8], payload: &[u8]) -> Option<Vec<u8>> {
        let b = self.element(Kind::Data, group, Body::Payload(payload.to_vec()), 0);
        if self.clocked() {
            Some(b)
        } else {
            self.app_hold.push_back(b);
            None
        }
    }

    /// Whether this node's clock has come back in the current configuration.
    fn clocked(&self) -> bool {
        self.cfg
            .as_ref()
            .is_some_and(|c| c.clocks.contains_key(&self.me))
    }

    /// Next element this node must submit into its ring itself (its clock at a new
    /// configuration).
    pub fn poll_send(&mut self) -> Option<Vec<u8>> {
        self.send.pop_front()
    }
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        self.out.pop_front()
    }
    pub fn poll_tap(&mut self) -> Option<Tapped> {
        self.tap.as_mut()?.pop_front()
    }

    fn refuse(&mut self, r: Refusal) {
        *self.refused.entry(r).or_default() += 1;
    }

    /// Feeds one event of this node's ring.
    pub fn handle_event(&mut self, ev: &Event) {
        match ev {
            Event::Deliver {
                sender,
                payload,
                ring_id,
                seq,
                ..
            } => self.on_deliver(*sender, payload, ring_position(ring_id), *seq),
            Event::Config {
                kind: ConfigKind::Regular,
                ring_id,
                members,
                ..
            } => self.on_regular(ring_position(ring_id), members),
            Event::Config { .. } => {}
        }
        self.pump();
    }

    fn on_regular(&mut self, ring_seq: u64, members: &[u32]) {
        if self.cfg.as_ref().is_some_and(|c| ring_seq <= c.ring_seq) {
            self.refuse(Refusal::StaleConfig);
            return;
        }
        let mut resend = Vec::new();
        if let Some(old) = self.cfg.take() {
            if old.base.is_none() {
                resend = self.abandon(old);
            }
        }
        self.cfg = Some(Cfg {
            ring_seq,
            members: members.to_vec(),
            clocks: BTreeMap::new(),
            base: None,
            prev_ts: 0,
            held: Vec::new(),
        });
        let mut e = Element::new(
            Kind::Clock,
            self.ring,
            self.me,
            self.clock,
            b"",
            Body::Empty,
        );
        // The configuration it is for: a clock sent for an earlier one that reaches this one
        // (in flight across the change) is refused by every member alike.
        e.ring_seq = ring_seq;
        if let Ok(b) = e.to_vec() {
            self.send.push_back(b);
        }
        let groups: Vec<Vec<u8>> = self.groups.iter().cloned().collect();
        for g in groups {
            let b = self.element(Kind::Join, &g, Body::Empty, 0);
            self.send.push_back(b);
        }
        for mut e in resend {
            if e.kind == Kind::Join {
                continue;
            }
            e.ts = self.stamp(0);
            if let Ok(b) = e.to_vec() {
                self.send.push_back(b);
            }
        }
    }

    /// A configuration ended before its clocks were all in: forwarded elements keep their
    /// keys and are taken; native ones never got one. Returns this node's own application
    /// elements among them, to send again.
    fn abandon(&mut self, old: Cfg) -> Vec<Element> {
        let mut resend = Vec::new();
        for (e, via, seq) in old.held {
            if e.forwarded {
                self.take(e, via, seq);
            } else {
                if via == self.me && matches!(e.kind, Kind::Data | Kind::Join | Kind::Leave) {
                    resend.push(e.clone());
                }
                self.refuse(Refusal::Unsynced);
            }
        }
        resend
    }

    fn on_deliver(&mut self, via: u32, payload: &[u8], ring_seq: u64, seq: u32) {
        let Ok(e) = ElementView::new_checked(payload).and_then(|v| v.to_owned()) else {
            self.refuse(Refusal::Malformed);
            return;
        };
        let Some(cfg) = self.cfg.as_mut() else {
            self.refuse(Refusal::WrongRing);
            return;
        };
        if ring_seq != cfg.ring_seq {
            self.refuse(Refusal::WrongRing);
            return;
        }
        if !e.forwarded && (e.origin != self.ring || e.sender != via) {
            self.refuse(Refusal::Forged);
            return;
        }
        self.clock = self.clock.max(e.ts);
        if !e.forwarded && e.kind != Kind::Clock && !cfg.clocks.contains_key(&via) {
            // Sent before its sender saw this configuration (it was in flight across the
            // change): every member drops it, its sender sends it again after its clock, so
            // the keys of a configuration never depend on where a member came from.
            self.refuse(Refusal::BeforeClock);
            if via == self.me && matches!(e.kind, Kind::Data | Kind::Join | Kind::Leave) {
                let mut again = e;
                again.ts = self.stamp(0);
                if let Ok(b) = again.to_vec() {
                    self.send.push_back(b);
                }
            }
            return;
        }
        if cfg.base.is_none() {
            if e.kind == Kind::Clock && !e.forwarded {
                // Only what every member sees alike decides: the configuration a clock names,
                // its sender's membership, the first clock of each member.
                if !cfg.members.contains(&via) {
                    self.refuse(Refusal::Forged);
                    return;
                }
                if e.ring_seq != cfg.ring_seq || cfg.clocks.contains_key(&via) {
                    self.refuse(Refusal::Stale);
                    return;
                }
                cfg.clocks.insert(via, e.ts);
                if via == self.me {
                    self.send.extend(self.app_hold.drain(..));
                }
                if cfg.members.iter().all(|m| cfg.clocks.contains_key(m)) {
                    self.settle_base();
                }
            } else {
                cfg.held.push((e, via, seq));
            }
            return;
        }
        self.take(e, via, seq);
    }

    /// Fixes the configuration's base from the clocks delivered in it, places the ring
    /// configuration in the order and takes the elements held meanwhile.
    fn settle_base(&mut self) {
        let Some(cfg) = self.cfg.as_mut() else {
            return;
        };
        // Only what every member saw decides the base, so all members agree on it.
        let base = cfg.clocks.values().copied().max().unwrap_or(0);
        cfg.base = Some(base);
        cfg.prev_ts = base;
        let key = Key {
            ts: base,
            origin: self.ring,
            ring_seq: cfg.ring_seq,
            seq: 0,
        };
        let members = cfg.members.clone();
        let held = std::mem::take(&mut cfg.held);
        let mut e = Element::new(
            Kind::RingConfig,
            self.ring,
            self.me,
            base,
            b"",
            Body::Members(members.clone()),
        );
        e.set_key(key);
        self.push(self.ring, e.clone(), self.me);
        let gone: Vec<u32> = self.cut_by_config(self.ring, &members);
        self.detach(&gone, key);
        for (e, via, seq) in held {
            self.take(e, via, seq);
        }
    }

    fn reached_through(&self, hop: Option<(u32, u32)>) -> Vec<u32> {
        let Some(hop) = hop else {
            return Vec::new();
        };
        self.origins
            .iter()
            .filter(|(_, o)| o.live() && o.path.contains(&hop))
            .map(|(r, _)| *r)
            .collect()
    }

    /// Origins reached through a node of ring `ring` that `members` no longer has.
    fn cut_by_config(&self, ring: u32, members: &[u32]) -> Vec<u32> {
        self.origins
            .iter()
            .filter(|(_, o)| o.live())
            .filter(|(_, o)| {
                o.path
                    .iter()
                    .any(|(r, n)| *r == ring && !members.contains(n))
            })
            .map(|(r, _)| *r)
            .collect()
    }

    /// Takes an element in ring order once the configuration's base is known.
    fn take(&mut self, mut e: Element, via: u32, seq: u32) {
        if e.kind == Kind::Clock {
            return;
        }
        let origin = if e.forwarded {
            if e.origin == self.ring {
                self.refuse(Refusal::OwnOrigin);
                return;
            }
            e.origin
        } else {
            let Some(cfg) = self.cfg.as_mut() else {
                return;
            };
            let ts = e.ts.max(cfg.prev_ts);
            cfg.prev_ts = ts;
            e.set_key(Key {
                ts,
                origin: self.ring,
                ring_seq: cfg.ring_seq,
                seq,
            });
            self.ring
        };
        let key = e.key();
        match self.origins.get(&origin) {
            Some(o) if o.live() && key > o.attached_at => {
                if key <= o.horizon {
                    self.refuse(Refusal::Stale);
                    return;
                }
            }
            _ => {
                self.refuse(Refusal::Unattached);
                return;
            }
        }
        // Effects on the set of origins happen at the element's key.
        match (&e.kind, &e.body) {
            (Kind::Attach, Body::Origins { path, origins }) => {
                let through = e.forwarded.then_some(origin);
                self.attach(origins, path, through, key);
            }
            (Kind::Detach, Body::Origins { origins, path }) => {
                // No origins: every origin reached through the path's first gateway (a
                // gateway process starting afresh under its old nodeid).
                let origins = if origins.is_empty() {
                    self.reached_through(path.first().copied())
                } else {
                    origins.clone()
                };
                self.detach(&origins, key);
            }
            (Kind::RingConfig, Body::Members(m)) if e.forwarded => {
                let gone = self.cut_by_config(origin, m);
                self.detach(&gone, key);
            }
            _ => {}
        }
        self.push(origin, e, via);
    }

    fn push(&mut self, origin: u32, e: Element, via: u32) {
        let key = e.key();
        if let Some(o) = self.origins.get_mut(&origin) {
            o.horizon = key;
            o.queue.push_back(e.clone());
        }
        if let Some(t) = self.tap.as_mut() {
            t.push_back(Tapped { element: e, via });
        }
    }

    fn attach(&mut self, origins: &[u32], path: &[(u32, u32)], through: Option<u32>, key: Key) {
        let mut added = Vec::new();
        for &r in origins {
            if r == self.ring {
                continue;
            }
            let o = self.origins.entry(r).or_insert_with(|| Origin {
                attached_at: key,
                detached_at: Some(key),
                horizon: key,
                queue: VecDeque::new(),
                path: Vec::new(),
                through: None,
            });
            if o.live() {
                continue;
            }
            o.attached_at = key;
            o.detached_at = None;
            o.horizon = o.horizon.max(key);
            o.path = path.to_vec();
            o.through = through;
            added.push(r);
        }
        if !added.is_empty() {
            self.effects.entry(key).or_default().0.extend(added);
        }
    }

    /// Takes `origins` out of the system at `key`, with every origin attached through them.
    fn detach(&mut self, origins: &[u32], key: Key) {
        let mut todo: Vec<u32> = origins.to_vec();
        let mut done = BTreeSet::new();
        while let Some(r) = todo.pop() {
            if r == self.ring || !done.insert(r) {
                continue;
            }
            let Some(o) = self.origins.get_mut(&r) else {
                continue;
            };
            if !o.live() {
                continue;
            }
            o.detached_at = Some(key);
            let before = o.queue.len();
            o.queue.retain(|e| e.key() < key);
            let dropped = (before - o.queue.len()) as u64;
            if dropped > 0 {
                *self.refused.entry(Refusal::Unattached).or_default() += dropped;
            }
            self.effects.entry(key).or_default().1.push(r);
            todo.extend(
                self.origins
                    .iter()
                    .filter(|(_, x)| x.live() && x.through == Some(r))
                    .map(|(n, _)| *n),
            );
        }
    }

    /// Delivers every element no origin can still precede.
    fn pump(&mut self) {
        while let Some((origin, key)) = self
            .origins
            .iter()
            .filter_map(|(r, o)| o.queue.front().map(|e| (*r, e.key())))
            .min_by_key(|(_, k)| *k)
        {
            let blocked = self
                .origins
                .iter()
                .any(|(r, o)| *r != origin && o.constrains(key) && o.horizon < key);
            if blocked {
                break;
            }
            let Some(e) = self
                .origins
                .get_mut(&origin)
                .and_then(|o| o.queue.pop_front())
            else {
                break;
            };
            self.emit(e);
        }
    }

    fn emit(&mut self, e: Element) {
        let key = e.key();
        let d = match (e.kind, e.body) {
            (Kind::Data, Body::Payload(payload)) => Some(Delivery::Data {
                key,
                sender: e.sender,
                group: e.group,
                payload,
            }),
            (k @ (Kind::Join | Kind::Leave), _) => Some(Delivery::Group {
                key,
                sender: e.sender,
                group: e.group,
                joined: k == Kind::Join,
            }),
            (Kind::RingConfig, Body::Members(members)) => {
                Some(Delivery::RingConfig { key, members })
            }
            _ => None,
        };
        if let Some(d) = d {
            self.delivered += 1;
            self.out.push_back(d);
        }
        if let Some((attached, detached)) = self.effects.remove(&key) {
            self.out.push_back(Delivery::Origins {
                key,
                attached,
                detached,
            });
        }
    }
}
