//! The CPG service task: group membership learnt in agreed order, local members, and the
//! packing of outgoing exec messages.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use tokio::sync::{mpsc, oneshot};
use totem_wire::service::cfg::CfgMessage;
use totem_wire::service::cpg::CpgMessage;
use totem_wire::{Generation, KnownGroup};

use super::codec::{self, cfg_crypto_reconfig, ExecMessage, Packer, Unpacker};
use super::{CpgError, CpgEvent, ExecOptions, ExecStatus, Process, Reason, Request};
use crate::driver::node::RekeyStep;
use crate::driver::NodeHandle;
use crate::engine::{ConfigKind, Event, Guarantee};
use crate::sync::compat::ClmIdentity;
use crate::sync::quorum::Quorum;
use crate::sync::quorum_g1::QuorumG1;
use crate::sync::{self, messages, Flavor, Output, Sync};
use totem_wire::service::{Service as Svc, ServiceTable};

/// A group and its members, as this node knows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupState {
    pub group: String,
    pub members: Vec<Process>,
}

struct Local {
    group: Vec<u8>,
    pid: u32,
    tx: mpsc::UnboundedSender<CpgEvent>,
}

pub(super) struct Service {
    node: NodeHandle,
    gen: Generation,
    nodeid: u32,
    packer: Packer,
    unpacker: Unpacker,
    groups: BTreeMap<Vec<u8>, BTreeSet<Process>>,
    local: HashMap<u64, Local>,
    next_id: u64,
    /// PARTIAL_MCAST assembly per (sender, pid, group).
    partial: HashMap<(u32, u32, Vec<u8>), Vec<u8>>,
    decode_errors: u64,
    /// Nodes the last transitional configuration reported as left.
    transitional_left: Vec<u32>,
    /// corosync's sync participant, in the ring's flavor ([`Flavor`]).
    sync: Option<Sync>,
    /// votequorum: the 2.x/3.x one (a sync service), or 1.x's (NODEINFO at each change).
    quorum: Option<Quorum>,
    /// Waiting for our leaving NODEINFO to come back (allow_downscale stop).
    quorum_leave: Option<oneshot::Sender<bool>>,
    quorum_g1: Option<QuorumG1>,
    /// Library requests held while a sync round runs (corosync blocks IPC likewise).
    held: VecDeque<Request>,
    /// CPG sync state: the members of the last activated ring, of the current one, the
    /// downlist computed at init and the joinlist entries collected (sender, pid, group).
    old_members: Vec<u32>,
    cur_members: Vec<u32>,
    downlist: Vec<u32>,
    joinlists: Vec<(u32, u32, Vec<u8>)>,
    config_version: Option<u64>,
    /// Messages from a node with no process in the group (not delivered, as corosync).
    unknown_sender_drops: u64,
    /// knet key change steps delivered and not yet run (see `crate::knet::rekey`).
    rekey_steps: Vec<RekeyStep>,
    /// The multiple-ring order, when this ring is part of one.
    mrp: Option<super::mrp::Mrp>,
}

type Reply = oneshot::Sender<Result<(), CpgError>>;

/// Sleeps until `deadline`, or forever without one.
async fn until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Pids of in-process members (no process of their own): numbered from above Linux's
/// largest pid (`PID_MAX_LIMIT`, 2^22), so that they never collide with a control socket
/// client's real pid.
pub const IN_PROCESS_PID_BASE: u32 = 1 << 22;

/// How long our OPEN_COUNT_DONE of a sync v2 EVT step waits for the other members' before
/// it goes anyway (many token rotations on a LAN; only rings whose other members wait too,
/// ours, ever need it).
const EVT_HOLD: std::time::Duration = std::time::Duration::from_millis(300);

impl Service {
    pub(super) fn new(node: NodeHandle, opts: &ExecOptions) -> Result<Self, CpgError> {
        let (gen, nodeid, net_mtu) = (opts.generation, opts.nodeid, opts.net_mtu);
        let mut list = opts.nodelist.clone();
        if !list.contains(&nodeid) {
            list.push(nodeid);
        }
        let (sync, quorum, quorum_g1) = if gen == Generation::G1 {
            let flavor = Flavor::of(gen, opts.compatibility.as_deref());
            let addr = opts
                .bind_addr
                .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
            let expected = opts.expected_votes.unwrap_or(list.len() as u32);
            let votes = opts.g1_votes.unwrap_or(1);
            tracing::info!(
                ?flavor,
                expected_votes = expected,
                votes,
                two_node = opts.g1_two_node,
                "corosync 1.x service synchronization"
            );
            (
                Some(Sync::g1(flavor, ClmIdentity::new(nodeid, addr))),
                None,
                Some(QuorumG1::with_options(
                    nodeid,
                    expected,
                    votes,
                    opts.g1_two_node,
                )),
            )
        } else {
            // No quorum provider: no votequorum, as corosync (it then lists no votequorum
            // sync service either).
            let quorum = match &opts.quorum {
                Some(o) => {
                    Some(Quorum::new(gen, nodeid, o).map_err(|e| CpgError::Config(e.to_string()))?)
                }
                None => None,
            };
            let mut local = sync::local_services(gen);
            if quorum.is_none() {
                local.retain(|s| *s != sync::SERVICE_VOTEQUORUM);
            }
            (Some(Sync::new(gen, local)), quorum, None)
        };
        Ok(Service {
            node,
            gen,
            nodeid,
            packer: Packer::new(net_mtu)?,
            unpacker: Unpacker::new(gen),
            groups: BTreeMap::new(),
            local: HashMap::new(),
            next_id: 0,
            partial: HashMap::new(),
            decode_errors: 0,
            transitional_left: Vec::new(),
            sync,
            quorum,
            quorum_g1,
            held: VecDeque::new(),
            old_members: Vec::new(),
            cur_members: Vec::new(),
            downlist: Vec::new(),
            joinlists: Vec::new(),
            config_version: opts.config_version,
            unknown_sender_drops: 0,
            rekey_steps: Vec::new(),
            quorum_leave: None,
            mrp: opts
                .mrp
                .as_ref()
                .map(|m| super::mrp::Mrp::node(m, opts.nodeid)),
        })
    }

    /// A gateway's executive: the ring's multiple-ring events go to the returned tap.
    pub(super) fn new_gateway(
        node: NodeHandle,
        opts: &ExecOptions,
        mrp: &super::mrp::MrpOptions,
    ) -> Result<(Self, super::mrp::MrpTap), CpgError> {
        let mut s = Self::new(node, opts)?;
        let (m, tap) = super::mrp::Mrp::gateway(mrp, opts.nodeid);
        s.mrp = Some(m);
        Ok((s, tap))
    }

    /// Sends what the global order makes this node send and delivers what it delivers.
    fn mrp_drain(&mut self, out: &mut Vec<Vec<u8>>) {
        let Some(m) = self.mrp.as_mut() else {
            return;
        };
        let mut sends = Vec::new();
        while let Some(b) = m.poll_send() {
            sends.push(b);
        }
        let mut delivered = Vec::new();
        while let Some(d) = m.poll_delivery() {
            delivered.push(d);
        }
        for b in sends {
            self.mrp_push(b, out);
        }
        for (group, nodeid, pid, data) in delivered {
            self.deliver(&group, nodeid, pid, data);
        }
    }

    fn mrp_push(&mut self, element: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        if let Err(e) = self.packer.push_group(KnownGroup::Mrp, element, out) {
            tracing::error!(error = %e, "cannot pack multiple-ring element");
        }
    }

    /// The global order's window of own undelivered messages is full.
    fn mrp_full(&self) -> bool {
        self.mrp.as_ref().is_some_and(super::mrp::Mrp::full)
    }

    fn syncing(&self) -> bool {
        self.sync.as_ref().is_some_and(|s| s.in_progress())
    }

    fn exec_status(&self) -> ExecStatus {
        ExecStatus {
            sync_in_progress: self.syncing(),
            sync: self.sync.as_ref().map(|s| s.stats().clone()),
            sync_services: self
                .sync
                .as_ref()
                .map(|s| s.services().to_vec())
                .unwrap_or_default(),
            quorum: self.quorum_status(),
            held_requests: self.held.len(),
            decode_errors: self.decode_errors,
            unknown_sender_drops: self.unknown_sender_drops,
            mrp: self.mrp.as_ref().map(|m| Box::new(m.status())),
        }
    }

    fn quorum_status(&self) -> Option<crate::sync::quorum::QuorumStatus> {
        match (&self.quorum, &self.quorum_g1) {
            (Some(q), _) => Some(q.status()),
            (None, Some(q)) => Some(q.status()),
            _ => None,
        }
    }

    /// The service a sync service id names in our generation's numbering.
    fn sync_service(&self, id: u32) -> Option<Svc> {
        u16::try_from(id)
            .ok()
            .and_then(|i| Svc::from_id(ServiceTable::for_generation(self.gen), i))
    }

    pub(super) async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) {
        // The fallback release of a held sync v2 EVT step (see `Sync::evt_release`).
        let mut evt_deadline: Option<tokio::time::Instant> = None;
        loop {
            let held = self.sync.as_ref().is_some_and(|s| s.evt_held());
            if !held {
                evt_deadline = None;
            } else if evt_deadline.is_none() {
                evt_deadline = Some(tokio::time::Instant::now() + EVT_HOLD);
            }
            let wake = evt_deadline.unwrap_or_else(|| {
                tokio::time::Instant::now() + std::time::Duration::from_secs(3600)
            });
            let lms = self.quorum.as_ref().and_then(Quorum::lms_deadline);
            tokio::select! {
                () = until(lms) => {
                    if let Some(q) = self.quorum.as_mut() {
                        q.fire_lms();
                    }
                }
                _ = tokio::time::sleep_until(wake), if evt_deadline.is_some() => {
                    evt_deadline = None;
                    let outputs = self.sync.as_mut().map(|s| s.evt_release()).unwrap_or_default();
                    tracing::info!("evt sync step: the other members' OPEN_COUNT_DONE did not all come, ours goes now");
                    let mut out = Vec::new();
                    let mut replies: Vec<Reply> = Vec::new();
                    self.apply(outputs, &mut out, &mut replies);
                    self.send(out, replies).await;
                }
                r = requests.recv() => {
                    let Some(r) = r else { break };
                    let mut out = Vec::new();
                    let mut replies: Vec<Reply> = Vec::new();
                    self.admit(r, &mut out, &mut replies);
                    // Pack whatever else is already waiting into the same packets.
                    for _ in 0..256 {
                        match requests.try_recv() {
                            Ok(r) => self.admit(r, &mut out, &mut replies),
                            Err(_) => break,
                        }
                    }
                    self.send(out, replies).await;
                }
                e = events.recv() => {
                    let Some(e) = e else { break };
                    let mut out = Vec::new();
                    let mut replies: Vec<Reply> = Vec::new();
                    self.event(e, &mut out, &mut replies);
                    // Deliveries come in bursts: handle what is queued before sending.
                    for _ in 0..256 {
                        match events.try_recv() {
                            Ok(e) => self.event(e, &mut out, &mut replies),
                            Err(_) => break,
                        }
                    }
                    self.send(out, replies).await;
                    self.run_rekey().await;
                }
            }
        }
        tracing::debug!(nodeid = self.nodeid, "cpg service stopped");
    }

    /// Runs delivered key change steps in order: after a load that changed the key, and after
    /// our own phase 1, multicast our next phase message (safe), as corosync's CFG does.
    async fn run_rekey(&mut self) {
        for step in std::mem::take(&mut self.rekey_steps) {
            let next = match self.node.rekey(step).await {
                Ok(true) if step == RekeyStep::Load => Some(crate::knet::rekey::PHASE_ACTIVATE),
                Ok(_) if step == RekeyStep::Phase(crate::knet::rekey::PHASE_ACTIVATE) => {
                    Some(crate::knet::rekey::PHASE_CLEANUP)
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::error!(?step, error = %e, "knet key change step failed");
                    None
                }
            };
            let Some(phase) = next else { continue };
            let mut out = Vec::new();
            let r = cfg_crypto_reconfig(self.gen, phase)
                .and_then(|m| self.packer.push(m, &mut out))
                .and_then(|()| self.packer.flush(&mut out));
            if let Err(e) = r {
                tracing::error!(phase, error = %e, "cannot pack crypto reconfig message");
                continue;
            }
            if let Err(e) = self.node.submit(out, Guarantee::Safe).await {
                tracing::error!(phase, error = %e, "cannot send crypto reconfig message");
            }
        }
    }

    async fn send(&mut self, mut out: Vec<Vec<u8>>, replies: Vec<Reply>) {
        if let Err(e) = self.packer.flush(&mut out) {
            tracing::error!(error = %e, "totempg flush failed");
        }
        let r = if out.is_empty() {
            Ok(())
        } else {
            self.node.submit(out, Guarantee::Agreed).await
        };
        for reply in replies {
            let _ = reply.send(match &r {
                Ok(()) => Ok(()),
                Err(e) => Err(CpgError::Node(match e {
                    crate::driver::NodeError::BacklogFull(n) => {
                        crate::driver::NodeError::BacklogFull(*n)
                    }
                    _ => crate::driver::NodeError::Stopped,
                })),
            });
        }
    }

    fn push(&mut self, msg: Vec<u8>, out: &mut Vec<Vec<u8>>) -> Result<(), CpgError> {
        self.packer.push(msg, out).map_err(CpgError::Wire)
    }

    /// Library requests wait while a sync round runs; queries are answered at once.
    fn admit(&mut self, r: Request, out: &mut Vec<Vec<u8>>, replies: &mut Vec<Reply>) {
        let queued = matches!(
            r,
            Request::Join { .. } | Request::Leave { .. } | Request::Mcast { .. }
        );
        if queued && (self.syncing() || !self.held.is_empty() || self.mrp_full()) {
            self.held.push_back(r);
            return;
        }
        self.request(r, out, replies);
    }

    fn release_held(&mut self, out: &mut Vec<Vec<u8>>, replies: &mut Vec<Reply>) {
        while !self.syncing() && !self.mrp_full() {
            let Some(r) = self.held.pop_front() else {
                break;
            };
            self.request(r, out, replies);
        }
    }

    fn request(&mut self, r: Request, out: &mut Vec<Vec<u8>>, replies: &mut Vec<Reply>) {
        match r {
            Request::Status { reply } => {
                let _ = reply.send(self.exec_status());
            }
            Request::QuorumLeave { reply } => match self.quorum.as_mut().and_then(Quorum::leave) {
                Some(m) => {
                    self.push_or_log(m, out, "votequorum leaving nodeinfo");
                    self.quorum_leave = Some(reply);
                }
                None => {
                    let _ = reply.send(false);
                }
            },
            Request::Join { group, pid, reply } => {
                if let Some(p) = pid {
                    if self.local.values().any(|l| l.pid == p && l.group == group) {
                        let _ = reply.send(Err(CpgError::AlreadyJoined {
                            pid: p,
                            group: String::from_utf8_lossy(&group).into_owned(),
                        }));
                        return;
                    }
                }
                let id = self.next_id;
                self.next_id += 1;
                let pid = pid.unwrap_or_else(|| IN_PROCESS_PID_BASE.wrapping_add(id as u32));
                let (tx, rx) = mpsc::unbounded_channel();
                let msg = codec::procjoin(self.gen, &group, pid, false);
                match self.push(msg, out) {
                    Ok(()) => {
                        let first = !self.local.values().any(|l| l.group == group);
                        let announce = match self.mrp.as_mut() {
                            Some(m) if first && m.bridges(&group) => m.join(&group),
                            _ => None,
                        };
                        if let Some(b) = announce {
                            self.mrp_push(b, out);
                        }
                        self.local.insert(id, Local { group, pid, tx });
                        let _ = reply.send(Ok((id, pid, rx)));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Request::Leave { id, reply } => match self.local.remove(&id) {
                Some(l) => {
                    let last = !self.local.values().any(|o| o.group == l.group);
                    let announce = match self.mrp.as_mut() {
                        Some(m) if last && m.bridges(&l.group) => m.leave(&l.group),
                        _ => None,
                    };
                    if let Some(b) = announce {
                        self.mrp_push(b, out);
                    }
                    let msg = codec::procjoin(self.gen, &l.group, l.pid, true);
                    match self.push(msg, out) {
                        Ok(()) => replies.push(reply),
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
                None => {
                    let _ = reply.send(Err(CpgError::Stopped));
                }
            },
            Request::Mcast { id, data, reply } => {
                let Some(l) = self.local.get(&id) else {
                    let _ = reply.send(Err(CpgError::Stopped));
                    return;
                };
                // 1.x has no PARTIAL_MCAST: a message goes in one MCAST or not at all.
                if self.gen == Generation::G1 && data.len() > codec::MCAST_DATA_MAX {
                    let _ = reply.send(Err(CpgError::TooLarge(data.len())));
                    return;
                }
                if let Some(m) = self.mrp.as_mut().filter(|m| m.bridges(&l.group)) {
                    // The global order: sent now, or once this node's clock is in.
                    if let Some(b) = m.data(&l.group, l.pid, &data) {
                        self.mrp_push(b, out);
                    }
                    replies.push(reply);
                    return;
                }
                let msgs = codec::mcast(self.gen, &l.group, l.pid, self.nodeid, &data);
                let mut res = Ok(());
                for m in msgs {
                    if let Err(e) = self.push(m, out) {
                        res = Err(e);
                        break;
                    }
                }
                match res {
                    Ok(()) => replies.push(reply),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Request::MrpSubmit { elements, reply } => {
                let r = match self.mrp.as_ref() {
                    Some(_) => elements.into_iter().try_for_each(|e| {
                        self.packer
                            .push_group(KnownGroup::Mrp, e, out)
                            .map_err(CpgError::Wire)
                    }),
                    None => Err(CpgError::Config(
                        "no mrp section: this ring is not part of a multiple-ring system".into(),
                    )),
                };
                match r {
                    Ok(()) => replies.push(reply),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Request::Groups { reply } => {
                let _ = reply.send(
                    self.groups
                        .iter()
                        .map(|(g, m)| GroupState {
                            group: String::from_utf8_lossy(g).into_owned(),
                            members: m.iter().copied().collect(),
                        })
                        .collect(),
                );
            }
        }
    }

    fn notify(
        &mut self,
        group: &[u8],
        joined: Vec<(Process, Reason)>,
        left: Vec<(Process, Reason)>,
    ) {
        if joined.is_empty() && left.is_empty() {
            return;
        }
        let members: Vec<Process> = self
            .groups
            .get(group)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for l in self.local.values().filter(|l| l.group == group) {
            let _ = l.tx.send(CpgEvent::ConfChg {
                members: members.clone(),
                joined: joined.clone(),
                left: left.clone(),
            });
        }
    }

    fn deliver(&self, group: &[u8], nodeid: u32, pid: u32, data: Vec<u8>) {
        let targets: Vec<&Local> = self.local.values().filter(|l| l.group == group).collect();
        if let Some((last, rest)) = targets.split_last() {
            for l in rest {
                let _ = l.tx.send(CpgEvent::Deliver {
                    nodeid,
                    pid,
                    data: data.clone(),
                });
            }
            let _ = last.tx.send(CpgEvent::Deliver { nodeid, pid, data });
        }
    }

    fn event(&mut self, e: Event, out: &mut Vec<Vec<u8>>, replies: &mut Vec<Reply>) {
        match e {
            Event::Deliver {
                sender,
                payload,
                ring_id,
                ..
            } => {
                let u = self.unpacker.feed(sender, &payload);
                for err in u.errors {
                    self.decode_errors += 1;
                    tracing::warn!(sender, error = %err, "undecodable executive traffic dropped");
                }
                for m in u.msgs {
                    match m {
                        ExecMessage::Cpg(c) => self.cpg_message(sender, c),
                        ExecMessage::Sync(group, sm) => {
                            let outputs = match self.sync.as_mut() {
                                Some(s) => s.deliver(sender, group, &sm),
                                None => Vec::new(),
                            };
                            self.apply(outputs, out, replies);
                        }
                        ExecMessage::Votequorum(v) => {
                            if let Some(q) = self.quorum.as_mut() {
                                q.deliver(sender, &v);
                            }
                            if sender == self.nodeid && crate::sync::quorum::is_leaving(&v) {
                                if let Some(r) = self.quorum_leave.take() {
                                    let _ = r.send(true);
                                }
                            }
                            if let Some(q) = self.quorum_g1.as_mut() {
                                q.deliver(sender, &v);
                            }
                        }
                        ExecMessage::EvtChanCmd(op) => {
                            let outputs = match self.sync.as_mut() {
                                Some(s) => s.evt_chancmd(sender, op),
                                None => Vec::new(),
                            };
                            self.apply(outputs, out, replies);
                        }
                        ExecMessage::Mrp(b) => {
                            if let Some(m) = self.mrp.as_mut() {
                                m.element(sender, ring_id, b);
                            }
                            self.mrp_drain(out);
                            if !self.held.is_empty() && !self.syncing() {
                                self.release_held(out, replies);
                            }
                        }
                        ExecMessage::Cmap(c) => {
                            tracing::debug!(sender, msg = %c, "cmap message");
                        }
                        ExecMessage::Cfg(c) => match *c {
                            CfgMessage::ReloadConfig { .. } => {
                                tracing::info!(sender, "config reload requested");
                                self.rekey_steps.push(RekeyStep::Load);
                            }
                            // Each node acts on its own phase messages only (corosync cfg.c).
                            CfgMessage::CryptoReconfig { phase, .. } if sender == self.nodeid => {
                                self.rekey_steps.push(RekeyStep::Phase(phase));
                            }
                            other => tracing::debug!(sender, msg = %other, "cfg message"),
                        },
                    }
                }
            }
            Event::Config {
                kind: ConfigKind::Regular,
                ring_id,
                members,
                left: _,
                joined,
            } => {
                let left = std::mem::take(&mut self.transitional_left);
                // Nodes that left, and nodes that joined from outside our transitional
                // configuration (restarted or merged): their totempg streams start afresh.
                let gone_nodes: Vec<u32> = left
                    .iter()
                    .chain(joined.iter())
                    .copied()
                    .filter(|n| *n != self.nodeid)
                    .collect();
                for n in &gone_nodes {
                    self.unpacker.reset_sender(*n);
                    self.partial.retain(|k, _| k.0 != *n);
                }
                if let Some(q) = self.quorum_g1.as_mut() {
                    if let Some(m) = q.config_change(&members, &[]) {
                        self.push_or_log(m, out, "votequorum nodeinfo");
                    }
                }
                if let Some(m) = self.mrp.as_mut() {
                    m.regular(ring_id, &members);
                    self.mrp_drain(out);
                }
                if let Some(s) = self.sync.as_mut() {
                    let outputs = s.regular(ring_id, &members);
                    self.apply(outputs, out, replies);
                }
            }
            Event::Config {
                kind: ConfigKind::Transitional,
                left,
                members,
                ..
            } => {
                if let Some(q) = self.quorum_g1.as_mut() {
                    if let Some(m) = q.config_change(&members, &left) {
                        self.push_or_log(m, out, "votequorum nodeinfo");
                    }
                }
                // Applied with the regular configuration, after the old ring's last messages.
                self.transitional_left = left;
                if let Some(s) = self.sync.as_mut() {
                    let outputs = s.transitional(&members);
                    self.apply(outputs, out, replies);
                }
            }
        }
    }

    /// Carries out what the sync participant decided, in order.
    fn apply(&mut self, outputs: Vec<Output>, out: &mut Vec<Vec<u8>>, replies: &mut Vec<Reply>) {
        for o in outputs {
            match o {
                Output::Send(group, b) => {
                    if let Err(e) = self.packer.push_group(group, b, out) {
                        tracing::error!(error = %e, "cannot send sync message");
                    }
                }
                Output::Init {
                    ring,
                    trans,
                    members,
                } => {
                    tracing::info!(
                        ring = %ring,
                        members = %crate::logfmt::Ids(&members),
                        transitional = %crate::logfmt::Ids(&trans),
                        "sync round starts"
                    );
                    self.cpg_sync_init(&trans, &members);
                    if let Some(q) = self.quorum.as_mut() {
                        q.sync_init(&members);
                    }
                }
                Output::Process(s) => self.sync_process(s, out),
                Output::Activate(s) => self.sync_activate(s),
                Output::Abort(s) => {
                    tracing::info!(service = s, "sync round aborted");
                    if self.sync_service(s) == Some(Svc::Cpg) {
                        self.joinlists.clear();
                    }
                }
                Output::Completed => {
                    let q = self.quorum.as_ref().map(|q| q.status());
                    use crate::logfmt::Opt;
                    tracing::info!(
                        ring = %Opt(&self.sync.as_ref().and_then(|s| s.ring())),
                        quorate = %Opt(&q.as_ref().map(|q| q.quorate)),
                        total_votes = %Opt(&q.as_ref().map(|q| q.total_votes)),
                        "completed service synchronization"
                    );
                    self.release_held(out, replies);
                }
            }
        }
    }

    fn push_or_log(&mut self, msg: Vec<u8>, out: &mut Vec<Vec<u8>>, what: &str) {
        if let Err(e) = self.push(msg, out) {
            tracing::error!(error = %e, what, "cannot send sync message");
        }
    }

    fn sync_process(&mut self, service: u32, out: &mut Vec<Vec<u8>>) {
        match self.sync_service(service) {
            Some(Svc::Cmap) => {
                let m = messages::cmap_sync(self.gen, self.config_version);
                self.push_or_log(m, out, "cmap");
            }
            Some(Svc::Cpg) => {
                let d =
                    messages::cpg_downlist(self.gen, self.old_members.len() as u32, &self.downlist);
                self.push_or_log(d, out, "cpg downlist");
                let entries: Vec<(u32, Vec<u8>)> = self
                    .groups
                    .iter()
                    .flat_map(|(g, set)| {
                        set.iter()
                            .filter(|p| p.nodeid == self.nodeid)
                            .map(|p| (p.pid, g.clone()))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                if !entries.is_empty() {
                    let j = codec::joinlist(self.gen, &entries);
                    self.push_or_log(j, out, "cpg joinlist");
                }
            }
            Some(Svc::Votequorum) => {
                let msgs = self
                    .quorum
                    .as_ref()
                    .map(|q| q.sync_messages())
                    .unwrap_or_default();
                for m in msgs {
                    self.push_or_log(m, out, "votequorum nodeinfo");
                }
            }
            _ => {}
        }
    }

    fn cpg_sync_init(&mut self, trans: &[u32], members: &[u32]) {
        self.cur_members = members.to_vec();
        self.downlist = self
            .old_members
            .iter()
            .copied()
            .filter(|n| !trans.contains(n))
            .collect();
        self.joinlists.clear();
    }

    fn sync_activate(&mut self, service: u32) {
        match self.sync_service(service) {
            Some(Svc::Cpg) => self.cpg_sync_activate(),
            Some(Svc::Votequorum) => {
                if let Some(q) = self.quorum.as_mut() {
                    q.sync_activate();
                    let s = q.status();
                    tracing::info!(
                        quorate = s.quorate,
                        quorum = s.quorum,
                        total_votes = s.total_votes,
                        expected_votes = s.expected_votes,
                        "votequorum activated"
                    );
                }
            }
            _ => {}
        }
    }

    /// corosync's cpg_sync_activate: processes of downlist nodes leave (NODEDOWN), those
    /// in the collected joinlists join (NODEUP), remote processes no joinlist names leave
    /// (PROCDOWN); then the ring callback.
    fn cpg_sync_activate(&mut self) {
        self.old_members = self.cur_members.clone();
        let down = std::mem::take(&mut self.downlist);
        let groups: Vec<Vec<u8>> = self.groups.keys().cloned().collect();
        for g in &groups {
            let mut gone = Vec::new();
            if let Some(set) = self.groups.get_mut(g) {
                set.retain(|p| {
                    let stay = !down.contains(&p.nodeid);
                    if !stay {
                        gone.push((*p, Reason::NodeDown));
                    }
                    stay
                });
            }
            self.notify(g, Vec::new(), gone);
        }
        let joinlists = std::mem::take(&mut self.joinlists);
        let mut joined: BTreeMap<Vec<u8>, Vec<(Process, Reason)>> = BTreeMap::new();
        for (sender, pid, g) in &joinlists {
            if *sender == self.nodeid {
                continue;
            }
            let p = Process {
                nodeid: *sender,
                pid: *pid,
            };
            if self.add(g, p) {
                joined
                    .entry(g.clone())
                    .or_default()
                    .push((p, Reason::NodeUp));
            }
        }
        for (g, j) in joined {
            self.notify(&g, j, Vec::new());
        }
        let groups: Vec<Vec<u8>> = self.groups.keys().cloned().collect();
        for g in &groups {
            let zombies: Vec<Process> = self
                .groups
                .get(g)
                .map(|set| {
                    set.iter()
                        .filter(|p| {
                            p.nodeid != self.nodeid
                                && !joinlists
                                    .iter()
                                    .any(|(s, pid, jg)| *s == p.nodeid && *pid == p.pid && jg == g)
                        })
                        .copied()
                        .collect()
                })
                .unwrap_or_default();
            for z in zombies {
                if let Some(set) = self.groups.get_mut(g) {
                    set.remove(&z);
                }
                self.notify(g, Vec::new(), vec![(z, Reason::ProcDown)]);
            }
        }
        self.groups.retain(|_, s| !s.is_empty());
        let ring_seq = self
            .sync
            .as_ref()
            .and_then(|s| s.ring())
            .map(|r| r.seq)
            .unwrap_or(0);
        for l in self.local.values() {
            let _ = l.tx.send(CpgEvent::Ring {
                ring_seq,
                members: self.cur_members.clone(),
            });
        }
    }

    /// corosync delivers a group message only from a node it knows in that group.
    fn sender_known(&mut self, group: &[u8], sender: u32) -> bool {
        if self.sync.is_none() {
            return true;
        }
        let known = self
            .groups
            .get(group)
            .is_some_and(|s| s.iter().any(|p| p.nodeid == sender));
        if !known {
            self.unknown_sender_drops += 1;
            tracing::warn!(
                sender,
                "message from a node unknown in the group not delivered"
            );
        }
        known
    }

    fn add(&mut self, group: &[u8], p: Process) -> bool {
        self.groups.entry(group.to_vec()).or_default().insert(p)
    }

    fn cpg_message(&mut self, sender: u32, m: CpgMessage) {
        match m {
            CpgMessage::ProcJoin(j) => {
                let g = j.group_name.bytes().to_vec();
                let p = Process {
                    nodeid: sender,
                    pid: j.pid,
                };
                if self.add(&g, p) {
                    self.notify(&g, vec![(p, Reason::from_code(j.reason))], Vec::new());
                }
            }
            CpgMessage::ProcLeave(j) => {
                let g = j.group_name.bytes().to_vec();
                let p = Process {
                    nodeid: sender,
                    pid: j.pid,
                };
                let removed = self.groups.get_mut(&g).is_some_and(|s| s.remove(&p));
                if removed {
                    self.notify(&g, Vec::new(), vec![(p, Reason::from_code(j.reason))]);
                    self.groups.retain(|_, s| !s.is_empty());
                }
            }
            CpgMessage::JoinList(l) => {
                for e in l.entries {
                    self.joinlists
                        .push((sender, e.pid, e.group_name.bytes().to_vec()));
                }
            }
            CpgMessage::Mcast(m) => {
                if self.sender_known(m.group_name.bytes(), sender) {
                    self.deliver(m.group_name.bytes(), sender, m.pid, m.message);
                }
            }
            CpgMessage::PartialMcast(pm) => {
                let key = (sender, pm.pid, pm.group_name.bytes().to_vec());
                let buf = self.partial.entry(key.clone()).or_default();
                if pm.kind == codec::PARTIAL_FIRST {
                    buf.clear();
                }
                if buf.len() + pm.data.len() > super::MESSAGE_MAX {
                    tracing::warn!(sender, "partial mcast larger than 1 MiB dropped");
                    self.partial.remove(&key);
                    return;
                }
                buf.extend_from_slice(&pm.data);
                if pm.kind == codec::PARTIAL_LAST {
                    if let Some(data) = self.partial.remove(&key) {
                        if data.len() == pm.msglen as usize {
                            if self.sender_known(&key.2, sender) {
                                self.deliver(&key.2, sender, pm.pid, data);
                            }
                        } else {
                            tracing::warn!(
                                sender,
                                got = data.len(),
                                want = pm.msglen,
                                "partial mcast length mismatch"
                            );
                        }
                    }
                }
            }
            CpgMessage::Downlist(d) => {
                tracing::debug!(
                    sender,
                    old_members = d.old_members,
                    left_nodes = d.left_nodes,
                    "cpg downlist received"
                );
            }
            CpgMessage::DownlistOld(_) => {
                tracing::debug!(sender, "cpg downlist_old received");
            }
        }
    }
}
