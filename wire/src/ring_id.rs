//! `memb_ring_id`: the identity of a ring configuration (30 or 12 bytes).

use crate::endian::{Reader, Writer};
use crate::error::{Error, Result};
use crate::generation::Generation;
use crate::ip_address::TotemIpAddress;

/// The representative of a ring: lowest address (G1/G2) or lowest nodeid (G3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RingRep {
    Addr(TotemIpAddress),
    Node(u32),
}

/// A ring id: representative and sequence number.
///
/// Corosync compares ring ids bytewise, so the representative is kept exactly as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RingId {
    pub rep: RingRep,
    pub seq: u64,
}

impl RingId {
    /// A G3 ring id.
    pub fn node(rep: u32, seq: u64) -> Self {
        RingId {
            rep: RingRep::Node(rep),
            seq,
        }
    }
    /// The representative's nodeid.
    pub fn rep_nodeid(&self) -> u32 {
        match self.rep {
            RingRep::Addr(a) => a.nodeid,
            RingRep::Node(n) => n,
        }
    }
    pub(crate) fn read(r: &mut Reader<'_>, gen: Generation, field: &'static str) -> Result<Self> {
        let rep = match gen {
            Generation::G3 => RingRep::Node(r.u32(field)?),
            _ => RingRep::Addr(TotemIpAddress::read(r, field)?),
        };
        let seq = r.u64(field)?;
        Ok(RingId { rep, seq })
    }
    /// Whether the representative has the shape `gen` carries.
    pub fn fits(&self, gen: Generation) -> bool {
        matches!(self.rep, RingRep::Node(_)) == !gen.uses_addresses()
    }

    /// Writes in `gen`'s layout; a representative of the other shape is an error naming
    /// `field` (see [`SrpAddr::write`](crate::SrpAddr)).
    pub(crate) fn write(
        &self,
        w: &mut Writer<'_>,
        gen: Generation,
        field: &'static str,
    ) -> Result<()> {
        match (gen, self.rep) {
            (Generation::G3, RingRep::Node(n)) => w.u32(n),
            (Generation::G1 | Generation::G2, RingRep::Addr(a)) => a.write(w),
            _ => {
                return Err(Error::ShapeMismatch {
                    field,
                    generation: gen.label(),
                    value: self.rep_nodeid(),
                })
            }
        }
        w.u64(self.seq);
        Ok(())
    }
}

impl core::fmt::Display for RingId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.rep {
            RingRep::Node(n) => write!(f, "{n}.{:x}", self.seq),
            RingRep::Addr(a) => write!(f, "{a}/{}", self.seq),
        }
    }
}
