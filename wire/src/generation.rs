//! The Totem wire generations, as values that select field layouts.

/// A generation of the Totem wire format.
///
/// The generation is a setting of a ring, not a type: the same codec reads every one of them,
/// using the sizes this value reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Generation {
    /// openais 0.80 and corosync 0.90–1.4: 8-byte header, 44-byte srp_addr, optional SOBER-128 envelope.
    G1,
    /// corosync 2.0–2.4: as G1 with a 45-byte srp_addr and the 4-byte totemcrypto header.
    G2,
    /// corosync 2.99.1–3.x: 13-byte header with magic 0xC070, nodeids instead of addresses.
    G3,
}

impl Generation {
    /// All generations, oldest first.
    pub const ALL: [Generation; 3] = [Generation::G1, Generation::G2, Generation::G3];

    /// Size of the SRP common header.
    pub const fn header_len(self) -> usize {
        match self {
            Generation::G1 | Generation::G2 => 8,
            Generation::G3 => 13,
        }
    }
    /// Size of one srp_addr (a member's identity).
    pub const fn srp_addr_len(self) -> usize {
        match self {
            Generation::G1 => 44,
            Generation::G2 => 45,
            Generation::G3 => 4,
        }
    }
    /// Size of a memb_ring_id.
    pub const fn ring_id_len(self) -> usize {
        match self {
            Generation::G1 | Generation::G2 => 30,
            Generation::G3 => 12,
        }
    }
    /// Whether members are identified by IP addresses (G1/G2) rather than bare nodeids (G3).
    pub const fn uses_addresses(self) -> bool {
        !matches!(self, Generation::G3)
    }
    /// Short label used in logs and dumps.
    pub const fn label(self) -> &'static str {
        match self {
            Generation::G1 => "G1",
            Generation::G2 => "G2",
            Generation::G3 => "G3",
        }
    }
}

impl core::fmt::Display for Generation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.label())
    }
}
