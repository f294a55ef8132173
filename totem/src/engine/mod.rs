//! The Totem single-ring protocol as a sans-IO state machine.
//!
//! The engine owns no socket and no clock: datagrams and deadlines go in
//! ([`Engine::handle_datagram`], [`Engine::handle_timeout`]), datagrams, deliveries,
//! configuration changes and the next deadline come out ([`Engine::poll_transmit`],
//! [`Engine::poll_event`], [`Engine::poll_timeout`]). Every message is encoded and decoded
//! with `totem_wire`.

mod delivery;
mod membership;
pub mod queues;
pub mod refusal;
pub mod timers;
mod token;

use std::collections::VecDeque;
use std::time::Instant;

use totem_wire::header::{Header, MessageType};
use totem_wire::srp::commit_token::CommitToken;
use totem_wire::{Generation, RingId, SrpMessage};

use crate::config::Config;
use crate::member::Member;
use queues::{Pending, SendQueues, SortQueue};
pub use refusal::{Refusal, Refusals};
use timers::{Timer, Timers};

/// Seq before the first message of a ring (SEQNO_START_MSG).
pub const SEQNO_START_MSG: u32 = 0;
/// token_seq of a ring's first token (SEQNO_START_TOKEN).
pub const SEQNO_START_TOKEN: u32 = 0;
/// Header nodeid that marks a join as a graceful leave.
pub const LEAVE_DUMMY_NODEID: u32 = 0;
/// Loopback items processed per call before control goes back to the driver.
const LOOPBACK_BUDGET: usize = 256;

/// The membership state of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Operational,
    Gather,
    Commit,
    Recovery,
    /// Left the ring with [`Engine::leave`]; inert.
    Left,
}

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dest {
    /// Every node (multicast, or one unicast per member on udpu). The engine has already
    /// processed its own copy: the driver must not loop it back.
    All,
    /// One node, by nodeid (tokens and commit tokens).
    Node(u32),
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub dest: Dest,
    /// A complete Totem SRP message in the configured generation.
    pub bytes: Vec<u8>,
}

/// Delivery guarantee of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Guarantee {
    /// Total order.
    Agreed,
    /// Total order, delivered only once every member of the configuration has it.
    Safe,
}

impl Guarantee {
    fn wire(self) -> i32 {
        match self {
            Guarantee::Agreed => totem_wire::srp::mcast::GUARANTEE_AGREED,
            Guarantee::Safe => totem_wire::srp::mcast::GUARANTEE_SAFE,
        }
    }
    fn from_wire(v: i32) -> Self {
        if v == totem_wire::srp::mcast::GUARANTEE_SAFE {
            Guarantee::Safe
        } else {
            Guarantee::Agreed
        }
    }
}

/// Kind of configuration change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigKind {
    /// The members that come from our previous ring; old-ring messages delivered after it.
    Transitional,
    /// The new ring.
    Regular,
}

/// What the engine tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message, in agreed order.
    Deliver {
        /// Originator nodeid (the mcast header nodeid, as corosync delivers it).
        sender: u32,
        payload: Vec<u8>,
        guarantee: Guarantee,
        /// Ring the message was ordered in.
        ring_id: RingId,
        /// Its seq in that ring.
        seq: u32,
    },
    /// A configuration change (EVS: transitional, then regular).
    Config {
        kind: ConfigKind,
        /// The new ring's id (for both kinds, as corosync reports it).
        ring_id: RingId,
        members: Vec<u32>,
        left: Vec<u32>,
        joined: Vec<u32>,
    },
}

/// Why `submit` refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Backpressure {
    /// The send queue holds `send_queue_max` messages; retry after some are sent.
    #[error("send queue full ({0} messages)")]
    QueueFull(usize),
    /// The payload is larger than `max_payload`.
    #[error("payload of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    /// The node has left the ring.
    #[error("node has left the ring")]
    Stopped,
}

/// Counters of what the engine did and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that failed to decode (dropped).
    pub malformed: u64,
    /// Datagrams decoded but refused as inconsistent with the ring (all reasons).
    pub rejected: u64,
    /// The same refusals by reason.
    pub refused: Refusals,
    pub orf_token_rx: u64,
    pub orf_token_tx: u64,
    /// Tokens dropped as retransmitted duplicates (token_seq already seen).
    pub orf_token_dup: u64,
    pub token_retransmits: u64,
    pub mcast_tx: u64,
    pub mcast_rx: u64,
    pub mcast_retx: u64,
    pub memb_join_tx: u64,
    pub memb_join_rx: u64,
    pub memb_merge_detect_tx: u64,
    pub memb_commit_token_tx: u64,
    pub token_hold_cancel_tx: u64,
    pub gather_entered: u64,
    pub commit_entered: u64,
    pub recovery_entered: u64,
    pub operational_entered: u64,
    pub token_lost: u64,
    pub consensus_timeouts: u64,
    pub failed_to_receive: u64,
    pub foreign_dropped: u64,
    /// Times the node gave up a gather that went nowhere for several consensus periods and
    /// started afresh (see `Config::gather_stuck_after`).
    pub gather_restarts: u64,
    pub delivered: u64,
}

/// A Totem SRP node.
#[derive(Debug)]
pub struct Engine {
    cfg: Config,
    gen: Generation,
    me: Member,
    state: State,
    now: Instant,

    // Membership.
    ring_id: RingId,
    old_ring_id: RingId,
    memb: Vec<Member>,
    new_memb: Vec<Member>,
    trans_memb: Vec<Member>,
    proc_list: Vec<Member>,
    failed_list: Vec<Member>,
    consensus: Vec<Member>,
    token_ring_id_seq: u64,
    /// The ring seq of each member's latest join.
    join_seqs: Vec<(Member, u64)>,
    stored_ring_seq: u64,
    commit_token: Option<CommitToken>,
    /// The commit token as this node passed it on in the first rotation.
    commit_sent: Option<CommitToken>,
    token_target: u32,
    failed_to_recv: bool,
    originated_orf_token: bool,
    orf_token_discard: bool,
    left_gracefully: Vec<u32>,

    // Saved state of the last operational ring while forming a new one.
    old_ring_saved: bool,
    old_ring_aru: u32,
    old_ring_high_seq: u32,
    high_ring_delivered: u32,

    // Ordering.
    regular: SortQueue,
    recovery: SortQueue,
    queues: SendQueues,
    my_aru: u32,
    my_high_seq_received: u32,
    my_high_delivered: u32,
    my_last_aru: u32,
    my_token_seq: u32,
    my_last_seq: u32,
    my_seq_unchanged: u32,
    my_aru_count: u32,
    my_token_held: bool,
    my_received_flg: bool,
    global_seqno: i32,
    // Flow control.
    my_trc: u32,
    my_pbl: u32,
    my_cbl: u32,
    // Recovery progress.
    my_set_retrans_flg: bool,
    my_retrans_flg_count: u32,
    my_install_seq: u32,
    my_rotation_counter: u32,
    // Safe delivery: token aru on the previous visit and the resulting safe point.
    prev_token_aru: Option<u32>,
    safe_point: u32,

    last_token: Option<Transmit>,
    /// When the last token of our ring was accepted.
    last_token_at: Option<Instant>,
    /// Highest seq a token of the current ring carried through this node (the bound on
    /// mcast seqs the ring can have handed out before the token comes back).
    ring_token_seq: u32,
    /// Consensus timeouts and commit/recovery token losses since the last OPERATIONAL.
    formation_attempts: u32,
    /// Consecutive visits of a token whose fcc kept the window full on an idle ring.
    fcc_stuck_visits: u32,
    /// See [`Engine::adopt_next_token`]: the ring whose next token is adopted.
    adopt_token: Option<RingId>,
    last_refusal: Option<Refusal>,
    timers: Timers,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
    loopback: VecDeque<Vec<u8>>,
    stats: Stats,
}

impl Engine {
    /// A node that starts gathering at `now` (it sends its first join at once).
    pub fn new(config: Config, now: Instant) -> Self {
        let gen = config.generation;
        let me = Member::own(gen, config.nodeid, config.address);
        let me = match config.address1 {
            Some(a1) => me.with_ring1(a1),
            None => me,
        };
        let ring_id = me.ring_id(config.ring_seq_start);
        let mut e = Engine {
            gen,
            me,
            state: State::Gather,
            now,
            ring_id,
            old_ring_id: ring_id,
            memb: vec![me],
            new_memb: Vec::new(),
            trans_memb: Vec::new(),
            proc_list: vec![me],
            failed_list: Vec::new(),
            consensus: Vec::new(),
            token_ring_id_seq: config.ring_seq_start,
            join_seqs: Vec::new(),
            stored_ring_seq: config.ring_seq_start,
            commit_token: None,
            commit_sent: None,
            token_target: config.nodeid,
            failed_to_recv: false,
            originated_orf_token: false,
            orf_token_discard: true,
            left_gracefully: Vec::new(),
            old_ring_saved: false,
            old_ring_aru: SEQNO_START_MSG,
            old_ring_high_seq: SEQNO_START_MSG,
            high_ring_delivered: SEQNO_START_MSG,
            regular: SortQueue::new(SEQNO_START_MSG),
            recovery: SortQueue::new(SEQNO_START_MSG),
            queues: SendQueues::default(),
            my_aru: SEQNO_START_MSG,
            my_high_seq_received: SEQNO_START_MSG,
            my_high_delivered: SEQNO_START_MSG,
            my_last_aru: SEQNO_START_MSG,
            my_token_seq: SEQNO_START_TOKEN.wrapping_sub(1),
            my_last_seq: SEQNO_START_MSG,
            my_seq_unchanged: 0,
            my_aru_count: 0,
            my_token_held: false,
            my_received_flg: true,
            global_seqno: 0,
            my_trc: 0,
            my_pbl: 0,
            my_cbl: 0,
            my_set_retrans_flg: false,
            my_retrans_flg_count: 0,
            my_install_seq: SEQNO_START_MSG,
            my_rotation_counter: 0,
            prev_token_aru: None,
            safe_point: SEQNO_START_MSG,
            last_token: None,
            last_token_at: None,
            ring_token_seq: SEQNO_START_MSG,
            formation_attempts: 0,
            fcc_stuck_visits: 0,
            adopt_token: None,
            last_refusal: None,
            timers: Timers::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            loopback: VecDeque::new(),
            stats: Stats::default(),
            cfg: config,
        };
        e.gather_enter("startup");
        e.run_loopback();
        e
    }

    /// Processes one received datagram (a bare Totem SRP message). Malformed input is
    /// counted in [`Stats::malformed`] and dropped.
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) {
        self.now = now;
        if self.state != State::Left {
            self.process(bytes);
            self.run_loopback();
        }
    }

    /// Fires every timer whose deadline is at or before `now`, and continues any loopback
    /// work left over from earlier calls.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.state == State::Left {
            return;
        }
        for t in Timer::ALL {
            if self.timers.take_expired(t, now) {
                self.on_timer(t);
                self.run_loopback();
            }
        }
        self.run_loopback();
    }

    /// The next instant at which `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Left {
            return None;
        }
        if !self.loopback.is_empty() {
            return Some(self.now);
        }
        self.timers.next()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next delivery or configuration change.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Queues `payload` for multicast in agreed or safe order.
    ///
    /// Messages are sent when the token visits; if the idle ring's token is held, a
    /// token_hold_cancel goes out (processed locally on the next `handle_*` call).
    pub fn submit(&mut self, payload: Vec<u8>, guarantee: Guarantee) -> Result<(), Backpressure> {
        if self.state == State::Left {
            return Err(Backpressure::Stopped);
        }
        if payload.len() > self.cfg.max_payload {
            return Err(Backpressure::TooLarge {
                len: payload.len(),
                max: self.cfg.max_payload,
            });
        }
        if self.queues.new.len() >= self.cfg.send_queue_max {
            return Err(Backpressure::QueueFull(self.queues.new.len()));
        }
        self.queues.new.push_back(Pending {
            payload,
            guarantee: guarantee.wire(),
        });
        self.token_hold_cancel_send();
        Ok(())
    }

    /// Leaves the ring gracefully: multicasts a leave (a join with nodeid 0) and goes inert.
    pub fn leave(&mut self, now: Instant) {
        self.now = now;
        if self.state == State::Left {
            return;
        }
        self.leave_message_send();
        self.state = State::Left;
        self.timers.cancel_all();
        self.loopback.clear();
    }

    /// Capture replay: takes the ring's counters (token_seq, seq, aru) from the next token
    /// of the current ring instead of checking them against this engine's own. For an
    /// engine that formed a capture's ring by itself and is then fed the capture from
    /// inside that ring, whose counters are far from its own; a correct node never needs it.
    pub fn adopt_next_token(&mut self) {
        self.adopt_token = Some(self.ring_id);
    }

    /// The reason of the latest refusal (for the caller's log line).
    pub fn last_refusal(&self) -> Option<Refusal> {
        self.last_refusal
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// Current membership state.
    pub fn state(&self) -> State {
        self.state
    }
    /// Current ring id (the new ring's once COMMIT is entered).
    pub fn ring_id(&self) -> RingId {
        self.ring_id
    }
    /// Members of the current regular configuration, by nodeid, in ring order.
    pub fn members(&self) -> Vec<u32> {
        crate::member::set::nodeids(&self.memb)
    }
    /// The ring seq corosync would persist (`ringid_<nodeid>`): the last ring committed to.
    pub fn stored_ring_seq(&self) -> u64 {
        self.stored_ring_seq
    }
    /// The gathering view: (proc list, failed list) by nodeid.
    pub fn gather_view(&self) -> (Vec<u32>, Vec<u32>) {
        (
            crate::member::set::nodeids(&self.proc_list),
            crate::member::set::nodeids(&self.failed_list),
        )
    }
    /// Messages waiting for the token.
    pub fn pending(&self) -> usize {
        self.queues.new.len()
    }
    /// Own nodeid.
    pub fn nodeid(&self) -> u32 {
        self.cfg.nodeid
    }
    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    // ---- plumbing shared by the protocol modules ----

    fn header(&self, t: MessageType) -> Header {
        Header::new(self.gen, t, self.cfg.nodeid)
    }

    /// Sends `msg` to every node; our own copy is processed through the loopback.
    fn send_all(&mut self, msg: &SrpMessage) {
        let bytes = msg.to_vec();
        self.loopback.push_back(bytes.clone());
        self.out.push_back(Transmit {
            dest: Dest::All,
            bytes,
        });
    }

    /// Sends `bytes` to one node (to ourselves through the loopback).
    fn send_to(&mut self, nodeid: u32, bytes: Vec<u8>) {
        if nodeid == self.cfg.nodeid {
            self.loopback.push_back(bytes);
        } else {
            self.out.push_back(Transmit {
                dest: Dest::Node(nodeid),
                bytes,
            });
        }
    }

    fn run_loopback(&mut self) {
        let mut budget = LOOPBACK_BUDGET;
        while budget > 0 && self.state != State::Left {
            let Some(b) = self.loopback.pop_front() else {
                break;
            };
            self.process(&b);
            budget -= 1;
        }
    }

    fn process(&mut self, bytes: &[u8]) {
        let decoded = match SrpMessage::parse(bytes, self.gen) {
            Ok(d) => d,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        match decoded.message {
            SrpMessage::OrfToken(t) => self.on_orf_token(t),
            SrpMessage::Mcast(m) => self.on_mcast(m),
            SrpMessage::MergeDetect(m) => self.on_merge_detect(m),
            SrpMessage::MembJoin(j) => self.on_join(j),
            SrpMessage::CommitToken(c) => self.on_commit_token(c),
            SrpMessage::TokenHoldCancel(h) => self.on_token_hold_cancel(h),
            SrpMessage::RingTest(_) => self.refuse(Refusal::RingTest),
        }
    }

    fn on_timer(&mut self, t: Timer) {
        match t {
            Timer::TokenLoss => self.on_token_loss_timeout(),
            Timer::TokenRetransmit => self.on_token_retransmit_timeout(),
            Timer::TokenHold => {
                if matches!(self.state, State::Operational | State::Recovery) {
                    self.token_retransmit();
                }
            }
            Timer::MergeDetect => {
                if self.state == State::Operational && self.me.is_rep_of(&self.ring_id) {
                    self.merge_detect_send();
                }
            }
            Timer::Join => {
                if self.state == State::Gather {
                    self.join_message_send();
                    self.timers.set(Timer::Join, self.now, self.cfg.join);
                }
            }
            Timer::Consensus => self.consensus_timeout_expired(),
        }
    }

    fn reset_token_timeout(&mut self) {
        self.timers
            .set(Timer::TokenLoss, self.now, self.cfg.token_timeout());
    }
    fn reset_token_retransmit_timeout(&mut self) {
        self.timers.set(
            Timer::TokenRetransmit,
            self.now,
            self.cfg.token_retransmit_timeout(),
        );
    }
    fn token_retransmit(&mut self) {
        if let Some(t) = self.last_token.clone() {
            self.stats.token_retransmits += 1;
            self.send_transmit(t);
        }
    }
    fn send_transmit(&mut self, t: Transmit) {
        match t.dest {
            Dest::Node(n) => self.send_to(n, t.bytes),
            Dest::All => {
                self.loopback.push_back(t.bytes.clone());
                self.out.push_back(t);
            }
        }
    }
    fn on_token_retransmit_timeout(&mut self) {
        if matches!(
            self.state,
            State::Commit | State::Operational | State::Recovery
        ) {
            self.token_retransmit();
            self.reset_token_retransmit_timeout();
        }
    }
    fn is_rep(&self) -> bool {
        self.me.is_rep_of(&self.ring_id)
    }
    /// Counts a refused message.
    fn refuse(&mut self, r: Refusal) {
        self.stats.rejected += 1;
        self.stats.refused.count(r);
        self.last_refusal = Some(r);
    }
}
