//! A seeded, single-threaded network simulator for Totem engines.
//!
//! Virtual time drives every engine's `handle_timeout`; a seed decides every loss, delay,
//! duplicate and fault, so the same seed replays the same run. The recorded [`Log`] is
//! checked by [`evs_check`].

pub mod adversary;
pub mod engine_fuzz;
pub mod evs_check;
pub mod middlebox;
pub mod record;
pub mod rings;
pub mod rng;
pub mod scenario;
pub mod secure_bench;
pub mod secure_check;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use totem_wire::ip_address::TotemIpAddress;
use totem_wire::{Generation, SrpMessage};

use crate::config::Config;
use crate::engine::{Dest, Engine, Event, Guarantee, Refusals, State};
use crate::member::Member;
use crate::secure::envelope::{EnvelopeView, HEADER_LEN};
use crate::secure::{SecureConfig, SecureNode};
use adversary::{Adversary, Attack};
pub use record::{Life, Log, MsgId};
use rng::{CryptoStream, Rng};

/// Most nodes a simulation runs (384, Totem's processor limit; random scenarios use few).
pub const MAX_NODES: usize = 384;

/// Network and engine settings of a simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub nodes: usize,
    pub generation: Generation,
    pub seed: u64,
    /// Base token timeout given to every engine.
    pub token: Duration,
    /// Fixed one-way delay of every datagram.
    pub base_delay: Duration,
    /// Extra random delay, uniform in [0, jitter]; it also reorders.
    pub jitter: Duration,
    /// Run the secure layer on every node (sealed wire, group keys).
    pub secure: Option<SecureConfig>,
    /// Give every engine the nodelist (as udpu and knet configurations have one).
    pub nodelist: bool,
    /// Per-node generations (node `i` runs `generations[i]`); empty: all `generation`. A
    /// ring of several generations needs a [`middlebox::Relay`] on every link between two
    /// of them, and gives every node an address that rises with its nodeid (one member
    /// order for G1/G2, which order by address, and G3, which orders by nodeid).
    pub generations: Vec<Generation>,
    /// Give every node an address rising with its nodeid, as mixed rings need, even while
    /// all nodes run one generation (a rolling upgrade starts that way).
    pub ascending_addresses: bool,
}

impl SimConfig {
    /// `nodes` nodes of generation `gen`, token 1000 ms, 0.1–1.1 ms links.
    pub fn new(nodes: usize, generation: Generation, seed: u64) -> Self {
        SimConfig {
            nodes: nodes.clamp(1, MAX_NODES),
            generation,
            seed,
            token: Duration::from_millis(1000),
            base_delay: Duration::from_micros(100),
            jitter: Duration::from_micros(1000),
            secure: None,
            nodelist: true,
            generations: Vec::new(),
            ascending_addresses: false,
        }
    }

    /// Node `i`'s generation.
    pub fn generation_of(&self, i: usize) -> Generation {
        self.generations.get(i).copied().unwrap_or(self.generation)
    }

    /// Whether the nodes run more than one generation.
    pub fn is_mixed(&self) -> bool {
        self.generations.iter().any(|g| *g != self.generation_of(0))
    }
}

#[derive(Debug)]
struct Node {
    nodeid: u32,
    engine: Option<Engine>,
    secure: Option<SecureNode>,
    life: usize,
    incarnation: u32,
    stored_ring_seq: u64,
    paused_until: Option<Instant>,
    slow: Duration,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    order: u64,
    to: usize,
    from: usize,
    bytes: Vec<u8>,
    /// Put on the wire by the attacker.
    forged: bool,
}

/// The simulated cluster.
#[derive(Debug)]
pub struct Sim {
    cfg: SimConfig,
    base: Instant,
    now: Instant,
    rng: Rng,
    crypto: CryptoStream,
    nodes: Vec<Node>,
    wire: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    blocked: Vec<Vec<bool>>,
    loss: Vec<Vec<f64>>,
    dup: f64,
    next_msg: MsgId,
    /// The recording.
    pub log: Log,
    /// Datagrams routed (for reports).
    pub datagrams: u64,
    /// Datagrams after which the run stops as a storm (`overloaded` turns true).
    pub datagram_budget: u64,
    overloaded: bool,
    adversary: Adversary,
    /// Refusals of engines that have stopped (crashed or left), by reason.
    refused_gone: Refusals,
    /// Boxes on links, and the chain of boxes each link `[from][to]` passes, in order.
    boxes: Vec<Box<dyn middlebox::Middlebox>>,
    link_box: Vec<Vec<Vec<usize>>>,
    /// Boxes that are down (their process killed): every datagram through them is lost.
    box_down: Vec<bool>,
}

impl Sim {
    /// A cluster of `cfg.nodes` nodes (nodeids 1..=n), all started at time 0.
    pub fn new(cfg: SimConfig) -> Self {
        Self::with_middleboxes(cfg, |_| Vec::new())
    }

    /// As [`Sim::new`], with the boxes `boxes` returns (each with its links) in place before
    /// any node starts, so not even the first joins bypass them.
    #[allow(clippy::type_complexity)]
    pub fn with_middleboxes(
        cfg: SimConfig,
        boxes: impl FnOnce(&Sim) -> Vec<(Box<dyn middlebox::Middlebox>, Vec<(usize, usize)>)>,
    ) -> Self {
        let base = Instant::now();
        let n = cfg.nodes;
        let mut sim = Sim {
            rng: Rng::new(cfg.seed),
            crypto: CryptoStream::new(cfg.seed),
            base,
            now: base,
            nodes: Vec::with_capacity(n),
            wire: BinaryHeap::new(),
            order: 0,
            blocked: vec![vec![false; n]; n],
            loss: vec![vec![0.0; n]; n],
            dup: 0.0,
            next_msg: 1,
            log: Log::default(),
            datagrams: 0,
            datagram_budget: 20_000_000,
            overloaded: false,
            adversary: Adversary::default(),
            refused_gone: Refusals::default(),
            boxes: Vec::new(),
            link_box: vec![vec![Vec::new(); n]; n],
            box_down: Vec::new(),
            cfg,
        };
        for i in 0..n {
            sim.nodes.push(Node {
                nodeid: i as u32 + 1,
                engine: None,
                secure: None,
                life: 0,
                incarnation: 0,
                stored_ring_seq: 0,
                paused_until: None,
                slow: Duration::ZERO,
            });
        }
        for (mb, links) in boxes(&sim) {
            sim.add_middlebox(mb, &links);
        }
        for i in 0..n {
            sim.start(i);
        }
        sim
    }

    /// The engine configuration of node `i`: G1/G2 addresses are assigned in reverse
    /// nodeid order, so the representative (lowest address) is the highest nodeid (among
    /// the first 200 nodes; larger simulations continue in 198.51.100.0/24).
    pub fn engine_config(&self, i: usize) -> Config {
        let nodeid = i as u32 + 1;
        let gen = self.cfg.generation_of(i);
        let mut c = match gen {
            Generation::G3 => Config::new(gen, nodeid),
            // 192.0.2.200 down to .1 for the first 200 nodes, then 198.51.100.255 down (so
            // addresses stay unique up to MAX_NODES).
            _ => match self.peer(i).address {
                Some(a) => Config::with_address(gen, a),
                None => Config::new(gen, nodeid),
            },
        };
        c.token = self.cfg.token;
        if self.cfg.nodelist {
            c.nodelist = (0..self.nodes.len().max(self.cfg.nodes))
                .map(|k| self.peer(k))
                .collect();
        }
        c
    }

    /// Node `k`'s nodelist entry (the addresses `engine_config` assigns).
    fn peer(&self, k: usize) -> crate::config::Peer {
        let nodeid = k as u32 + 1;
        if self.cfg.is_mixed() || self.cfg.ascending_addresses {
            // Ascending with the nodeid, so both orders agree.
            let ip = match u8::try_from(k) {
                Ok(x) if x < 200 => Ipv4Addr::new(192, 0, 2, x + 1),
                _ => Ipv4Addr::new(198, 51, 100, (k - 199).min(255) as u8),
            };
            return crate::config::Peer {
                nodeid,
                address: Some(TotemIpAddress::v4(nodeid, ip)),
            };
        }
        let address = match self.cfg.generation {
            Generation::G3 => None,
            _ => {
                let ip = match u8::try_from(k) {
                    Ok(x) if x < 200 => Ipv4Addr::new(192, 0, 2, 200 - x),
                    _ => Ipv4Addr::new(198, 51, 100, 255u8.saturating_sub((k - 200) as u8)),
                };
                Some(TotemIpAddress::v4(nodeid, ip))
            }
        };
        crate::config::Peer { nodeid, address }
    }

    fn start(&mut self, i: usize) {
        let mut c = self.engine_config(i);
        let node = &mut self.nodes[i];
        let gen = self.cfg.generation_of(i);
        c.ring_seq_start = if node.incarnation == 0 && gen == Generation::G1 {
            0
        } else {
            node.stored_ring_seq + 1
        };
        node.incarnation += 1;
        node.paused_until = None;
        node.life = self.log.lives.len();
        self.log.lives.push(Life {
            nodeid: node.nodeid,
            incarnation: node.incarnation,
            started: self.now - self.base,
            ..Default::default()
        });
        node.engine = Some(Engine::new(c, self.now));
        node.secure = match &self.cfg.secure {
            Some(sc) => match SecureNode::new(node.nodeid, gen, sc.clone(), &mut self.crypto) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.log
                        .secure
                        .unsealed
                        .push(format!("node {}: {e}", node.nodeid));
                    None
                }
            },
            None => None,
        };
        self.drain(i);
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }
    /// Number of node slots.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
    /// Node `i`'s engine, if it is up.
    pub fn engine(&self, i: usize) -> Option<&Engine> {
        self.nodes.get(i)?.engine.as_ref()
    }
    /// Indices of nodes that are up.
    pub fn live(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].engine.is_some())
            .collect()
    }
    /// The random stream (scenarios draw from it too, so one seed decides everything).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Submits a fresh message from node `i`; returns its id if accepted.
    pub fn submit(&mut self, i: usize, guarantee: Guarantee, extra_len: usize) -> Option<MsgId> {
        let now = self.elapsed();
        let id = self.next_msg;
        let node = self.nodes.get_mut(i)?;
        let engine = node.engine.as_mut()?;
        let mut payload = id.to_le_bytes().to_vec();
        payload.extend((0..extra_len).map(|k| (id as usize + k) as u8));
        match node.secure.as_mut() {
            Some(s) => s.submit(engine, &payload, guarantee).ok()?,
            None => engine.submit(payload, guarantee).ok()?,
        }
        self.next_msg += 1;
        self.log.submitted.insert(
            id,
            record::Submitted {
                life: node.life,
                sender: node.nodeid,
                at: now,
                guarantee,
            },
        );
        self.drain(i);
        Some(id)
    }

    /// Submits `payload` as it is from node `i` (layers above the engine, such as the
    /// multiple-ring protocol, bring their own format); not recorded for the EVS checker.
    pub fn submit_payload(&mut self, i: usize, guarantee: Guarantee, payload: Vec<u8>) -> bool {
        let Some(node) = self.nodes.get_mut(i) else {
            return false;
        };
        let Some(engine) = node.engine.as_mut() else {
            return false;
        };
        let ok = match node.secure.as_mut() {
            Some(s) => s.submit(engine, &payload, guarantee).is_ok(),
            None => engine.submit(payload, guarantee).is_ok(),
        };
        self.drain(i);
        ok
    }

    /// The index in `log.lives` of node `i`'s current life, if it is up.
    pub fn current_life(&self, i: usize) -> Option<usize> {
        let n = self.nodes.get(i)?;
        n.engine.as_ref().map(|_| n.life)
    }

    /// Stops node `i` abruptly (its ring seq is kept, as corosync's ringid file is).
    pub fn crash(&mut self, i: usize) {
        let now = self.elapsed();
        if let Some(node) = self.nodes.get_mut(i) {
            if let Some(e) = node.engine.take() {
                node.stored_ring_seq = e.stored_ring_seq();
                self.refused_gone.add(&e.stats().refused);
                self.log.lives[node.life].ended = Some(now);
            }
            if let Some(s) = node.secure.take() {
                self.log.secure.stats.push((node.life, s.stats()));
            }
        }
    }

    /// Node `i` leaves gracefully, then stops.
    pub fn leave(&mut self, i: usize) {
        let now = self.now;
        if let Some(e) = self.nodes.get_mut(i).and_then(|n| n.engine.as_mut()) {
            e.leave(now);
        }
        self.drain(i);
        self.crash(i);
    }

    /// Starts node `i` again with the same nodeid, if it is down.
    pub fn restart(&mut self, i: usize) {
        if i < self.nodes.len() && self.nodes[i].engine.is_none() {
            self.start(i);
        }
    }

    /// Blocks or unblocks datagrams from `a` to `b` (one direction).
    pub fn set_blocked(&mut self, a: usize, b: usize, blocked: bool) {
        if a < self.nodes.len() && b < self.nodes.len() {
            self.blocked[a][b] = blocked;
        }
    }
    /// Splits the cluster: nodes in different groups cannot reach each other.
    pub fn partition(&mut self, group_of: &[usize]) {
        let n = self.nodes.len();
        for a in 0..n {
            for b in 0..n {
                let ga = group_of.get(a).copied().unwrap_or(0);
                let gb = group_of.get(b).copied().unwrap_or(0);
                self.blocked[a][b] = ga != gb;
            }
        }
    }
    /// Loss probability from `a` to `b`.
    pub fn set_loss(&mut self, a: usize, b: usize, p: f64) {
        if a < self.nodes.len() && b < self.nodes.len() {
            self.loss[a][b] = p;
        }
    }
    /// Duplication probability of every datagram.
    pub fn set_dup(&mut self, p: f64) {
        self.dup = p;
    }
    /// Makes node `i` slow: every datagram to or from it takes `extra` longer.
    pub fn set_slow(&mut self, i: usize, extra: Duration) {
        if let Some(n) = self.nodes.get_mut(i) {
            n.slow = extra;
        }
    }
    /// Node `i` stops processing for `d` (datagrams and timers wait), like a stalled daemon.
    pub fn pause(&mut self, i: usize, d: Duration) {
        let until = self.now + d;
        if let Some(n) = self.nodes.get_mut(i) {
            n.paused_until = Some(until);
        }
    }
    /// Removes every partition, loss, duplication, slowness and stall.
    pub fn heal(&mut self) {
        let n = self.nodes.len();
        self.blocked = vec![vec![false; n]; n];
        self.loss = vec![vec![0.0; n]; n];
        self.dup = 0.0;
        let now = self.now;
        let mut cut: Vec<(usize, Instant)> = Vec::new();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            node.slow = Duration::ZERO;
            if let Some(p) = node.paused_until.filter(|p| *p > now) {
                cut.push((i, p));
                node.paused_until = Some(now);
            }
        }
        self.release_deferred(&cut);
    }

    /// Datagrams that reached a stalled node wait in the wire until its stall ends; when a
    /// stall is cut short (`cut` holds each node and its old end), they are due now, not at
    /// the old end, or the node would replay a stale backlog long after the heal.
    fn release_deferred(&mut self, cut: &[(usize, Instant)]) {
        if cut.is_empty() {
            return;
        }
        let now = self.now;
        let items: Vec<Reverse<InFlight>> = std::mem::take(&mut self.wire).into_vec();
        self.wire = items
            .into_iter()
            .map(|Reverse(mut p)| {
                if cut.iter().any(|(i, end)| p.to == *i && p.at == *end) {
                    p.at = now;
                }
                Reverse(p)
            })
            .collect();
    }

    fn index_of(&self, nodeid: u32) -> Option<usize> {
        let i = nodeid.checked_sub(1)? as usize;
        (i < self.nodes.len()).then_some(i)
    }

    fn route(&mut self, from: usize, to: usize, bytes: &[u8]) {
        if self.blocked[from][to] || self.rng.chance(self.loss[from][to]) {
            return;
        }
        let copies = if self.rng.chance(self.dup) { 2 } else { 1 };
        let slow = self.nodes[from].slow + self.nodes[to].slow;
        let mut through = vec![(bytes.to_vec(), Duration::ZERO)];
        if !self.link_box[from][to].is_empty() {
            let (f, t) = (self.hop(from), self.hop(to));
            for b in self.link_box[from][to].clone() {
                through = through
                    .into_iter()
                    .flat_map(|(bytes, d)| {
                        let out = if self.box_down[b] {
                            Vec::new()
                        } else {
                            self.boxes[b].on_datagram(f, t, &bytes)
                        };
                        out.into_iter().map(move |(x, e)| (x, d + e))
                    })
                    .collect();
            }
        }
        for (bytes, extra) in through {
            for _ in 0..copies {
                self.put_on_wire(from, to, &bytes, slow + extra, false);
            }
        }
    }

    fn hop(&self, i: usize) -> middlebox::Hop {
        middlebox::Hop {
            index: i,
            nodeid: self.nodes[i].nodeid,
            generation: self.cfg.generation_of(i),
        }
    }

    /// Puts `mb` on the links `from → to` listed (both directions are separate links), after
    /// any box already there; returns its handle.
    pub fn add_middlebox(
        &mut self,
        mb: Box<dyn middlebox::Middlebox>,
        links: &[(usize, usize)],
    ) -> usize {
        let id = self.boxes.len();
        self.boxes.push(mb);
        self.box_down.push(false);
        for &(a, b) in links {
            if a < self.nodes.len() && b < self.nodes.len() && a != b {
                self.link_box[a][b].push(id);
            }
        }
        id
    }

    /// Box `id` goes down (`true`: everything through it is lost) or comes back.
    pub fn set_box_down(&mut self, id: usize, down: bool) {
        if let Some(d) = self.box_down.get_mut(id) {
            *d = down;
        }
    }

    /// Takes every box off link `from → to`.
    pub fn clear_middlebox(&mut self, from: usize, to: usize) {
        if let Some(l) = self.link_box.get_mut(from).and_then(|r| r.get_mut(to)) {
            l.clear();
        }
    }

    /// Sets the chain of boxes (handles from [`Sim::add_middlebox`]) link `from → to`
    /// passes, in order; unknown handles are ignored.
    pub fn set_link_chain(&mut self, from: usize, to: usize, chain: &[usize]) {
        let known = self.boxes.len();
        if let Some(l) = self.link_box.get_mut(from).and_then(|r| r.get_mut(to)) {
            *l = chain.iter().copied().filter(|b| *b < known).collect();
        }
    }

    /// Node `i` runs `gen` from its next start (a rolling upgrade: stop, change, restart).
    pub fn set_generation(&mut self, i: usize, gen: Generation) {
        if i < self.nodes.len() {
            if self.cfg.generations.len() < self.nodes.len() {
                let n = self.nodes.len();
                self.cfg.generations = (0..n).map(|k| self.cfg.generation_of(k)).collect();
            }
            self.cfg.generations[i] = gen;
        }
    }

    /// The counters of box `id`.
    pub fn middlebox_stats(&self, id: usize) -> Option<middlebox::BoxStats> {
        self.boxes.get(id).map(|b| b.stats())
    }

    /// The address book of this simulation: every node's nodeid and address (as
    /// [`Sim::engine_config`] assigns them) in every generation's form.
    pub fn address_book(&self) -> totem_wire::retarget::AddressBook {
        let mut b = totem_wire::retarget::AddressBook::new();
        for k in 0..self.nodes.len() {
            let p = self.peer(k);
            if let Some(ip) = p.address.and_then(|a| a.ip()) {
                // Distinct by construction; a clash would be a simulator bug.
                let _ = b.insert(totem_wire::retarget::BookEntry::new(p.nodeid, ip, None));
            }
        }
        b
    }

    /// Records what a datagram carries for the receiving life (message ids, also inside
    /// encapsulated recovery copies); reports bytes `totem_wire` cannot parse when `strict`
    /// (what an engine sends; received bytes may be the attacker's garbage).
    fn note_received(&mut self, life: usize, bytes: &[u8], who: u32, strict: bool) {
        let gen = match self.index_of(who) {
            Some(i) => self.cfg.generation_of(i),
            None => self.cfg.generation,
        };
        match SrpMessage::parse(bytes, gen) {
            Ok(d) => {
                if let SrpMessage::Mcast(m) = d.message {
                    let payload = match m.inner() {
                        Some(Ok(inner)) => inner.payload,
                        Some(Err(_)) => return,
                        None => m.payload,
                    };
                    let payload = if self.cfg.secure.is_some() {
                        match payload.split_first() {
                            Some((&crate::secure::control::APP, rest)) => rest.to_vec(),
                            _ => return,
                        }
                    } else {
                        payload
                    };
                    if let Some(id) = record::msg_id(&payload) {
                        let t = self.now - self.base;
                        self.log.lives[life].received.entry(id).or_insert(t);
                    }
                }
            }
            Err(e) if strict => self.log.unparseable.push(format!("node {who}: {e}")),
            Err(_) => {}
        }
    }

    /// Moves node `i`'s output onto the wire and its events into the log (through the
    /// secure layer when there is one, which may answer events with more output).
    fn drain(&mut self, i: usize) {
        for _ in 0..10_000 {
            let mut progressed = false;
            while let Some(t) = self.nodes[i]
                .engine
                .as_mut()
                .and_then(Engine::poll_transmit)
            {
                progressed = true;
                self.datagrams += 1;
                let life = self.nodes[i].life;
                let who = self.nodes[i].nodeid;
                self.note_received(life, &t.bytes, who, true);
                let bytes = match self.nodes[i].secure.as_mut() {
                    Some(s) => match s.seal(&t.bytes) {
                        Ok(b) => {
                            self.audit(who, &t.bytes, &b);
                            b
                        }
                        Err(e) => {
                            self.log
                                .secure
                                .unsealed
                                .push(format!("node {who}: seal failed, not sent: {e}"));
                            continue;
                        }
                    },
                    None => t.bytes,
                };
                self.adversary.observe(&mut self.rng, i, &bytes);
                match t.dest {
                    Dest::All => {
                        for j in 0..self.nodes.len() {
                            if j != i {
                                self.route(i, j, &bytes);
                            }
                        }
                    }
                    Dest::Node(n) => match self.index_of(n) {
                        Some(j) if j != i => self.route(i, j, &bytes),
                        _ => self
                            .log
                            .unparseable
                            .push(format!("node {who}: token to unknown node {n}")),
                    },
                }
            }
            let t = self.elapsed();
            let now = self.now;
            let life = self.nodes[i].life;
            loop {
                let node = &mut self.nodes[i];
                let Some(engine) = node.engine.as_mut() else {
                    break;
                };
                let Some(ev) = engine.poll_event() else {
                    break;
                };
                progressed = true;
                let ev: Option<Event> = match node.secure.as_mut() {
                    Some(s) => s.on_event(now, ev, engine, &mut self.crypto),
                    None => Some(ev),
                };
                if let Some(ev) = ev {
                    self.log.lives[life].events.push((t, ev));
                }
            }
            self.take_notes(i);
            if !progressed {
                break;
            }
        }
    }

    fn take_notes(&mut self, i: usize) {
        let base = self.base;
        let node = &mut self.nodes[i];
        if let Some(s) = node.secure.as_mut() {
            for note in s.take_notes() {
                self.log.secure.notes.push(record::SecureNote {
                    life: node.life,
                    nodeid: node.nodeid,
                    at: note.at - base,
                    note,
                });
            }
        }
    }

    /// Checks, independently of the layer, that what goes on the wire is a sealed envelope:
    /// not parseable as Totem SRP, a well-formed envelope, and not carrying the plaintext.
    fn audit(&mut self, who: u32, plain: &[u8], wire: &[u8]) {
        let srp = SrpMessage::parse(wire, self.cfg.generation).is_ok();
        let env = EnvelopeView::parse(wire).is_ok();
        let body = wire.get(HEADER_LEN..HEADER_LEN + plain.len());
        let leaks = plain.len() >= 8 && body == Some(plain);
        if srp || !env || leaks {
            self.log.secure.unsealed.push(format!(
                "node {who}: wire datagram of {} bytes not sealed (srp={srp} envelope={env} plaintext_visible={leaks})",
                wire.len()
            ));
        } else {
            self.log.secure.sealed_on_wire += 1;
        }
    }

    /// The secure layer of node `i`, mutable (benchmarks trigger refreshes through it).
    pub fn secure_mut(&mut self, i: usize) -> Option<&mut SecureNode> {
        self.nodes.get_mut(i)?.secure.as_mut()
    }

    /// The secure layer of node `i`, if it is up and the run is secure.
    pub fn secure(&self, i: usize) -> Option<&SecureNode> {
        self.nodes.get(i)?.secure.as_ref()
    }

    /// Records the counters of every live secure layer (call once, at the end of a run).
    pub fn record_secure_stats(&mut self) {
        for n in &self.nodes {
            if let Some(s) = &n.secure {
                self.log.secure.stats.push((n.life, s.stats()));
            }
        }
    }

    fn node_deadline(&self, i: usize) -> Option<Instant> {
        let n = &self.nodes[i];
        let e = n.engine.as_ref()?.poll_timeout();
        let s = n.secure.as_ref().and_then(SecureNode::poll_timeout);
        let d = match (e, s) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(match n.paused_until {
            Some(p) if p > d => p,
            _ => d,
        })
    }

    /// Runs every event up to and including virtual time `base + t`.
    pub fn run_until(&mut self, t: Duration) {
        let end = self.base + t;
        loop {
            if self.datagrams > self.datagram_budget {
                self.overloaded = true;
                self.wire.clear();
                break;
            }
            let wire_next = self.wire.peek().map(|Reverse(p)| p.at);
            let mut timer_next: Option<(Instant, usize)> = None;
            for i in 0..self.nodes.len() {
                if let Some(d) = self.node_deadline(i) {
                    if timer_next.is_none_or(|(t, _)| d < t) {
                        timer_next = Some((d, i));
                    }
                }
            }
            let take_wire = match (wire_next, timer_next) {
                (Some(w), Some((tn, _))) => w <= tn,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_wire {
                let at = wire_next.unwrap_or(end);
                if at > end {
                    break;
                }
                let Some(Reverse(p)) = self.wire.pop() else {
                    break;
                };
                self.now = self.now.max(p.at);
                if let Some(pu) = self.nodes[p.to].paused_until {
                    if pu > self.now {
                        self.order += 1;
                        self.wire.push(Reverse(InFlight {
                            at: pu,
                            order: self.order,
                            ..p
                        }));
                        continue;
                    }
                }
                let to = p.to;
                if self.nodes[to].engine.is_none() {
                    continue;
                }
                let life = self.nodes[to].life;
                let who = self.nodes[to].nodeid;
                let now = self.now;
                let forged = p.forged;
                let plain = match self.nodes[to].secure.as_mut() {
                    Some(s) if forged => {
                        let before = s.stats();
                        let plain = s.open(&p.bytes);
                        let after = s.stats();
                        let sec = &mut self.log.secure;
                        sec.forged_auth_failed += after.auth_failed - before.auth_failed;
                        sec.forged_switch_rejections +=
                            after.switch_rejections - before.switch_rejections;
                        plain
                    }
                    Some(s) => s.open(&p.bytes),
                    None => Some(p.bytes),
                };
                if let Some(plain) = plain {
                    self.note_received(life, &plain, who, false);
                    let node = &mut self.nodes[to];
                    if let Some(e) = node.engine.as_mut() {
                        e.handle_datagram(now, &plain);
                        if let Some(s) = node.secure.as_mut() {
                            s.pump(e);
                        }
                    }
                }
                self.drain(to);
            } else if let Some((d, i)) = timer_next {
                if d > end {
                    break;
                }
                self.now = self.now.max(d);
                let now = self.now;
                let node = &mut self.nodes[i];
                if let Some(e) = node.engine.as_mut() {
                    e.handle_timeout(now);
                    if let Some(s) = node.secure.as_mut() {
                        s.handle_timeout(now, e, &mut self.crypto);
                    }
                }
                self.drain(i);
            }
        }
        if self.now < end {
            self.now = end;
        }
    }

    /// Puts `bytes` on the wire to every node but `from`, as if `from` sent it (an attacker
    /// on the network: partitions and loss do not stop it).
    pub fn inject(&mut self, from: usize, bytes: &[u8]) {
        self.adversary.sent += 1;
        for to in 0..self.nodes.len() {
            if to == from {
                continue;
            }
            self.put_on_wire(from, to, bytes, Duration::ZERO, true);
        }
    }

    /// One datagram from `from` to `to`, due after the base delay, jitter and `extra`.
    fn put_on_wire(&mut self, from: usize, to: usize, bytes: &[u8], extra: Duration, forged: bool) {
        let jitter = self.rng.below(self.cfg.jitter.as_micros() as u64 + 1);
        let at = self.now + self.cfg.base_delay + Duration::from_micros(jitter) + extra;
        self.order += 1;
        self.wire.push(Reverse(InFlight {
            at,
            order: self.order,
            to,
            from,
            bytes: bytes.to_vec(),
            forged,
        }));
    }

    /// The identity node `i` has on the wire.
    fn member(&self, i: usize) -> Member {
        let c = self.engine_config(i);
        Member::own(self.cfg.generation_of(i), c.nodeid, c.address)
    }

    /// Carries out one attack (see [`adversary`]).
    pub fn attack(&mut self, a: &Attack) {
        let gen = self.cfg.generation;
        let n = self.nodes.len();
        let all: Vec<Member> = (0..n).map(|i| self.member(i)).collect();
        let rings: Vec<totem_wire::RingId> = self
            .live()
            .into_iter()
            .filter_map(|i| self.engine(i).map(Engine::ring_id))
            .collect();
        match a {
            Attack::RingSeqJoin { from, ring_seq } => {
                let from = (*from).min(n - 1);
                let b = adversary::ring_seq_join(gen, all[from], &all, *ring_seq);
                self.inject(from, &b);
            }
            Attack::Token { from } => {
                let from = (*from).min(n - 1);
                let ring = self
                    .engine(from)
                    .map(Engine::ring_id)
                    .or_else(|| rings.first().copied());
                if let Some(ring) = ring {
                    let b = adversary::absurd_token(&mut self.rng, gen, all[from].nodeid(), ring);
                    self.inject(from, &b);
                }
            }
            Attack::CommitToken { from } => {
                let from = (*from).min(n - 1);
                let b = adversary::bogus_commit_token(&mut self.rng, gen, all[from], &all);
                self.inject(from, &b);
            }
            Attack::MergeDetect { from } => {
                let from = (*from).min(n - 1);
                let b = adversary::bogus_merge_detect(&mut self.rng, gen, all[from]);
                self.inject(from, &b);
            }
            Attack::Mutate { count } => {
                for _ in 0..*count {
                    let Some((from, orig)) = self.adversary.pick(&mut self.rng) else {
                        return;
                    };
                    let b = adversary::mutate(&mut self.rng, &orig);
                    if self.cfg.secure.is_none() && adversary::is_live(&b, gen, &rings, false) {
                        self.adversary.withheld += 1;
                        continue;
                    }
                    self.inject(from, &b);
                }
            }
            Attack::Replay { count } => {
                for _ in 0..*count {
                    let Some((from, orig)) = self.adversary.pick(&mut self.rng) else {
                        return;
                    };
                    self.inject(from, &orig);
                }
            }
        }
    }

    /// Datagrams the attacker injected, and mutations it withheld (plausible live mcasts).
    pub fn attacker_counts(&self) -> (u64, u64) {
        (self.adversary.sent, self.adversary.withheld)
    }

    /// Refusals by reason over every engine of the run (stopped ones included).
    pub fn refusals(&self) -> Refusals {
        let mut r = self.refused_gone.clone();
        for n in &self.nodes {
            if let Some(e) = &n.engine {
                r.add(&e.stats().refused);
            }
        }
        r
    }

    /// Whether the run exceeded its datagram budget (a message storm) and was cut short.
    pub fn overloaded(&self) -> bool {
        self.overloaded
    }

    /// Whether every live node is OPERATIONAL in one ring made of exactly the live nodes.
    pub fn converged(&self) -> bool {
        let live = self.live();
        let Some(first) = live.first().and_then(|i| self.engine(*i)) else {
            return true;
        };
        // By representative nodeid and seq: nodes of two generations name one ring in two shapes.
        let key = |r: totem_wire::RingId| (r.rep_nodeid(), r.seq);
        let ring = key(first.ring_id());
        let want: Vec<u32> = live.iter().map(|i| self.nodes[*i].nodeid).collect();
        let now = self.now;
        live.iter().all(|i| {
            self.nodes[*i].paused_until.is_none_or(|p| p <= now)
                && self.engine(*i).is_some_and(|e| {
                    let mut m = e.members();
                    m.sort_unstable();
                    e.state() == State::Operational && key(e.ring_id()) == ring && m == want
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Datagrams that reached a stalled node must not outlive a heal: before the fix they
    /// stayed queued until the stall's old end (2 s later) and replayed stale joins and merge
    /// detects into the ring that had formed meanwhile (seeds 504167, 801254).
    #[test]
    fn heal_releases_datagrams_deferred_by_a_stall() {
        let mut sim = Sim::new(SimConfig::new(3, Generation::G3, 7));
        sim.run_until(Duration::from_secs(3));
        assert!(sim.converged(), "3 nodes form one ring before the stall");
        sim.pause(0, Duration::from_secs(2));
        sim.run_until(Duration::from_millis(3_500));
        let old_end = sim.base + Duration::from_secs(5);
        let deferred = sim
            .wire
            .iter()
            .filter(|Reverse(p)| p.to == 0 && p.at == old_end)
            .count();
        assert!(deferred > 0, "the stall deferred traffic to node 1");
        sim.heal();
        let latest = sim.now + sim.cfg.base_delay + sim.cfg.jitter;
        let late: Vec<Duration> = sim
            .wire
            .iter()
            .filter(|Reverse(p)| p.at > latest)
            .map(|Reverse(p)| p.at - sim.base)
            .collect();
        assert!(
            late.is_empty(),
            "datagrams still due after the heal: {late:?}"
        );
    }
}
