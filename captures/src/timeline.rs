//! What a capture says about membership and ordering: every ring formed, the events around
//! it (joins, leaves, merge detects, token losses, partitions, merges), token rotation, the
//! retransmit lists and flow control, and the Extended Virtual Synchrony checks that can be
//! made from the wire alone.
//!
//! Definitions (all from the wire; times in seconds since the capture's first Totem message):
//! * A ring is *formed* at its first ORF token. Its members are those of the last commit token
//!   for its ring id; without one (the capture began inside the ring) the nodes that sent its
//!   tokens, and the ring is marked `pre_existing`.
//! * Formation time: from the first join sent by one of its members after the previous ring
//!   of that member formed, to the ring's first ORF token.
//! * Token rotation: per ring, the time between successive ORF tokens sent by the same node
//!   (each distinct token_seq counted once, so retransmitted or duplicated tokens do not count).
//! * Token loss: a gap of at least `token_gap` between a ring's last token and the next join
//!   from one of its members (the members gave up on the token and gathered). The same gap
//!   between two tokens of one ring is a *stall* (the token came back; no new membership).
//! * Merge: a ring whose commit token names two or more old rings that were operational in the
//!   capture (they sent tokens or merge detects). Partition: two rings with disjoint members
//!   whose token spans overlap.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{json, Value};
use totem_wire::{Generation, RingId, SrpMessage};

use crate::story::{Msg, Story};

/// One ring seen in the capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Ring {
    /// Its ring id.
    pub id: RingId,
    /// Members in ring order.
    pub members: Vec<u32>,
    /// No commit token for it in the capture: it existed when the capture began.
    pub pre_existing: bool,
    /// Frame of the last commit token for it, if any.
    pub commit_frame: Option<u64>,
    /// Frame of its first ORF token (the ring is operational).
    pub first_frame: u64,
    /// Time of its first ORF token.
    pub formed_at: f64,
    /// Frame and time of its last ORF token.
    pub last_frame: u64,
    /// Time of its last ORF token.
    pub last_at: f64,
    /// Seconds from the first join of this gather to the first token, when seen.
    pub formation: Option<f64>,
    /// Distinct tokens (by sender and token_seq).
    pub tokens: u64,
    /// Token rotations: (time of the token, rotation in seconds), see the module docs.
    pub rotations: Vec<(f64, f64)>,
    /// Highest message seq of the ring (tokens and mcasts).
    pub high_seq: u32,
    /// Token aru on its last token.
    pub final_aru: u32,
    /// Largest token backlog.
    pub max_backlog: u32,
    /// Largest token fcc.
    pub max_fcc: u32,
    /// Tokens with a non-zero backlog.
    pub backlogged_tokens: u64,
    /// The commit token's entries: (member, old ring, aru, high_delivered).
    pub old: Vec<(u32, RingId, u32, u32)>,
}

impl Ring {
    /// Median and 99th percentile rotation in milliseconds.
    pub fn rotation_ms(&self) -> Option<(f64, f64)> {
        percentiles(&self.rotations.iter().map(|r| r.1).collect::<Vec<_>>())
            .map(|(a, b)| (a * 1e3, b * 1e3))
    }
}

/// Median and 99th percentile of `v` (nearest rank); `None` when empty.
pub fn percentiles(v: &[f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let i = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
        s[i - 1]
    };
    Some((rank(0.50), rank(0.99)))
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Happening {
    /// A node's join with a new (proc, failed) view.
    Join {
        /// Sender.
        node: u32,
        /// Its proc list.
        proc_list: Vec<u32>,
        /// Its failed list.
        failed: Vec<u32>,
    },
    /// A graceful leave.
    Leave {
        /// Who left.
        node: u32,
    },
    /// The first merge detect of a representative for a ring.
    MergeDetect {
        /// Sender.
        node: u32,
        /// Its ring.
        ring: RingId,
    },
    /// A ring formed (index into the rings).
    Formed {
        /// Ring index.
        ring: usize,
        /// Members that were in none of its members' old rings.
        joined: Vec<u32>,
        /// Members of its members' old rings that are not in it.
        lost: Vec<u32>,
    },
    /// Tokens stopped for `gap` seconds.
    TokenLoss {
        /// Ring index.
        ring: usize,
        /// Length of the gap.
        gap: f64,
    },
    /// Tokens stopped for `gap` seconds and then went on in the same ring (a retransmitted
    /// or held token, not a loss: no new membership followed).
    TokenStall {
        /// Ring index.
        ring: usize,
        /// Length of the gap.
        gap: f64,
    },
    /// Two rings with disjoint members ran at the same time.
    Partition {
        /// The two ring indices.
        rings: (usize, usize),
    },
    /// A merge showed that two rings had run apart (one of them never visible on the wire).
    PartitionSeen {
        /// The ring that merged them.
        ring: usize,
        /// The two old rings.
        rings: (RingId, RingId),
    },
    /// A ring formed from two or more operational rings.
    Merge {
        /// Ring index.
        ring: usize,
        /// The old rings.
        from: Vec<RingId>,
    },
}

/// A timestamped happening.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Seconds since the capture's first message.
    pub at: f64,
    /// Frame number.
    pub frame: u64,
    /// What.
    pub what: Happening,
}

/// A retransmit request: an rtr_list entry, credited to the node whose token added it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtr {
    /// Ring of the token.
    pub ring: RingId,
    /// The missing seq.
    pub seq: u32,
    /// The node that put it on the list.
    pub asker: u32,
    /// Frame of that token.
    pub frame: u64,
}

/// One EVS check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Check name (`seq-coverage`, `retransmit-consistency`, `recovery`, `equal-delivery`).
    pub name: &'static str,
    /// Whether it held.
    pub passed: bool,
    /// What was looked at or what failed (frame numbers included).
    pub detail: String,
}

/// The analysis of one capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Wire generation.
    pub generation: Generation,
    /// Nodes that sent something.
    pub nodes: Vec<u32>,
    /// Rings in order of formation.
    pub rings: Vec<Ring>,
    /// Events in time order.
    pub events: Vec<Event>,
    /// Retransmit requests.
    pub rtr: Vec<Rtr>,
    /// EVS checks.
    pub checks: Vec<Check>,
    /// Messages per type name.
    pub counts: BTreeMap<&'static str, u64>,
    /// Length of the capture in seconds.
    pub duration: f64,
    /// Token gap counted as a loss, in seconds.
    pub token_gap: f64,
}

/// Tunables of the analysis.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The shortest gap in token circulation counted as a token loss.
    pub token_gap: Duration,
}

impl Options {
    /// Half of corosync's default token timeout for `generation` with `nodes` nodes
    /// (1000 ms in 1.x/2.x; 3000 + 650 per node above two in 3.x).
    pub fn defaults(generation: Generation, nodes: usize) -> Options {
        let token = match generation {
            Generation::G3 => 3000 + 650 * nodes.saturating_sub(2) as u64,
            _ => 1000,
        };
        Options {
            token_gap: Duration::from_millis(token / 2),
        }
    }
}

fn sorted(v: impl IntoIterator<Item = u32>) -> Vec<u32> {
    let s: BTreeSet<u32> = v.into_iter().collect();
    s.into_iter().collect()
}

impl Timeline {
    /// Analyses a story.
    pub fn build(story: &Story, opts: Options) -> Timeline {
        let t0 = story.start();
        let rel = |m: &Msg| (m.time.saturating_sub(t0)).as_secs_f64();
        let gap = opts.token_gap.as_secs_f64();
        let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut rings: Vec<Ring> = Vec::new();
        let mut index: HashMap<RingId, usize> = HashMap::new();
        // Last commit token per ring id: (frame, members, old entries).
        type Commit = (u64, Vec<u32>, Vec<(u32, RingId, u32, u32)>);
        let mut commits: HashMap<RingId, Commit> = HashMap::new();
        let mut token_senders: HashMap<RingId, BTreeSet<u32>> = HashMap::new();
        let mut seen_tokens: BTreeSet<(RingId2, u32, u32)> = BTreeSet::new();
        let mut last_by_sender: HashMap<(RingId, u32), f64> = HashMap::new();
        let mut last_token: HashMap<usize, (f64, u64)> = HashMap::new();
        let mut operational: BTreeSet<RingId2> = BTreeSet::new();
        let mut rtr_seen: BTreeSet<(RingId2, u32)> = BTreeSet::new();
        let mut rtr = Vec::new();
        let mut events = Vec::new();
        let mut last_join: HashMap<u32, (Vec<u32>, Vec<u32>)> = HashMap::new();
        let mut joins: Vec<(f64, u64, u32)> = Vec::new();
        let mut left: BTreeSet<(u32, usize)> = BTreeSet::new();
        let mut merge_seen: BTreeSet<(u32, RingId2)> = BTreeSet::new();
        // mcasts per ring: seq -> (frame, system_from, payload) of the first copy.
        let mut mcasts: Mcasts = HashMap::new();
        let mut conflicts: Vec<String> = Vec::new();
        // Encapsulated (recovery) mcasts: new ring -> old ring -> inner seqs.
        let mut recovered: HashMap<RingId, HashMap<RingId, BTreeSet<u32>>> = HashMap::new();
        let mut encap_outer: HashMap<RingId, u32> = HashMap::new();
        // Tokens per ring: (frame, aru, seq) in order.
        let mut aru_track: HashMap<RingId, Vec<(u64, u32, u32)>> = HashMap::new();

        for m in &story.msgs {
            *counts.entry(m.message.msg_type().name()).or_default() += 1;
            let at = rel(m);
            match &m.message {
                SrpMessage::OrfToken(t) => {
                    let rid = t.ring_id;
                    let sender = t.header.nodeid;
                    let i = *index.entry(rid).or_insert_with(|| {
                        rings.push(Ring {
                            id: rid,
                            members: Vec::new(),
                            pre_existing: false,
                            commit_frame: None,
                            first_frame: m.frame,
                            formed_at: at,
                            last_frame: m.frame,
                            last_at: at,
                            formation: None,
                            tokens: 0,
                            rotations: Vec::new(),
                            high_seq: 0,
                            final_aru: 0,
                            max_backlog: 0,
                            max_fcc: 0,
                            backlogged_tokens: 0,
                            old: Vec::new(),
                        });
                        rings.len() - 1
                    });
                    operational.insert(RingId2(rid));
                    token_senders.entry(rid).or_default().insert(sender);
                    if !seen_tokens.insert((RingId2(rid), sender, t.token_seq)) {
                        continue; // a retransmitted or duplicated token
                    }
                    let r = &mut rings[i];
                    if let Some((prev, _)) = last_token.get(&i) {
                        if at - prev >= gap {
                            events.push(Event {
                                at: *prev,
                                frame: r.last_frame,
                                what: Happening::TokenStall {
                                    ring: i,
                                    gap: at - prev,
                                },
                            });
                        }
                    }
                    last_token.insert(i, (at, m.frame));
                    if let Some(p) = last_by_sender.insert((rid, sender), at) {
                        r.rotations.push((at, at - p));
                    }
                    r.tokens += 1;
                    r.last_frame = m.frame;
                    r.last_at = at;
                    r.high_seq = r.high_seq.max(t.seq);
                    r.final_aru = t.aru;
                    r.max_backlog = r.max_backlog.max(t.backlog);
                    r.max_fcc = r.max_fcc.max(t.fcc);
                    if t.backlog > 0 {
                        r.backlogged_tokens += 1;
                    }
                    aru_track
                        .entry(rid)
                        .or_default()
                        .push((m.frame, t.aru, t.seq));
                    for item in &t.rtr_list {
                        if rtr_seen.insert((RingId2(item.ring_id), item.seq)) {
                            rtr.push(Rtr {
                                ring: item.ring_id,
                                seq: item.seq,
                                asker: sender,
                                frame: m.frame,
                            });
                        }
                    }
                }
                SrpMessage::CommitToken(c) => {
                    let members: Vec<u32> = c.addr.iter().map(|a| a.nodeid()).collect();
                    let old = c
                        .addr
                        .iter()
                        .zip(&c.memb_list)
                        .map(|(a, e)| (a.nodeid(), e.ring_id, e.aru, e.high_delivered))
                        .collect();
                    commits.insert(c.ring_id, (m.frame, members, old));
                }
                SrpMessage::MembJoin(j) => {
                    let node = m.sender();
                    if j.is_leave() {
                        // udpu sends one copy per member: count a node's leave once per ring.
                        if !left.insert((node, rings.len())) {
                            continue;
                        }
                        events.push(Event {
                            at,
                            frame: m.frame,
                            what: Happening::Leave { node },
                        });
                        continue;
                    }
                    joins.push((at, m.frame, node));
                    let view = (
                        sorted(j.proc_list.iter().map(|a| a.nodeid())),
                        sorted(j.failed_list.iter().map(|a| a.nodeid())),
                    );
                    if last_join.get(&node) != Some(&view) {
                        last_join.insert(node, view.clone());
                        events.push(Event {
                            at,
                            frame: m.frame,
                            what: Happening::Join {
                                node,
                                proc_list: view.0,
                                failed: view.1,
                            },
                        });
                    }
                }
                SrpMessage::MergeDetect(d) => {
                    let node = d.system_from.nodeid();
                    operational.insert(RingId2(d.ring_id));
                    if merge_seen.insert((node, RingId2(d.ring_id))) {
                        events.push(Event {
                            at,
                            frame: m.frame,
                            what: Happening::MergeDetect {
                                node,
                                ring: d.ring_id,
                            },
                        });
                    }
                }
                SrpMessage::Mcast(x) => {
                    let ring = mcasts.entry(x.ring_id).or_default();
                    let from = x.system_from.nodeid();
                    match ring.get(&x.seq) {
                        None => {
                            ring.insert(x.seq, (m.frame, from, x.payload.clone()));
                        }
                        Some((f, s, p)) if *s != from || *p != x.payload => conflicts.push(
                            format!(
                                "ring {} seq {}: frame {} differs from frame {f} (sender {from} vs {s})",
                                x.ring_id, x.seq, m.frame
                            ),
                        ),
                        Some(_) => {}
                    }
                    if let Some(Ok(inner)) = x.inner() {
                        recovered
                            .entry(x.ring_id)
                            .or_default()
                            .entry(inner.ring_id)
                            .or_default()
                            .insert(inner.seq);
                        let e = encap_outer.entry(x.ring_id).or_default();
                        *e = (*e).max(x.seq);
                    }
                }
                SrpMessage::TokenHoldCancel(_) | SrpMessage::RingTest(_) => {}
            }
        }

        // Members, old rings, pre-existing rings.
        for r in &mut rings {
            match commits.get(&r.id) {
                Some((frame, members, old)) => {
                    r.members = members.clone();
                    r.commit_frame = Some(*frame);
                    r.old = old.clone();
                }
                None => {
                    r.members = token_senders
                        .get(&r.id)
                        .map(|s| s.iter().copied().collect())
                        .unwrap_or_default();
                    r.pre_existing = true;
                }
            }
            if let Some(seqs) = mcasts.get(&r.id) {
                if let Some((s, _)) = seqs.last_key_value() {
                    r.high_seq = r.high_seq.max(*s);
                }
            }
        }

        // Formation times, formed/merge events, token losses at a ring's end.
        let mut hidden_partitions: Vec<(usize, RingId, RingId)> = Vec::new();
        for i in 0..rings.len() {
            let r = &rings[i];
            let members: BTreeSet<u32> = r.members.iter().copied().collect();
            // The previous ring of any member: the latest ring formed before this one sharing one.
            let since = rings[..i]
                .iter()
                .filter(|p| p.members.iter().any(|n| members.contains(n)))
                .map(|p| p.formed_at)
                .fold(f64::NEG_INFINITY, f64::max);
            let first_join = joins
                .iter()
                .find(|(at, _, n)| *at > since && *at <= r.formed_at && members.contains(n))
                .map(|(at, _, _)| *at);
            let formation = first_join.map(|j| r.formed_at - j);
            let mut old_members: BTreeSet<u32> = BTreeSet::new();
            let mut old_rings: Vec<RingId> = Vec::new();
            for (_, old, _, _) in &r.old {
                if !old_rings.contains(old) {
                    old_rings.push(*old);
                }
                if let Some(&j) = index.get(old) {
                    old_members.extend(rings[j].members.iter().copied());
                }
            }
            // Joined: in none of the capture's earlier rings. Lost: in one of its members'
            // old rings of the capture but not in it.
            let (joined, lost) = if r.pre_existing {
                (Vec::new(), Vec::new())
            } else {
                let earlier: BTreeSet<u32> = rings[..i]
                    .iter()
                    .flat_map(|p| p.members.iter().copied())
                    .collect();
                (
                    sorted(members.difference(&earlier).copied()),
                    sorted(old_members.difference(&members).copied()),
                )
            };
            // An old ring was operational if it sent tokens or merge detects, or if a member
            // was in an earlier ring of the capture and its old ring is newer (it formed a
            // ring we could not see: a partition).
            let op_old: Vec<RingId> = old_rings
                .iter()
                .filter(|o| {
                    operational.contains(&RingId2(**o))
                        || r.old.iter().any(|(n, old, _, _)| {
                            old == *o
                                && rings[..i]
                                    .iter()
                                    .any(|p| p.members.contains(n) && p.id.seq < old.seq)
                        })
                })
                .copied()
                .collect();
            events.push(Event {
                at: r.formed_at,
                frame: r.first_frame,
                what: Happening::Formed {
                    ring: i,
                    joined,
                    lost,
                },
            });
            if op_old.len() >= 2 {
                for (a, oa) in op_old.iter().enumerate() {
                    for ob in &op_old[a + 1..] {
                        hidden_partitions.push((i, *oa, *ob));
                    }
                }
                events.push(Event {
                    at: r.formed_at,
                    frame: r.first_frame,
                    what: Happening::Merge {
                        ring: i,
                        from: op_old,
                    },
                });
            }
            // Token loss at the ring's end: the next join from a member came `gap` later.
            let (last_at, last_frame) = (r.last_at, r.last_frame);
            if let Some((at, _, _)) = joins
                .iter()
                .find(|(at, _, n)| *at > last_at && members.contains(n))
            {
                let later_ring_first = rings
                    .iter()
                    .filter(|q| q.formed_at > last_at)
                    .map(|q| q.formed_at)
                    .fold(f64::INFINITY, f64::min);
                if at - last_at >= gap && *at <= later_ring_first {
                    events.push(Event {
                        at: last_at,
                        frame: last_frame,
                        what: Happening::TokenLoss {
                            ring: i,
                            gap: at - last_at,
                        },
                    });
                }
            }
            rings[i].formation = formation;
        }
        // Partitions: disjoint members, overlapping spans; or two operational rings merged
        // while at least one of them was never visible (a singleton's token stays local).
        for (i, oa, ob) in hidden_partitions {
            let visible = |o: &RingId| index.contains_key(o);
            if visible(&oa) && visible(&ob) {
                continue; // counted below from the spans
            }
            let r = &rings[i];
            // Only a split: members of both old rings were together in an earlier ring.
            let side = |o: RingId| -> Vec<u32> {
                r.old.iter().filter(|e| e.1 == o).map(|e| e.0).collect()
            };
            let (sa, sb) = (side(oa), side(ob));
            let split = rings[..i].iter().any(|p| {
                sa.iter().any(|n| p.members.contains(n)) && sb.iter().any(|n| p.members.contains(n))
            });
            if !split {
                continue;
            }
            let at = r
                .old
                .iter()
                .filter_map(|(_, o, _, _)| index.get(o).map(|&j| rings[j].formed_at))
                .fold(r.formed_at, f64::min);
            events.push(Event {
                at,
                frame: r.commit_frame.unwrap_or(r.first_frame),
                what: Happening::PartitionSeen {
                    ring: i,
                    rings: (oa, ob),
                },
            });
        }
        for i in 0..rings.len() {
            for j in i + 1..rings.len() {
                let (a, b) = (&rings[i], &rings[j]);
                let disjoint = a.members.iter().all(|n| !b.members.contains(n));
                let overlap = a.formed_at <= b.last_at && b.formed_at <= a.last_at;
                if disjoint && overlap {
                    events.push(Event {
                        at: a.formed_at.max(b.formed_at),
                        frame: if a.formed_at > b.formed_at {
                            a.first_frame
                        } else {
                            b.first_frame
                        },
                        what: Happening::Partition { rings: (i, j) },
                    });
                }
            }
        }
        events.sort_by(|a, b| a.at.total_cmp(&b.at).then(a.frame.cmp(&b.frame)));

        let checks = evs_checks(
            &rings,
            &mcasts,
            &conflicts,
            &recovered,
            &encap_outer,
            &aru_track,
        );
        let duration = story
            .msgs
            .last()
            .map(|m| m.time.saturating_sub(t0).as_secs_f64())
            .unwrap_or(0.0);
        Timeline {
            generation: story.generation(),
            nodes: story.nodes().into_iter().collect(),
            rings,
            events,
            rtr,
            checks,
            counts,
            duration,
            token_gap: gap,
        }
    }

    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// Rings formed inside the capture (not pre-existing).
    pub fn formed(&self) -> impl Iterator<Item = &Ring> {
        self.rings.iter().filter(|r| !r.pre_existing)
    }

    /// Number of events of one kind (`join`, `leave`, `merge_detect`, `token_loss`,
    /// `partition`, `merge`).
    pub fn count(&self, kind: &str) -> usize {
        self.events.iter().filter(|e| e.what.kind() == kind).count()
    }

    /// All rtr entries asked for per node.
    pub fn rtr_by_node(&self) -> BTreeMap<u32, u64> {
        let mut m = BTreeMap::new();
        for r in &self.rtr {
            *m.entry(r.asker).or_default() += 1;
        }
        m
    }

    /// Token rotation percentiles over all rings, in milliseconds.
    pub fn rotation_ms(&self) -> Option<(f64, f64)> {
        let all: Vec<f64> = self
            .rings
            .iter()
            .flat_map(|r| r.rotations.iter().map(|x| x.1))
            .collect();
        percentiles(&all).map(|(a, b)| (a * 1e3, b * 1e3))
    }

    /// The text report.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "generation {}  nodes {:?}  {:.3} s  messages {}",
            self.generation,
            self.nodes,
            self.duration,
            self.counts
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let _ = writeln!(s, "rings:");
        for (i, r) in self.rings.iter().enumerate() {
            let rot = r
                .rotation_ms()
                .map(|(a, b)| format!("rotation p50 {a:.1} ms p99 {b:.1} ms"))
                .unwrap_or_else(|| "rotation -".into());
            let _ = writeln!(
                s,
                "  #{} ring {} members {:?}{} at {:.3} s (frame {}){}  tokens {}  {rot}  seq {} aru {}  backlog max {} fcc max {}",
                i + 1,
                r.id,
                r.members,
                if r.pre_existing { " (pre-existing)" } else { "" },
                r.formed_at,
                r.first_frame,
                r.formation
                    .map(|f| format!(", {:.0} ms from first join", f * 1e3))
                    .unwrap_or_default(),
                r.tokens,
                r.high_seq,
                r.final_aru,
                r.max_backlog,
                r.max_fcc
            );
        }
        let _ = writeln!(s, "events:");
        for e in &self.events {
            let _ = writeln!(
                s,
                "  {:9.3} s frame {:6}  {}",
                e.at,
                e.frame,
                e.what.describe(&self.rings)
            );
        }
        let by = self.rtr_by_node();
        let _ = writeln!(
            s,
            "retransmit requests: {}{}",
            self.rtr.len(),
            if by.is_empty() {
                String::new()
            } else {
                format!(
                    " (asked by {})",
                    by.iter()
                        .map(|(n, c)| format!("node {n}: {c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        if let Some((a, b)) = self.rotation_ms() {
            let _ = writeln!(s, "token rotation: p50 {a:.1} ms p99 {b:.1} ms");
        }
        let _ = writeln!(s, "checks:");
        for c in &self.checks {
            let _ = writeln!(
                s,
                "  {} {}: {}",
                if c.passed { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            );
        }
        let _ = writeln!(
            s,
            "verdict: {}  rings={} formed={} token_losses={} partitions={} merges={} leaves={}",
            if self.passed() { "pass" } else { "fail" },
            self.rings.len(),
            self.formed().count(),
            self.count("token_loss"),
            self.count("partition"),
            self.count("merge"),
            self.count("leave"),
        );
        s
    }

    /// The JSON report.
    pub fn json(&self) -> Value {
        let rings: Vec<Value> = self
            .rings
            .iter()
            .map(|r| {
                json!({
                    "ring_id": r.id.to_string(), "rep": r.id.rep_nodeid(), "seq": r.id.seq,
                    "members": r.members, "pre_existing": r.pre_existing,
                    "commit_frame": r.commit_frame, "first_frame": r.first_frame,
                    "formed_at": r.formed_at, "last_frame": r.last_frame, "last_at": r.last_at,
                    "formation_s": r.formation, "tokens": r.tokens,
                    "rotation_ms": r.rotation_ms().map(|(a, b)| json!({"p50": a, "p99": b})),
                    "high_seq": r.high_seq, "final_aru": r.final_aru,
                    "max_backlog": r.max_backlog, "max_fcc": r.max_fcc,
                    "backlogged_tokens": r.backlogged_tokens,
                    "old": r.old.iter().map(|(n, o, aru, hd)| json!({
                        "node": n, "ring_id": o.to_string(), "aru": aru, "high_delivered": hd
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|e| {
                json!({"at": e.at, "frame": e.frame, "kind": e.what.kind(),
                       "text": e.what.describe(&self.rings)})
            })
            .collect();
        json!({
            "generation": self.generation.label(),
            "nodes": self.nodes,
            "duration_s": self.duration,
            "counts": self.counts,
            "rings": rings,
            "events": events,
            "rtr": self.rtr.iter().map(|r| json!({
                "ring_id": r.ring.to_string(), "seq": r.seq, "asker": r.asker, "frame": r.frame
            })).collect::<Vec<_>>(),
            "rtr_by_node": self.rtr_by_node(),
            "rotation_ms": self.rotation_ms().map(|(a, b)| json!({"p50": a, "p99": b})),
            "checks": self.checks.iter().map(|c| json!({
                "name": c.name, "passed": c.passed, "detail": c.detail
            })).collect::<Vec<_>>(),
            "token_losses": self.count("token_loss"),
            "partitions": self.count("partition"),
            "merges": self.count("merge"),
            "leaves": self.count("leave"),
            "verdict": if self.passed() { "pass" } else { "fail" },
        })
    }
}

impl Happening {
    /// Short kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            Happening::Join { .. } => "join",
            Happening::Leave { .. } => "leave",
            Happening::MergeDetect { .. } => "merge_detect",
            Happening::Formed { .. } => "formed",
            Happening::TokenLoss { .. } => "token_loss",
            Happening::TokenStall { .. } => "token_stall",
            Happening::Partition { .. } | Happening::PartitionSeen { .. } => "partition",
            Happening::Merge { .. } => "merge",
        }
    }

    fn describe(&self, rings: &[Ring]) -> String {
        let rid = |i: usize| {
            rings
                .get(i)
                .map(|r| format!("#{} {}", i + 1, r.id))
                .unwrap_or_default()
        };
        match self {
            Happening::Join {
                node,
                proc_list,
                failed,
            } => format!("join from node {node}: proc {proc_list:?} failed {failed:?}"),
            Happening::Leave { node } => format!("leave from node {node}"),
            Happening::MergeDetect { node, ring } => {
                format!("merge detect from node {node} for ring {ring}")
            }
            Happening::Formed { ring, joined, lost } => format!(
                "ring {} formed: members {:?}{}{}",
                rid(*ring),
                rings
                    .get(*ring)
                    .map(|r| r.members.clone())
                    .unwrap_or_default(),
                if joined.is_empty() {
                    String::new()
                } else {
                    format!(" joined {joined:?}")
                },
                if lost.is_empty() {
                    String::new()
                } else {
                    format!(" lost {lost:?}")
                }
            ),
            Happening::TokenStall { ring, gap } => {
                format!(
                    "token stall on ring {}: no token for {:.3} s, then the ring went on",
                    rid(*ring),
                    gap
                )
            }
            Happening::TokenLoss { ring, gap } => {
                format!(
                    "token loss on ring {}: no token for {:.3} s",
                    rid(*ring),
                    gap
                )
            }
            Happening::PartitionSeen {
                ring,
                rings: (a, b),
            } => format!(
                "partition: rings {a} and {b} ran apart (seen when ring {} merged them)",
                rid(*ring)
            ),
            Happening::Partition { rings: (a, b) } => {
                format!("partition: rings {} and {} run at once", rid(*a), rid(*b))
            }
            Happening::Merge { ring, from } => format!(
                "merge: ring {} from {}",
                rid(*ring),
                from.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
        }
    }
}

/// Ring ids are not `Ord`; this orders them by their display form for sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RingId2(RingId);

impl PartialOrd for RingId2 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for RingId2 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0.seq, self.0.rep_nodeid(), self.0.to_string()).cmp(&(
            other.0.seq,
            other.0.rep_nodeid(),
            other.0.to_string(),
        ))
    }
}

fn ranges(v: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            v[i].to_string()
        } else {
            format!("{}-{}", v[i], v[j])
        });
        i = j + 1;
    }
    if out.len() > 8 {
        let n = out.len();
        out.truncate(8);
        out.push(format!("... ({n} runs)"));
    }
    out.join(",")
}

type Mcasts = HashMap<RingId, BTreeMap<u32, (u64, u32, Vec<u8>)>>;

fn evs_checks(
    rings: &[Ring],
    mcasts: &Mcasts,
    conflicts: &[String],
    recovered: &HashMap<RingId, HashMap<RingId, BTreeSet<u32>>>,
    encap_outer: &HashMap<RingId, u32>,
    aru_track: &HashMap<RingId, Vec<(u64, u32, u32)>>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    // 1. Every seq of a ring was on the wire (originals or retransmits).
    let mut missing = Vec::new();
    let mut total = 0usize;
    for r in rings {
        let seqs = mcasts.get(&r.id);
        // A ring that began before the capture is checked from its first message seen.
        let low = if r.pre_existing {
            seqs.and_then(|s| s.keys().next().copied())
                .unwrap_or(r.high_seq.saturating_add(1))
        } else {
            1
        };
        let have = |s: u32| seqs.is_some_and(|m| m.contains_key(&s));
        let holes: Vec<u32> = (low..=r.high_seq).filter(|s| !have(*s)).collect();
        total += seqs.map_or(0, BTreeMap::len);
        if !holes.is_empty() {
            missing.push(format!(
                "ring {}: seqs {} never on the wire (of {low}..={})",
                r.id,
                ranges(&holes),
                r.high_seq
            ));
        }
    }
    checks.push(Check {
        name: "seq-coverage",
        passed: missing.is_empty(),
        detail: if missing.is_empty() {
            format!(
                "{total} messages in {} rings, every seq from each ring's first to its highest seen",
                rings.len()
            )
        } else {
            missing.join("; ")
        },
    });
    // 2. Retransmits carry the same message.
    checks.push(Check {
        name: "retransmit-consistency",
        passed: conflicts.is_empty(),
        detail: if conflicts.is_empty() {
            "every copy of a (ring, seq) has the same sender and payload".into()
        } else {
            conflicts.join("; ")
        },
    });
    // 3. Recovery: the new ring re-sends the old ring's messages above the lowest aru.
    let by_id: HashMap<RingId, &Ring> = rings.iter().map(|r| (r.id, r)).collect();
    let mut notes = Vec::new();
    let mut failed = Vec::new();
    for r in rings.iter().filter(|r| !r.pre_existing) {
        let mut olds: BTreeMap<String, (RingId, u32)> = BTreeMap::new();
        for (_, old, aru, _) in &r.old {
            let e = olds.entry(old.to_string()).or_insert((*old, *aru));
            e.1 = e.1.min(*aru);
        }
        for (old, low_aru) in olds.values() {
            // The old ring's highest seq: its mcasts and, if it ran in the capture, its tokens.
            let high = mcasts
                .get(old)
                .and_then(|m| m.last_key_value().map(|(s, _)| *s))
                .into_iter()
                .chain(by_id.get(old).map(|r| r.high_seq))
                .max();
            let Some(high) = high else {
                continue; // nothing of the old ring on the wire
            };
            if high <= *low_aru {
                continue;
            }
            let got = recovered
                .get(&r.id)
                .and_then(|m| m.get(old))
                .cloned()
                .unwrap_or_default();
            let want: Vec<u32> = (*low_aru + 1..=high).collect();
            let lacking: Vec<u32> = want.iter().copied().filter(|s| !got.contains(s)).collect();
            if lacking.is_empty() {
                notes.push(format!(
                    "ring {} recovered {} of {} ({}..={})",
                    r.id,
                    want.len(),
                    old,
                    low_aru + 1,
                    high
                ));
            } else if r.last_at - r.formed_at >= 0.0 && by_id.contains_key(&r.id) {
                failed.push(format!(
                    "ring {} (commit frame {}): old ring {} seqs {} above the lowest aru {low_aru} not re-sent",
                    r.id,
                    r.commit_frame.unwrap_or(0),
                    old,
                    ranges(&lacking)
                ));
            }
        }
    }
    checks.push(Check {
        name: "recovery",
        passed: failed.is_empty(),
        detail: if !failed.is_empty() {
            failed.join("; ")
        } else if notes.is_empty() {
            "no configuration change left messages to recover".into()
        } else {
            notes.join("; ")
        },
    });
    // 4. Equal delivery: every member acknowledged every recovered message (token aru).
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for r in rings {
        let Some(&top) = encap_outer.get(&r.id) else {
            continue;
        };
        let track = aru_track.get(&r.id).map(Vec::as_slice).unwrap_or(&[]);
        match track.iter().find(|(_, aru, _)| *aru >= top) {
            Some((frame, _, _)) => ok.push(format!(
                "ring {}: token aru reached {top} (every recovered message held by all) at frame {frame}",
                r.id
            )),
            None => bad.push(format!(
                "ring {}: recovered messages up to seq {top} never acknowledged by all (last aru {})",
                r.id,
                track.last().map_or(0, |t| t.1)
            )),
        }
    }
    checks.push(Check {
        name: "equal-delivery",
        passed: bad.is_empty(),
        detail: if !bad.is_empty() {
            bad.join("; ")
        } else if ok.is_empty() {
            "no recovery to deliver".into()
        } else {
            ok.join("; ")
        },
    });
    checks
}
