//! VOTEQUORUM exec messages (spec §9.2): service 5 in G2/G3 (packed structs with tail
//! padding) and service 15 in corosync 1.x (a different protocol).

use super::header::{ServiceHeader, LEN as HDR};
use super::{need, open, show_bytes};
use crate::endian::{Endian, Writer};
use crate::error::{Error, Result};
use crate::generation::Generation;

/// Size of the qdevice name arrays.
pub const QDEVICE_NAME_LEN: usize = 255;
/// Largest extra_info a QDEVICE_EXTRA_NODEINFO may carry.
pub const EXTRA_INFO_MAX: usize = 4096;

/// NODEINFO flag: the sender is quorate.
pub const FLAG_QUORATE: u32 = 1;
/// NODEINFO flag: the sender is leaving.
pub const FLAG_LEAVING: u32 = 2;
/// NODEINFO flag: wait_for_all is in force.
pub const FLAG_WFASTATUS: u32 = 4;
/// NODEINFO flag: first message after start-up.
pub const FLAG_FIRST: u32 = 8;

/// The VOTEQUORUM service id in generation `gen`.
pub const fn service_id(gen: Generation) -> u16 {
    match gen {
        Generation::G1 => 15,
        _ => 5,
    }
}

/// 2.x/3.x NODEINFO (fn 0, 32 bytes). nodeid 0 describes the qdevice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    pub header: ServiceHeader,
    pub nodeid: u32,
    pub votes: u32,
    pub expected_votes: u32,
    pub flags: u32,
}

/// 2.x/3.x RECONFIGURE (fn 1, 32 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reconfigure {
    pub header: ServiceHeader,
    pub nodeid: u32,
    pub value: u32,
    /// 1 EXPECTED_VOTES, 2 NODE_VOTES, 3 CANCEL_WFA.
    pub param: u8,
    /// Three pad bytes and the 4-byte tail.
    pub pad: [u8; 7],
}

/// 2.x/3.x QDEVICE_REG (fn 2, 280 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QdeviceReg {
    pub header: ServiceHeader,
    /// 0 unregister, 1 register.
    pub operation: u32,
    /// NUL-terminated name, all 255 bytes kept.
    pub name: [u8; QDEVICE_NAME_LEN],
    pub tail: [u8; 5],
}

/// 2.x/3.x QDEVICE_RECONFIGURE (fn 3, 528 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QdeviceReconfigure {
    pub header: ServiceHeader,
    pub oldname: [u8; QDEVICE_NAME_LEN],
    pub newname: [u8; QDEVICE_NAME_LEN],
    pub tail: [u8; 2],
}

/// QDEVICE_EXTRA_NODEINFO (fn 4, corosync main only): 24 + ei_size bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QdeviceExtraNodeinfo {
    pub header: ServiceHeader,
    pub nodeid: u32,
    /// `ei_size` on the wire is its length.
    pub extra_info: Vec<u8>,
}

/// corosync 1.x NODEINFO (fn 0, 48 bytes); the node is the sender.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeInfoV1 {
    pub header: ServiceHeader,
    pub first_trans: u32,
    pub votes: u32,
    pub expected_votes: u32,
    pub major_version: u32,
    pub minor_version: u32,
    pub patch_version: u32,
    pub config_version: u32,
    /// 1 BEENDOWN, 8 SEESDISALLOWED, 16 HASSTATE, 32 QDISK, 64 REMOVED, 128 US.
    pub flags: u32,
}

/// corosync 1.x RECONFIGURE (fn 1, 32 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReconfigureV1 {
    pub header: ServiceHeader,
    /// 1 expected votes, 2 node votes, 3 leaving.
    pub param: u32,
    pub nodeid: u32,
    pub value: u32,
    pub tail: [u8; 4],
}

/// corosync 1.x KILLNODE (fn 2, 24 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KillNodeV1 {
    pub header: ServiceHeader,
    pub reason: u32,
    pub nodeid: u32,
}

/// Any VOTEQUORUM exec message of any generation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VotequorumMessage {
    NodeInfo(NodeInfo),
    Reconfigure(Reconfigure),
    QdeviceReg(Box<QdeviceReg>),
    QdeviceReconfigure(Box<QdeviceReconfigure>),
    QdeviceExtraNodeinfo(QdeviceExtraNodeinfo),
    NodeInfoV1(NodeInfoV1),
    ReconfigureV1(ReconfigureV1),
    KillNodeV1(KillNodeV1),
}

const M: &str = "votequorum";

impl VotequorumMessage {
    /// Decodes by generation (G1 → the 1.x protocol) and function id.
    pub fn parse(buf: &[u8], gen: Generation, endian: Endian) -> Result<Self> {
        let (header, mut r) = open(buf, gen, endian, M)?;
        let v1 = gen == Generation::G1;
        Ok(match (v1, header.fn_id()) {
            (false, 0) => VotequorumMessage::NodeInfo(NodeInfo {
                header,
                nodeid: r.u32("nodeid")?,
                votes: r.u32("votes")?,
                expected_votes: r.u32("expected_votes")?,
                flags: r.u32("flags")?,
            }),
            (false, 1) => {
                need(buf, "votequorum reconfigure", 32)?;
                VotequorumMessage::Reconfigure(Reconfigure {
                    header,
                    nodeid: r.u32("nodeid")?,
                    value: r.u32("value")?,
                    param: r.u8("param")?,
                    pad: r.array("pad")?,
                })
            }
            (false, 2) => {
                need(buf, "votequorum qdevice_reg", 280)?;
                VotequorumMessage::QdeviceReg(Box::new(QdeviceReg {
                    header,
                    operation: r.u32("operation")?,
                    name: r.array("qdevice_name")?,
                    tail: r.array("tail")?,
                }))
            }
            (false, 3) => {
                need(buf, "votequorum qdevice_reconfigure", 528)?;
                VotequorumMessage::QdeviceReconfigure(Box::new(QdeviceReconfigure {
                    header,
                    oldname: r.array("oldname")?,
                    newname: r.array("newname")?,
                    tail: r.array("tail")?,
                }))
            }
            (false, 4) => {
                let nodeid = r.u32("nodeid")?;
                let ei_size = r.u32("ei_size")? as usize;
                let extra_info = r.bytes("extra_info", ei_size)?.to_vec();
                VotequorumMessage::QdeviceExtraNodeinfo(QdeviceExtraNodeinfo {
                    header,
                    nodeid,
                    extra_info,
                })
            }
            (true, 0) => {
                need(buf, "votequorum nodeinfo", 48)?;
                VotequorumMessage::NodeInfoV1(NodeInfoV1 {
                    header,
                    first_trans: r.u32("first_trans")?,
                    votes: r.u32("votes")?,
                    expected_votes: r.u32("expected_votes")?,
                    major_version: r.u32("major_version")?,
                    minor_version: r.u32("minor_version")?,
                    patch_version: r.u32("patch_version")?,
                    config_version: r.u32("config_version")?,
                    flags: r.u32("flags")?,
                })
            }
            (true, 1) => {
                need(buf, "votequorum reconfigure", 32)?;
                VotequorumMessage::ReconfigureV1(ReconfigureV1 {
                    header,
                    param: r.u32("param")?,
                    nodeid: r.u32("nodeid")?,
                    value: r.u32("value")?,
                    tail: r.array("tail")?,
                })
            }
            (true, 2) => VotequorumMessage::KillNodeV1(KillNodeV1 {
                header,
                reason: r.u32("reason")?,
                nodeid: r.u32("nodeid")?,
            }),
            (_, f) => {
                let offset = if v1 { 8 } else { 0 };
                return Err(Error::Invalid {
                    message: M,
                    field: "fn_id",
                    offset,
                    value: u64::from(f),
                });
            }
        })
    }

    pub fn header(&self) -> &ServiceHeader {
        use VotequorumMessage::*;
        match self {
            NodeInfo(m) => &m.header,
            Reconfigure(m) => &m.header,
            QdeviceReg(m) => &m.header,
            QdeviceReconfigure(m) => &m.header,
            QdeviceExtraNodeinfo(m) => &m.header,
            NodeInfoV1(m) => &m.header,
            ReconfigureV1(m) => &m.header,
            KillNodeV1(m) => &m.header,
        }
    }

    pub fn buffer_len(&self) -> usize {
        use VotequorumMessage::*;
        match self {
            NodeInfo(_) | Reconfigure(_) | ReconfigureV1(_) => 32,
            QdeviceReg(_) => 280,
            QdeviceReconfigure(_) => 528,
            QdeviceExtraNodeinfo(m) => 24 + m.extra_info.len(),
            NodeInfoV1(_) => 48,
            KillNodeV1(_) => 24,
        }
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        use VotequorumMessage::*;
        let h = self.header();
        let mut w = Writer::new(buf, h.endian, M, self.buffer_len())?;
        h.write(&mut w);
        match self {
            NodeInfo(m) => [m.nodeid, m.votes, m.expected_votes, m.flags]
                .iter()
                .for_each(|v| w.u32(*v)),
            Reconfigure(m) => {
                w.u32(m.nodeid);
                w.u32(m.value);
                w.u8(m.param);
                w.bytes(&m.pad);
            }
            QdeviceReg(m) => {
                w.u32(m.operation);
                w.bytes(&m.name);
                w.bytes(&m.tail);
            }
            QdeviceReconfigure(m) => {
                w.bytes(&m.oldname);
                w.bytes(&m.newname);
                w.bytes(&m.tail);
            }
            QdeviceExtraNodeinfo(m) => {
                w.u32(m.nodeid);
                w.u32(m.extra_info.len() as u32);
                w.bytes(&m.extra_info);
            }
            NodeInfoV1(m) => [
                m.first_trans,
                m.votes,
                m.expected_votes,
                m.major_version,
                m.minor_version,
                m.patch_version,
                m.config_version,
                m.flags,
            ]
            .iter()
            .for_each(|v| w.u32(*v)),
            ReconfigureV1(m) => {
                [m.param, m.nodeid, m.value].iter().for_each(|v| w.u32(*v));
                w.bytes(&m.tail);
            }
            KillNodeV1(m) => {
                w.u32(m.reason);
                w.u32(m.nodeid);
            }
        }
        Ok(w.pos())
    }
}

fn cstr(b: &[u8]) -> String {
    show_bytes(&b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())])
}

impl core::fmt::Display for VotequorumMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use VotequorumMessage::*;
        match self {
            NodeInfo(m) => write!(
                f,
                "votequorum.nodeinfo nodeid={} votes={} expected={} flags={:#x}",
                m.nodeid, m.votes, m.expected_votes, m.flags
            ),
            Reconfigure(m) => write!(
                f,
                "votequorum.reconfigure nodeid={} param={} value={}",
                m.nodeid, m.param, m.value
            ),
            QdeviceReg(m) => {
                write!(f, "votequorum.qdevice_reg op={} name=\"{}\"", m.operation, cstr(&m.name))
            }
            QdeviceReconfigure(m) => write!(
                f,
                "votequorum.qdevice_reconfigure old=\"{}\" new=\"{}\"",
                cstr(&m.oldname),
                cstr(&m.newname)
            ),
            QdeviceExtraNodeinfo(m) => write!(
                f,
                "votequorum.qdevice_extra_nodeinfo nodeid={} len={}",
                m.nodeid,
                m.extra_info.len()
            ),
            NodeInfoV1(m) => write!(
                f,
                "votequorum.nodeinfo votes={} expected={} version={}.{}.{} config={} flags={:#x} first_trans={}",
                m.votes,
                m.expected_votes,
                m.major_version,
                m.minor_version,
                m.patch_version,
                m.config_version,
                m.flags,
                m.first_trans
            ),
            ReconfigureV1(m) => write!(
                f,
                "votequorum.reconfigure nodeid={} param={} value={}",
                m.nodeid, m.param, m.value
            ),
            KillNodeV1(m) => write!(f, "votequorum.killnode nodeid={} reason={}", m.nodeid, m.reason),
        }
    }
}

/// A zero-copy view of a 2.x/3.x NODEINFO.
#[derive(Debug, Clone, Copy)]
pub struct NodeInfoView<'a> {
    buf: &'a [u8],
    endian: Endian,
}

impl<'a> NodeInfoView<'a> {
    pub fn new_checked(buf: &'a [u8], endian: Endian) -> Result<Self> {
        need(buf, "votequorum nodeinfo", 32)?;
        Ok(NodeInfoView { buf, endian })
    }
    pub fn nodeid(&self) -> u32 {
        self.endian.get_u32(&self.buf[HDR..])
    }
    pub fn votes(&self) -> u32 {
        self.endian.get_u32(&self.buf[HDR + 4..])
    }
    pub fn expected_votes(&self) -> u32 {
        self.endian.get_u32(&self.buf[HDR + 8..])
    }
    pub fn flags(&self) -> u32 {
        self.endian.get_u32(&self.buf[HDR + 12..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::GroupMessageView;
    use crate::testdata::messages;
    use proptest::prelude::*;

    fn payloads(name: &str, gen: Generation) -> (Vec<Vec<u8>>, Endian) {
        let (m, e) = messages(name, gen);
        (
            m.iter()
                .map(|m| {
                    GroupMessageView::new_checked(m, e)
                        .unwrap()
                        .payload()
                        .to_vec()
                })
                .collect(),
            e,
        )
    }
    fn round_trip(m: &VotequorumMessage, b: &[u8]) {
        let mut out = vec![0u8; m.buffer_len()];
        assert_eq!(m.emit(&mut out).unwrap(), b.len());
        assert_eq!(out, b);
    }

    // Spec §9.2 NODEINFO (32): nodeid @16, votes @20, expected_votes @24, flags @28. G3 frame 118
    // of the mixed capture: node 3, 1 vote, expected 3, flags 8 (FIRST).
    #[test]
    fn g3_nodeinfo() {
        let (p, e) = payloads("g3_nodeinfo", Generation::G3);
        let m = VotequorumMessage::parse(&p[0], Generation::G3, e).unwrap();
        let VotequorumMessage::NodeInfo(n) = &m else {
            panic!()
        };
        assert_eq!((n.header.id, n.header.size), (0x0005_0000, 32));
        assert_eq!(
            (n.nodeid, n.votes, n.expected_votes, n.flags),
            (3, 1, 3, FLAG_FIRST)
        );
        assert_eq!(
            m.to_string(),
            "votequorum.nodeinfo nodeid=3 votes=1 expected=3 flags=0x8"
        );
        let v = NodeInfoView::new_checked(&p[0], e).unwrap();
        assert_eq!(
            (v.nodeid(), v.votes(), v.expected_votes(), v.flags()),
            (3, 1, 3, 8)
        );
        round_trip(&m, &p[0]);
    }

    // 2.4.6 frame 46 (findings-old §4 item 5): NODEINFO for the own node (1) and for nodeid 0
    // (the qdevice, all zero).
    #[test]
    fn g2_nodeinfo_pair() {
        let (p, e) = payloads("g2_nodeinfo_pair_barrier", Generation::G2);
        let a = VotequorumMessage::parse(&p[0], Generation::G2, e).unwrap();
        let b = VotequorumMessage::parse(&p[1], Generation::G2, e).unwrap();
        assert!(
            matches!(&a, VotequorumMessage::NodeInfo(n) if (n.nodeid, n.votes, n.expected_votes) == (1, 1, 3))
        );
        assert!(
            matches!(&b, VotequorumMessage::NodeInfo(n) if (n.nodeid, n.votes, n.flags) == (0, 0, 0))
        );
        round_trip(&a, &p[0]);
        round_trip(&b, &p[1]);
    }

    // Spec §9.2 1.x NODEINFO (48): first_trans, votes, expected_votes, major, minor, patch,
    // config_version, flags. 1.4.10 frame 25: votes 1, expected 3, version 7.0.0 (1.x's
    // votequorum protocol version), flags 0x80 = US; config_version holds 0x06882000.
    #[test]
    fn g1_nodeinfo() {
        let (p, e) = payloads("g1_nodeinfo_determine_barrier", Generation::G1);
        let m = VotequorumMessage::parse(&p[0], Generation::G1, e).unwrap();
        let VotequorumMessage::NodeInfoV1(n) = &m else {
            panic!()
        };
        assert_eq!((n.header.size, n.header.id), (48, 0x000f_0000));
        assert_eq!((n.first_trans, n.votes, n.expected_votes), (1, 1, 3));
        assert_eq!(
            (n.major_version, n.minor_version, n.patch_version),
            (7, 0, 0)
        );
        assert_eq!((n.config_version, n.flags), (0x0688_2000, 0x80));
        round_trip(&m, &p[0]);
        let m = VotequorumMessage::parse(&p[1], Generation::G1, e).unwrap();
        assert!(
            matches!(&m, VotequorumMessage::NodeInfoV1(n) if n.first_trans == 0 && n.header.pad1 == [0xfe, 0x7f, 0, 0])
        );
        round_trip(&m, &p[1]);
    }

    fn arb_vq() -> impl Strategy<Value = VotequorumMessage> {
        (
            0usize..3,
            any::<bool>(),
            0u16..5,
            any::<[u8; 4]>(),
            any::<[u32; 8]>(),
            proptest::collection::vec(any::<u8>(), 510..=560),
        )
            .prop_map(|(g, be, f, p0, v, bytes)| {
                let gen = Generation::ALL[g];
                let mut h = ServiceHeader::new(gen, service_id(gen), f, v[0]);
                h.endian = if be { Endian::Big } else { Endian::Little };
                h.pad0 = p0;
                let arr = |o: usize| -> [u8; QDEVICE_NAME_LEN] {
                    bytes[o..o + QDEVICE_NAME_LEN].try_into().unwrap()
                };
                use VotequorumMessage::*;
                match (
                    gen == Generation::G1,
                    f % if gen == Generation::G1 { 3 } else { 5 },
                ) {
                    (false, 0) => NodeInfo(super::NodeInfo {
                        header: h,
                        nodeid: v[1],
                        votes: v[2],
                        expected_votes: v[3],
                        flags: v[4],
                    }),
                    (false, 1) => Reconfigure(super::Reconfigure {
                        header: h,
                        nodeid: v[1],
                        value: v[2],
                        param: bytes[0],
                        pad: bytes[1..8].try_into().unwrap(),
                    }),
                    (false, 2) => QdeviceReg(Box::new(super::QdeviceReg {
                        header: h,
                        operation: v[1],
                        name: arr(0),
                        tail: bytes[255..260].try_into().unwrap(),
                    })),
                    (false, 3) => QdeviceReconfigure(Box::new(super::QdeviceReconfigure {
                        header: h,
                        oldname: arr(0),
                        newname: arr(255),
                        tail: [bytes[0], bytes[509]],
                    })),
                    (false, _) => QdeviceExtraNodeinfo(super::QdeviceExtraNodeinfo {
                        header: h,
                        nodeid: v[1],
                        extra_info: bytes[..(v[2] as usize % 64)].to_vec(),
                    }),
                    (true, 0) => NodeInfoV1(super::NodeInfoV1 {
                        header: h,
                        first_trans: v[0],
                        votes: v[1],
                        expected_votes: v[2],
                        major_version: v[3],
                        minor_version: v[4],
                        patch_version: v[5],
                        config_version: v[6],
                        flags: v[7],
                    }),
                    (true, 1) => ReconfigureV1(super::ReconfigureV1 {
                        header: h,
                        param: v[1],
                        nodeid: v[2],
                        value: v[3],
                        tail: bytes[..4].try_into().unwrap(),
                    }),
                    (true, _) => KillNodeV1(super::KillNodeV1 {
                        header: h,
                        reason: v[1],
                        nodeid: v[2],
                    }),
                }
            })
    }

    proptest! {
        #[test]
        fn prop_round_trip(mut m in arb_vq()) {
            // The fn id decides the variant: make the header agree with it.
            let f = match &m {
                VotequorumMessage::NodeInfo(_) | VotequorumMessage::NodeInfoV1(_) => 0,
                VotequorumMessage::Reconfigure(_) | VotequorumMessage::ReconfigureV1(_) => 1,
                VotequorumMessage::QdeviceReg(_) | VotequorumMessage::KillNodeV1(_) => 2,
                VotequorumMessage::QdeviceReconfigure(_) => 3,
                VotequorumMessage::QdeviceExtraNodeinfo(_) => 4,
            };
            let h = *m.header();
            let mut fixed = h;
            fixed.id = (h.id & 0xffff_0000) | f;
            let mut a = vec![0u8; m.buffer_len()];
            m.emit(&mut a).unwrap();
            let hb = fixed.emit(&mut a[..16]);
            prop_assert!(hb.is_ok());
            let back = VotequorumMessage::parse(&a, h.generation, h.endian).unwrap();
            let mut b = vec![0u8; back.buffer_len()];
            back.emit(&mut b).unwrap();
            prop_assert_eq!(&a, &b);
            m = back;
            prop_assert_eq!(m.header().fn_id() as u32, f);
        }

        #[test]
        fn random_bytes(mut buf in proptest::collection::vec(any::<u8>(), 0..600), g in 0usize..3, f in 0u8..6) {
            let gen = Generation::ALL[g];
            if buf.len() >= 16 { buf[if gen == Generation::G1 { 8 } else { 0 }] = f; }
            if let Ok(m) = VotequorumMessage::parse(&buf, gen, Endian::Little) {
                let mut out = vec![0u8; m.buffer_len()];
                m.emit(&mut out).unwrap();
                prop_assert_eq!(&out[..], &buf[..out.len()]);
                let _ = m.to_string();
            }
        }
    }
}
