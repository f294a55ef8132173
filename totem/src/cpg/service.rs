//! The CPG service task: group membership learnt in agreed order, local members, and the
//! packing of outgoing exec messages.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tokio::sync::{mpsc, oneshot};
use totem_wire::service::cpg::CpgMessage;
use totem_wire::Generation;

use super::codec::{self, Packer, Unpacker};
use super::{CpgError, CpgEvent, Process, Reason, Request};
use crate::driver::NodeHandle;
use crate::engine::{ConfigKind, Event, Guarantee};

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
}

type Reply = oneshot::Sender<Result<(), CpgError>>;

impl Service {
    pub(super) fn new(
        node: NodeHandle,
        gen: Generation,
        nodeid: u32,
        net_mtu: usize,
    ) -> Result<Self, CpgError> {
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
        })
    }

    pub(super) async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) {
        loop {
            tokio::select! {
                r = requests.recv() => {
                    let Some(r) = r else { break };
                    let mut out = Vec::new();
                    let mut replies: Vec<Reply> = Vec::new();
                    self.request(r, &mut out, &mut replies);
                    // Pack whatever else is already waiting into the same packets.
                    for _ in 0..256 {
                        match requests.try_recv() {
                            Ok(r) => self.request(r, &mut out, &mut replies),
                            Err(_) => break,
                        }
                    }
                    self.send(out, replies).await;
                }
                e = events.recv() => {
                    let Some(e) = e else { break };
                    let mut out = Vec::new();
                    self.event(e, &mut out);
                    self.send(out, Vec::new()).await;
                }
            }
        }
        tracing::debug!(nodeid = self.nodeid, "cpg service stopped");
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

    fn request(&mut self, r: Request, out: &mut Vec<Vec<u8>>, replies: &mut Vec<Reply>) {
        match r {
            Request::Join { group, reply } => {
                let id = self.next_id;
                self.next_id += 1;
                let pid = std::process::id().wrapping_add(id as u32);
                let (tx, rx) = mpsc::unbounded_channel();
                let msg = codec::procjoin(self.gen, &group, pid, false);
                match self.push(msg, out) {
                    Ok(()) => {
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

    fn event(&mut self, e: Event, out: &mut Vec<Vec<u8>>) {
        match e {
            Event::Deliver {
                sender, payload, ..
            } => {
                let u = self.unpacker.feed(sender, &payload);
                for err in u.errors {
                    self.decode_errors += 1;
                    tracing::warn!(sender, error = %err, "undecodable CPG traffic dropped");
                }
                for m in u.cpg {
                    self.cpg_message(sender, m);
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
                // configuration (restarted or merged): what we knew of their processes is
                // stale; a joined node re-announces its live ones with a JOINLIST.
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
                let groups: Vec<Vec<u8>> = self.groups.keys().cloned().collect();
                for g in groups {
                    let mut gone = Vec::new();
                    if let Some(set) = self.groups.get_mut(&g) {
                        set.retain(|p| {
                            let stay = !gone_nodes.contains(&p.nodeid);
                            if !stay {
                                gone.push((*p, Reason::NodeDown));
                            }
                            stay
                        });
                    }
                    self.notify(&g, Vec::new(), gone);
                }
                self.groups.retain(|_, s| !s.is_empty());
                for l in self.local.values() {
                    let _ = l.tx.send(CpgEvent::Ring {
                        ring_seq: ring_id.seq,
                        members: members.clone(),
                    });
                }
                if !joined.iter().all(|n| *n == self.nodeid) && !self.local.is_empty() {
                    let entries: Vec<(u32, Vec<u8>)> = self
                        .local
                        .values()
                        .map(|l| (l.pid, l.group.clone()))
                        .collect();
                    let msg = codec::joinlist(self.gen, &entries);
                    if let Err(e) = self.push(msg, out) {
                        tracing::error!(error = %e, "cannot send joinlist");
                    }
                }
            }
            Event::Config {
                kind: ConfigKind::Transitional,
                left,
                ..
            } => {
                // Applied with the regular configuration, after the old ring's last messages.
                self.transitional_left = left;
            }
        }
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
                if sender == self.nodeid {
                    return;
                }
                for e in l.entries {
                    let g = e.group_name.bytes().to_vec();
                    let p = Process {
                        nodeid: sender,
                        pid: e.pid,
                    };
                    if self.add(&g, p) {
                        self.notify(&g, vec![(p, Reason::NodeUp)], Vec::new());
                    }
                }
            }
            CpgMessage::Mcast(m) => {
                self.deliver(m.group_name.bytes(), sender, m.pid, m.message);
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
                            self.deliver(&key.2, sender, pm.pid, data);
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
            CpgMessage::Downlist(_) | CpgMessage::DownlistOld(_) => {
                tracing::debug!(sender, "cpg downlist ignored (no sync engine)");
            }
        }
    }
}
