//! kronosnet (knet) v1 frames as libknet 1.25 sends them under corosync 3.1.7: the 6-byte common
//! header ([`header`]), then a data header and user data ([`data`]), a ping/pong ([`ping`]) or a
//! PMTUD probe/reply ([`pmtud`]). With crypto on, the whole frame is sealed by
//! [`crate::envelope::knet`].
//!
//! Byte order (shared/spec/findings-corosync3-live §5.5 and libknet's sources): host ids and
//! sequence numbers are big-endian; ping timestamps and the PMTUD size are in the sender's host
//! order and are carried as raw bytes.

pub mod data;
pub mod defrag;
pub mod header;
pub mod ping;
pub mod pmtud;
pub mod view;

pub use data::{DataHeader, DataView, DATA_HEADER_LEN, DATA_LEN};
pub use defrag::{DefragEvent, HostDefrag, KnetDefrag, DEFRAG_BUFFERS, MAX_MESSAGE_LEN};
pub use header::{
    HeaderView, KnetHeader, HEADER_LEN, TYPE_DATA, TYPE_PING, TYPE_PMTUD, TYPE_PMTUD_REPLY,
    TYPE_PONG,
};
pub use ping::{decode_time, encode_time, ping_frame, Ping, PingView, PING_FRAME_LEN, PING_LEN};
pub use pmtud::{pmtud_reply_frame, Pmtud, PmtudView, PMTUD_FRAME_LEN, PMTUD_LEN};
pub use view::FrameView;

use crate::error::{Error, Result};
use crate::framing::KnetKind;

/// `sizeof(struct knet_header)`: common header plus the largest payload header (ping, 20 bytes).
/// libknet subtracts it when it computes the application MTU.
pub const HEADER_ALL_LEN: usize = 26;
/// Largest user message knet carries (`KNET_MAX_PACKET_SIZE`); also the most bytes knet
/// authenticates in one datagram.
pub const MAX_PACKET_SIZE: usize = 65536;
/// Links per host (`KNET_MAX_LINK`); link ids are 0..8.
pub const MAX_LINK: u8 = 8;
/// Host ids are 16 bits (`KNET_MAX_HOST`).
pub const MAX_HOST: usize = 65536;
/// IPv4 header bytes libknet adds to a UDP payload when it reasons about MTU.
pub const PMTUD_OVERHEAD_V4: usize = 20;
/// IPv6 header bytes.
pub const PMTUD_OVERHEAD_V6: usize = 40;
/// UDP header bytes (the udp transport's `proto_overhead`).
pub const UDP_OVERHEAD: usize = 8;
/// Smallest IPv4 packet libknet assumes every path carries (before PMTUD finishes).
pub const PMTUD_MIN_MTU_V4: usize = 576;
/// Smallest IPv6 packet.
pub const PMTUD_MIN_MTU_V6: usize = 1280;
/// Largest packet PMTUD probes (`KNET_PMTUD_SIZE_V4`).
pub const PMTUD_MAX_SIZE: usize = 65535;
/// corosync 3's default Totem `net_mtu` on the knet transport (`KNET_MAX_PACKET_SIZE`): Totem
/// messages up to this size go to knet whole and knet fragments them to its data MTU.
pub const COROSYNC_KNET_NET_MTU: usize = MAX_PACKET_SIZE;
/// Most fragments one data message can be split into (`frag_num` is a byte).
pub const MAX_FRAGMENTS: usize = 255;
/// IP and UDP header bytes in front of every knet datagram on an IPv4 (or IPv6) path.
pub fn ip_udp_overhead(ipv6: bool) -> usize {
    UDP_OVERHEAD
        + if ipv6 {
            PMTUD_OVERHEAD_V6
        } else {
            PMTUD_OVERHEAD_V4
        }
}
/// knet's failsafe data MTU (`calc_min_mtu`: the IPv4 minimum packet less IPv6 and SCTP
/// overhead (40 + 28) and the largest header).
pub const MIN_DATA_MTU: usize = PMTUD_MIN_MTU_V4 - (PMTUD_OVERHEAD_V6 + 28) - HEADER_ALL_LEN;

/// knet's data MTU (user data bytes per fragment) with crypto off on a path of `link_mtu`
/// bytes; never below [`MIN_DATA_MTU`].
pub fn data_mtu(link_mtu: usize, ipv6: bool) -> usize {
    link_mtu
        .saturating_sub(ip_udp_overhead(ipv6) + HEADER_ALL_LEN)
        .max(MIN_DATA_MTU)
}
/// Default ping interval in ms (`KNET_LINK_DEFAULT_PING_INTERVAL`; corosync sets its own).
pub const DEFAULT_PING_INTERVAL_MS: u64 = 1000;
/// Default PMTUD interval in seconds (`KNET_PMTUD_DEFAULT_INTERVAL`).
pub const DEFAULT_PMTUD_INTERVAL_S: u64 = 60;

/// The part of a frame after the common header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KnetBody {
    /// User data: a whole Totem message when `frag_num == 1`, else one fragment of it.
    Data {
        /// Per-sender sequence number.
        seq: u16,
        /// Compression method id.
        compress: u8,
        /// Pad byte at offset 9.
        pad: u8,
        /// Broadcast flag.
        bcast: u8,
        /// Number of fragments.
        frag_num: u8,
        /// Fragment number (1-based; 0 when unfragmented).
        frag_seq: u8,
        /// Channel.
        channel: u8,
        /// User data.
        payload: Vec<u8>,
    },
    /// Ping or pong.
    Ping(Ping),
    /// PMTUD probe or reply.
    Pmtud(Pmtud),
}

/// One knet frame, owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KnetFrame {
    /// Frame kind.
    pub kind: KnetKind,
    /// Raw type byte (0x00 data, 0x81 ping, 0x82 pong, 0x83 pmtud, 0x84 pmtud reply).
    pub type_byte: u8,
    /// Sender's knet host id (= corosync nodeid).
    pub src_host: u16,
    /// Offsets 4 and 5 (`kh_pad1`, `kh_pad2`), verbatim.
    pub pad: [u8; 2],
    /// Kind-specific payload.
    pub body: KnetBody,
}

impl KnetFrame {
    /// Parses one plaintext knet frame (a whole UDP payload when crypto is off).
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let h = HeaderView::new_checked(buf)?;
        let rest = h.payload();
        let body = match h.kind() {
            KnetKind::Data => {
                let d = DataHeader::parse(rest)?;
                KnetBody::Data {
                    seq: d.seq,
                    compress: d.compress,
                    pad: d.pad,
                    bcast: d.bcast,
                    frag_num: d.frag_num,
                    frag_seq: d.frag_seq,
                    channel: d.channel,
                    payload: rest.get(DATA_LEN..).unwrap_or_default().to_vec(),
                }
            }
            KnetKind::Ping | KnetKind::Pong => KnetBody::Ping(Ping::parse(rest)?),
            KnetKind::Pmtud | KnetKind::PmtudReply => KnetBody::Pmtud(Pmtud::parse(rest)?),
        };
        Ok(KnetFrame {
            kind: h.kind(),
            type_byte: h.type_byte(),
            src_host: h.src_host(),
            pad: h.pad(),
            body,
        })
    }

    /// The data header of a data frame.
    pub fn data_header(&self) -> Option<DataHeader> {
        match &self.body {
            KnetBody::Data {
                seq,
                compress,
                pad,
                bcast,
                frag_num,
                frag_seq,
                channel,
                ..
            } => Some(DataHeader {
                seq: *seq,
                compress: *compress,
                pad: *pad,
                bcast: *bcast,
                frag_num: *frag_num,
                frag_seq: *frag_seq,
                channel: *channel,
            }),
            _ => None,
        }
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match &self.body {
                KnetBody::Data { payload, .. } => DATA_LEN + payload.len(),
                KnetBody::Ping(p) => p.buffer_len(),
                KnetBody::Pmtud(p) => p.buffer_len(),
            }
    }

    /// Writes the frame; the body must match `kind` (data/ping/pmtud family).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let have = buf.len();
        let out = buf.get_mut(..len).ok_or(Error::BufferTooSmall {
            message: "knet",
            need: len,
            have,
        })?;
        let matches = matches!(
            (self.kind, &self.body),
            (KnetKind::Data, KnetBody::Data { .. })
                | (KnetKind::Ping | KnetKind::Pong, KnetBody::Ping(_))
                | (KnetKind::Pmtud | KnetKind::PmtudReply, KnetBody::Pmtud(_))
        );
        if !matches || header::kind_of(self.type_byte) != Some(self.kind) {
            return Err(Error::Invalid {
                message: "knet",
                field: "type",
                offset: 1,
                value: u64::from(self.type_byte),
            });
        }
        let (head, rest) = out.split_at_mut(HEADER_LEN);
        KnetHeader {
            kind: self.kind,
            src_host: self.src_host,
            pad: self.pad,
        }
        .emit(head)?;
        match &self.body {
            KnetBody::Data { payload, .. } => {
                let d = self.data_header().unwrap_or_default();
                let (dh, user) = rest.split_at_mut(DATA_LEN);
                d.emit(dh)?;
                user.copy_from_slice(payload);
            }
            KnetBody::Ping(p) => {
                p.emit(rest)?;
            }
            KnetBody::Pmtud(p) => {
                p.emit(rest)?;
            }
        }
        Ok(len)
    }

    /// The encoded frame.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.buffer_len()];
        let n = self.emit(&mut v).unwrap_or(0);
        v.truncate(n);
        v
    }

    /// The Totem message inside an unfragmented data frame.
    pub fn totem_payload(&self) -> Option<&[u8]> {
        match &self.body {
            KnetBody::Data {
                frag_num: 1,
                payload,
                ..
            } => Some(payload),
            _ => None,
        }
    }
}
