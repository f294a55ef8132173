//! `totem-gateway run`: the upgrade gateway's sockets around its sans-IO core.
//!
//! The ring side is one UDP socket on this node's ring 0 address, where the corosync 2
//! daemons send (udpu). The local side is one socket per other node on that node's *shadow*
//! address: the local corosync 3 lists every other node at its shadow address, so what it
//! sends to node k arrives on k's shadow socket, and what node k sends it leaves from there.
//! Over udpu each datagram is one Totem message; over knet the shadow socket of node k is
//! knet host k (totem's [`KnetLayer`]: heartbeats, the daemon's PMTU probes, fragments,
//! knet crypto with the cluster authkey). Each Totem message goes through [`Gateway`] once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use totem::driver::knet::target_nodeid;
use totem::knet::KnetLayer;
use totem_wire::envelope::{AuthKey, SealSettings, Sealer, RANDOM_LEN};

use crate::conf::{DaemonTransport, GatewayConf};
use crate::upgrade::{Direction, Gateway, GatewayConfig, Stats};
use totem_wire::retarget::Payload;
use totem_wire::Generation;

/// Where a datagram came in.
#[derive(Debug, Clone, Copy)]
enum Side {
    /// Ring 0 or, on a redundant 2.x ring (RRP), ring 1.
    Ring(u8),
    /// The shadow socket of node k.
    Shadow(u32),
}

/// Why the driver could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Gateway(#[from] crate::upgrade::GatewayError),
    #[error("{0}")]
    Conf(#[from] crate::conf::ConfError),
    #[error("ring crypto: {0}")]
    Key(String),
    #[error("knet crypto towards the local daemon: {0}")]
    KnetKey(String),
}

/// The local side of one other node: its shadow socket and, over knet, the knet host the
/// gateway plays for it.
struct Shadow {
    sock: Arc<UdpSocket>,
    knet: Option<KnetLayer>,
}

/// A node met speaking knet on the ring: our knet host towards it.
struct Direct {
    layer: KnetLayer,
    since: Instant,
    was_up: bool,
}

impl Direct {
    /// Its link is up: the local daemon's messages to it go over knet.
    fn up(&self, k: u32) -> bool {
        u16::try_from(k).is_ok_and(|h| self.layer.reachable(h))
    }
    /// Still worth keeping: up, or given 10 s to come up.
    fn keep(&mut self, k: u32, now: Instant) -> bool {
        let up = self.up(k);
        self.was_up |= up;
        up || (!self.was_up && now.saturating_duration_since(self.since) < Duration::from_secs(10))
    }
}

/// A ring datagram that did not open as G2, tried as knet from node `k`: `None` if it is
/// not knet either (the caller counts the refusal); `Some(message)` if it is, with the
/// Totem message it completed, if any.
#[allow(clippy::too_many_arguments)]
fn direct_rx(
    direct: &mut BTreeMap<u32, Direct>,
    conf: &GatewayConf,
    k: u32,
    src: SocketAddr,
    bytes: &[u8],
    final_knet: &(totem_wire::envelope::knet::KnetCryptoConfig, Duration),
    key: &[u8],
    rings: &[(u8, Arc<UdpSocket>)],
    ds: &mut DriverStats,
    tx: &mut Outbox,
) -> Option<Option<Vec<u8>>> {
    let now = Instant::now();
    let fresh = !direct.contains_key(&k);
    if fresh {
        let peer = conf.nodes.iter().find(|n| n.nodeid == k)?;
        let layer = crate::knet_hosts::towards_direct_peer(
            conf,
            peer,
            &final_knet.0,
            final_knet.1,
            key,
            now,
        )
        .ok()?;
        direct.insert(
            k,
            Direct {
                layer,
                since: now,
                was_up: false,
            },
        );
    }
    let d = direct.get_mut(&k)?;
    let before = d.layer.stats();
    let m = d.layer.handle_datagram(now, src, bytes);
    if !crate::knet_hosts::accepted(&d.layer, &before) {
        if fresh {
            direct.remove(&k);
        }
        return None;
    }
    if fresh {
        tracing::info!(
            peer = k,
            "node speaks knet: it runs the final corosync 3 configuration; its messages go to the local daemon as they are"
        );
    }
    flush_direct(&mut d.layer, rings, ds, tx);
    ds.direct_rx += 1;
    Some(m.map(|m| m.payload))
}

/// Sends what our knet host towards a direct peer has queued, each frame from the ring
/// socket of its link.
fn flush_direct(
    layer: &mut KnetLayer,
    rings: &[(u8, Arc<UdpSocket>)],
    ds: &mut DriverStats,
    tx: &mut Outbox,
) {
    while let Some(t) = layer.poll_transmit() {
        let Some((_, sock)) = rings.iter().find(|(r, _)| *r == t.link) else {
            continue;
        };
        if !send_now(sock, &t.bytes, t.dest, ds, tx) {
            layer.tx_error(t.dest, t.link);
        }
    }
}

/// One G3 Totem message to the local daemon from node k's shadow socket.
fn to_daemon(
    out: &mut Shadow,
    v: &[u8],
    daemon: SocketAddr,
    ds: &mut DriverStats,
    tx: &mut Outbox,
) {
    if let Some(kn) = out.knet.as_mut() {
        // A token names the local daemon; the rest is broadcast.
        let dest = match target_nodeid(v) {
            Some(0) | None => None,
            Some(t) => u16::try_from(t).ok(),
        };
        kn.send(Instant::now(), v, dest);
        flush(out, ds, tx);
    } else {
        send_now(&out.sock, v, daemon, ds, tx);
    }
}

/// Sends what a knet host has queued (pongs, pings, data frames).
fn flush(s: &mut Shadow, ds: &mut DriverStats, tx: &mut Outbox) {
    let Some(k) = s.knet.as_mut() else { return };
    while let Some(t) = k.poll_transmit() {
        if !send_now(&s.sock, &t.bytes, t.dest, ds, tx) {
            k.tx_error(t.dest, t.link);
        }
    }
}

/// Counters the driver keeps beside the core's.
#[derive(Debug, Clone, Default)]
pub struct DriverStats {
    /// Ring datagrams from an address that is no node's ring 0 address.
    pub unknown_source: u64,
    /// Shadow datagrams not from the local daemon.
    pub not_daemon: u64,
    /// Send errors.
    pub send_errors: u64,
    /// Datagrams dropped because the socket's send buffer was full (never waited for).
    pub send_dropped: u64,
    /// Datagrams sent, and the `sendmmsg` calls they took.
    pub datagrams_sent: u64,
    pub send_calls: u64,
    /// knet datagrams from direct peers (on the final configuration) taken, and Totem
    /// messages sent to them.
    pub direct_rx: u64,
    pub direct_tx: u64,
    /// Ring datagrams whose envelope did not open, or of another generation.
    pub envelope_refused: u64,
    /// RRP ring test messages passed on to the successor, and ones that ended here (back
    /// at their sender, unparsable, or no successor known yet).
    pub ring_tests: u64,
    pub ring_tests_ended: u64,
    /// Time spent in the core per datagram, summed (latency added by translation).
    pub busy: Duration,
    pub datagrams: u64,
}

async fn bind(addr: SocketAddr) -> Result<Arc<UdpSocket>, RunError> {
    UdpSocket::bind(addr)
        .await
        .map(Arc::new)
        .map_err(|source| RunError::Bind { addr, source })
}

/// Runs until `stop` resolves; returns the counters.
pub async fn run(
    conf: GatewayConf,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(Stats, DriverStats), RunError> {
    let mut gw = Gateway::new(GatewayConfig {
        book: conf.book()?,
        local: conf.nodeid,
        ring: Generation::G2,
        daemon: Generation::G3,
        payload: Payload::Totempg,
    })?;
    let local = conf.local().clone();
    // One socket per 2.x ring: ring 0, and ring 1 on a redundant ring. The gateway sends
    // every datagram on each ring (as RRP active mode does; passive receivers take the
    // copies, Totem drops duplicates) and takes what arrives on either.
    let mut rings: Vec<(u8, Arc<UdpSocket>)> =
        vec![(0, bind(SocketAddr::new(local.ring0, conf.ring_port)).await?)];
    if let Some(r1) = local.ring1 {
        rings.push((1, bind(SocketAddr::new(r1, conf.ring1_port)).await?));
    }
    // corosync 2.3+ puts a totemcrypto header on every datagram, crypto or not; with a
    // cipher every datagram we send gets a fresh salt.
    let key = match &conf.keyfile {
        Some(k) => AuthKey::from_file(k)
            .map_err(|e| RunError::Key(e.to_string()))?
            .as_bytes()
            .to_vec(),
        None => Vec::new(),
    };
    let mut shadows: BTreeMap<u32, Shadow> = BTreeMap::new();
    for n in conf.nodes.iter().filter(|n| n.nodeid != conf.nodeid) {
        let knet = match &conf.daemon_transport {
            DaemonTransport::Udpu => None,
            DaemonTransport::Knet { crypto, token } => Some(
                crate::knet_hosts::towards_daemon(
                    &conf,
                    n.nodeid,
                    crypto,
                    *token,
                    &key,
                    Instant::now(),
                )
                .map_err(|e| RunError::KnetKey(e.to_string()))?,
            ),
        };
        shadows.insert(
            n.nodeid,
            Shadow {
                sock: bind(SocketAddr::new(n.shadow, conf.daemon_port)).await?,
                knet,
            },
        );
    }
    let mut tasks = Vec::new();
    // One task reads every socket (no hop through a channel): the next datagram from any.
    let socks: Vec<(Side, Arc<UdpSocket>)> = rings
        .iter()
        .map(|(r, s)| (Side::Ring(*r), s.clone()))
        .chain(
            shadows
                .iter()
                .map(|(k, s)| (Side::Shadow(*k), s.sock.clone())),
        )
        .collect();
    let mut rxbuf = vec![0u8; 65_536];
    let mut next_sock = 0usize;
    tracing::info!(
        nodeid = conf.nodeid,
        ring = %SocketAddr::new(local.ring0, conf.ring_port),
        rings = rings.len(),
        daemon = %conf.daemon(),
        peers = shadows.len(),
        "gateway running"
    );
    let mut ds = DriverStats::default();
    let page = Arc::new(std::sync::Mutex::new(String::new()));
    if conf.metrics_port != 0 {
        let addr = SocketAddr::from(([127, 0, 0, 1], conf.metrics_port));
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| RunError::Bind { addr, source })?;
        tasks.push(tokio::spawn(serve_metrics(l, page.clone())));
    }
    let mut refresh = tokio::time::interval(Duration::from_millis(250));
    let sealer = Sealer::new(SealSettings::TotemCrypto(conf.ring_crypto()?), &key)
        .map_err(|e| RunError::Key(e.to_string()))?;
    let daemon = conf.daemon();
    let mut report = tokio::time::interval(Duration::from_secs(10));
    // Refusal reasons already logged in this report interval: one line per reason, the
    // counts go to the periodic line.
    let mut logged: Vec<crate::upgrade::Refusal> = Vec::new();
    let mut logged_env = false;
    tokio::pin!(stop);
    let far = Duration::from_secs(3600);
    let mut heard: BTreeMap<u32, Instant> = BTreeMap::new();
    // The node the local daemon passes the token to (where RRP ring tests go next).
    let mut successor: Option<u32> = None;
    // Nodes already on the final configuration, which speak knet to our ring sockets.
    let mut direct: BTreeMap<u32, Direct> = BTreeMap::new();
    let mut tx = Outbox::default();
    let final_knet = conf.final_knet()?;
    loop {
        // The knet hosts' next heartbeat or timeout.
        let due = shadows
            .values()
            .filter_map(|s| s.knet.as_ref()?.poll_timeout())
            .chain(direct.values().filter_map(|d| d.layer.poll_timeout()))
            .min()
            .unwrap_or_else(|| Instant::now() + far);
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {
                let now = Instant::now();
                for s in shadows.values_mut() {
                    if let Some(k) = s.knet.as_mut() {
                        k.handle_timeout(now);
                    }
                    flush(s, &mut ds, &mut tx);
                }
                for d in direct.values_mut() {
                    d.layer.handle_timeout(now);
                    flush_direct(&mut d.layer, &rings, &mut ds, &mut tx);
                }
                tx.flush(&mut ds);
                // A direct peer that went away (or never came up) is forgotten: no knet
                // pings towards an address that may speak G2 again.
                direct.retain(|k, d| {
                    let keep = d.keep(*k, now);
                    if !keep {
                        tracing::info!(peer = *k, "node no longer speaks knet to us");
                    }
                    keep
                });
            }
            _ = refresh.tick() => {
                let now = Instant::now();
                let peers: Vec<crate::metrics::PeerStatus> = shadows
                    .iter()
                    .map(|(k, s)| crate::metrics::PeerStatus {
                        nodeid: *k,
                        last_heard: heard.get(k).map(|t| now.saturating_duration_since(*t)),
                        direct: direct.get(k).is_some_and(|d| d.up(*k)),
                        generation: gw.peers().get(k).map(|g| match g {
                            crate::upgrade::PeerKind::Corosync2 => 2,
                            crate::upgrade::PeerKind::Corosync3 => 3,
                        }),
                        knet: s.knet.as_ref().map(|kn| {
                            (
                                u16::try_from(conf.nodeid).is_ok_and(|h| kn.reachable(h)),
                                kn.stats(),
                            )
                        }),
                    })
                    .collect();
                let text = crate::metrics::render(conf.nodeid, gw.stats(), &ds, &peers);
                if let Ok(mut p) = page.lock() {
                    *p = text;
                }
            }
            _ = report.tick() => {
                logged.clear();
                logged_env = false;
                let s = gw.stats();
                tracing::info!(
                    to_ring = s.translated_total(Direction::ToRing),
                    to_local = s.translated_total(Direction::ToLocal),
                    refused = s.refused_total(),
                    unknown_source = ds.unknown_source,
                    "gateway counters"
                );
            }
            r = recv_any(&socks, &mut rxbuf, &mut next_sock) => {
                // The datagram that woke us, then whatever else is waiting (a burst at
                // most), each handled in turn; what they produce is sent together.
                let mut first = Some(r);
                for _ in 0..BURST {
                let (side, src, n) = match first.take() {
                    Some(Ok(x)) => x,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "recv");
                        continue;
                    }
                    None => match try_recv_any(&socks, &mut rxbuf, &mut next_sock) {
                        Some(x) => x,
                        None => break,
                    },
                };
                let bytes = &rxbuf[..n];
                let t0 = Instant::now();
                ds.datagrams += 1;
                match side {
                    Side::Ring(r) => {
                        let Some(k) = conf.by_addr_on(r, src.ip()).map(|n| n.nodeid) else {
                            ds.unknown_source += 1;
                            continue;
                        };
                        heard.insert(k, t0);
                        let Some(out) = shadows.get_mut(&k) else { continue };
                        let body = match sealer.open(bytes) {
                            Ok(o) => o.plaintext,
                            Err(e) => {
                                // Not the 2.x envelope: a node restarted on the final
                                // configuration speaks knet here. Its Totem messages (G3)
                                // go to the local daemon unchanged.
                                match direct_rx(&mut direct, &conf, k, src, bytes, &final_knet, &key, &rings, &mut ds, &mut tx) {
                                    Some(Some(m)) => to_daemon(out, &m, daemon, &mut ds, &mut tx),
                                    Some(None) => {}
                                    None => {
                                        ds.envelope_refused += 1;
                                        note_text(&mut logged_env, e.to_string(), k);
                                    }
                                }
                                continue;
                            }
                        };
                        if is_ring_test(&body) {
                            // RRP's ring test goes around the ring like the token: pass it
                            // to our successor on the ring it came on (the gateway itself
                            // never marks a ring faulty, so it never starts one).
                            match ring_test_next(&body, conf.nodeid, successor) {
                                Some(next) => {
                                    ds.ring_tests += 1;
                                    let Some(n) = conf.nodes.iter().find(|n| n.nodeid == next) else { continue };
                                    to_ring(&rings, &sealer, n, &conf, &body, Some(r), &mut ds, &mut tx);
                                }
                                None => ds.ring_tests_ended += 1,
                            }
                            continue;
                        }
                        match gw.from_ring(&body, k) {
                            Ok(v) => {
                                ds.busy += t0.elapsed();
                                to_daemon(out, &v, daemon, &mut ds, &mut tx);
                            }
                            Err(e) => note(&mut logged, e, k, "ring"),
                        }
                    }
                    Side::Shadow(k) => {
                        if src.ip() != daemon.ip() {
                            ds.not_daemon += 1;
                            continue;
                        }
                        let Some(n) = conf.nodes.iter().find(|n| n.nodeid == k) else { continue };
                        let Some(sh) = shadows.get_mut(&k) else { continue };
                        let msg = match sh.knet.as_mut() {
                            Some(kn) => {
                                let d = kn.handle_datagram(Instant::now(), src, bytes);
                                flush(sh, &mut ds, &mut tx);
                                match d {
                                    Some(d) => std::borrow::Cow::Owned(d.payload),
                                    None => continue,
                                }
                            }
                            None => std::borrow::Cow::Borrowed(bytes),
                        };
                        if let Some(d) = direct.get_mut(&k).filter(|d| d.up(k)) {
                            // Node k runs the final configuration: knet, G3 as it is.
                            let dest = match target_nodeid(&msg) {
                                Some(0) | None => None,
                                Some(_) => u16::try_from(k).ok(),
                            };
                            d.layer.send(Instant::now(), &msg, dest);
                            ds.direct_tx += 1;
                            flush_direct(&mut d.layer, &rings, &mut ds, &mut tx);
                            continue;
                        }
                        match gw.from_local(&msg, Some(k)) {
                            Ok(v) => {
                                ds.busy += t0.elapsed();
                                // The daemon's token goes to its successor in the ring.
                                if v.first() == Some(&(totem_wire::MessageType::OrfToken as u8)) {
                                    successor = Some(k);
                                }
                                let n = n.clone();
                                to_ring(&rings, &sealer, &n, &conf, &v, None, &mut ds, &mut tx);
                            }
                            Err(e) => note(&mut logged, e, k, "local"),
                        }
                    }
                }
                }
                tx.flush(&mut ds);
            }
        }
    }
    for t in tasks {
        t.abort();
    }
    Ok((gw.stats().clone(), ds))
}

/// Sends without waiting: a full socket buffer (a link whose neighbour does not answer ARP
/// fills it within a second) drops the datagram, counted, instead of stalling every other
/// socket behind it. Totem retransmits what is lost.
fn send_now(
    sock: &Arc<UdpSocket>,
    bytes: &[u8],
    to: SocketAddr,
    _ds: &mut DriverStats,
    tx: &mut Outbox,
) -> bool {
    tx.push(sock, to, bytes.to_vec());
    true
}

/// Datagrams to send once the burst being read is handled: one `sendmmsg` per socket for
/// all of them (fewer system calls and wake-ups of the receivers than one `sendto` each).
#[derive(Debug, Default)]
pub struct Outbox {
    out: Vec<(Arc<UdpSocket>, SocketAddr, Vec<u8>)>,
}

impl Outbox {
    fn push(&mut self, sock: &Arc<UdpSocket>, to: SocketAddr, bytes: Vec<u8>) {
        self.out.push((sock.clone(), to, bytes));
    }

    /// Sends everything queued, socket by socket in queue order, never waiting: what a full
    /// send buffer refuses is dropped and counted (Totem retransmits it).
    fn flush(&mut self, ds: &mut DriverStats) {
        if self.out.is_empty() {
            return;
        }
        // Stable: each socket's datagrams keep their order.
        self.out.sort_by_key(|(s, _, _)| Arc::as_ptr(s) as usize);
        let mut at = 0;
        while at < self.out.len() {
            let sock = self.out[at].0.clone();
            let end = self.out[at..]
                .iter()
                .position(|(s, _, _)| !Arc::ptr_eq(s, &sock))
                .map_or(self.out.len(), |n| at + n);
            let pkts: Vec<(SocketAddr, &[u8])> = self.out[at..end]
                .iter()
                .map(|(_, a, b)| (*a, b.as_slice()))
                .collect();
            let (sent, dropped, errors) = totem::driver::mmsg::try_send_all(&sock, &pkts);
            ds.datagrams_sent += sent;
            ds.send_dropped += dropped;
            ds.send_errors += errors;
            ds.send_calls += 1;
            at = end;
        }
        self.out.clear();
    }
}

/// Whether a G2 datagram is an RRP ring test (types 6 and 7).
fn is_ring_test(body: &[u8]) -> bool {
    use totem_wire::MessageType;
    matches!(
        body.first().copied(),
        Some(t) if t == MessageType::RingTestActive as u8 || t == MessageType::RingTestActivate as u8
    )
}

/// Where a ring test goes next: to the successor, unless it came back to the node that
/// started it (us) or it does not parse.
fn ring_test_next(body: &[u8], me: u32, successor: Option<u32>) -> Option<u32> {
    let t = totem_wire::srp::ring_test::RingTest::parse(body, Generation::G2).ok()?;
    if u32::try_from(t.nodeid_activator).ok() == Some(me) {
        return None;
    }
    successor
}

/// Seals `v` and sends it to node `n` on ring `only`, or on every ring we and it have.
#[allow(clippy::too_many_arguments)]
fn to_ring(
    rings: &[(u8, Arc<UdpSocket>)],
    sealer: &Sealer,
    n: &crate::conf::Node,
    conf: &GatewayConf,
    v: &[u8],
    only: Option<u8>,
    ds: &mut DriverStats,
    tx: &mut Outbox,
) {
    for (r, sock) in rings {
        if only.is_some_and(|o| o != *r) {
            continue;
        }
        let (Some(ip), port) = (
            n.ring_addr(*r),
            if *r == 0 {
                conf.ring_port
            } else {
                conf.ring1_port
            },
        ) else {
            continue;
        };
        let mut random = [0u8; RANDOM_LEN];
        if sealer.needs_random() {
            use rand_core::RngCore;
            rand_core::OsRng.fill_bytes(&mut random);
        }
        let Ok(sealed) = sealer.seal(v, &random) else {
            ds.send_errors += 1;
            continue;
        };
        send_now(sock, &sealed, SocketAddr::new(ip, port), ds, tx);
    }
}

/// Logs the first refusal of each reason per report interval.
fn note(
    logged: &mut Vec<crate::upgrade::Refusal>,
    e: crate::upgrade::GatewayError,
    peer: u32,
    side: &str,
) {
    let r = e.refusal();
    if !logged.contains(&r) {
        logged.push(r);
        tracing::warn!(reason = %r, peer, side, detail = %e, "datagram refused (further ones this interval only counted)");
    }
}

/// Logs the first envelope refusal per report interval.
fn note_text(logged: &mut bool, why: String, peer: u32) {
    if !*logged {
        *logged = true;
        tracing::warn!(peer, reason = %why, "ring datagram refused (further ones this interval only counted)");
    }
}

/// Answers every HTTP request on `l` with the current metrics page.
pub(crate) async fn serve_metrics(l: tokio::net::TcpListener, page: Arc<std::sync::Mutex<String>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut s, _)) = l.accept().await else {
            continue;
        };
        let page = page.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            // One request per connection; the request itself is not needed.
            let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
            let body = page.lock().map(|p| p.clone()).unwrap_or_default();
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(body.as_bytes()).await;
        });
    }
}

/// Most datagrams read in one burst before what they produced is sent.
const BURST: usize = 64;

/// A datagram already waiting on any of `socks` (round-robin from `*next`), without waiting.
fn try_recv_any(
    socks: &[(Side, Arc<UdpSocket>)],
    buf: &mut [u8],
    next: &mut usize,
) -> Option<(Side, SocketAddr, usize)> {
    let n = socks.len();
    for k in 0..n {
        let i = (*next + k) % n;
        match socks[i].1.try_recv_from(buf) {
            Ok((len, src)) => {
                *next = (i + 1) % n;
                return Some((socks[i].0, src, len));
            }
            Err(_) => continue,
        }
    }
    None
}

/// The next datagram on any of `socks`, polling them round-robin from `*next` so that no
/// socket starves the others.
async fn recv_any(
    socks: &[(Side, Arc<UdpSocket>)],
    buf: &mut [u8],
    next: &mut usize,
) -> std::io::Result<(Side, SocketAddr, usize)> {
    std::future::poll_fn(|cx| {
        let n = socks.len();
        for k in 0..n {
            let i = (*next + k) % n;
            let mut rb = tokio::io::ReadBuf::new(buf);
            match socks[i].1.poll_recv_from(cx, &mut rb) {
                std::task::Poll::Ready(Ok(src)) => {
                    *next = (i + 1) % n;
                    return std::task::Poll::Ready(Ok((socks[i].0, src, rb.filled().len())));
                }
                std::task::Poll::Ready(Err(e)) => {
                    *next = (i + 1) % n;
                    return std::task::Poll::Ready(Err(e));
                }
                std::task::Poll::Pending => {}
            }
        }
        std::task::Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use totem::knet::{KnetConfig, KnetSeal, LinkParams, LinkPolicy};
    use totem_wire::envelope::knet::KnetCryptoConfig;

    /// The knet host the gateway plays for node 1 and a corosync-3-like knet handle of node 2
    /// (the local daemon) on the same crypto: the link comes up both ways and a Totem message
    /// crosses whole, fragmented or not; a daemon on another key is refused and counted.
    #[test]
    fn the_knet_host_of_a_peer_talks_to_the_local_daemon() {
        let conf = GatewayConf::parse(
            "gateway {\n nodeid: 2\n ring_port: 5405\n daemon_addr: 127.1.0.2\n daemon_port: 5405\n daemon_transport: knet\n daemon_crypto_cipher: aes256\n daemon_crypto_hash: sha256\n keyfile: /k\n}\nnodelist {\n node {\n  nodeid: 1\n  ring0_addr: 192.0.2.11\n  shadow_addr: 127.1.0.1\n }\n node {\n  nodeid: 2\n  ring0_addr: 192.0.2.12\n  shadow_addr: 127.1.0.2\n }\n}\n",
        )
        .unwrap();
        let crypto = KnetCryptoConfig::from_names("nss", "aes256", "sha256").unwrap();
        let key: Vec<u8> = (0..256u32).map(|i| (i * 7) as u8).collect();
        let t0 = Instant::now();
        let mut host1 =
            crate::knet_hosts::towards_daemon(&conf, 1, &crypto, Duration::from_secs(1), &key, t0)
                .unwrap();
        // The daemon: knet host 2 with node 1 at its shadow address.
        let daemon_side = |key: &[u8]| {
            let k = totem_wire::envelope::knet::key_from_file_contents(key).unwrap();
            KnetLayer::new(
                KnetConfig {
                    host_id: 2,
                    policy: LinkPolicy::Passive,
                    hosts: vec![(
                        1,
                        vec![(
                            0,
                            "127.1.0.1:5405".parse().unwrap(),
                            LinkParams::corosync_defaults(Duration::from_secs(1)),
                        )],
                    )],
                    data_mtu: 1000,
                },
                KnetSeal::crypto(totem_wire::envelope::knet::KnetCrypto::new(crypto, k).unwrap()),
                t0,
            )
        };
        let mut daemon = daemon_side(&key);
        let shadow1: SocketAddr = "127.1.0.1:5405".parse().unwrap();
        let mut got_daemon = Vec::new();
        let mut got_host = Vec::new();
        let mut now = t0;
        for step in 0..400 {
            now += Duration::from_millis(10);
            host1.handle_timeout(now);
            daemon.handle_timeout(now);
            if step == 200 {
                daemon.send(now, &vec![0xab; 2500], None);
                host1.send(now, &[0x70, 0xc0, 1, 2, 3], Some(2));
            }
            while let Some(t) = daemon.poll_transmit() {
                assert_eq!(t.dest, shadow1);
                if let Some(d) = host1.handle_datagram(now, conf.daemon(), &t.bytes) {
                    got_host.push(d.payload);
                }
            }
            while let Some(t) = host1.poll_transmit() {
                assert_eq!(t.dest, conf.daemon());
                if let Some(d) = daemon.handle_datagram(now, shadow1, &t.bytes) {
                    got_daemon.push(d.payload);
                }
            }
        }
        assert!(host1.reachable(2) && daemon.reachable(1));
        assert_eq!(got_host, vec![vec![0xab; 2500]]);
        assert_eq!(got_daemon, vec![vec![0x70, 0xc0, 1, 2, 3]]);
        // A daemon keyed differently: nothing opens, every datagram is counted.
        let other: Vec<u8> = (0..256u32).map(|i| (i * 11) as u8).collect();
        let mut stranger = daemon_side(&other);
        stranger.handle_timeout(now + Duration::from_secs(5));
        let mut n = 0;
        while let Some(t) = stranger.poll_transmit() {
            assert!(host1
                .handle_datagram(now, conf.daemon(), &t.bytes)
                .is_none());
            n += 1;
        }
        assert!(n > 0);
        assert_eq!(host1.stats().rx_open_errors, n);
    }
}
