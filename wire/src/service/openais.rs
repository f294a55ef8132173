//! openais services seen on G1 rings (findings-old-versions-live §4, §6 item 9): the CLM
//! NODEJOIN (service 1 fn 0, 392 bytes) that corosync 1.x in whitetank mode also sends as a
//! dummy, and the EVT channel command (service 4 fn 1: 24 bytes from 1.x, 296 from openais).
//!
//! The CLM layout is openais's `mar_clm_cluster_node_t` with 8-byte aligned members; it is
//! not in the spec tables, and was checked field by field against 1.4.10 and openais 0.80.6
//! captures. Of the EVT command only the operation is decoded; the rest stays raw.

use super::header::ServiceHeader;
use super::{need, open, show_bytes};
use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};
use crate::generation::Generation;

/// CLM service id (G1).
pub const CLM: u16 = 1;
/// EVT service id (G1).
pub const EVT: u16 = 4;
/// Size of a CLM NODEJOIN.
pub const CLM_NODEJOIN_LEN: usize = 392;

/// A length-prefixed byte array as openais lays it out: u16 length in an 8-byte slot, then
/// `N` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SizedName<const N: usize> {
    pub length: u16,
    pub pad: [u8; 6],
    pub value: [u8; N],
}

impl<const N: usize> SizedName<N> {
    /// The significant bytes (length clamped to N).
    pub fn bytes(&self) -> &[u8] {
        &self.value[..usize::from(self.length).min(N)]
    }
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self> {
        Ok(SizedName {
            length: r.u16(field)?,
            pad: r.array(field)?,
            value: r.array(field)?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.u16(self.length);
        w.bytes(&self.pad);
        w.bytes(&self.value);
    }
}

/// CLM NODEJOIN: the sender's cluster node record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClmNodeJoin {
    pub header: ServiceHeader,
    pub node_id: u32,
    pub node_id_pad: [u8; 4],
    /// Address as text (e.g. "198.51.100.11").
    pub address: SizedName<64>,
    /// SA_CLM_AF_INET = 1, SA_CLM_AF_INET6 = 2.
    pub family: u32,
    pub family_pad: [u8; 4],
    pub node_name: SizedName<256>,
    pub member: u32,
    pub member_pad: [u8; 4],
    pub boot_timestamp: u64,
    pub initial_view_number: u64,
}

impl ClmNodeJoin {
    pub fn parse(buf: &[u8], gen: Generation, endian: Endian) -> Result<Self> {
        need(buf, "clm nodejoin", CLM_NODEJOIN_LEN)?;
        let (header, mut r) = open(buf, gen, endian, "clm nodejoin")?;
        let node_id = r.u32("node_id")?;
        let node_id_pad = r.array("node_id pad")?;
        // node_address = {length, family, value[64]}: length, then family, then the value.
        let length = r.u16("node_address.length")?;
        let len_pad = r.array("node_address pad")?;
        let family = r.u32("node_address.family")?;
        let family_pad = r.array("node_address pad")?;
        let value = r.array("node_address.value")?;
        let node_name = SizedName::read(&mut r, "node_name")?;
        Ok(ClmNodeJoin {
            header,
            node_id,
            node_id_pad,
            address: SizedName {
                length,
                pad: len_pad,
                value,
            },
            family,
            family_pad,
            node_name,
            member: r.u32("member")?,
            member_pad: r.array("member pad")?,
            boot_timestamp: r.u64("boot_timestamp")?,
            initial_view_number: r.u64("initial_view_number")?,
        })
    }
    pub fn buffer_len(&self) -> usize {
        CLM_NODEJOIN_LEN
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf, self.header.endian, "clm nodejoin", CLM_NODEJOIN_LEN)?;
        self.header.write(&mut w);
        w.u32(self.node_id);
        w.bytes(&self.node_id_pad);
        w.u16(self.address.length);
        w.bytes(&self.address.pad);
        w.u32(self.family);
        w.bytes(&self.family_pad);
        w.bytes(&self.address.value);
        self.node_name.write(&mut w);
        w.u32(self.member);
        w.bytes(&self.member_pad);
        w.u64(self.boot_timestamp);
        w.u64(self.initial_view_number);
        Ok(w.pos())
    }
}

/// openais service messages we decode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OpenaisMessage {
    ClmNodeJoin(Box<ClmNodeJoin>),
    /// EVT fn 1: channel command `chc_op`, the rest of the body raw.
    EvtChanCmd {
        header: ServiceHeader,
        chc_op: u32,
        rest: Vec<u8>,
    },
}

impl OpenaisMessage {
    /// Decodes a CLM NODEJOIN or EVT CHANCMD; anything else is an error.
    pub fn parse(buf: &[u8], gen: Generation, endian: Endian) -> Result<Self> {
        let (header, mut r) = open(buf, gen, endian, "openais")?;
        match (header.service(), header.fn_id()) {
            (CLM, 0) => Ok(OpenaisMessage::ClmNodeJoin(Box::new(ClmNodeJoin::parse(
                buf, gen, endian,
            )?))),
            (EVT, 1) => Ok(OpenaisMessage::EvtChanCmd {
                header,
                chc_op: r.u32("chc_op")?,
                rest: r.rest().to_vec(),
            }),
            _ => Err(Error::Invalid {
                message: "openais",
                field: "id",
                offset: 8,
                value: u64::from(header.id),
            }),
        }
    }
    pub fn header(&self) -> &ServiceHeader {
        match self {
            OpenaisMessage::ClmNodeJoin(m) => &m.header,
            OpenaisMessage::EvtChanCmd { header, .. } => header,
        }
    }
    pub fn buffer_len(&self) -> usize {
        match self {
            OpenaisMessage::ClmNodeJoin(m) => m.buffer_len(),
            OpenaisMessage::EvtChanCmd { rest, .. } => 20 + rest.len(),
        }
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        match self {
            OpenaisMessage::ClmNodeJoin(m) => m.emit(buf),
            OpenaisMessage::EvtChanCmd {
                header,
                chc_op,
                rest,
            } => {
                let mut w = Writer::new(buf, header.endian, "evt chancmd", self.buffer_len())?;
                header.write(&mut w);
                w.u32(*chc_op);
                w.bytes(rest);
                Ok(w.pos())
            }
        }
    }
}

impl core::fmt::Display for OpenaisMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OpenaisMessage::ClmNodeJoin(m) => write!(
                f,
                "clm.nodejoin nodeid={} addr=\"{}\" name=\"{}\" member={}",
                m.node_id,
                show_bytes(m.address.bytes()),
                show_bytes(m.node_name.bytes()),
                m.member
            ),
            OpenaisMessage::EvtChanCmd { chc_op, rest, .. } => {
                write!(f, "evt.chancmd op={chc_op} len={}", 20 + rest.len())
            }
        }
    }
}

/// A zero-copy view of a CLM NODEJOIN.
#[derive(Debug, Clone, Copy)]
pub struct ClmNodeJoinView<'a> {
    buf: &'a [u8],
    endian: Endian,
}

impl<'a> ClmNodeJoinView<'a> {
    pub fn new_checked(buf: &'a [u8], endian: Endian) -> Result<Self> {
        need(buf, "clm nodejoin", CLM_NODEJOIN_LEN)?;
        Ok(ClmNodeJoinView { buf, endian })
    }
    pub fn node_id(&self) -> u32 {
        self.endian.get_u32(&self.buf[16..])
    }
    pub fn address(&self) -> &'a [u8] {
        let n = usize::from(self.endian.get_u16(&self.buf[24..])).min(64);
        &self.buf[40..40 + n]
    }
    pub fn member(&self) -> u32 {
        self.endian.get_u32(&self.buf[368..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::GroupMessageView;
    use crate::testdata::messages;
    use proptest::prelude::*;

    fn payload(name: &str) -> (Vec<u8>, Endian) {
        let (m, e) = messages(name, Generation::G1);
        (
            GroupMessageView::new_checked(&m[0], e)
                .unwrap()
                .payload()
                .to_vec(),
            e,
        )
    }
    fn round_trip(m: &OpenaisMessage, b: &[u8]) {
        let mut out = vec![0u8; m.buffer_len()];
        assert_eq!(m.emit(&mut out).unwrap(), b.len());
        assert_eq!(out, b);
    }

    // findings-old §4: 1.4.10 dummy CLM NODEJOIN, 392 bytes, service 1 fn 0 (1.x header:
    // size@0 = 392, id@8 = 0x00010000; both pads hold 02 00 c6 33). Node 1, address and name
    // "198.51.100.11" (13 bytes), family 1, member 1.
    #[test]
    fn corosync1_clm_nodejoin() {
        let (p, e) = payload("g1_clm_nodejoin");
        let m = OpenaisMessage::parse(&p, Generation::G1, e).unwrap();
        let OpenaisMessage::ClmNodeJoin(c) = &m else {
            panic!()
        };
        assert_eq!(
            (c.header.size, c.header.id, c.header.pad0),
            (392, 0x0001_0000, [2, 0, 0xc6, 0x33])
        );
        assert_eq!((c.node_id, c.family, c.member), (1, 1, 1));
        assert_eq!(c.address.bytes(), b"198.51.100.11");
        assert_eq!(c.node_name.bytes(), b"198.51.100.11");
        assert_eq!(c.initial_view_number, 0);
        assert_eq!(
            m.to_string(),
            "clm.nodejoin nodeid=1 addr=\"198.51.100.11\" name=\"198.51.100.11\" member=1"
        );
        let v = ClmNodeJoinView::new_checked(&p, e).unwrap();
        assert_eq!(
            (v.node_id(), v.address(), v.member()),
            (1, &b"198.51.100.11"[..], 1)
        );
        round_trip(&m, &p);
        // openais 0.80.6: auto nodeid 198.51.100.11 read little-endian = 0x0b6433c6
        // (findings-old §6 item 12).
        let (p, e) = payload("oa_clm_nodejoin");
        let m = OpenaisMessage::parse(&p, Generation::G1, e).unwrap();
        assert!(matches!(&m, OpenaisMessage::ClmNodeJoin(c) if c.node_id == 0x0b64_33c6));
        round_trip(&m, &p);
    }

    // findings-old §4: 1.4.10 EVT CHANCMD is 24 bytes (service 4 fn 1); openais sends 296.
    #[test]
    fn evt_chancmd() {
        let (p, e) = payload("g1_evt_chancmd");
        let m = OpenaisMessage::parse(&p, Generation::G1, e).unwrap();
        assert_eq!(m.to_string(), "evt.chancmd op=7 len=24");
        round_trip(&m, &p);
        let (p, e) = payload("oa_evt");
        let m = OpenaisMessage::parse(&p, Generation::G1, e).unwrap();
        assert_eq!(m.to_string(), "evt.chancmd op=4 len=296");
        round_trip(&m, &p);
    }

    proptest! {
        #[test]
        fn random_bytes(mut buf in proptest::collection::vec(any::<u8>(), 0..420), clm: bool, be: bool) {
            let e = if be { Endian::Big } else { Endian::Little };
            if buf.len() >= 16 {
                let id: u32 = if clm { 0x0001_0000 } else { 0x0004_0001 };
                let b = if be { id.to_be_bytes() } else { id.to_le_bytes() };
                buf[8..12].copy_from_slice(&b);
            }
            match OpenaisMessage::parse(&buf, Generation::G1, e) {
                Ok(m) => {
                    let mut out = vec![0u8; m.buffer_len()];
                    m.emit(&mut out).unwrap();
                    prop_assert_eq!(&out[..], &buf[..out.len()]);
                    prop_assert_eq!(OpenaisMessage::parse(&out, Generation::G1, e).unwrap(), m);
                }
                Err(_) => {
                    let min = if clm { 392 } else { 20 };
                    prop_assert!(buf.len() < min);
                }
            }
        }
    }
}
