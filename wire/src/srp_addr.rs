//! `srp_addr`: how a message names a member (44, 45 or 4 bytes by generation).

use crate::endian::{Reader, Writer};
use crate::error::{Error, Result};
use crate::generation::Generation;
use crate::ip_address::TotemIpAddress;

/// A member identity as carried in srp messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrpAddr {
    /// G1/G2: one address per redundant ring. `no_addrs` is the G2 count byte (always 2 from
    /// real senders); it is not on the wire in G1 and reads as 0 there.
    Addrs {
        no_addrs: u8,
        addrs: [TotemIpAddress; 2],
    },
    /// G3: a bare nodeid.
    Node(u32),
}

impl SrpAddr {
    /// The member's nodeid (from ring 0's address in G1/G2).
    pub fn nodeid(&self) -> u32 {
        match self {
            SrpAddr::Addrs { addrs, .. } => addrs[0].nodeid,
            SrpAddr::Node(n) => *n,
        }
    }
    /// Ring 0 address, if this generation carries addresses.
    pub fn ring0(&self) -> Option<&TotemIpAddress> {
        match self {
            SrpAddr::Addrs { addrs, .. } => Some(&addrs[0]),
            SrpAddr::Node(_) => None,
        }
    }
    /// A single-ring G1/G2 identity, with `no_addrs` = 2 as corosync 2.x sends.
    pub fn single(addr: TotemIpAddress) -> Self {
        SrpAddr::Addrs {
            no_addrs: 2,
            addrs: [addr, TotemIpAddress::default()],
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>, gen: Generation, field: &'static str) -> Result<Self> {
        Ok(match gen {
            Generation::G1 => SrpAddr::Addrs {
                no_addrs: 0,
                addrs: [
                    TotemIpAddress::read(r, field)?,
                    TotemIpAddress::read(r, field)?,
                ],
            },
            Generation::G2 => SrpAddr::Addrs {
                no_addrs: r.u8(field)?,
                addrs: [
                    TotemIpAddress::read(r, field)?,
                    TotemIpAddress::read(r, field)?,
                ],
            },
            Generation::G3 => SrpAddr::Node(r.u32(field)?),
        })
    }

    /// Whether this value has the shape `gen` carries (addresses in G1/G2, a nodeid in G3).
    pub fn fits(&self, gen: Generation) -> bool {
        matches!(self, SrpAddr::Node(_)) == !gen.uses_addresses()
    }

    /// Writes in `gen`'s layout. A value of the other shape is an error naming `field`:
    /// turning a nodeid into an address (or back) needs an address book
    /// (`crate::retarget`), never a silent default.
    pub(crate) fn write(
        &self,
        w: &mut Writer<'_>,
        gen: Generation,
        field: &'static str,
    ) -> Result<()> {
        match (gen, self) {
            (Generation::G3, SrpAddr::Node(n)) => w.u32(*n),
            (Generation::G1 | Generation::G2, SrpAddr::Addrs { no_addrs, addrs }) => {
                if gen == Generation::G2 {
                    w.u8(*no_addrs);
                }
                addrs[0].write(w);
                addrs[1].write(w);
            }
            _ => {
                return Err(Error::ShapeMismatch {
                    field,
                    generation: gen.label(),
                    value: self.nodeid(),
                })
            }
        }
        Ok(())
    }
}

impl core::fmt::Display for SrpAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SrpAddr::Node(n) => write!(f, "node {n}"),
            SrpAddr::Addrs { addrs, .. } if addrs[1].is_empty() => {
                write!(f, "node {} ({})", addrs[0].nodeid, addrs[0])
            }
            SrpAddr::Addrs { addrs, .. } => {
                write!(f, "node {} ({}, {})", addrs[0].nodeid, addrs[0], addrs[1])
            }
        }
    }
}
