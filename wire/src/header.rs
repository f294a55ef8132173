//! The SRP common header that starts every Totem message (8 bytes in G1/G2, 13 in G3).

use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};
use crate::generation::Generation;

/// G1/G2 endian detector value, read in the sender's order.
pub const ENDIAN_DETECTOR: u16 = 0xFF22;
/// G3 magic, read in the sender's order.
pub const MAGIC: u16 = 0xC070;
/// The only G3 header version.
pub const VERSION: u8 = 3;

/// `encapsulated` value of a fresh mcast.
pub const NOT_ENCAPSULATED: u8 = 2;
/// `encapsulated` value of an mcast re-sent during recovery (its payload is an old-ring mcast).
pub const ENCAPSULATED: u8 = 1;

/// Totem SRP message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    OrfToken = 0,
    Mcast = 1,
    MembMergeDetect = 2,
    MembJoin = 3,
    MembCommitToken = 4,
    TokenHoldCancel = 5,
    /// RRP ring test, G1/G2 only.
    RingTestActive = 6,
    /// RRP ring re-activation, G1/G2 only.
    RingTestActivate = 7,
}

impl MessageType {
    /// The type for a wire value valid in `gen`.
    pub fn from_u8(v: u8, gen: Generation) -> Option<Self> {
        Some(match v {
            0 => MessageType::OrfToken,
            1 => MessageType::Mcast,
            2 => MessageType::MembMergeDetect,
            3 => MessageType::MembJoin,
            4 => MessageType::MembCommitToken,
            5 => MessageType::TokenHoldCancel,
            6 if gen != Generation::G3 => MessageType::RingTestActive,
            7 if gen != Generation::G3 => MessageType::RingTestActivate,
            _ => return None,
        })
    }
    /// Whether the header's nodeid is the node that sent this datagram: not for an mcast
    /// (a retransmitted one keeps its originator's nodeid) nor for a ring test (whose header
    /// holds the ring number there). What learns addresses from datagrams asks this.
    pub fn names_sender(self) -> bool {
        !matches!(
            self,
            MessageType::Mcast | MessageType::RingTestActive | MessageType::RingTestActivate
        )
    }
    /// corosync's name for the message.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::OrfToken => "orf_token",
            MessageType::Mcast => "mcast",
            MessageType::MembMergeDetect => "memb_merge_detect",
            MessageType::MembJoin => "memb_join",
            MessageType::MembCommitToken => "memb_commit_token",
            MessageType::TokenHoldCancel => "token_hold_cancel",
            MessageType::RingTestActive => "ring_test_active",
            MessageType::RingTestActivate => "ring_test_activate",
        }
    }
}

/// The common header, owned.
///
/// `encapsulated` is kept as a raw byte: only mcast gives it meaning, and openais leaves
/// garbage there in other messages. `target_nodeid` exists only in G3 and is uninitialised
/// memory on udp/udpu, so it is carried, never interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub generation: Generation,
    pub endian: Endian,
    pub msg_type: MessageType,
    pub encapsulated: u8,
    pub nodeid: u32,
    pub target_nodeid: u32,
}

impl Header {
    /// A header for a new message, little-endian.
    pub fn new(generation: Generation, msg_type: MessageType, nodeid: u32) -> Self {
        Header {
            generation,
            endian: Endian::Little,
            msg_type,
            encapsulated: if msg_type == MessageType::Mcast {
                NOT_ENCAPSULATED
            } else {
                0
            },
            nodeid,
            target_nodeid: 0,
        }
    }

    /// Finds the byte order of a message of generation `gen` from its first bytes.
    pub fn sniff_endian(buf: &[u8], gen: Generation) -> Result<Endian> {
        let (off, want, field) = match gen {
            Generation::G3 => (0, MAGIC, "magic"),
            _ => (2, ENDIAN_DETECTOR, "endian_detector"),
        };
        if buf.len() < off + 2 {
            return Err(Error::Truncated {
                message: "header",
                field,
                offset: off,
                need: 2,
                have: buf.len().saturating_sub(off),
            });
        }
        let b = &buf[off..off + 2];
        if Endian::Little.get_u16(b) == want {
            Ok(Endian::Little)
        } else if Endian::Big.get_u16(b) == want {
            Ok(Endian::Big)
        } else {
            Err(Error::Invalid {
                message: "header",
                field,
                offset: off,
                value: u64::from(Endian::Little.get_u16(b)),
            })
        }
    }

    /// Reads the header of a message of generation `gen`, checking magic/detector and version.
    pub fn parse(buf: &[u8], gen: Generation) -> Result<Self> {
        let endian = Self::sniff_endian(buf, gen)?;
        let mut r = Reader::new(buf, endian, "header");
        let (type_byte, encapsulated, nodeid, target_nodeid);
        match gen {
            Generation::G3 => {
                r.u16("magic")?;
                let v = r.u8("version")?;
                if v != VERSION {
                    return Err(r.invalid("version", 2, u64::from(v)));
                }
                type_byte = r.u8("type")?;
                encapsulated = r.u8("encapsulated")?;
                nodeid = r.u32("nodeid")?;
                target_nodeid = r.u32("target_nodeid")?;
            }
            _ => {
                type_byte = r.u8("type")?;
                encapsulated = r.u8("encapsulated")?;
                r.u16("endian_detector")?;
                nodeid = r.u32("nodeid")?;
                target_nodeid = 0;
            }
        }
        let at = if gen == Generation::G3 { 3 } else { 0 };
        let msg_type = MessageType::from_u8(type_byte, gen)
            .ok_or_else(|| r.invalid("type", at, u64::from(type_byte)))?;
        Ok(Header {
            generation: gen,
            endian,
            msg_type,
            encapsulated,
            nodeid,
            target_nodeid,
        })
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        self.generation.header_len()
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        match self.generation {
            Generation::G3 => {
                w.u16(MAGIC);
                w.u8(VERSION);
                w.u8(self.msg_type as u8);
                w.u8(self.encapsulated);
                w.u32(self.nodeid);
                w.u32(self.target_nodeid);
            }
            _ => {
                w.u8(self.msg_type as u8);
                w.u8(self.encapsulated);
                w.u16(ENDIAN_DETECTOR);
                w.u32(self.nodeid);
            }
        }
    }
}

/// A zero-copy view of the common header.
#[derive(Debug, Clone, Copy)]
pub struct HeaderView<'a> {
    buf: &'a [u8],
    generation: Generation,
    endian: Endian,
    msg_type: MessageType,
}

impl<'a> HeaderView<'a> {
    /// Validates the header once; getters cannot fail afterwards.
    pub fn new_checked(buf: &'a [u8], generation: Generation) -> Result<Self> {
        let h = Header::parse(buf, generation)?;
        Ok(HeaderView {
            buf,
            generation,
            endian: h.endian,
            msg_type: h.msg_type,
        })
    }
    pub fn generation(&self) -> Generation {
        self.generation
    }
    pub fn endian(&self) -> Endian {
        self.endian
    }
    pub fn msg_type(&self) -> MessageType {
        self.msg_type
    }
    pub fn encapsulated(&self) -> u8 {
        self.buf[if self.generation == Generation::G3 {
            4
        } else {
            1
        }]
    }
    pub fn nodeid(&self) -> u32 {
        let off = if self.generation == Generation::G3 {
            5
        } else {
            4
        };
        self.endian.get_u32(&self.buf[off..])
    }
    /// The whole message the header belongs to.
    pub fn message(&self) -> &'a [u8] {
        self.buf
    }
}
