//! One node's votequorum instance as a pure state machine: membership syncs, nodeinfo and
//! reconfigure messages, the last_man_standing timer and admin operations go in; the quorum
//! state and the messages to multicast come out. No clocks, no I/O.

use std::collections::BTreeMap;

use super::error::QuorumError;
use super::events::{Message, NodeInfo, Reconfigure, QDEVICE_NODEID};
use super::options::{AtbMode, EffectiveConfig, QuorumOptions};
use super::state::{NodeFlags, NodeRecord, NodeState, QuorumSnapshot};

/// A single node's votequorum state.
#[derive(Debug, Clone)]
pub struct VoteQuorum {
    cfg: EffectiveConfig,
    us: u32,
    nodes: BTreeMap<u32, NodeRecord>,
    qdevice_votes: u32,
    quorum: u32,
    quorate: bool,
    wfa_status: bool,
    ev_barrier: u32,
    ev_tracking_barrier: u32,
    lowest_node_id: Option<u32>,
    highest_node_id: Option<u32>,
    members: Vec<u32>,
    previous_members: Vec<u32>,
    lms_timer_armed: bool,
    /// How often the last_man_standing timer was (re)armed.
    lms_arms: u64,
    sync_in_progress: bool,
    total_votes: u32,
    highest_expected: u32,
    master_wins: bool,
}

impl VoteQuorum {
    /// Starts node `nodeid` with `opts`; `votes_override` replaces its own votes (nodes not
    /// in the nodelist) and `stored_ev_barrier` is the persisted expected-votes barrier (0 = none).
    pub fn new(
        nodeid: u32,
        opts: &QuorumOptions,
        votes_override: Option<u32>,
        stored_ev_barrier: u32,
    ) -> Result<Self, QuorumError> {
        if nodeid == QDEVICE_NODEID {
            return Err(QuorumError::ReservedNodeId);
        }
        let cfg = opts.resolve(nodeid, votes_override)?;
        let ev_tracking_barrier = if cfg.ev_tracking {
            stored_ev_barrier
        } else {
            0
        };
        // With tracking on, the stored barrier (not quorum.expected_votes) overrides the nodelist.
        let override_expected = if cfg.ev_tracking {
            ev_tracking_barrier
        } else {
            cfg.configured_expected.unwrap_or(0)
        };
        let expected = if override_expected != 0 {
            override_expected
        } else {
            cfg.nodelist_expected
        };
        let mut flags = NodeFlags(NodeFlags::FIRST);
        let wfa = cfg.wait_for_all;
        flags.set(NodeFlags::WFA_STATUS, wfa);
        let mut nodes = BTreeMap::new();
        nodes.insert(
            nodeid,
            NodeRecord {
                nodeid,
                votes: cfg.votes,
                expected_votes: expected,
                state: NodeState::Member,
                flags,
            },
        );
        let mut vq = VoteQuorum {
            qdevice_votes: cfg.qdevice_votes,
            cfg,
            us: nodeid,
            nodes,
            quorum: 0,
            quorate: false,
            wfa_status: wfa,
            ev_barrier: expected,
            ev_tracking_barrier,
            lowest_node_id: None,
            highest_node_id: None,
            members: Vec::new(),
            previous_members: Vec::new(),
            lms_timer_armed: false,
            lms_arms: 0,
            sync_in_progress: false,
            total_votes: 0,
            highest_expected: 0,
            master_wins: false,
        };
        vq.recalculate(false, false);
        Ok(vq)
    }

    /// This node's id.
    pub fn nodeid(&self) -> u32 {
        self.us
    }

    /// The effective configuration in force.
    pub fn config(&self) -> &EffectiveConfig {
        &self.cfg
    }

    /// The expected-votes barrier to persist (expected_votes_tracking), if tracking is on.
    pub fn ev_tracking_barrier(&self) -> Option<u32> {
        self.cfg.ev_tracking.then_some(self.ev_tracking_barrier)
    }

    /// How often the last_man_standing timer was (re)armed: a driver restarts its window
    /// whenever this changes across a [`VoteQuorum::sync_init`].
    pub fn lms_arms(&self) -> u64 {
        self.lms_arms
    }

    /// Whether the last_man_standing timer is armed.
    pub fn lms_timer_armed(&self) -> bool {
        self.lms_timer_armed
    }

    fn us_rec(&self) -> NodeRecord {
        // `us` is inserted at construction and never removed.
        self.nodes.get(&self.us).copied().unwrap_or(NodeRecord {
            nodeid: self.us,
            votes: 0,
            expected_votes: 0,
            state: NodeState::Member,
            flags: NodeFlags::default(),
        })
    }

    fn us_mut(&mut self) -> &mut NodeRecord {
        let us = self.us;
        self.nodes.entry(us).or_insert(NodeRecord {
            nodeid: us,
            votes: 0,
            expected_votes: 0,
            state: NodeState::Member,
            flags: NodeFlags::default(),
        })
    }

    fn set_wfa_status(&mut self, on: bool) {
        self.wfa_status = on;
        self.us_mut().flags.set(NodeFlags::WFA_STATUS, on);
    }

    /// Votes of current members plus configured device votes, and the member count.
    fn member_totals(&self) -> (u32, u32) {
        let mut total = 0u32;
        let mut count = 0u32;
        for n in self.nodes.values().filter(|n| n.state == NodeState::Member) {
            total = total.saturating_add(n.votes);
            count += 1;
        }
        if self.qdevice_votes != 0 {
            total = total.saturating_add(self.qdevice_votes);
            count += 1;
        }
        (total, count)
    }

    /// votequorum's quorum formula: returns (quorum, counted votes, highest expected used).
    fn calculate(&self, allow_decrease: bool, max_expected: u32) -> (u32, u32, u32) {
        let mut max_expected = max_expected;
        if self.cfg.allow_downscale && allow_decrease && max_expected != 0 {
            max_expected = max_expected.max(self.ev_barrier);
        }
        let mut highest = 0u32;
        let mut total = 0u32;
        let mut nodes = 0u32;
        for n in self.nodes.values().filter(|n| n.state == NodeState::Member) {
            highest = highest.max(n.expected_votes);
            total = total.saturating_add(n.votes);
            nodes += 1;
        }
        if self.us_rec().flags.has(NodeFlags::QDEVICE_CAST_VOTE) {
            total = total.saturating_add(self.qdevice_votes);
            nodes += 1;
        }
        if max_expected > 0 {
            highest = max_expected;
        }
        let mut q = super::majority(highest).max(super::majority(total));
        if !allow_decrease {
            q = q.max(self.quorum);
        }
        if self.cfg.two_node && nodes <= 2 {
            q = 1;
        }
        (q, total, highest)
    }

    fn set_member_expected(&mut self, value: u32) {
        if value != 0 {
            for n in self
                .nodes
                .values_mut()
                .filter(|n| n.state == NodeState::Member)
            {
                n.expected_votes = value;
            }
        }
    }

    fn recalculate(&mut self, allow_decrease: bool, by_current_nodes: bool) {
        let (total, count) = self.member_totals();
        let count = if by_current_nodes { count } else { 0 };
        if total > self.us_rec().expected_votes {
            self.us_mut().expected_votes = total;
        }
        let us_expected = self.us_rec().expected_votes;
        if self.cfg.ev_tracking && us_expected > self.ev_tracking_barrier {
            self.ev_tracking_barrier = us_expected;
        }
        let (q, counted, highest) = self.calculate(allow_decrease, count);
        self.quorum = q;
        self.total_votes = counted;
        self.highest_expected = highest;
        self.set_member_expected(count);
        self.decide_quorate(counted);
    }

    fn member_present(&self, id: Option<u32>) -> bool {
        match id {
            Some(id) => self
                .nodes
                .get(&id)
                .is_some_and(|n| n.state == NodeState::Member),
            None => false,
        }
    }

    fn atb_allows(&self) -> bool {
        match &self.cfg.atb {
            AtbMode::None => false,
            AtbMode::Lowest => self.member_present(self.lowest_node_id),
            AtbMode::Highest => self.member_present(self.highest_node_id),
            AtbMode::List(list) => {
                for (i, id) in list.iter().enumerate() {
                    if self.members.contains(id) {
                        let earlier_was_there = list
                            .iter()
                            .take(i)
                            .any(|e| self.previous_members.contains(e));
                        return !earlier_was_there;
                    }
                }
                false
            }
        }
    }

    fn decide_quorate(&mut self, total: u32) {
        if self.cfg.wait_for_all && self.wfa_status {
            if total != self.us_rec().expected_votes {
                return;
            }
            self.set_wfa_status(false);
        }
        let mut quorate = self.quorum <= total;
        if quorate {
            let present = self
                .nodes
                .values()
                .filter(|n| n.state == NodeState::Member)
                .map(|n| n.nodeid);
            self.lowest_node_id = Some(present.clone().chain([self.us]).min().unwrap_or(self.us));
            self.highest_node_id = Some(present.chain([self.us]).max().unwrap_or(self.us));
        }
        let prev = i64::try_from(self.previous_members.len()).unwrap_or(i64::MAX);
        let cur = i64::try_from(self.members.len()).unwrap_or(i64::MAX);
        if self.cfg.atb != AtbMode::None
            && total == self.us_rec().expected_votes / 2
            && prev - cur < i64::from(self.quorum)
            && self.atb_allows()
        {
            quorate = true;
        }
        if self.master_wins && !quorate && self.master_wins_present() {
            quorate = true;
        }
        self.quorate = quorate;
        self.us_mut().flags.set(NodeFlags::QUORATE, quorate);
        if self.cfg.wait_for_all {
            self.set_wfa_status(!quorate);
        }
    }

    fn master_wins_present(&self) -> bool {
        self.nodes.values().any(|n| {
            n.state == NodeState::Member
                && n.flags.has(NodeFlags::QDEVICE_MASTER_WINS)
                && n.flags.has(NodeFlags::QDEVICE_CAST_VOTE)
        })
    }

    /// A new membership (ring) with `members` begins: marks departed nodes dead and arms the
    /// last_man_standing timer when its conditions hold.
    pub fn sync_init(&mut self, members: &[u32]) {
        self.sync_in_progress = true;
        if members.len() > 1 {
            self.us_mut().flags.set(NodeFlags::FIRST, false);
        }
        let mut left = false;
        for id in self.members.clone() {
            if !members.contains(&id) {
                left = true;
                if let Some(n) = self.nodes.get_mut(&id) {
                    n.state = NodeState::Dead;
                }
            }
        }
        if self.cfg.last_man_standing {
            let m = u32::try_from(members.len()).unwrap_or(u32::MAX);
            if (m >= self.quorum && left)
                || (m <= self.quorum
                    && self.cfg.atb != AtbMode::None
                    && self.member_present(self.lowest_node_id))
            {
                self.lms_timer_armed = true;
                self.lms_arms += 1;
            }
        }
        self.previous_members = std::mem::replace(&mut self.members, members.to_vec());
    }

    /// The nodeinfo votequorum multicasts once at start-up (exec_init), before any sync.
    pub fn init_message(&self) -> Message {
        Message::NodeInfo(self.own_nodeinfo())
    }

    /// The nodeinfo messages this node multicasts during a sync: its own, then the quorum device's.
    pub fn sync_messages(&self) -> Vec<Message> {
        vec![
            Message::NodeInfo(self.own_nodeinfo()),
            Message::NodeInfo(self.qdevice_nodeinfo()),
        ]
    }

    fn own_nodeinfo(&self) -> NodeInfo {
        let u = self.us_rec();
        NodeInfo {
            nodeid: u.nodeid,
            votes: u.votes,
            expected_votes: u.expected_votes,
            flags: u.flags,
        }
    }

    fn qdevice_nodeinfo(&self) -> NodeInfo {
        NodeInfo {
            nodeid: QDEVICE_NODEID,
            votes: self.qdevice_votes,
            expected_votes: 0,
            flags: NodeFlags(0),
        }
    }

    /// The sync finished: recalculate with every member's nodeinfo seen.
    pub fn sync_activate(&mut self) {
        self.recalculate(false, false);
        self.sync_in_progress = false;
    }

    /// The last_man_standing window expired: a quorate node recomputes expected votes and
    /// quorum from the nodes present now.
    pub fn fire_lms_timer(&mut self) {
        if !self.lms_timer_armed {
            return;
        }
        self.lms_timer_armed = false;
        if self.quorate {
            self.recalculate(true, true);
        }
    }

    /// Delivers a message multicast by `sender` in this node's partition.
    pub fn deliver(&mut self, sender: u32, msg: &Message) {
        match *msg {
            Message::NodeInfo(info) => self.on_nodeinfo(sender, info),
            Message::Reconfigure(r) => self.on_reconfigure(r),
        }
    }

    fn on_nodeinfo(&mut self, sender: u32, info: NodeInfo) {
        if info.nodeid == QDEVICE_NODEID {
            let sender_quorate = self
                .nodes
                .get(&sender)
                .is_some_and(|n| n.flags.has(NodeFlags::QUORATE));
            let old = self.qdevice_votes;
            if !self.quorate && sender_quorate {
                self.qdevice_votes = info.votes;
            } else {
                self.qdevice_votes = self.qdevice_votes.max(info.votes);
            }
            if old != self.qdevice_votes {
                self.recalculate(false, false);
            }
            return;
        }
        let existing = self.nodes.get(&info.nodeid).copied();
        let (new_node, old) = match existing {
            Some(n) => (false, n),
            None => (
                true,
                NodeRecord {
                    nodeid: info.nodeid,
                    votes: 0,
                    expected_votes: 0,
                    state: NodeState::Dead,
                    flags: NodeFlags(0),
                },
            ),
        };
        let mut node = old;
        node.flags = info.flags;
        node.votes = info.votes;
        node.state = NodeState::Member;
        let mut allow_downgrade = false;
        let mut by_node = false;
        if info.flags.has(NodeFlags::LEAVING) {
            node.state = NodeState::Leaving;
            allow_downgrade = true;
            by_node = true;
        }
        if !self.quorate && info.flags.has(NodeFlags::QUORATE) {
            allow_downgrade = true;
            self.us_mut().expected_votes = info.expected_votes;
            if info.nodeid == self.us {
                // our own record is the one just updated
            }
        }
        node.expected_votes = if info.flags.has(NodeFlags::QUORATE) || self.cfg.ev_tracking {
            info.expected_votes
        } else {
            self.us_rec().expected_votes
        };
        if info.nodeid == self.us {
            // Keep our own expected votes as possibly just adopted above.
            let cur = self.us_rec();
            node.expected_votes = if info.flags.has(NodeFlags::QUORATE) || self.cfg.ev_tracking {
                info.expected_votes
            } else {
                cur.expected_votes
            };
        }
        self.nodes.insert(info.nodeid, node);
        if self.cfg.last_man_standing && node.votes > 1 {
            self.cfg.last_man_standing = false;
            self.lms_timer_armed = false;
        }
        if new_node
            || info.nodeid == self.us
            || node.flags.has(NodeFlags::FIRST)
            || old.votes != node.votes
            || old.expected_votes != node.expected_votes
            || old.flags != node.flags
            || old.state != node.state
        {
            self.recalculate(allow_downgrade, by_node);
        }
        if self.cfg.wait_for_all
            && !node.flags.has(NodeFlags::WFA_STATUS)
            && node.flags.has(NodeFlags::QUORATE)
        {
            self.set_wfa_status(false);
        }
    }

    fn on_reconfigure(&mut self, r: Reconfigure) {
        match r {
            Reconfigure::ExpectedVotes(v) => {
                self.set_member_expected(v);
                self.ev_barrier = v;
                if self.cfg.ev_tracking {
                    let e = self.us_rec().expected_votes.max(self.ev_tracking_barrier);
                    self.us_mut().expected_votes = e;
                }
                self.recalculate(true, false);
            }
            Reconfigure::NodeVotes { nodeid, votes } => {
                if let Some(n) = self.nodes.get_mut(&nodeid) {
                    n.votes = votes;
                    self.recalculate(true, false);
                }
            }
            Reconfigure::CancelWaitForAll => {
                self.set_wfa_status(false);
                self.recalculate(false, false);
            }
        }
    }

    /// Admin "set expected votes" (`corosync-quorumtool -e`, `cman_tool expected`): validated
    /// like votequorum, returns the reconfigure message to multicast.
    pub fn set_expected_votes(&mut self, expected: u32) -> Result<Message, QuorumError> {
        let saved = self.cfg.allow_downscale;
        self.cfg.allow_downscale = false;
        let (newq, total, _) = self.calculate(true, expected);
        self.cfg.allow_downscale = saved;
        if expected == 0 || expected < total || (self.quorate && newq > total) {
            return Err(QuorumError::InvalidValue {
                field: "expected_votes",
                value: expected,
            });
        }
        self.set_member_expected(expected);
        Ok(Message::Reconfigure(Reconfigure::ExpectedVotes(expected)))
    }

    /// Admin "set node votes" (`corosync-quorumtool -v`, `cman_tool votes`): validated like
    /// votequorum, returns the reconfigure message to multicast.
    pub fn set_node_votes(&mut self, nodeid: u32, votes: u32) -> Result<Message, QuorumError> {
        let saved = match self.nodes.get(&nodeid) {
            Some(n) => n.votes,
            None => return Err(QuorumError::NodeNotUp { nodeid }),
        };
        if let Some(n) = self.nodes.get_mut(&nodeid) {
            n.votes = votes;
        }
        let (newq, total, _) = self.calculate(true, 0);
        if newq < total / 2 || newq > total {
            if let Some(n) = self.nodes.get_mut(&nodeid) {
                n.votes = saved;
            }
            return Err(QuorumError::InvalidValue {
                field: "votes",
                value: votes,
            });
        }
        Ok(Message::Reconfigure(Reconfigure::NodeVotes {
            nodeid,
            votes,
        }))
    }

    /// Admin "cancel wait_for_all" (`quorum.cancel_wait_for_all`): the message to multicast.
    pub fn cancel_wait_for_all(&self) -> Message {
        Message::Reconfigure(Reconfigure::CancelWaitForAll)
    }

    /// Clean shutdown: with allow_downscale the node announces it is leaving (others then
    /// lower expected votes, not below the configured value); otherwise nothing is sent.
    pub fn leave(&mut self) -> Option<Message> {
        if !self.cfg.allow_downscale {
            return None;
        }
        self.us_mut().flags.set(NodeFlags::LEAVING, true);
        Some(Message::NodeInfo(self.own_nodeinfo()))
    }

    /// A quorum device registered on this node (simplified: registration is immediate).
    pub fn qdevice_register(&mut self) -> Result<(), QuorumError> {
        if !self.cfg.qdevice_can_operate || self.qdevice_votes == 0 {
            return Err(QuorumError::InvalidValue {
                field: "quorum.device.votes",
                value: self.qdevice_votes,
            });
        }
        self.us_mut().flags.set(NodeFlags::QDEVICE_REGISTERED, true);
        Ok(())
    }

    /// The registered device polled, voting or not; returns our nodeinfo if flags changed.
    pub fn qdevice_poll(&mut self, cast_vote: bool) -> Option<Message> {
        let old = self.us_rec().flags;
        if !old.has(NodeFlags::QDEVICE_REGISTERED) {
            return None;
        }
        let u = self.us_mut();
        u.flags.set(NodeFlags::QDEVICE_ALIVE, true);
        u.flags.set(NodeFlags::QDEVICE_CAST_VOTE, cast_vote);
        (self.us_rec().flags != old).then(|| Message::NodeInfo(self.own_nodeinfo()))
    }

    /// The device stopped polling (its timeout expired): it no longer votes.
    pub fn qdevice_lost(&mut self) -> Message {
        let u = self.us_mut();
        u.flags.set(NodeFlags::QDEVICE_ALIVE, false);
        u.flags.set(NodeFlags::QDEVICE_CAST_VOTE, false);
        self.recalculate(false, false);
        Message::NodeInfo(self.own_nodeinfo())
    }

    /// master_wins on/off for the registered device; returns our nodeinfo if flags changed.
    pub fn qdevice_master_wins(&mut self, allow: bool) -> Option<Message> {
        let old = self.us_rec().flags;
        if !old.has(NodeFlags::QDEVICE_REGISTERED) {
            return None;
        }
        self.us_mut()
            .flags
            .set(NodeFlags::QDEVICE_MASTER_WINS, allow);
        self.master_wins = allow;
        (self.us_rec().flags != old).then(|| Message::NodeInfo(self.own_nodeinfo()))
    }

    /// Current quorum state.
    pub fn snapshot(&self) -> QuorumSnapshot {
        let u = self.us_rec();
        QuorumSnapshot {
            nodeid: self.us,
            quorate: self.quorate,
            quorum: self.quorum,
            total_votes: self.total_votes,
            expected_votes: u.expected_votes,
            highest_expected: self.highest_expected,
            wait_for_all_status: self.wfa_status,
            flags: u.flags,
            members: self.members.clone(),
            nodes: self.nodes.values().copied().collect(),
            two_node: self.cfg.two_node,
            last_man_standing: self.cfg.last_man_standing,
            qdevice_votes: if u.flags.has(NodeFlags::QDEVICE_CAST_VOTE) {
                self.qdevice_votes
            } else {
                0
            },
        }
    }
}
