//! The knet side of a running node: one UDP socket per local link (our `ringN_addr` and the
//! link's port, 5405 + N by default), reader tasks feeding received datagrams into the node
//! loop, and the [`KnetLayer`] that turns Totem messages into knet frames and back.
//!
//! As corosync's totemknet does, tokens (unicasts) carry the next node in the Totem header's
//! `target_nodeid` and go to that host only; every other message has `target_nodeid` 0 and goes
//! to all hosts. A received message whose `target_nodeid` names another node is dropped.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::transport_config::TransportConfig;
use crate::knet::{self, KnetConfig, KnetLayer, KnetSeal, KnetStats, LinkStatus};
use crate::node_config::KnetCryptoSetting;

/// Batches of received datagrams waiting for the node loop (up to RX_QUEUE x RX_BATCH).
const RX_QUEUE: usize = 64;

/// Most datagrams a link reader hands over in one batch.
const RX_BATCH: usize = 64;

/// One datagram received on a link socket.
#[derive(Debug)]
pub struct Received {
    pub link: u8,
    pub src: SocketAddr,
    pub bytes: Vec<u8>,
}

/// knet status for `totem-node status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KnetStatus {
    pub local: Vec<(u8, SocketAddr)>,
    pub data_mtu: usize,
    pub tx_seq: u16,
    pub links: Vec<LinkStatus>,
    pub stats: KnetStats,
    /// Delivered messages addressed (target_nodeid) to another node.
    pub rx_not_for_us: u64,
    /// The knet crypto in use ("none" or model/cipher/hash).
    #[serde(default)]
    pub crypto: String,
    /// The crypto config we seal with (0 none, 1 or 2).
    #[serde(default)]
    pub crypto_in_use: u8,
    /// Counters of crypto configs 1 and 2.
    #[serde(default)]
    pub crypto_slots: [knet::SlotStats; 2],
    /// Key changes: the config the latest key went into, and steps done (load, activate,
    /// cleanup).
    #[serde(default)]
    pub rekey: RekeyStatus,
}

/// Progress of run-time key changes (CFG reload).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RekeyStatus {
    pub index: u8,
    pub loads: u64,
    pub activations: u64,
    pub cleanups: u64,
    /// Reloads that found the crypto unchanged.
    pub unchanged: u64,
    pub errors: u64,
}

/// Bound knet sockets plus the link layer.
#[derive(Debug)]
pub struct KnetNet {
    pub layer: KnetLayer,
    socks: HashMap<u8, Arc<UdpSocket>>,
    local: Vec<(u8, SocketAddr)>,
    readers: Vec<JoinHandle<()>>,
    /// Received datagrams from every link socket.
    pub rx: mpsc::Receiver<Vec<Received>>,
    nodeid: u32,
    rx_not_for_us: u64,
    link_mtu: usize,
    ipv6: bool,
    rekey: knet::Rekey,
    /// The crypto settings and key bytes now loaded (to tell whether a reload changed them).
    key: Option<(totem_wire::envelope::knet::KnetCryptoConfig, Vec<u8>)>,
    rekey_status: RekeyStatus,
}

impl Drop for KnetNet {
    fn drop(&mut self) {
        for r in &self.readers {
            r.abort();
        }
    }
}

fn sockaddr(ip: IpAddr, port: u16, scope: u32) -> SocketAddr {
    match ip {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V4(v4), port),
        IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, scope)),
    }
}

fn bind(addr: SocketAddr, bufsize: usize) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // May be clamped to net.core.[rw]mem_max; not an error.
    let _ = s.set_recv_buffer_size(bufsize);
    let _ = s.set_send_buffer_size(bufsize);
    s.set_nonblocking(true)?;
    s.bind(&SockAddr::from(addr))
        .map_err(|e| io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
    UdpSocket::from_std(s.into())
}

/// Sets the Totem header's `target_nodeid` (bytes 9..13, in the message's byte order, which
/// the magic at 0..2 tells).
pub fn set_target_nodeid(msg: &mut [u8], target: u32) {
    let bytes = match msg.get(..2) {
        Some([0x70, 0xc0]) => target.to_le_bytes(),
        Some(_) => target.to_be_bytes(),
        None => return,
    };
    if let Some(t) = msg.get_mut(9..13) {
        t.copy_from_slice(&bytes);
    }
}

/// The Totem header's `target_nodeid`.
pub fn target_nodeid(msg: &[u8]) -> Option<u32> {
    let t: [u8; 4] = msg.get(9..13)?.try_into().ok()?;
    Some(match msg.get(..2)? {
        [0x70, 0xc0] => u32::from_le_bytes(t),
        _ => u32::from_be_bytes(t),
    })
}

impl KnetNet {
    /// Binds one socket per local link and starts their readers (inside a tokio runtime).
    pub fn bind(
        cfg: &TransportConfig,
        seal: KnetSeal,
        key: Option<(totem_wire::envelope::knet::KnetCryptoConfig, Vec<u8>)>,
        now: Instant,
    ) -> io::Result<Self> {
        let me = cfg.node(cfg.nodeid).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "own node missing from nodelist",
            )
        })?;
        let port_of = |lid: u8| {
            cfg.knet_links
                .iter()
                .find(|l| l.linknumber == lid)
                .map(|l| (l.port, l.params))
        };
        let mut socks = HashMap::new();
        let mut local = Vec::new();
        let mut readers = Vec::new();
        let (tx, rx) = mpsc::channel(RX_QUEUE);
        for &(lid, ip, scope) in &me.ring_addrs {
            let Some((port, _)) = port_of(lid) else {
                continue;
            };
            let a = sockaddr(ip, port, scope);
            let s = Arc::new(bind(a, cfg.socket_buffer.max(8 << 20))?);
            local.push((lid, a));
            socks.insert(lid, s.clone());
            let tx = tx.clone();
            readers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; knet::MAX_PACKET_SIZE + 1024];
                // Whatever the socket holds goes to the node loop in one batch (one channel
                // message and one wake-up for up to RX_BATCH datagrams, not one each).
                loop {
                    if s.readable().await.is_err() {
                        break;
                    }
                    let mut batch = Vec::new();
                    while batch.len() < RX_BATCH {
                        match s.try_recv_from(&mut buf) {
                            Ok((n, src)) => batch.push(Received {
                                link: lid,
                                src,
                                bytes: buf.get(..n).unwrap_or_default().to_vec(),
                            }),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => {
                                // ICMP errors of a down peer surface here; keep reading.
                                tracing::trace!(link = lid, error = %e, "knet receive error");
                            }
                        }
                    }
                    if !batch.is_empty() && tx.send(batch).await.is_err() {
                        break;
                    }
                }
            }));
        }
        let mut hosts = Vec::new();
        for n in &cfg.nodes {
            if n.nodeid == cfg.nodeid {
                continue;
            }
            let Ok(id) = u16::try_from(n.nodeid) else {
                continue;
            };
            let links = n
                .ring_addrs
                .iter()
                .filter_map(|&(lid, ip, scope)| {
                    // A link exists where both ends have an address for it.
                    let (port, params) = port_of(lid)?;
                    socks.contains_key(&lid).then(|| {
                        let scope = if scope == 0 { cfg.scope_id } else { scope };
                        (lid, sockaddr(ip, port, scope), params)
                    })
                })
                .collect();
            hosts.push((id, links));
        }
        let link_mtu = if cfg.knet_mtu == 0 {
            1500
        } else {
            cfg.knet_mtu as usize
        };
        let ipv6 = cfg.bind_addr.is_ipv6();
        let data_mtu = seal.data_mtu(link_mtu, ipv6);
        let rekey = knet::Rekey::new(seal.in_use() != 0);
        let layer = KnetLayer::new(
            KnetConfig {
                host_id: cfg.nodeid as u16,
                policy: cfg.link_mode,
                hosts,
                data_mtu,
            },
            seal,
            now,
        );
        Ok(KnetNet {
            layer,
            socks,
            local,
            readers,
            rx,
            nodeid: cfg.nodeid,
            rx_not_for_us: 0,
            link_mtu,
            ipv6,
            rekey,
            key,
            rekey_status: RekeyStatus {
                index: 1,
                ..RekeyStatus::default()
            },
        })
    }

    /// Our link-0 address (or the first link's).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local.first().map(|(_, a)| *a)
    }

    /// Hands one Totem message to knet: `dest` None broadcasts, else unicasts with
    /// `target_nodeid` set. Returns the number of hosts it went to.
    pub fn send(&mut self, now: Instant, msg: &[u8], dest: Option<u32>) -> usize {
        let mut m = msg.to_vec();
        set_target_nodeid(&mut m, dest.unwrap_or(0));
        match dest {
            None => self.layer.send(now, &m, None),
            Some(id) => match u16::try_from(id) {
                Ok(h) => self.layer.send(now, &m, Some(h)),
                Err(_) => 0,
            },
        }
    }

    /// Processes a received datagram; returns a Totem message for the engine.
    pub fn receive(&mut self, now: Instant, r: &Received) -> Option<Vec<u8>> {
        let d = self.layer.handle_datagram(now, r.src, &r.bytes);
        // A peer sealing with the key we loaded has passed its phase 1: seal with it too
        // before that peer's phase 2 drops the old key (its phase 2 is delivered only after
        // the token has come round through us).
        if self.rekey.new_key_seen(self.layer.seal()) {
            tracing::info!(src = %r.src, "first datagram under the new knet key");
            if let Err(e) = self.rekey_phase(knet::rekey::PHASE_ACTIVATE) {
                tracing::error!(error = %e, "knet key activation failed");
            }
        }
        let d = d?;
        match target_nodeid(&d.payload) {
            Some(t) if t != 0 && t != self.nodeid => {
                self.rx_not_for_us += 1;
                None
            }
            _ => Some(d.payload),
        }
    }

    /// Sends every queued frame, in batches per link socket (`sendmmsg`); returns (sent,
    /// errors).
    pub async fn flush(&mut self) -> (u64, u64) {
        let mut out: Vec<knet::Transmit> =
            std::iter::from_fn(|| self.layer.poll_transmit()).collect();
        if out.is_empty() {
            return (0, 0);
        }
        // One batch per link socket; the sort is stable, so each link keeps its order.
        out.sort_by_key(|t| t.link);
        let (mut ok, mut err) = (0, 0);
        for batch in out.chunk_by(|a, b| a.link == b.link) {
            let link = batch[0].link;
            let Some(s) = self.socks.get(&link) else {
                err += batch.len() as u64;
                continue;
            };
            let pkts: Vec<(SocketAddr, &[u8])> =
                batch.iter().map(|t| (t.dest, t.bytes.as_slice())).collect();
            let layer = &mut self.layer;
            ok += super::mmsg::send_all(s, &pkts, |i, e| {
                tracing::trace!(dest = %pkts[i].0, link, error = %e, "knet send failed");
                err += 1;
                layer.tx_error(pkts[i].0, link);
            })
            .await;
        }
        (ok, err)
    }

    /// Status for `totem-node status`.
    pub fn status(&self) -> KnetStatus {
        KnetStatus {
            local: self.local.clone(),
            data_mtu: self.layer.data_mtu(),
            tx_seq: self.layer.tx_seq(),
            links: self.layer.link_status(),
            stats: self.layer.stats(),
            rx_not_for_us: self.rx_not_for_us,
            crypto: self.layer.seal().describe(),
            crypto_in_use: self.layer.seal().in_use(),
            crypto_slots: self.layer.seal().slot_stats(),
            rekey: self.rekey_status.clone(),
        }
    }

    /// Key change step 1 (CFG reload delivered): given the knet crypto settings as the
    /// configuration says now, re-reads the key file; if they changed, loads them into the
    /// free crypto config and returns true (the caller then sends its phase-1 message, as
    /// corosync does).
    pub fn rekey_load(&mut self, setting: Option<KnetCryptoSetting>) -> Result<bool, String> {
        use totem_wire::envelope::knet::{key_from_file_contents, KnetCrypto};
        let new = match &setting {
            None => None,
            Some(s) => {
                let bytes = std::fs::read(&s.keyfile)
                    .map_err(|e| format!("{}: {e}", s.keyfile.display()))?;
                let key = key_from_file_contents(&bytes)
                    .map_err(|e| format!("{}: {e}", s.keyfile.display()))?;
                Some((s.config, key.to_vec()))
            }
        };
        if new == self.key {
            self.rekey_status.unchanged += 1;
            return Ok(false);
        }
        let crypto = match &new {
            None => None,
            Some((c, k)) => Some(KnetCrypto::new(*c, k).map_err(|e| e.to_string())?),
        };
        self.rekey
            .load(self.layer.seal_mut(), crypto)
            .map_err(|e| e.to_string())?;
        self.key = new;
        self.rekey_status.loads += 1;
        self.rekey_status.index = self.rekey.index();
        tracing::info!(
            index = self.rekey.index(),
            "knet crypto reconfigured (new key loaded, not in use yet)"
        );
        Ok(true)
    }

    /// Key change steps 2 (`PHASE_ACTIVATE`) and 3 (`PHASE_CLEANUP`); a step that is not the
    /// one awaited (activation already done at another node's phase 1) does nothing.
    pub fn rekey_phase(&mut self, phase: u32) -> Result<(), String> {
        if phase != knet::rekey::PHASE_ACTIVATE && phase != knet::rekey::PHASE_CLEANUP {
            return Err(format!("unknown crypto reconfig phase {phase}"));
        }
        match self.rekey.phase(self.layer.seal_mut(), phase) {
            Ok(false) => {
                tracing::debug!(phase, awaiting = %crate::logfmt::Opt(&self.rekey.awaiting()), "knet crypto phase: nothing to do");
                Ok(())
            }
            Ok(true) => {
                if phase == knet::rekey::PHASE_ACTIVATE {
                    self.rekey_status.activations += 1;
                    let mtu = self.layer.seal().data_mtu(self.link_mtu, self.ipv6);
                    self.layer.set_data_mtu(mtu);
                } else {
                    self.rekey_status.cleanups += 1;
                }
                tracing::info!(
                    phase,
                    index = self.rekey.index(),
                    in_use = self.layer.seal().in_use(),
                    "knet crypto reconfiguration phase"
                );
                Ok(())
            }
            Err(e) => {
                self.rekey_status.errors += 1;
                tracing::error!(phase, error = %e, "knet crypto reconfiguration phase failed");
                Err(e.to_string())
            }
        }
    }

    /// The address of `nodeid`'s lowest link.
    pub fn addr_of(&self, nodeid: u32) -> Option<SocketAddr> {
        self.layer
            .link_status()
            .into_iter()
            .find(|l| u32::from(l.host) == nodeid)
            .and_then(|l| l.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Capture `3.1.7-knet-01-formation` frame 50: host 1's first orf_token, whose Totem
    /// header (little-endian, magic 70 c0) names node 2 in `target_nodeid` at bytes 9..13.
    #[test]
    fn target_nodeid_in_capture_token() {
        let frame = hex::decode("010000010000000400000001000070c003000001000000020000000000000000000000ffffffff0100000001000000090000000000000000000000000000000000000000000000").unwrap();
        let totem = &frame[14..];
        assert_eq!(target_nodeid(totem), Some(2));
        let mut m = totem.to_vec();
        set_target_nodeid(&mut m, 0);
        assert_eq!(m[9..13], [0, 0, 0, 0]);
        set_target_nodeid(&mut m, 2);
        assert_eq!(m, totem);
        // A big-endian sender (magic c0 70) carries it big-endian.
        let mut be = vec![0xc0, 0x70, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        set_target_nodeid(&mut be, 3);
        assert_eq!(be[9..13], [0, 0, 0, 3]);
        assert_eq!(target_nodeid(&be), Some(3));
        // Too short: untouched, no panic.
        let mut short = vec![0x70, 0xc0, 3];
        set_target_nodeid(&mut short, 5);
        assert_eq!(short, [0x70, 0xc0, 3]);
        assert_eq!(target_nodeid(&short), None);
    }
}
