//! `totem-gateway run`: the upgrade gateway's sockets around its sans-IO core.
//!
//! The ring side is one UDP socket on this node's ring 0 address, where the corosync 2
//! daemons send (udpu). The local side is one socket per other node on that node's *shadow*
//! address: the local corosync 3 (udpu) lists every other node at its shadow address, so
//! what it sends to node k arrives on k's shadow socket, and what node k sends it leaves
//! from there. Each datagram goes through [`Gateway`] once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use totem_wire::envelope::{AuthKey, SealSettings, Sealer, RANDOM_LEN};

use crate::conf::GatewayConf;
use crate::upgrade::{Direction, Gateway, GatewayConfig, Stats};
use totem_wire::retarget::Payload;
use totem_wire::Generation;

/// Where a datagram came in.
#[derive(Debug, Clone, Copy)]
enum Side {
    Ring,
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
    /// Ring datagrams whose envelope did not open, or of another generation.
    pub envelope_refused: u64,
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
    let ring = bind(SocketAddr::new(local.ring0, conf.ring_port)).await?;
    let mut shadows: BTreeMap<u32, Arc<UdpSocket>> = BTreeMap::new();
    for n in conf.nodes.iter().filter(|n| n.nodeid != conf.nodeid) {
        shadows.insert(
            n.nodeid,
            bind(SocketAddr::new(n.shadow, conf.daemon_port)).await?,
        );
    }
    let mut tasks = Vec::new();
    // One task reads every socket (no hop through a channel): the next datagram from any.
    let socks: Vec<(Side, Arc<UdpSocket>)> = std::iter::once((Side::Ring, ring.clone()))
        .chain(shadows.iter().map(|(k, s)| (Side::Shadow(*k), s.clone())))
        .collect();
    let mut rxbuf = vec![0u8; 65_536];
    let mut next_sock = 0usize;
    tracing::info!(
        nodeid = conf.nodeid,
        ring = %SocketAddr::new(local.ring0, conf.ring_port),
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
    // corosync 2.3+ puts a totemcrypto header on every datagram, crypto or not; with a
    // cipher every datagram we send gets a fresh salt.
    let key = match &conf.keyfile {
        Some(k) => AuthKey::from_file(k)
            .map_err(|e| RunError::Key(e.to_string()))?
            .as_bytes()
            .to_vec(),
        None => Vec::new(),
    };
    let sealer = Sealer::new(SealSettings::TotemCrypto(conf.ring_crypto()?), &key)
        .map_err(|e| RunError::Key(e.to_string()))?;
    let daemon = conf.daemon();
    let mut report = tokio::time::interval(Duration::from_secs(10));
    // Refusal reasons already logged in this report interval: one line per reason, the
    // counts go to the periodic line.
    let mut logged: Vec<crate::upgrade::Refusal> = Vec::new();
    let mut logged_env = false;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = refresh.tick() => {
                let text = crate::metrics::render(conf.nodeid, gw.stats(), &ds);
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
                let (side, src, n) = match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!(error = %e, "recv");
                        continue;
                    }
                };
                let bytes = &rxbuf[..n];
                let t0 = Instant::now();
                ds.datagrams += 1;
                match side {
                    Side::Ring => {
                        let Some(k) = conf.by_ring_addr(src.ip()).map(|n| n.nodeid) else {
                            ds.unknown_source += 1;
                            continue;
                        };
                        let Some(out) = shadows.get(&k) else { continue };
                        let body = match sealer.open(bytes) {
                            Ok(o) => o.plaintext,
                            Err(e) => {
                                ds.envelope_refused += 1;
                                note_text(&mut logged_env, e.to_string(), k);
                                continue;
                            }
                        };
                        match gw.from_ring(&body, k) {
                            Ok(v) => {
                                ds.busy += t0.elapsed();
                                if out.send_to(&v, daemon).await.is_err() {
                                    ds.send_errors += 1;
                                }
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
                        match gw.from_local(bytes, Some(k)) {
                            Ok(v) => {
                                ds.busy += t0.elapsed();
                                let to = SocketAddr::new(n.ring0, conf.ring_port);
                                let mut random = [0u8; RANDOM_LEN];
                                if sealer.needs_random() {
                                    use rand_core::RngCore;
                                    rand_core::OsRng.fill_bytes(&mut random);
                                }
                                let Ok(v) = sealer.seal(&v, &random) else {
                                    ds.send_errors += 1;
                                    continue;
                                };
                                if ring.send_to(&v, to).await.is_err() {
                                    ds.send_errors += 1;
                                }
                            }
                            Err(e) => note(&mut logged, e, k, "local"),
                        }
                    }
                }
            }
        }
    }
    for t in tasks {
        t.abort();
    }
    Ok((gw.stats().clone(), ds))
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
async fn serve_metrics(l: tokio::net::TcpListener, page: Arc<std::sync::Mutex<String>>) {
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
