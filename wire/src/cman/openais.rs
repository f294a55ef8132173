//! cman 3.x on openais/corosync 1.x: every cman message travels in totempg group "CMAN" as a
//! 16-byte [`ProtHeader`] (`struct cl_protheader`: tgtport u8, srcport u8, pad u16, flags u32,
//! srcid i32, tgtid i32) followed by the payload. Port 0 payloads are cman's own messages
//! ([`CmanMsg`], first byte `CLUSTER_MSG_*` 1..=11); other ports carry client data.
//! Integers are in the sender's byte order (the receiver swaps when the totem layer says so).

use super::{c_array_text, cstring_to_end};
use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};

/// Length of [`ProtHeader`] on the wire.
pub const PROT_HEADER_LEN: usize = 16;
/// totempg group cman joins.
pub const CMAN_GROUP: &[u8] = b"CMAN";
/// Service id of the cman service engine in corosync 1.x.
pub const CMAN_SERVICE_ID: u16 = 9;
/// Bytes in a port bitmap (256 ports).
pub const PORT_BITS_SIZE: usize = 32;
/// `MAX_BARRIER_NAME_LEN`.
pub const BARRIER_NAME_LEN: usize = 33;
/// Size of `struct cl_barriermsg` (37 bytes of fields, padded to 38).
pub const BARRIER_MSG_LEN: usize = 38;
/// Size of `struct cl_transmsg` without the fence agent string.
pub const TRANSITION_FIXED_LEN: usize = 64;
/// Size of `struct cl_fencemsg` without the agent string.
pub const FENCE_FIXED_LEN: usize = 16;
/// `flags` bit: send with TOTEM_SAFE ordering.
pub const MSG_TOTEM_SAFE: u32 = 0x0400_0000;

const MSG: &str = "cman message";

/// `struct cl_protheader` of cman 3.x.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtHeader {
    /// Target port (0 = cman itself).
    pub tgtport: u8,
    /// Source port.
    pub srcport: u8,
    /// Padding as sent (uninitialised in cman; kept for byte-exact re-encoding).
    pub pad: u16,
    /// Message flags.
    pub flags: u32,
    /// Sender node id.
    pub srcid: i32,
    /// Target node id (0 = everyone).
    pub tgtid: i32,
}

impl ProtHeader {
    /// Decodes the first 16 bytes of `buf`.
    pub fn parse(buf: &[u8], endian: Endian) -> Result<Self> {
        let mut r = Reader::new(buf, endian, "cman cl_protheader");
        Ok(ProtHeader {
            tgtport: r.u8("tgtport")?,
            srcport: r.u8("srcport")?,
            pad: r.u16("pad")?,
            flags: r.u32("flags")?,
            srcid: r.i32("srcid")?,
            tgtid: r.i32("tgtid")?,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.u8(self.tgtport);
        w.u8(self.srcport);
        w.u16(self.pad);
        w.u32(self.flags);
        w.i32(self.srcid);
        w.i32(self.tgtid);
    }
}

/// A zero-copy view of a cman packet (header plus payload).
#[derive(Debug, Clone, Copy)]
pub struct CmanPacketView<'a> {
    buf: &'a [u8],
    endian: Endian,
}

impl<'a> CmanPacketView<'a> {
    /// Checks that the header is complete.
    pub fn new_checked(buf: &'a [u8], endian: Endian) -> Result<Self> {
        if buf.len() < PROT_HEADER_LEN {
            return Err(Error::Truncated {
                message: "cman cl_protheader",
                field: "header",
                offset: 0,
                need: PROT_HEADER_LEN,
                have: buf.len(),
            });
        }
        Ok(CmanPacketView { buf, endian })
    }
    /// Target port.
    pub fn tgtport(&self) -> u8 {
        self.buf[0]
    }
    /// Source port.
    pub fn srcport(&self) -> u8 {
        self.buf[1]
    }
    /// Flags.
    pub fn flags(&self) -> u32 {
        self.endian.get_u32(&self.buf[4..])
    }
    /// Sender node id.
    pub fn srcid(&self) -> i32 {
        self.endian.get_u32(&self.buf[8..]) as i32
    }
    /// Target node id.
    pub fn tgtid(&self) -> i32 {
        self.endian.get_u32(&self.buf[12..]) as i32
    }
    /// The payload after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[PROT_HEADER_LEN..]
    }
}

/// `CLUSTER_MSG_*` command bytes.
pub mod cmd {
    /// ACK (defined, never sent by cman 3.x).
    pub const ACK: u8 = 1;
    /// A client opened a port.
    pub const PORTOPENED: u8 = 2;
    /// A client closed a port.
    pub const PORTCLOSED: u8 = 3;
    /// Barrier operation.
    pub const BARRIER: u8 = 4;
    /// Membership transition: the sender's view of itself.
    pub const TRANSITION: u8 = 5;
    /// Kill a node.
    pub const KILLNODE: u8 = 6;
    /// The sender leaves.
    pub const LEAVE: u8 = 7;
    /// Change a cluster parameter.
    pub const RECONFIGURE: u8 = 8;
    /// Ask for the port bitmap.
    pub const PORTENQ: u8 = 9;
    /// The port bitmap.
    pub const PORTSTATUS: u8 = 10;
    /// A node was fenced.
    pub const FENCESTATUS: u8 = 11;
}

/// `struct cl_transmsg`: sent by every node on each membership change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transition {
    /// First transition after joining.
    pub first_trans: u8,
    /// Cluster id (u16).
    pub cluster_id: u16,
    /// Sender's votes.
    pub votes: i32,
    /// Sender's expected votes.
    pub expected_votes: i32,
    /// Protocol major version (6).
    pub major_version: u32,
    /// Minor version (2).
    pub minor_version: u32,
    /// Patch version (0).
    pub patch_version: u32,
    /// cluster.conf config_version.
    pub config_version: u32,
    /// NODE_FLAGS_* of the sender.
    pub flags: u32,
    /// When the sender was last fenced (time_t).
    pub fence_time: u64,
    /// When cman started on the sender (time_t).
    pub join_time: u64,
    /// `clustername[16]`, raw (NUL padded).
    pub clustername: [u8; 16],
    /// Fence agent that last fenced the sender, without its NUL (may be empty).
    pub fence_agent: Vec<u8>,
}

/// One cman port-0 message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CmanMsg {
    /// CLUSTER_MSG_ACK with whatever followed the command byte.
    Ack(Vec<u8>),
    /// `cl_portmsg` PORTOPENED.
    PortOpened {
        /// Port.
        port: u8,
    },
    /// `cl_portmsg` PORTCLOSED.
    PortClosed {
        /// Port.
        port: u8,
    },
    /// `cl_barriermsg`.
    Barrier {
        /// BARRIER_REGISTER 1, CHANGE 2, WAIT 4, COMPLETE 5.
        subcmd: u8,
        /// Padding as sent.
        pad: u16,
        /// `name[33]`, raw.
        name: [u8; BARRIER_NAME_LEN],
        /// Trailing struct padding byte as sent.
        tail: u8,
    },
    /// `cl_transmsg`.
    Transition(Transition),
    /// `cl_killmsg`.
    KillNode {
        /// Padding byte as sent.
        pad1: u8,
        /// CLUSTER_KILL_REJECTED 1, CMANTOOL 2, REJOIN 3.
        reason: u16,
        /// Node to kill.
        nodeid: i32,
    },
    /// `cl_leavemsg`.
    Leave {
        /// Padding byte as sent.
        pad1: u8,
        /// Leave reason.
        reason: u16,
    },
    /// `cl_reconfig_msg`.
    Reconfigure {
        /// RECONFIG_PARAM_EXPECTED_VOTES 1, NODE_VOTES 2, CONFIG_VERSION 3, CCS 4.
        param: u8,
        /// Padding as sent.
        pad: u16,
        /// Node concerned.
        nodeid: i32,
        /// New value.
        value: u32,
    },
    /// PORTENQ (the command byte only).
    PortEnq,
    /// PORTSTATUS with the sender's 256-bit port bitmap.
    PortStatus {
        /// Bitmap, bit n of byte n/8 = port n open.
        ports: [u8; PORT_BITS_SIZE],
    },
    /// `cl_fencemsg`.
    FenceStatus {
        /// 1 = fenced now, 0 = fence data for a rejoining node.
        fenced: u8,
        /// Padding as sent.
        pad: u16,
        /// Node fenced.
        nodeid: i32,
        /// When (time_t).
        timesec: u64,
        /// Fence agent, without its NUL.
        agent: Vec<u8>,
    },
}

fn exact(r: &Reader, need_total: usize, have_total: usize) -> Result<()> {
    if have_total != need_total {
        return Err(Error::Invalid {
            message: MSG,
            field: "length",
            offset: r.pos(),
            value: have_total as u64,
        });
    }
    Ok(())
}

impl CmanMsg {
    /// Decodes a port-0 payload (after the [`ProtHeader`]).
    pub fn parse(buf: &[u8], endian: Endian) -> Result<Self> {
        let mut r = Reader::new(buf, endian, MSG);
        let c = r.u8("cmd")?;
        let n = buf.len();
        let m = match c {
            cmd::ACK => CmanMsg::Ack(r.rest().to_vec()),
            cmd::PORTOPENED | cmd::PORTCLOSED => {
                let port = r.u8("port")?;
                exact(&r, 2, n)?;
                if c == cmd::PORTOPENED {
                    CmanMsg::PortOpened { port }
                } else {
                    CmanMsg::PortClosed { port }
                }
            }
            cmd::BARRIER => {
                let subcmd = r.u8("subcmd")?;
                let pad = r.u16("pad")?;
                let name = r.array::<BARRIER_NAME_LEN>("name")?;
                let tail = r.u8("struct padding")?;
                exact(&r, BARRIER_MSG_LEN, n)?;
                CmanMsg::Barrier {
                    subcmd,
                    pad,
                    name,
                    tail,
                }
            }
            cmd::TRANSITION => {
                let first_trans = r.u8("first_trans")?;
                let cluster_id = r.u16("cluster_id")?;
                let votes = r.i32("votes")?;
                let expected_votes = r.i32("expected_votes")?;
                let major_version = r.u32("major_version")?;
                let minor_version = r.u32("minor_version")?;
                let patch_version = r.u32("patch_version")?;
                let config_version = r.u32("config_version")?;
                let flags = r.u32("flags")?;
                let fence_time = r.u64("fence_time")?;
                let join_time = r.u64("join_time")?;
                let clustername = r.array::<16>("clustername")?;
                let fence_agent = cstring_to_end(&mut r, MSG, "fence_agent")?.to_vec();
                CmanMsg::Transition(Transition {
                    first_trans,
                    cluster_id,
                    votes,
                    expected_votes,
                    major_version,
                    minor_version,
                    patch_version,
                    config_version,
                    flags,
                    fence_time,
                    join_time,
                    clustername,
                    fence_agent,
                })
            }
            cmd::KILLNODE => {
                let pad1 = r.u8("pad1")?;
                let reason = r.u16("reason")?;
                let nodeid = r.i32("nodeid")?;
                exact(&r, 8, n)?;
                CmanMsg::KillNode {
                    pad1,
                    reason,
                    nodeid,
                }
            }
            cmd::LEAVE => {
                let pad1 = r.u8("pad1")?;
                let reason = r.u16("reason")?;
                exact(&r, 4, n)?;
                CmanMsg::Leave { pad1, reason }
            }
            cmd::RECONFIGURE => {
                let param = r.u8("param")?;
                let pad = r.u16("pad")?;
                let nodeid = r.i32("nodeid")?;
                let value = r.u32("value")?;
                exact(&r, 12, n)?;
                CmanMsg::Reconfigure {
                    param,
                    pad,
                    nodeid,
                    value,
                }
            }
            cmd::PORTENQ => {
                exact(&r, 1, n)?;
                CmanMsg::PortEnq
            }
            cmd::PORTSTATUS => {
                let ports = r.array::<PORT_BITS_SIZE>("port_bits")?;
                exact(&r, 1 + PORT_BITS_SIZE, n)?;
                CmanMsg::PortStatus { ports }
            }
            cmd::FENCESTATUS => {
                let fenced = r.u8("fenced")?;
                let pad = r.u16("pad")?;
                let nodeid = r.i32("nodeid")?;
                let timesec = r.u64("timesec")?;
                let agent = cstring_to_end(&mut r, MSG, "agent")?.to_vec();
                CmanMsg::FenceStatus {
                    fenced,
                    pad,
                    nodeid,
                    timesec,
                    agent,
                }
            }
            other => {
                return Err(Error::Invalid {
                    message: MSG,
                    field: "cmd",
                    offset: 0,
                    value: u64::from(other),
                })
            }
        };
        Ok(m)
    }

    /// The command byte.
    pub fn cmd(&self) -> u8 {
        match self {
            CmanMsg::Ack(_) => cmd::ACK,
            CmanMsg::PortOpened { .. } => cmd::PORTOPENED,
            CmanMsg::PortClosed { .. } => cmd::PORTCLOSED,
            CmanMsg::Barrier { .. } => cmd::BARRIER,
            CmanMsg::Transition(_) => cmd::TRANSITION,
            CmanMsg::KillNode { .. } => cmd::KILLNODE,
            CmanMsg::Leave { .. } => cmd::LEAVE,
            CmanMsg::Reconfigure { .. } => cmd::RECONFIGURE,
            CmanMsg::PortEnq => cmd::PORTENQ,
            CmanMsg::PortStatus { .. } => cmd::PORTSTATUS,
            CmanMsg::FenceStatus { .. } => cmd::FENCESTATUS,
        }
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        match self {
            CmanMsg::Ack(b) => 1 + b.len(),
            CmanMsg::PortOpened { .. } | CmanMsg::PortClosed { .. } => 2,
            CmanMsg::Barrier { .. } => BARRIER_MSG_LEN,
            CmanMsg::Transition(t) => TRANSITION_FIXED_LEN + t.fence_agent.len() + 1,
            CmanMsg::KillNode { .. } => 8,
            CmanMsg::Leave { .. } => 4,
            CmanMsg::Reconfigure { .. } => 12,
            CmanMsg::PortEnq => 1,
            CmanMsg::PortStatus { .. } => 1 + PORT_BITS_SIZE,
            CmanMsg::FenceStatus { agent, .. } => FENCE_FIXED_LEN + agent.len() + 1,
        }
    }

    /// Encodes into `buf` in byte order `endian`; returns the bytes written. Strings must not
    /// contain NUL.
    pub fn emit(&self, buf: &mut [u8], endian: Endian) -> Result<usize> {
        let mut w = Writer::new(buf, endian, MSG, self.buffer_len())?;
        self.write(&mut w)?;
        Ok(w.pos())
    }

    fn write(&self, w: &mut Writer) -> Result<()> {
        w.u8(self.cmd());
        match self {
            CmanMsg::Ack(b) => w.bytes(b),
            CmanMsg::PortOpened { port } | CmanMsg::PortClosed { port } => w.u8(*port),
            CmanMsg::Barrier {
                subcmd,
                pad,
                name,
                tail,
            } => {
                w.u8(*subcmd);
                w.u16(*pad);
                w.bytes(name);
                w.u8(*tail);
            }
            CmanMsg::Transition(t) => {
                no_nul(&t.fence_agent, "fence_agent", TRANSITION_FIXED_LEN)?;
                w.u8(t.first_trans);
                w.u16(t.cluster_id);
                w.i32(t.votes);
                w.i32(t.expected_votes);
                w.u32(t.major_version);
                w.u32(t.minor_version);
                w.u32(t.patch_version);
                w.u32(t.config_version);
                w.u32(t.flags);
                w.u64(t.fence_time);
                w.u64(t.join_time);
                w.bytes(&t.clustername);
                w.bytes(&t.fence_agent);
                w.u8(0);
            }
            CmanMsg::KillNode {
                pad1,
                reason,
                nodeid,
            } => {
                w.u8(*pad1);
                w.u16(*reason);
                w.i32(*nodeid);
            }
            CmanMsg::Leave { pad1, reason } => {
                w.u8(*pad1);
                w.u16(*reason);
            }
            CmanMsg::Reconfigure {
                param,
                pad,
                nodeid,
                value,
            } => {
                w.u8(*param);
                w.u16(*pad);
                w.i32(*nodeid);
                w.u32(*value);
            }
            CmanMsg::PortEnq => {}
            CmanMsg::PortStatus { ports } => w.bytes(ports),
            CmanMsg::FenceStatus {
                fenced,
                pad,
                nodeid,
                timesec,
                agent,
            } => {
                no_nul(agent, "agent", FENCE_FIXED_LEN)?;
                w.u8(*fenced);
                w.u16(*pad);
                w.i32(*nodeid);
                w.u64(*timesec);
                w.bytes(agent);
                w.u8(0);
            }
        }
        Ok(())
    }
}

fn no_nul(s: &[u8], field: &'static str, base: usize) -> Result<()> {
    match s.iter().position(|&b| b == 0) {
        Some(i) => Err(Error::Invalid {
            message: MSG,
            field,
            offset: base + i,
            value: 0,
        }),
        None => Ok(()),
    }
}

impl Transition {
    /// The cluster name (up to the first NUL).
    pub fn clustername_text(&self) -> String {
        c_array_text(&self.clustername)
    }
}

/// Payload of a cman packet: cman's own message (port 0) or client data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Payload {
    /// Target port 0.
    Cman(CmanMsg),
    /// Any other target port: opaque client bytes.
    Data(Vec<u8>),
}

/// A whole cman packet as carried in the "CMAN" totempg group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CmanPacket {
    /// The header.
    pub header: ProtHeader,
    /// The payload.
    pub payload: Payload,
}

impl CmanPacket {
    /// Decodes a packet; port-0 payloads are decoded as [`CmanMsg`].
    pub fn parse(buf: &[u8], endian: Endian) -> Result<Self> {
        let v = CmanPacketView::new_checked(buf, endian)?;
        let header = ProtHeader::parse(buf, endian)?;
        let payload = if header.tgtport == 0 {
            Payload::Cman(
                CmanMsg::parse(v.payload(), endian).map_err(|e| shift(e, PROT_HEADER_LEN))?,
            )
        } else {
            Payload::Data(v.payload().to_vec())
        };
        Ok(CmanPacket { header, payload })
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        PROT_HEADER_LEN
            + match &self.payload {
                Payload::Cman(m) => m.buffer_len(),
                Payload::Data(d) => d.len(),
            }
    }

    /// Encodes into `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8], endian: Endian) -> Result<usize> {
        let mut w = Writer::new(buf, endian, "cman packet", self.buffer_len())?;
        self.header.write(&mut w);
        match &self.payload {
            Payload::Cman(m) => m.write(&mut w)?,
            Payload::Data(d) => w.bytes(d),
        }
        Ok(w.pos())
    }
}

/// Moves an error's offset by `by` (for errors from a nested decoder).
pub(crate) fn shift(e: Error, by: usize) -> Error {
    match e {
        Error::Truncated {
            message,
            field,
            offset,
            need,
            have,
        } => Error::Truncated {
            message,
            field,
            offset: offset + by,
            need,
            have,
        },
        Error::Invalid {
            message,
            field,
            offset,
            value,
        } => Error::Invalid {
            message,
            field,
            offset: offset + by,
            value,
        },
        other => other,
    }
}
