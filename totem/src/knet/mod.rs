//! The kronosnet (knet) link layer corosync 3 runs Totem over, as a sans-IO state machine.
//!
//! Facts from libknet 1.25 (onwire.h, threads_{tx,rx,heartbeat,pmtud}.c, host.c, links.c) and
//! corosync 3.1.7 totemknet.c: host ids are corosync nodeids; every host has up to eight links
//! (one per `ringN_addr`), each a UDP flow from our `ringN_addr:port` to theirs; links come up
//! after `pong_count` answered pings and go down when pongs stop for the pong timeout; data goes
//! over the links the link policy picks, cut into fragments of the data MTU, with one 16-bit
//! sequence number per sender and a 4096-entry duplicate window per source host.

pub mod defrag;
pub mod frame;
pub mod host;
pub mod layer;
pub mod link;
pub mod rekey;
pub mod seal;
pub mod seqwin;

pub use layer::{Delivery, KnetConfig, KnetLayer, KnetStats, LinkPolicy, Transmit};
pub use link::{LinkParams, LinkStatus};
pub use rekey::Rekey;
pub use seal::{KnetSeal, SealError, SlotStats, CRYPTO_SLOTS};

/// Links per host (`KNET_MAX_LINK`).
pub const MAX_LINK: usize = 8;
/// `sizeof(struct knet_header)`: the common header plus the largest payload header (ping).
pub const HEADER_ALL_SIZE: usize = 26;
/// Largest user message knet carries (`KNET_MAX_PACKET_SIZE`); corosync's Totem net_mtu.
pub const MAX_PACKET_SIZE: usize = 65_536;
/// IPv4 and UDP header bytes (`KNET_PMTUD_OVERHEAD_V4` + `KNET_PMTUD_UDP_OVERHEAD`).
pub const OVERHEAD_V4: usize = 20 + 8;
/// IPv6 and UDP header bytes.
pub const OVERHEAD_V6: usize = 40 + 8;

/// knet's data MTU (payload bytes per fragment) on a path of `link_mtu` bytes.
pub fn data_mtu(link_mtu: usize, ipv6: bool) -> usize {
    let ip = if ipv6 { OVERHEAD_V6 } else { OVERHEAD_V4 };
    link_mtu
        .saturating_sub(ip + HEADER_ALL_SIZE)
        .max(MIN_DATA_MTU)
}

/// knet's failsafe data MTU (`calc_min_mtu`: 576 − IPv6 − SCTP overhead − header).
pub const MIN_DATA_MTU: usize = 576 - (40 + 28) - HEADER_ALL_SIZE;

#[cfg(test)]
mod rekey_tests;
#[cfg(test)]
mod tests;
