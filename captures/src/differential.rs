//! Differential replay: our sans-IO engine in the place of one node of a capture.
//!
//! The engine of node N gets the datagrams that reached N in the capture (everything from
//! the others that was multicast or addressed to one of N's addresses; knet reassembled,
//! crypto opened) at the capture's timestamps, with its timers fired at their deadlines in
//! between. Its membership decisions are compared with node N's on the wire:
//!
//! * *installed rings*: the rings N sent ORF tokens in (capture) and the regular
//!   configurations the engine reported (ours), matched by ring id, compared by members;
//! * *commit tokens*: for each ring N created a commit token for (N was the representative),
//!   the engine must have created one for the same ring id with the same members.
//!
//! Seeding: when the capture begins inside a ring N is in (N sends its tokens before sending
//! any join), that ring is the *seed*: a small in-process ring of our engines, one per seed
//! member, with the capture's timers and ring seqs chosen so that they form exactly the seed
//! ring id, is run until it is operational; N's engine is then taken out of it and replayed
//! from the capture's first datagram. Otherwise N's engine starts fresh at N's first message
//! (its start-up), with the ring seq of its first join; its start-up singleton ring is not
//! compared unless the capture shows it (a singleton's token never leaves the node; only its
//! merge detects do). The replay ends at N's last message in the capture (a killed node says
//! nothing more); a leave message of N in the capture makes the engine leave then.
//!
//! Not fed either, though the bridge shows them addressed to N (see [`Delivery`]): what
//! arrived while the scenario's timeline (`<capture>.log`, [`crate::links`]) has N's link
//! down, and on knet, data from a host N's knet did not count reachable yet
//! ([`crate::knet_reach`]). Nor is a datagram of another generation than N's: N's transport
//! rejects its envelope (2.4.6 "Unsupported incoming packet", 1.4.10 "Type of received
//! message is wrong", 3.1.7 "bad magic number", as the mixed captures' logs show), though the
//! capture's decoder, which knows every generation, finds a Totem message in it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use totem::config::Config;
use totem::engine::{ConfigKind, Engine, Event, Transmit};
use totem_wire::ip_address::TotemIpAddress;
use totem_wire::{Generation, RingId, SrpAddr, SrpMessage};

use crate::capture_config::{engine_config, node_conf, read_conf, ConfigError};
use crate::knet_reach::{pong_count, KnetReach};
use crate::links::Links;
use crate::story::{is_group_address, Msg, Story};

/// What is replayed in N's place: the engine, or a test double.
pub trait Subject {
    /// A datagram (bare SRP bytes) arrives.
    fn datagram(&mut self, now: Instant, bytes: &[u8]);
    /// Timers due at or before `now` fire.
    fn timeout(&mut self, now: Instant);
    /// The next deadline.
    fn next_timeout(&self) -> Option<Instant>;
    /// The next datagram it sends.
    fn transmit(&mut self) -> Option<Transmit>;
    /// The next event.
    fn event(&mut self) -> Option<Event>;
    /// The node leaves gracefully (the capture shows its leave message).
    fn leave(&mut self, now: Instant);
    /// Messages it refused, by reason (engines only).
    fn refused(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

impl Subject for Engine {
    fn datagram(&mut self, now: Instant, bytes: &[u8]) {
        self.handle_datagram(now, bytes);
    }
    fn timeout(&mut self, now: Instant) {
        self.handle_timeout(now);
    }
    fn next_timeout(&self) -> Option<Instant> {
        self.poll_timeout()
    }
    fn transmit(&mut self) -> Option<Transmit> {
        self.poll_transmit()
    }
    fn event(&mut self) -> Option<Event> {
        self.poll_event()
    }
    fn leave(&mut self, now: Instant) {
        Engine::leave(self, now);
    }
    fn refused(&self) -> Vec<(&'static str, u64)> {
        self.stats()
            .refused
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (r.name(), n))
            .collect()
    }
}

/// A membership decision: a ring and its members, with the frame it is tied to (capture:
/// the frame of N's first token or commit token for it; ours: the last datagram fed before
/// the engine reported it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Ring id.
    pub ring: RingId,
    /// Members in ring order.
    pub members: Vec<u32>,
    /// Frame number.
    pub frame: u64,
}

/// One ring compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// What N installed in the capture.
    pub capture: Option<Decision>,
    /// What the engine installed.
    pub ours: Option<Decision>,
    /// N's commit token for the ring in the capture, if N sent one.
    pub capture_commit: Option<Decision>,
    /// The engine's commit token for the ring, if it sent one.
    pub ours_commit: Option<Decision>,
    /// The fields that differ (empty: same).
    pub differences: Vec<String>,
}

impl Comparison {
    /// The ring id compared.
    pub fn ring(&self) -> RingId {
        self.capture
            .as_ref()
            .or(self.ours.as_ref())
            .map(|d| d.ring)
            .expect("a comparison has one side")
    }
}

/// The outcome of a differential replay of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The node replayed.
    pub node: u32,
    /// The ring N was in before the replay started (not compared).
    pub seed: Option<Decision>,
    /// Frame the engine started at (None: N takes part in no membership change).
    pub start_frame: Option<u64>,
    /// Datagrams fed to the engine.
    pub fed: u64,
    /// Datagrams to N not fed because N's link was down (the timeline's link cuts).
    pub cut_off: u64,
    /// knet datagrams to N not fed because N's knet did not have their sender reachable.
    pub unreachable: u64,
    /// Datagrams to N not fed because they are of another generation than N's.
    pub foreign: u64,
    /// Rings compared, in order of first appearance.
    pub rings: Vec<Comparison>,
    /// What the engine refused of the capture's datagrams, by reason (a real daemon's
    /// traffic should need none).
    pub refused: Vec<(&'static str, u64)>,
}

impl Report {
    /// Rings that agree.
    pub fn same(&self) -> usize {
        self.rings
            .iter()
            .filter(|c| c.differences.is_empty())
            .count()
    }
    /// Rings that differ.
    pub fn differ(&self) -> usize {
        self.rings.len() - self.same()
    }
    /// `rings=R same=S differ=D`.
    pub fn summary_line(&self) -> String {
        format!(
            "rings={} same={} differ={}",
            self.rings.len(),
            self.same(),
            self.differ()
        )
    }
    /// One line per difference, with frame numbers and fields.
    pub fn difference_lines(&self) -> Vec<String> {
        let side = |d: &Option<Decision>| match d {
            Some(d) => format!("members {:?} (frame {})", d.members, d.frame),
            None => "none".into(),
        };
        self.rings
            .iter()
            .filter(|c| !c.differences.is_empty())
            .map(|c| {
                format!(
                    "differ: ring {}: {}; capture {} ours {}",
                    c.ring(),
                    c.differences.join(", "),
                    side(&c.capture),
                    side(&c.ours)
                )
            })
            .collect()
    }
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The node sent nothing in the capture.
    #[error("node {0} sends nothing in this capture (nodes: {1:?})")]
    UnknownNode(u32, Vec<u32>),
    /// G1/G2 need the node's address, which the capture does not show.
    #[error("node {0}: no address of it in the capture (G1/G2 name members by address)")]
    NoAddress(u32),
    /// Our engines did not form the seed ring.
    #[error("could not form the seed ring {0} with our engines (got {1:?})")]
    Seed(RingId, Option<RingId>),
    /// Its corosync.conf is broken.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// N's ring-0 Totem address as the capture shows it (G1/G2): from a message naming it, else
/// built from the IP N sends from that is nearest another node's ring-0 address (padding
/// copied from that address).
pub fn node_address(story: &Story, node: u32) -> Option<TotemIpAddress> {
    let named = |want: Option<u32>| {
        let from = move |a: &SrpAddr| match a {
            SrpAddr::Addrs { addrs, .. } if want.is_none_or(|n| addrs[0].nodeid == n) => {
                Some(addrs[0])
            }
            _ => None,
        };
        story.msgs.iter().find_map(move |m| match &m.message {
            SrpMessage::MembJoin(j) => from(&j.system_from),
            SrpMessage::Mcast(x) => from(&x.system_from),
            SrpMessage::MergeDetect(x) => from(&x.system_from),
            SrpMessage::CommitToken(c) => c.addr.iter().find_map(from),
            _ => None,
        })
    };
    if let Some(a) = named(Some(node)) {
        return Some(a);
    }
    let other = named(None)?;
    let other_ip = other.ip()?;
    let common = |ip: &IpAddr| match (ip, other_ip) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(*a) ^ u32::from(b)).leading_zeros(),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(*a) ^ u128::from(b)).leading_zeros(),
        _ => 0,
    };
    let ip = story
        .addresses()
        .get(&node)?
        .iter()
        .max_by_key(|ip| common(ip))
        .copied()?;
    let mut a = other;
    a.nodeid = node;
    match ip {
        IpAddr::V4(v4) => a.addr[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => a.addr = v6.octets(),
    }
    Some(a)
}

/// N's ring-1 Totem address on a redundant ring (RRP), from a message naming N with two
/// addresses.
pub fn node_ring1(story: &Story, node: u32) -> Option<TotemIpAddress> {
    let from = |a: &SrpAddr| match a {
        SrpAddr::Addrs { addrs, .. } if addrs[0].nodeid == node && addrs[1].family != 0 => {
            Some(addrs[1])
        }
        _ => None,
    };
    story.msgs.iter().find_map(|m| match &m.message {
        SrpMessage::MembJoin(j) => from(&j.system_from),
        SrpMessage::Mcast(x) => from(&x.system_from),
        SrpMessage::MergeDetect(x) => from(&x.system_from),
        SrpMessage::CommitToken(c) => c.addr.iter().find_map(from),
        _ => None,
    })
}

/// The engine configuration of `node` for the capture `file` (see [`crate::capture_config`]).
pub fn config_for(file: Option<&Path>, story: &Story, node: u32) -> Result<Config, ReplayError> {
    let gen = story.generation_of(node);
    let address = match gen {
        Generation::G3 => None,
        _ => Some(node_address(story, node).ok_or(ReplayError::NoAddress(node))?),
    };
    let conf = match file.and_then(|f| node_conf(f, node)) {
        Some(p) => Some((read_conf(&p)?, p)),
        None => None,
    };
    let mut cfg = engine_config(
        gen,
        node,
        address,
        conf.as_ref().map(|(s, p)| (p.as_path(), s)),
    )?;
    if conf.is_none() && gen != Generation::G1 {
        cfg.nodelist_size = story.nodes().len();
    }
    if gen != Generation::G3 {
        cfg.address1 = node_ring1(story, node);
    }
    // A capture may show only part of what reached N (one ring of an RRP pair).
    cfg.partial_view = true;
    // corosync has no such rule: it stays in gather, commit and recovery as long as it takes.
    cfg.gather_stuck_after = 0;
    // Its peers pass tokens on under stale nodeids, as openais 0.80.6 does.
    cfg.openais_stale_nodeids = gen == Generation::G1 && story.has_stale_nodeids();
    Ok(cfg)
}

/// Members per ring: the last commit token's, else the senders of its tokens.
fn ring_members(story: &Story) -> HashMap<RingId, Vec<u32>> {
    let mut m: HashMap<RingId, Vec<u32>> = HashMap::new();
    for x in &story.msgs {
        if let SrpMessage::CommitToken(c) = &x.message {
            m.insert(c.ring_id, c.addr.iter().map(|a| a.nodeid()).collect());
        }
    }
    let mut senders: HashMap<RingId, Vec<u32>> = HashMap::new();
    for x in &story.msgs {
        if let SrpMessage::OrfToken(t) = &x.message {
            if !m.contains_key(&t.ring_id) {
                let v = senders.entry(t.ring_id).or_default();
                if !v.contains(&t.header.nodeid) {
                    v.push(t.header.nodeid);
                }
            }
        }
    }
    for (r, mut v) in senders {
        v.sort_unstable();
        m.insert(r, v);
    }
    m
}

/// Whether `node` (sending from `addrs`) sent a message of the capture: it came from one
/// of its addresses (by header nodeid when they are unknown). Not the header nodeid alone:
/// openais 0.80.6 forwards a commit token with the header nodeid it arrived with (frame 12
/// of `openais-0.80.6-udp-01`: node 1 passes node 2's token on as node 2's).
pub fn sent_by(m: &Msg, node: u32, addrs: &[IpAddr]) -> bool {
    if addrs.is_empty() {
        m.sender() == node
    } else {
        addrs.contains(&m.src.ip())
    }
}

/// Whether the next commit token of a newer ring after `d.frame` lists `node` coming from a
/// ring older than `d.ring`: `node` never became operational in `d.ring`.
fn recovery_failed(story: &Story, node: u32, d: &Decision) -> bool {
    let next = story
        .msgs
        .iter()
        .filter(|m| m.frame > d.frame)
        .find_map(|m| match &m.message {
            // A newer ring's: late copies of older commit tokens (node 3's ring-1 queue let go
            // when the link came back, `2.4.6-udpu-rrp-active-06` frames 1392-1398) do not count.
            SrpMessage::CommitToken(c) if c.ring_id.seq > d.ring.seq => c
                .addr
                .iter()
                .zip(&c.memb_list)
                .find(|(a, e)| a.nodeid() == node && e.ring_id.seq != 0)
                .map(|(_, e)| e.ring_id),
            _ => None,
        });
    next.is_some_and(|old| old.seq < d.ring.seq)
}

/// Whether a message of the capture reached `node`.
pub fn reaches(m: &Msg, node: u32, addrs: &[IpAddr]) -> bool {
    !sent_by(m, node, addrs) && (is_group_address(m.dst.ip()) || addrs.contains(&m.dst.ip()))
}

/// What of the capture addressed to a node really reached it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The scenario's link cuts.
    pub links: Links,
    /// The node's knet reachability of the others, when the capture shows its knet start.
    pub knet: Option<KnetReach>,
}

impl Delivery {
    /// The delivery model of `node` in the capture `file` (nothing withheld without a file).
    pub fn for_node(file: Option<&Path>, story: &Story, node: u32) -> Delivery {
        let Some(file) = file else {
            return Delivery::default();
        };
        Delivery {
            links: Links::for_capture(file, story.start()),
            knet: KnetReach::of(story, node, pong_count(file, node)),
        }
    }

    /// Whether the node's knet handed on data from `host` at `t` (always, without knet).
    pub fn knet_reachable(&self, host: u32, t: Duration) -> bool {
        self.knet.as_ref().is_none_or(|k| k.reachable(host, t))
    }
}

/// Replays `story` with `subject` in the place of `node`, whose config is `cfg`; what
/// `delivery` says did not reach `node` is not fed.
pub fn replay_with<S: Subject>(
    story: &Story,
    node: u32,
    wrap: impl FnOnce(Engine) -> S,
    mut cfg: Config,
    delivery: &Delivery,
) -> Result<Report, ReplayError> {
    let nodes: Vec<u32> = story.nodes().into_iter().collect();
    if !nodes.contains(&node) {
        return Err(ReplayError::UnknownNode(node, nodes));
    }
    let addrs: Vec<IpAddr> = story
        .addresses()
        .get(&node)
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    let members = ring_members(story);
    let tokens_of_node = |m: &Msg| match &m.message {
        SrpMessage::OrfToken(t) if t.header.nodeid == node => Some(t.ring_id),
        _ => None,
    };
    let first_join = story
        .msgs
        .iter()
        .position(|m| matches!(m.message, SrpMessage::MembJoin(_)) && m.sender() == node);
    // The seed: a ring N sent tokens or merge detects in before its first join, or the
    // singleton its first join and the next commit token show it was operational in.
    let before = &story.msgs[..first_join.unwrap_or(story.msgs.len())];
    let seed_ring = before
        .iter()
        .find_map(|m| tokens_of_node(m).map(|r| (r, m.frame)))
        .or_else(|| {
            before.iter().find_map(|m| match &m.message {
                SrpMessage::MergeDetect(d) if d.system_from.nodeid() == node => {
                    Some((d.ring_id, m.frame))
                }
                _ => None,
            })
        })
        .or_else(|| {
            let i = first_join?;
            let SrpMessage::MembJoin(j) = &story.msgs[i].message else {
                return None;
            };
            story.msgs[i..].iter().find_map(|m| match &m.message {
                SrpMessage::CommitToken(c) => c
                    .addr
                    .iter()
                    .zip(&c.memb_list)
                    .find(|(a, e)| {
                        a.nodeid() == node
                            && e.ring_id.rep_nodeid() == node
                            && e.ring_id.seq == j.ring_seq
                            && e.aru > 0
                    })
                    .map(|(_, e)| (e.ring_id, story.msgs[i].frame)),
                _ => None,
            })
        });
    let seed = seed_ring.map(|(ring, frame)| Decision {
        ring,
        members: members.get(&ring).cloned().unwrap_or_else(|| {
            let mut s: Vec<u32> = story
                .msgs
                .iter()
                .filter_map(|m| match &m.message {
                    SrpMessage::OrfToken(t) if t.ring_id == ring => Some(t.header.nodeid),
                    _ => None,
                })
                .collect();
            s.sort_unstable();
            s.dedup();
            if s.is_empty() {
                s.push(node); // a singleton: its token never leaves the node
            }
            s
        }),
        frame,
    });
    let start = if seed.is_some() {
        Some(0)
    } else {
        story.msgs.iter().position(|m| m.sender() == node)
    };
    let Some(start) = start else {
        return Ok(Report {
            node,
            seed,
            start_frame: None,
            fed: 0,
            cut_off: 0,
            unreachable: 0,
            foreign: 0,
            rings: Vec::new(),
            refused: Vec::new(),
        });
    };
    let last_own = story
        .msgs
        .iter()
        .rposition(|m| m.sender() == node)
        .unwrap_or(story.msgs.len() - 1);
    let after = &story.msgs[start..=last_own.max(start)];
    // The capture's decisions of N.
    let mut capture: Vec<Decision> = Vec::new();
    let mut capture_commit: HashMap<RingId, Decision> = HashMap::new();
    for m in after {
        if let Some(ring) = tokens_of_node(m) {
            if seed.as_ref().is_some_and(|s| s.ring == ring) {
                continue;
            }
            if !capture.iter().any(|d| d.ring == ring) {
                let members = members.get(&ring).cloned().unwrap_or_default();
                capture.push(Decision {
                    ring,
                    members,
                    frame: m.frame,
                });
            }
        }
        if let SrpMessage::MergeDetect(d) = &m.message {
            // A singleton ring shows only in its merge detects.
            let ring = d.ring_id;
            if d.system_from.nodeid() == node
                && !seed.as_ref().is_some_and(|s| s.ring == ring)
                && !capture.iter().any(|x| x.ring == ring)
            {
                capture.push(Decision {
                    ring,
                    members: members.get(&ring).cloned().unwrap_or_else(|| vec![node]),
                    frame: m.frame,
                });
            }
        }
        if let SrpMessage::CommitToken(c) = &m.message {
            // The commit token names the ring each member comes from: N was in it.
            for (a, e) in c.addr.iter().zip(&c.memb_list) {
                let ring = e.ring_id;
                if a.nodeid() == node
                    && !seed.as_ref().is_some_and(|s| s.ring == ring)
                    && !capture.iter().any(|x| x.ring == ring)
                    && ring.rep_nodeid() == node
                    && !members.contains_key(&ring)
                    && e.aru > 0
                {
                    capture.push(Decision {
                        ring,
                        members: vec![node],
                        frame: m.frame,
                    });
                }
            }
            if c.header.nodeid == node && c.ring_id.rep_nodeid() == node {
                capture_commit.entry(c.ring_id).or_insert(Decision {
                    ring: c.ring_id,
                    members: c.addr.iter().map(|a| a.nodeid()).collect(),
                    frame: m.frame,
                });
            }
        }
    }
    // A ring whose recovery never completed (its token lost in recovery) is on the wire,
    // N's ORF tokens of the recovery, but N never installed it: N's next commit token entry
    // still names an older ring as the one N comes from (corosync keeps the old ring's state
    // saved until it is operational: exec/totemsrp.c old_ring_state_save/_restore).
    capture.retain(|d| !recovery_failed(story, node, d));
    let t0 = after[0].time;
    let gen_of_node = cfg.generation;
    let (mut subject, base) = match &seed {
        Some(seed) => {
            let (mut engine, at) = bootstrap(story, seed, &cfg)?;
            // The capture's ring counters are not the ones our engines reached.
            engine.adopt_next_token();
            (wrap(engine), at)
        }
        None => {
            // N's ring seq: its first join's.
            cfg.ring_seq_start = after
                .iter()
                .find_map(|m| match &m.message {
                    SrpMessage::MembJoin(j) if m.sender() == node && !j.is_leave() => {
                        Some(j.ring_seq)
                    }
                    _ => None,
                })
                .unwrap_or(0);
            let base = Instant::now();
            (wrap(Engine::new(cfg, base)), base)
        }
    };
    let at = |t: Duration| base + t.saturating_sub(t0);
    let mut ours: Vec<Decision> = Vec::new();
    let mut ours_commit: HashMap<RingId, Decision> = HashMap::new();
    let gen = gen_of_node;
    // TOTEM_REPLAY_TRACE: every datagram fed and sent, and every event, on stderr.
    let trace = std::env::var_os("TOTEM_REPLAY_TRACE").is_some();
    let name = |b: &[u8]| {
        totem_wire::header::Header::parse(b, gen)
            .map(|h| h.msg_type.name())
            .unwrap_or("?")
    };
    let mut drain = |s: &mut S, frame: u64| {
        while let Some(t) = s.transmit() {
            if trace {
                eprintln!(
                    "    after frame {frame}: sends {:?} {}",
                    t.dest,
                    name(&t.bytes)
                );
            }
            if let Ok(d) = SrpMessage::parse(&t.bytes, gen) {
                if let SrpMessage::CommitToken(c) = d.message {
                    if c.ring_id.rep_nodeid() != node {
                        continue;
                    }
                    ours_commit.entry(c.ring_id).or_insert(Decision {
                        ring: c.ring_id,
                        members: c.addr.iter().map(|a| a.nodeid()).collect(),
                        frame,
                    });
                }
            }
        }
        while let Some(e) = s.event() {
            if trace && matches!(e, Event::Config { .. }) {
                eprintln!("    after frame {frame}: {e:?}");
            }
            if let Event::Config {
                kind: ConfigKind::Regular,
                ring_id,
                members,
                ..
            } = e
            {
                ours.push(Decision {
                    ring: ring_id,
                    members,
                    frame,
                });
            }
        }
    };
    drain(&mut subject, after[0].frame);
    let mut fed = 0u64;
    let mut cut_off = 0u64;
    let mut unreachable = 0u64;
    let mut foreign = 0u64;
    let mut last_frame = after[0].frame;
    let fire = |s: &mut S, until: Instant, frame: u64, drain: &mut dyn FnMut(&mut S, u64)| {
        let mut guard = 0;
        while let Some(d) = s.next_timeout() {
            if d > until || guard > 100_000 {
                break;
            }
            s.timeout(d);
            drain(s, frame);
            guard += 1;
        }
    };
    for m in after {
        if m.sender() == node {
            if let SrpMessage::MembJoin(j) = &m.message {
                if j.is_leave() {
                    let now = at(m.time);
                    fire(&mut subject, now, last_frame, &mut drain);
                    subject.leave(now);
                    drain(&mut subject, m.frame);
                }
            }
        }
        if !reaches(m, node, &addrs) {
            continue;
        }
        if m.generation != gen {
            // N's transport rejects another generation's envelope before Totem sees it.
            foreign += 1;
            continue;
        }
        if delivery.links.is_down(node, m.time) {
            cut_off += 1;
            continue;
        }
        if !delivery.knet_reachable(m.sender(), m.time) {
            unreachable += 1;
            continue;
        }
        let now = at(m.time);
        fire(&mut subject, now, last_frame, &mut drain);
        if trace {
            eprintln!(
                "frame {} at {:.3} s: {} -> {} {}",
                m.frame,
                m.time.saturating_sub(t0).as_secs_f64(),
                m.src,
                m.dst,
                name(&m.srp)
            );
        }
        subject.datagram(now, &m.srp);
        fed += 1;
        last_frame = m.frame;
        drain(&mut subject, m.frame);
    }
    if let Some(end) = after.last() {
        fire(&mut subject, at(end.time), last_frame, &mut drain);
    }
    let refused = subject.refused();
    // A fresh node's start-up singleton is invisible on the wire unless it sent merge detects.
    if seed.is_none() {
        if let Some(first) = ours.first() {
            if first.members == [node] && !capture.iter().any(|c| c.ring == first.ring) {
                ours.remove(0);
            }
        }
    }
    // Compare, ring by ring, in order of first appearance.
    let mut order: Vec<RingId> = Vec::new();
    for d in capture.iter().chain(&ours) {
        if !order.contains(&d.ring) {
            order.push(d.ring);
        }
    }
    let rings = order
        .into_iter()
        .map(|ring| {
            let c = capture.iter().find(|d| d.ring == ring).cloned();
            let o = ours.iter().find(|d| d.ring == ring).cloned();
            let cc = capture_commit.get(&ring).cloned();
            let oc = ours_commit.get(&ring).cloned();
            let mut differences = Vec::new();
            match (&c, &o) {
                (Some(_), None) => differences.push("ring not installed by ours".to_string()),
                (None, Some(_)) => {
                    differences.push("ring not installed by node in capture".to_string())
                }
                (Some(c), Some(o)) if c.members != o.members => {
                    differences.push(format!("members {:?} vs {:?}", c.members, o.members))
                }
                _ => {}
            }
            match (&cc, &oc) {
                (Some(cc), None) => differences.push(format!(
                    "commit token of frame {} not created by ours",
                    cc.frame
                )),
                (Some(cc), Some(oc)) if cc.members != oc.members => differences.push(format!(
                    "commit token members {:?} (frame {}) vs {:?} (after frame {})",
                    cc.members, cc.frame, oc.members, oc.frame
                )),
                _ => {}
            }
            Comparison {
                capture: c,
                ours: o,
                capture_commit: cc,
                ours_commit: oc,
                differences,
            }
        })
        .collect();
    Ok(Report {
        node,
        seed,
        start_frame: Some(after[0].frame),
        fed,
        cut_off,
        unreachable,
        foreign,
        rings,
        refused,
    })
}

/// Forms the seed ring with one engine per seed member (N's config with each member's
/// nodeid and address), ring seqs chosen so that the ring formed has the seed's id; returns
/// N's engine, operational in it, and the instant the replay continues from.
fn bootstrap(
    story: &Story,
    seed: &Decision,
    cfg: &Config,
) -> Result<(Engine, Instant), ReplayError> {
    let gen = cfg.generation;
    let node = cfg.nodeid;
    let mut start_seq = seed.ring.seq.saturating_sub(8);
    let mut last = None;
    for _ in 0..4 {
        let base = Instant::now();
        let mut engines: Vec<Engine> = Vec::new();
        for &m in &seed.members {
            let mut c = cfg.clone();
            c.nodeid = m;
            c.ring_seq_start = start_seq;
            if gen != Generation::G3 {
                c.address = Some(node_address(story, m).ok_or(ReplayError::NoAddress(m))?);
            }
            engines.push(Engine::new(c, base));
        }
        let mut now = base;
        let end = base + Duration::from_secs(120);
        let mut queue: std::collections::VecDeque<(usize, Vec<u8>)> = Default::default();
        let mut formed: Option<RingId> = None;
        let me = seed.members.iter().position(|&m| m == node).unwrap_or(0);
        while now < end {
            for (i, e) in engines.iter_mut().enumerate() {
                while let Some(t) = e.poll_transmit() {
                    match t.dest {
                        totem::engine::Dest::All => {
                            for j in 0..seed.members.len() {
                                if j != i {
                                    queue.push_back((j, t.bytes.clone()));
                                }
                            }
                        }
                        totem::engine::Dest::Node(n) => {
                            if let Some(j) = seed.members.iter().position(|&m| m == n) {
                                queue.push_back((j, t.bytes));
                            }
                        }
                    }
                }
                while let Some(ev) = e.poll_event() {
                    if let Event::Config {
                        kind: ConfigKind::Regular,
                        ring_id,
                        members,
                        ..
                    } = ev
                    {
                        if i == me && members == seed.members {
                            formed = Some(ring_id);
                        }
                    }
                }
            }
            if formed.is_some() && engines[me].state() == totem::engine::State::Operational {
                break;
            }
            if let Some((j, bytes)) = queue.pop_front() {
                engines[j].handle_datagram(now, &bytes);
                continue;
            }
            let Some(next) = engines.iter().filter_map(Engine::poll_timeout).min() else {
                break;
            };
            now = next.max(now);
            for e in &mut engines {
                e.handle_timeout(now);
            }
        }
        match formed {
            Some(r) if r == seed.ring => {
                let e = engines.swap_remove(me);
                return Ok((e, now + Duration::from_millis(1)));
            }
            Some(r) => {
                // Shift the starting seqs by the difference and form again.
                start_seq = (start_seq + seed.ring.seq).saturating_sub(r.seq);
                last = Some(r);
            }
            None => break,
        }
    }
    Err(ReplayError::Seed(seed.ring, last))
}

/// Replays `story` (read from `file`, for the sibling corosync.conf and timeline) with our
/// engine as `node`.
pub fn replay(file: Option<&Path>, story: &Story, node: u32) -> Result<Report, ReplayError> {
    let cfg = config_for(file, story, node)?;
    let delivery = Delivery::for_node(file, story, node);
    replay_with(story, node, |e| e, cfg, &delivery)
}

/// Per-node reports of every node in the capture.
pub fn replay_all(
    file: Option<&Path>,
    story: &Story,
) -> BTreeMap<u32, Result<Report, ReplayError>> {
    story
        .nodes()
        .into_iter()
        .map(|n| (n, replay(file, story, n)))
        .collect()
}
