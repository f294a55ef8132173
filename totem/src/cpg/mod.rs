//! A CPG-style API (closed process groups) for code in the same process, on top of a
//! running node, speaking corosync's CPG exec messages in group "a".
//!
//! Joins and leaves are PROCJOIN / PROCLEAVE, messages MCAST (PARTIAL_MCAST above
//! [`codec::MCAST_DATA_MAX`]), all packed and fragmented by totempg. Membership is learnt in
//! agreed order; after a configuration change every node multicasts a JOINLIST of its local
//! processes so that new nodes learn the groups (corosync does this inside its sync
//! exchange, which this layer does not run: see the crate docs for the gap).

pub mod codec;
mod mrp;
mod rekey_watch;
mod service;

use tokio::sync::{mpsc, oneshot};
use totem_wire::Generation;

use crate::driver::{NodeError, NodeHandle};
use crate::engine::Event;

pub use mrp::{MrpOptions, MrpStatus, MrpTap};
pub use rekey_watch::CfgRekeyWatch;
pub use service::{GroupState, IN_PROCESS_PID_BASE};

/// Largest application message [`CpgHandle::mcast`] accepts (1 MiB).
pub const MESSAGE_MAX: usize = totem_wire::totempg::MESSAGE_SIZE_MAX;
/// Longest group name (`mar_cpg_name_t`).
pub const GROUP_NAME_MAX: usize = totem_wire::service::cpg::CPG_NAME_MAX;

/// Why a CPG request failed.
#[derive(Debug, thiserror::Error)]
pub enum CpgError {
    #[error("group name of {0} bytes is longer than 128")]
    NameTooLong(usize),
    #[error("message of {0} bytes exceeds the 1 MiB limit")]
    TooLarge(usize),
    #[error("node: {0}")]
    Node(#[from] NodeError),
    #[error("the CPG service has stopped")]
    Stopped,
    #[error("encoding: {0}")]
    Wire(#[from] totem_wire::Error),
    #[error("configuration: {0}")]
    Config(String),
    /// The process already has a member in the group on this node (corosync: CS_ERR_EXIST).
    #[error("process {pid} is already a member of group {group:?} on this node")]
    AlreadyJoined { pid: u32, group: String },
}

/// What the executive task (CPG, sync, votequorum) needs to know about its node.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub generation: Generation,
    pub nodeid: u32,
    /// totempg packet budget (see [`crate::node_config::NodeConfig::net_mtu`]).
    pub net_mtu: usize,
    /// Node ids of the nodelist (each votes once).
    pub nodelist: Vec<u32>,
    /// `totem.config_version`, sent in the CMAP sync message (None = not set).
    pub config_version: Option<u64>,
    /// Votequorum's settings; `None`: no votequorum (no quorum provider configured).
    pub quorum: Option<crate::quorum::QuorumOptions>,
    /// The top-level `compatibility` key (G1: "whitetank", the default, or "none").
    pub compatibility: Option<String>,
    /// `quorum.expected_votes` (G1 votequorum; None: the nodelist's size).
    pub expected_votes: Option<u32>,
    /// `quorum.votes` (G1 votequorum; None: 1).
    pub g1_votes: Option<u32>,
    /// `quorum.two_node` (G1 votequorum).
    pub g1_two_node: bool,
    /// Our ring-0 address (G1: the dummy CLM NODEJOIN names it).
    pub bind_addr: Option<std::net::IpAddr>,
    /// The multiple-ring system this ring is part of (the `mrp` section).
    pub mrp: Option<MrpOptions>,
}

impl ExecOptions {
    /// Options for a node run from `cfg`.
    pub fn from_config(cfg: &crate::node_config::NodeConfig) -> Self {
        ExecOptions {
            generation: cfg.generation,
            nodeid: cfg.nodeid,
            net_mtu: cfg.net_mtu(),
            nodelist: cfg.nodes.iter().map(|n| n.nodeid).collect(),
            config_version: None,
            quorum: cfg.quorum.clone(),
            compatibility: source_key(cfg, None, "compatibility"),
            expected_votes: source_key(cfg, Some("quorum"), "expected_votes")
                .and_then(|v| v.parse().ok()),
            g1_votes: source_key(cfg, Some("quorum"), "votes").and_then(|v| v.parse().ok()),
            g1_two_node: source_key(cfg, Some("quorum"), "two_node")
                .and_then(|v| v.parse::<u32>().ok())
                .is_some_and(|v| v != 0),
            bind_addr: Some(cfg.bind_addr),
            mrp: cfg.mrp.clone(),
        }
    }
}

/// A key of the corosync.conf `cfg` was read from (top level, or in `section`); the node
/// configuration does not keep these, the executive reads them itself.
fn source_key(
    cfg: &crate::node_config::NodeConfig,
    section: Option<&str>,
    key: &str,
) -> Option<String> {
    let text = std::fs::read_to_string(cfg.source.as_ref()?).ok()?;
    let root = crate::corosync_conf::parse(&text).ok()?;
    let sec = match section {
        Some(name) => root.section(name)?,
        None => &root,
    };
    sec.get(key).map(str::to_string)
}

/// Sync, quorum and CPG counters of the executive task.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecStatus {
    pub sync_in_progress: bool,
    pub sync: Option<crate::sync::SyncStats>,
    /// Merged service list of the last round.
    pub sync_services: Vec<u32>,
    pub quorum: Option<crate::sync::quorum::QuorumStatus>,
    /// Library requests waiting for the sync round to end.
    pub held_requests: usize,
    pub decode_errors: u64,
    pub unknown_sender_drops: u64,
    /// The multiple-ring order (`mrp` section), if any.
    #[serde(default)]
    pub mrp: Option<Box<MrpStatus>>,
}

/// Why a process entered or left a group (corosync's CPG reason codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Reason {
    Join,
    Leave,
    NodeDown,
    NodeUp,
    ProcDown,
    Other(u32),
}

impl Reason {
    /// From the wire code (1 JOIN, 2 LEAVE, 3 NODEDOWN, 4 NODEUP, 5 PROCDOWN).
    pub fn from_code(c: u32) -> Self {
        match c {
            1 => Reason::Join,
            2 => Reason::Leave,
            3 => Reason::NodeDown,
            4 => Reason::NodeUp,
            5 => Reason::ProcDown,
            n => Reason::Other(n),
        }
    }
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Join => "join",
            Reason::Leave => "leave",
            Reason::NodeDown => "nodedown",
            Reason::NodeUp => "nodeup",
            Reason::ProcDown => "procdown",
            Reason::Other(_) => "other",
        }
    }
}

/// A group member: the node it runs on and its pid there.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Process {
    pub nodeid: u32,
    pub pid: u32,
}

/// What a group member receives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CpgEvent {
    /// A message multicast to the group, in agreed order.
    Deliver {
        nodeid: u32,
        pid: u32,
        data: Vec<u8>,
    },
    /// The group's membership changed.
    ConfChg {
        members: Vec<Process>,
        joined: Vec<(Process, Reason)>,
        left: Vec<(Process, Reason)>,
    },
    /// The Totem ring changed (like cpg's totem_confchg callback).
    Ring { ring_seq: u64, members: Vec<u32> },
}

/// What a join answers: handle id, pid and the member's event stream.
pub(crate) type Joined = (u64, u32, mpsc::UnboundedReceiver<CpgEvent>);

pub(crate) enum Request {
    Join {
        group: Vec<u8>,
        /// The member's real pid (a control socket client's, from SO_PEERCRED); `None`:
        /// an in-process member, numbered from the node's own pid.
        pid: Option<u32>,
        reply: oneshot::Sender<Result<Joined, CpgError>>,
    },
    Leave {
        id: u64,
        reply: oneshot::Sender<Result<(), CpgError>>,
    },
    Mcast {
        id: u64,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), CpgError>>,
    },
    Groups {
        reply: oneshot::Sender<Vec<GroupState>>,
    },
    /// A gateway's elements for the ring (group "mrp"), packed together.
    MrpSubmit {
        elements: Vec<Vec<u8>>,
        reply: oneshot::Sender<Result<(), CpgError>>,
    },
    Status {
        reply: oneshot::Sender<ExecStatus>,
    },
    /// Clean stop with allow_downscale: multicast our NODEINFO marked leaving; the reply
    /// comes when it is delivered back (true) or at once when nothing is sent (false).
    QuorumLeave {
        reply: oneshot::Sender<bool>,
    },
}

/// The CPG service of one node; clone it to share.
#[derive(Clone)]
pub struct Cpg {
    tx: mpsc::Sender<Request>,
    nodeid: u32,
}

impl std::fmt::Debug for Cpg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cpg(node {})", self.nodeid)
    }
}

impl Cpg {
    /// Starts the service over `node`, consuming its engine events. `net_mtu` is the totempg
    /// packet budget (see [`crate::node_config::NodeConfig::net_mtu`]).
    pub fn start(
        node: NodeHandle,
        events: mpsc::UnboundedReceiver<Event>,
        gen: Generation,
        nodeid: u32,
        net_mtu: usize,
    ) -> Result<Self, CpgError> {
        Self::start_with(
            node,
            events,
            ExecOptions {
                generation: gen,
                nodeid,
                net_mtu,
                nodelist: vec![nodeid],
                config_version: None,
                quorum: Some(crate::sync::quorum::Quorum::default_options(nodeid, &[])),
                compatibility: None,
                expected_votes: None,
                g1_votes: None,
                g1_two_node: false,
                bind_addr: None,
                mrp: None,
            },
        )
    }

    /// Starts the executive (CPG, sync participant, votequorum) with full options.
    pub fn start_with(
        node: NodeHandle,
        events: mpsc::UnboundedReceiver<Event>,
        opts: ExecOptions,
    ) -> Result<Self, CpgError> {
        let (tx, rx) = mpsc::channel(1024);
        let svc = service::Service::new(node, &opts)?;
        tokio::spawn(svc.run(rx, events));
        Ok(Cpg {
            tx,
            nodeid: opts.nodeid,
        })
    }

    /// A gateway's executive: as [`Cpg::start_with`], and the ring's multiple-ring events
    /// (configurations, elements numbered in ring order) go to the returned tap instead of
    /// an orderer; [`Cpg::mrp_submit`] puts the port's elements into the ring.
    pub fn start_gateway(
        node: NodeHandle,
        events: mpsc::UnboundedReceiver<Event>,
        opts: ExecOptions,
        mrp: &MrpOptions,
    ) -> Result<(Self, MrpTap), CpgError> {
        let (tx, rx) = mpsc::channel(1024);
        let (svc, tap) = service::Service::new_gateway(node, &opts, mrp)?;
        tokio::spawn(svc.run(rx, events));
        Ok((
            Cpg {
                tx,
                nodeid: opts.nodeid,
            },
            tap,
        ))
    }

    /// Submits a gateway port's elements into the ring (agreed order), packed into as
    /// few Totem messages as they fit.
    pub async fn mrp_submit(&self, elements: Vec<Vec<u8>>) -> Result<(), CpgError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::MrpSubmit { elements, reply })
            .await
            .map_err(|_| CpgError::Stopped)?;
        rx.await.map_err(|_| CpgError::Stopped)?
    }

    /// Sync, quorum and CPG counters.
    pub async fn exec_status(&self) -> Result<ExecStatus, CpgError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Status { reply })
            .await
            .map_err(|_| CpgError::Stopped)?;
        rx.await.map_err(|_| CpgError::Stopped)
    }

    /// Our nodeid.
    pub fn nodeid(&self) -> u32 {
        self.nodeid
    }

    /// Before a clean stop: with votequorum's allow_downscale, announce that we leave (our
    /// NODEINFO with the leaving flag, as corosync's votequorum does on exit) and wait, at
    /// most `timeout`, until the ring delivered it. True if it was delivered.
    pub async fn quorum_leave(&self, timeout: std::time::Duration) -> bool {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Request::QuorumLeave { reply }).await.is_err() {
            return false;
        }
        matches!(tokio::time::timeout(timeout, rx).await, Ok(Ok(true)))
    }

    /// Joins `group`; membership changes and messages arrive on the handle. The member is
    /// known by a pid of [`IN_PROCESS_PID_BASE`] plus a per-member number (several may
    /// share this process; no real pid is that large).
    pub async fn join(&self, group: &[u8]) -> Result<CpgHandle, CpgError> {
        self.join_as(group, None).await
    }

    /// Joins `group` as the process `pid` of this host (what peers and `totem-node status`
    /// show, as corosync announces its libcpg clients' pids); a second member with the same
    /// pid in the same group is refused ([`CpgError::AlreadyJoined`]), as corosync does.
    pub async fn join_as(&self, group: &[u8], pid: Option<u32>) -> Result<CpgHandle, CpgError> {
        if group.len() > GROUP_NAME_MAX {
            return Err(CpgError::NameTooLong(group.len()));
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Join {
                group: group.to_vec(),
                pid,
                reply,
            })
            .await
            .map_err(|_| CpgError::Stopped)?;
        let (id, pid, events) = rx.await.map_err(|_| CpgError::Stopped)??;
        Ok(CpgHandle {
            sender: CpgSender {
                id,
                pid,
                nodeid: self.nodeid,
                group: group.to_vec(),
                tx: self.tx.clone(),
            },
            events,
        })
    }

    /// Every group this node knows of, with its members.
    pub async fn groups(&self) -> Result<Vec<GroupState>, CpgError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Groups { reply })
            .await
            .map_err(|_| CpgError::Stopped)?;
        rx.await.map_err(|_| CpgError::Stopped)
    }
}

/// One joined group.
#[derive(Debug)]
pub struct CpgHandle {
    sender: CpgSender,
    events: mpsc::UnboundedReceiver<CpgEvent>,
}

/// The sending half of a joined group (see [`CpgHandle::split`]): a member that only
/// sends, or whose events are read elsewhere.
#[derive(Debug)]
pub struct CpgSender {
    id: u64,
    pid: u32,
    nodeid: u32,
    group: Vec<u8>,
    tx: mpsc::Sender<Request>,
}

impl CpgSender {
    /// The pid this member is known by.
    pub fn pid(&self) -> u32 {
        self.pid
    }
    /// The node it runs on.
    pub fn nodeid(&self) -> u32 {
        self.nodeid
    }
    /// The group name.
    pub fn group(&self) -> &[u8] {
        &self.group
    }

    /// Multicasts `data` (up to 1 MiB) to the group in agreed order.
    pub async fn mcast(&self, data: Vec<u8>) -> Result<(), CpgError> {
        let rx = self.mcast_queued(data).await?;
        rx.await.map_err(|_| CpgError::Stopped)?
    }

    /// Queues `data` for multicast without waiting for the service to accept it; the
    /// returned receiver yields the acceptance. Requests of one handle keep their order.
    pub async fn mcast_queued(
        &self,
        data: Vec<u8>,
    ) -> Result<oneshot::Receiver<Result<(), CpgError>>, CpgError> {
        if data.len() > MESSAGE_MAX {
            return Err(CpgError::TooLarge(data.len()));
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Mcast {
                id: self.id,
                data,
                reply,
            })
            .await
            .map_err(|_| CpgError::Stopped)?;
        Ok(rx)
    }

    /// Leaves the group.
    pub async fn leave(self) -> Result<(), CpgError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Leave { id: self.id, reply })
            .await
            .map_err(|_| CpgError::Stopped)?;
        rx.await.map_err(|_| CpgError::Stopped)?
    }
}

impl CpgHandle {
    /// The pid this member is known by.
    pub fn pid(&self) -> u32 {
        self.sender.pid
    }
    /// The node it runs on.
    pub fn nodeid(&self) -> u32 {
        self.sender.nodeid
    }
    /// The group name.
    pub fn group(&self) -> &[u8] {
        &self.sender.group
    }

    /// Multicasts `data` (up to 1 MiB) to the group in agreed order.
    pub async fn mcast(&self, data: Vec<u8>) -> Result<(), CpgError> {
        self.sender.mcast(data).await
    }

    /// Queues `data` for multicast without waiting for the service to accept it; the
    /// returned receiver yields the acceptance. Requests of one handle keep their order.
    pub async fn mcast_queued(
        &self,
        data: Vec<u8>,
    ) -> Result<oneshot::Receiver<Result<(), CpgError>>, CpgError> {
        self.sender.mcast_queued(data).await
    }

    /// The sending half and the event stream, apart (drop the stream of a member that
    /// only sends: its events are then not kept).
    pub fn split(self) -> (CpgSender, mpsc::UnboundedReceiver<CpgEvent>) {
        (self.sender, self.events)
    }

    /// The next event; `None` once the service stopped.
    pub async fn recv(&mut self) -> Option<CpgEvent> {
        self.events.recv().await
    }

    /// Leaves the group.
    pub async fn leave(self) -> Result<(), CpgError> {
        self.sender.leave().await
    }
}
