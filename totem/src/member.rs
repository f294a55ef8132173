//! Member identities: how a ring names its processors, compares them and picks its
//! representative, per generation.

use std::cmp::Ordering;

use totem_wire::ip_address::{TotemIpAddress, AF_INET};
use totem_wire::{Generation, RingId, RingRep, SrpAddr};

/// One ring member as carried on the wire, compared the way its generation does.
///
/// G3 members are nodeids and order by nodeid. G1/G2 members are addresses: equality and
/// order use ring 0's family and address bytes (4 for IPv4, whose padding is garbage in G1),
/// so the representative is the lowest address, as `totemip_compare` makes it.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    wire: SrpAddr,
    key: (u16, [u8; 16], u32),
}

impl Member {
    /// The member named by `wire`.
    pub fn from_wire(wire: SrpAddr) -> Self {
        let key = match &wire {
            SrpAddr::Node(n) => (0, [0u8; 16], *n),
            SrpAddr::Addrs { addrs, .. } => (addrs[0].family, addr_key(&addrs[0]), 0),
        };
        Member { wire, key }
    }

    /// Our own identity in `gen`: a nodeid in G3, an address in G1/G2.
    pub fn own(gen: Generation, nodeid: u32, address: Option<TotemIpAddress>) -> Self {
        match (gen, address) {
            (Generation::G3, _) | (_, None) => Member::from_wire(SrpAddr::Node(nodeid)),
            (Generation::G1, Some(a)) => Member::from_wire(SrpAddr::Addrs {
                no_addrs: 0,
                addrs: [a, TotemIpAddress::default()],
            }),
            (Generation::G2, Some(a)) => Member::from_wire(SrpAddr::single(a)),
        }
    }

    /// This identity with a ring-1 address (RRP): both addresses on the wire, `no_addrs` 2.
    /// G3 identities (nodeids) are unchanged; order and equality stay ring 0's.
    pub fn with_ring1(self, ring1: TotemIpAddress) -> Self {
        match self.wire {
            SrpAddr::Addrs { addrs, .. } => Member::from_wire(SrpAddr::Addrs {
                no_addrs: 2,
                addrs: [addrs[0], ring1],
            }),
            SrpAddr::Node(_) => self,
        }
    }

    /// The member's nodeid.
    pub fn nodeid(&self) -> u32 {
        self.wire.nodeid()
    }

    /// The identity as it goes on the wire.
    pub fn wire(&self) -> SrpAddr {
        self.wire
    }

    /// A ring id whose representative is this member.
    pub fn ring_id(&self, seq: u64) -> RingId {
        match self.wire {
            SrpAddr::Node(n) => RingId::node(n, seq),
            SrpAddr::Addrs { addrs, .. } => RingId {
                rep: RingRep::Addr(addrs[0]),
                seq,
            },
        }
    }

    /// Whether `ring`'s representative is this member.
    pub fn is_rep_of(&self, ring: &RingId) -> bool {
        match ring.rep {
            RingRep::Node(n) => self.key == (0, [0u8; 16], n),
            RingRep::Addr(a) => self.key == (a.family, addr_key(&a), 0),
        }
    }
}

fn addr_key(a: &TotemIpAddress) -> [u8; 16] {
    let mut k = a.addr;
    if a.family == AF_INET {
        k[4..].fill(0);
    }
    k
}

impl PartialEq for Member {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Member {}
impl PartialOrd for Member {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Member {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

/// Set operations on member lists (small, unordered, duplicate-free vectors).
pub(crate) mod set {
    use super::Member;

    pub fn contains(set: &[Member], m: &Member) -> bool {
        set.iter().any(|x| x == m)
    }
    pub fn add(set: &mut Vec<Member>, m: Member) {
        if !contains(set, &m) {
            set.push(m);
        }
    }
    pub fn merge(set: &mut Vec<Member>, from: &[Member]) {
        for m in from {
            add(set, *m);
        }
    }
    pub fn subtract(a: &[Member], b: &[Member]) -> Vec<Member> {
        a.iter().filter(|m| !contains(b, m)).copied().collect()
    }
    pub fn subset(sub: &[Member], full: &[Member]) -> bool {
        sub.iter().all(|m| contains(full, m))
    }
    pub fn equal(a: &[Member], b: &[Member]) -> bool {
        subset(a, b) && subset(b, a)
    }
    pub fn nodeids(set: &[Member]) -> Vec<u32> {
        set.iter().map(Member::nodeid).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn g3_rep_is_lowest_nodeid() {
        let mut v: Vec<Member> = [7u32, 3, 12]
            .iter()
            .map(|n| Member::own(Generation::G3, *n, None))
            .collect();
        v.sort();
        assert_eq!(v[0].nodeid(), 3);
        assert!(v[0].is_rep_of(&RingId::node(3, 8)));
        assert!(!v[1].is_rep_of(&RingId::node(3, 8)));
    }

    /// In G1/G2 the representative is the lowest address even when its nodeid is highest.
    #[test]
    fn g2_rep_is_lowest_address_not_nodeid() {
        let a = TotemIpAddress::v4(9, Ipv4Addr::new(192, 0, 2, 1));
        let b = TotemIpAddress::v4(1, Ipv4Addr::new(192, 0, 2, 20));
        let mut v = [
            Member::own(Generation::G2, 1, Some(b)),
            Member::own(Generation::G2, 9, Some(a)),
        ];
        v.sort();
        assert_eq!(v[0].nodeid(), 9);
        let ring = v[0].ring_id(4);
        assert_eq!(ring.rep, RingRep::Addr(a));
    }

    /// G1 senders leave non-zero padding after an IPv4 address; it must not change identity.
    #[test]
    fn g1_padding_ignored_for_identity() {
        let a = TotemIpAddress::v4(1, Ipv4Addr::new(198, 51, 100, 11));
        let mut padded = a;
        padded.addr[4..16].copy_from_slice(&[8, 0, 2, 0, 198, 51, 100, 11, 9, 0, 3, 0]);
        assert_eq!(
            Member::own(Generation::G1, 1, Some(a)),
            Member::own(Generation::G1, 1, Some(padded))
        );
    }
}
