//! Active replication: every datagram on every ring not faulty. A token is handed to the
//! engine once its copy has come on every ring not faulty, or when `token_expired_timeout`
//! runs out; each ring that missed it then gets a problem, and `problem_count_threshold`
//! problems make it FAULTY. A decrementer takes one problem off every
//! `problem_count_timeout` (corosync's `active_token_recv` and its two timers).
//!
//! Local differences from corosync, invisible on the wire:
//!
//! - A ring that missed a token recently (its problem counter is not 0) is not waited for.
//!   Its copies are still timed and counted, so it is marked FAULTY after the same number of
//!   misses, but the token goes on as soon as the rings without problems have it. corosync
//!   holds every token for the full `token_expired_timeout` until the ring is FAULTY (ten
//!   rotations of ~2 x 238 ms with the defaults), which stalls a loaded ring for seconds
//!   when one node's link fails.
//! - So a suspect ring's copy of a token may come after the next token. Each token that
//!   went on without every copy is kept ([`Pending`]) until its own expiry: a copy that
//!   comes by then is no miss, one that does not is. A copy of an earlier token never
//!   touches the token being waited for (corosync takes any token_seq as the last one, so a
//!   late copy of an earlier token releases the held one unseen and makes its other copy
//!   look like a new token); a new ring is told by the token's ring id instead.
//! - The last ring that is not FAULTY is never marked FAULTY (corosync 2.4.6 marks it, and
//!   then sends on ring 0 only, whichever ring still works).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use super::{iface, RrpSettings, RINGS};

/// At most this many tokens are timed after they went on; an older one's missing copies
/// are counted at once (they are this many tokens late).
const PENDING_MAX: usize = 1024;

/// A token that went on before its copy came on every ring not FAULTY.
#[derive(Debug)]
struct Pending {
    seq: u32,
    recv: [bool; RINGS],
    /// Its first copy + `token_expired_timeout`: copies not come by then are misses.
    deadline: Instant,
}

#[derive(Debug)]
pub(super) struct Active {
    /// The ring id of the last token (a new ring starts its token_seq again).
    ring_id: Vec<u8>,
    last_token_seq: u32,
    last_token_recv: [bool; RINGS],
    counter_problems: [u32; RINGS],
    /// The token waiting for its copies.
    token: Vec<u8>,
    expire_at: Option<Instant>,
    decrement_at: Option<Instant>,
    /// The held token went to the engine already (a suspect ring was not waited for).
    delivered: bool,
    /// Earlier tokens whose missing copies are still timed, oldest first.
    pending: VecDeque<Pending>,
}

/// What a timer expiry decided.
#[derive(Debug, Default)]
pub(super) struct Fired {
    /// Problems added per ring.
    pub problems: [u32; RINGS],
    /// Rings that reached the threshold.
    pub faulty: [bool; RINGS],
    /// The token_seq whose miss made a ring FAULTY.
    pub seq: u32,
    /// The held token, for the engine.
    pub deliver: Option<Vec<u8>>,
}

impl Fired {
    fn add(&mut self, o: Fired) {
        for r in 0..RINGS {
            self.problems[r] += o.problems[r];
            if o.faulty[r] {
                self.faulty[r] = true;
                self.seq = o.seq;
            }
        }
        if o.deliver.is_some() {
            self.deliver = o.deliver;
        }
    }
}

impl Active {
    pub fn new() -> Self {
        Active {
            ring_id: Vec::new(),
            // ARR_SEQNO_START_TOKEN − 1
            last_token_seq: u32::MAX,
            last_token_recv: [false; RINGS],
            counter_problems: [0; RINGS],
            token: Vec::new(),
            expire_at: None,
            decrement_at: None,
            delivered: false,
            pending: VecDeque::new(),
        }
    }

    /// A token with `seq` of ring `ring_id` on `ring`: whether it goes to the engine now,
    /// and what the misses it settled decided.
    #[allow(clippy::too_many_arguments)]
    pub fn token_recv(
        &mut self,
        now: Instant,
        ring: usize,
        seq: u32,
        ring_id: &[u8],
        msg: &[u8],
        s: &RrpSettings,
        faulty: &[bool; RINGS],
        status: &mut [String; RINGS],
        addrs: &[Option<IpAddr>; RINGS],
    ) -> (bool, Fired) {
        let mut fired = Fired::default();
        if self.ring_id != ring_id {
            // A new ring (its token_seq starts again): nothing of the old one's is judged
            // any more.
            self.ring_id.clear();
            self.ring_id.extend_from_slice(ring_id);
            self.pending.clear();
            self.expire_at = None;
            self.last_token_seq = seq.wrapping_sub(1);
        }
        if totem_wire::seq::sq_lt(self.last_token_seq, seq) {
            // The previous token went on without a suspect ring's copy: that copy is still
            // timed, to its own expiry.
            let recv = self.last_token_recv;
            let timed = self.delivered && (0..RINGS).any(|r| !recv[r] && !faulty[r]);
            if let Some(deadline) = self.expire_at.take().filter(|_| timed) {
                self.pending.push_back(Pending {
                    seq: self.last_token_seq,
                    recv,
                    deadline,
                });
                if self.pending.len() > PENDING_MAX {
                    let p = self.pending.pop_front().expect("not empty");
                    fired = self.count_misses(now, p.seq, &p.recv, s, faulty, status, addrs);
                }
            }
            // A new token: keep it for the expiry, and wait for its copies.
            self.token.clear();
            self.token.extend_from_slice(msg);
            self.last_token_recv = [false; RINGS];
            self.expire_at = Some(now + s.token_expired_timeout);
            self.delivered = false;
            self.last_token_seq = seq;
        } else if seq != self.last_token_seq {
            // A late copy of an earlier token, which went on already: it is no miss, and
            // it is no copy of the token being waited for. The engine drops it by its
            // token_seq.
            if let Some(i) = self.pending.iter().position(|p| p.seq == seq) {
                self.pending[i].recv[ring] = true;
                if (0..RINGS).all(|r| self.pending[i].recv[r] || faulty[r]) {
                    self.pending.remove(i);
                }
            }
            return (true, fired);
        }
        self.last_token_recv[ring] = true;
        // Rings marked FAULTY just now are not waited for either.
        let faulty: [bool; RINGS] = std::array::from_fn(|r| faulty[r] || fired.faulty[r]);
        let missing = |r: usize| !self.last_token_recv[r] && !faulty[r];
        if !self.delivered && (0..RINGS).any(|r| missing(r) && self.counter_problems[r] == 0) {
            return (false, fired);
        }
        if !(0..RINGS).any(missing) {
            self.expire_at = None;
        }
        // A copy still missing on a suspect ring keeps the expiry running, to count it.
        self.delivered = true;
        (true, fired)
    }

    /// Counts a problem on every ring not FAULTY that missed the token `seq`; which reach
    /// the threshold (but never the last ring not FAULTY).
    #[allow(clippy::too_many_arguments)]
    fn count_misses(
        &mut self,
        now: Instant,
        seq: u32,
        recv: &[bool; RINGS],
        s: &RrpSettings,
        faulty: &[bool; RINGS],
        status: &mut [String; RINGS],
        addrs: &[Option<IpAddr>; RINGS],
    ) -> Fired {
        let mut f = Fired::default();
        for r in 0..RINGS {
            // A FAULTY ring is not expected to carry the token (corosync counts it still;
            // its counter starts again from 0 when it recovers either way).
            if !recv[r] && !faulty[r] {
                self.counter_problems[r] = self.counter_problems[r].saturating_add(1);
                f.problems[r] += 1;
                if self.decrement_at.is_none() {
                    self.decrement_at = Some(now + s.problem_count_timeout);
                }
                status[r] = format!(
                    "Incrementing problem counter for seqid {} iface {} to [{} of {}]",
                    seq as i32,
                    iface(addrs[r]),
                    self.counter_problems[r],
                    s.problem_count_threshold
                );
                tracing::warn!(ring = r, "{}", status[r]);
            }
        }
        for r in 0..RINGS {
            if self.counter_problems[r] < s.problem_count_threshold || faulty[r] || f.faulty[r] {
                continue;
            }
            if (0..RINGS).all(|o| o == r || faulty[o] || f.faulty[o]) {
                // Every other ring is FAULTY: this one still carries the ring (traffic
                // falls back to ring 0 anyway when every ring is FAULTY).
                tracing::warn!(
                    ring = r,
                    "not marking ringid {r} interface {} FAULTY: it is the last ring not FAULTY",
                    iface(addrs[r])
                );
                continue;
            }
            f.faulty[r] = true;
            f.seq = seq;
            // corosync cancels the decrementer when a ring goes FAULTY.
            self.decrement_at = None;
        }
        f
    }

    pub fn handle_timeout(
        &mut self,
        now: Instant,
        s: &RrpSettings,
        faulty: &[bool; RINGS],
        status: &mut [String; RINGS],
        addrs: &[Option<IpAddr>; RINGS],
    ) -> Fired {
        let mut f = Fired::default();
        if self.decrement_at.is_some_and(|t| t <= now) {
            let mut found = false;
            for r in 0..RINGS {
                if self.counter_problems[r] > 0 {
                    found = true;
                    self.counter_problems[r] -= 1;
                    status[r] = if self.counter_problems[r] == 0 {
                        super::no_faults(r)
                    } else {
                        format!(
                            "Decrementing problem counter for iface {} to [{} of {}]",
                            iface(addrs[r]),
                            self.counter_problems[r],
                            s.problem_count_threshold
                        )
                    };
                    tracing::warn!(ring = r, "{}", status[r]);
                }
            }
            self.decrement_at = found.then(|| now + s.problem_count_timeout);
        }
        // Rings marked FAULTY by an earlier token here count for the later ones.
        let mut faulty = *faulty;
        while self.pending.front().is_some_and(|p| p.deadline <= now) {
            let p = self.pending.pop_front().expect("not empty");
            let m = self.count_misses(now, p.seq, &p.recv, s, &faulty, status, addrs);
            for r in 0..RINGS {
                faulty[r] |= m.faulty[r];
            }
            f.add(m);
        }
        // Nothing left to time on a ring marked FAULTY just now.
        self.pending
            .retain(|p| (0..RINGS).any(|r| !p.recv[r] && !faulty[r]));
        if self.expire_at.is_some_and(|t| t <= now) {
            self.expire_at = None;
            let recv = self.last_token_recv;
            let m = self.count_misses(now, self.last_token_seq, &recv, s, &faulty, status, addrs);
            f.add(m);
            if !self.delivered {
                self.delivered = true;
                f.deliver = Some(self.token.clone());
            }
        }
        f
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.expire_at,
            self.decrement_at,
            self.pending.front().map(|p| p.deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Re-enables `rings`: their problems are forgotten, and they are judged again from
    /// the next token on (a copy of a token from before they came back is no miss).
    pub fn reenable(&mut self, rings: &[usize]) {
        for &r in rings {
            self.last_token_recv[r] = true;
            self.counter_problems[r] = 0;
            for p in &mut self.pending {
                p.recv[r] = true;
            }
        }
    }
}
