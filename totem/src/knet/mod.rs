//! The kronosnet (knet) link layer corosync 3 runs Totem over, as a sans-IO state machine.
//!
//! Facts from libknet 1.25 (onwire.h, threads_{tx,rx,heartbeat,pmtud}.c, host.c, links.c) and
//! corosync 3.1.7 totemknet.c: host ids are corosync nodeids; every host has up to eight links
//! (one per `ringN_addr`), each a UDP flow from our `ringN_addr:port` to theirs; links come up
//! after `pong_count` answered pings and go down when pongs stop for the pong timeout; data goes
//! over the links the link policy picks, cut into fragments of the data MTU, with one 16-bit
//! sequence number per sender and a 4096-entry duplicate window per source host. Frames are
//! read and built, and fragments reassembled, by `totem_wire::knet`.

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
/// The frame codec, the reassembler and knet's size constants are the wire's.
pub use totem_wire::knet::{
    data_mtu, ip_udp_overhead, HEADER_ALL_LEN, MAX_LINK, MAX_PACKET_SIZE, MIN_DATA_MTU,
};

#[cfg(test)]
mod rekey_tests;
#[cfg(test)]
mod tests;
