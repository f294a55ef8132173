//! Delivery: agreed and safe delivery in a regular configuration, and the EVS sequence on
//! entering OPERATIONAL (old-ring messages, transitional configuration, the rest, regular
//! configuration).

use totem_wire::seq::sq_lt;
use totem_wire::srp::mcast::Mcast;

use super::queues::{SortQueue, QUEUE_SPAN};
use super::{ConfigKind, Engine, Event, Guarantee, State, SEQNO_START_MSG};
use crate::member::{set, Member};

/// How far old-ring delivery may go before the transitional configuration.
#[derive(Clone, Copy)]
enum Cut {
    /// Stop at the first hole, or at a safe message above this seq.
    Regular(u32),
    /// Skip holes; deliver only messages from these senders.
    Transitional,
}

impl Engine {
    fn emit_deliver(&mut self, m: &Mcast) {
        self.stats.delivered += 1;
        self.events.push_back(Event::Deliver {
            sender: m.header.nodeid,
            payload: m.payload.clone(),
            guarantee: Guarantee::from_wire(m.guarantee),
            ring_id: m.ring_id,
            seq: m.seq,
        });
    }

    /// Delivers, in seq order, every message that is contiguous and (if safe) known to be
    /// held by every member: its seq is at or below the aru seen on two consecutive visits.
    pub(super) fn deliver_operational(&mut self) {
        let mut n = 0;
        while self.my_high_delivered != self.my_high_seq_received && n < QUEUE_SPAN {
            let s = self.my_high_delivered.wrapping_add(1);
            let Some(m) = self.regular.get(s) else { break };
            if Guarantee::from_wire(m.guarantee) == Guarantee::Safe && sq_lt(self.safe_point, s) {
                break;
            }
            let m = m.clone();
            self.my_high_delivered = s;
            self.emit_deliver(&m);
            n += 1;
        }
    }

    /// Delivers old-ring messages from `regular` up to `end` under `cut`.
    fn deliver_old(&mut self, end: u32, cut: Cut) {
        let mut n = 0;
        while sq_lt(self.my_high_delivered, end) && n < QUEUE_SPAN {
            n += 1;
            let s = self.my_high_delivered.wrapping_add(1);
            if !self.regular.in_range(s) {
                // Freed: everyone had it and it was delivered.
                self.my_high_delivered = s;
                continue;
            }
            let m = self.regular.get(s).cloned();
            match (cut, m) {
                (Cut::Regular(_), None) => break,
                (Cut::Regular(limit), Some(m)) => {
                    if Guarantee::from_wire(m.guarantee) == Guarantee::Safe && sq_lt(limit, s) {
                        break;
                    }
                    self.my_high_delivered = s;
                    self.emit_deliver(&m);
                }
                (Cut::Transitional, None) => self.my_high_delivered = s,
                (Cut::Transitional, Some(m)) => {
                    self.my_high_delivered = s;
                    let from = Member::from_wire(m.system_from);
                    if set::contains(&self.trans_memb, &from) {
                        self.emit_deliver(&m);
                    }
                }
            }
        }
    }

    /// Installs the new ring: moves recovered old-ring messages into the old queue, delivers
    /// what may be delivered in the old configuration, the transitional configuration, the
    /// remaining old-ring messages, then the regular configuration.
    pub(super) fn operational_enter(&mut self) {
        self.originated_orf_token = false;
        self.consensus.clear();
        self.old_ring_saved = false;

        // Recovered messages: encapsulated copies of old-ring mcasts.
        let mut s = SEQNO_START_MSG;
        let mut n = 0;
        while s != self.my_aru && n < QUEUE_SPAN {
            s = s.wrapping_add(1);
            n += 1;
            let Some(outer) = self.recovery.get(s) else {
                continue;
            };
            let Some(Ok(inner)) = outer.inner() else {
                continue;
            };
            if inner.ring_id == self.old_ring_id
                && self.regular.insert(inner.seq, inner.clone())
                && sq_lt(self.old_ring_high_seq, inner.seq)
            {
                self.old_ring_high_seq = inner.seq;
            }
        }

        // Safe messages above what some transitional member already delivered wait for
        // the transitional configuration; so does everything after the first hole.
        let end = self.old_ring_high_seq;
        let limit = self.high_ring_delivered;
        self.deliver_old(end, Cut::Regular(limit));

        let left = set::subtract(&self.memb, &self.trans_memb);
        let joined = set::subtract(&self.new_memb, &self.trans_memb);
        self.memb = self.new_memb.clone();
        self.events.push_back(Event::Config {
            kind: ConfigKind::Transitional,
            ring_id: self.ring_id,
            members: set::nodeids(&self.trans_memb),
            left: set::nodeids(&left),
            joined: Vec::new(),
        });
        self.deliver_old(end, Cut::Transitional);
        self.events.push_back(Event::Config {
            kind: ConfigKind::Regular,
            ring_id: self.ring_id,
            members: set::nodeids(&self.new_memb),
            left: Vec::new(),
            joined: set::nodeids(&joined),
        });

        // The recovery queue becomes the new ring's regular queue; its (encapsulated)
        // messages count as delivered.
        self.regular = std::mem::replace(&mut self.recovery, SortQueue::new(SEQNO_START_MSG));
        self.my_high_delivered = self.my_aru;
        self.regular.release_to(self.my_aru);
        self.my_last_aru = SEQNO_START_MSG;
        self.proc_list = self.new_memb.clone();
        self.failed_list.clear();
        self.left_gracefully.clear();
        self.state = State::Operational;
        self.stats.operational_entered += 1;
        self.formation_attempts = 0;
        self.join_seqs.clear();
        self.my_received_flg = true;
        self.old_ring_id = self.ring_id;
        self.prev_token_aru = None;
        self.safe_point = SEQNO_START_MSG;
    }
}
