//! Extended Virtual Synchrony checker over a simulation's recorded events.
//!
//! Each node incarnation ("life") delivers a sequence of configurations and messages. A
//! configuration is identified by its ring id (regular) or by the pair (previous regular
//! ring, new ring) (transitional): the lives that move from one ring to the next together
//! share it. The checks are the EVS properties of Moser et al. as Totem provides them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use totem_wire::RingId;

use super::record::{msg_id, Log, MsgId};
use crate::engine::{ConfigKind, Event, Guarantee};

/// A configuration as the checker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfKey {
    /// Regular configuration of a ring: (rep nodeid, seq).
    Regular(u32, u64),
    /// Transitional configuration from the first ring into the second, (rep, seq) each.
    Transitional((u32, u64), (u32, u64)),
}

fn rk(r: &RingId) -> (u32, u64) {
    (r.rep_nodeid(), r.seq)
}

/// One configuration as seen by one life: its members and what it delivered there.
#[derive(Debug, Clone)]
struct Segment {
    key: ConfKey,
    members: Vec<u32>,
    delivered: Vec<(MsgId, Duration, Guarantee)>,
}

fn segments(events: &[(Duration, Event)], life: usize, v: &mut Vec<String>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut last_regular: Option<(u32, u64)> = None;
    for (t, ev) in events {
        match ev {
            Event::Config {
                kind,
                ring_id,
                members,
                ..
            } => {
                let key = match kind {
                    ConfigKind::Regular => {
                        last_regular = Some(rk(ring_id));
                        ConfKey::Regular(ring_id.rep_nodeid(), ring_id.seq)
                    }
                    ConfigKind::Transitional => {
                        // The first transitional configuration of a life comes from its
                        // private start-up "ring"; name it by the life.
                        let from = last_regular.unwrap_or((u32::MAX, life as u64));
                        ConfKey::Transitional(from, rk(ring_id))
                    }
                };
                let mut m = members.clone();
                m.sort_unstable();
                out.push(Segment {
                    key,
                    members: m,
                    delivered: Vec::new(),
                });
            }
            Event::Deliver {
                payload, guarantee, ..
            } => match (msg_id(payload), out.last_mut()) {
                (Some(id), Some(seg)) => seg.delivered.push((id, *t, *guarantee)),
                (None, _) => v.push(format!("life {life}: delivered a payload without an id")),
                (_, None) => v.push(format!("life {life}: delivered before any configuration")),
            },
        }
    }
    out
}

/// A life and the set of messages it delivered in one configuration.
type LifeSet = (usize, BTreeSet<MsgId>);

/// Facts about the end of a run that the liveness checks need.
#[derive(Debug, Clone, Default)]
pub struct Ending {
    /// When the network was healed and every node restarted.
    pub heal_at: Duration,
    /// Deadline for one ring of every live node after the heal.
    pub bound: Duration,
    /// When the simulator first saw every live node in one operational ring.
    pub converged_at: Option<Duration>,
    /// Messages each live node sent after convergence.
    pub probes: Vec<MsgId>,
}

/// Checks every EVS property over `log`; returns one line per violation.
pub fn check(log: &Log, ending: Option<&Ending>) -> Vec<String> {
    let mut v = Vec::new();
    for u in &log.unparseable {
        v.push(format!("unparseable datagram: {u}"));
    }
    let segs: Vec<Vec<Segment>> = log
        .lives
        .iter()
        .enumerate()
        .map(|(i, l)| segments(&l.events, i, &mut v))
        .collect();

    // No invented messages, no duplicates, right sender.
    for (li, life) in log.lives.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for (_, ev) in &life.events {
            if let Event::Deliver {
                sender, payload, ..
            } = ev
            {
                let Some(id) = msg_id(payload) else { continue };
                match log.submitted.get(&id) {
                    None => v.push(format!(
                        "life {li} (node {}): delivered invented message {id}",
                        life.nodeid
                    )),
                    Some(s) if s.sender != *sender => v.push(format!(
                        "life {li}: message {id} delivered as from {sender}, sent by {}",
                        s.sender
                    )),
                    _ => {}
                }
                if !seen.insert(id) {
                    v.push(format!(
                        "life {li} (node {}): message {id} delivered twice",
                        life.nodeid
                    ));
                }
            }
        }
    }

    // Same order of common messages within a configuration.
    let mut by_conf: BTreeMap<ConfKey, Vec<(usize, &Segment)>> = BTreeMap::new();
    for (li, ss) in segs.iter().enumerate() {
        for s in ss {
            by_conf.entry(s.key).or_default().push((li, s));
        }
    }
    for (key, lives) in &by_conf {
        for a in 0..lives.len() {
            for b in a + 1..lives.len() {
                let (la, sa) = lives[a];
                let (lb, sb) = lives[b];
                let in_b: BTreeSet<MsgId> = sb.delivered.iter().map(|d| d.0).collect();
                let in_a: BTreeSet<MsgId> = sa.delivered.iter().map(|d| d.0).collect();
                let oa: Vec<MsgId> = sa
                    .delivered
                    .iter()
                    .map(|d| d.0)
                    .filter(|m| in_b.contains(m))
                    .collect();
                let ob: Vec<MsgId> = sb
                    .delivered
                    .iter()
                    .map(|d| d.0)
                    .filter(|m| in_a.contains(m))
                    .collect();
                if oa != ob {
                    v.push(format!(
                        "{key:?}: lives {la} and {lb} deliver common messages in different orders"
                    ));
                }
                if sa.members != sb.members {
                    v.push(format!(
                        "{key:?}: lives {la} and {lb} disagree on members {:?} vs {:?}",
                        sa.members, sb.members
                    ));
                }
            }
        }
    }

    // Virtual synchrony: lives that go from configuration C to C' together delivered the
    // same set in C.
    let mut moves: BTreeMap<(ConfKey, ConfKey), Vec<LifeSet>> = BTreeMap::new();
    for (li, ss) in segs.iter().enumerate() {
        for w in ss.windows(2) {
            let set: BTreeSet<MsgId> = w[0].delivered.iter().map(|d| d.0).collect();
            moves
                .entry((w[0].key, w[1].key))
                .or_default()
                .push((li, set));
        }
    }
    for ((from, to), lives) in &moves {
        for w in lives.windows(2) {
            if w[0].1 != w[1].1 {
                let only_a: Vec<_> = w[0].1.difference(&w[1].1).take(5).collect();
                let only_b: Vec<_> = w[1].1.difference(&w[0].1).take(5).collect();
                v.push(format!(
                    "virtual synchrony: lives {} and {} moved {from:?} -> {to:?} with different sets (only first: {only_a:?}, only second: {only_b:?})",
                    w[0].0, w[1].0
                ));
            }
        }
    }

    // Safe delivery in a regular configuration: every member had received the message.
    for (li, ss) in segs.iter().enumerate() {
        for s in ss {
            let ConfKey::Regular(..) = s.key else {
                continue;
            };
            let member_lives: Vec<usize> = by_conf
                .get(&s.key)
                .map(|ls| ls.iter().map(|(l, _)| *l).collect())
                .unwrap_or_default();
            for (id, t, g) in &s.delivered {
                if *g != Guarantee::Safe {
                    continue;
                }
                for ml in &member_lives {
                    let got = log.lives[*ml].received.get(id);
                    if got.is_none_or(|r| r > t) {
                        v.push(format!(
                            "safe: life {li} delivered {id} in {:?} at {t:?} before member life {ml} (node {}) had it",
                            s.key, log.lives[*ml].nodeid
                        ));
                    }
                }
            }
        }
    }

    // Self-delivery for lives alive at the end.
    let mut delivered_by: Vec<BTreeSet<MsgId>> = vec![BTreeSet::new(); log.lives.len()];
    for (li, ss) in segs.iter().enumerate() {
        for s in ss {
            delivered_by[li].extend(s.delivered.iter().map(|d| d.0));
        }
    }
    for (id, s) in &log.submitted {
        if log.lives[s.life].ended.is_none() && !delivered_by[s.life].contains(id) {
            v.push(format!(
                "self-delivery: node {} never delivered its message {id}",
                s.sender
            ));
        }
    }

    if let Some(end) = ending {
        check_ending(log, &segs, &delivered_by, end, &mut v);
    }
    v
}

fn check_ending(
    log: &Log,
    segs: &[Vec<Segment>],
    delivered_by: &[BTreeSet<MsgId>],
    end: &Ending,
    v: &mut Vec<String>,
) {
    let live: Vec<usize> = (0..log.lives.len())
        .filter(|l| log.lives[*l].ended.is_none())
        .collect();
    match end.converged_at {
        None => v.push(format!(
            "liveness: no single ring of all live nodes within {:?} of the heal",
            end.bound
        )),
        Some(t) if t > end.heal_at + end.bound => v.push(format!(
            "liveness: ring formed {:?} after the heal, bound {:?}",
            t - end.heal_at,
            end.bound
        )),
        _ => {}
    }
    let mut want: Vec<u32> = live.iter().map(|l| log.lives[*l].nodeid).collect();
    want.sort_unstable();
    let finals: Vec<Option<&Segment>> = live.iter().map(|l| segs[*l].last()).collect();
    let first = finals.first().copied().flatten();
    for (l, f) in live.iter().zip(&finals) {
        match f {
            Some(s) if matches!(s.key, ConfKey::Regular(..)) && s.members == want => {
                if let Some(f0) = first {
                    if f0.key != s.key {
                        v.push(format!("liveness: life {l} ends in {:?}, others in {:?}", s.key, f0.key));
                    }
                }
            }
            other => v.push(format!(
                "liveness: life {l} (node {}) does not end in a regular configuration of {want:?}: {:?}",
                log.lives[*l].nodeid,
                other.map(|s| (s.key, s.members.clone()))
            )),
        }
    }
    // Every message delivered in the final ring by anyone is delivered by all of it.
    let union: BTreeSet<MsgId> = finals
        .iter()
        .flatten()
        .flat_map(|s| s.delivered.iter().map(|d| d.0))
        .collect();
    for (l, f) in live.iter().zip(&finals) {
        if let Some(s) = f {
            let mine: BTreeSet<MsgId> = s.delivered.iter().map(|d| d.0).collect();
            let missing: Vec<_> = union.difference(&mine).take(5).collect();
            if !missing.is_empty() {
                v.push(format!(
                    "liveness: life {l} misses final-ring messages {missing:?}"
                ));
            }
        }
    }
    for p in &end.probes {
        for l in &live {
            if !delivered_by[*l].contains(p) {
                v.push(format!(
                    "liveness: probe {p} not delivered by node {}",
                    log.lives[*l].nodeid
                ));
            }
        }
    }
}
