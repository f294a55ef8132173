//! Active replication: every datagram on every ring not faulty. A token is handed to the
//! engine once its copy has come on every ring not faulty, or when `token_expired_timeout`
//! runs out; each ring that missed it then gets a problem, and `problem_count_threshold`
//! problems make it FAULTY. A decrementer takes one problem off every
//! `problem_count_timeout` (corosync's `active_token_recv` and its two timers).
//!
//! One local difference from corosync, invisible on the wire: a ring that missed a token
//! recently (its problem counter is not 0) is not waited for. Its copies are still timed
//! and counted, so it is marked FAULTY after the same number of misses, but the token goes
//! on as soon as the rings without problems have it. corosync holds every token for the
//! full `token_expired_timeout` until the ring is FAULTY (ten rotations of ~2 x 238 ms with
//! the defaults), which stalls a loaded ring for seconds when one node's link fails.

use std::net::IpAddr;
use std::time::Instant;

use super::{iface, RrpSettings, RINGS};

#[derive(Debug)]
pub(super) struct Active {
    last_token_seq: u32,
    last_token_recv: [bool; RINGS],
    counter_problems: [u32; RINGS],
    /// The token waiting for its copies.
    token: Vec<u8>,
    expire_at: Option<Instant>,
    decrement_at: Option<Instant>,
    /// The held token went to the engine already (a suspect ring was not waited for).
    delivered: bool,
}

/// What a timer expiry decided.
#[derive(Debug, Default)]
pub(super) struct Fired {
    /// Problems added per ring.
    pub problems: [u32; RINGS],
    /// Rings that reached the threshold.
    pub faulty: [bool; RINGS],
    /// The held token, for the engine.
    pub deliver: Option<Vec<u8>>,
}

impl Active {
    pub fn new() -> Self {
        Active {
            // ARR_SEQNO_START_TOKEN − 1
            last_token_seq: u32::MAX,
            last_token_recv: [false; RINGS],
            counter_problems: [0; RINGS],
            token: Vec::new(),
            expire_at: None,
            decrement_at: None,
            delivered: false,
        }
    }

    pub fn last_token_seq(&self) -> u32 {
        self.last_token_seq
    }

    /// A token with `seq` on `ring`: whether it goes to the engine now, and what the misses
    /// of the previous token it settles decided.
    #[allow(clippy::too_many_arguments)]
    pub fn token_recv(
        &mut self,
        now: Instant,
        ring: usize,
        seq: u32,
        msg: &[u8],
        s: &RrpSettings,
        faulty: &[bool; RINGS],
        status: &mut [String; RINGS],
        addrs: &[Option<IpAddr>; RINGS],
    ) -> (bool, Fired) {
        let mut fired = Fired::default();
        if totem_wire::seq::sq_lt(self.last_token_seq, seq) {
            // The previous token went on without a suspect ring's copy, and the next one is
            // here before that copy: it is missed (the expiry would count it, but tokens
            // that are not held come round faster than the expiry).
            if self.expire_at.is_some() && self.delivered {
                self.expire_at = None;
                fired = self.count_misses(now, s, faulty, status, addrs);
            }
            // A new token: keep it for the expiry, and wait for its copies.
            self.token.clear();
            self.token.extend_from_slice(msg);
            self.last_token_recv = [false; RINGS];
            self.expire_at = Some(now + s.token_expired_timeout);
            self.delivered = false;
        }
        // As corosync: the seq is taken as the last one whatever it is (a new ring starts
        // its tokens again from 0).
        self.last_token_seq = seq;
        self.last_token_recv[ring] = true;
        // Rings marked FAULTY just now are not waited for either.
        let faulty: [bool; RINGS] = std::array::from_fn(|r| faulty[r] || fired.faulty[r]);
        let missing = |r: usize| !self.last_token_recv[r] && !faulty[r];
        if (0..RINGS).any(|r| missing(r) && self.counter_problems[r] == 0) {
            return (false, fired);
        }
        if !(0..RINGS).any(missing) {
            self.expire_at = None;
        }
        // A copy still missing on a suspect ring keeps the expiry running, to count it.
        self.delivered = true;
        (true, fired)
    }

    /// Counts a problem on every ring that missed the last token; which reach the
    /// threshold.
    fn count_misses(
        &mut self,
        now: Instant,
        s: &RrpSettings,
        faulty: &[bool; RINGS],
        status: &mut [String; RINGS],
        addrs: &[Option<IpAddr>; RINGS],
    ) -> Fired {
        let mut f = Fired::default();
        for r in 0..RINGS {
            if !self.last_token_recv[r] {
                self.counter_problems[r] += 1;
                f.problems[r] += 1;
                if self.decrement_at.is_none() {
                    self.decrement_at = Some(now + s.problem_count_timeout);
                }
                status[r] = format!(
                    "Incrementing problem counter for seqid {} iface {} to [{} of {}]",
                    self.last_token_seq as i32,
                    iface(addrs[r]),
                    self.counter_problems[r],
                    s.problem_count_threshold
                );
                tracing::warn!(ring = r, "{}", status[r]);
            }
        }
        for r in 0..RINGS {
            if self.counter_problems[r] >= s.problem_count_threshold && !faulty[r] {
                f.faulty[r] = true;
                // corosync cancels the decrementer when a ring goes FAULTY.
                self.decrement_at = None;
            }
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
        if self.expire_at.is_some_and(|t| t <= now) {
            self.expire_at = None;
            let m = self.count_misses(now, s, faulty, status, addrs);
            f.problems = m.problems;
            f.faulty = m.faulty;
            if !self.delivered {
                self.delivered = true;
                f.deliver = Some(self.token.clone());
            }
        }
        f
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.expire_at, self.decrement_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn reenable(&mut self, rings: &[usize]) {
        for &r in rings {
            self.last_token_recv[r] = false;
            self.counter_problems[r] = 0;
        }
    }
}
