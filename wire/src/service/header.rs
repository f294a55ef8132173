//! The 16-byte service header of every message in groups "a", "sync" and "syncv2" (spec §6.1),
//! and the 24-byte response variant.

use crate::endian::{Endian, Reader, Writer};
use crate::error::Result;
use crate::generation::Generation;

/// Encoded size of a request header.
pub const LEN: usize = 16;
/// Encoded size of a response header.
pub const RESPONSE_LEN: usize = 24;

/// A service header, owned.
///
/// G1 (openais/corosync 1.x) writes `size` at 0 and `id` at 8; G2/G3 (libqb) write `id` at 0
/// and `size` at 8. The 4-byte holes after each field are uninitialised in every sender and
/// are kept raw: `pad0` at offset 4, `pad1` at offset 12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceHeader {
    pub generation: Generation,
    pub endian: Endian,
    /// `(service << 16) | fn_id` (an i32 on the wire).
    pub id: u32,
    /// Total message size including this header (an i32 on the wire).
    pub size: u32,
    pub pad0: [u8; 4],
    pub pad1: [u8; 4],
}

impl ServiceHeader {
    /// A header with zeroed pads, little-endian.
    pub fn new(generation: Generation, service: u16, fn_id: u16, size: u32) -> Self {
        ServiceHeader {
            generation,
            endian: Endian::Little,
            id: (u32::from(service) << 16) | u32::from(fn_id),
            size,
            pad0: [0; 4],
            pad1: [0; 4],
        }
    }
    /// The service id (high 16 bits of `id`).
    pub fn service(&self) -> u16 {
        (self.id >> 16) as u16
    }
    /// The function id (low 16 bits of `id`).
    pub fn fn_id(&self) -> u16 {
        self.id as u16
    }

    /// Decodes the header at the start of `buf`.
    pub fn parse(buf: &[u8], generation: Generation, endian: Endian) -> Result<Self> {
        Self::read(&mut Reader::new(buf, endian, "service header"), generation)
    }

    pub(crate) fn read(r: &mut Reader<'_>, generation: Generation) -> Result<Self> {
        let endian = r.endian();
        let (a, pad0) = (
            r.u32("service header")?,
            r.array::<4>("service header pad")?,
        );
        let (b, pad1) = (
            r.u32("service header")?,
            r.array::<4>("service header pad")?,
        );
        let (id, size) = if generation == Generation::G1 {
            (b, a)
        } else {
            (a, b)
        };
        Ok(ServiceHeader {
            generation,
            endian,
            id,
            size,
            pad0,
            pad1,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let (a, b) = if self.generation == Generation::G1 {
            (self.size, self.id)
        } else {
            (self.id, self.size)
        };
        w.u32(a);
        w.bytes(&self.pad0);
        w.u32(b);
        w.bytes(&self.pad1);
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        LEN
    }

    /// Encodes into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf, self.endian, "service header", LEN)?;
        self.write(&mut w);
        Ok(w.pos())
    }
}

/// A response header: the request header followed by `error` (i32) and its 4-byte hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseHeader {
    pub header: ServiceHeader,
    pub error: i32,
    pub pad: [u8; 4],
}

impl ResponseHeader {
    /// Decodes the response header at the start of `buf`.
    pub fn parse(buf: &[u8], generation: Generation, endian: Endian) -> Result<Self> {
        Self::read(&mut Reader::new(buf, endian, "response header"), generation)
    }
    pub(crate) fn read(r: &mut Reader<'_>, generation: Generation) -> Result<Self> {
        let header = ServiceHeader::read(r, generation)?;
        let error = r.i32("error")?;
        let pad = r.array::<4>("error pad")?;
        Ok(ResponseHeader { header, error, pad })
    }
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        self.header.write(w);
        w.i32(self.error);
        w.bytes(&self.pad);
    }
    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        RESPONSE_LEN
    }
    /// Encodes into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf, self.header.endian, "response header", RESPONSE_LEN)?;
        self.write(&mut w);
        Ok(w.pos())
    }
}

/// A zero-copy view of a service header.
#[derive(Debug, Clone, Copy)]
pub struct ServiceHeaderView<'a> {
    buf: &'a [u8],
    generation: Generation,
    endian: Endian,
}

impl<'a> ServiceHeaderView<'a> {
    /// Checks that 16 bytes are there; getters cannot fail afterwards.
    pub fn new_checked(buf: &'a [u8], generation: Generation, endian: Endian) -> Result<Self> {
        Reader::new(buf, endian, "service header").bytes("service header", LEN)?;
        Ok(ServiceHeaderView {
            buf,
            generation,
            endian,
        })
    }
    fn swap(&self) -> (usize, usize) {
        if self.generation == Generation::G1 {
            (8, 0)
        } else {
            (0, 8)
        }
    }
    pub fn id(&self) -> u32 {
        self.endian.get_u32(&self.buf[self.swap().0..])
    }
    pub fn size(&self) -> u32 {
        self.endian.get_u32(&self.buf[self.swap().1..])
    }
    pub fn service(&self) -> u16 {
        (self.id() >> 16) as u16
    }
    pub fn fn_id(&self) -> u16 {
        self.id() as u16
    }
    /// The bytes after the header.
    pub fn body(&self) -> &'a [u8] {
        &self.buf[LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::GroupMessageView;
    use crate::testdata::messages;
    use proptest::prelude::*;

    // Spec §6.1: 1.x size@0 id@8; 1.4.10 frame 25 first message is VOTEQUORUM (15) NODEINFO
    // (fn 0) of 48 bytes; its pad0 holds stack bytes ae 7f 00 00.
    #[test]
    fn g1_order_and_garbage_pads() {
        let (msgs, e) = messages("g1_nodeinfo_determine_barrier", Generation::G1);
        let p = GroupMessageView::new_checked(&msgs[0], e)
            .unwrap()
            .payload();
        let h = ServiceHeader::parse(p, Generation::G1, e).unwrap();
        assert_eq!((h.service(), h.fn_id(), h.size), (15, 0, 48));
        assert_eq!(h.pad0, [0xae, 0x7f, 0, 0]);
        let v = ServiceHeaderView::new_checked(p, Generation::G1, e).unwrap();
        assert_eq!((v.service(), v.fn_id(), v.size()), (15, 0, 48));
        let mut out = [0u8; 16];
        h.emit(&mut out).unwrap();
        assert_eq!(&out, &p[..16]);
    }

    // Spec §6.1: 2.x id@0 size@8; 2.4.6 frame 46 carries VOTEQUORUM (5) NODEINFO of 32 bytes
    // with pad1 = e5 7f 00 00.
    #[test]
    fn g2_order() {
        let (msgs, e) = messages("g2_nodeinfo_pair_barrier", Generation::G2);
        let p = GroupMessageView::new_checked(&msgs[0], e)
            .unwrap()
            .payload();
        let h = ServiceHeader::parse(p, Generation::G2, e).unwrap();
        assert_eq!(
            (h.id, h.size, h.pad1),
            (0x0005_0000, 32, [0xe5, 0x7f, 0, 0])
        );
    }

    proptest! {
        #[test]
        fn round_trip(g in 0usize..3, be: bool, id: u32, size: u32, pad0: [u8; 4], pad1: [u8; 4], error: i32, pad: [u8; 4]) {
            let generation = Generation::ALL[g];
            let endian = if be { Endian::Big } else { Endian::Little };
            let r = ResponseHeader { header: ServiceHeader { generation, endian, id, size, pad0, pad1 }, error, pad };
            let mut a = [0u8; 24];
            r.emit(&mut a).unwrap();
            prop_assert_eq!(ResponseHeader::parse(&a, generation, endian).unwrap(), r);
            let v = ServiceHeaderView::new_checked(&a, generation, endian).unwrap();
            prop_assert_eq!((v.id(), v.size()), (id, size));
        }

        #[test]
        fn short_input_errors(buf in proptest::collection::vec(any::<u8>(), 0..16)) {
            prop_assert!(ServiceHeader::parse(&buf, Generation::G2, Endian::Little).is_err());
            prop_assert!(ResponseHeader::parse(&buf, Generation::G1, Endian::Little).is_err());
        }
    }
}
