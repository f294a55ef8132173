//! Identifiers shared by the key agreement and the traffic layer.

/// A Totem node identifier (the 32-bit nodeid of corosync).
pub type NodeId = u32;

/// Largest group the key tree accepts; equals Totem's processor count limit.
pub const MAX_MEMBERS: usize = 384;

/// A Totem ring identifier: representative nodeid and ring sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RingId {
    /// Nodeid of the ring representative.
    pub rep: NodeId,
    /// Ring sequence number (grows with every new ring).
    pub seq: u64,
}

/// One key generation: the ring it belongs to and the refresh counter inside that ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KeyEpoch {
    /// Ring on which the key was agreed.
    pub ring: RingId,
    /// 0 after the agreement that followed the configuration change, +1 per refresh.
    pub epoch: u32,
}

impl KeyEpoch {
    /// Ordering key used to tell "older" from "newer": ring sequence, then epoch.
    pub fn age_key(&self) -> (u64, u32) {
        (self.ring.seq, self.epoch)
    }

    /// The 16-byte big-endian encoding used in KDF labels and packet headers.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.ring.rep.to_be_bytes());
        b[4..12].copy_from_slice(&self.ring.seq.to_be_bytes());
        b[12..16].copy_from_slice(&self.epoch.to_be_bytes());
        b
    }
}

/// A configuration change as delivered by the virtually synchronous layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    /// The new ring.
    pub ring: RingId,
    /// Ordered member list of the new configuration (same order at every member).
    pub members: Vec<NodeId>,
}
