//! The knet handle: hosts and links, heartbeats, data transmit with the sender's sequence
//! counter and fragmentation, and the receive path (seal, duplicate window, reassembly).
//! Sans-IO: datagrams and time go in, datagrams to send and delivered messages come out.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use totem_wire::knet::{
    decode_time, encode_time, ping_frame, pmtud_reply_frame, DataHeader, FrameView,
    DATA_HEADER_LEN, MAX_LINK,
};

pub use super::host::LinkPolicy;
use super::host::{Host, Reassembly};
use super::link::{Link, LinkParams, LinkStatus};
use super::seal::KnetSeal;
use super::seqwin::Map;
use crate::ratelimit::{limited, LogKey, RateLimiter};

/// Every SEQ_MAX / 8 data sequence numbers knet sends untimed pings on every link.
const UNTIMED_PING_EVERY: u16 = u16::MAX / 8;

/// A host's links: link id, the remote address, the link's settings.
pub type HostLinks = Vec<(u8, SocketAddr, LinkParams)>;

/// What a knet handle needs to know.
#[derive(Debug, Clone)]
pub struct KnetConfig {
    /// Our host id (= nodeid).
    pub host_id: u16,
    pub policy: LinkPolicy,
    /// Remote hosts: id and, per link id, the remote address and the link's settings.
    pub hosts: Vec<(u16, HostLinks)>,
    /// Payload bytes per fragment (sealing overhead already taken off: see
    /// [`KnetSeal::data_mtu`]).
    pub data_mtu: usize,
}

/// One datagram to send from our socket of link `link`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub link: u8,
    pub dest: SocketAddr,
    pub bytes: Vec<u8>,
}

/// A user message received whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub src_host: u16,
    pub bcast: bool,
    pub payload: Vec<u8>,
}

/// Handle-wide counters (per-link ones are in [`LinkStatus`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnetStats {
    pub rx_datagrams: u64,
    /// Datagrams the seal refused (wrong key, tampered, clear text on a crypto ring).
    pub rx_open_errors: u64,
    /// Not a knet v1 frame.
    pub rx_malformed: u64,
    /// From a host id not in the nodelist.
    pub rx_unknown_host: u64,
    /// From an address that is not the link's configured peer.
    pub rx_wrong_link: u64,
    /// Data from a host with no link up yet (knet discards it).
    pub rx_unreachable: u64,
    /// Data already delivered (duplicate sequence number, e.g. active mode copies).
    pub rx_duplicate: u64,
    /// Compressed data (we build no compression: set knet_compression_model: none).
    pub rx_compressed: u64,
    /// Data on a channel other than 0 (corosync uses channel 0 only).
    pub rx_bad_channel: u64,
    /// Fragments with impossible numbering.
    pub rx_defrag_invalid: u64,
    /// Fragments waiting for the rest of their message.
    pub rx_fragments: u64,
    pub rx_delivered: u64,
    /// Windows wiped because a sender restarted (seq 0 ping) or went quiet.
    pub rx_window_resets: u64,
    pub tx_messages: u64,
    pub tx_frames: u64,
    /// Messages (per destination host) not sent because the host has no link up.
    pub tx_unreachable: u64,
    /// Messages too large for 255 fragments.
    pub tx_too_large: u64,
    pub tx_seal_errors: u64,
    /// Refusal log lines dropped by the rate limiter (the refusals are counted above).
    #[serde(default)]
    pub log_suppressed: u64,
}

/// The knet state of one node.
#[derive(Debug)]
pub struct KnetLayer {
    host_id: u16,
    hosts: BTreeMap<u16, Host>,
    tx_seq: u16,
    data_mtu: usize,
    seal: KnetSeal,
    out: VecDeque<Transmit>,
    epoch: Instant,
    next_backoff: Instant,
    stats: KnetStats,
    /// Rate limiter of the per-datagram refusal log lines.
    logs: RateLimiter<LogKey>,
}

impl KnetLayer {
    /// A handle with every configured link enabled (pings start at the first timeout).
    pub fn new(cfg: KnetConfig, seal: KnetSeal, now: Instant) -> Self {
        let mut hosts = BTreeMap::new();
        for (id, links) in cfg.hosts {
            if id == cfg.host_id {
                continue;
            }
            let mut h = Host::new(id, cfg.policy);
            for (lid, addr, params) in links {
                if let Some(slot) = h.links.get_mut(usize::from(lid)) {
                    *slot = Some(Link::new(id, lid, addr, params));
                }
            }
            hosts.insert(id, h);
        }
        let data_mtu = cfg.data_mtu.max(1);
        KnetLayer {
            host_id: cfg.host_id,
            hosts,
            tx_seq: 0,
            data_mtu,
            seal,
            out: VecDeque::new(),
            epoch: now,
            next_backoff: now + Duration::from_secs(1),
            stats: KnetStats::default(),
            logs: RateLimiter::default(),
        }
    }

    /// Handle-wide counters.
    pub fn stats(&self) -> KnetStats {
        KnetStats {
            log_suppressed: self.logs.suppressed_total(),
            ..self.stats.clone()
        }
    }

    /// Payload bytes per fragment.
    pub fn data_mtu(&self) -> usize {
        self.data_mtu
    }

    /// Sets the payload bytes per fragment (after the crypto in use changed).
    pub fn set_data_mtu(&mut self, data_mtu: usize) {
        self.data_mtu = data_mtu.max(1);
    }

    /// The seal (crypto configs and their counters).
    pub fn seal(&self) -> &KnetSeal {
        &self.seal
    }

    /// The seal, for a key change.
    pub fn seal_mut(&mut self) -> &mut KnetSeal {
        &mut self.seal
    }

    /// Our current data sequence number.
    pub fn tx_seq(&self) -> u16 {
        self.tx_seq
    }

    /// Every link's status, by host then link id.
    pub fn link_status(&self) -> Vec<LinkStatus> {
        self.hosts
            .values()
            .flat_map(|h| h.links.iter().flatten().map(|l| l.stats.clone()))
            .collect()
    }

    /// Whether `host` has a link up.
    pub fn reachable(&self, host: u16) -> bool {
        self.hosts.get(&host).is_some_and(|h| h.reachable)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = Some(match self.logs.poll_timeout() {
            Some(l) => l.min(self.next_backoff),
            None => self.next_backoff,
        });
        for l in self.hosts.values().flat_map(|h| h.links.iter().flatten()) {
            for c in [Some(l.next_ping().unwrap_or(self.epoch)), l.down_at()]
                .into_iter()
                .flatten()
            {
                t = Some(t.map_or(c, |x| x.min(c)));
            }
        }
        t
    }

    fn push(&mut self, link: u8, dest: SocketAddr, frame: &[u8]) -> bool {
        match self.seal.seal(frame) {
            Ok(bytes) => {
                self.out.push_back(Transmit { link, dest, bytes });
                true
            }
            Err(e) => {
                self.stats.tx_seal_errors += 1;
                tracing::error!(error = %e, "cannot seal knet frame");
                false
            }
        }
    }

    fn send_ping(&mut self, now: Instant, host: u16, link: u8, timed: u8) {
        let time = encode_time(now.saturating_duration_since(self.epoch));
        let f = ping_frame(self.host_id, false, link, time, self.tx_seq, timed);
        let Some(l) = self.hosts.get_mut(&host).and_then(|h| h.link_mut(link)) else {
            return;
        };
        l.ping_last = Some(now);
        l.stats.tx_ping += 1;
        let addr = l.addr;
        self.push(link, addr, &f);
    }

    /// Runs the heartbeat: due pings, pong timeouts, the once-a-second backoff step.
    pub fn handle_timeout(&mut self, now: Instant) {
        crate::ratelimit::expire_and_log(&mut self.logs, now);
        if now >= self.next_backoff {
            for l in self
                .hosts
                .values_mut()
                .flat_map(|h| h.links.iter_mut().flatten())
            {
                l.adjust_backoff();
            }
            self.next_backoff = now + Duration::from_secs(1);
        }
        let mut pings = Vec::new();
        for h in self.hosts.values_mut() {
            let mut changed = false;
            for l in h.links.iter_mut().flatten() {
                if l.next_ping().is_none_or(|t| now >= t) {
                    pings.push((h.id, l.id));
                }
                if l.down_at().is_some_and(|t| now >= t) && l.set_down() {
                    tracing::info!(host = h.id, link = l.id, "knet link is down");
                    changed = true;
                }
            }
            if changed && h.update_active() {
                tracing::warn!(host = h.id, "knet host has no active links");
            }
        }
        for (h, l) in pings {
            self.send_ping(now, h, l, 1);
        }
    }

    /// Sends one user message to every host (`dest` None) or to one; returns the number of
    /// hosts it went to.
    pub fn send(&mut self, now: Instant, payload: &[u8], dest: Option<u16>) -> usize {
        let n = payload.len().div_ceil(self.data_mtu).max(1);
        let Ok(frag_num) = u8::try_from(n) else {
            self.stats.tx_too_large += 1;
            tracing::warn!(
                len = payload.len(),
                "message needs more than 255 knet fragments"
            );
            return 0;
        };
        self.tx_seq = self.tx_seq.wrapping_add(1);
        if self.tx_seq == 0 {
            self.tx_seq = 1;
        }
        let seq = self.tx_seq;
        if seq.is_multiple_of(UNTIMED_PING_EVERY) {
            let all: Vec<(u16, u8)> = self
                .hosts
                .values()
                .flat_map(|h| h.links.iter().flatten().map(move |l| (h.id, l.id)))
                .collect();
            for (h, l) in all {
                self.send_ping(now, h, l, 0);
            }
        }
        self.stats.tx_messages += 1;
        let targets: Vec<u16> = match dest {
            None => self.hosts.keys().copied().collect(),
            Some(d) => vec![d],
        };
        let bcast = dest.is_none();
        let mut sent = 0;
        for t in targets {
            let Some(h) = self.hosts.get_mut(&t) else {
                self.stats.tx_unreachable += 1;
                continue;
            };
            if !h.reachable {
                self.stats.tx_unreachable += 1;
                continue;
            }
            let links = h.links_for_send();
            let mut frames = Vec::new();
            for lid in links {
                let Some(l) = h.link_mut(lid) else { continue };
                l.stats.tx_data += u64::from(frag_num);
                frames.push((lid, l.addr));
            }
            sent += 1;
            for (lid, addr) in frames {
                for (i, chunk) in payload.chunks(self.data_mtu.max(1)).enumerate() {
                    let fs = if frag_num > 1 { i as u8 + 1 } else { 0 };
                    let dh = DataHeader {
                        seq,
                        bcast: u8::from(bcast),
                        frag_num,
                        frag_seq: fs,
                        ..DataHeader::default()
                    };
                    let mut f = Vec::with_capacity(DATA_HEADER_LEN + chunk.len());
                    f.extend_from_slice(&dh.frame_header(self.host_id));
                    f.extend_from_slice(chunk);
                    if self.push(lid, addr, &f) {
                        self.stats.tx_frames += 1;
                    }
                }
            }
        }
        sent
    }

    /// Records a send error on a link.
    pub fn tx_error(&mut self, host_addr: SocketAddr, link: u8) {
        for h in self.hosts.values_mut() {
            if let Some(l) = h.link_mut(link) {
                if l.addr == host_addr {
                    l.stats.tx_errors += 1;
                }
            }
        }
    }

    /// Processes one received datagram; returns the user message it completed, if any.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        src: SocketAddr,
        dgram: &[u8],
    ) -> Option<Delivery> {
        self.stats.rx_datagrams += 1;
        let opened = match self.seal.open(dgram) {
            Ok(b) => b,
            Err(e) => {
                self.stats.rx_open_errors += 1;
                limited!(self.logs, now, warn, "knet datagram refused by the seal", %src, len = dgram.len(), error = %e);
                return None;
            }
        };
        let f = match FrameView::new_checked(&opened) {
            Ok(f) => f,
            Err(e) => {
                self.stats.rx_malformed += 1;
                limited!(self.logs, now, warn, "not a knet frame", %src, error = %e);
                return None;
            }
        };
        let me = self.host_id;
        let Some(h) = self.hosts.get_mut(&f.src_host()) else {
            self.stats.rx_unknown_host += 1;
            limited!(self.logs, now, debug, "knet frame from an unknown host id", %src, host = f.src_host());
            return None;
        };
        match f {
            FrameView::Ping(v) => {
                let (link, seq, timed) = (v.link(), v.seq(), v.timed());
                let Some(l) = h.link_from(link, src.ip()) else {
                    self.stats.rx_wrong_link += 1;
                    return None;
                };
                l.stats.rx_ping += 1;
                l.stats.tx_pong += 1;
                let (lid, addr) = (l.id, l.addr);
                let mut wipe = false;
                if timed == 0 {
                    if seq != h.untimed_rx_seq {
                        h.untimed_rx_seq = seq;
                        wipe = !h.got_data;
                        h.got_data = false;
                    }
                    h.win.lookup(seq, Map::Delivered, wipe);
                } else if seq != h.timed_rx_seq {
                    h.timed_rx_seq = seq;
                    if seq == 0 {
                        wipe = true;
                        h.win.lookup(0, Map::Delivered, true);
                    }
                }
                if wipe {
                    h.defrag.clear();
                    self.stats.rx_window_resets += 1;
                }
                let pong = ping_frame(me, true, link, v.time(), seq, timed);
                self.push(lid, addr, &pong);
                None
            }
            FrameView::Pong(v) => {
                let epoch = self.epoch;
                let host = h.id;
                let link = v.link();
                let Some(l) = h.link_from(link, src.ip()) else {
                    self.stats.rx_wrong_link += 1;
                    return None;
                };
                let sent = decode_time(&v.time()).map(|d| epoch + d);
                let rtt = sent
                    .map(|t| now.saturating_duration_since(t))
                    .unwrap_or(Duration::MAX);
                if l.on_pong(now, rtt) {
                    tracing::info!(
                        host,
                        link,
                        rtt_us = rtt.as_micros() as u64,
                        "knet link is up"
                    );
                    if h.update_active() {
                        tracing::info!(host, "knet host is reachable");
                    }
                }
                None
            }
            FrameView::Pmtud(v) => {
                let link = v.link();
                let Some(l) = h.link_from(link, src.ip()) else {
                    self.stats.rx_wrong_link += 1;
                    return None;
                };
                l.stats.rx_pmtud += 1;
                l.stats.tx_pmtud_reply += 1;
                let (lid, addr) = (l.id, l.addr);
                let r = pmtud_reply_frame(me, link, v.size_raw());
                self.push(lid, addr, &r);
                None
            }
            FrameView::PmtudReply(v) => {
                // We send no probes; a reply is counted and ignored.
                if let Some(l) = h.link_mut(v.link() % MAX_LINK) {
                    l.stats.rx_pmtud += 1;
                }
                None
            }
            FrameView::Data(v) => {
                let Some(l) = h.links.iter_mut().flatten().find(|l| l.addr == src) else {
                    self.stats.rx_wrong_link += 1;
                    limited!(self.logs, now, debug, "knet data from no configured link", %src, host = h.id);
                    return None;
                };
                l.stats.rx_data += 1;
                if !h.reachable {
                    self.stats.rx_unreachable += 1;
                    return None;
                }
                h.got_data = true;
                let dh = v.data_header();
                let seq = dh.seq;
                if !h.win.lookup(seq, Map::Delivered, false) {
                    self.stats.rx_duplicate += 1;
                    return None;
                }
                let whole = match h.reassemble(&dh, v.payload()) {
                    Reassembly::Message(m) => m,
                    Reassembly::Pending => {
                        self.stats.rx_fragments += 1;
                        return None;
                    }
                    Reassembly::Duplicate => {
                        self.stats.rx_duplicate += 1;
                        return None;
                    }
                    Reassembly::Invalid(why) => {
                        self.stats.rx_defrag_invalid += 1;
                        limited!(
                            self.logs,
                            now,
                            warn,
                            "knet fragment refused",
                            host = h.id,
                            seq,
                            frag_num = dh.frag_num,
                            frag_seq = dh.frag_seq,
                            why
                        );
                        return None;
                    }
                };
                if dh.compress != 0 {
                    self.stats.rx_compressed += 1;
                    limited!(self.logs, now, error, "compressed knet data refused: compression is not built in; set totem.knet_compression_model: none on every node", host = h.id, seq, compress = dh.compress);
                    return None;
                }
                if dh.channel != 0 {
                    self.stats.rx_bad_channel += 1;
                    return None;
                }
                h.win.set(seq, Map::Delivered);
                self.stats.rx_delivered += 1;
                Some(Delivery {
                    src_host: h.id,
                    bcast: dh.bcast != 0,
                    payload: whole,
                })
            }
        }
    }
}
