//! The node task: one loop over socket receives, the engine's next deadline and a command
//! channel, draining `poll_transmit` and `poll_event` after every input.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use totem_wire::header::HeaderView;
use totem_wire::RingRep;

use super::envelope::Envelope;
use super::knet::{KnetNet, KnetStatus, Received};
use super::transport::{Transport, RECV_BUF};
use super::transport_config::TransportConfig;
use super::watch::DeliveryWatch;
use crate::engine::{Dest, Engine, Event, Guarantee, State};
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

fn secure_status(s: &SecureNode) -> SecureStatus {
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
    let (tx, rx) = mpsc::channel(256);
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(cfg, net, envelope, secure, watch, rx, ev_tx));
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
fn knet_crypto_now(
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
enum Net {
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

struct Node {
    cfg: NodeConfig,
    engine: Engine,
    net: Net,
    envelope: Envelope,
    /// The secure layer, between the engine and the sockets (`None`: corosync-compatible).
    secure: Option<SecureNode>,
    events: mpsc::UnboundedSender<Event>,
    /// The service's watch over deliveries (knet key change steps), if any.
    watch: Option<Box<dyn DeliveryWatch>>,
    backlog: VecDeque<(Vec<u8>, Guarantee)>,
    /// Bytes in `backlog`.
    backlog_bytes: usize,
    /// Sizes of the payloads handed to the engine that may still be in its send queue, oldest
    /// first (the queue is FIFO: entries beyond `engine.pending()` have been sent).
    fed: VecDeque<usize>,
    fed_bytes: usize,
    /// Submits accepted while the backlog was over [`QUEUE_BYTES`], answered once it is not.
    held: VecDeque<oneshot::Sender<Result<(), NodeError>>>,
    stats: DriverStats,
    /// The outcome of a key load the watch asked for at delivery time (before the service
    /// task sees the delivery), for the service's `RekeyStep::Load`.
    rekey_loaded: Option<Result<bool, String>>,
    /// Rate limiter of the per-datagram refusal log lines.
    logs: RateLimiter<LogKey>,
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

async fn run(
    cfg: NodeConfig,
    mut net: Net,
    envelope: Envelope,
    secure: Option<SecureNode>,
    watch: Option<Box<dyn DeliveryWatch>>,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<Event>,
) {
    let engine = Engine::new(cfg.engine.clone(), Instant::now());
    tracing::info!(
        nodeid = cfg.nodeid,
        generation = %cfg.generation,
        transport = %format!("{:?}", cfg.transport).to_lowercase(),
        addr = %crate::logfmt::Opt(&net.local_addr()),
        secure = secure.is_some(),
        "node started"
    );
    // The knet receive queue lives outside `Node` so that the select below can poll it.
    let mut knet_rx = match &mut net {
        Net::Knet(k) => {
            let (_, dummy) = mpsc::channel(1);
            Some(std::mem::replace(&mut k.rx, dummy))
        }
        Net::Udp(_) => None,
    };
    let mut n = Node {
        cfg,
        engine,
        net,
        envelope,
        secure,
        events,
        watch,
        backlog: VecDeque::new(),
        backlog_bytes: 0,
        fed: VecDeque::new(),
        fed_bytes: 0,
        held: VecDeque::new(),
        stats: DriverStats::default(),
        rekey_loaded: None,
        logs: RateLimiter::default(),
    };
    let mut buf1 = vec![0u8; RECV_BUF];
    let mut buf2 = vec![0u8; RECV_BUF];
    loop {
        n.feed_backlog();
        n.release_held();
        n.flush().await;
        let deadline = [
            n.engine.poll_timeout(),
            n.knet_timeout(),
            n.secure.as_ref().and_then(SecureNode::poll_timeout),
            n.logs.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let sleep_at = deadline
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + std::time::Duration::from_secs(3600));
        tokio::select! {
            r = recv_opt(n.net.udp().map(|t| &t.unicast), &mut buf1) => n.on_recv(r, &buf1).await,
            r = recv_opt(n.net.udp().and_then(|t| t.group.as_ref()), &mut buf2) => n.on_recv(r, &buf2).await,
            Some(batch) = recv_knet(knet_rx.as_mut()) => {
                // Whatever else has arrived is taken before the next flush: a 64 KiB Totem
                // frame comes as ~46 knet fragments.
                let mut taken = n.on_knet_batch(batch);
                while taken < KNET_RX_BATCH {
                    let Some(batch) = knet_rx.as_mut().and_then(|q| q.try_recv().ok()) else {
                        break;
                    };
                    taken += n.on_knet_batch(batch);
                }
            }
            _ = tokio::time::sleep_until(sleep_at), if deadline.is_some() => {
                let now = Instant::now();
                if n.engine.poll_timeout().is_some_and(|t| t <= now) {
                    n.engine.handle_timeout(now);
                }
                if let Net::Knet(k) = &mut n.net {
                    if k.layer.poll_timeout().is_some_and(|t| t <= now) {
                        k.layer.handle_timeout(now);
                    }
                }
                if let Some(s) = &mut n.secure {
                    if s.poll_timeout().is_some_and(|t| t <= now) {
                        s.handle_timeout(now, &mut n.engine, &mut rand_core::OsRng);
                    }
                }
                ratelimit::expire_and_log(&mut n.logs, now);
            }
            cmd = commands.recv() => match cmd {
                None => {
                    n.engine.leave(Instant::now());
                    n.flush().await;
                    break;
                }
                Some(Command::Leave { reply }) => {
                    n.engine.leave(Instant::now());
                    n.flush().await;
                    tracing::info!(nodeid = n.cfg.nodeid, "left the ring");
                    let _ = reply.send(());
                    break;
                }
                Some(Command::Status { reply }) => {
                    let _ = reply.send(n.status());
                }
                Some(Command::Rekey { step, reply }) => {
                    let r = match &mut n.net {
                        Net::Knet(k) => match step {
                            RekeyStep::Load => match n.rekey_loaded.take() {
                                Some(r) => r,
                                None => knet_crypto_now(&n.cfg).and_then(|s| k.rekey_load(s)),
                            },
                            RekeyStep::Phase(p) => k.rekey_phase(p).map(|()| true),
                        },
                        Net::Udp(_) => Ok(false),
                    };
                    if let Err(e) = &r {
                        tracing::error!(?step, error = %e, "knet key change step failed");
                    }
                    let _ = reply.send(r.map_err(NodeError::Rekey));
                }
                Some(Command::Submit { payloads, guarantee, reply }) => n.submit(payloads, guarantee, reply),
            }
        }
    }
}

impl Node {
    /// Runs a key change step the delivery watch asked for: a load's outcome is kept for the
    /// service's own `RekeyStep::Load`, a phase's failure is logged.
    fn rekey_at_delivery(&mut self, step: RekeyStep) {
        let Net::Knet(k) = &mut self.net else { return };
        match step {
            RekeyStep::Load => {
                self.rekey_loaded = Some(knet_crypto_now(&self.cfg).and_then(|s| k.rekey_load(s)))
            }
            RekeyStep::Phase(p) => {
                if let Err(e) = k.rekey_phase(p) {
                    tracing::error!(phase = p, error = %e, "knet key activation failed");
                }
            }
        }
    }

    fn knet_timeout(&self) -> Option<Instant> {
        match &self.net {
            Net::Knet(k) => k.layer.poll_timeout(),
            Net::Udp(_) => None,
        }
    }

    /// Takes a batch of knet datagrams; returns how many.
    fn on_knet_batch(&mut self, batch: Vec<Received>) -> usize {
        let n = batch.len();
        for r in batch {
            self.on_knet(r);
        }
        n
    }

    fn on_knet(&mut self, r: Received) {
        self.stats.rx_datagrams += 1;
        let Net::Knet(k) = &mut self.net else { return };
        if let Some(msg) = k.receive(Instant::now(), &r) {
            self.deliver(r.src, msg);
        }
    }

    /// Checks a Totem message's header and hands it to the engine.
    fn deliver(&mut self, src: SocketAddr, msg: Vec<u8>) {
        let len = msg.len();
        match HeaderView::new_checked(&msg, self.cfg.generation) {
            Ok(h) => {
                if let Net::Udp(t) = &mut self.net {
                    t.learn(h.nodeid(), src)
                }
            }
            Err(e) => {
                self.stats.rx_malformed += 1;
                limited!(self.logs, Instant::now(), warn, "not a Totem message in this generation", %src, len, error = %e);
                return;
            }
        }
        let rejected_before = self.engine.stats().rejected;
        let before = self.engine.stats().malformed + rejected_before;
        self.engine.handle_datagram(Instant::now(), &msg);
        if let Some(s) = &mut self.secure {
            s.pump(&mut self.engine);
        }
        let after = self.engine.stats().malformed + self.engine.stats().rejected;
        if after > before {
            self.stats.rx_malformed += after - before;
            // The refusal's reason when the engine refused it, else it did not decode.
            let reason = if self.engine.stats().rejected > rejected_before {
                self.engine
                    .last_refusal()
                    .map_or("inconsistent", |r| r.name())
            } else {
                "malformed"
            };
            limited!(self.logs, Instant::now(), warn, "datagram refused by the engine (malformed or impossible for the ring)", %src, len, reason);
        }
    }

    /// Queues payloads for the ring; answers at once, or once the backlog has drained below
    /// [`QUEUE_BYTES`] (the submitter waits: that is the flow control).
    fn submit(
        &mut self,
        payloads: Vec<Vec<u8>>,
        guarantee: Guarantee,
        reply: oneshot::Sender<Result<(), NodeError>>,
    ) {
        if self.backlog.len() + payloads.len() > BACKLOG_MAX {
            let _ = reply.send(Err(NodeError::BacklogFull(self.backlog.len())));
            return;
        }
        self.backlog_bytes += payloads.iter().map(Vec::len).sum::<usize>();
        self.backlog
            .extend(payloads.into_iter().map(|p| (p, guarantee)));
        self.feed_backlog();
        if self.backlog_bytes > QUEUE_BYTES {
            self.stats.submit_held += 1;
            self.held.push_back(reply);
        } else {
            let _ = reply.send(Ok(()));
        }
    }

    /// Answers the held submits once the backlog is below [`QUEUE_BYTES`].
    fn release_held(&mut self) {
        if self.backlog_bytes <= QUEUE_BYTES {
            for r in self.held.drain(..) {
                let _ = r.send(Ok(()));
            }
        }
    }

    fn feed_backlog(&mut self) {
        // What the engine has sent since: the queue is FIFO, so the oldest entries.
        while self.fed.len() > self.engine.pending() {
            if let Some(b) = self.fed.pop_front() {
                self.fed_bytes -= b;
            }
        }
        // Checked before popping: a refused payload cannot be taken back from `submit`.
        while self.engine.pending() < self.cfg.engine.send_queue_max && self.fed_bytes < QUEUE_BYTES
        {
            let Some((p, g)) = self.backlog.pop_front() else {
                break;
            };
            let len = p.len();
            self.backlog_bytes -= len;
            let r = match &mut self.secure {
                Some(s) => s.submit(&mut self.engine, &p, g),
                None => self.engine.submit(p, g),
            };
            match r {
                Ok(()) => {
                    self.fed_bytes += len;
                    self.fed.push_back(len);
                }
                Err(crate::engine::Backpressure::TooLarge { len, max }) => {
                    self.stats.submit_too_large += 1;
                    tracing::warn!(len, max, "payload larger than the engine accepts, dropped");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "engine refused a payload");
                    break;
                }
            }
        }
    }

    async fn on_recv(&mut self, r: std::io::Result<(usize, SocketAddr)>, buf: &[u8]) {
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
        let Some(transport) = self.net.udp() else {
            return;
        };
        if self.cfg.block_unlisted_ips && !transport.is_listed(src.ip()) {
            self.stats.rx_unlisted += 1;
            limited!(self.logs, Instant::now(), warn, "datagram from an address outside the nodelist dropped", %src, len);
            return;
        }
        let msg = if let Some(s) = &mut self.secure {
            match s.open(dgram) {
                Some(m) => m,
                None => {
                    // Counted by cause in the secure layer's stats; a node with a wrong
                    // authkey would flood the log at warn level.
                    self.stats.rx_envelope_errors += 1;
                    limited!(self.logs, Instant::now(), debug, "secure envelope rejected", %src, len);
                    return;
                }
            }
        } else {
            match self.envelope.open(dgram) {
                Ok(m) => m,
                Err(e) => {
                    self.stats.rx_envelope_errors += 1;
                    limited!(self.logs, Instant::now(), warn, "datagram envelope rejected", %src, len, error = %e);
                    return;
                }
            }
        };
        self.deliver(src, msg);
    }

    async fn flush_udp(&mut self) {
        let Net::Udp(transport) = &self.net else {
            return;
        };
        while let Some(t) = self.engine.poll_transmit() {
            let sealed = match &mut self.secure {
                Some(s) => s.seal(&t.bytes).map_err(|e| e.to_string()),
                None => self.envelope.seal(&t.bytes).map_err(|e| e.to_string()),
            };
            let bytes = match sealed {
                Ok(b) => b,
                Err(e) => {
                    self.stats.tx_errors += 1;
                    tracing::error!(error = %e, "cannot seal datagram");
                    continue;
                }
            };
            match t.dest {
                Dest::All => {
                    let (ok, err) = transport.send_all(&bytes).await;
                    self.stats.tx_datagrams += ok;
                    self.stats.tx_errors += err;
                }
                Dest::Node(id) => match transport.addr_of(id) {
                    Some(a) => match transport.send_to(a, &bytes).await {
                        Ok(()) => self.stats.tx_datagrams += 1,
                        Err(e) => {
                            self.stats.tx_errors += 1;
                            tracing::debug!(dest = %a, error = %e, "unicast send failed");
                        }
                    },
                    None => {
                        self.stats.tx_unroutable += 1;
                        limited!(
                            self.logs,
                            Instant::now(),
                            warn,
                            "no address known for nodeid",
                            nodeid = id
                        );
                    }
                },
            }
        }
    }

    async fn flush_knet(&mut self) {
        // Our own unicasts (a one-node ring passes the token to itself) go straight back;
        // bounded so that a self-looping token cannot starve the loop.
        for _ in 0..64 {
            let Net::Knet(k) = &mut self.net else {
                return;
            };
            let mut own = Vec::new();
            let now = Instant::now();
            while let Some(t) = self.engine.poll_transmit() {
                match t.dest {
                    Dest::All => {
                        k.send(now, &t.bytes, None);
                    }
                    Dest::Node(id) if id == self.cfg.nodeid => own.push(t.bytes),
                    Dest::Node(id) => {
                        if k.send(now, &t.bytes, Some(id)) == 0 {
                            self.stats.tx_unroutable += 1;
                            tracing::debug!(nodeid = id, "no knet link up to the token target");
                        }
                    }
                }
            }
            let (ok, err) = k.flush().await;
            self.stats.tx_datagrams += ok;
            self.stats.tx_errors += err;
            if own.is_empty() {
                return;
            }
            for m in own {
                self.engine.handle_datagram(Instant::now(), &m);
            }
        }
    }

    async fn flush(&mut self) {
        // Expired timers and loopback work may be due already.
        if let Some(t) = self.engine.poll_timeout() {
            if t <= Instant::now() {
                self.engine.handle_timeout(Instant::now());
            }
        }
        if let Net::Knet(_) = self.net {
            self.flush_knet().await;
        } else {
            self.flush_udp().await;
        }
        if self.secure.is_some() {
            self.flush_secure().await;
            return;
        }
        while let Some(e) = self.engine.poll_event() {
            if let (Event::Deliver { payload, .. }, Some(w), Net::Knet(_)) =
                (&e, &mut self.watch, &self.net)
            {
                let mut steps = Vec::new();
                w.on_deliver(payload, &mut steps);
                for step in steps {
                    self.rekey_at_delivery(step);
                }
            }
            log_config(&e);
            let _ = self.events.send(e);
        }
    }

    /// Events through the secure layer, which may answer them with key-agreement messages
    /// (sent when the token comes) and, rarely, with immediate output: repeated, bounded.
    async fn flush_secure(&mut self) {
        for _ in 0..64 {
            let mut progressed = false;
            while let Some(e) = self.engine.poll_event() {
                progressed = true;
                log_config(&e);
                let Some(s) = &mut self.secure else { return };
                let before = s.stats().activations;
                let out = s.on_event(Instant::now(), e, &mut self.engine, &mut rand_core::OsRng);
                if s.stats().activations > before {
                    tracing::info!(
                        key = %crate::logfmt::Opt(&crate::logfmt::epoch(s.active_epoch())),
                        fingerprint = %hex::encode(s.active_fingerprint()),
                        "group key switched to"
                    );
                }
                if let Some(e) = out {
                    let _ = self.events.send(e);
                }
            }
            if !progressed {
                return;
            }
            self.flush_udp().await;
        }
    }

    fn status(&self) -> Status {
        let ring = self.engine.ring_id();
        let ring_rep = match ring.rep {
            RingRep::Node(n) => n.to_string(),
            RingRep::Addr(a) => a
                .ip()
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| format!("{a:?}")),
        };
        let members = self
            .engine
            .members()
            .into_iter()
            .map(|id| MemberStatus {
                nodeid: id,
                addr: self.net.addr_of(id),
                local: id == self.cfg.nodeid,
            })
            .collect();
        let s = self.engine.stats();
        let engine = [
            ("malformed", s.malformed),
            ("rejected", s.rejected),
            ("orf_token_rx", s.orf_token_rx),
            ("orf_token_tx", s.orf_token_tx),
            ("orf_token_dup", s.orf_token_dup),
            ("token_retransmits", s.token_retransmits),
            ("mcast_tx", s.mcast_tx),
            ("mcast_rx", s.mcast_rx),
            ("mcast_retx", s.mcast_retx),
            ("memb_join_tx", s.memb_join_tx),
            ("memb_join_rx", s.memb_join_rx),
            ("memb_merge_detect_tx", s.memb_merge_detect_tx),
            ("memb_commit_token_tx", s.memb_commit_token_tx),
            ("token_hold_cancel_tx", s.token_hold_cancel_tx),
            ("gather_entered", s.gather_entered),
            ("commit_entered", s.commit_entered),
            ("recovery_entered", s.recovery_entered),
            ("operational_entered", s.operational_entered),
            ("token_lost", s.token_lost),
            ("consensus_timeouts", s.consensus_timeouts),
            ("failed_to_receive", s.failed_to_receive),
            ("foreign_dropped", s.foreign_dropped),
            ("delivered", s.delivered),
            ("gather_restarts", s.gather_restarts),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        // What the engine refused as impossible for its ring, by reason.
        .chain(s.refused.iter().map(|(r, n)| (format!("refused_{r}"), n)))
        .collect();
        Status {
            nodeid: self.cfg.nodeid,
            generation: self.cfg.generation.to_string(),
            transport: format!("{:?}", self.cfg.transport).to_lowercase(),
            local_addr: self.net.local_addr(),
            state: state_name(self.engine.state()).to_string(),
            ring_rep,
            ring_seq: ring.seq,
            members,
            backlog: self.backlog.len(),
            pending: self.engine.pending(),
            driver: DriverStats {
                log_suppressed: self.logs.suppressed_total(),
                ..self.stats.clone()
            },
            engine,
            knet: match &self.net {
                Net::Knet(k) => Some(k.status()),
                Net::Udp(_) => None,
            },
            secure: self.secure.as_ref().map(secure_status),
            control: None,
        }
    }
}

/// Logs a configuration change (other events pass silently).
fn log_config(e: &Event) {
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
