//! The group header that starts every reassembled totempg message (spec §5.2).

use crate::endian::{Endian, Reader, Writer};
use crate::error::{Error, Result};

/// The groups corosync and openais use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnownGroup {
    /// `"a"`: the executive's group; every service message.
    A,
    /// `"sync"`: the synchronization engine (sync v1 in G1, the only one in G2/G3).
    Sync,
    /// `"syncv2"`: corosync 1.x sync v2.
    SyncV2,
    /// `"ykd"`: the YKD virtual-synchrony filter (opt-in in 1.x).
    Ykd,
    /// `"mrp"`: ours, the multiple-ring protocol's elements (`crate::mrp`); corosync has no
    /// such group and passes its messages by, as any group it did not join.
    Mrp,
}

impl KnownGroup {
    /// All known groups.
    pub const ALL: [KnownGroup; 5] = [
        KnownGroup::A,
        KnownGroup::Sync,
        KnownGroup::SyncV2,
        KnownGroup::Ykd,
        KnownGroup::Mrp,
    ];

    /// The group's name bytes.
    pub const fn name(self) -> &'static [u8] {
        match self {
            KnownGroup::A => b"a",
            KnownGroup::Sync => b"sync",
            KnownGroup::SyncV2 => b"syncv2",
            KnownGroup::Ykd => b"ykd",
            KnownGroup::Mrp => b"mrp",
        }
    }
    /// The group with exactly this name (length and bytes, as corosync matches).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.name() == name)
    }
}

/// Reads the group count and lengths; returns the lengths and a reader at the first name.
fn open(buf: &[u8], endian: Endian) -> Result<(Reader<'_>, Vec<usize>)> {
    let mut r = Reader::new(buf, endian, "group header");
    let count = usize::from(r.u16("group count")?);
    if count * 2 > r.remaining() {
        return Err(r.truncated("group name lengths", count * 2));
    }
    let mut lens = Vec::with_capacity(count);
    for _ in 0..count {
        lens.push(usize::from(r.u16("group name length")?));
    }
    let total: usize = lens.iter().sum();
    if total > r.remaining() {
        return Err(r.truncated("group names", total));
    }
    Ok((r, lens))
}

/// A reassembled message: the groups it is addressed to and the application payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupMessage {
    pub endian: Endian,
    /// Group names, no terminators.
    pub groups: Vec<Vec<u8>>,
    /// What the service sees.
    pub payload: Vec<u8>,
}

impl GroupMessage {
    /// A message to one known group.
    pub fn new(group: KnownGroup, payload: Vec<u8>) -> Self {
        GroupMessage {
            endian: Endian::Little,
            groups: vec![group.name().to_vec()],
            payload,
        }
    }

    /// Decodes a reassembled message written in byte order `endian`.
    pub fn parse(buf: &[u8], endian: Endian) -> Result<Self> {
        let (mut r, lens) = open(buf, endian)?;
        let mut groups = Vec::with_capacity(lens.len());
        for l in lens {
            groups.push(r.bytes("group names", l)?.to_vec());
        }
        Ok(GroupMessage {
            endian,
            groups,
            payload: r.rest().to_vec(),
        })
    }

    /// Size of the group header alone.
    pub fn header_len(&self) -> usize {
        2 + 2 * self.groups.len() + self.groups.iter().map(Vec::len).sum::<usize>()
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Encodes into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let too_long = |field, value: usize| Error::Invalid {
            message: "group header",
            field,
            offset: 0,
            value: value as u64,
        };
        let count = u16::try_from(self.groups.len())
            .map_err(|_| too_long("group count", self.groups.len()))?;
        let mut w = Writer::new(buf, self.endian, "group header", self.buffer_len())?;
        w.u16(count);
        for g in &self.groups {
            w.u16(u16::try_from(g.len()).map_err(|_| too_long("group name length", g.len()))?);
        }
        for g in &self.groups {
            w.bytes(g);
        }
        w.bytes(&self.payload);
        Ok(w.pos())
    }

    /// The group, if the message goes to exactly one known group.
    pub fn known_group(&self) -> Option<KnownGroup> {
        match self.groups.as_slice() {
            [g] => KnownGroup::from_name(g),
            _ => None,
        }
    }
}

/// A zero-copy view of a reassembled message.
#[derive(Debug, Clone)]
pub struct GroupMessageView<'a> {
    buf: &'a [u8],
    lens: Vec<usize>,
}

impl<'a> GroupMessageView<'a> {
    /// Checks the group header once; getters cannot fail afterwards.
    pub fn new_checked(buf: &'a [u8], endian: Endian) -> Result<Self> {
        let (_, lens) = open(buf, endian)?;
        Ok(GroupMessageView { buf, lens })
    }
    pub fn group_count(&self) -> usize {
        self.lens.len()
    }
    /// Group names, in order.
    pub fn groups(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        let buf = self.buf;
        let mut off = 2 + 2 * self.lens.len();
        self.lens.iter().map(move |&l| {
            let s = &buf[off..off + l];
            off += l;
            s
        })
    }
    /// The group, if exactly one known group.
    pub fn known_group(&self) -> Option<KnownGroup> {
        let mut g = self.groups();
        match (g.next(), g.next()) {
            (Some(name), None) => KnownGroup::from_name(name),
            _ => None,
        }
    }
    /// Size of the group header.
    pub fn header_len(&self) -> usize {
        2 + 2 * self.lens.len() + self.lens.iter().sum::<usize>()
    }
    /// The application payload.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::messages;
    use crate::Generation;
    use proptest::prelude::*;

    // Spec §5.2: "a" = 01 00 01 00 61, "sync" = 01 00 04 00 73 79 6e 63. Bytes from 1.4.10
    // frame 25 (findings-old §4: nodeinfo ×2, syncv2 memb_determine, sync barrier), which also
    // shows "syncv2" = 01 00 06 00 "syncv2".
    #[test]
    fn real_groups() {
        let (msgs, e) = messages("g1_nodeinfo_determine_barrier", Generation::G1);
        let groups: Vec<_> = msgs
            .iter()
            .map(|m| GroupMessageView::new_checked(m, e).unwrap().known_group())
            .collect();
        assert_eq!(
            groups,
            vec![
                Some(KnownGroup::A),
                Some(KnownGroup::A),
                Some(KnownGroup::SyncV2),
                Some(KnownGroup::Sync)
            ]
        );
        let v = GroupMessageView::new_checked(&msgs[2], e).unwrap();
        assert_eq!(v.header_len(), 10);
        assert_eq!(v.payload().len(), 48);
        for m in &msgs {
            let g = GroupMessage::parse(m, e).unwrap();
            let mut out = vec![0u8; g.buffer_len()];
            g.emit(&mut out).unwrap();
            assert_eq!(&out, m);
        }
        let built = GroupMessage::new(KnownGroup::Sync, vec![]);
        let mut out = vec![0u8; built.buffer_len()];
        built.emit(&mut out).unwrap();
        assert_eq!(out, b"\x01\x00\x04\x00sync");
    }

    #[test]
    fn truncated() {
        assert!(GroupMessage::parse(&[1], Endian::Little).is_err());
        assert!(GroupMessage::parse(&[2, 0, 1, 0], Endian::Little).is_err());
        assert!(GroupMessageView::new_checked(&[1, 0, 5, 0, b'a'], Endian::Little).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(groups in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..8), 0..4),
                      payload in proptest::collection::vec(any::<u8>(), 0..32), be: bool) {
            let endian = if be { Endian::Big } else { Endian::Little };
            let g = GroupMessage { endian, groups, payload };
            let mut a = vec![0u8; g.buffer_len()];
            g.emit(&mut a).unwrap();
            let back = GroupMessage::parse(&a, endian).unwrap();
            prop_assert_eq!(&back, &g);
        }

        #[test]
        fn random_bytes(buf in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(v) = GroupMessageView::new_checked(&buf, Endian::Little) {
                let _ = (v.groups().count(), v.payload(), v.known_group());
            }
            if let Ok(g) = GroupMessage::parse(&buf, Endian::Little) {
                let mut out = vec![0u8; g.buffer_len()];
                g.emit(&mut out).unwrap();
                prop_assert_eq!(out, buf);
            }
        }
    }
}
