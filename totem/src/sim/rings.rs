//! Rings joined by gateways in the simulator, with a checker of the global order.
//!
//! `K` rings (each its own [`Sim`], with its own seeded faults) form a chain: gateway `j`
//! joins ring `j` and ring `j + 1`. A LAN gateway is one process with a port on each ring;
//! a WAN gateway is two processes, one per site, joined by a link with delay that can be
//! cut. Every node runs [`Orderer`] above its engine, every gateway node a [`Port`]. Time
//! advances in small steps; between steps deliveries move up and link messages across.
//!
//! [`check`] holds the run to the multiple-ring protocol's claims: one key per message on
//! every node (so one order), keys rising along every node's deliveries, no duplicates, no
//! message that was not sent, causal order, ring configurations in one order, and, once the
//! faults are over, every message of the final phase delivered everywhere it should be and
//! nowhere else.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use totem_wire::mrp::Key;
use totem_wire::Generation;

use super::rng::Rng;
use super::{Sim, SimConfig};
use crate::engine::Guarantee;
use crate::mrp::{Delivery, LinkMsg, Orderer, Port};

/// The group every node is in.
pub const GROUP_ALL: &[u8] = b"all";
/// The group only ring 0's nodes are in (selective forwarding keeps it there).
pub const GROUP_LOCAL: &[u8] = b"ring0";

/// A WAN link between the two halves of each gateway.
#[derive(Debug, Clone, Copy)]
pub struct Wan {
    /// One-way delay.
    pub delay: Duration,
    /// How long a cut or a dead peer takes to notice.
    pub detect: Duration,
    /// First reconnect backoff (doubles up to 8×).
    pub backoff: Duration,
}

impl Default for Wan {
    fn default() -> Self {
        Wan {
            delay: Duration::from_millis(25),
            detect: Duration::from_millis(600),
            backoff: Duration::from_millis(200),
        }
    }
}

/// Settings of a multi-ring run.
#[derive(Debug, Clone)]
pub struct RingsConfig {
    pub rings: usize,
    /// Ordinary nodes per ring (gateway nodes come on top).
    pub nodes: usize,
    pub seed: u64,
    pub token: Duration,
    pub wan: Option<Wan>,
    /// Forward a group's data only where it has members.
    pub selective: bool,
    /// Simulation step.
    pub step: Duration,
}

impl RingsConfig {
    pub fn new(rings: usize, nodes: usize, seed: u64) -> Self {
        RingsConfig {
            rings: rings.clamp(2, 16),
            nodes: nodes.clamp(1, 16),
            seed,
            token: Duration::from_millis(300),
            wan: None,
            selective: true,
            step: Duration::from_micros(500),
        }
    }
}

/// Where a node is: ring and index in that ring's [`Sim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct At {
    pub ring: usize,
    pub idx: usize,
}

#[derive(Debug)]
enum Role {
    Node(Box<Orderer>),
    Port(Box<Port>),
}

#[derive(Debug)]
struct Slot {
    role: Option<Role>,
    life: Option<usize>,
    cursor: usize,
    /// Gateway and side, for gateway nodes.
    gateway: Option<(usize, usize)>,
    /// Key of the last data message this node delivered (for the causal check).
    last_data: Option<Key>,
}

#[derive(Debug, Default)]
struct Link {
    connected: bool,
    /// The process lives the connection was made between (a restarted process has none).
    lives: [Option<usize>; 2],
    cut: bool,
    /// In flight, per direction (0: side 0 to side 1).
    queue: [VecDeque<(Duration, LinkMsg)>; 2],
    /// When a down link is noticed, or the next connect attempt.
    next: Option<Duration>,
    attempts: u32,
}

#[derive(Debug)]
struct Gateway {
    sides: [At; 2],
    link: Link,
}

/// A message handed to a node.
#[derive(Debug, Clone)]
pub struct Sent {
    pub from: At,
    pub life: usize,
    pub group: Vec<u8>,
    pub at: Duration,
    /// The key of the last data message its sender had delivered.
    pub after: Option<Key>,
    /// Sent in the final, fault-free phase.
    pub final_phase: bool,
}

/// What one life of one node delivered.
#[derive(Debug, Clone, Default)]
pub struct NodeLog {
    pub at: Option<At>,
    pub gateway: bool,
    pub started: Duration,
    pub ended: Option<Duration>,
    pub delivered: Vec<(Duration, Delivery)>,
}

/// Joined rings.
#[derive(Debug)]
pub struct Rings {
    pub cfg: RingsConfig,
    sims: Vec<Sim>,
    slots: Vec<Vec<Slot>>,
    gateways: Vec<Gateway>,
    now: Duration,
    rng: Rng,
    next_msg: u64,
    pub sent: BTreeMap<u64, Sent>,
    /// Per (ring, sim life index): what that life delivered.
    pub logs: BTreeMap<(usize, usize), NodeLog>,
    pub final_phase: bool,
    /// When every gateway link was last seen connected at once (the joined system's start).
    pub joined_at: Option<Duration>,
}

fn msg_id(payload: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(payload.get(..8)?.try_into().ok()?))
}

impl Rings {
    pub fn new(cfg: RingsConfig) -> Self {
        let k = cfg.rings;
        let mut ports: Vec<Vec<(usize, usize)>> = vec![Vec::new(); k];
        for g in 0..k - 1 {
            ports[g].push((g, 0));
            ports[g + 1].push((g, 1));
        }
        let mut sims = Vec::new();
        let mut slots = Vec::new();
        let mut sides = vec![[At { ring: 0, idx: 0 }; 2]; k - 1];
        for (r, ports_r) in ports.iter().enumerate() {
            let n = cfg.nodes + ports_r.len();
            let mut sc = SimConfig::new(n, Generation::G3, cfg.seed.wrapping_mul(31) + r as u64);
            sc.token = cfg.token;
            sims.push(Sim::new(sc));
            let mut s: Vec<Slot> = (0..n)
                .map(|_| Slot {
                    role: None,
                    life: None,
                    cursor: 0,
                    gateway: None,
                    last_data: None,
                })
                .collect();
            for (j, &(g, side)) in ports_r.iter().enumerate() {
                let idx = cfg.nodes + j;
                s[idx].gateway = Some((g, side));
                sides[g][side] = At { ring: r, idx };
            }
            slots.push(s);
        }
        let gateways = sides
            .into_iter()
            .map(|sides| Gateway {
                sides,
                link: Link::default(),
            })
            .collect();
        let rng = Rng::new(cfg.seed ^ 0x6d72_7021);
        let mut rings = Rings {
            cfg,
            sims,
            slots,
            gateways,
            now: Duration::ZERO,
            rng,
            next_msg: 1,
            sent: BTreeMap::new(),
            logs: BTreeMap::new(),
            final_phase: false,
            joined_at: None,
        };
        rings.refresh_roles();
        rings
    }

    pub fn now(&self) -> Duration {
        self.now
    }
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }
    /// The simulator of ring `r` (its faults: loss, partitions, crashes of ordinary nodes).
    pub fn sim_mut(&mut self, r: usize) -> &mut Sim {
        &mut self.sims[r]
    }
    pub fn gateway_count(&self) -> usize {
        self.gateways.len()
    }
    /// Ordinary nodes of ring `r` that are up.
    pub fn live_nodes(&self, r: usize) -> Vec<usize> {
        (0..self.cfg.nodes)
            .filter(|i| self.sims[r].current_life(*i).is_some())
            .collect()
    }
    /// Gateway `g`'s port on side `side`, if that process is up.
    pub fn port(&self, g: usize, side: usize) -> Option<&Port> {
        let at = self.gateways[g].sides[side];
        match self.slots[at.ring][at.idx].role.as_ref()? {
            Role::Port(p) => Some(p),
            Role::Node(_) => None,
        }
    }
    /// The orderer of node `at` (ordinary or gateway), if up.
    pub fn orderer(&self, at: At) -> Option<&Orderer> {
        match self.slots[at.ring][at.idx].role.as_ref()? {
            Role::Node(o) => Some(o),
            Role::Port(p) => Some(p.orderer()),
        }
    }

    /// Kills gateway `g` (both halves of a LAN gateway, one half of a WAN gateway).
    pub fn crash_gateway(&mut self, g: usize, side: usize) {
        let sides: Vec<usize> = if self.cfg.wan.is_some() {
            vec![side]
        } else {
            vec![0, 1]
        };
        for s in sides {
            let at = self.gateways[g].sides[s];
            self.sims[at.ring].crash(at.idx);
        }
        self.refresh_roles();
    }
    /// Restarts every gateway process that is down.
    pub fn restart_gateways(&mut self) {
        for g in 0..self.gateways.len() {
            for s in 0..2 {
                let at = self.gateways[g].sides[s];
                self.sims[at.ring].restart(at.idx);
            }
        }
        self.refresh_roles();
    }
    /// Cuts (or heals) WAN link `g`.
    pub fn set_cut(&mut self, g: usize, cut: bool) {
        self.gateways[g].link.cut = cut;
    }

    /// Sends a data message from ordinary node `idx` of ring `ring` to `group`.
    pub fn send(&mut self, ring: usize, idx: usize, group: &[u8], extra: usize) -> Option<u64> {
        let life = self.sims[ring].current_life(idx)?;
        let id = self.next_msg;
        let slot = &mut self.slots[ring][idx];
        let Some(Role::Node(o)) = slot.role.as_mut() else {
            return None;
        };
        let mut payload = id.to_le_bytes().to_vec();
        payload.extend((0..extra).map(|k| (id as usize + k) as u8));
        let bytes = o.data(group, &payload);
        let after = slot.last_data;
        if let Some(b) = bytes {
            if !self.sims[ring].submit_payload(idx, Guarantee::Agreed, b) {
                return None;
            }
        }
        self.next_msg += 1;
        self.sent.insert(
            id,
            Sent {
                from: At { ring, idx },
                life,
                group: group.to_vec(),
                at: self.now,
                after,
                final_phase: self.final_phase,
            },
        );
        Some(id)
    }

    /// Makes a fresh role for every node whose life changed (started, restarted, crashed).
    fn refresh_roles(&mut self) {
        for r in 0..self.sims.len() {
            for i in 0..self.slots[r].len() {
                let life = self.sims[r].current_life(i);
                let slot = &mut self.slots[r][i];
                if slot.life == life {
                    continue;
                }
                if let Some(old) = slot.life {
                    if let Some(l) = self.logs.get_mut(&(r, old)) {
                        l.ended = Some(self.now);
                    }
                }
                slot.life = life;
                slot.cursor = 0;
                slot.last_data = None;
                let nodeid = i as u32 + 1;
                slot.role = life.map(|_| match slot.gateway {
                    Some(_) => {
                        Role::Port(Box::new(Port::new(r as u32, nodeid, self.cfg.selective)))
                    }
                    None => Role::Node(Box::new(Orderer::new(r as u32, nodeid))),
                });
                if let Some(l) = life {
                    self.logs.insert(
                        (r, l),
                        NodeLog {
                            at: Some(At { ring: r, idx: i }),
                            gateway: slot.gateway.is_some(),
                            started: self.now,
                            ..Default::default()
                        },
                    );
                    if slot.gateway.is_none() {
                        let groups: &[&[u8]] = if r == 0 {
                            &[GROUP_ALL, GROUP_LOCAL]
                        } else {
                            &[GROUP_ALL]
                        };
                        if let Some(Role::Node(o)) = slot.role.as_mut() {
                            for g in groups {
                                let b = o.join(g);
                                self.sims[r].submit_payload(i, Guarantee::Agreed, b);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Runs to `t`.
    pub fn run_until(&mut self, t: Duration) {
        while self.now < t {
            self.now = (self.now + self.cfg.step).min(t);
            for r in 0..self.sims.len() {
                self.sims[r].run_until(self.now);
            }
            self.refresh_roles();
            for _ in 0..64 {
                let moved = self.pump_nodes() + self.pump_links();
                if moved == 0 {
                    break;
                }
            }
            let all_up = self.gateways.iter().all(|g| g.link.connected);
            match (all_up, self.joined_at) {
                (true, None) => self.joined_at = Some(self.now),
                (false, Some(_)) => self.joined_at = None,
                _ => {}
            }
        }
    }

    fn pump_nodes(&mut self) -> usize {
        let mut moved = 0;
        for r in 0..self.sims.len() {
            for i in 0..self.slots[r].len() {
                let Some(life) = self.slots[r][i].life else {
                    continue;
                };
                let events = &self.sims[r].log.lives[life].events;
                let from = self.slots[r][i].cursor;
                let new: Vec<_> = events[from..].iter().map(|(_, e)| e.clone()).collect();
                self.slots[r][i].cursor = events.len();
                let slot = &mut self.slots[r][i];
                let mut submit = Vec::new();
                let mut delivered = Vec::new();
                let mut link = Vec::new();
                match slot.role.as_mut() {
                    Some(Role::Node(o)) => {
                        for e in &new {
                            o.handle_event(e);
                        }
                        while let Some(b) = o.poll_send() {
                            submit.push(b);
                        }
                        while let Some(d) = o.poll_delivery() {
                            delivered.push(d);
                        }
                    }
                    Some(Role::Port(p)) => {
                        for e in &new {
                            p.handle_event(e);
                        }
                        while let Some(b) = p.poll_ring() {
                            submit.push(b);
                        }
                        while let Some(d) = p.poll_delivery() {
                            delivered.push(d);
                        }
                        while let Some(m) = p.poll_link() {
                            link.push(m);
                        }
                    }
                    None => {}
                }
                moved += new.len() + submit.len() + link.len();
                for d in &delivered {
                    if let Delivery::Data { key, .. } = d {
                        slot.last_data = Some(*key);
                    }
                }
                if let Some(l) = self.logs.get_mut(&(r, life)) {
                    l.delivered
                        .extend(delivered.into_iter().map(|d| (self.now, d)));
                }
                for b in submit {
                    self.sims[r].submit_payload(i, Guarantee::Agreed, b);
                }
                if let Some((g, side)) = slot.gateway {
                    let gw = &mut self.gateways[g];
                    if gw.link.connected {
                        let delay = self.cfg.wan.map_or(Duration::ZERO, |w| w.delay);
                        for m in link {
                            gw.link.queue[side].push_back((self.now + delay, m));
                        }
                    }
                }
            }
        }
        moved
    }

    fn port_mut(&mut self, at: At) -> Option<&mut Port> {
        match self.slots[at.ring][at.idx].role.as_mut()? {
            Role::Port(p) => Some(p),
            Role::Node(_) => None,
        }
    }

    fn pump_links(&mut self) -> usize {
        let mut moved = 0;
        let wan = self.cfg.wan;
        for g in 0..self.gateways.len() {
            let sides = self.gateways[g].sides;
            let up = [
                self.slots[sides[0].ring][sides[0].idx].life.is_some(),
                self.slots[sides[1].ring][sides[1].idx].life.is_some(),
            ];
            let lives = [
                self.slots[sides[0].ring][sides[0].idx].life,
                self.slots[sides[1].ring][sides[1].idx].life,
            ];
            let link = &mut self.gateways[g].link;
            let healthy = up[0] && up[1] && !link.cut;
            let same = link.lives == lives;
            if link.connected && !same {
                // A process of this connection is gone: its new incarnation has no
                // connection; the survivor notices late (below).
                for (s, life) in lives.iter().enumerate() {
                    if link.lives[s] != *life {
                        link.queue[1 - s].clear();
                    }
                }
            }
            let healthy_conn = healthy && same;
            if link.connected && !healthy_conn {
                // A LAN gateway's ports share a process; a WAN link notices late.
                let noticed = match (wan, link.next) {
                    (None, _) => true,
                    (Some(w), None) => {
                        link.next = Some(self.now + w.detect);
                        false
                    }
                    (Some(_), Some(t)) => self.now >= t,
                };
                if noticed {
                    link.connected = false;
                    link.queue = Default::default();
                    link.next = None;
                    link.attempts = 0;
                    for s in sides {
                        if let Some(p) = self.port_mut(s) {
                            p.disconnect();
                        }
                    }
                    moved += 1;
                    continue;
                }
            } else if link.connected {
                link.next = None;
            }
            let link = &mut self.gateways[g].link;
            if !link.connected && healthy {
                let due = match (wan, link.next) {
                    (None, _) => true,
                    (Some(w), None) => {
                        link.next = Some(self.now + w.backoff);
                        false
                    }
                    (Some(w), Some(t)) => {
                        if self.now >= t {
                            link.attempts += 1;
                            link.next = Some(self.now + w.backoff * (1 << link.attempts.min(3)));
                        }
                        self.now >= t
                    }
                };
                let ready = sides
                    .iter()
                    .all(|s| self.orderer(*s).is_some_and(Orderer::synced));
                if due && ready {
                    let link = &mut self.gateways[g].link;
                    link.connected = true;
                    link.lives = lives;
                    link.next = None;
                    link.attempts = 0;
                    for s in sides {
                        if let Some(p) = self.port_mut(s) {
                            p.connect();
                        }
                    }
                    moved += 1;
                }
            }
            if !self.gateways[g].link.connected {
                continue;
            }
            for side in 0..2 {
                loop {
                    let link = &mut self.gateways[g].link;
                    let Some((at, _)) = link.queue[side].front() else {
                        break;
                    };
                    if *at > self.now {
                        break;
                    }
                    let Some((_, m)) = link.queue[side].pop_front() else {
                        break;
                    };
                    let to = sides[1 - side];
                    if let Some(p) = self.port_mut(to) {
                        p.handle_link(m);
                        moved += 1;
                    }
                }
            }
        }
        moved
    }

    /// Per-node summary lines: origins in the system, elements waiting, refusals.
    pub fn node_report(&self) -> String {
        let mut s = String::new();
        for (r, slots) in self.slots.iter().enumerate() {
            for i in 0..slots.len() {
                if let Some(o) = self.orderer(At { ring: r, idx: i }) {
                    let _ = writeln!(
                        s,
                        "ring {r} node {}: synced={} members={:?} attached={:?} waiting={} delivered={} refused={:?}",
                        i + 1,
                        o.synced(),
                        o.members(),
                        o.attached(),
                        o.waiting(),
                        o.delivered(),
                        o.refused()
                    );
                    for st in o.origin_states() {
                        let _ = writeln!(s, "    origin {st:?}");
                    }
                }
            }
        }
        s
    }

    /// Per-gateway summary lines (forwarded, filtered, injected, nulls, groups).
    pub fn gateway_report(&self) -> String {
        let mut s = String::new();
        for g in 0..self.gateways.len() {
            for side in 0..2 {
                if let Some(p) = self.port(g, side) {
                    let _ = writeln!(
                        s,
                        "gateway {g} side {side} ring {}: link={} forwarded={:?} filtered={} injected={} nulls={} far_groups={:?}",
                        self.gateways[g].sides[side].ring,
                        if p.link_up() { "up" } else { "down" },
                        p.stats.forwarded,
                        p.stats.filtered,
                        p.stats.injected,
                        p.stats.nulls,
                        p.forwarded_groups()
                            .iter()
                            .map(|g| String::from_utf8_lossy(g).into_owned())
                            .collect::<Vec<_>>()
                    );
                }
            }
        }
        s
    }
}

/// Findings of [`check`].
#[derive(Debug, Default)]
pub struct Report {
    pub violations: Vec<String>,
    pub delivered: u64,
    pub sent: u64,
    /// Submit-to-deliver latency of data on other rings than the sender's, in ms (p50, p99).
    pub remote_latency_ms: (f64, f64),
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Checks a finished run. `complete`: no faults at all, so every message must reach every
/// ordinary node that was up from start to end.
pub fn check(r: &Rings, complete: bool) -> Report {
    let mut rep = Report {
        sent: r.sent.len() as u64,
        ..Default::default()
    };
    let mut v = Vec::new();
    let mut key_of: BTreeMap<u64, (Key, String)> = BTreeMap::new();
    let mut configs: BTreeMap<(u32, u64), (Key, Vec<u32>, String)> = BTreeMap::new();
    let mut got: BTreeMap<u64, BTreeSet<(usize, usize)>> = BTreeMap::new();
    let mut remote = Vec::new();
    for (&(ring, life), log) in &r.logs {
        let who = format!(
            "ring {ring} {} life {life}",
            if log.gateway { "gateway node" } else { "node" }
        );
        let mut last: Option<Key> = None;
        let mut seen = BTreeSet::new();
        let mut per_sender: BTreeMap<(usize, usize), u64> = BTreeMap::new();
        for (at, d) in &log.delivered {
            let k = d.key();
            if let Some(l) = last {
                if k <= l && !matches!(d, Delivery::Origins { .. }) {
                    v.push(format!(
                        "{who}: delivered {k:?} after {l:?} (keys must rise)"
                    ));
                }
            }
            last = Some(k);
            match d {
                Delivery::Data { payload, group, .. } => {
                    rep.delivered += 1;
                    let Some(id) = msg_id(payload) else {
                        v.push(format!("{who}: data without a message id"));
                        continue;
                    };
                    let Some(s) = r.sent.get(&id) else {
                        v.push(format!("{who}: delivered message {id} nobody sent"));
                        continue;
                    };
                    if &s.group != group {
                        v.push(format!("{who}: message {id} delivered to another group"));
                    }
                    if !seen.insert(id) {
                        v.push(format!("{who}: message {id} delivered twice"));
                    }
                    match key_of.get(&id) {
                        Some((k0, w0)) if *k0 != k => v.push(format!(
                            "message {id}: key {k:?} at {who}, {k0:?} at {w0} (two orders)"
                        )),
                        Some(_) => {}
                        None => {
                            key_of.insert(id, (k, who.clone()));
                        }
                    }
                    if let Some(after) = s.after {
                        if k <= after {
                            v.push(format!(
                                "message {id}: key {k:?} not above {after:?}, delivered before it was sent (causal order)"
                            ));
                        }
                    }
                    let from = (s.from.ring, s.from.idx);
                    if let Some(prev) = per_sender.insert(from, id) {
                        if r.sent.get(&prev).is_some_and(|p| p.life == s.life) && prev > id {
                            v.push(format!(
                                "{who}: sender {from:?} messages {prev} then {id} (FIFO)"
                            ));
                        }
                    }
                    if let Some(a) = log.at {
                        if !log.gateway {
                            got.entry(id).or_default().insert((a.ring, a.idx));
                        }
                        if a.ring != s.from.ring {
                            remote.push((*at - s.at).as_secs_f64() * 1000.0);
                        }
                    }
                    if r.cfg.selective
                        && group.as_slice() == GROUP_LOCAL
                        && log.at.is_some_and(|a| a.ring != 0)
                    {
                        v.push(format!(
                            "{who}: message {id} of ring 0's local group reached another ring"
                        ));
                    }
                }
                Delivery::RingConfig { key, members } => {
                    let id = (key.origin, key.ring_seq);
                    match configs.get(&id) {
                        Some((k0, m0, w0)) if (*k0, m0) != (*key, members) => v.push(format!(
                            "ring {} configuration {}: {key:?} {members:?} at {who}, {k0:?} {m0:?} at {w0}",
                            id.0, id.1
                        )),
                        Some(_) => {}
                        None => {
                            configs.insert(id, (*key, members.clone(), who.clone()));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // Liveness: the final phase's messages everywhere they belong.
    let end_nodes: Vec<(usize, usize, Duration)> = r
        .logs
        .values()
        .filter(|l| !l.gateway && l.ended.is_none())
        .filter_map(|l| l.at.map(|a| (a.ring, a.idx, l.started)))
        .collect();
    for (id, s) in &r.sent {
        if !(s.final_phase || complete) {
            continue;
        }
        if complete
            && r.logs
                .get(&(s.from.ring, s.life))
                .is_some_and(|l| l.ended.is_some())
        {
            continue;
        }
        // Messages sent while the rings were still joining may be delivered on their side
        // only (before the far side's attach point).
        let joined = r
            .joined_at
            .is_some_and(|j| s.at >= j + Duration::from_millis(500));
        if complete && !joined {
            v.push(format!(
                "message {id}: sent before every gateway link was up"
            ));
            continue;
        }
        let have = got.get(id);
        for &(ring, idx, started) in &end_nodes {
            if complete && started > Duration::ZERO {
                continue;
            }
            let wants = s.group.as_slice() == GROUP_ALL || ring == 0;
            if wants && !have.is_some_and(|h| h.contains(&(ring, idx))) {
                v.push(format!(
                    "message {id} from {:?} to {}: never delivered on ring {ring} node index {idx}",
                    s.from,
                    String::from_utf8_lossy(&s.group)
                ));
            }
        }
    }
    rep.remote_latency_ms = (
        percentile(&mut remote.clone(), 0.5),
        percentile(&mut remote, 0.99),
    );
    if v.len() > 50 {
        let n = v.len();
        v.truncate(50);
        v.push(format!("... {} more", n - 50));
    }
    rep.violations = v;
    rep
}

/// One seeded scenario: formation, traffic from every ring, faults (loss, a partition in a
/// ring, node crash and restart, gateway crash and restart, WAN cut and heal), then heal
/// and a final phase that must reach everyone.
pub fn scenario(cfg: RingsConfig, faults: bool) -> (Rings, Report) {
    let mut r = Rings::new(cfg);
    let k = r.cfg.rings;
    let nodes = r.cfg.nodes as u64;
    let gws = r.gateway_count() as u64;
    let end = Duration::from_secs(if faults { 24 } else { 10 });
    let fault_end = end - Duration::from_secs(9);
    r.run_until(Duration::from_secs(3));
    let mut t = r.now();
    type Undo = Box<dyn FnOnce(&mut Rings)>;
    let mut faulted: Vec<Undo> = Vec::new();
    let mut next_fault = Duration::from_secs(4);
    while t < end - Duration::from_secs(2) {
        t += Duration::from_millis(20);
        if faults && t >= next_fault && t < fault_end {
            next_fault = t + Duration::from_millis(1500 + r.rng().below(1500));
            for f in faulted.drain(..) {
                f(&mut r);
            }
            match r.rng().below(5) {
                0 => {
                    let ring = r.rng().below(k as u64) as usize;
                    let n = r.sim_mut(ring).len();
                    for a in 0..n {
                        for b in 0..n {
                            r.sim_mut(ring).set_loss(a, b, 0.05);
                        }
                    }
                    faulted.push(Box::new(move |r: &mut Rings| r.sim_mut(ring).heal()));
                }
                1 => {
                    let ring = r.rng().below(k as u64) as usize;
                    let n = r.sim_mut(ring).len();
                    let cut = 1 + r.rng().below(n as u64 - 1) as usize;
                    let groups: Vec<usize> = (0..n).map(|i| usize::from(i >= cut)).collect();
                    r.sim_mut(ring).partition(&groups);
                    faulted.push(Box::new(move |r: &mut Rings| r.sim_mut(ring).heal()));
                }
                2 => {
                    let ring = r.rng().below(k as u64) as usize;
                    let idx = r.rng().below(nodes) as usize;
                    r.sim_mut(ring).crash(idx);
                    faulted.push(Box::new(move |r: &mut Rings| {
                        r.sim_mut(ring).restart(idx);
                    }));
                }
                3 => {
                    let g = r.rng().below(gws) as usize;
                    let side = r.rng().below(2) as usize;
                    r.crash_gateway(g, side);
                    faulted.push(Box::new(|r: &mut Rings| r.restart_gateways()));
                }
                _ => {
                    let g = r.rng().below(gws) as usize;
                    if r.cfg.wan.is_some() {
                        r.set_cut(g, true);
                        faulted.push(Box::new(move |r: &mut Rings| r.set_cut(g, false)));
                    } else {
                        let ring = r.rng().below(k as u64) as usize;
                        let idx = r.rng().below(nodes) as usize;
                        r.sim_mut(ring).set_slow(idx, Duration::from_millis(5));
                        faulted.push(Box::new(move |r: &mut Rings| {
                            r.sim_mut(ring).set_slow(idx, Duration::ZERO)
                        }));
                    }
                }
            }
        }
        if t >= fault_end && !faulted.is_empty() {
            for f in faulted.drain(..) {
                f(&mut r);
            }
        }
        if faults && t >= fault_end + Duration::from_secs(4) && !r.final_phase {
            r.final_phase = true;
        }
        r.run_until(t);
        if r.rng().chance(0.6) {
            let ring = r.rng().below(k as u64) as usize;
            let live = r.live_nodes(ring);
            if !live.is_empty() {
                let idx = live[r.rng().below(live.len() as u64) as usize];
                let group = if ring == 0 && r.rng().chance(0.3) {
                    GROUP_LOCAL
                } else {
                    GROUP_ALL
                };
                let extra = r.rng().below(200) as usize;
                r.send(ring, idx, group, extra);
            }
        }
    }
    r.run_until(end);
    let rep = check(&r, !faults);
    (r, rep)
}
