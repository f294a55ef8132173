//! A capture as the Totem messages in it: every datagram decoded (keys applied, knet
//! fragments reassembled), with who sent it, where it went and when.
//!
//! This is what `check`, `engine` and `test` work on; datagrams that are no Totem message
//! (knet pings, PMTUD, fragments still incomplete, undecodable bytes) are counted, not kept.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use totem_wire::datagram::{decode, open_knet, DatagramError, Envelope, Keys};
use totem_wire::framing::KnetKind;
use totem_wire::knet::{KnetBody, KnetFrame};
use totem_wire::{Generation, SrpMessage};

use crate::knet::KnetReassembly;
use crate::{read_udp, CaptureError, PortFilter, UdpDatagram};

/// One Totem message seen on the wire.
#[derive(Debug, Clone)]
pub struct Msg {
    /// Frame number that carried (or completed) it.
    pub frame: u64,
    /// Capture time since the Unix epoch.
    pub time: Duration,
    /// UDP source.
    pub src: SocketAddr,
    /// UDP destination.
    pub dst: SocketAddr,
    /// Wire generation it was decoded in.
    pub generation: Generation,
    /// The decoded message.
    pub message: SrpMessage,
    /// The bare SRP bytes (no envelope), as a Totem engine takes them.
    pub srp: Vec<u8>,
}

impl Msg {
    /// The node that sent it: the header nodeid, or `system_from` for a leave (nodeid 0).
    pub fn sender(&self) -> u32 {
        match &self.message {
            SrpMessage::MembJoin(j) if j.is_leave() => j.system_from.nodeid(),
            m => m.nodeid(),
        }
    }
}

/// One kronosnet frame seen on the wire (corosync 3 knet transport), whatever it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnetSeen {
    /// Frame number.
    pub frame: u64,
    /// Capture time since the Unix epoch.
    pub time: Duration,
    /// UDP destination.
    pub dst: SocketAddr,
    /// Sender's knet host id (its nodeid).
    pub src_host: u16,
    /// Frame kind.
    pub kind: KnetKind,
    /// knet data sequence number (data frames only).
    pub seq: Option<u16>,
}

impl KnetSeen {
    fn new(d: &UdpDatagram, f: &KnetFrame) -> KnetSeen {
        KnetSeen {
            frame: d.frame,
            time: d.timestamp,
            dst: d.dst,
            src_host: f.src_host,
            kind: f.kind,
            seq: match f.body {
                KnetBody::Data { seq, .. } => Some(seq),
                _ => None,
            },
        }
    }
}

/// The Totem messages of one capture, in frame order.
#[derive(Debug, Clone, Default)]
pub struct Story {
    /// Decoded messages.
    pub msgs: Vec<Msg>,
    /// Datagrams on the Totem ports.
    pub datagrams: u64,
    /// Datagrams that carried no whole Totem message (knet control, fragments).
    pub non_totem: u64,
    /// Datagrams that failed to decode.
    pub undecodable: u64,
    /// Every knet frame that opened (pings, pongs, PMTUD, data and fragments), in time order.
    pub knet: Vec<KnetSeen>,
}

impl Story {
    /// Builds the story from datagrams already read.
    pub fn from_datagrams(datagrams: &[UdpDatagram], keys: &Keys) -> Story {
        let mut story = Story::default();
        let mut knet = KnetReassembly::new();
        for d in datagrams {
            story.datagrams += 1;
            let (generation, body) = match decode(&d.payload, keys) {
                Ok(g) => {
                    if let Envelope::Knet(f) | Envelope::KnetSealed { frame: f, .. } = &g.envelope {
                        story.knet.push(KnetSeen::new(d, f));
                    }
                    (g.generation, g.body)
                }
                Err(DatagramError::Knet(_)) => {
                    let Ok(k) = open_knet(&d.payload, keys) else {
                        story.undecodable += 1;
                        continue;
                    };
                    story.knet.push(KnetSeen::new(d, &k.frame));
                    match knet.feed(&k) {
                        Some(Ok(m)) => (m.datagram.generation, m.datagram.body),
                        Some(Err(_)) => {
                            story.undecodable += 1;
                            continue;
                        }
                        None => {
                            story.non_totem += 1;
                            continue;
                        }
                    }
                }
                Err(_) => {
                    story.undecodable += 1;
                    continue;
                }
            };
            let srp = body.message.to_vec();
            story.msgs.push(Msg {
                frame: d.frame,
                time: d.timestamp,
                src: d.src,
                dst: d.dst,
                generation,
                message: body.message,
                srp,
            });
        }
        // In time order: a capture of several interfaces (an RRP pair's two rings) may hold
        // each interface's packets one block after the other; ties keep frame order.
        story.msgs.sort_by_key(|m| m.time);
        story.knet.sort_by_key(|k| k.time);
        story
    }

    /// The generation most messages are in (G3 if there are none).
    pub fn generation(&self) -> Generation {
        let mut n: BTreeMap<u8, (usize, Generation)> = BTreeMap::new();
        for m in &self.msgs {
            let e = n
                .entry(generation_rank(m.generation))
                .or_insert((0, m.generation));
            e.0 += 1;
        }
        n.values()
            .max_by_key(|(c, _)| *c)
            .map(|(_, g)| *g)
            .unwrap_or(Generation::G3)
    }

    /// The generation `node` speaks (of most of its messages); the capture's otherwise.
    pub fn generation_of(&self, node: u32) -> Generation {
        let mut n: BTreeMap<Generation, usize> = BTreeMap::new();
        for m in self.msgs.iter().filter(|m| m.sender() == node) {
            *n.entry(m.generation).or_default() += 1;
        }
        n.into_iter()
            .max_by_key(|(_, c)| *c)
            .map(|(g, _)| g)
            .unwrap_or_else(|| self.generation())
    }

    /// Every node id that sent something.
    pub fn nodes(&self) -> BTreeSet<u32> {
        self.msgs
            .iter()
            .map(Msg::sender)
            .filter(|n| *n != 0)
            .collect()
    }

    /// The IP addresses each node sent from: each source IP goes to the node most of the
    /// messages naming their sender that came from it name. Not every such message: openais
    /// 0.80.6 sometimes passes a token on under the header nodeid it arrived with (a commit
    /// token's second rotation, `memb_state_commit_token_update` being what sets it; some
    /// ORF tokens): in `openais-0.80.6-udp-01` frames 12, 148 and 151 come from node 1's
    /// address under node 2's nodeid.
    pub fn addresses(&self) -> BTreeMap<u32, BTreeSet<IpAddr>> {
        let mut votes: BTreeMap<IpAddr, BTreeMap<u32, usize>> = BTreeMap::new();
        for m in &self.msgs {
            let n = m.sender();
            if m.message.msg_type().names_sender() && n != 0 {
                *votes.entry(m.src.ip()).or_default().entry(n).or_default() += 1;
            }
        }
        let mut out: BTreeMap<u32, BTreeSet<IpAddr>> = BTreeMap::new();
        for (ip, by) in votes {
            if let Some((&n, _)) = by.iter().max_by_key(|(_, c)| **c) {
                out.entry(n).or_default().insert(ip);
            }
        }
        out
    }

    /// Whether a message naming its sender came from another node's address (see
    /// [`Story::addresses`]): the peers include openais 0.80.6.
    pub fn has_stale_nodeids(&self) -> bool {
        let addresses = self.addresses();
        self.msgs.iter().any(|m| {
            m.message.msg_type().names_sender()
                && m.sender() != 0
                && addresses
                    .iter()
                    .any(|(n, ips)| *n != m.sender() && ips.contains(&m.src.ip()))
        })
    }

    /// Time of the first message (zero if none).
    pub fn start(&self) -> Duration {
        self.msgs.first().map(|m| m.time).unwrap_or_default()
    }
}

fn generation_rank(g: Generation) -> u8 {
    match g {
        Generation::G1 => 1,
        Generation::G2 => 2,
        Generation::G3 => 3,
    }
}

/// Reads a capture file into its story.
pub fn read_story(path: &Path, keys: &Keys, filter: &PortFilter) -> Result<Story, CaptureError> {
    let (datagrams, _) = read_udp(path, filter)?;
    Ok(Story::from_datagrams(&datagrams, keys))
}

/// Whether `ip` is a multicast or broadcast destination (reaches every node).
pub fn is_group_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast() || v4.octets()[3] == 255,
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}
