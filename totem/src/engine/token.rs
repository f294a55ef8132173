//! The ORF token: acceptance and dedupe, retransmit requests, flow control, sending new
//! messages, the aru rules, token hold, and recovery progress.

use totem_wire::header::MessageType;
use totem_wire::seq::{sq_lt, sq_lte};
use totem_wire::srp::mcast::Mcast;
use totem_wire::srp::orf_token::{OrfToken, RtrItem};
use totem_wire::srp::RETRANSMIT_ENTRIES_MAX;
use totem_wire::SrpMessage;

use super::queues::{SortQueue, QUEUE_SPAN};
use super::refusal::Refusal;
use super::timers::Timer;
use super::{Dest, Engine, State, Transmit, SEQNO_START_TOKEN};
use crate::member::Member;

/// Token visits with the window full and the ring idle before the fcc is taken as corrupt.
const FCC_STUCK_VISITS: u32 = 5;

impl Engine {
    pub(super) fn active_queue(&mut self) -> &mut SortQueue {
        if self.state == State::Recovery {
            &mut self.recovery
        } else {
            &mut self.regular
        }
    }

    /// Advances `my_aru` over contiguous received seqs.
    pub(super) fn update_aru(&mut self) {
        let (aru, high) = (self.my_aru, self.my_high_seq_received);
        self.my_aru = self.active_queue().contiguous_from(aru, high);
    }

    /// The successor of this node in ring order.
    fn next_member(&self) -> Option<u32> {
        let n = self.memb_for_token().len();
        let pos = self.memb_for_token().iter().position(|m| *m == self.me)?;
        Some(self.memb_for_token()[(pos + 1) % n].nodeid())
    }
    fn memb_for_token(&self) -> &[Member] {
        if self.state == State::Recovery {
            &self.new_memb
        } else {
            &self.memb
        }
    }

    pub(super) fn on_orf_token(&mut self, mut token: OrfToken) {
        self.stats.orf_token_rx += 1;
        if self.orf_token_discard || !matches!(self.state, State::Operational | State::Recovery) {
            return;
        }
        if token.ring_id != self.ring_id {
            self.stats.foreign_dropped += 1;
            return;
        }
        if self.adopt_token.take() == Some(token.ring_id) {
            self.my_token_seq = token.token_seq.wrapping_sub(1);
            self.my_aru = token.aru;
            self.my_high_seq_received = token.aru;
            self.my_high_delivered = token.aru;
            self.my_last_seq = token.seq;
            self.ring_token_seq = token.seq;
            *self.active_queue() = SortQueue::new(token.aru);
        }
        if sq_lte(token.token_seq, self.my_token_seq) {
            self.stats.orf_token_dup += 1;
            return;
        }
        if let Err(r) = self.check_token(&mut token) {
            self.refuse(r);
            return;
        }
        self.last_token_at = Some(self.now);
        if self.state == State::Operational {
            self.messages_free(token.aru);
        }

        let last_seq_before = self.my_last_seq;
        // Idle-ring detection: merge detect and token hold.
        if token.seq == self.my_last_seq {
            self.timers
                .start_if_idle(Timer::MergeDetect, self.now, self.cfg.merge);
            self.my_seq_unchanged += 1;
        } else {
            self.timers.cancel(Timer::MergeDetect);
            self.timers.cancel(Timer::TokenHold);
            self.my_seq_unchanged = 0;
        }
        self.my_last_seq = token.seq;
        let rep = self.is_rep();
        self.my_token_held = if rep {
            self.my_seq_unchanged > self.cfg.seqno_unchanged_const
        } else {
            self.my_seq_unchanged >= self.cfg.seqno_unchanged_const
        };
        // Someone queued work while we held: release at once.
        if rep
            && self.my_token_held
            && !self.queues.new.is_empty()
            && self.state == State::Operational
        {
            self.my_token_held = false;
        }
        let forward = !(rep && self.my_token_held);

        // Safe point: the aru on two consecutive visits.
        if self.state == State::Operational {
            if let Some(prev) = self.prev_token_aru {
                self.safe_point = if sq_lt(prev, token.aru) {
                    prev
                } else {
                    token.aru
                };
            }
            self.prev_token_aru = Some(token.aru);
        }

        let last_aru = self.my_last_aru;
        self.my_last_aru = token.aru;

        // fcc counts what the ring sent in the last rotation; each member adds its own and
        // takes back its previous share, so an offset a corrupted token leaves in it is
        // carried forward for good. A window that stays full while nothing new is sent and
        // nothing is asked for, with messages waiting here, is such an offset: re-form the
        // ring (its first token starts at fcc 0).
        let idle = token.seq == last_seq_before && token.rtr_list.is_empty();
        if self.state == State::Operational
            && idle
            && token.fcc >= self.cfg.window_size
            && !self.queues.new.is_empty()
        {
            self.fcc_stuck_visits += 1;
        } else {
            self.fcc_stuck_visits = 0;
        }
        if self.fcc_stuck_visits >= FCC_STUCK_VISITS {
            self.fcc_stuck_visits = 0;
            self.refuse(Refusal::TokenFcc);
            self.gather_enter("flow control window stuck full");
            return;
        }
        let mut allowed = self.fcc_calculate(&token);
        let retransmitted = self.orf_token_rtr(&mut token, &mut allowed);
        self.fcc_rtr_limit(&token, &mut allowed);
        let sent = self.orf_token_mcast(&mut token, allowed);
        self.fcc_token_update(&mut token, retransmitted + sent);

        if sq_lt(self.my_aru, token.aru) || token.aru_addr == self.cfg.nodeid || token.aru_addr == 0
        {
            token.aru = self.my_aru;
            token.aru_addr = if token.aru == token.seq {
                0
            } else {
                self.cfg.nodeid
            };
        }
        if token.aru == last_aru && token.aru_addr != 0 {
            self.my_aru_count += 1;
        } else {
            self.my_aru_count = 0;
        }
        if self.my_aru_count > self.cfg.fail_recv_const && token.aru_addr == self.cfg.nodeid {
            self.stats.failed_to_receive += 1;
            self.failed_to_recv = true;
            crate::member::set::add(&mut self.failed_list, self.me);
            self.gather_enter("failed to receive");
            return;
        }
        self.my_token_seq = token.token_seq;
        token.token_seq = token.token_seq.wrapping_add(1);

        if self.state == State::Recovery {
            self.recovery_progress(&mut token);
        }
        if sq_lt(self.ring_token_seq, token.seq) {
            self.ring_token_seq = token.seq;
        }
        self.stats.orf_token_tx += 1;
        self.token_send(token, forward);
        if self.state == State::Operational {
            self.deliver_operational();
        }
        self.reset_token_timeout();
        self.reset_token_retransmit_timeout();
        if rep && self.my_token_held {
            self.timers
                .set(Timer::TokenHold, self.now, self.cfg.hold_timeout());
        }
    }

    /// Refuses a token of our ring that no correct member can have passed on: a token_seq
    /// more than one hop per member past ours, a seq below what we hold or further ahead
    /// than the ring's queues span, an aru above the seq or set by a non-member, retransmit
    /// requests for seqs the ring has not reached. Requests that can never be served
    /// (other rings, duplicates) are dropped from it.
    fn check_token(&self, token: &mut OrfToken) -> Result<(), Refusal> {
        let ring = self.memb_for_token();
        let n = ring.len() as u32;
        // The token comes from the member before us in ring order (every generation puts
        // the sender's nodeid in the header): a token meant for someone else, replayed or
        // forged to us, would make two members hand out the same seqs.
        // openais 0.80.6 sends a held or retransmitted token under the nodeid of the member
        // before the sender (see the config key).
        if let Some(pos) = ring.iter().position(|m| *m == self.me) {
            let len = ring.len();
            let pred = ring[(pos + len - 1) % len];
            let pred_of_pred = ring[(pos + 2 * len - 2) % len];
            let openais_stale =
                self.cfg.openais_stale_nodeids && token.header.nodeid == pred_of_pred.nodeid();
            if token.header.nodeid != pred.nodeid() && !openais_stale {
                return Err(Refusal::NotFromPredecessor);
            }
        }
        let hops = token.token_seq.wrapping_sub(self.my_token_seq);
        if self.my_token_seq == SEQNO_START_TOKEN.wrapping_sub(1) {
            // First token of the ring: the rep sent token_seq 0, each hop adds one.
            if token.token_seq >= n.max(1) {
                return Err(Refusal::TokenSeqJump);
            }
        } else if hops > n.max(1) && !self.cfg.partial_view {
            return Err(Refusal::TokenSeqJump);
        }
        if sq_lt(token.seq, self.my_high_seq_received) {
            return Err(Refusal::TokenSeqBehind);
        }
        if token.seq.wrapping_sub(self.my_aru) > QUEUE_SPAN {
            return Err(Refusal::TokenSeqAhead);
        }
        // Between two visits the ring hands out at most window_size new seqs (the fcc
        // rule); a token that comes back further ahead than the mcast bound names seqs no
        // member sent, holes nobody can ever fill.
        if !self.cfg.partial_view && token.seq != super::SEQNO_START_MSG {
            self.check_mcast_seq(token.seq)
                .map_err(|_| Refusal::TokenSeqAhead)?;
        }
        if !sq_lte(token.aru, token.seq) {
            return Err(Refusal::TokenAru);
        }
        // A flag: corosync and we only ever write 0 or 1.
        if !matches!(token.retrans_flg, 0 | 1) {
            return Err(Refusal::TokenRtr);
        }

        if token.aru_addr != 0 && !ring.iter().any(|m| m.nodeid() == token.aru_addr) {
            return Err(Refusal::TokenAru);
        }
        let mut bad = false;
        let mut kept: Vec<RtrItem> = Vec::with_capacity(token.rtr_list.len());
        for item in &token.rtr_list {
            if item.ring_id != self.ring_id || kept.iter().any(|k| k.seq == item.seq) {
                continue;
            }
            if item.seq == super::SEQNO_START_MSG || sq_lt(token.seq, item.seq) {
                bad = true;
                break;
            }
            kept.push(*item);
        }
        if bad {
            return Err(Refusal::TokenRtr);
        }
        token.rtr_list = kept;
        Ok(())
    }

    /// Refuses an mcast of our ring's active queue whose seq no token can have handed out
    /// yet: between two visits of the token the whole ring sends at most `window_size`
    /// messages (the fcc rule), so anything far past the highest token seq we passed on
    /// is forged.
    fn check_mcast_seq(&self, seq: u32) -> Result<(), Refusal> {
        let base = if sq_lt(self.ring_token_seq, self.my_high_seq_received) {
            self.my_high_seq_received
        } else {
            self.ring_token_seq
        };
        let bound = 4 * self.cfg.window_size.max(self.cfg.max_messages).max(1);
        if seq == super::SEQNO_START_MSG || (sq_lt(base, seq) && seq.wrapping_sub(base) > bound) {
            return Err(Refusal::McastAhead);
        }
        Ok(())
    }

    /// retrans_flg bookkeeping; enters OPERATIONAL after two quiet rotations past the install
    /// point.
    fn recovery_progress(&mut self, token: &mut OrfToken) {
        if !self.queues.retrans.is_empty() {
            if token.retrans_flg == 0 {
                token.retrans_flg = 1;
                self.my_set_retrans_flg = true;
            }
        } else if token.retrans_flg == 1 && self.my_set_retrans_flg {
            token.retrans_flg = 0;
            self.my_set_retrans_flg = false;
        }
        if token.retrans_flg == 0 {
            self.my_retrans_flg_count += 1;
        } else {
            self.my_retrans_flg_count = 0;
        }
        if self.my_retrans_flg_count == 2 {
            self.my_install_seq = token.seq;
        }
        if self.my_retrans_flg_count >= 3 && sq_lte(self.my_install_seq, token.aru) {
            self.my_rotation_counter += 1;
        } else {
            self.my_rotation_counter = 0;
        }
        if self.my_rotation_counter == 2 {
            self.my_rotation_counter = 0;
            self.my_retrans_flg_count = 0;
            self.operational_enter();
        }
    }

    /// Sends (or, when holding, only keeps) the token for the next member.
    pub(super) fn token_send(&mut self, mut token: OrfToken, forward: bool) {
        token.header.nodeid = self.cfg.nodeid;
        let next = self.next_member().unwrap_or(self.cfg.nodeid);
        let t = Transmit {
            dest: Dest::Node(next),
            bytes: SrpMessage::OrfToken(token).to_vec(),
        };
        self.last_token = Some(t.clone());
        if forward {
            self.send_transmit(t);
        }
    }

    fn backlog(&self) -> u32 {
        let n = match self.state {
            State::Operational => self.queues.new.len(),
            State::Recovery => self.queues.retrans.len(),
            _ => 0,
        };
        n.min(u32::MAX as usize) as u32
    }

    fn fcc_calculate(&mut self, token: &OrfToken) -> u32 {
        let mut allowed = self.cfg.max_messages;
        let window_left = self.cfg.window_size.saturating_sub(token.fcc);
        allowed = allowed.min(window_left);
        self.my_cbl = self.backlog();
        let denom = token
            .backlog
            .wrapping_add(self.my_cbl)
            .wrapping_sub(self.my_pbl);
        if denom != 0 {
            let share = (u64::from(self.cfg.window_size) * u64::from(self.my_pbl)
                / u64::from(denom)) as u32;
            if share > 0 && allowed > share {
                allowed = share;
            }
        }
        allowed
    }

    fn fcc_rtr_limit(&self, token: &OrfToken, allowed: &mut u32) {
        let room = QUEUE_SPAN
            .saturating_sub(*allowed)
            .saturating_sub(self.cfg.window_size);
        let released = if self.state == State::Recovery {
            self.recovery.released()
        } else {
            self.regular.released()
        };
        if sq_lt(released.wrapping_add(room), token.seq) {
            *allowed = 0;
        }
    }

    fn fcc_token_update(&mut self, token: &mut OrfToken, transmitted: u32) {
        token.fcc = token
            .fcc
            .wrapping_add(transmitted)
            .wrapping_sub(self.my_trc);
        token.backlog = token
            .backlog
            .wrapping_add(self.my_cbl)
            .wrapping_sub(self.my_pbl);
        self.my_trc = transmitted;
        self.my_pbl = self.my_cbl;
    }

    /// Serves retransmit requests for our ring, then adds our own gaps (after
    /// `miss_count_const` visits) to the token's list.
    fn orf_token_rtr(&mut self, token: &mut OrfToken, allowed: &mut u32) -> u32 {
        let mut sent = 0u32;
        let mut i = 0;
        while sent < *allowed && i < token.rtr_list.len() {
            let item = token.rtr_list[i];
            if item.ring_id != self.ring_id {
                i += 1;
                continue;
            }
            let found = self.active_queue().get(item.seq).cloned();
            match found {
                Some(m) => {
                    self.stats.mcast_retx += 1;
                    self.mcast_out(&m);
                    token.rtr_list.remove(i);
                    sent += 1;
                }
                None => i += 1,
            }
        }
        *allowed -= sent;

        let range = token.seq.wrapping_sub(self.my_aru).min(QUEUE_SPAN);
        let base = self.my_aru;
        let miss_const = self.cfg.miss_count_const;
        let ring = self.ring_id;
        for k in 1..=range {
            if token.rtr_list.len() >= RETRANSMIT_ENTRIES_MAX {
                break;
            }
            let s = base.wrapping_add(k);
            let q = self.active_queue();
            if !q.in_range(s) {
                break;
            }
            if q.contains(s) {
                continue;
            }
            if q.miss(s) < miss_const {
                continue;
            }
            if !token.rtr_list.iter().any(|r| r.seq == s) {
                token.rtr_list.push(RtrItem {
                    ring_id: ring,
                    seq: s,
                });
            }
        }
        sent
    }

    /// Sends up to `allowed` queued messages, numbering them from the token.
    fn orf_token_mcast(&mut self, token: &mut OrfToken, allowed: u32) -> u32 {
        let mut sent = 0;
        while sent < allowed {
            let m = if self.state == State::Recovery {
                let Some(inner) = self.queues.retrans.pop_front() else {
                    break;
                };
                self.encapsulate(&inner)
            } else {
                let Some(p) = self.queues.new.pop_front() else {
                    break;
                };
                Mcast {
                    header: self.header(MessageType::Mcast),
                    system_from: self.me.wire(),
                    seq: 0,
                    this_seqno: 0,
                    ring_id: self.ring_id,
                    node_id: 0,
                    guarantee: p.guarantee,
                    payload: p.payload,
                }
            };
            let mut m = m;
            token.seq = token.seq.wrapping_add(1);
            m.seq = token.seq;
            m.this_seqno = self.global_seqno;
            self.global_seqno = self.global_seqno.wrapping_add(1);
            m.ring_id = self.ring_id;
            let seq = m.seq;
            self.stats.mcast_tx += 1;
            self.mcast_out(&m);
            self.active_queue().insert(seq, m);
            self.my_high_seq_received = token.seq;
            sent += 1;
        }
        self.update_aru();
        sent
    }

    /// Multicasts an mcast to the others (our own copy is already in the sort queue).
    fn mcast_out(&mut self, m: &Mcast) {
        self.out.push_back(Transmit {
            dest: Dest::All,
            bytes: SrpMessage::Mcast(m.clone()).to_vec(),
        });
    }

    /// Frees messages every member is known to have.
    fn messages_free(&mut self, token_aru: u32) {
        let mut to = token_aru;
        if sq_lt(self.my_last_aru, to) {
            to = self.my_last_aru;
        }
        if sq_lt(self.my_high_delivered, to) {
            to = self.my_high_delivered;
        }
        self.regular.release_to(to);
    }

    pub(super) fn on_mcast(&mut self, m: Mcast) {
        self.stats.mcast_rx += 1;
        if m.ring_id != self.ring_id {
            let from = Member::from_wire(m.system_from);
            if let Err(r) = self.check_foreign(&from, &m.ring_id) {
                self.refuse(r);
                return;
            }
            self.foreign_member_seen(from);
            return;
        }
        let encapsulated = m.is_encapsulated();
        let seq = m.seq;
        if encapsulated == (self.state == State::Recovery) {
            if let Err(r) = self.check_mcast_seq(seq) {
                self.refuse(r);
                return;
            }
        }
        let q = if encapsulated {
            &mut self.recovery
        } else {
            &mut self.regular
        };
        if q.insert(seq, m) {
            let active = encapsulated == (self.state == State::Recovery);
            if active && sq_lt(self.my_high_seq_received, seq) {
                self.my_high_seq_received = seq;
            }
        }
        self.update_aru();
        if self.state == State::Operational {
            self.deliver_operational();
        }
    }
}

#[cfg(test)]
mod tests {
    use totem_wire::seq::{sq_lt, sq_lte};

    /// Token dedupe uses `sq_lte(token_seq, last)`: the first token of a ring (token_seq 0)
    /// is accepted after recovery sets last = SEQNO_START_TOKEN − 1 = 0xFFFFFFFF.
    #[test]
    fn first_token_passes_dedupe() {
        assert!(!sq_lte(0, u32::MAX));
        assert!(sq_lte(5, 5));
        assert!(sq_lte(4, 5));
        assert!(!sq_lte(6, 5));
    }

    /// The initial aru 0xFFFFFFFF is "below" every small aru under corosync's rule: nobody
    /// but the rep (aru_addr) changes it on the first rotation.
    #[test]
    fn initial_aru_rule() {
        assert!(!sq_lt(0, 0xFFFF_FFFF));
        assert!(sq_lt(0xFFFF_FFFF, 0));
    }
}
