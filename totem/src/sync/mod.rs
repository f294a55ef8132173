//! corosync's service synchronisation (exec/sync.c of 2.x/3.x, spec §7.1) as a sans-IO
//! participant.
//!
//! After every REGULAR configuration each member multicasts a service_build in group "sync"
//! with its services; once every member's build is delivered, the services of the merged list
//! run one after the other: each member multicasts the service's own sync messages (group
//! "a") and then a barrier; when every member's barrier is delivered the service is
//! activated and the next one starts. A new configuration aborts the round. While a round is
//! in progress, library traffic is held (see [`Sync::in_progress`]).
//!
//! The participant only decides; [`Output`] tells the caller what to send and which service
//! callbacks to run, in order.

pub mod messages;
pub mod quorum;

use std::collections::BTreeSet;

use totem_wire::service::sync::SyncMessage;
use totem_wire::{Generation, RingId};

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

/// What the caller must do, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Multicast this message (agreed) in group "sync".
    SendSync(Vec<u8>),
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
    local: Vec<u32>,
    ring: Option<RingId>,
    members: Vec<u32>,
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
            local,
            ring: None,
            members: Vec::new(),
            trans: Vec::new(),
            received: BTreeSet::new(),
            services: Vec::new(),
            idx: 0,
            phase: Phase::Idle,
            in_progress: true,
            stats: SyncStats::default(),
        }
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
            if let Some(s) = self.services.get(self.idx).copied() {
                if self.phase == Phase::Barrier {
                    out.push(Output::Abort(s));
                }
            }
            self.stats.rounds_aborted += 1;
        }
        self.phase = Phase::Idle;
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
        self.received.clear();
        self.services = self.local.clone();
        self.idx = 0;
        self.phase = Phase::Build;
        self.trans.retain(|n| members.contains(n));
        out.push(Output::SendSync(messages::service_build(
            self.gen,
            ring,
            &self.local,
        )));
        out.push(Output::Init {
            ring,
            trans: self.trans.clone(),
            members: self.members.clone(),
        });
        out
    }

    fn all_received(&self) -> bool {
        self.members.iter().all(|m| self.received.contains(m))
    }

    fn enter_process(&mut self, out: &mut Vec<Output>) {
        self.received.clear();
        match self.services.get(self.idx).copied() {
            None => self.complete(out),
            Some(s) => {
                self.phase = Phase::Barrier;
                out.push(Output::Process(s));
                if let Some(ring) = self.ring {
                    out.push(Output::SendSync(messages::barrier(self.gen, ring)));
                }
            }
        }
    }

    fn complete(&mut self, out: &mut Vec<Output>) {
        self.phase = Phase::Idle;
        self.in_progress = false;
        self.stats.rounds_completed += 1;
        out.push(Output::Completed);
    }

    /// A message of group "sync" delivered from `sender`.
    pub fn deliver(&mut self, sender: u32, msg: &SyncMessage) -> Vec<Output> {
        let mut out = Vec::new();
        if self.ring.as_ref() != Some(msg.ring_id()) {
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
                if self.members.contains(&sender) {
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
                if self.members.contains(&sender) {
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
            SyncMessage::MembDetermine(_) => {}
        }
        out
    }
}

#[cfg(test)]
mod tests;
