//! CMAP exec message (spec §9.3, G2/G3 service 0 fn 0): a 48-byte block and 8-byte aligned
//! key/value items.

use super::header::ServiceHeader;
use super::{need, open, show_bytes};
use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};
use crate::generation::Generation;

/// Size of the fixed block before the items.
pub const MCAST_LEN: usize = 48;
/// Size of an item without its value.
pub const ITEM_LEN: usize = 280;
/// Size of the key name array.
pub const KEY_NAME_LEN: usize = 256;
/// Value type: the key does not exist on the sender.
pub const TYPE_NOT_EXIST: u8 = 0;
/// Value type: unsigned 64-bit.
pub const TYPE_UINT64: u8 = 8;

/// One u8 in an 8-byte slot, with its 7 uninitialised bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ByteSlot {
    pub value: u8,
    pub pad: [u8; 7],
}

impl ByteSlot {
    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self> {
        Ok(ByteSlot {
            value: r.u8(field)?,
            pad: r.array(field)?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.u8(self.value);
        w.bytes(&self.pad);
    }
}

/// One key/value item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CmapItem {
    /// key_name.length (u16) …
    pub key_len: u16,
    /// … and its 6-byte hole.
    pub key_len_pad: [u8; 6],
    /// All 256 bytes of key_name.value (NUL-terminated; the rest kept raw).
    pub key_name: [u8; KEY_NAME_LEN],
    pub value_type: ByteSlot,
    /// The value; `value_len` (u64) on the wire is its length.
    pub value: Vec<u8>,
    /// Bytes that round the item up to a multiple of 8.
    pub align_pad: Vec<u8>,
}

impl CmapItem {
    /// The significant key bytes (key_len clamped to 256).
    pub fn key(&self) -> &[u8] {
        &self.key_name[..usize::from(self.key_len).min(KEY_NAME_LEN)]
    }
    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        ITEM_LEN + self.value.len() + self.align_pad.len()
    }
    /// The value as a u64 in the sender's order, if it is an 8-byte value.
    pub fn value_u64(&self, endian: Endian) -> Option<u64> {
        (self.value.len() == 8).then(|| endian.get_u64(&self.value))
    }
}

/// The CMAP mcast.
///
/// The sender memsets the header, so its id is 0 (= service 0 fn 0); reason 0 is SYNC,
/// 1 NEW_CONFIG_VERSION.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CmapMcast {
    pub header: ServiceHeader,
    pub reason: ByteSlot,
    /// Count of items as sent (≤ 32 in corosync); `items` holds that many.
    pub no_items: ByteSlot,
    pub reserved1: ByteSlot,
    pub reserved2: ByteSlot,
    pub items: Vec<CmapItem>,
}

const M: &str = "cmap mcast";

impl CmapMcast {
    pub fn parse(buf: &[u8], gen: Generation, endian: Endian) -> Result<Self> {
        need(buf, M, MCAST_LEN)?;
        let (header, mut r) = open(buf, gen, endian, M)?;
        let reason = ByteSlot::read(&mut r, "reason")?;
        let no_items = ByteSlot::read(&mut r, "no_items")?;
        let reserved1 = ByteSlot::read(&mut r, "reserved1")?;
        let reserved2 = ByteSlot::read(&mut r, "reserved2")?;
        let mut items = Vec::with_capacity(usize::from(no_items.value));
        for _ in 0..no_items.value {
            let key_len = r.u16("key_name.length")?;
            let key_len_pad = r.array("key_name pad")?;
            let key_name = r.array("key_name.value")?;
            let value_type = ByteSlot::read(&mut r, "value_type")?;
            let at = r.pos();
            let value_len = r.u64("value_len")?;
            let n = usize::try_from(value_len)
                .ok()
                .filter(|&n| n <= r.remaining())
                .ok_or_else(|| r.invalid("value_len", at, value_len))?;
            let value = r.bytes("value", n)?.to_vec();
            let pad = (8 - n % 8) % 8;
            let align_pad = r.bytes("item alignment", pad)?.to_vec();
            items.push(CmapItem {
                key_len,
                key_len_pad,
                key_name,
                value_type,
                value,
                align_pad,
            });
        }
        Ok(CmapMcast {
            header,
            reason,
            no_items,
            reserved1,
            reserved2,
            items,
        })
    }

    pub fn buffer_len(&self) -> usize {
        MCAST_LEN + self.items.iter().map(CmapItem::buffer_len).sum::<usize>()
    }

    /// Encodes into `buf`; fails if an item's `align_pad` does not round it to 8 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        for it in &self.items {
            if it.align_pad.len() != (8 - it.value.len() % 8) % 8 {
                return Err(Error::Invalid {
                    message: M,
                    field: "item alignment",
                    offset: 0,
                    value: it.align_pad.len() as u64,
                });
            }
        }
        let mut w = Writer::new(buf, self.header.endian, M, self.buffer_len())?;
        self.header.write(&mut w);
        for s in [
            &self.reason,
            &self.no_items,
            &self.reserved1,
            &self.reserved2,
        ] {
            s.write(&mut w);
        }
        for it in &self.items {
            w.u16(it.key_len);
            w.bytes(&it.key_len_pad);
            w.bytes(&it.key_name);
            it.value_type.write(&mut w);
            w.u64(it.value.len() as u64);
            w.bytes(&it.value);
            w.bytes(&it.align_pad);
        }
        Ok(w.pos())
    }
}

impl core::fmt::Display for CmapMcast {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let reason = match self.reason.value {
            0 => "sync",
            1 => "new_config_version",
            _ => "?",
        };
        write!(f, "cmap.mcast reason={reason} items={}", self.items.len())?;
        for it in &self.items {
            write!(f, " {}", show_bytes(it.key()))?;
            match (it.value_type.value, it.value_u64(self.header.endian)) {
                (TYPE_NOT_EXIST, _) => write!(f, "=<none>")?,
                (TYPE_UINT64, Some(v)) => write!(f, "={v}")?,
                (t, _) => write!(f, "=<type {t}, {} bytes>", it.value.len())?,
            }
        }
        Ok(())
    }
}

/// A zero-copy view of a CMAP mcast's fixed block.
#[derive(Debug, Clone, Copy)]
pub struct CmapMcastView<'a> {
    buf: &'a [u8],
    endian: Endian,
}

impl<'a> CmapMcastView<'a> {
    /// Checks the whole message once (items included).
    pub fn new_checked(buf: &'a [u8], gen: Generation, endian: Endian) -> Result<Self> {
        CmapMcast::parse(buf, gen, endian)?;
        Ok(CmapMcastView { buf, endian })
    }
    pub fn reason(&self) -> u8 {
        self.buf[16]
    }
    pub fn no_items(&self) -> u8 {
        self.buf[24]
    }
    /// The first item's key (NUL-terminated name, length from key_name.length).
    pub fn first_key(&self) -> Option<&'a [u8]> {
        (self.no_items() > 0).then(|| {
            let n = usize::from(self.endian.get_u16(&self.buf[48..])).min(KEY_NAME_LEN);
            &self.buf[56..56 + n]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::GroupMessageView;
    use crate::testdata::messages;
    use proptest::prelude::*;

    // Spec §9.3: 48-byte block (reason @16, no_items @24), item key length @48, key @56,
    // value_type @312, value_len @320; sync message with totem.config_version NOT_EXIST = 328
    // bytes (findings-old §6 item 12 "CMAP sync message of 328 B"). 2.4.6 frame 32 and the
    // G3 mixed-capture frame 122 carry exactly that.
    #[test]
    fn real_sync_items() {
        for (name, gen) in [
            ("g2_cmap_barrier", Generation::G2),
            ("g3_cmap_barrier", Generation::G3),
        ] {
            let (m, e) = messages(name, gen);
            let p = GroupMessageView::new_checked(&m[0], e)
                .unwrap()
                .payload()
                .to_vec();
            assert_eq!(p.len(), 328);
            let c = CmapMcast::parse(&p, gen, e).unwrap();
            assert_eq!((c.header.id, c.header.size), (0, 328));
            assert_eq!((c.reason.value, c.no_items.value, c.items.len()), (0, 1, 1));
            assert_eq!(c.items[0].key(), b"totem.config_version");
            assert_eq!(c.items[0].key_len, 20);
            assert_eq!(c.items[0].value_type.value, TYPE_NOT_EXIST);
            assert!(c.items[0].value.is_empty());
            assert_eq!(
                c.to_string(),
                "cmap.mcast reason=sync items=1 totem.config_version=<none>"
            );
            let v = CmapMcastView::new_checked(&p, gen, e).unwrap();
            assert_eq!(v.first_key(), Some(&b"totem.config_version"[..]));
            let mut out = vec![0u8; c.buffer_len()];
            c.emit(&mut out).unwrap();
            assert_eq!(out, p);
        }
    }

    #[test]
    fn hostile_value_len() {
        let mut b = vec![0u8; 328];
        b[24] = 1;
        b[320..328].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            CmapMcast::parse(&b, Generation::G2, Endian::Little),
            Err(Error::Invalid {
                field: "value_len",
                offset: 320,
                ..
            })
        ));
    }

    fn arb_item() -> impl Strategy<Value = CmapItem> {
        (
            any::<u16>(),
            any::<[u8; 6]>(),
            proptest::collection::vec(any::<u8>(), KEY_NAME_LEN),
            any::<(u8, [u8; 7])>(),
            proptest::collection::vec(any::<u8>(), 0..20),
            any::<[u8; 7]>(),
        )
            .prop_map(|(key_len, key_len_pad, k, (t, tp), value, pad)| CmapItem {
                key_len,
                key_len_pad,
                key_name: k.try_into().unwrap(),
                value_type: ByteSlot { value: t, pad: tp },
                align_pad: pad[..(8 - value.len() % 8) % 8].to_vec(),
                value,
            })
    }

    proptest! {
        #[test]
        fn prop_round_trip(g in 1usize..3, be: bool, items in proptest::collection::vec(arb_item(), 0..3),
                           slots in any::<[(u8, [u8; 7]); 3]>(), p0: [u8; 4]) {
            let gen = Generation::ALL[g];
            let mut header = ServiceHeader::new(gen, 0, 0, 0);
            header.endian = if be { Endian::Big } else { Endian::Little };
            header.pad0 = p0;
            let s = |i: usize| ByteSlot { value: slots[i].0, pad: slots[i].1 };
            let m = CmapMcast { header, reason: s(0), no_items: ByteSlot { value: items.len() as u8, pad: slots[1].1 }, reserved1: s(1), reserved2: s(2), items };
            let mut a = vec![0u8; m.buffer_len()];
            m.emit(&mut a).unwrap();
            prop_assert_eq!(CmapMcast::parse(&a, gen, header.endian).unwrap(), m);
        }

        #[test]
        fn random_bytes(mut buf in proptest::collection::vec(any::<u8>(), 0..700), n in 0u8..3) {
            if buf.len() > 24 { buf[24] = n; }
            if let Ok(m) = CmapMcast::parse(&buf, Generation::G3, Endian::Big) {
                let mut out = vec![0u8; m.buffer_len()];
                m.emit(&mut out).unwrap();
                prop_assert_eq!(&out[..], &buf[..out.len()]);
                let _ = m.to_string();
            }
            if let Ok(v) = CmapMcastView::new_checked(&buf, Generation::G2, Endian::Little) { let _ = v.first_key(); }
        }
    }
}
