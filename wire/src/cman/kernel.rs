//! The RHEL4 kernel cman protocol (cman-kernel, protocol 5.0.1): UDP port 6809, every packet
//! starts with the 20-byte [`KernelHeader`] (`struct cl_protheader`: tgtport u8, srcport u8,
//! seq u16, ack u16, cluster u16, flags u32, srcid i32, tgtid i32). Packets for port 1
//! ([`MEMBERSHIP_PORT`]) carry the membership messages ([`MembMsg`], `CLUSTER_MEM_*` 1..=18).
//! Everything is little-endian (the kernel converts with cpu_to_le*).
//!
//! Header revisions: the first cman-kernel check-in (June 2004) had a 16-byte header (port u8,
//! flags u8, cluster u16, seq u16, 2 bytes padding, srcid, tgtid); an inline `ack` u16 came in
//! August 2004, and from October 2004 to the RHEL4 end of life the header is the 20-byte one
//! decoded here (tgtport/srcport split out, flags widened to u32). No revision had 12 bytes.
//!
//! Node addresses inside messages are raw sockaddrs of the cluster's address length (16 for
//! IPv4 `sockaddr_in`, 28 for IPv6): JOINREQ states it, the other messages need it from the
//! caller (`addr_len`).

use super::{c_array_text, cstring_to_end};
use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};

/// UDP port of the kernel cman.
pub const CMAN_KERNEL_PORT: u16 = 6809;
/// Length of [`KernelHeader`].
pub const KERNEL_HEADER_LEN: usize = 20;
/// cman port of the membership service.
pub const MEMBERSHIP_PORT: u8 = 1;
/// Fixed part of JOINREQ (`struct cl_mem_join_msg`).
pub const JOINREQ_FIXED_LEN: usize = 48;
/// Fixed part of STARTTRANS / NOMINATE (`struct cl_mem_starttrans_msg`, 18 bytes + 2 padding).
pub const STARTTRANS_FIXED_LEN: usize = 20;
/// Longest sockaddr cman-kernel sends (`sockaddr_in6` = 28; `sockaddr_storage` = 128 bounds it).
pub const MAX_ADDR_LEN: usize = 128;

const LE: Endian = Endian::Little;
const MSG: &str = "cman-kernel membership message";

/// `struct cl_protheader` of the kernel cman.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelHeader {
    /// Target port (1 = membership).
    pub tgtport: u8,
    /// Source port.
    pub srcport: u8,
    /// Packet sequence number.
    pub seq: u16,
    /// Inline ACK of the peer's sequence number.
    pub ack: u16,
    /// Cluster number.
    pub cluster: u16,
    /// MSG_* flags.
    pub flags: u32,
    /// Sender node id.
    pub srcid: i32,
    /// Target node id (0 = multicast).
    pub tgtid: i32,
}

impl KernelHeader {
    /// Decodes the first 20 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf, LE, "cman-kernel header");
        Ok(KernelHeader {
            tgtport: r.u8("tgtport")?,
            srcport: r.u8("srcport")?,
            seq: r.u16("seq")?,
            ack: r.u16("ack")?,
            cluster: r.u16("cluster")?,
            flags: r.u32("flags")?,
            srcid: r.i32("srcid")?,
            tgtid: r.i32("tgtid")?,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.u8(self.tgtport);
        w.u8(self.srcport);
        w.u16(self.seq);
        w.u16(self.ack);
        w.u16(self.cluster);
        w.u32(self.flags);
        w.i32(self.srcid);
        w.i32(self.tgtid);
    }
}

/// A zero-copy view of a kernel cman datagram.
#[derive(Debug, Clone, Copy)]
pub struct KernelPacketView<'a> {
    buf: &'a [u8],
}

impl<'a> KernelPacketView<'a> {
    /// Checks that the header is complete.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        if buf.len() < KERNEL_HEADER_LEN {
            return Err(Error::Truncated {
                message: "cman-kernel header",
                field: "header",
                offset: 0,
                need: KERNEL_HEADER_LEN,
                have: buf.len(),
            });
        }
        Ok(KernelPacketView { buf })
    }
    /// Target port.
    pub fn tgtport(&self) -> u8 {
        self.buf[0]
    }
    /// Sequence number.
    pub fn seq(&self) -> u16 {
        LE.get_u16(&self.buf[2..])
    }
    /// Cluster number.
    pub fn cluster(&self) -> u16 {
        LE.get_u16(&self.buf[6..])
    }
    /// Sender node id.
    pub fn srcid(&self) -> i32 {
        LE.get_u32(&self.buf[12..]) as i32
    }
    /// Target node id.
    pub fn tgtid(&self) -> i32 {
        LE.get_u32(&self.buf[16..]) as i32
    }
    /// Bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[KERNEL_HEADER_LEN..]
    }
}

/// `CLUSTER_MEM_*` command bytes.
pub mod cmd {
    /// Master confirms a join, with the cluster view.
    pub const JOINCONF: u8 = 1;
    /// A node asks to join.
    pub const JOINREQ: u8 = 2;
    /// A node leaves.
    pub const LEAVE: u8 = 3;
    /// Heartbeat.
    pub const HELLO: u8 = 4;
    /// Kill the recipient.
    pub const KILL: u8 = 5;
    /// Reply to JOINREQ.
    pub const JOINACK: u8 = 6;
    /// End of a state transition.
    pub const ENDTRANS: u8 = 7;
    /// Change a parameter.
    pub const RECONFIG: u8 = 8;
    /// Master's view of the cluster.
    pub const MASTERVIEW: u8 = 9;
    /// Start a state transition.
    pub const STARTTRANS: u8 = 10;
    /// Join rejected (defined, no sender in cman-kernel).
    pub const JOINREJ: u8 = 11;
    /// Reply to MASTERVIEW.
    pub const VIEWACK: u8 = 12;
    /// Reply to STARTTRANS.
    pub const STARTACK: u8 = 13;
    /// (defined, no sender in cman-kernel).
    pub const TRANSITION: u8 = 14;
    /// A node forms a new cluster.
    pub const NEWCLUSTER: u8 = 15;
    /// Reply to JOINCONF.
    pub const CONFACK: u8 = 16;
    /// Ask a node to become master (a STARTTRANS layout).
    pub const NOMINATE: u8 = 17;
    /// A node died.
    pub const NODEDOWN: u8 = 18;
}

/// One node of a JOINCONF / MASTERVIEW view.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ViewNode {
    /// Node name (length-prefixed on the wire, at most 255 bytes).
    pub name: Vec<u8>,
    /// NODESTATE_* (member, dead, ...).
    pub state: u8,
    /// Raw sockaddrs, each `addr_len` bytes.
    pub addrs: Vec<Vec<u8>>,
    /// Votes.
    pub votes: u8,
    /// Expected votes.
    pub expected_votes: u32,
    /// Node id.
    pub nodeid: u32,
}

/// `struct cl_mem_join_msg` plus its addresses and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JoinReq {
    /// Votes.
    pub votes: u8,
    /// Expected votes.
    pub expected_votes: u32,
    /// Node id wanted (0 = assign).
    pub nodeid: u32,
    /// Protocol major (5).
    pub major_version: u32,
    /// Minor (0).
    pub minor_version: u32,
    /// Patch (1).
    pub patch_version: u32,
    /// Config version.
    pub config_version: u32,
    /// Length of each address.
    pub addr_len: u32,
    /// `clustername[16]`, raw.
    pub clustername: [u8; 16],
    /// Raw sockaddrs, `addr_len` bytes each.
    pub addrs: Vec<Vec<u8>>,
    /// Node name, without its NUL.
    pub name: Vec<u8>,
}

impl JoinReq {
    /// The cluster name (up to the first NUL).
    pub fn clustername_text(&self) -> String {
        c_array_text(&self.clustername)
    }
}

/// `struct cl_mem_starttrans_msg` (STARTTRANS and NOMINATE).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StartTrans {
    /// TRANS_* reason.
    pub reason: u8,
    /// Leave reason of the node concerned.
    pub flags: u8,
    /// Its votes.
    pub votes: u8,
    /// Its expected votes.
    pub expected_votes: u32,
    /// New generation.
    pub generation: u32,
    /// Node concerned.
    pub nodeid: i32,
    /// Struct padding after num_addrs, as sent.
    pub pad: u16,
    /// For TRANS_NEWNODE: the new node's raw addresses and name; `None` if nothing follows.
    pub new_node: Option<(Vec<Vec<u8>>, Vec<u8>)>,
}

/// One membership message (port 1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MembMsg {
    /// JOINCONF: flags (bit 0 first packet, bit 1 last) and nodes.
    JoinConf {
        /// Packet flags.
        flags: u8,
        /// Nodes.
        nodes: Vec<ViewNode>,
    },
    /// JOINREQ.
    JoinReq(JoinReq),
    /// LEAVE with its flags (reason).
    Leave {
        /// Leave flags.
        flags: u8,
    },
    /// `cl_mem_hello_msg`.
    Hello {
        /// HELLO_FLAG_MASTER 1, QUORATE 2.
        flags: u8,
        /// Cluster member count.
        members: u16,
        /// Generation.
        generation: u32,
    },
    /// KILL (command byte only).
    Kill,
    /// `cl_mem_joinack_msg`.
    JoinAck {
        /// JOINACK_TYPE_OK 1, NAK 2, WAIT 3.
        acktype: u8,
    },
    /// `cl_mem_endtrans_msg`.
    EndTrans {
        /// Padding as sent.
        pad1: u8,
        /// Padding as sent.
        pad2: u16,
        /// Quorum.
        quorum: u32,
        /// Total votes.
        total_votes: u32,
        /// Generation.
        generation: u32,
        /// Node id given to a joining node.
        new_node_id: u32,
    },
    /// `cl_mem_reconfig_msg`.
    Reconfig {
        /// RECONFIG_PARAM_*.
        param: u8,
        /// Padding as sent.
        pad: u16,
        /// Value.
        value: u32,
    },
    /// MASTERVIEW (JOINCONF layout).
    MasterView {
        /// Packet flags.
        flags: u8,
        /// Nodes.
        nodes: Vec<ViewNode>,
    },
    /// STARTTRANS.
    StartTrans(StartTrans),
    /// VIEWACK: 1 = view agrees.
    ViewAck {
        /// Agreement.
        ack: u8,
    },
    /// `cl_mem_startack_msg`.
    StartAck {
        /// Reason.
        reason: u8,
        /// Padding as sent.
        pad: u16,
        /// Generation.
        generation: u32,
    },
    /// NEWCLUSTER with the low 32 bits of the sender's IP.
    NewCluster {
        /// Low 32 bits of the IP address.
        lowip: u32,
    },
    /// CONFACK (command byte only).
    ConfAck,
    /// NOMINATE (STARTTRANS layout).
    Nominate(StartTrans),
    /// `cl_mem_nodedown_msg`.
    NodeDown {
        /// Reason.
        reason: u8,
        /// Padding as sent.
        pad: u16,
        /// Node that died.
        nodeid: u32,
    },
    /// JOINREJ / TRANSITION: defined but never sent by cman-kernel; kept raw.
    Other {
        /// Command byte.
        cmd: u8,
        /// Bytes after it.
        body: Vec<u8>,
    },
}

fn exact(r: &Reader, total: usize, need: usize) -> Result<()> {
    if total != need {
        return Err(Error::Invalid {
            message: MSG,
            field: "length",
            offset: r.pos(),
            value: total as u64,
        });
    }
    Ok(())
}

fn check_addr_len(addr_len: usize, at: usize) -> Result<()> {
    if addr_len == 0 || addr_len > MAX_ADDR_LEN {
        return Err(Error::Invalid {
            message: MSG,
            field: "addr_len",
            offset: at,
            value: addr_len as u64,
        });
    }
    Ok(())
}

fn read_addrs(r: &mut Reader, n: usize, addr_len: usize) -> Result<Vec<Vec<u8>>> {
    let need = n
        .checked_mul(addr_len)
        .ok_or_else(|| r.truncated("addresses", usize::MAX))?;
    if need > r.remaining() {
        return Err(r.truncated("addresses", need));
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(r.bytes("address", addr_len)?.to_vec());
    }
    Ok(v)
}

fn read_view(r: &mut Reader, addr_len: usize) -> Result<(u8, Vec<ViewNode>)> {
    check_addr_len(addr_len, r.pos())?;
    let flags = r.u8("flags")?;
    let mut nodes = Vec::new();
    while r.remaining() > 0 {
        let len = usize::from(r.u8("name length")?);
        let name = r.bytes("name", len)?.to_vec();
        let state = r.u8("state")?;
        let n = usize::from(r.u16("num_addrs")?);
        let addrs = read_addrs(r, n, addr_len)?;
        let votes = r.u8("votes")?;
        let expected_votes = r.u32("expected_votes")?;
        let nodeid = r.u32("nodeid")?;
        nodes.push(ViewNode {
            name,
            state,
            addrs,
            votes,
            expected_votes,
            nodeid,
        });
    }
    Ok((flags, nodes))
}

fn read_starttrans(r: &mut Reader, addr_len: usize) -> Result<StartTrans> {
    let reason = r.u8("reason")?;
    let flags = r.u8("flags")?;
    let votes = r.u8("votes")?;
    let expected_votes = r.u32("expected_votes")?;
    let generation = r.u32("generation")?;
    let nodeid = r.i32("nodeid")?;
    let n = usize::from(r.u16("num_addrs")?);
    let pad = r.u16("struct padding")?;
    let new_node = if r.remaining() == 0 && n == 0 {
        None
    } else {
        check_addr_len(addr_len, r.pos())?;
        let addrs = read_addrs(r, n, addr_len)?;
        let name = cstring_to_end(r, MSG, "name")?.to_vec();
        Some((addrs, name))
    };
    Ok(StartTrans {
        reason,
        flags,
        votes,
        expected_votes,
        generation,
        nodeid,
        pad,
        new_node,
    })
}

impl MembMsg {
    /// Decodes a membership payload; `addr_len` is the cluster's address length (used by
    /// JOINCONF, MASTERVIEW, STARTTRANS and NOMINATE; JOINREQ carries its own).
    pub fn parse(buf: &[u8], addr_len: usize) -> Result<Self> {
        let mut r = Reader::new(buf, LE, MSG);
        let c = r.u8("cmd")?;
        let n = buf.len();
        let m = match c {
            cmd::JOINCONF | cmd::MASTERVIEW => {
                let (flags, nodes) = read_view(&mut r, addr_len)?;
                if c == cmd::JOINCONF {
                    MembMsg::JoinConf { flags, nodes }
                } else {
                    MembMsg::MasterView { flags, nodes }
                }
            }
            cmd::JOINREQ => {
                let votes = r.u8("votes")?;
                let num_addr = usize::from(r.u16("num_addr")?);
                let expected_votes = r.u32("expected_votes")?;
                let nodeid = r.u32("nodeid")?;
                let major_version = r.u32("major_version")?;
                let minor_version = r.u32("minor_version")?;
                let patch_version = r.u32("patch_version")?;
                let config_version = r.u32("config_version")?;
                let at = r.pos();
                let addr_len = r.u32("addr_len")?;
                let clustername = r.array::<16>("clustername")?;
                let al = usize::try_from(addr_len).unwrap_or(usize::MAX);
                if num_addr > 0 {
                    check_addr_len(al, at)?;
                }
                let addrs = read_addrs(&mut r, num_addr, al.max(1))?;
                let name = cstring_to_end(&mut r, MSG, "name")?.to_vec();
                MembMsg::JoinReq(JoinReq {
                    votes,
                    expected_votes,
                    nodeid,
                    major_version,
                    minor_version,
                    patch_version,
                    config_version,
                    addr_len,
                    clustername,
                    addrs,
                    name,
                })
            }
            cmd::LEAVE => {
                let flags = r.u8("flags")?;
                exact(&r, n, 2)?;
                MembMsg::Leave { flags }
            }
            cmd::HELLO => {
                let flags = r.u8("flags")?;
                let members = r.u16("members")?;
                let generation = r.u32("generation")?;
                exact(&r, n, 8)?;
                MembMsg::Hello {
                    flags,
                    members,
                    generation,
                }
            }
            cmd::KILL => {
                exact(&r, n, 1)?;
                MembMsg::Kill
            }
            cmd::JOINACK => {
                let acktype = r.u8("acktype")?;
                exact(&r, n, 2)?;
                MembMsg::JoinAck { acktype }
            }
            cmd::ENDTRANS => {
                let pad1 = r.u8("pad1")?;
                let pad2 = r.u16("pad2")?;
                let quorum = r.u32("quorum")?;
                let total_votes = r.u32("total_votes")?;
                let generation = r.u32("generation")?;
                let new_node_id = r.u32("new_node_id")?;
                exact(&r, n, 20)?;
                MembMsg::EndTrans {
                    pad1,
                    pad2,
                    quorum,
                    total_votes,
                    generation,
                    new_node_id,
                }
            }
            cmd::RECONFIG => {
                let param = r.u8("param")?;
                let pad = r.u16("pad")?;
                let value = r.u32("value")?;
                exact(&r, n, 8)?;
                MembMsg::Reconfig { param, pad, value }
            }
            cmd::STARTTRANS => MembMsg::StartTrans(read_starttrans(&mut r, addr_len)?),
            cmd::NOMINATE => MembMsg::Nominate(read_starttrans(&mut r, addr_len)?),
            cmd::VIEWACK => {
                let ack = r.u8("ack")?;
                exact(&r, n, 2)?;
                MembMsg::ViewAck { ack }
            }
            cmd::STARTACK => {
                let reason = r.u8("reason")?;
                let pad = r.u16("pad")?;
                let generation = r.u32("generation")?;
                exact(&r, n, 8)?;
                MembMsg::StartAck {
                    reason,
                    pad,
                    generation,
                }
            }
            cmd::NEWCLUSTER => {
                let lowip = r.u32("lowip")?;
                exact(&r, n, 5)?;
                MembMsg::NewCluster { lowip }
            }
            cmd::CONFACK => {
                exact(&r, n, 1)?;
                MembMsg::ConfAck
            }
            cmd::NODEDOWN => {
                let reason = r.u8("reason")?;
                let pad = r.u16("pad")?;
                let nodeid = r.u32("nodeid")?;
                exact(&r, n, 8)?;
                MembMsg::NodeDown {
                    reason,
                    pad,
                    nodeid,
                }
            }
            cmd::JOINREJ | cmd::TRANSITION => MembMsg::Other {
                cmd: c,
                body: r.rest().to_vec(),
            },
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
            MembMsg::JoinConf { .. } => cmd::JOINCONF,
            MembMsg::JoinReq(_) => cmd::JOINREQ,
            MembMsg::Leave { .. } => cmd::LEAVE,
            MembMsg::Hello { .. } => cmd::HELLO,
            MembMsg::Kill => cmd::KILL,
            MembMsg::JoinAck { .. } => cmd::JOINACK,
            MembMsg::EndTrans { .. } => cmd::ENDTRANS,
            MembMsg::Reconfig { .. } => cmd::RECONFIG,
            MembMsg::MasterView { .. } => cmd::MASTERVIEW,
            MembMsg::StartTrans(_) => cmd::STARTTRANS,
            MembMsg::ViewAck { .. } => cmd::VIEWACK,
            MembMsg::StartAck { .. } => cmd::STARTACK,
            MembMsg::NewCluster { .. } => cmd::NEWCLUSTER,
            MembMsg::ConfAck => cmd::CONFACK,
            MembMsg::Nominate(_) => cmd::NOMINATE,
            MembMsg::NodeDown { .. } => cmd::NODEDOWN,
            MembMsg::Other { cmd, .. } => *cmd,
        }
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        let addrs = |a: &Vec<Vec<u8>>| a.iter().map(Vec::len).sum::<usize>();
        match self {
            MembMsg::JoinConf { nodes, .. } | MembMsg::MasterView { nodes, .. } => {
                2 + nodes
                    .iter()
                    .map(|v| 1 + v.name.len() + 1 + 2 + addrs(&v.addrs) + 1 + 4 + 4)
                    .sum::<usize>()
            }
            MembMsg::JoinReq(j) => JOINREQ_FIXED_LEN + addrs(&j.addrs) + j.name.len() + 1,
            MembMsg::Leave { .. } | MembMsg::JoinAck { .. } | MembMsg::ViewAck { .. } => 2,
            MembMsg::Hello { .. }
            | MembMsg::Reconfig { .. }
            | MembMsg::StartAck { .. }
            | MembMsg::NodeDown { .. } => 8,
            MembMsg::Kill | MembMsg::ConfAck => 1,
            MembMsg::EndTrans { .. } => 20,
            MembMsg::StartTrans(s) | MembMsg::Nominate(s) => {
                STARTTRANS_FIXED_LEN
                    + s.new_node
                        .as_ref()
                        .map_or(0, |(a, n)| addrs(a) + n.len() + 1)
            }
            MembMsg::NewCluster { .. } => 5,
            MembMsg::Other { body, .. } => 1 + body.len(),
        }
    }

    /// Encodes into `buf`; returns the bytes written. Names must fit their length fields and
    /// not contain NUL; counts must fit u16.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        self.validate()?;
        let mut w = Writer::new(buf, LE, MSG, self.buffer_len())?;
        self.write(&mut w);
        Ok(w.pos())
    }

    fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, value: usize| Error::Invalid {
            message: MSG,
            field,
            offset: 0,
            value: value as u64,
        };
        match self {
            MembMsg::JoinConf { nodes, .. } | MembMsg::MasterView { nodes, .. } => {
                for v in nodes {
                    if v.name.len() > 255 {
                        return Err(bad("name length", v.name.len()));
                    }
                    if v.addrs.len() > usize::from(u16::MAX) {
                        return Err(bad("num_addrs", v.addrs.len()));
                    }
                }
            }
            MembMsg::JoinReq(j) => {
                if j.addrs.len() > usize::from(u16::MAX) {
                    return Err(bad("num_addr", j.addrs.len()));
                }
                if j.name.contains(&0) {
                    return Err(bad("name", 0));
                }
                if j.addrs
                    .iter()
                    .any(|a| a.len() as u64 != u64::from(j.addr_len))
                {
                    return Err(bad("addr_len", j.addr_len as usize));
                }
            }
            MembMsg::StartTrans(s) | MembMsg::Nominate(s) => {
                if let Some((a, n)) = &s.new_node {
                    if a.len() > usize::from(u16::MAX) {
                        return Err(bad("num_addrs", a.len()));
                    }
                    if n.contains(&0) {
                        return Err(bad("name", 0));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn write(&self, w: &mut Writer) {
        w.u8(self.cmd());
        match self {
            MembMsg::JoinConf { flags, nodes } | MembMsg::MasterView { flags, nodes } => {
                w.u8(*flags);
                for v in nodes {
                    w.u8(v.name.len() as u8);
                    w.bytes(&v.name);
                    w.u8(v.state);
                    w.u16(v.addrs.len() as u16);
                    for a in &v.addrs {
                        w.bytes(a);
                    }
                    w.u8(v.votes);
                    w.u32(v.expected_votes);
                    w.u32(v.nodeid);
                }
            }
            MembMsg::JoinReq(j) => {
                w.u8(j.votes);
                w.u16(j.addrs.len() as u16);
                w.u32(j.expected_votes);
                w.u32(j.nodeid);
                w.u32(j.major_version);
                w.u32(j.minor_version);
                w.u32(j.patch_version);
                w.u32(j.config_version);
                w.u32(j.addr_len);
                w.bytes(&j.clustername);
                for a in &j.addrs {
                    w.bytes(a);
                }
                w.bytes(&j.name);
                w.u8(0);
            }
            MembMsg::Leave { flags } => w.u8(*flags),
            MembMsg::Hello {
                flags,
                members,
                generation,
            } => {
                w.u8(*flags);
                w.u16(*members);
                w.u32(*generation);
            }
            MembMsg::Kill | MembMsg::ConfAck => {}
            MembMsg::JoinAck { acktype } => w.u8(*acktype),
            MembMsg::EndTrans {
                pad1,
                pad2,
                quorum,
                total_votes,
                generation,
                new_node_id,
            } => {
                w.u8(*pad1);
                w.u16(*pad2);
                w.u32(*quorum);
                w.u32(*total_votes);
                w.u32(*generation);
                w.u32(*new_node_id);
            }
            MembMsg::Reconfig { param, pad, value } => {
                w.u8(*param);
                w.u16(*pad);
                w.u32(*value);
            }
            MembMsg::StartTrans(s) | MembMsg::Nominate(s) => {
                w.u8(s.reason);
                w.u8(s.flags);
                w.u8(s.votes);
                w.u32(s.expected_votes);
                w.u32(s.generation);
                w.i32(s.nodeid);
                w.u16(s.new_node.as_ref().map_or(0, |(a, _)| a.len() as u16));
                w.u16(s.pad);
                if let Some((a, n)) = &s.new_node {
                    for x in a {
                        w.bytes(x);
                    }
                    w.bytes(n);
                    w.u8(0);
                }
            }
            MembMsg::ViewAck { ack } => w.u8(*ack),
            MembMsg::StartAck {
                reason,
                pad,
                generation,
            } => {
                w.u8(*reason);
                w.u16(*pad);
                w.u32(*generation);
            }
            MembMsg::NewCluster { lowip } => w.u32(*lowip),
            MembMsg::NodeDown {
                reason,
                pad,
                nodeid,
            } => {
                w.u8(*reason);
                w.u16(*pad);
                w.u32(*nodeid);
            }
            MembMsg::Other { body, .. } => w.bytes(body),
        }
    }
}

/// Payload of a kernel cman datagram.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KernelPayload {
    /// Port 1: a membership message.
    Membership(MembMsg),
    /// Any other port: opaque bytes.
    Data(Vec<u8>),
}

/// A whole kernel cman datagram (UDP 6809 payload).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KernelPacket {
    /// The header.
    pub header: KernelHeader,
    /// The payload.
    pub payload: KernelPayload,
}

impl KernelPacket {
    /// Decodes a datagram; `addr_len` as for [`MembMsg::parse`].
    pub fn parse(buf: &[u8], addr_len: usize) -> Result<Self> {
        let v = KernelPacketView::new_checked(buf)?;
        let header = KernelHeader::parse(buf)?;
        let payload = if header.tgtport == MEMBERSHIP_PORT {
            KernelPayload::Membership(
                MembMsg::parse(v.payload(), addr_len)
                    .map_err(|e| super::openais::shift(e, KERNEL_HEADER_LEN))?,
            )
        } else {
            KernelPayload::Data(v.payload().to_vec())
        };
        Ok(KernelPacket { header, payload })
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        KERNEL_HEADER_LEN
            + match &self.payload {
                KernelPayload::Membership(m) => m.buffer_len(),
                KernelPayload::Data(d) => d.len(),
            }
    }

    /// Encodes into `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if let KernelPayload::Membership(m) = &self.payload {
            m.validate()?;
        }
        let mut w = Writer::new(buf, LE, "cman-kernel packet", self.buffer_len())?;
        self.header.write(&mut w);
        match &self.payload {
            KernelPayload::Membership(m) => m.write(&mut w),
            KernelPayload::Data(d) => w.bytes(d),
        }
        Ok(w.pos())
    }
}
