//! Synchronization-engine messages in groups "sync" and "syncv2" (spec §7): barrier,
//! service_build and memb_determine.
//!
//! One layout serves every generation: the service header in the generation's order, then a
//! ring id (30 bytes in G1/G2, 12 in G3). So the G1 sync-v1 barrier and the 1.x syncv2
//! messages use G2 sizes with the 1.x header order, as spec §7.2 says.

use super::header::{ServiceHeader, LEN as HDR};
use super::{need, open};
use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};
use crate::generation::Generation;
use crate::ring_id::RingId;

/// `header.id` of a barrier.
pub const BARRIER: u32 = 0;
/// `header.id` of a service_build.
pub const SERVICE_BUILD: u32 = 1;
/// `header.id` of a memb_determine (sent by 1.x syncv2, never by 2.x/3.x).
pub const MEMB_DETERMINE: u32 = 2;
/// Slots in a service_build's service list.
pub const SERVICE_LIST_MAX: usize = 128;

/// Bytes of padding after the ring id: 2 (G1/G2) or 4 (G3).
const fn ring_pad(gen: Generation) -> usize {
    match gen {
        Generation::G3 => 4,
        _ => 2,
    }
}
/// Size of a barrier / memb_determine: 48 (G1/G2) or 32 (G3).
pub const fn ring_message_len(gen: Generation) -> usize {
    HDR + gen.ring_id_len() + ring_pad(gen)
}
/// Size of a service_build: 568 (G1/G2) or 552 (G3).
pub const fn service_build_len(gen: Generation) -> usize {
    ring_message_len(gen) + 8 + 4 * SERVICE_LIST_MAX
}

/// A barrier or memb_determine: header and ring id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RingMessage {
    pub header: ServiceHeader,
    pub ring_id: RingId,
    /// Tail padding; G1/G2 use only the first 2 bytes.
    pub pad: [u8; 4],
}

fn read_ring(r: &mut Reader<'_>, gen: Generation) -> Result<(RingId, [u8; 4])> {
    let ring_id = RingId::read(r, gen, "ring_id")?;
    let mut pad = [0u8; 4];
    pad[..ring_pad(gen)].copy_from_slice(r.bytes("ring_id pad", ring_pad(gen))?);
    Ok((ring_id, pad))
}

impl RingMessage {
    /// A message with id `id` (BARRIER or MEMB_DETERMINE) for `ring_id`, zero pads.
    pub fn new(gen: Generation, id: u32, ring_id: RingId) -> Self {
        let mut header = ServiceHeader::new(gen, 0, 0, ring_message_len(gen) as u32);
        header.id = id;
        RingMessage {
            header,
            ring_id,
            pad: [0; 4],
        }
    }
    pub fn parse(buf: &[u8], gen: Generation, endian: Endian) -> Result<Self> {
        need(buf, "sync ring message", ring_message_len(gen))?;
        let (header, mut r) = open(buf, gen, endian, "sync ring message")?;
        let (ring_id, pad) = read_ring(&mut r, gen)?;
        Ok(RingMessage {
            header,
            ring_id,
            pad,
        })
    }
    pub fn buffer_len(&self) -> usize {
        ring_message_len(self.header.generation)
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let g = self.header.generation;
        let mut w = Writer::new(
            buf,
            self.header.endian,
            "sync ring message",
            self.buffer_len(),
        )?;
        self.header.write(&mut w);
        self.ring_id.write(&mut w, g, "ring_id")?;
        w.bytes(&self.pad[..ring_pad(g)]);
        Ok(w.pos())
    }
}

/// A service_build: the sender's list of services with sync callbacks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceBuild {
    pub header: ServiceHeader,
    pub ring_id: RingId,
    /// Padding after the ring id; G1/G2 use only the first 2 bytes.
    pub pad: [u8; 4],
    /// Number of valid slots (an i32 on the wire).
    pub service_list_entries: i32,
    pub entries_pad: [u8; 4],
    /// All 128 slots as sent; slots past `service_list_entries` are stack garbage in 2.x.
    pub service_list: [u32; SERVICE_LIST_MAX],
}

impl ServiceBuild {
    /// A service_build listing `services` (unused slots zero, as 3.x sends them).
    pub fn new(gen: Generation, ring_id: RingId, services: &[u32]) -> Self {
        let mut header = ServiceHeader::new(gen, 0, 0, service_build_len(gen) as u32);
        header.id = SERVICE_BUILD;
        let mut service_list = [0u32; SERVICE_LIST_MAX];
        let n = services.len().min(SERVICE_LIST_MAX);
        service_list[..n].copy_from_slice(&services[..n]);
        ServiceBuild {
            header,
            ring_id,
            pad: [0; 4],
            service_list_entries: n as i32,
            entries_pad: [0; 4],
            service_list,
        }
    }
    pub fn parse(buf: &[u8], gen: Generation, endian: Endian) -> Result<Self> {
        need(buf, "sync service_build", service_build_len(gen))?;
        let (header, mut r) = open(buf, gen, endian, "sync service_build")?;
        let (ring_id, pad) = read_ring(&mut r, gen)?;
        let service_list_entries = r.i32("service_list_entries")?;
        let entries_pad = r.array::<4>("service_list_entries pad")?;
        let mut service_list = [0u32; SERVICE_LIST_MAX];
        for s in service_list.iter_mut() {
            *s = r.u32("service_list")?;
        }
        Ok(ServiceBuild {
            header,
            ring_id,
            pad,
            service_list_entries,
            entries_pad,
            service_list,
        })
    }
    pub fn buffer_len(&self) -> usize {
        service_build_len(self.header.generation)
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let g = self.header.generation;
        let mut w = Writer::new(
            buf,
            self.header.endian,
            "sync service_build",
            self.buffer_len(),
        )?;
        self.header.write(&mut w);
        self.ring_id.write(&mut w, g, "ring_id")?;
        w.bytes(&self.pad[..ring_pad(g)]);
        w.i32(self.service_list_entries);
        w.bytes(&self.entries_pad);
        for s in &self.service_list {
            w.u32(*s);
        }
        Ok(w.pos())
    }
    /// The valid entries (count clamped to 0..=128).
    pub fn services(&self) -> &[u32] {
        let n = self.service_list_entries.clamp(0, SERVICE_LIST_MAX as i32) as usize;
        &self.service_list[..n]
    }
}

/// Any sync-engine message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SyncMessage {
    Barrier(RingMessage),
    ServiceBuild(Box<ServiceBuild>),
    MembDetermine(RingMessage),
}

impl SyncMessage {
    /// Decodes by `header.id`; an id other than 0, 1, 2 is an error.
    pub fn parse(buf: &[u8], gen: Generation, endian: Endian) -> Result<Self> {
        let h = ServiceHeader::parse(buf, gen, endian)?;
        Ok(match h.id {
            BARRIER => SyncMessage::Barrier(RingMessage::parse(buf, gen, endian)?),
            SERVICE_BUILD => {
                SyncMessage::ServiceBuild(Box::new(ServiceBuild::parse(buf, gen, endian)?))
            }
            MEMB_DETERMINE => SyncMessage::MembDetermine(RingMessage::parse(buf, gen, endian)?),
            id => {
                return Err(Error::Invalid {
                    message: "sync",
                    field: "id",
                    offset: if gen == Generation::G1 { 8 } else { 0 },
                    value: u64::from(id),
                })
            }
        })
    }
    pub fn header(&self) -> &ServiceHeader {
        match self {
            SyncMessage::Barrier(m) | SyncMessage::MembDetermine(m) => &m.header,
            SyncMessage::ServiceBuild(m) => &m.header,
        }
    }
    pub fn ring_id(&self) -> &RingId {
        match self {
            SyncMessage::Barrier(m) | SyncMessage::MembDetermine(m) => &m.ring_id,
            SyncMessage::ServiceBuild(m) => &m.ring_id,
        }
    }
    pub fn buffer_len(&self) -> usize {
        match self {
            SyncMessage::Barrier(m) | SyncMessage::MembDetermine(m) => m.buffer_len(),
            SyncMessage::ServiceBuild(m) => m.buffer_len(),
        }
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        match self {
            SyncMessage::Barrier(m) | SyncMessage::MembDetermine(m) => m.emit(buf),
            SyncMessage::ServiceBuild(m) => m.emit(buf),
        }
    }
}

impl core::fmt::Display for SyncMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SyncMessage::Barrier(m) => write!(f, "sync.barrier ring={}", m.ring_id),
            SyncMessage::MembDetermine(m) => write!(f, "sync.memb_determine ring={}", m.ring_id),
            SyncMessage::ServiceBuild(m) => {
                write!(
                    f,
                    "sync.service_build ring={} services={:?}",
                    m.ring_id,
                    m.services()
                )
            }
        }
    }
}

/// A zero-copy view of any sync message.
#[derive(Debug, Clone, Copy)]
pub struct SyncMessageView<'a> {
    buf: &'a [u8],
    gen: Generation,
    endian: Endian,
    id: u32,
}

impl<'a> SyncMessageView<'a> {
    /// Checks id and length once; getters cannot fail afterwards.
    pub fn new_checked(buf: &'a [u8], gen: Generation, endian: Endian) -> Result<Self> {
        let h = ServiceHeader::parse(buf, gen, endian)?;
        let len = match h.id {
            BARRIER | MEMB_DETERMINE => ring_message_len(gen),
            SERVICE_BUILD => service_build_len(gen),
            id => {
                return Err(Error::Invalid {
                    message: "sync",
                    field: "id",
                    offset: 0,
                    value: u64::from(id),
                })
            }
        };
        need(buf, "sync", len)?;
        Ok(SyncMessageView {
            buf,
            gen,
            endian,
            id: h.id,
        })
    }
    pub fn id(&self) -> u32 {
        self.id
    }
    /// Raw ring id bytes (compared bytewise by corosync).
    pub fn ring_id_bytes(&self) -> &'a [u8] {
        &self.buf[HDR..HDR + self.gen.ring_id_len()]
    }
    /// The ring id's sequence number.
    pub fn ring_seq(&self) -> u64 {
        self.endian
            .get_u64(&self.buf[HDR + self.gen.ring_id_len() - 8..])
    }
    /// Valid service ids of a service_build (empty for the others).
    pub fn services(&self) -> impl Iterator<Item = u32> + 'a {
        let (buf, endian, base) = (self.buf, self.endian, ring_message_len(self.gen));
        let n = if self.id == SERVICE_BUILD {
            (endian.get_u32(&buf[base..]) as i32).clamp(0, SERVICE_LIST_MAX as i32) as usize
        } else {
            0
        };
        (0..n).map(move |i| endian.get_u32(&buf[base + 8 + 4 * i..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::GroupMessageView;
    use crate::ring_id::RingRep;
    use crate::testdata::messages;
    use proptest::prelude::*;

    fn payload(name: &str, gen: Generation, i: usize) -> (Vec<u8>, Endian) {
        let (m, e) = messages(name, gen);
        (
            GroupMessageView::new_checked(&m[i], e)
                .unwrap()
                .payload()
                .to_vec(),
            e,
        )
    }

    fn round_trip(m: &SyncMessage, bytes: &[u8]) {
        let mut out = vec![0u8; m.buffer_len()];
        assert_eq!(m.emit(&mut out).unwrap(), bytes.len());
        assert_eq!(out, bytes);
    }

    // Spec §7.1 (G2): barrier 48 B, ring id @16. 2.4.6 formation frame 26: ring
    // 198.51.100.12/5 (node 2; the first 2.x ring is 5, findings-old §6 item 3), header id 0
    // at offset 0, size 48 at 8; pads hold garbage 3d 56 00 00 and dd 85 02 c9.
    #[test]
    fn g2_barrier() {
        let (p, e) = payload("g2_barrier", Generation::G2, 0);
        let m = SyncMessage::parse(&p, Generation::G2, e).unwrap();
        let SyncMessage::Barrier(b) = &m else {
            panic!("{m:?}")
        };
        assert_eq!(
            (b.header.size, b.header.pad0, b.header.pad1),
            (48, [0x3d, 0x56, 0, 0], [0xdd, 0x85, 0x02, 0xc9])
        );
        assert_eq!((b.ring_id.rep_nodeid(), b.ring_id.seq), (2, 5));
        assert!(matches!(b.ring_id.rep, RingRep::Addr(a) if a.addr[..4] == [198, 51, 100, 12]));
        assert_eq!(m.to_string(), "sync.barrier ring=198.51.100.12/5");
        let v = SyncMessageView::new_checked(&p, Generation::G2, e).unwrap();
        assert_eq!((v.id(), v.ring_seq()), (0, 5));
        round_trip(&m, &p);
    }

    // Spec §7.1: service_build 568 (G2) / 552 (G3); entries @48/@32, list @56/@40. 2.4.6 lists
    // cmap 0, cpg 2, votequorum 5 and leaves stack garbage in the other slots; 3.1.7 lists
    // 0, 2, 3, 5 (quorum joins in 3.1) and zeroes the rest.
    #[test]
    fn service_builds() {
        let (p, e) = payload("g2_service_build", Generation::G2, 0);
        let m = SyncMessage::parse(&p, Generation::G2, e).unwrap();
        let SyncMessage::ServiceBuild(b) = &m else {
            panic!()
        };
        assert_eq!(b.services(), &[0, 2, 5]);
        assert_eq!(b.entries_pad, [0x6a, 0x7f, 0, 0]);
        assert_eq!(b.service_list[3], 0x563d);
        round_trip(&m, &p);

        let (p, e) = payload("g3_service_build", Generation::G3, 0);
        assert_eq!(p.len(), 552);
        let m = SyncMessage::parse(&p, Generation::G3, e).unwrap();
        let SyncMessage::ServiceBuild(b) = &m else {
            panic!()
        };
        assert_eq!(b.services(), &[0, 2, 3, 5]);
        assert_eq!(b.ring_id, RingId::node(3, 5));
        assert!(b.service_list[4..].iter().all(|&s| s == 0));
        let v = SyncMessageView::new_checked(&p, Generation::G3, e).unwrap();
        assert_eq!(v.services().collect::<Vec<_>>(), vec![0, 2, 3, 5]);
        round_trip(&m, &p);
    }

    // Spec §7.2 + findings-old §4, §6 item 9: 1.4.10 sends syncv2 memb_determine (id 2, 48 B)
    // and a sync-v1 barrier, both with the 1.x header order (size@0, id@8), and the ring id
    // keeps the G1 address padding 08 00 02 00 c6 33 64 0b 09 00 03 00.
    #[test]
    fn g1_memb_determine_and_barrier() {
        let (p, e) = payload("g1_nodeinfo_determine_barrier", Generation::G1, 2);
        let m = SyncMessage::parse(&p, Generation::G1, e).unwrap();
        let SyncMessage::MembDetermine(d) = &m else {
            panic!()
        };
        assert_eq!(
            (d.header.size, d.header.id, d.header.pad1),
            (48, 2, [0x30, 0, 0, 0])
        );
        let RingRep::Addr(a) = d.ring_id.rep else {
            panic!()
        };
        assert_eq!(
            a.addr,
            [0xc6, 0x33, 0x64, 0x0b, 8, 0, 2, 0, 0xc6, 0x33, 0x64, 0x0b, 9, 0, 3, 0]
        );
        assert_eq!(d.ring_id.seq, 8);
        round_trip(&m, &p);
        let (p, e) = payload("g1_nodeinfo_determine_barrier", Generation::G1, 3);
        let m = SyncMessage::parse(&p, Generation::G1, e).unwrap();
        assert!(matches!(&m, SyncMessage::Barrier(b) if b.header.pad1 == [0xae, 0x7f, 0, 0]));
        round_trip(&m, &p);
        let (p, e) = payload("g1_syncv2_build", Generation::G1, 0);
        let m = SyncMessage::parse(&p, Generation::G1, e).unwrap();
        let SyncMessage::ServiceBuild(b) = &m else {
            panic!()
        };
        assert_eq!(b.header.size, 568);
        round_trip(&m, &p);
    }

    // G3 barrier: 32 bytes (spec §7.1), mixed capture frame 122.
    #[test]
    fn g3_barrier() {
        let (p, e) = payload("g3_cmap_barrier", Generation::G3, 1);
        let m = SyncMessage::parse(&p, Generation::G3, e).unwrap();
        assert_eq!(m.to_string(), "sync.barrier ring=3.5");
        round_trip(&m, &p);
    }

    pub(crate) fn arb_ring(gen: Generation) -> BoxedStrategy<RingId> {
        use crate::ip_address::TotemIpAddress;
        if gen == Generation::G3 {
            (any::<u32>(), any::<u64>())
                .prop_map(|(n, s)| RingId::node(n, s))
                .boxed()
        } else {
            (any::<u32>(), any::<u16>(), any::<[u8; 16]>(), any::<u64>())
                .prop_map(|(nodeid, family, addr, seq)| RingId {
                    rep: RingRep::Addr(TotemIpAddress {
                        nodeid,
                        family,
                        addr,
                    }),
                    seq,
                })
                .boxed()
        }
    }

    fn arb_sync() -> impl Strategy<Value = SyncMessage> {
        (0usize..3, any::<bool>(), 0u32..3).prop_flat_map(|(g, be, id)| {
            let gen = Generation::ALL[g];
            let endian = if be { Endian::Big } else { Endian::Little };
            (
                arb_ring(gen),
                any::<[u8; 4]>(),
                any::<[u8; 4]>(),
                any::<[u8; 4]>(),
                any::<i32>(),
                any::<[u8; 4]>(),
                proptest::collection::vec(any::<u32>(), SERVICE_LIST_MAX),
            )
                .prop_map(move |(ring_id, p0, p1, mut pad, entries, epad, list)| {
                    if gen != Generation::G3 {
                        pad[2..].fill(0);
                    }
                    let mut header = ServiceHeader::new(gen, 0, 0, 0);
                    header.endian = endian;
                    header.id = id;
                    header.pad0 = p0;
                    header.pad1 = p1;
                    match id {
                        SERVICE_BUILD => {
                            header.size = service_build_len(gen) as u32;
                            let mut service_list = [0u32; SERVICE_LIST_MAX];
                            service_list.copy_from_slice(&list);
                            SyncMessage::ServiceBuild(Box::new(ServiceBuild {
                                header,
                                ring_id,
                                pad,
                                service_list_entries: entries,
                                entries_pad: epad,
                                service_list,
                            }))
                        }
                        BARRIER => SyncMessage::Barrier(RingMessage {
                            header,
                            ring_id,
                            pad,
                        }),
                        _ => SyncMessage::MembDetermine(RingMessage {
                            header,
                            ring_id,
                            pad,
                        }),
                    }
                })
        })
    }

    proptest! {
        #[test]
        fn prop_round_trip(m in arb_sync()) {
            let h = *m.header();
            let mut a = vec![0u8; m.buffer_len()];
            m.emit(&mut a).unwrap();
            let back = SyncMessage::parse(&a, h.generation, h.endian).unwrap();
            prop_assert_eq!(&back, &m);
            SyncMessageView::new_checked(&a, h.generation, h.endian).unwrap();
        }

        #[test]
        fn random_bytes(buf in proptest::collection::vec(any::<u8>(), 0..600), g in 0usize..3) {
            let gen = Generation::ALL[g];
            if let Ok(m) = SyncMessage::parse(&buf, gen, Endian::Little) {
                let mut out = vec![0u8; m.buffer_len()];
                m.emit(&mut out).unwrap();
                prop_assert_eq!(&out[..], &buf[..out.len()]);
            }
            if let Ok(v) = SyncMessageView::new_checked(&buf, gen, Endian::Little) {
                let _ = (v.ring_id_bytes(), v.ring_seq(), v.services().count());
            }
        }
    }
}
