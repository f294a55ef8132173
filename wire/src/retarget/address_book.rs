//! The address book a retarget goes through: per node, how each generation names it.
//!
//! G3 names a member by nodeid; G1 and G2 by one `totem_ip_address` per ring, whose nodeid,
//! family and 16 address bytes are compared bytewise by the daemons (ring ids included). G1
//! senders leave stack garbage after an IPv4 address, so a node's G1 form is kept as its own
//! bytes, distinct from the zero-padded form G2 writes.

use crate::generation::Generation;
use crate::ip_address::TotemIpAddress;
use crate::srp_addr::SrpAddr;

use super::RetargetError;

/// How one node is named on the wire, per generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookEntry {
    /// The node's id (G3's name for it, and the nodeid field of its addresses).
    pub nodeid: u32,
    /// Ring 0 and ring 1 addresses as G2 writes them (ring 1 empty, family 0, on one ring).
    pub g2: [TotemIpAddress; 2],
    /// G2's `no_addrs` byte for this node (2 from every real sender).
    pub no_addrs: u8,
    /// The same two addresses as this node appears in G1, padding bytes included.
    pub g1: [TotemIpAddress; 2],
}

impl BookEntry {
    /// A node on one ring (or two): G2 form zero-padded, G1 form the same bytes.
    pub fn new(nodeid: u32, ring0: std::net::IpAddr, ring1: Option<std::net::IpAddr>) -> Self {
        let addr = |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V4(a) => TotemIpAddress::v4(nodeid, a),
            std::net::IpAddr::V6(a) => TotemIpAddress::v6(nodeid, a),
        };
        let g2 = [addr(ring0), ring1.map(addr).unwrap_or_default()];
        BookEntry {
            nodeid,
            g2,
            no_addrs: 2,
            g1: g2,
        }
    }

    /// This node as `gen` names it in an srp_addr.
    pub fn srp_addr(&self, gen: Generation) -> SrpAddr {
        match gen {
            Generation::G1 => SrpAddr::Addrs {
                no_addrs: 0,
                addrs: self.g1,
            },
            Generation::G2 => SrpAddr::Addrs {
                no_addrs: self.no_addrs,
                addrs: self.g2,
            },
            Generation::G3 => SrpAddr::Node(self.nodeid),
        }
    }

    /// This node's ring 0 address in `gen` (G1/G2), as a ring id representative.
    pub fn ring0(&self, gen: Generation) -> TotemIpAddress {
        match gen {
            Generation::G1 => self.g1[0],
            _ => self.g2[0],
        }
    }
}

/// Why an entry could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    #[error("node {0} is listed twice")]
    DuplicateNode(u32),
    #[error("address {addr} is listed for node {first} and node {second}")]
    DuplicateAddress {
        addr: String,
        first: u32,
        second: u32,
    },
    #[error("node {nodeid}: its address carries nodeid {found}")]
    NodeidMismatch { nodeid: u32, found: u32 },
    #[error("nodeid 0 is not a node")]
    ZeroNodeid,
}

/// Every node a retarget may meet, with its names in every generation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressBook {
    /// Sorted by nodeid.
    entries: Vec<BookEntry>,
}

/// Whether two G1/G2 addresses name the same interface: family and address bytes, of which
/// only the first 4 count for IPv4 (the rest is padding, garbage in G1).
fn same_address(a: &TotemIpAddress, b: &TotemIpAddress) -> bool {
    let n = if a.family == crate::ip_address::AF_INET {
        4
    } else {
        16
    };
    a.family == b.family && a.addr[..n] == b.addr[..n]
}

impl AddressBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node; a nodeid or an address already listed is an error.
    pub fn insert(&mut self, e: BookEntry) -> Result<(), BookError> {
        if e.nodeid == 0 {
            return Err(BookError::ZeroNodeid);
        }
        for a in e.g1.iter().chain(&e.g2).filter(|a| !a.is_empty()) {
            if a.nodeid != e.nodeid {
                return Err(BookError::NodeidMismatch {
                    nodeid: e.nodeid,
                    found: a.nodeid,
                });
            }
        }
        for o in &self.entries {
            if o.nodeid == e.nodeid {
                return Err(BookError::DuplicateNode(e.nodeid));
            }
            for a in o.g2.iter().filter(|a| !a.is_empty()) {
                if e.g2.iter().any(|b| same_address(a, b)) {
                    return Err(BookError::DuplicateAddress {
                        addr: a.to_string(),
                        first: o.nodeid,
                        second: e.nodeid,
                    });
                }
            }
        }
        let at = self.entries.partition_point(|o| o.nodeid < e.nodeid);
        self.entries.insert(at, e);
        Ok(())
    }

    /// Sets the G1 form of a listed node (the padding bytes its 1.x daemon writes).
    pub fn set_g1_form(
        &mut self,
        nodeid: u32,
        g1: [TotemIpAddress; 2],
    ) -> Result<(), RetargetError> {
        let e = self
            .entries
            .iter_mut()
            .find(|e| e.nodeid == nodeid)
            .ok_or(RetargetError::UnknownNode(nodeid))?;
        for (want, got) in e.g2.iter().zip(&g1) {
            if want.is_empty() != got.is_empty()
                || (!want.is_empty() && (!same_address(want, got) || got.nodeid != nodeid))
            {
                return Err(RetargetError::AddressMismatch {
                    nodeid,
                    addr: got.to_string(),
                });
            }
        }
        e.g1 = g1;
        Ok(())
    }

    /// All entries, by nodeid.
    pub fn entries(&self) -> &[BookEntry] {
        &self.entries
    }

    /// The entry of `nodeid`.
    pub fn node(&self, nodeid: u32) -> Result<&BookEntry, RetargetError> {
        self.entries
            .binary_search_by_key(&nodeid, |e| e.nodeid)
            .map(|i| &self.entries[i])
            .map_err(|_| RetargetError::UnknownNode(nodeid))
    }

    /// The node whose ring 0 or ring 1 address `a` is; its nodeid field must agree.
    pub fn by_address(&self, a: &TotemIpAddress) -> Result<&BookEntry, RetargetError> {
        let e = self
            .entries
            .iter()
            .find(|e| e.g2.iter().any(|b| !b.is_empty() && same_address(a, b)))
            .ok_or_else(|| RetargetError::UnknownAddress(a.to_string()))?;
        if a.nodeid != e.nodeid {
            return Err(RetargetError::AddressMismatch {
                nodeid: e.nodeid,
                addr: format!("{a} (nodeid field {})", a.nodeid),
            });
        }
        Ok(e)
    }

    /// The sender of a leave (a join with header nodeid 0): G1 and G2 zero the nodeid in
    /// its ring 0 address, G3 keeps the real one; the address alone names the node.
    pub fn resolve_leaver(&self, s: &SrpAddr) -> Result<&BookEntry, RetargetError> {
        match s {
            SrpAddr::Addrs { addrs, .. } if addrs[0].nodeid == 0 => {
                let a = addrs[0];
                let e = self
                    .entries
                    .iter()
                    .find(|e| !e.g2[0].is_empty() && same_address(&a, &e.g2[0]))
                    .ok_or_else(|| RetargetError::UnknownAddress(a.to_string()))?;
                Ok(e)
            }
            s => self.resolve(s),
        }
    }

    /// The node an srp_addr of any generation names, checked against the book: every
    /// non-empty address must be the node's, in its ring slot.
    pub fn resolve(&self, s: &SrpAddr) -> Result<&BookEntry, RetargetError> {
        match s {
            SrpAddr::Node(n) => self.node(*n),
            SrpAddr::Addrs { addrs, .. } => {
                let e = self.by_address(&addrs[0])?;
                let r1 = &addrs[1];
                let matches = same_address(r1, &e.g2[1]) && r1.nodeid == e.nodeid;
                if !r1.is_empty() && !matches {
                    return Err(RetargetError::AddressMismatch {
                        nodeid: e.nodeid,
                        addr: format!("ring 1 {r1}"),
                    });
                }
                Ok(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn duplicates_and_unknowns_are_named() {
        let mut b = AddressBook::new();
        b.insert(BookEntry::new(2, ip(2), None)).unwrap();
        b.insert(BookEntry::new(1, ip(1), None)).unwrap();
        assert_eq!(b.entries()[0].nodeid, 1);
        assert_eq!(
            b.insert(BookEntry::new(1, ip(9), None)),
            Err(BookError::DuplicateNode(1))
        );
        assert!(matches!(
            b.insert(BookEntry::new(3, ip(2), None)),
            Err(BookError::DuplicateAddress {
                first: 2,
                second: 3,
                ..
            })
        ));
        assert_eq!(b.node(7), Err(RetargetError::UnknownNode(7)));
        let stranger = TotemIpAddress::v4(3, Ipv4Addr::new(192, 0, 2, 3));
        assert_eq!(
            b.by_address(&stranger),
            Err(RetargetError::UnknownAddress("192.0.2.3".into()))
        );
        // The right address with another node's id is not that node.
        let forged = TotemIpAddress::v4(9, Ipv4Addr::new(192, 0, 2, 1));
        assert!(matches!(
            b.by_address(&forged),
            Err(RetargetError::AddressMismatch { nodeid: 1, .. })
        ));
    }

    #[test]
    fn g1_padding_is_matched_by_address_and_kept_per_node() {
        let mut b = AddressBook::new();
        b.insert(BookEntry::new(1, ip(1), None)).unwrap();
        let mut g1 = b.node(1).unwrap().g2;
        g1[0].addr[4..].fill(0xa5);
        b.set_g1_form(1, g1).unwrap();
        let wire = b.node(1).unwrap().srp_addr(Generation::G1);
        assert_eq!(b.resolve(&wire).unwrap().nodeid, 1);
        assert_eq!(b.node(1).unwrap().ring0(Generation::G1).addr[5], 0xa5);
        assert_eq!(b.node(1).unwrap().ring0(Generation::G2).addr[5], 0);
        let mut other = g1;
        other[0].addr[3] = 7;
        assert!(b.set_g1_form(1, other).is_err());
    }
}
