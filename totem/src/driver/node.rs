//! The node task: one loop ([`drive`]) over socket receives, a [`Core`]'s next deadline and
//! a command channel, draining the core's output after every input. A Totem node runs its
//! [`Member`] in it ([`spawn`]); anything else implementing [`Core`] runs the same way.

use std::net::SocketAddr;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::core::{Core, Dest, Flow, NetControl, TransportRequest};
use super::envelope::Envelope;
use super::knet::{KnetNet, KnetStatus, Received};
use super::member::Member;
use super::transport::{Transport, RECV_BUF};
use super::transport_config::TransportConfig;
use super::watch::DeliveryWatch;
use crate::engine::{Event, Guarantee, State};
use crate::node_config::{NodeConfig, TransportKind};
use crate::ratelimit::{self, limited, LogKey, RateLimiter};
use crate::secure::{SecureConfig, SecureNode, SecureStats};

/// Most packets waiting in the driver in front of the engine's own send queue.
pub const BACKLOG_MAX: usize = 1 << 16;

/// Most knet datagrams taken from the receive queue in one turn of the node loop.
const KNET_RX_BATCH: usize = 256;

/// Bytes the node queues for the ring before it holds submitters back: corosync bounds its
/// new-message queue to 4 MiB (`MESSAGE_QUEUE_MAX` = 4 x 1 MiB / net_mtu packets) and
/// answers TRY_AGAIN past it. We keep at most this much in the engine's send queue and this
/// much again in the driver backlog; a `submit` that finds the backlog over it is accepted
/// but answered only once the ring has drained it below, which holds the CPG service, and
/// through it every control session's reader, back.
pub const QUEUE_BYTES: usize = 4 << 20;

/// Why a node could not start or a command failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("envelope: {0}")]
    Envelope(#[from] totem_wire::envelope::EnvelopeError),
    #[error("the node task has stopped")]
    Stopped,
    #[error("driver backlog full ({0} packets)")]
    BacklogFull(usize),
    #[error("knet crypto key {path}: {reason}")]
    KnetKey { path: String, reason: String },
    #[error("keygen secure layer: {0}")]
    Secure(String),
    #[error("knet key change: {0}")]
    Rekey(String),
}

/// Commands to the node task.
#[derive(Debug)]
pub enum Command {
    /// Queue these payloads (in order) for agreed/safe multicast.
    Submit {
        payloads: Vec<Vec<u8>>,
        guarantee: Guarantee,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    /// Leave the ring gracefully and stop.
    Leave { reply: oneshot::Sender<()> },
    /// Report the node's status.
    Status { reply: oneshot::Sender<Status> },
    /// A knet key change step (see `crate::knet::rekey`).
    Rekey {
        step: RekeyStep,
        reply: oneshot::Sender<Result<bool, NodeError>>,
    },
}

/// A step of a run-time knet key change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RekeyStep {
    /// CFG reload delivered: re-read the crypto settings, load a changed key (answers
    /// whether it changed).
    Load,
    /// Our own crypto reconfig message with this phase was delivered.
    Phase(u32),
}

/// Driver-level counters (the engine's own are in [`Status::engine`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DriverStats {
    pub rx_datagrams: u64,
    pub tx_datagrams: u64,
    /// Datagrams from an IP outside the nodelist (block_unlisted_ips).
    pub rx_unlisted: u64,
    /// Datagrams whose envelope failed to open.
    pub rx_envelope_errors: u64,
    /// Datagrams the engine could not decode.
    pub rx_malformed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// Unicasts to a nodeid with no known address.
    pub tx_unroutable: u64,
    /// Payloads refused by the engine as too large.
    pub submit_too_large: u64,
    /// Submits answered late because the queues were over [`QUEUE_BYTES`] (flow control).
    #[serde(default)]
    pub submit_held: u64,
    /// Refusal log lines of the node loop dropped by its rate limiter (the refusals
    /// themselves are all counted above).
    #[serde(default)]
    pub log_suppressed: u64,
}

/// A member of the current ring.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberStatus {
    pub nodeid: u32,
    pub addr: Option<SocketAddr>,
    pub local: bool,
}

/// What `totem-node status` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub nodeid: u32,
    pub generation: String,
    pub transport: String,
    pub local_addr: Option<SocketAddr>,
    pub state: String,
    /// Ring id: representative and seq.
    pub ring_rep: String,
    pub ring_seq: u64,
    pub members: Vec<MemberStatus>,
    /// Packets waiting in the driver backlog and in the engine's send queue.
    pub backlog: usize,
    pub pending: usize,
    pub driver: DriverStats,
    /// Engine counters, by name.
    pub engine: Vec<(String, u64)>,
    /// knet links and counters (transport knet only).
    #[serde(default)]
    pub knet: Option<KnetStatus>,
    /// The secure layer (`keygen { enable: yes }` only; absent: off).
    #[serde(default)]
    pub secure: Option<SecureStatus>,
    /// Control socket counters (filled in by the control server, absent elsewhere).
    #[serde(default)]
    pub control: Option<crate::control::ControlStats>,
    /// Both rings of the redundant ring protocol (`rrp_mode` passive/active; absent: one
    /// ring).
    #[serde(default)]
    pub rrp: Option<crate::rrp::RrpStatus>,
}

/// One group key in a slot of the secure layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySlotStatus {
    /// Representative nodeid of the ring the key was agreed on.
    pub rep: u32,
    /// Sequence of that ring.
    pub seq: u64,
    /// Key epoch inside that ring (0 after the configuration change, +1 per refresh).
    pub epoch: u32,
    /// `active` (send), `next` (received, not yet sent with), `retiring` or `pending`.
    pub role: String,
}

impl KeySlotStatus {
    fn new(e: totem_keygen::KeyEpoch, role: &str) -> Self {
        KeySlotStatus {
            rep: e.ring.rep,
            seq: e.ring.seq,
            epoch: e.epoch,
            role: role.into(),
        }
    }

    /// The key id as the envelope names it: `rep.seq:epoch` (seq in hex, like ring ids).
    pub fn key_id(&self) -> String {
        format!("{}.{:x}:{}", self.rep, self.seq, self.epoch)
    }
}

/// What the secure layer reports: key slots, rekeys and rejection counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecureStatus {
    /// The send key (`None` until the first agreement completes).
    pub active: Option<KeySlotStatus>,
    /// The second receive slot (next or retiring key).
    pub other: Option<KeySlotStatus>,
    /// A key agreed but not yet switched to.
    pub pending: Option<KeySlotStatus>,
    /// First 8 bytes (hex) of the send key's fingerprint: equal on every member.
    pub fingerprint: String,
    /// Second-slot keys dropped before they retired.
    pub superseded: u64,
    /// Seal/open counters, rejections (stale_epoch, unknown_key, auth_failed, replay,
    /// switch_rejections, malformed) and rekeys (agreements, activations, refreshes_started).
    pub stats: SecureStats,
}

pub(super) fn secure_status(s: &SecureNode) -> SecureStatus {
    use crate::secure::slots::Role;
    SecureStatus {
        active: s.active_epoch().map(|e| KeySlotStatus::new(e, "active")),
        other: s.other_slot().map(|(e, r)| {
            KeySlotStatus::new(
                e,
                match r {
                    Role::Next => "next",
                    Role::Retiring(_) => "retiring",
                },
            )
        }),
        pending: s.pending_epoch().map(|e| KeySlotStatus::new(e, "pending")),
        fingerprint: hex::encode(s.active_fingerprint()),
        superseded: s.superseded(),
        stats: s.stats(),
    }
}

/// Handle to a running node task.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    tx: mpsc::Sender<Command>,
}

impl NodeHandle {
    /// Queues payloads for multicast (each becomes one Totem mcast); resolves once queued.
    pub async fn submit(
        &self,
        payloads: Vec<Vec<u8>>,
        guarantee: Guarantee,
    ) -> Result<(), NodeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Submit {
                payloads,
                guarantee,
                reply,
            })
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)?
    }

    /// Runs one knet key change step; `Load` answers whether the key changed.
    pub async fn rekey(&self, step: RekeyStep) -> Result<bool, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Rekey { step, reply })
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)?
    }

    /// The node's status.
    pub async fn status(&self) -> Result<Status, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Status { reply })
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// Leaves the ring (a leave message goes out) and stops the task.
    pub async fn leave(&self) -> Result<(), NodeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Leave { reply })
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }
}

/// What [`spawn`] returns: the handle, the engine's events and the task.
pub type Spawned = (NodeHandle, mpsc::UnboundedReceiver<Event>, JoinHandle<()>);

/// Binds the sockets, starts the engine and spawns the node task. Engine events arrive on
/// the returned receiver. Nothing watches deliveries: key change steps run only when a
/// service asks ([`NodeHandle::rekey`]).
pub fn spawn(cfg: NodeConfig) -> Result<Spawned, NodeError> {
    spawn_watched(cfg, None)
}

/// [`spawn`], with a service's [`DeliveryWatch`] whose steps run at delivery time.
pub fn spawn_watched(
    cfg: NodeConfig,
    watch: Option<Box<dyn DeliveryWatch>>,
) -> Result<Spawned, NodeError> {
    let envelope = Envelope::from_setting(&cfg.crypto)?;
    let secure = secure_layer(&cfg)?;
    let tcfg = TransportConfig::from_node_config(&cfg);
    let net = match cfg.transport {
        TransportKind::Knet => {
            let (seal, key) = knet_seal(&cfg)?;
            Net::Knet(KnetNet::bind(&tcfg, seal, key, Instant::now())?)
        }
        _ => Net::Udp(Transport::bind(&tcfg)?),
    };
    // Ring 1 of the redundant ring protocol: a second udp/udpu transport of its own.
    let ring1 = match TransportConfig::for_ring1(&cfg) {
        Some(t1) => Some(Transport::bind(&t1)?),
        None => None,
    };
    let (tx, rx) = mpsc::channel(256);
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let opts = DriveOptions {
        own_nodeid: Some(cfg.nodeid),
        block_unlisted_ips: cfg.block_unlisted_ips,
    };
    tracing::info!(
        nodeid = cfg.nodeid,
        generation = %cfg.generation,
        transport = %format!("{:?}", cfg.transport).to_lowercase(),
        addr = %crate::logfmt::Opt(&net.local_addr()),
        ring1 = %crate::logfmt::Opt(&ring1.as_ref().and_then(|t| t.local_addr().ok())),
        rrp_mode = cfg.rrp.map_or("none", |r| r.mode.name()),
        secure = secure.is_some(),
        "node started"
    );
    let member = Member::new(cfg, envelope, secure, watch, Instant::now());
    let task = tokio::spawn(drive_rings(net, ring1, opts, member, rx, ev_tx));
    Ok((NodeHandle { tx }, ev_rx, task))
}

/// The secure layer `cfg` asks for (`keygen { enable: yes }`), keyed from its authkey file.
fn secure_layer(cfg: &NodeConfig) -> Result<Option<SecureNode>, NodeError> {
    let Some(s) = &cfg.secure else {
        return Ok(None);
    };
    if cfg.transport == TransportKind::Knet {
        return Err(NodeError::Secure(
            "the secure layer does not run over knet".into(),
        ));
    }
    let authkey = totem_keygen::keyfile::read_authkey(&s.keyfile)
        .map_err(|e| NodeError::Secure(format!("authkey: {e}")))?;
    let sc = SecureConfig {
        authkey,
        rekey_interval: s.rekey_interval,
        rekey_packets: s.rekey_packets,
        retire_grace: s.retire_grace,
    };
    SecureNode::new(cfg.nodeid, cfg.generation, sc, &mut rand_core::OsRng)
        .map(Some)
        .map_err(|e| NodeError::Secure(e.to_string()))
}

/// The knet seal `cfg` asks for: clear, or knet crypto keyed from the key file (corosync
/// passes the whole file, 128..=4096 bytes, to knet).
#[allow(clippy::type_complexity)]
fn knet_seal(
    cfg: &NodeConfig,
) -> Result<
    (
        crate::knet::KnetSeal,
        Option<(totem_wire::envelope::knet::KnetCryptoConfig, Vec<u8>)>,
    ),
    NodeError,
> {
    use totem_wire::envelope::knet::{key_from_file_contents, KnetCrypto};
    let Some(c) = &cfg.knet.crypto else {
        return Ok((crate::knet::KnetSeal::clear(), None));
    };
    let err = |reason: String| NodeError::KnetKey {
        path: c.keyfile.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(&c.keyfile).map_err(|e| err(e.to_string()))?;
    let key = key_from_file_contents(&bytes).map_err(|e| err(e.to_string()))?;
    let crypto = KnetCrypto::new(c.config, key).map_err(|e| err(e.to_string()))?;
    Ok((
        crate::knet::KnetSeal::crypto(crypto),
        Some((c.config, key.to_vec())),
    ))
}

/// The knet crypto settings as the configuration says now: re-read from its file (a CFG
/// reload), else as started.
pub(super) fn knet_crypto_now(
    cfg: &NodeConfig,
) -> Result<Option<crate::node_config::KnetCryptoSetting>, String> {
    match &cfg.source {
        Some(p) => crate::node_config::reread_knet_crypto(p).map_err(|e| e.to_string()),
        None => Ok(cfg.knet.crypto.clone()),
    }
}

/// The sockets of a node: udpu/udp or knet (one value per node: size does not matter).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Net {
    Udp(Transport),
    Knet(KnetNet),
}

impl Net {
    fn udp(&self) -> Option<&Transport> {
        match self {
            Net::Udp(t) => Some(t),
            Net::Knet(_) => None,
        }
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Net::Udp(t) => t.local_addr().ok(),
            Net::Knet(k) => k.local_addr(),
        }
    }

    fn addr_of(&self, nodeid: u32) -> Option<SocketAddr> {
        match self {
            Net::Udp(t) => t.addr_of(nodeid),
            Net::Knet(k) => k.addr_of(nodeid),
        }
    }
}

async fn recv_knet(r: Option<&mut mpsc::Receiver<Vec<Received>>>) -> Option<Vec<Received>> {
    match r {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_opt(
    s: Option<&tokio::net::UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match s {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// What the node loop itself needs to know besides the sockets.
#[derive(Debug, Clone, Copy, Default)]
pub struct DriveOptions {
    /// Our nodeid: a knet unicast to it goes straight back to the core.
    pub own_nodeid: Option<u32>,
    /// Drop udp/udpu datagrams from addresses outside the nodelist (`block_unlisted_ips`).
    pub block_unlisted_ips: bool,
}

/// The node loop's own state: the sockets, what it counts, and its log limiter.
struct Wire {
    net: Net,
    /// Ring 1 of the redundant ring protocol (udp/udpu), if any.
    ring1: Option<Transport>,
    /// Our nodeid: a knet unicast to it goes straight back to the core.
    own: Option<u32>,
    /// Drop udp/udpu datagrams from addresses outside the nodelist.
    block_unlisted: bool,
    stats: DriverStats,
    logs: RateLimiter<LogKey>,
}

impl NetControl for Wire {
    fn local_addr(&self) -> Option<SocketAddr> {
        self.net.local_addr()
    }

    fn addr_of(&self, nodeid: u32) -> Option<SocketAddr> {
        self.net.addr_of(nodeid)
    }

    fn knet_status(&self) -> Option<KnetStatus> {
        match &self.net {
            Net::Knet(k) => Some(k.status()),
            Net::Udp(_) => None,
        }
    }

    fn rekey(
        &mut self,
        step: RekeyStep,
        setting: Option<crate::node_config::KnetCryptoSetting>,
    ) -> Result<bool, String> {
        let Net::Knet(k) = &mut self.net else {
            return Ok(false);
        };
        match step {
            RekeyStep::Load => k.rekey_load(setting),
            RekeyStep::Phase(p) => k.rekey_phase(p).map(|()| true),
        }
    }

    fn stats(&self) -> DriverStats {
        DriverStats {
            log_suppressed: self.logs.suppressed_total(),
            ..self.stats.clone()
        }
    }
}

/// Runs `core` over `net` until a command stops it or the command channel closes: socket
/// receives, the core's and the transport's deadlines and commands in one select, and
/// after every input the core's output drained ([`Core`]'s call rules).
pub async fn drive<C: Core>(
    net: Net,
    opts: DriveOptions,
    core: C,
    commands: mpsc::Receiver<C::Command>,
    events: mpsc::UnboundedSender<C::Event>,
) {
    drive_rings(net, None, opts, core, commands, events).await
}

/// [`drive`] with ring 1 of the redundant ring protocol: its datagrams reach the core with
/// [`Core::handle_ring_datagram`], and what the core sends with `ring: 1` leaves through it.
pub async fn drive_rings<C: Core>(
    net: Net,
    ring1: Option<Transport>,
    opts: DriveOptions,
    mut core: C,
    mut commands: mpsc::Receiver<C::Command>,
    events: mpsc::UnboundedSender<C::Event>,
) {
    let mut w = Wire {
        ring1,
        own: opts.own_nodeid,
        block_unlisted: opts.block_unlisted_ips,
        net,
        stats: DriverStats::default(),
        logs: RateLimiter::default(),
    };
    // The knet receive queue lives outside `Wire` so that the select below can poll it.
    let mut knet_rx = match &mut w.net {
        Net::Knet(k) => {
            let (_, dummy) = mpsc::channel(1);
            Some(std::mem::replace(&mut k.rx, dummy))
        }
        Net::Udp(_) => None,
    };
    let mut buf1 = vec![0u8; RECV_BUF];
    let mut buf2 = vec![0u8; RECV_BUF];
    let (mut buf3, mut buf4) = match &w.ring1 {
        Some(_) => (vec![0u8; RECV_BUF], vec![0u8; RECV_BUF]),
        None => (Vec::new(), Vec::new()),
    };
    loop {
        core.turn();
        w.flush(&mut core, &events).await;
        let deadline = [core.poll_timeout(), w.knet_timeout(), w.logs.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let sleep_at = deadline
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + std::time::Duration::from_secs(3600));
        tokio::select! {
            r = recv_opt(w.net.udp().map(|t| &t.unicast), &mut buf1) => w.on_recv(&mut core, 0, r, &buf1),
            r = recv_opt(w.net.udp().and_then(|t| t.group.as_ref()), &mut buf2) => w.on_recv(&mut core, 0, r, &buf2),
            r = recv_opt(w.ring1.as_ref().map(|t| &t.unicast), &mut buf3) => w.on_recv(&mut core, 1, r, &buf3),
            r = recv_opt(w.ring1.as_ref().and_then(|t| t.group.as_ref()), &mut buf4) => w.on_recv(&mut core, 1, r, &buf4),
            Some(batch) = recv_knet(knet_rx.as_mut()) => {
                // Whatever else has arrived is taken before the next flush: a 64 KiB Totem
                // frame comes as ~46 knet fragments.
                let mut taken = w.on_knet_batch(&mut core, batch);
                while taken < KNET_RX_BATCH {
                    let Some(batch) = knet_rx.as_mut().and_then(|q| q.try_recv().ok()) else {
                        break;
                    };
                    taken += w.on_knet_batch(&mut core, batch);
                }
            }
            _ = tokio::time::sleep_until(sleep_at), if deadline.is_some() => {
                let now = Instant::now();
                if core.poll_timeout().is_some_and(|t| t <= now) {
                    core.handle_timeout(now);
                }
                if let Net::Knet(k) = &mut w.net {
                    if k.layer.poll_timeout().is_some_and(|t| t <= now) {
                        k.layer.handle_timeout(now);
                    }
                }
                ratelimit::expire_and_log(&mut w.logs, now);
            }
            cmd = commands.recv() => match cmd {
                None => {
                    core.close(Instant::now());
                    w.flush(&mut core, &events).await;
                    core.stopped();
                    break;
                }
                Some(cmd) => {
                    if core.handle_command(Instant::now(), cmd, &mut w) == Flow::Stop {
                        w.flush(&mut core, &events).await;
                        core.stopped();
                        break;
                    }
                }
            }
        }
    }
}

impl Wire {
    fn knet_timeout(&self) -> Option<Instant> {
        match &self.net {
            Net::Knet(k) => k.layer.poll_timeout(),
            Net::Udp(_) => None,
        }
    }

    /// The udp/udpu transport of `ring`.
    fn ring(&self, ring: usize) -> Option<&Transport> {
        match ring {
            0 => self.net.udp(),
            1 => self.ring1.as_ref(),
            _ => None,
        }
    }

    fn on_recv<C: Core>(
        &mut self,
        core: &mut C,
        ring: usize,
        r: std::io::Result<(usize, SocketAddr)>,
        buf: &[u8],
    ) {
        let (len, src) = match r {
            Ok(x) => x,
            Err(e) => {
                // udpu: ICMP port unreachable from a down member surfaces here.
                self.stats.rx_errors += 1;
                tracing::debug!(error = %e, "receive error");
                return;
            }
        };
        self.stats.rx_datagrams += 1;
        let dgram = buf.get(..len).unwrap_or_default();
        let Some(transport) = self.ring(ring) else {
            return;
        };
        if self.block_unlisted && !transport.is_listed(src.ip()) {
            self.stats.rx_unlisted += 1;
            limited!(self.logs, Instant::now(), warn, "datagram from an address outside the nodelist dropped", %src, len, ring);
            return;
        }
        core.handle_ring_datagram(Instant::now(), ring, src, dgram);
    }

    /// Takes a batch of knet datagrams; returns how many.
    fn on_knet_batch<C: Core>(&mut self, core: &mut C, batch: Vec<Received>) -> usize {
        let n = batch.len();
        for r in batch {
            self.stats.rx_datagrams += 1;
            let Net::Knet(k) = &mut self.net else {
                continue;
            };
            if let Some(msg) = k.receive(Instant::now(), &r) {
                core.handle_datagram(Instant::now(), r.src, &msg);
            }
        }
        n
    }

    /// Sends what the core has queued, hands its events up and runs its transport requests;
    /// repeated while events come (a core may answer them with datagrams), bounded so that a
    /// self-looping token cannot starve the loop.
    async fn flush<C: Core>(&mut self, core: &mut C, events: &mpsc::UnboundedSender<C::Event>) {
        // Expired timers and loopback work may be due already.
        let now = Instant::now();
        if core.poll_timeout().is_some_and(|t| t <= now) {
            core.handle_timeout(now);
        }
        for _ in 0..64 {
            let looped = match &self.net {
                Net::Knet(_) => self.flush_knet(core).await,
                Net::Udp(_) => {
                    self.flush_udp(core).await;
                    false
                }
            };
            let mut progressed = looped;
            while let Some(e) = core.poll_event() {
                progressed = true;
                let _ = events.send(e);
            }
            while let Some(req) = core.poll_request() {
                match req {
                    TransportRequest::Learn { nodeid, addr, ring } => {
                        let t = match (ring, &mut self.net) {
                            (0, Net::Udp(t)) => Some(t),
                            (1, _) => self.ring1.as_mut(),
                            _ => None,
                        };
                        if let Some(t) = t {
                            t.learn(nodeid, addr);
                        }
                    }
                    TransportRequest::Rekey { step, setting } => {
                        let r = self.rekey(step, setting);
                        core.request_done(step, r);
                    }
                }
            }
            if !progressed {
                return;
            }
        }
    }

    async fn flush_udp<C: Core>(&mut self, core: &mut C) {
        while let Some(t) = core.poll_transmit() {
            let Some(transport) = self.ring(t.ring) else {
                self.stats.tx_unroutable += 1;
                continue;
            };
            let dest = match t.dest {
                Dest::All => {
                    let (ok, err) = transport.send_all(&t.bytes).await;
                    self.stats.tx_datagrams += ok;
                    self.stats.tx_errors += err;
                    continue;
                }
                Dest::Addr(a) => a,
                Dest::Node(id) => match transport.addr_of(id) {
                    Some(a) => a,
                    None => {
                        self.stats.tx_unroutable += 1;
                        limited!(
                            self.logs,
                            Instant::now(),
                            warn,
                            "no address known for nodeid",
                            nodeid = id,
                            ring = t.ring
                        );
                        continue;
                    }
                },
            };
            match transport.send_to(dest, &t.bytes).await {
                Ok(()) => self.stats.tx_datagrams += 1,
                Err(e) => {
                    self.stats.tx_errors += 1;
                    tracing::debug!(dest = %dest, error = %e, "unicast send failed");
                }
            }
        }
    }

    /// Sends the core's datagrams over knet; our own unicasts (a one-node ring passes the
    /// token to itself) go straight back to the core. Returns whether any did.
    async fn flush_knet<C: Core>(&mut self, core: &mut C) -> bool {
        let Net::Knet(k) = &mut self.net else {
            return false;
        };
        let mut own = Vec::new();
        let now = Instant::now();
        while let Some(t) = core.poll_transmit() {
            match t.dest {
                Dest::All => {
                    k.send(now, &t.bytes, None);
                }
                Dest::Node(id) if Some(id) == self.own => own.push(t.bytes),
                Dest::Node(id) => {
                    if k.send(now, &t.bytes, Some(id)) == 0 {
                        self.stats.tx_unroutable += 1;
                        tracing::debug!(nodeid = id, "no knet link up to the token target");
                    }
                }
                Dest::Addr(a) => {
                    self.stats.tx_unroutable += 1;
                    tracing::debug!(dest = %a, "knet sends to nodes, not addresses");
                }
            }
        }
        let (ok, err) = k.flush().await;
        self.stats.tx_datagrams += ok;
        self.stats.tx_errors += err;
        let src = k
            .local_addr()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let looped = !own.is_empty();
        for m in own {
            core.handle_datagram(Instant::now(), src, &m);
        }
        looped
    }
}

/// Logs a configuration change (other events pass silently).
pub(super) fn log_config(e: &Event) {
    if let Event::Config {
        kind,
        ring_id,
        members,
        left,
        joined,
    } = e
    {
        use crate::logfmt::Ids;
        let kind = match kind {
            crate::engine::ConfigKind::Regular => "regular",
            crate::engine::ConfigKind::Transitional => "transitional",
        };
        tracing::info!(
            kind,
            ring = %ring_id,
            members = %Ids(members),
            left = %Ids(left),
            joined = %Ids(joined),
            "configuration change"
        );
    }
}

/// Lower-case name of a membership state.
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Operational => "operational",
        State::Gather => "gather",
        State::Commit => "commit",
        State::Recovery => "recovery",
        State::Left => "left",
    }
}
