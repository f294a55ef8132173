//! The Totem member as a [`Core`]: the engine, the datagram envelope (or our secure layer),
//! the submit backlog with its flow control, and the service's delivery watch. The node
//! loop drives it; it owns no socket.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::sync::oneshot;
use totem_wire::header::HeaderView;
use totem_wire::RingRep;

use super::core::{Core, Dest, Flow, NetControl, Outgoing, TransportRequest};
use super::envelope::Envelope;
use super::node::{
    knet_crypto_now, log_config, secure_status, state_name, Command, DriverStats, MemberStatus,
    NodeError, RekeyStep, Status, BACKLOG_MAX, QUEUE_BYTES,
};
use super::watch::DeliveryWatch;
use crate::engine::{Engine, Event, Guarantee};
use crate::node_config::{NodeConfig, TransportKind};
use crate::ratelimit::{self, limited, LogKey, RateLimiter};
use crate::rrp::{RingSet, Rrp, RrpOut, SendKind, Verdict};
use crate::secure::SecureNode;

/// One Totem node's protocol side.
pub struct Member {
    cfg: NodeConfig,
    engine: Engine,
    envelope: Envelope,
    /// The secure layer, between the engine and the sockets (`None`: corosync-compatible).
    secure: Option<SecureNode>,
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
    /// Counters of what the member refused or held (the loop counts datagrams).
    stats: DriverStats,
    /// Events ready for the layer above (the secure layer answers engine events).
    ready: VecDeque<Event>,
    requests: VecDeque<TransportRequest>,
    /// The outcome of a key load the watch asked for at delivery time (before the service
    /// task sees the delivery), for the service's `RekeyStep::Load`.
    rekey_loaded: Option<Result<bool, String>>,
    /// Rate limiter of the per-datagram refusal log lines.
    logs: RateLimiter<LogKey>,
    /// Answered once the leave message is sent.
    leave_reply: Option<oneshot::Sender<()>>,
    /// The redundant ring layer (`rrp_mode` passive or active), between the engine and the
    /// envelope.
    rrp: Option<Rrp>,
    /// Sealed datagrams ready for the loop (one engine datagram on two rings is two).
    outq: VecDeque<Outgoing>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("nodeid", &self.cfg.nodeid)
            .field("state", &self.engine.state())
            .finish_non_exhaustive()
    }
}

impl Member {
    pub fn new(
        cfg: NodeConfig,
        envelope: Envelope,
        secure: Option<SecureNode>,
        watch: Option<Box<dyn DeliveryWatch>>,
        now: Instant,
    ) -> Self {
        let engine = Engine::new(cfg.engine.clone(), now);
        let rrp = match (&cfg.rrp, &cfg.ring1) {
            (Some(s), Some(r1)) => Some(Rrp::new(
                *s,
                cfg.generation,
                cfg.nodeid,
                [Some(cfg.bind_addr), Some(r1.bind_addr)],
            )),
            _ => None,
        };
        Member {
            cfg,
            engine,
            envelope,
            secure,
            watch,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            fed: VecDeque::new(),
            fed_bytes: 0,
            held: VecDeque::new(),
            stats: DriverStats::default(),
            ready: VecDeque::new(),
            requests: VecDeque::new(),
            rekey_loaded: None,
            logs: RateLimiter::default(),
            leave_reply: None,
            rrp,
            outq: VecDeque::new(),
        }
    }

    /// The redundant ring layer's status (`None`: one ring).
    pub fn rrp_status(&self) -> Option<crate::rrp::RrpStatus> {
        self.rrp.as_ref().map(Rrp::status)
    }

    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    /// Whether the secure layer runs.
    pub fn is_secure(&self) -> bool {
        self.secure.is_some()
    }

    /// Sealing is ours on udp/udpu; knet seals at the link layer.
    fn seals(&self) -> bool {
        self.cfg.transport != TransportKind::Knet
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

    /// Moves the backlog into the engine as far as its send queue allows, and answers the
    /// held submits once the backlog is below [`QUEUE_BYTES`]; the loop calls it every turn.
    pub fn feed(&mut self) {
        self.feed_backlog();
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

    /// Checks a Totem message's header and hands it to the engine (through the redundant
    /// ring layer when it runs).
    fn deliver(&mut self, now: Instant, ring: usize, src: SocketAddr, msg: &[u8]) {
        let len = msg.len();
        match HeaderView::new_checked(msg, self.cfg.generation) {
            Ok(h) => {
                // Learnt only where the header names the datagram's sender (not from a
                // retransmitted mcast: that would send its originator's tokens to whoever
                // retransmitted it).
                if self.seals() && h.msg_type().names_sender() {
                    self.requests.push_back(TransportRequest::Learn {
                        nodeid: h.nodeid(),
                        addr: src,
                        ring,
                    });
                }
            }
            Err(e) => {
                self.stats.rx_malformed += 1;
                limited!(self.logs, now, warn, "not a Totem message in this generation", %src, len, error = %e);
                return;
            }
        }
        if let Some(r) = &mut self.rrp {
            let v = r.on_receive(now, ring, msg);
            self.drain_rrp(now);
            if v == Verdict::Taken {
                return;
            }
        }
        self.hand_to_engine(now, src, msg);
    }

    /// Runs what the redundant ring layer did by itself: ring tests to send, held tokens
    /// for the engine.
    fn drain_rrp(&mut self, now: Instant) {
        while let Some(o) = self.rrp.as_mut().and_then(Rrp::poll_out) {
            match o {
                RrpOut::Deliver { bytes } => {
                    let src = SocketAddr::from(([0, 0, 0, 0], 0));
                    self.hand_to_engine(now, src, &bytes);
                }
                RrpOut::TokenSend {
                    ring,
                    target,
                    bytes,
                } => {
                    if let Some(sealed) = self.seal(&bytes) {
                        self.outq.push_back(Outgoing {
                            dest: Dest::Node(target),
                            bytes: sealed,
                            ring,
                        });
                    }
                }
            }
        }
    }

    /// Seals a Totem message for the wire (knet seals at its link layer: as it is).
    fn seal(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        if !self.seals() {
            return Some(bytes.to_vec());
        }
        let sealed = match &mut self.secure {
            Some(s) => s.seal(bytes).map_err(|e| e.to_string()),
            None => self.envelope.seal(bytes).map_err(|e| e.to_string()),
        };
        match sealed {
            Ok(b) => Some(b),
            Err(e) => {
                self.stats.tx_errors += 1;
                tracing::error!(error = %e, "cannot seal datagram");
                None
            }
        }
    }

    /// Hands an opened Totem message to the engine, counting what it refuses.
    fn hand_to_engine(&mut self, now: Instant, src: SocketAddr, msg: &[u8]) {
        let len = msg.len();
        let rejected_before = self.engine.stats().rejected;
        let before = self.engine.stats().malformed + rejected_before;
        self.engine.handle_datagram(now, msg);
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
            limited!(self.logs, now, warn, "datagram refused by the engine (malformed or impossible for the ring)", %src, len, reason);
        }
    }

    /// Takes the engine's events: through the secure layer when it runs (which may answer
    /// with key-agreement messages), else past the delivery watch.
    fn take_events(&mut self, now: Instant) {
        let knet = !self.seals();
        while let Some(e) = self.engine.poll_event() {
            log_config(&e);
            if let Some(s) = &mut self.secure {
                let before = s.stats().activations;
                let out = s.on_event(now, e, &mut self.engine, &mut rand_core::OsRng);
                if s.stats().activations > before {
                    tracing::info!(
                        key = %crate::logfmt::Opt(&crate::logfmt::epoch(s.active_epoch())),
                        fingerprint = %hex::encode(s.active_fingerprint()),
                        "group key switched to"
                    );
                }
                self.ready.extend(out);
                continue;
            }
            if let (Event::Deliver { payload, .. }, Some(w), Some(r)) =
                (&e, &mut self.watch, &mut self.rrp)
            {
                if w.ring_reenable(payload) {
                    r.reenable(now, None);
                    tracing::info!(
                        "rings re-enabled by a CFG ring re-enable (corosync-cfgtool -r)"
                    );
                }
            }
            if let (Event::Deliver { payload, .. }, Some(w), true) = (&e, &mut self.watch, knet) {
                let mut steps = Vec::new();
                w.on_deliver(payload, &mut steps);
                for step in steps {
                    let setting = match step {
                        RekeyStep::Load => match knet_crypto_now(&self.cfg) {
                            Ok(s) => s,
                            Err(e) => {
                                self.rekey_loaded = Some(Err(e));
                                continue;
                            }
                        },
                        RekeyStep::Phase(_) => None,
                    };
                    self.requests
                        .push_back(TransportRequest::Rekey { step, setting });
                }
            }
            self.ready.push_back(e);
        }
    }

    fn rekey(&mut self, step: RekeyStep, net: &mut dyn NetControl) -> Result<bool, String> {
        if self.cfg.transport != TransportKind::Knet {
            return Ok(false);
        }
        match step {
            RekeyStep::Load => match self.rekey_loaded.take() {
                Some(r) => r,
                None => knet_crypto_now(&self.cfg).and_then(|s| net.rekey(step, s)),
            },
            RekeyStep::Phase(_) => net.rekey(step, None),
        }
    }

    fn status(&self, net: &dyn NetControl) -> Status {
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
                addr: net.addr_of(id),
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
        let l = net.stats();
        let m = &self.stats;
        Status {
            nodeid: self.cfg.nodeid,
            generation: self.cfg.generation.to_string(),
            transport: format!("{:?}", self.cfg.transport).to_lowercase(),
            local_addr: net.local_addr(),
            state: state_name(self.engine.state()).to_string(),
            ring_rep,
            ring_seq: ring.seq,
            members,
            backlog: self.backlog.len(),
            pending: self.engine.pending(),
            driver: DriverStats {
                rx_datagrams: l.rx_datagrams,
                tx_datagrams: l.tx_datagrams,
                rx_unlisted: l.rx_unlisted,
                rx_envelope_errors: m.rx_envelope_errors,
                rx_malformed: m.rx_malformed,
                rx_errors: l.rx_errors,
                tx_errors: l.tx_errors + m.tx_errors,
                tx_unroutable: l.tx_unroutable,
                submit_too_large: m.submit_too_large,
                submit_held: m.submit_held,
                log_suppressed: l.log_suppressed + self.logs.suppressed_total(),
            },
            engine,
            knet: net.knet_status(),
            secure: self.secure.as_ref().map(secure_status),
            control: None,
            rrp: self.rrp_status(),
        }
    }
}

impl Core for Member {
    type Event = Event;
    type Command = Command;

    fn handle_datagram(&mut self, now: Instant, src: SocketAddr, dgram: &[u8]) {
        self.handle_ring_datagram(now, 0, src, dgram);
    }

    fn handle_ring_datagram(&mut self, now: Instant, ring: usize, src: SocketAddr, dgram: &[u8]) {
        if !self.seals() {
            self.deliver(now, ring, src, dgram);
            return;
        }
        let len = dgram.len();
        let msg = if let Some(s) = &mut self.secure {
            match s.open(dgram) {
                Some(m) => m,
                None => {
                    // Counted by cause in the secure layer's stats; a node with a wrong
                    // authkey would flood the log at warn level.
                    self.stats.rx_envelope_errors += 1;
                    limited!(self.logs, now, debug, "secure envelope rejected", %src, len);
                    return;
                }
            }
        } else {
            match self.envelope.open(dgram) {
                Ok(m) => m,
                Err(e) => {
                    self.stats.rx_envelope_errors += 1;
                    limited!(self.logs, now, warn, "datagram envelope rejected", %src, len, error = %e);
                    return;
                }
            }
        };
        self.deliver(now, ring, src, &msg);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Some(r) = &mut self.rrp {
            if r.poll_timeout().is_some_and(|t| t <= now) {
                r.handle_timeout(now);
                self.drain_rrp(now);
            }
        }
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
        if let Some(s) = &mut self.secure {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now, &mut self.engine, &mut rand_core::OsRng);
            }
        }
        if self.logs.poll_timeout().is_some_and(|t| t <= now) {
            ratelimit::expire_and_log(&mut self.logs, now);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.engine.poll_timeout(),
            self.secure.as_ref().and_then(SecureNode::poll_timeout),
            self.logs.poll_timeout(),
            self.rrp.as_ref().and_then(Rrp::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn poll_transmit(&mut self) -> Option<Outgoing> {
        loop {
            if let Some(o) = self.outq.pop_front() {
                return Some(o);
            }
            let t = self.engine.poll_transmit()?;
            let (dest, kind, target) = match t.dest {
                crate::engine::Dest::All => (Dest::All, SendKind::Mcast, None),
                crate::engine::Dest::Node(id) => (Dest::Node(id), SendKind::Token, Some(id)),
            };
            let rings = match &mut self.rrp {
                Some(r) => r.send_rings(kind, target),
                None => RingSet::RING0,
            };
            let Some(bytes) = self.seal(&t.bytes) else {
                continue;
            };
            let rings: Vec<usize> = rings.iter().collect();
            if let Some((&last, rest)) = rings.split_last() {
                for &ring in rest {
                    self.outq.push_back(Outgoing {
                        dest,
                        bytes: bytes.clone(),
                        ring,
                    });
                }
                self.outq.push_back(Outgoing {
                    dest,
                    bytes,
                    ring: last,
                });
            }
        }
    }

    fn poll_event(&mut self) -> Option<Event> {
        if self.ready.is_empty() {
            self.take_events(Instant::now());
        }
        self.ready.pop_front()
    }

    fn poll_request(&mut self) -> Option<TransportRequest> {
        self.requests.pop_front()
    }

    fn request_done(&mut self, step: RekeyStep, outcome: Result<bool, String>) {
        match step {
            RekeyStep::Load => self.rekey_loaded = Some(outcome),
            RekeyStep::Phase(p) => {
                if let Err(e) = outcome {
                    tracing::error!(phase = p, error = %e, "knet key activation failed");
                }
            }
        }
    }

    fn handle_command(&mut self, now: Instant, cmd: Command, net: &mut dyn NetControl) -> Flow {
        match cmd {
            Command::Leave { reply } => {
                self.engine.leave(now);
                self.leave_reply = Some(reply);
                Flow::Stop
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status(net));
                Flow::Continue
            }
            Command::Rekey { step, reply } => {
                let r = self.rekey(step, net);
                if let Err(e) = &r {
                    tracing::error!(?step, error = %e, "knet key change step failed");
                }
                let _ = reply.send(r.map_err(NodeError::Rekey));
                Flow::Continue
            }
            Command::Submit {
                payloads,
                guarantee,
                reply,
            } => {
                self.submit(payloads, guarantee, reply);
                Flow::Continue
            }
        }
    }

    fn turn(&mut self) {
        self.feed();
    }

    fn close(&mut self, now: Instant) {
        self.engine.leave(now);
    }

    fn stopped(&mut self) {
        if let Some(reply) = self.leave_reply.take() {
            tracing::info!(nodeid = self.cfg.nodeid, "left the ring");
            let _ = reply.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use totem_wire::header::{Header, MessageType};
    use totem_wire::ip_address::TotemIpAddress;
    use totem_wire::srp::mcast::Mcast;
    use totem_wire::srp::memb_join::MembJoin;
    use totem_wire::srp_addr::SrpAddr;
    use totem_wire::{Generation, RingId, RingRep, SrpMessage};

    use super::*;
    use crate::node_config::{map, Overrides};

    /// Node 1 of a corosync 1.4 udpu ring with member lists (no nodeids: learnt on the
    /// wire), on two rings.
    fn member() -> Member {
        let text = include_str!("../../tests/data/1.4.10-udpu-rrp-passive-n1.conf");
        let root = crate::corosync_conf::parse(text).unwrap();
        let me: std::net::IpAddr = "198.51.100.11".parse().unwrap();
        let me1: std::net::IpAddr = "203.0.113.11".parse().unwrap();
        let cfg = map(
            &root,
            Overrides {
                generation: Some(Generation::G1),
                nodeid: None,
            },
            &move |ip| ip == me || ip == me1,
        )
        .unwrap();
        let env = Envelope::from_setting(&cfg.crypto).unwrap();
        Member::new(cfg, env, None, None, Instant::now())
    }

    fn addr(n: u8) -> TotemIpAddress {
        TotemIpAddress::v4(u32::from(n), Ipv4Addr::new(198, 51, 100, 10 + n))
    }

    fn learnt(m: &mut Member) -> Vec<(u32, SocketAddr, usize)> {
        std::iter::from_fn(|| m.poll_request())
            .filter_map(|r| match r {
                TransportRequest::Learn { nodeid, addr, ring } => Some((nodeid, addr, ring)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn addresses_are_learnt_from_what_the_sender_built_not_from_retransmitted_mcasts() {
        let mut m = member();
        let g = Generation::G1;
        let now = Instant::now();
        let from3: SocketAddr = "198.51.100.13:5405".parse().unwrap();
        // Node 3 retransmits node 2's mcast: its header still names node 2.
        let mcast = SrpMessage::Mcast(Mcast {
            header: Header::new(g, MessageType::Mcast, 2),
            system_from: SrpAddr::single(addr(2)),
            seq: 5,
            this_seqno: 1,
            ring_id: RingId {
                rep: RingRep::Addr(addr(1)),
                seq: 4,
            },
            node_id: 0,
            guarantee: 0,
            payload: vec![0; 8],
        })
        .to_vec();
        let sealed = m.envelope.seal(&mcast).unwrap();
        m.handle_ring_datagram(now, 0, from3, &sealed);
        assert_eq!(learnt(&mut m), [], "node 2 is not at node 3's address");
        // A join is built by its sender: node 3 is at its source address, on the ring it
        // came on.
        let join = SrpMessage::MembJoin(MembJoin {
            header: Header::new(g, MessageType::MembJoin, 3),
            system_from: SrpAddr::single(addr(3)),
            ring_seq: 4,
            proc_list: vec![SrpAddr::single(addr(3))],
            failed_list: vec![],
        })
        .to_vec();
        let sealed = m.envelope.seal(&join).unwrap();
        let from3_ring1: SocketAddr = "203.0.113.13:5405".parse().unwrap();
        m.handle_ring_datagram(now, 1, from3_ring1, &sealed);
        assert_eq!(learnt(&mut m), [(3, from3_ring1, 1)]);
    }
}
