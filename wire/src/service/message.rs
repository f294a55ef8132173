//! Decoding a reassembled totempg message (group header + service message) into the right
//! variant by generation, group, service id and function id.

use super::cfg::CfgMessage;
use super::cmap::CmapMcast;
use super::cpg::CpgMessage;
use super::header::{ServiceHeader, LEN as HDR};
use super::ids::{sync_fn_name, Service, ServiceTable};
use super::openais::OpenaisMessage;
use super::pload::PloadMessage;
use super::show_bytes;
use super::sync::SyncMessage;
use super::votequorum::VotequorumMessage;
use crate::endian::{Endian, Writer};
use crate::error::{Error, Result};
use crate::generation::Generation;
use crate::group::{GroupMessage, KnownGroup};

/// A service-layer message of any generation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServiceMessage {
    /// Groups "sync" / "syncv2".
    Sync(SyncMessage),
    Cpg(CpgMessage),
    Votequorum(VotequorumMessage),
    Cmap(CmapMcast),
    /// corosync 2.x/3.x CFG.
    Cfg(CfgMessage),
    /// corosync 2.x/3.x PLOAD.
    Pload(PloadMessage),
    /// openais CLM/EVT on G1 rings.
    Openais(OpenaisMessage),
    /// A service or function we do not decode: header and raw body, kept for a round trip.
    Unknown {
        header: ServiceHeader,
        body: Vec<u8>,
    },
    /// The payload of a group that does not use service headers (e.g. "ykd") or of an
    /// unknown group.
    Opaque(Vec<u8>),
}

impl ServiceMessage {
    /// Decodes `payload` sent to `group` (None: unknown or several groups) with the service
    /// numbering `table`. Known messages that are too short are errors; unknown services and
    /// functions come back as [`ServiceMessage::Unknown`].
    pub fn decode(
        group: Option<KnownGroup>,
        payload: &[u8],
        gen: Generation,
        endian: Endian,
        table: ServiceTable,
    ) -> Result<Self> {
        let group = match group {
            Some(g @ (KnownGroup::A | KnownGroup::Sync | KnownGroup::SyncV2)) => g,
            _ => return Ok(ServiceMessage::Opaque(payload.to_vec())),
        };
        let header = ServiceHeader::parse(payload, gen, endian)?;
        let unknown = || ServiceMessage::Unknown {
            header,
            body: payload[HDR..].to_vec(),
        };
        if group != KnownGroup::A {
            return Ok(match sync_fn_name(header.id) {
                Some(_) => ServiceMessage::Sync(SyncMessage::parse(payload, gen, endian)?),
                None => unknown(),
            });
        }
        let Some(service) = Service::from_id(table, header.service()) else {
            return Ok(unknown());
        };
        if service.fn_name(table, header.fn_id()).is_none() {
            return Ok(unknown());
        }
        Ok(match service {
            Service::Cpg => ServiceMessage::Cpg(CpgMessage::parse(payload, gen, endian)?),
            Service::Votequorum => {
                ServiceMessage::Votequorum(VotequorumMessage::parse(payload, gen, endian)?)
            }
            Service::Cmap => ServiceMessage::Cmap(CmapMcast::parse(payload, gen, endian)?),
            Service::Cfg => ServiceMessage::Cfg(CfgMessage::parse(payload, gen, endian)?),
            Service::Pload => ServiceMessage::Pload(PloadMessage::parse(payload, gen, endian)?),
            Service::Clm | Service::Evt => {
                ServiceMessage::Openais(OpenaisMessage::parse(payload, gen, endian)?)
            }
            _ => unknown(),
        })
    }

    /// The service header, if the message has one.
    pub fn header(&self) -> Option<&ServiceHeader> {
        Some(match self {
            ServiceMessage::Sync(m) => m.header(),
            ServiceMessage::Cpg(m) => m.header(),
            ServiceMessage::Votequorum(m) => m.header(),
            ServiceMessage::Cmap(m) => &m.header,
            ServiceMessage::Cfg(m) => m.header(),
            ServiceMessage::Pload(m) => m.header(),
            ServiceMessage::Openais(m) => m.header(),
            ServiceMessage::Unknown { header, .. } => header,
            ServiceMessage::Opaque(_) => return None,
        })
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        match self {
            ServiceMessage::Sync(m) => m.buffer_len(),
            ServiceMessage::Cpg(m) => m.buffer_len(),
            ServiceMessage::Votequorum(m) => m.buffer_len(),
            ServiceMessage::Cmap(m) => m.buffer_len(),
            ServiceMessage::Cfg(m) => m.buffer_len(),
            ServiceMessage::Pload(m) => m.buffer_len(),
            ServiceMessage::Openais(m) => m.buffer_len(),
            ServiceMessage::Unknown { body, .. } => HDR + body.len(),
            ServiceMessage::Opaque(b) => b.len(),
        }
    }

    /// Encodes into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        match self {
            ServiceMessage::Sync(m) => m.emit(buf),
            ServiceMessage::Cpg(m) => m.emit(buf),
            ServiceMessage::Votequorum(m) => m.emit(buf),
            ServiceMessage::Cmap(m) => m.emit(buf),
            ServiceMessage::Cfg(m) => m.emit(buf),
            ServiceMessage::Pload(m) => m.emit(buf),
            ServiceMessage::Openais(m) => m.emit(buf),
            ServiceMessage::Unknown { header, body } => {
                let mut w = Writer::new(buf, header.endian, "service message", self.buffer_len())?;
                header.write(&mut w);
                w.bytes(body);
                Ok(w.pos())
            }
            ServiceMessage::Opaque(b) => {
                let mut w = Writer::new(buf, Endian::Little, "group payload", b.len())?;
                w.bytes(b);
                Ok(w.pos())
            }
        }
    }
}

impl core::fmt::Display for ServiceMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ServiceMessage::Sync(m) => m.fmt(f),
            ServiceMessage::Cpg(m) => m.fmt(f),
            ServiceMessage::Votequorum(m) => m.fmt(f),
            ServiceMessage::Cmap(m) => m.fmt(f),
            ServiceMessage::Cfg(m) => m.fmt(f),
            ServiceMessage::Pload(m) => m.fmt(f),
            ServiceMessage::Openais(m) => m.fmt(f),
            ServiceMessage::Unknown { header, body } => {
                let table = ServiceTable::for_generation(header.generation);
                match Service::from_id(table, header.service()) {
                    Some(s) => write!(f, "{}", s.name())?,
                    None => write!(f, "service{}", header.service())?,
                }
                match Service::from_id(table, header.service())
                    .and_then(|s| s.fn_name(table, header.fn_id()))
                {
                    Some(n) => write!(f, ".{n}")?,
                    None => write!(f, ".fn{}", header.fn_id())?,
                }
                write!(
                    f,
                    " size={} len={} (not decoded)",
                    header.size,
                    HDR + body.len()
                )
            }
            ServiceMessage::Opaque(b) => write!(f, "opaque len={}", b.len()),
        }
    }
}

/// A whole reassembled message: group header, decoded service message and any bytes after
/// it (kept so that decode → emit is exact).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppMessage {
    pub endian: Endian,
    /// Group names as sent.
    pub groups: Vec<Vec<u8>>,
    pub message: ServiceMessage,
    /// Bytes after the decoded message (none in anything corosync sends).
    pub trailer: Vec<u8>,
}

impl AppMessage {
    /// Decodes a reassembled message with the generation's default service numbering.
    pub fn decode(buf: &[u8], gen: Generation, endian: Endian) -> Result<Self> {
        Self::decode_with(buf, gen, endian, ServiceTable::for_generation(gen))
    }

    /// Decodes with an explicit service numbering (e.g. [`ServiceTable::Openais`]).
    pub fn decode_with(
        buf: &[u8],
        gen: Generation,
        endian: Endian,
        table: ServiceTable,
    ) -> Result<Self> {
        let g = GroupMessage::parse(buf, endian)?;
        let message = ServiceMessage::decode(g.known_group(), &g.payload, gen, endian, table)?;
        let used = message.buffer_len();
        let trailer = g
            .payload
            .get(used..)
            .ok_or(Error::Unrecognized(
                "service message longer than its payload",
            ))?
            .to_vec();
        Ok(AppMessage {
            endian,
            groups: g.groups,
            message,
            trailer,
        })
    }

    /// The single known group, if any.
    pub fn group(&self) -> Option<KnownGroup> {
        match self.groups.as_slice() {
            [g] => KnownGroup::from_name(g),
            _ => None,
        }
    }

    /// Size of the group header before the service message.
    pub fn groups_len(&self) -> usize {
        2 + 2 * self.groups.len() + self.groups.iter().map(Vec::len).sum::<usize>()
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        self.groups_len() + self.message.buffer_len() + self.trailer.len()
    }

    /// Encodes into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let need = self.buffer_len();
        if buf.len() < need {
            return Err(Error::BufferTooSmall {
                message: "app message",
                need,
                have: buf.len(),
            });
        }
        let g = GroupMessage {
            endian: self.endian,
            groups: self.groups.clone(),
            payload: Vec::new(),
        };
        let mut at = g.emit(buf)?;
        at += self.message.emit(&mut buf[at..])?;
        buf[at..at + self.trailer.len()].copy_from_slice(&self.trailer);
        Ok(at + self.trailer.len())
    }
}

impl core::fmt::Display for AppMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if let ServiceMessage::Opaque(b) = &self.message {
            let names: Vec<String> = self.groups.iter().map(|g| show_bytes(g)).collect();
            return write!(f, "group={:?} len={}", names, b.len());
        }
        self.message.fmt(f)?;
        if !self.trailer.is_empty() {
            write!(f, " trailer={}", self.trailer.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{mcast_payload, messages, sample};
    use crate::totempg::{PacketView, Reassembler};
    use proptest::prelude::*;

    fn dump(name: &str, gen: Generation, table: ServiceTable) -> Vec<String> {
        let (p, e) = mcast_payload(&sample(name), gen);
        let v = PacketView::new_checked(&p, e).unwrap();
        let mut out = Vec::new();
        Reassembler::new().feed(1, &v, &mut out).unwrap();
        out.iter()
            .map(|m| {
                let a = AppMessage::decode_with(m, gen, e, table).unwrap();
                let mut b = vec![0u8; a.buffer_len()];
                assert_eq!(a.emit(&mut b).unwrap(), m.len());
                assert_eq!(&b, m, "{name}: {a}");
                a.to_string()
            })
            .collect()
    }

    // Whole datagrams of every generation, decoded and dumped; the expectations come from the
    // message sequences listed in findings-old-versions-live §4 and corosync3-live §5.3.
    #[test]
    fn real_datagrams_dump() {
        use ServiceTable::*;
        assert_eq!(
            dump("g1_nodeinfo_determine_barrier", Generation::G1, Corosync1),
            vec![
                "votequorum.nodeinfo votes=1 expected=3 version=7.0.0 config=109584384 flags=0x80 first_trans=1",
                "votequorum.nodeinfo votes=1 expected=3 version=7.0.0 config=109584384 flags=0x80 first_trans=0",
                "sync.memb_determine ring=198.51.100.11/8",
                "sync.barrier ring=198.51.100.11/8",
            ]
        );
        assert_eq!(
            dump("g2_nodeinfo_pair_barrier", Generation::G2, Corosync2),
            vec![
                "votequorum.nodeinfo nodeid=1 votes=1 expected=3 flags=0x0",
                "votequorum.nodeinfo nodeid=0 votes=0 expected=0 flags=0x0",
                "sync.barrier ring=198.51.100.11/9",
            ]
        );
        assert_eq!(
            dump("g3_nodeinfo_pair_barrier", Generation::G3, Corosync2)[2],
            "sync.barrier ring=3.5"
        );
        assert_eq!(dump("g2_cmap_barrier", Generation::G2, Corosync2).len(), 2);
        assert!(dump("g2_procleave", Generation::G2, Corosync2)[0]
            .starts_with("cpg.procleave group=\"lab\" pid="));
        assert_eq!(
            dump("g1_evt_chancmd", Generation::G1, Corosync1),
            vec!["evt.chancmd op=7 len=24"]
        );
        // openais numbering: service 3 is CKPT, not decoded (fn 11).
        assert_eq!(
            dump("oa_ckpt", Generation::G1, Openais),
            vec!["ckpt.fn11 size=392 len=392 (not decoded)"]
        );
        assert!(dump("oa_clm_nodejoin", Generation::G1, Openais)[0]
            .starts_with("clm.nodejoin nodeid=191116230"));
    }

    #[test]
    fn unknown_service_round_trips() {
        // corosync 2.x QUORUM (3) fn 0: not decoded, kept.
        let mut m = b"\x01\x00\x01\x00a".to_vec();
        m.extend_from_slice(&[0, 0, 3, 0, 9, 9, 9, 9, 20, 0, 0, 0, 8, 8, 8, 8, 1, 2, 3, 4]);
        let a = AppMessage::decode(&m, Generation::G2, Endian::Little).unwrap();
        assert!(
            matches!(&a.message, ServiceMessage::Unknown { body, .. } if body == &[1, 2, 3, 4])
        );
        assert_eq!(a.to_string(), "quorum.fn0 size=20 len=20 (not decoded)");
        let mut b = vec![0u8; a.buffer_len()];
        a.emit(&mut b).unwrap();
        assert_eq!(b, m);
        // A ykd payload stays opaque.
        let y = b"\x01\x00\x03\x00ykd\x05".to_vec();
        let a = AppMessage::decode(&y, Generation::G1, Endian::Little).unwrap();
        assert_eq!(a.to_string(), "group=[\"ykd\"] len=1");
    }

    #[test]
    fn trailer_after_known_message_is_kept() {
        let (msgs, e) = messages("g3_nodeinfo", Generation::G3);
        let mut m = msgs[0].clone();
        m.extend_from_slice(&[0xab, 0xcd]);
        let a = AppMessage::decode(&m, Generation::G3, e).unwrap();
        assert_eq!(a.trailer, vec![0xab, 0xcd]);
        let mut b = vec![0u8; a.buffer_len()];
        a.emit(&mut b).unwrap();
        assert_eq!(b, m);
    }

    #[test]
    fn truncated_known_message_is_an_error() {
        let (msgs, e) = messages("g2_procjoin", Generation::G2);
        let m = &msgs[0][..msgs[0].len() - 1];
        assert!(matches!(
            AppMessage::decode(m, Generation::G2, e),
            Err(Error::Truncated { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn random_messages_never_panic_and_round_trip(
            g in 0usize..3, group in 0usize..5, svc in 0u8..20, f in 0u8..8,
            body in proptest::collection::vec(any::<u8>(), 0..1700), be: bool,
        ) {
            let gen = Generation::ALL[g];
            let e = if be { Endian::Big } else { Endian::Little };
            let name: &[u8] = [&b"a"[..], b"sync", b"syncv2", b"ykd", b"zz"][group];
            let mut m = Vec::new();
            let w = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
            m.extend_from_slice(&w(1));
            m.extend_from_slice(&w(name.len() as u16));
            m.extend_from_slice(name);
            let mut body = body;
            if body.len() >= 16 {
                let id = (u32::from(svc) << 16) | u32::from(f);
                let at = if gen == Generation::G1 { 8 } else { 0 };
                body[at..at + 4].copy_from_slice(&if be { id.to_be_bytes() } else { id.to_le_bytes() });
            }
            m.extend_from_slice(&body);
            if let Ok(a) = AppMessage::decode(&m, gen, e) {
                let mut b = vec![0u8; a.buffer_len()];
                a.emit(&mut b).unwrap();
                prop_assert_eq!(b, m);
                let _ = a.to_string();
            }
        }
    }
}
