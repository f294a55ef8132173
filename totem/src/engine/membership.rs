//! Membership: GATHER (joins and consensus), COMMIT (the commit token's first rotation) and
//! entry into RECOVERY (its second rotation), plus merge detection and leave.

use totem_wire::header::MessageType;
use totem_wire::seq::sq_lt;
use totem_wire::srp::commit_token::{CommitToken, MembEntry};
use totem_wire::srp::mcast::Mcast;
use totem_wire::srp::memb_join::MembJoin;
use totem_wire::srp::merge_detect::MergeDetect;
use totem_wire::srp::orf_token::OrfToken;
use totem_wire::srp::token_hold_cancel::TokenHoldCancel;
use totem_wire::srp::PROCESSOR_COUNT_MAX;
use totem_wire::{header, RingId, SrpAddr, SrpMessage};

use super::queues::SortQueue;
use super::refusal::{Refusal, RING_SEQ_MAX};
use super::timers::Timer;
use super::{
    Dest, Engine, State, Transmit, LEAVE_DUMMY_NODEID, SEQNO_START_MSG, SEQNO_START_TOKEN,
};
use crate::member::{set, Member};

impl Engine {
    /// Enters GATHER: join now and every `join` ms, start consensus, stop token timers.
    pub(super) fn gather_enter(&mut self, _why: &'static str) {
        self.orf_token_discard = true;
        self.originated_orf_token = false;
        set::add(&mut self.proc_list, self.me);
        self.join_message_send();
        self.timers.set(Timer::Join, self.now, self.cfg.join);
        self.timers
            .set(Timer::Consensus, self.now, self.cfg.consensus_timeout());
        self.timers.cancel(Timer::TokenRetransmit);
        self.timers.cancel(Timer::TokenLoss);
        self.timers.cancel(Timer::MergeDetect);
        self.timers.cancel(Timer::TokenHold);
        self.consensus.clear();
        self.consensus.push(self.me);
        self.state = State::Gather;
        self.stats.gather_entered += 1;
    }

    pub(super) fn join_message_send(&mut self) {
        let j = MembJoin {
            header: self.header(MessageType::MembJoin),
            system_from: self.me.wire(),
            ring_seq: self.ring_id.seq,
            proc_list: self.proc_list.iter().map(Member::wire).collect(),
            failed_list: self.failed_list.iter().map(Member::wire).collect(),
        };
        self.stats.memb_join_tx += 1;
        self.send_all(&SrpMessage::MembJoin(j));
    }

    /// A join with header nodeid 0, ourselves moved from the proc list to the failed list.
    pub(super) fn leave_message_send(&mut self) {
        let mut failed = self.failed_list.clone();
        set::add(&mut failed, self.me);
        let procs = set::subtract(&self.proc_list, &[self.me]);
        let mut header = self.header(MessageType::MembJoin);
        header.nodeid = LEAVE_DUMMY_NODEID;
        // G1/G2 also zero the nodeid inside system_from; G3 keeps the real one.
        let system_from = match self.me.wire() {
            SrpAddr::Addrs {
                no_addrs,
                mut addrs,
            } => {
                addrs[0].nodeid = LEAVE_DUMMY_NODEID;
                SrpAddr::Addrs { no_addrs, addrs }
            }
            s => s,
        };
        let j = MembJoin {
            header,
            system_from,
            ring_seq: self.ring_id.seq,
            proc_list: procs.iter().map(Member::wire).collect(),
            failed_list: failed.iter().map(Member::wire).collect(),
        };
        self.stats.memb_join_tx += 1;
        let bytes = SrpMessage::MembJoin(j).to_vec();
        self.out.push_back(Transmit {
            dest: Dest::All,
            bytes,
        });
    }

    pub(super) fn merge_detect_send(&mut self) {
        let m = MergeDetect {
            header: self.header(MessageType::MembMergeDetect),
            system_from: self.me.wire(),
            ring_id: self.ring_id,
        };
        self.stats.memb_merge_detect_tx += 1;
        self.send_all(&SrpMessage::MergeDetect(m));
    }

    /// Asks the representative to release a held token (only while we believe it is held).
    pub(super) fn token_hold_cancel_send(&mut self) {
        if !self.my_token_held {
            return;
        }
        self.my_token_held = false;
        let h = TokenHoldCancel {
            header: self.header(MessageType::TokenHoldCancel),
            ring_id: self.ring_id,
        };
        self.stats.token_hold_cancel_tx += 1;
        self.send_all(&SrpMessage::TokenHoldCancel(h));
    }

    pub(super) fn on_token_hold_cancel(&mut self, h: TokenHoldCancel) {
        if h.ring_id == self.ring_id {
            self.my_seq_unchanged = 0;
            if self.is_rep() {
                self.on_token_retransmit_timeout();
            }
        }
    }

    fn proc_minus_failed(&self) -> Vec<Member> {
        set::subtract(&self.proc_list, &self.failed_list)
    }

    fn consensus_agreed(&self) -> bool {
        let want = self.proc_minus_failed();
        !want.is_empty() && set::subset(&want, &self.consensus)
    }

    fn lowest_in_config(&self) -> bool {
        self.proc_minus_failed().iter().min() == Some(&self.me)
    }

    pub(super) fn consensus_timeout_expired(&mut self) {
        self.stats.consensus_timeouts += 1;
        if self.gather_stuck() {
            return;
        }
        if self.consensus_agreed() {
            self.consensus.clear();
            self.consensus.push(self.me);
            self.reset_token_timeout();
        } else {
            let silent = set::subtract(&self.proc_list, &self.consensus);
            set::merge(&mut self.failed_list, &silent);
            self.gather_enter("consensus timeout");
        }
    }

    /// Counts one more formation attempt that did not reach OPERATIONAL. After
    /// `gather_stuck_after` of them the node forgets what it gathered (the failed list and
    /// every silent member) and starts a fresh gather: a gather poisoned by forged, stale
    /// or mutually exclusive joins would otherwise hold it out of every ring for good.
    /// Returns whether it restarted.
    fn gather_stuck(&mut self) -> bool {
        self.formation_attempts += 1;
        let limit = self.cfg.gather_stuck_after;
        if limit == 0 || self.formation_attempts < limit {
            return false;
        }
        self.formation_attempts = 0;
        self.stats.gather_restarts += 1;
        self.proc_list = vec![self.me];
        self.failed_list.clear();
        self.failed_to_recv = false;
        self.token_ring_id_seq = self.token_ring_id_seq.max(self.ring_id.seq);
        self.gather_enter("continuously in gather: starting afresh");
        true
    }

    pub(super) fn on_token_loss_timeout(&mut self) {
        match self.state {
            State::Operational => {
                self.stats.token_lost += 1;
                self.gather_enter("token lost in operational");
            }
            State::Gather => {
                self.consensus_timeout_expired();
                self.gather_enter("consensus expired");
            }
            State::Commit => {
                self.stats.token_lost += 1;
                if !self.gather_stuck() {
                    self.gather_enter("token lost in commit");
                }
            }
            State::Recovery => {
                self.stats.token_lost += 1;
                self.recovery_token_loss();
                if !self.gather_stuck() {
                    self.gather_enter("token lost in recovery");
                }
            }
            State::Left => {}
        }
    }

    pub(super) fn recovery_token_loss(&mut self) {
        self.my_aru = self.old_ring_aru;
        self.my_high_seq_received = self.old_ring_high_seq;
    }

    pub(super) fn on_merge_detect(&mut self, m: MergeDetect) {
        if m.ring_id == self.ring_id {
            return;
        }
        let from = Member::from_wire(m.system_from);
        if let Err(r) = self.check_foreign(&from, &m.ring_id) {
            self.refuse(r);
            return;
        }
        self.foreign_member_seen(from);
    }

    /// Whether `seq` is a ring seq some correct member can have: at most
    /// [`RING_SEQ_MAX`], or no further (plus `slack`) than the ring we are in already is.
    pub(super) fn ring_seq_plausible(&self, seq: u64, slack: u64) -> bool {
        seq <= RING_SEQ_MAX || seq <= self.ring_id.seq.saturating_add(slack)
    }

    /// Whether `m` may be a member: in the nodelist, when the configuration has one (by
    /// nodeid in G3, by address in G1/G2, whose leave messages zero the nodeid).
    pub(super) fn in_nodelist(&self, m: &Member) -> bool {
        let list = &self.cfg.nodelist;
        if list.is_empty() {
            return true;
        }
        list.iter().any(|p| match (self.gen, p.address) {
            (totem_wire::Generation::G3, _) | (_, None) => p.nodeid == m.nodeid(),
            // The address names the member; its nodeid must be the listed one too (tokens
            // go to nodeids), unless the list does not know it (0: interface members).
            (gen, Some(a)) => {
                (p.nodeid == 0 || p.nodeid == m.nodeid())
                    && Member::own(gen, p.nodeid, Some(a)) == *m
            }
        })
    }

    /// A message of another ring from `from`: refused when it names a node outside the
    /// nodelist or a ring no correct member can be in, and when `from` is a member of our
    /// operational ring whose token reached us within the token timeout. Such a member
    /// cannot be the representative of another ring (it would have stopped passing our
    /// token, and our token loss would come first), so the message is a replay or forged;
    /// refusing it costs a real merge at most one token timeout.
    pub(super) fn check_foreign(&self, from: &Member, ring: &RingId) -> Result<(), Refusal> {
        if !self.in_nodelist(from) {
            return Err(Refusal::NotInNodelist);
        }
        if !self.ring_seq_plausible(ring.seq, 8) {
            return Err(Refusal::RingSeqJump);
        }
        let token_alive = self
            .last_token_at
            .is_some_and(|t| self.now.saturating_duration_since(t) < self.cfg.token_timeout());
        if self.state == State::Operational
            && *from != self.me
            && set::contains(&self.memb, from)
            && token_alive
        {
            return Err(Refusal::StaleForeign);
        }
        Ok(())
    }

    /// A join that cannot come from a correct member of a ring we could form.
    fn check_join(&self, j: &MembJoin) -> Result<(), Refusal> {
        if j.proc_list.is_empty() && j.failed_list.is_empty() {
            return Err(Refusal::EmptyJoin);
        }
        if !self.ring_seq_plausible(j.ring_seq, 0) {
            return Err(Refusal::RingSeqJump);
        }
        // A leave (header nodeid 0) zeroes the nodeid of system_from in G1/G2; the leaver
        // is in its failed list, judged below.
        let from = Member::from_wire(j.system_from);
        let leave = j.header.nodeid == LEAVE_DUMMY_NODEID && from.nodeid() == LEAVE_DUMMY_NODEID;
        if !leave && !self.in_nodelist(&from) {
            return Err(Refusal::NotInNodelist);
        }
        for a in j.proc_list.iter().chain(&j.failed_list) {
            if !self.in_nodelist(&Member::from_wire(*a)) {
                return Err(Refusal::NotInNodelist);
            }
        }
        Ok(())
    }

    /// A message from another ring: OPERATIONAL gathers with its sender; GATHER adds a new
    /// sender and restarts; COMMIT and RECOVERY ignore it.
    pub(super) fn foreign_member_seen(&mut self, from: Member) {
        match self.state {
            State::Operational => {
                set::add(&mut self.proc_list, from);
                self.gather_enter("foreign ring in operational");
            }
            State::Gather => {
                if !set::contains(&self.proc_list, &from) {
                    set::add(&mut self.proc_list, from);
                    self.gather_enter("foreign ring in gather");
                }
            }
            _ => self.stats.foreign_dropped += 1,
        }
    }

    pub(super) fn on_join(&mut self, j: MembJoin) {
        self.stats.memb_join_rx += 1;
        if let Err(r) = self.check_join(&j) {
            self.refuse(r);
            return;
        }
        let from = Member::from_wire(j.system_from);
        // The new ring's seq comes from the members' latest joins (see
        // `commit_token_create`), not from the highest seq any join ever claimed: a forged
        // join is overwritten by its "sender's" next real one.
        if j.header.nodeid != LEAVE_DUMMY_NODEID {
            let room = self.join_seqs.len() < 2 * PROCESSOR_COUNT_MAX;
            match self.join_seqs.iter_mut().find(|(m, _)| *m == from) {
                Some(e) => e.1 = j.ring_seq,
                None if room => self.join_seqs.push((from, j.ring_seq)),
                None => {}
            }
        }
        match self.state {
            State::Operational => {
                if !self.ignore_join_under_operational(&j, &from) {
                    self.join_process(&j, from);
                }
            }
            State::Gather => self.join_process(&j, from),
            State::Commit => {
                if set::contains(&self.new_memb, &from) && j.ring_seq >= self.ring_id.seq {
                    self.join_process(&j, from);
                    self.gather_enter("join during commit");
                }
            }
            State::Recovery => {
                if set::contains(&self.new_memb, &from) && j.ring_seq >= self.ring_id.seq {
                    self.join_process(&j, from);
                    self.recovery_token_loss();
                    self.gather_enter("join during recovery");
                }
            }
            State::Left => {}
        }
    }

    fn ignore_join_under_operational(&self, j: &MembJoin, from: &Member) -> bool {
        let failed: Vec<Member> = j
            .failed_list
            .iter()
            .map(|a| Member::from_wire(*a))
            .collect();
        if set::contains(&failed, &self.me) {
            return true;
        }
        set::contains(&self.memb, from) && j.ring_seq < self.ring_id.seq
    }

    fn join_process(&mut self, j: &MembJoin, from: Member) {
        let procs: Vec<Member> = j.proc_list.iter().map(|a| Member::from_wire(*a)).collect();
        let failed: Vec<Member> = j
            .failed_list
            .iter()
            .map(|a| Member::from_wire(*a))
            .collect();
        let leave = j.header.nodeid == LEAVE_DUMMY_NODEID;
        if leave {
            if let Some(l) = failed.last() {
                if !self.left_gracefully.contains(&l.nodeid()) {
                    self.left_gracefully.push(l.nodeid());
                }
            }
        }
        let mut gathered = false;
        if set::equal(&procs, &self.proc_list) && set::equal(&failed, &self.failed_list) {
            if !leave {
                set::add(&mut self.consensus, from);
            }
            if self.consensus_agreed() && self.failed_to_recv {
                self.failed_to_recv = false;
                self.proc_list = vec![self.me];
                self.failed_list.clear();
                self.commit_token_create();
                self.commit_enter();
                return;
            }
            if self.consensus_agreed() && self.lowest_in_config() {
                self.commit_token_create();
                self.commit_enter();
                return;
            }
        } else if set::subset(&procs, &self.proc_list) && set::subset(&failed, &self.failed_list) {
            // Nothing new in it.
        } else if set::contains(&self.failed_list, &from) {
            // From a node we consider failed.
        } else {
            let mut grown = self.proc_list.clone();
            set::merge(&mut grown, &procs);
            set::merge(&mut grown, &failed);
            if grown.len() > PROCESSOR_COUNT_MAX {
                self.refuse(Refusal::TooManyMembers);
                return;
            }
            let before = (self.proc_list.len(), self.failed_list.len());
            set::merge(&mut self.proc_list, &procs);
            if set::contains(&failed, &self.me) {
                set::add(&mut self.failed_list, from);
            } else if set::contains(&self.memb, &from) {
                if !set::contains(&self.failed_list, &from) {
                    set::merge(&mut self.failed_list, &failed);
                } else {
                    let extra = set::subtract(&failed, &self.memb);
                    set::merge(&mut self.failed_list, &extra);
                }
            }
            // Restart gathering only when the join taught us something. corosync restarts
            // on every such join; two gatherers whose failed lists are not subsets of each
            // other (and cannot adopt them) then restart each other at network speed and
            // the consensus timeout never fires (join storm; found by the simulator,
            // seed 141). Left alone, the consensus timeout settles the disagreement.
            if (self.proc_list.len(), self.failed_list.len()) != before {
                self.gather_enter("merge during join");
                gathered = true;
            }
        }
        if !gathered && self.state == State::Operational {
            self.gather_enter("join during operational");
        }
    }

    /// The lowest member with consensus builds the commit token for proc − failed, sorted,
    /// with ring seq = highest seen + 4.
    fn commit_token_create(&mut self) {
        let mut members = self.proc_minus_failed();
        members.sort();
        let highest = self
            .join_seqs
            .iter()
            .filter(|(m, _)| set::contains(&members, m))
            .map(|(_, s)| *s)
            .max()
            .unwrap_or(0)
            .max(self.token_ring_id_seq)
            .max(self.ring_id.seq);
        let zero_ring = match self.me.wire() {
            SrpAddr::Node(_) => RingId::node(0, 0),
            SrpAddr::Addrs { .. } => RingId {
                rep: totem_wire::RingRep::Addr(Default::default()),
                seq: 0,
            },
        };
        let n = members.len();
        self.commit_token = Some(CommitToken {
            header: self.header(MessageType::MembCommitToken),
            token_seq: 0,
            // Never wraps: seqs past RING_SEQ_MAX are refused unless the ring is there.
            ring_id: self.me.ring_id(highest.saturating_add(4)),
            retrans_flg: 0,
            memb_index: 0,
            addr: members.iter().map(Member::wire).collect(),
            memb_list: vec![
                MembEntry {
                    ring_id: zero_ring,
                    aru: 0,
                    high_delivered: 0,
                    received_flg: 0,
                };
                n
            ],
        });
    }

    /// Validates a received commit token (shape, members, ring seq); returns its members.
    fn commit_token_members(&self, c: &CommitToken) -> Result<Vec<Member>, Refusal> {
        let n = c.addr.len();
        if n == 0 || c.memb_list.len() != n || c.memb_index < 0 || c.memb_index as usize > n {
            return Err(Refusal::CommitTokenShape);
        }
        let members: Vec<Member> = c.addr.iter().map(|a| Member::from_wire(*a)).collect();
        for (i, m) in members.iter().enumerate() {
            if members[..i].contains(m) {
                return Err(Refusal::CommitTokenShape);
            }
            if !self.in_nodelist(m) {
                return Err(Refusal::NotInNodelist);
            }
        }
        if !self.ring_seq_plausible(c.ring_id.seq, 8) {
            return Err(Refusal::RingSeqJump);
        }
        // Both rotations pass it along the new ring's order (see the token's rule).
        // openais 0.80.6 sets the header nodeid only where a member fills in its entry, so
        // its second rotation goes round under the last member's (see the config key).
        if let Some(pos) = members.iter().position(|m| *m == self.me) {
            let pred = members[(pos + n - 1) % n];
            let openais_second_rotation = self.cfg.openais_stale_nodeids
                && c.memb_index as usize == n
                && c.header.nodeid == members[n - 1].nodeid();
            if c.header.nodeid != pred.nodeid() && !openais_second_rotation {
                return Err(Refusal::NotFromPredecessor);
            }
        }
        Ok(members)
    }

    pub(super) fn on_commit_token(&mut self, c: CommitToken) {
        let members = match self.commit_token_members(&c) {
            Ok(m) => m,
            Err(r) => {
                self.refuse(r);
                return;
            }
        };
        match self.state {
            State::Gather => {
                let idx = c.memb_index as usize;
                if idx < members.len()
                    && members[idx] == self.me
                    && set::equal(&members, &self.proc_minus_failed())
                    && c.ring_id.seq > self.ring_id.seq
                {
                    self.commit_token = Some(c);
                    self.commit_enter();
                }
            }
            State::Commit => {
                if c.ring_id == self.ring_id && c.memb_index as usize == members.len() {
                    if !self.commit_token_unchanged(&c) {
                        self.refuse(Refusal::CommitTokenChanged);
                        return;
                    }
                    self.recovery_enter(c);
                }
            }
            State::Recovery => {
                if c.ring_id == self.ring_id && self.is_rep() && !self.originated_orf_token {
                    self.originated_orf_token = true;
                    self.orf_token_send_initial();
                    self.reset_token_timeout();
                    self.reset_token_retransmit_timeout();
                }
            }
            State::Operational | State::Left => {}
        }
    }

    /// Whether the full commit token agrees with the one we passed on in the first
    /// rotation: the same members, and the entries before ours unchanged (later members
    /// may only clear received_flg). A different one is forged or corrupted; the
    /// transitional configuration every member computes from it must be the same.
    fn commit_token_unchanged(&self, c: &CommitToken) -> bool {
        let Some(sent) = &self.commit_sent else {
            return false;
        };
        // Members compared as members (ring-0 address or nodeid): an RRP member's second
        // address is its own business.
        let same_members = c.addr.len() == sent.addr.len()
            && c.addr
                .iter()
                .zip(&sent.addr)
                .all(|(a, b)| Member::from_wire(*a) == Member::from_wire(*b));
        if !same_members || c.memb_list.len() != sent.memb_list.len() {
            return false;
        }
        // The entries our predecessors filled, as we passed them on (ours is left out: a
        // capture replay feeds the engine the real node's entry in its place).
        let filled = (sent.memb_index as usize)
            .saturating_sub(1)
            .min(sent.memb_list.len());
        c.memb_list[..filled]
            .iter()
            .zip(&sent.memb_list[..filled])
            .all(|(got, ours)| {
                got.ring_id == ours.ring_id
                    && got.aru == ours.aru
                    && got.high_delivered == ours.high_delivered
                    && got.received_flg <= ours.received_flg
            })
    }

    /// Fills our entry of the commit token, adopts its ring and passes it on.
    fn commit_enter(&mut self) {
        if !self.old_ring_saved {
            self.old_ring_saved = true;
            self.old_ring_id = self.ring_id;
            self.old_ring_aru = self.my_aru;
            self.old_ring_high_seq = self.my_high_seq_received;
        }
        let Some(mut ct) = self.commit_token.take() else {
            return;
        };
        let idx = ct.memb_index as usize;
        let n = ct.addr.len();
        if idx >= n {
            return;
        }
        self.new_memb = ct.addr.iter().map(|a| Member::from_wire(*a)).collect();
        self.my_received_flg = self.my_aru == self.my_high_seq_received;
        ct.memb_list[idx] = MembEntry {
            ring_id: self.old_ring_id,
            aru: self.old_ring_aru,
            high_delivered: self.my_high_delivered,
            received_flg: u32::from(self.my_received_flg),
        };
        // Entries of our old ring with an aru below the highest among them did not
        // receive everything.
        let mine = ct.memb_list[idx].ring_id;
        let mut high_aru = ct.memb_list[idx].aru;
        for e in &ct.memb_list[..=idx] {
            if e.ring_id == mine && sq_lt(high_aru, e.aru) {
                high_aru = e.aru;
            }
        }
        for (i, e) in ct.memb_list[..=idx].iter_mut().enumerate() {
            if e.ring_id == mine && sq_lt(e.aru, high_aru) {
                e.received_flg = 0;
                if i == idx {
                    self.my_received_flg = false;
                }
            }
        }
        ct.header.nodeid = self.cfg.nodeid;
        ct.memb_index += 1;
        self.token_target = ct.addr[ct.memb_index as usize % n].nodeid();

        self.timers.cancel(Timer::Join);
        self.timers.cancel(Timer::Consensus);
        self.ring_id = ct.ring_id;
        self.stored_ring_seq = self.ring_id.seq;
        self.token_ring_id_seq = self.ring_id.seq;
        self.state = State::Commit;
        self.stats.commit_entered += 1;
        self.reset_token_retransmit_timeout();
        self.reset_token_timeout();
        self.my_trc = 0;
        self.my_pbl = 0;
        self.my_cbl = 0;
        self.commit_sent = Some(ct.clone());
        self.commit_token_send(ct);
    }

    fn commit_token_send(&mut self, mut ct: CommitToken) {
        ct.token_seq = ct.token_seq.wrapping_add(1);
        ct.header.nodeid = self.cfg.nodeid;
        let bytes = SrpMessage::CommitToken(ct).to_vec();
        let t = Transmit {
            dest: Dest::Node(self.token_target),
            bytes,
        };
        self.last_token = Some(t.clone());
        self.stats.memb_commit_token_tx += 1;
        self.send_transmit(t);
        self.reset_token_retransmit_timeout();
    }

    /// The commit token came back full: build the transitional configuration, queue the
    /// old-ring messages others may lack, pass the token on and enter RECOVERY.
    fn recovery_enter(&mut self, ct: CommitToken) {
        self.orf_token_discard = false;
        self.ring_token_seq = SEQNO_START_MSG;
        self.last_token_at = None;
        self.adopt_token = None;
        self.high_ring_delivered = SEQNO_START_MSG;
        self.recovery = SortQueue::new(SEQNO_START_MSG);
        self.queues.retrans.clear();
        let mut low_ring_aru = self.old_ring_high_seq;
        let entries = ct.memb_list.clone();
        let addrs: Vec<Member> = ct.addr.iter().map(|a| Member::from_wire(*a)).collect();
        self.commit_token_send(ct);
        self.my_token_seq = SEQNO_START_TOKEN.wrapping_sub(1);

        // Transitional members: in our old configuration and coming from our old ring.
        self.trans_memb = addrs
            .iter()
            .zip(&entries)
            .filter(|(m, e)| e.ring_id == self.old_ring_id && set::contains(&self.memb, m))
            .map(|(m, _)| *m)
            .collect();
        let mut any_missing = false;
        for (m, e) in addrs.iter().zip(&entries) {
            if !set::contains(&self.trans_memb, m) {
                continue;
            }
            if e.received_flg == 0 {
                any_missing = true;
            }
            if sq_lt(e.aru, low_ring_aru) {
                low_ring_aru = e.aru;
            }
            if sq_lt(self.high_ring_delivered, e.high_delivered) {
                self.high_ring_delivered = e.high_delivered;
            }
        }
        if any_missing {
            let mut s = low_ring_aru;
            let mut n = 0;
            while s != self.old_ring_high_seq && n < super::queues::QUEUE_SPAN {
                s = s.wrapping_add(1);
                n += 1;
                if let Some(m) = self.regular.get(s) {
                    self.queues.retrans.push_back(m.clone());
                }
            }
        }
        self.my_aru = SEQNO_START_MSG;
        self.my_aru_count = 0;
        self.my_seq_unchanged = 0;
        self.my_high_seq_received = SEQNO_START_MSG;
        self.my_install_seq = SEQNO_START_MSG;
        self.my_retrans_flg_count = 0;
        self.my_rotation_counter = 0;
        self.my_set_retrans_flg = false;
        self.reset_token_timeout();
        self.reset_token_retransmit_timeout();
        self.state = State::Recovery;
        self.stats.recovery_entered += 1;
    }

    /// The representative's first ORF token of a new ring: seq 0, aru 0xFFFFFFFF.
    fn orf_token_send_initial(&mut self) {
        let retrans = !self.queues.retrans.is_empty();
        self.my_set_retrans_flg = retrans;
        let t = OrfToken {
            header: self.header(MessageType::OrfToken),
            seq: SEQNO_START_MSG,
            token_seq: SEQNO_START_TOKEN,
            aru: SEQNO_START_MSG.wrapping_sub(1),
            aru_addr: self.cfg.nodeid,
            ring_id: self.ring_id,
            backlog: 0,
            fcc: 0,
            retrans_flg: i32::from(retrans),
            rtr_list: Vec::new(),
        };
        self.stats.orf_token_tx += 1;
        self.token_send(t, true);
    }

    /// Wraps an old-ring mcast for re-sending in the new ring.
    pub(super) fn encapsulate(&self, inner: &Mcast) -> Mcast {
        let mut h = self.header(MessageType::Mcast);
        h.encapsulated = header::ENCAPSULATED;
        Mcast {
            header: h,
            system_from: self.me.wire(),
            seq: 0,
            this_seqno: 0,
            ring_id: self.ring_id,
            node_id: 0,
            guarantee: 0,
            payload: SrpMessage::Mcast(inner.clone()).to_vec(),
        }
    }
}
