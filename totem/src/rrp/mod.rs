//! The Redundant Ring Protocol of corosync 1.x and 2.x (Koch, Moser, Melliar-Smith, 2002, as
//! exec/totemrrp.c runs it): one Totem ring over two networks, in passive or active mode,
//! with per-ring failure detection, FAULTY marking and automatic recovery by ring tests.
//!
//! [`Rrp`] is sans-IO and sits between the engine and the envelope: it says on which rings
//! each of the engine's datagrams goes ([`Rrp::send_rings`]), whether a received message
//! reaches the engine now ([`Rrp::on_receive`]), holds active-mode tokens until their copies
//! came on every ring, counts problems, and runs the ring tests (message types 6 and 7) by
//! itself ([`Rrp::poll_out`]).

// The state is kept in parallel per-ring arrays, as corosync keeps it; indexing them by ring
// number reads better than zipping four of them.
#![allow(clippy::needless_range_loop)]

mod active;
mod passive;
mod settings;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use totem_wire::header::{HeaderView, MessageType};
use totem_wire::srp::orf_token::OrfTokenView;
use totem_wire::srp::ring_test::RingTest;
use totem_wire::Generation;

pub use settings::{RingInterface, RrpMode, RrpSettings};

/// Rings of corosync's RRP (`INTERFACE_MAX` is 2 for udp/udpu).
pub const RINGS: usize = 2;

/// A set of rings to send one datagram on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSet(u8);

impl RingSet {
    pub const RING0: RingSet = RingSet(1);
    pub fn only(ring: usize) -> Self {
        RingSet(1 << ring)
    }
    pub fn contains(self, ring: usize) -> bool {
        self.0 & (1 << ring) != 0
    }
    fn insert(&mut self, ring: usize) {
        self.0 |= 1 << ring;
    }
    /// The rings in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..RINGS).filter(move |r| self.contains(*r))
    }
}

/// How the engine hands a datagram down: corosync's `token_send` (ORF and commit tokens, to
/// the next node) or `mcast_send` (everything else, to every node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendKind {
    Token,
    Mcast,
}

/// What a received message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the engine now.
    Deliver,
    /// The RRP layer took it: a ring test, or a token held for its copies.
    Taken,
}

/// What the RRP layer does by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RrpOut {
    /// Send this Totem-level message (a ring test) with `token_send` on `ring`: to the token
    /// target, sealed as every other datagram.
    TokenSend {
        ring: usize,
        target: u32,
        bytes: Vec<u8>,
    },
    /// A held token whose copies did not all come in time: hand it to the engine now.
    Deliver { bytes: Vec<u8> },
}

/// Counters of the RRP layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RrpStats {
    /// Tokens taken per ring.
    pub token_rx: [u64; RINGS],
    /// Other Totem messages taken per ring.
    pub mcast_rx: [u64; RINGS],
    /// Times a ring was marked FAULTY.
    pub marked_faulty: [u64; RINGS],
    /// Times a ring was re-enabled (ring test or by hand).
    pub recovered: [u64; RINGS],
    /// Active: a token copy that did not come within `token_expired_timeout`.
    pub problems: [u64; RINGS],
    /// Active: tokens handed to the engine by the expiry timer.
    pub tokens_expired: u64,
    /// Ring test messages sent (ours) and forwarded (others').
    pub ring_tests_sent: u64,
    pub ring_tests_forwarded: u64,
    /// Ring test messages that did not parse, or came on a ring we do not have.
    pub ring_tests_refused: u64,
    /// Ring tests not sent because no token target is known yet.
    pub ring_tests_untargeted: u64,
}

/// One ring as `corosync-cfgtool -s` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RingStatus {
    pub ring: usize,
    /// Our address on this ring.
    pub id: Option<IpAddr>,
    pub faulty: bool,
    /// corosync's status line for the ring.
    pub status: String,
}

/// Status of both rings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RrpStatus {
    pub mode: RrpMode,
    pub rings: Vec<RingStatus>,
    pub stats: RrpStats,
}

/// The per-mode state.
#[derive(Debug)]
enum Algo {
    Passive(passive::Passive),
    Active(active::Active),
}

/// The redundant ring layer of one node.
#[derive(Debug)]
pub struct Rrp {
    settings: RrpSettings,
    gen: Generation,
    nodeid: u32,
    /// Our address per ring (for status lines).
    addrs: [Option<IpAddr>; RINGS],
    faulty: [bool; RINGS],
    status: [String; RINGS],
    algo: Algo,
    /// Next ring test per faulty ring.
    test_at: [Option<Instant>; RINGS],
    /// The node our tokens go to (the token target of every ring).
    token_target: Option<u32>,
    out: VecDeque<RrpOut>,
    stats: RrpStats,
}

fn no_faults(ring: usize) -> String {
    format!("ring {ring} active with no faults")
}

/// Prints an address as corosync's `totemip_print` does.
fn iface(a: Option<IpAddr>) -> String {
    a.map_or_else(|| "(unknown)".to_string(), |a| a.to_string())
}

impl Rrp {
    pub fn new(
        settings: RrpSettings,
        gen: Generation,
        nodeid: u32,
        addrs: [Option<IpAddr>; RINGS],
    ) -> Self {
        let algo = match settings.mode {
            RrpMode::Passive => Algo::Passive(passive::Passive::default()),
            RrpMode::Active => Algo::Active(active::Active::new()),
        };
        Rrp {
            settings,
            gen,
            nodeid,
            addrs,
            faulty: [false; RINGS],
            status: [no_faults(0), no_faults(1)],
            algo,
            test_at: [None; RINGS],
            token_target: None,
            out: VecDeque::new(),
            stats: RrpStats::default(),
        }
    }

    pub fn settings(&self) -> &RrpSettings {
        &self.settings
    }

    /// Whether `ring` is marked FAULTY.
    pub fn is_faulty(&self, ring: usize) -> bool {
        self.faulty.get(ring).copied().unwrap_or(false)
    }

    pub fn stats(&self) -> RrpStats {
        self.stats
    }

    /// The rings an engine datagram goes on; `target` is the node of a token send (remembered
    /// as every ring's token target, for the ring tests).
    pub fn send_rings(&mut self, kind: SendKind, target: Option<u32>) -> RingSet {
        if kind == SendKind::Token {
            if let Some(t) = target {
                self.token_target = Some(t);
            }
        }
        match &mut self.algo {
            Algo::Active(_) => {
                let mut s = RingSet(0);
                for r in (0..RINGS).filter(|r| !self.faulty[*r]) {
                    s.insert(r);
                }
                // Every ring faulty: ring 0 still carries the traffic (and our own copy).
                if s.0 == 0 {
                    RingSet::RING0
                } else {
                    s
                }
            }
            Algo::Passive(p) => RingSet::only(p.next_ring(kind, &self.faulty)),
        }
    }

    /// A Totem message (opened from its envelope) that came on `ring`.
    pub fn on_receive(&mut self, now: Instant, ring: usize, msg: &[u8]) -> Verdict {
        if ring >= RINGS {
            self.stats.ring_tests_refused += 1;
            return Verdict::Taken;
        }
        let Ok(h) = HeaderView::new_checked(msg, self.gen) else {
            // Not ours to judge: the engine counts what does not decode.
            return Verdict::Deliver;
        };
        match h.msg_type() {
            MessageType::RingTestActive | MessageType::RingTestActivate => {
                self.on_ring_test(now, ring, msg);
                Verdict::Taken
            }
            MessageType::OrfToken => {
                self.stats.token_rx[ring] += 1;
                let (seq, ring_id) = match OrfTokenView::new_checked(msg, self.gen) {
                    Ok(t) => (t.token_seq(), t.ring_id_bytes()),
                    Err(_) => return Verdict::Deliver,
                };
                match &mut self.algo {
                    Algo::Passive(p) => {
                        // corosync's msgs_missing() is always 0: the token goes on at once.
                        let marked = p.monitor(ring, true, &self.settings, &self.faulty);
                        self.mark_faulty(now, marked, None);
                        Verdict::Deliver
                    }
                    Algo::Active(a) => {
                        let addrs = self.addrs;
                        let (deliver, fired) = a.token_recv(
                            now,
                            ring,
                            seq,
                            ring_id,
                            msg,
                            &self.settings,
                            &self.faulty,
                            &mut self.status,
                            &addrs,
                        );
                        self.settle(now, fired);
                        if deliver {
                            Verdict::Deliver
                        } else {
                            Verdict::Taken
                        }
                    }
                }
            }
            _ => {
                self.stats.mcast_rx[ring] += 1;
                if let Algo::Passive(p) = &mut self.algo {
                    let marked = p.monitor(ring, false, &self.settings, &self.faulty);
                    self.mark_faulty(now, marked, None);
                }
                Verdict::Deliver
            }
        }
    }

    fn on_ring_test(&mut self, now: Instant, ring: usize, msg: &[u8]) {
        let Ok(t) = RingTest::parse(msg, self.gen) else {
            self.stats.ring_tests_refused += 1;
            return;
        };
        let mine = t.nodeid_activator as u32 == self.nodeid;
        match t.msg_type {
            MessageType::RingTestActive if mine => {
                // Our test came round the ring: everybody can hear on it; re-enable it
                // everywhere.
                let activate = RingTest {
                    msg_type: MessageType::RingTestActivate,
                    endian: totem_wire::endian::Endian::Little,
                    encapsulated: 0,
                    ..t
                };
                self.token_send(ring, activate);
            }
            MessageType::RingTestActive => self.forward(ring, msg),
            _ => {
                if self.faulty[ring] {
                    tracing::info!(
                        ring = t.ring_number,
                        "Automatically recovered ring {}",
                        t.ring_number
                    );
                }
                self.reenable(now, Some(ring));
                if !mine {
                    self.forward(ring, msg);
                }
            }
        }
    }

    /// Passes another node's ring test on to our token target on `ring`, unchanged.
    fn forward(&mut self, ring: usize, msg: &[u8]) {
        let Some(target) = self.token_target else {
            self.stats.ring_tests_untargeted += 1;
            return;
        };
        self.stats.ring_tests_forwarded += 1;
        self.out.push_back(RrpOut::TokenSend {
            ring,
            target,
            bytes: msg.to_vec(),
        });
    }

    /// Sends our own ring test message on `ring` to the token target.
    fn token_send(&mut self, ring: usize, t: RingTest) {
        let Some(target) = self.token_target else {
            self.stats.ring_tests_untargeted += 1;
            return;
        };
        let mut buf = vec![0u8; t.buffer_len()];
        if t.emit(&mut buf).is_ok() {
            self.stats.ring_tests_sent += 1;
            self.out.push_back(RrpOut::TokenSend {
                ring,
                target,
                bytes: buf,
            });
        }
    }

    /// Re-enables `ring` (`None`: every ring), as a ring test's ACTIVATE or
    /// `corosync-cfgtool -r` does.
    pub fn reenable(&mut self, _now: Instant, ring: Option<usize>) {
        let rings: Vec<usize> = match ring {
            Some(r) if r < RINGS => vec![r],
            Some(_) => return,
            None => (0..RINGS).collect(),
        };
        match &mut self.algo {
            Algo::Passive(p) => p.reenable(),
            Algo::Active(a) => a.reenable(&rings),
        }
        for r in rings {
            if self.faulty[r] {
                self.stats.recovered[r] += 1;
            }
            self.faulty[r] = false;
            self.test_at[r] = None;
            self.status[r] = no_faults(r);
        }
    }

    /// Marks the rings in `marked` FAULTY (with the token seq, active mode), but never the
    /// last ring that is not FAULTY: it still carries the ring, and marking it would only
    /// move every send to ring 0 (a local difference: corosync 2.4.6 marks it).
    fn mark_faulty(&mut self, now: Instant, marked: [bool; RINGS], seq: Option<u32>) {
        for r in 0..RINGS {
            if !marked[r] || self.faulty[r] {
                continue;
            }
            if (0..RINGS).all(|o| o == r || self.faulty[o]) {
                tracing::warn!(
                    ring = r,
                    "not marking ringid {r} interface {} FAULTY: it is the last ring not FAULTY",
                    iface(self.addrs[r])
                );
                continue;
            }
            self.faulty[r] = true;
            self.stats.marked_faulty[r] += 1;
            self.test_at[r] = Some(now + self.settings.autorecovery_check_timeout);
            self.status[r] = match seq {
                Some(s) => format!(
                    "Marking seqid {s} ringid {r} interface {} FAULTY",
                    iface(self.addrs[r])
                ),
                None => format!(
                    "Marking ringid {r} interface {} FAULTY",
                    iface(self.addrs[r])
                ),
            };
            tracing::error!(ring = r, "{}", self.status[r]);
        }
    }

    /// What the active algorithm decided: problems counted, rings at the threshold marked
    /// FAULTY (with the token_seq that made them so), a held token handed on.
    fn settle(&mut self, now: Instant, fired: active::Fired) {
        for r in 0..RINGS {
            self.stats.problems[r] += u64::from(fired.problems[r]);
        }
        self.mark_faulty(now, fired.faulty, Some(fired.seq));
        if let Some(bytes) = fired.deliver {
            self.stats.tokens_expired += 1;
            self.out.push_back(RrpOut::Deliver { bytes });
        }
    }

    /// Runs what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Algo::Active(a) = &mut self.algo {
            let addrs = self.addrs;
            let fired =
                a.handle_timeout(now, &self.settings, &self.faulty, &mut self.status, &addrs);
            self.settle(now, fired);
        }
        for r in 0..RINGS {
            if self.test_at[r].is_some_and(|t| t <= now) {
                if self.faulty[r] {
                    self.test_at[r] = Some(now + self.settings.autorecovery_check_timeout);
                    let t = RingTest {
                        generation: self.gen,
                        endian: totem_wire::endian::Endian::Little,
                        msg_type: MessageType::RingTestActive,
                        encapsulated: 0,
                        ring_number: r as i32,
                        nodeid_activator: self.nodeid as i32,
                    };
                    self.token_send(r, t);
                } else {
                    self.test_at[r] = None;
                }
            }
        }
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let algo = match &self.algo {
            Algo::Active(a) => a.poll_timeout(),
            Algo::Passive(_) => None,
        };
        self.test_at.iter().flatten().copied().chain(algo).min()
    }

    /// What the layer does by itself: ring tests to send, held tokens to deliver.
    pub fn poll_out(&mut self) -> Option<RrpOut> {
        self.out.pop_front()
    }

    /// Both rings as `corosync-cfgtool -s` shows them.
    pub fn status(&self) -> RrpStatus {
        RrpStatus {
            mode: self.settings.mode,
            rings: (0..RINGS)
                .map(|r| RingStatus {
                    ring: r,
                    id: self.addrs[r],
                    faulty: self.faulty[r],
                    status: self.status[r].clone(),
                })
                .collect(),
            stats: self.stats,
        }
    }
}
