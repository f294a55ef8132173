//! corosync's service synchronisation as a sans-IO participant, in the three forms rings
//! run it ([`Flavor`]):
//!
//! * 2.x/3.x (exec/sync.c, spec §7.1): after every REGULAR configuration each member
//!   multicasts a service_build in group "sync" with its services; once every member's build
//!   is delivered, the services of the merged list run one after the other: each member
//!   multicasts the service's own sync messages (group "a") and then a barrier; when every
//!   member's barrier is delivered the service is activated and the next one starts.
//! * 1.x `compatibility: none` (exec/syncv2.c): the same exchange in group "syncv2" with the
//!   1.x header order, over CLM, EVT and CPG (the first two are openais dummies, [`compat`]).
//! * 1.x `compatibility: whitetank`, its default (exec/sync.c of 1.x chained to syncv2.c by
//!   exec/main.c): at the configuration change a memb_determine goes to "syncv2"; then sync v1
//!   in group "sync": a first barrier, and for each v1 service ([`compat::V1_SERVICES`]) its
//!   messages and a barrier; then sync v2 with an empty service list among the
//!   memb_determine senders.
//!
//! A new configuration aborts the round. While a round is in progress, library traffic is
//! held (see [`Sync::in_progress`]). The participant only decides; [`Output`] tells the
//! caller what to send and which service callbacks to run, in order.

pub mod compat;
pub mod messages;
pub mod quorum;
pub mod quorum_g1;

use std::collections::BTreeSet;

use totem_wire::service::sync::SyncMessage;
use totem_wire::{Generation, KnownGroup, RingId};

use compat::{ClmIdentity, EvtStep};

/// CMAP: sends the totem.config_version item.
pub const SERVICE_CMAP: u32 = 0;
/// CPG: downlist and joinlist.
pub const SERVICE_CPG: u32 = 2;
/// QUORUM (3.1.0+): no messages, still a barrier.
pub const SERVICE_QUORUM: u32 = 3;
/// VOTEQUORUM: nodeinfo of us and of the quorum device.
pub const SERVICE_VOTEQUORUM: u32 = 5;

/// The services with sync callbacks a corosync of this generation lists in its
/// service_build: 3.1.x has CMAP, CPG, QUORUM and VOTEQUORUM; 2.x has no QUORUM sync.
pub fn local_services(gen: Generation) -> Vec<u32> {
    match gen {
        Generation::G3 => vec![
            SERVICE_CMAP,
            SERVICE_CPG,
            SERVICE_QUORUM,
            SERVICE_VOTEQUORUM,
        ],
        _ => vec![SERVICE_CMAP, SERVICE_CPG, SERVICE_VOTEQUORUM],
    }
}

/// Which synchronisation the ring runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Flavor {
    /// corosync 2.x / 3.x: one engine in group "sync".
    Corosync2,
    /// corosync 1.x `compatibility: whitetank` (the 1.x default): sync v1 then sync v2.
    Whitetank,
    /// corosync 1.x `compatibility: none`: sync v2 only.
    V2Only,
}

impl Flavor {
    /// The flavor of a ring of `gen` whose `compatibility` key says `compat` (1.x reads
    /// "none" as sync v2 only and anything else, or nothing, as whitetank).
    pub fn of(gen: Generation, compat: Option<&str>) -> Self {
        match (gen, compat) {
            (Generation::G1, Some("none")) => Flavor::V2Only,
            (Generation::G1, _) => Flavor::Whitetank,
            _ => Flavor::Corosync2,
        }
    }

    /// The group the (v2) service_build and barriers go to.
    fn v2_group(self) -> KnownGroup {
        match self {
            Flavor::Corosync2 => KnownGroup::Sync,
            _ => KnownGroup::SyncV2,
        }
    }
}

/// What the caller must do, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Multicast this message (agreed) in this group ("sync", "syncv2", or "a" for the
    /// openais dummies' messages).
    Send(KnownGroup, Vec<u8>),
    /// A round starts: services reset their sync state. `trans` are the members that came
    /// with us from the previous ring (the transitional list restricted to `members`).
    Init {
        ring: RingId,
        trans: Vec<u32>,
        members: Vec<u32>,
    },
    /// Multicast this service's sync messages now (the barrier follows as the next output).
    Process(u32),
    /// Every member's barrier for this service is in: apply what was collected.
    Activate(u32),
    /// The round was cut short while this service was running.
    Abort(u32),
    /// The round is over: release held library traffic.
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No round, or one completed or aborted.
    Idle,
    /// Sync v1 (whitetank): waiting for every member's barrier of stage `v1_idx` (0: the
    /// opening barrier, k: the barrier after `V1_SERVICES[k - 1]`).
    V1,
    /// Waiting for every member's service_build.
    Build,
    /// Waiting for every member's barrier of `services[idx]`.
    Barrier,
}

/// Counters for status output and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncStats {
    pub rounds_started: u64,
    pub rounds_completed: u64,
    pub rounds_aborted: u64,
    /// Builds and barriers of another ring (discarded, as corosync does).
    pub stale_messages: u64,
}

/// One node's sync participant.
#[derive(Debug)]
pub struct Sync {
    gen: Generation,
    flavor: Flavor,
    local: Vec<u32>,
    /// Sync v1's services (whitetank), empty otherwise.
    v1_services: Vec<u32>,
    v1_idx: usize,
    /// Who we are, for the dummy CLM NODEJOIN (G1).
    identity: Option<ClmIdentity>,
    ring: Option<RingId>,
    /// The configuration's members: sync v1's barrier set.
    members: Vec<u32>,
    /// Sync v2's set: the memb_determine senders (whitetank) or the members.
    processors: Vec<u32>,
    /// memb_determine senders of this ring, in delivery order.
    determined: Vec<u32>,
    /// The dummy EVT step, while it runs.
    evt: Option<EvtStep>,
    /// Sync v2 EVT: our OPEN_COUNT_DONE is held until the others' are in.
    evt_held: bool,
    /// Senders of OPEN_COUNT_DONE seen while it is held.
    evt_opened: BTreeSet<u32>,
    trans: Vec<u32>,
    received: BTreeSet<u32>,
    services: Vec<u32>,
    idx: usize,
    phase: Phase,
    in_progress: bool,
    stats: SyncStats,
}

impl Sync {
    /// A participant offering `local` services (see [`local_services`]). Sync counts as in
    /// progress until the first round completes, as in corosync.
    pub fn new(gen: Generation, local: Vec<u32>) -> Self {
        let mut local = local;
        local.sort_unstable();
        local.dedup();
        Sync {
            gen,
            flavor: Flavor::Corosync2,
            local,
            v1_services: Vec::new(),
            v1_idx: 0,
            identity: None,
            ring: None,
            members: Vec::new(),
            processors: Vec::new(),
            determined: Vec::new(),
            evt: None,
            evt_held: false,
            evt_opened: BTreeSet::new(),
            trans: Vec::new(),
            received: BTreeSet::new(),
            services: Vec::new(),
            idx: 0,
            phase: Phase::Idle,
            in_progress: true,
            stats: SyncStats::default(),
        }
    }

    /// A corosync 1.x participant (G1) in `flavor` ([`Flavor::Whitetank`] or
    /// [`Flavor::V2Only`]); `identity` fills the dummy CLM NODEJOIN.
    pub fn g1(flavor: Flavor, identity: ClmIdentity) -> Self {
        let mut s = Sync::new(Generation::G1, compat::v2_services(flavor));
        s.flavor = flavor;
        if flavor == Flavor::Whitetank {
            s.v1_services = compat::V1_SERVICES.to_vec();
        }
        s.identity = Some(identity);
        s
    }

    /// The flavor this participant runs.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// True from a configuration change until the round it starts completes.
    pub fn in_progress(&self) -> bool {
        self.in_progress
    }

    /// The ring of the current (or last) round.
    pub fn ring(&self) -> Option<RingId> {
        self.ring
    }

    /// The merged service list of the current round.
    pub fn services(&self) -> &[u32] {
        &self.services
    }

    /// Counters.
    pub fn stats(&self) -> &SyncStats {
        &self.stats
    }

    fn abort(&mut self, out: &mut Vec<Output>) {
        if self.in_progress && self.phase != Phase::Idle {
            let running = match self.phase {
                Phase::Barrier => self.services.get(self.idx).copied(),
                Phase::V1 => self
                    .v1_idx
                    .checked_sub(1)
                    .and_then(|i| self.v1_services.get(i).copied()),
                _ => None,
            };
            if let Some(s) = running {
                out.push(Output::Abort(s));
            }
            self.stats.rounds_aborted += 1;
        }
        self.phase = Phase::Idle;
        self.evt = None;
        self.evt_held = false;
        // Stale builds and barriers no longer match anything.
        self.ring = None;
    }

    /// A TRANSITIONAL configuration: aborts a running round and keeps `members` as the
    /// transitional list for the next round.
    pub fn transitional(&mut self, members: &[u32]) -> Vec<Output> {
        let mut out = Vec::new();
        self.abort(&mut out);
        self.in_progress = true;
        self.trans = members.to_vec();
        out
    }

    /// A REGULAR configuration: aborts a running round and starts a new one with our
    /// service_build.
    pub fn regular(&mut self, ring: RingId, members: &[u32]) -> Vec<Output> {
        let mut out = Vec::new();
        self.abort(&mut out);
        self.in_progress = true;
        self.stats.rounds_started += 1;
        self.ring = Some(ring);
        self.members = members.to_vec();
        self.processors = members.to_vec();
        self.determined.clear();
        self.received.clear();
        self.services = self.local.clone();
        self.idx = 0;
        self.trans.retain(|n| members.contains(n));
        if self.flavor == Flavor::Whitetank {
            out.push(Output::Send(
                KnownGroup::SyncV2,
                messages::memb_determine(self.gen, ring),
            ));
            out.push(Output::Send(
                KnownGroup::Sync,
                messages::barrier(self.gen, ring),
            ));
            self.phase = Phase::V1;
            self.v1_idx = 0;
        } else {
            self.phase = Phase::Build;
            out.push(self.build_message(ring));
        }
        out.push(Output::Init {
            ring,
            trans: self.trans.clone(),
            members: self.members.clone(),
        });
        out
    }

    fn build_message(&self, ring: RingId) -> Output {
        Output::Send(
            self.flavor.v2_group(),
            messages::service_build(self.gen, ring, &self.local),
        )
    }

    /// Whether every node of the set the current phase waits on has been heard.
    fn all_received(&self) -> bool {
        let set = if self.phase == Phase::V1 {
            &self.members
        } else {
            &self.processors
        };
        set.iter().all(|m| self.received.contains(m))
    }

    /// Runs service `s`'s sync step: the callback, the openais dummies' own messages, and
    /// the barrier in `group` unless the dummy EVT step has to wait for the others.
    fn run_service(&mut self, s: u32, group: KnownGroup, out: &mut Vec<Output>) {
        out.push(Output::Process(s));
        if self.gen == Generation::G1 {
            match s {
                compat::CLM => {
                    if let Some(id) = &self.identity {
                        out.push(Output::Send(KnownGroup::A, compat::clm_nodejoin(id)));
                    }
                }
                compat::EVT => {
                    let of = if group == KnownGroup::Sync {
                        self.members.len()
                    } else {
                        self.processors.len()
                    };
                    self.evt = Some(EvtStep::start(of));
                    // Sync v1 starts EVT at the barrier's delivery, everywhere at the same
                    // point of the total order. Sync v2 starts it when each node next
                    // passes the token, and an OPEN_COUNT_DONE delivered before that is
                    // counted and then reset: ours waits until every other member has sent
                    // its own (so has started), or until the caller releases it.
                    if group == KnownGroup::Sync {
                        out.push(Output::Send(
                            KnownGroup::A,
                            compat::evt_chancmd(compat::EVT_OPEN_COUNT_DONE),
                        ));
                    } else {
                        self.evt_held = true;
                        self.evt_opened.clear();
                        if self.evt_others_opened() {
                            out.extend(self.evt_release());
                        }
                    }
                    return;
                }
                _ => {}
            }
        }
        if let Some(ring) = self.ring {
            out.push(Output::Send(group, messages::barrier(self.gen, ring)));
        }
    }

    /// The group whose barrier the running service sends.
    fn barrier_group(&self) -> KnownGroup {
        if self.phase == Phase::V1 {
            KnownGroup::Sync
        } else {
            self.flavor.v2_group()
        }
    }

    /// Whether every other processor's OPEN_COUNT_DONE has been delivered (at once true when
    /// we are alone).
    fn evt_others_opened(&self) -> bool {
        let me = self.identity.as_ref().map(|i| i.nodeid);
        self.processors
            .iter()
            .all(|p| Some(*p) == me || self.evt_opened.contains(p))
    }

    /// Whether our OPEN_COUNT_DONE of the sync v2 EVT step is held back (see
    /// [`Sync::evt_release`]).
    pub fn evt_held(&self) -> bool {
        self.evt_held
    }

    /// Sends our held OPEN_COUNT_DONE now: the caller's fallback, some token rotations
    /// after the hold began, for rings where the other members wait too (ours).
    pub fn evt_release(&mut self) -> Vec<Output> {
        if !std::mem::take(&mut self.evt_held) || self.evt.is_none() {
            return Vec::new();
        }
        vec![Output::Send(
            KnownGroup::A,
            compat::evt_chancmd(compat::EVT_OPEN_COUNT_DONE),
        )]
    }

    /// An EVT channel command (`chc_op`) delivered from `sender` (G1 service 4 fn 1).
    pub fn evt_chancmd(&mut self, sender: u32, op: u32) -> Vec<Output> {
        let mut out = Vec::new();
        if self.evt.is_none() {
            tracing::debug!(sender, op, "evt channel command outside the EVT sync step");
            return out;
        }
        if self.evt_held && op == compat::EVT_OPEN_COUNT_DONE {
            self.evt_opened.insert(sender);
            if self.evt_others_opened() {
                out.extend(self.evt_release());
            }
        }
        let Some(step) = self.evt.as_mut() else {
            return out;
        };
        if let Some(send) = step.deliver(op) {
            out.push(Output::Send(KnownGroup::A, compat::evt_chancmd(send)));
        }
        if step.done() {
            self.evt = None;
            if let Some(ring) = self.ring {
                out.push(Output::Send(
                    self.barrier_group(),
                    messages::barrier(self.gen, ring),
                ));
            }
        }
        out
    }

    /// Sync v1: every member's barrier of the current stage is in.
    fn v1_stage_done(&mut self, out: &mut Vec<Output>) {
        self.received.clear();
        if let Some(prev) = self
            .v1_idx
            .checked_sub(1)
            .and_then(|i| self.v1_services.get(i).copied())
        {
            out.push(Output::Activate(prev));
        }
        match self.v1_services.get(self.v1_idx).copied() {
            Some(s) => {
                self.v1_idx += 1;
                self.run_service(s, KnownGroup::Sync, out);
            }
            None => {
                // Sync v2 among the memb_determine senders (all members if none came).
                if !self.determined.is_empty() {
                    self.processors = self.determined.clone();
                }
                self.phase = Phase::Build;
                if let Some(ring) = self.ring {
                    out.push(self.build_message(ring));
                }
            }
        }
    }

    fn enter_process(&mut self, out: &mut Vec<Output>) {
        self.received.clear();
        match self.services.get(self.idx).copied() {
            None => self.complete(out),
            Some(s) => {
                self.phase = Phase::Barrier;
                let group = self.flavor.v2_group();
                self.run_service(s, group, out);
            }
        }
    }

    fn complete(&mut self, out: &mut Vec<Output>) {
        self.phase = Phase::Idle;
        self.in_progress = false;
        self.stats.rounds_completed += 1;
        out.push(Output::Completed);
    }

    /// A message of group "sync" or "syncv2" delivered from `sender`.
    pub fn deliver(&mut self, sender: u32, group: KnownGroup, msg: &SyncMessage) -> Vec<Output> {
        let mut out = Vec::new();
        if self.ring.as_ref() != Some(msg.ring_id()) {
            self.stats.stale_messages += 1;
            return out;
        }
        // In 1.x "sync" carries sync v1's barriers only, "syncv2" the v2 engine.
        let v1 = self.gen == Generation::G1 && group == KnownGroup::Sync;
        if v1 {
            if !matches!(msg, SyncMessage::Barrier(_)) || self.phase != Phase::V1 {
                self.stats.stale_messages += 1;
                return out;
            }
            if self.members.contains(&sender) {
                self.received.insert(sender);
            }
            if self.all_received() {
                self.v1_stage_done(&mut out);
            }
            return out;
        }
        if group != self.flavor.v2_group() {
            self.stats.stale_messages += 1;
            return out;
        }
        match msg {
            SyncMessage::ServiceBuild(b) => {
                if self.phase != Phase::Build {
                    self.stats.stale_messages += 1;
                    return out;
                }
                for s in b.services() {
                    if !self.services.contains(s) {
                        self.services.push(*s);
                    }
                }
                self.services.sort_unstable();
                if self.processors.contains(&sender) {
                    self.received.insert(sender);
                }
                if self.all_received() {
                    self.enter_process(&mut out);
                }
            }
            SyncMessage::Barrier(_) => {
                if self.phase != Phase::Barrier {
                    self.stats.stale_messages += 1;
                    return out;
                }
                if self.processors.contains(&sender) {
                    self.received.insert(sender);
                }
                if self.all_received() {
                    if let Some(s) = self.services.get(self.idx).copied() {
                        out.push(Output::Activate(s));
                    }
                    self.idx += 1;
                    if self.idx >= self.services.len() {
                        self.complete(&mut out);
                    } else {
                        self.enter_process(&mut out);
                    }
                }
            }
            SyncMessage::MembDetermine(_) => {
                if self.flavor == Flavor::Whitetank && !self.determined.contains(&sender) {
                    self.determined.push(sender);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
