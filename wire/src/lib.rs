//! Byte-exact codecs for the Totem protocol family: openais 0.80 and corosync 1.x (G1),
//! corosync 2.x (G2) and corosync 3.x (G3).
//!
//! Every message has a zero-copy view over `&[u8]` (`*View::new_checked` validates lengths
//! once) and an owned representation with `parse`, `buffer_len` and `emit`. The generation is
//! a value ([`Generation`]) that selects field sizes; integers are read in the sender's byte
//! order ([`Endian`]) and re-encoded in the same order, so decode→encode is byte-identical.

pub mod cman;
pub mod datagram;
pub mod endian;
pub mod envelope;
pub mod error;
pub mod framing;
pub mod generation;
pub mod group;
pub mod header;
pub mod ip_address;
pub mod knet;
pub mod mrp;
pub mod mrp_link;
pub mod retarget;
pub mod ring_id;
pub mod roundtrip;
pub mod seq;
pub mod service;
pub mod srp;
pub mod srp_addr;
#[cfg(test)]
mod testdata;
pub mod totempg;

pub use endian::Endian;
pub use error::{Error, Result};
pub use framing::{classify, Framing};
pub use generation::Generation;
pub use group::{GroupMessage, GroupMessageView, KnownGroup};
pub use header::{Header, MessageType};
pub use ring_id::{RingId, RingRep};
pub use service::{AppMessage, ServiceHeader, ServiceMessage, ServiceTable};
pub use srp::message::{Decoded, SrpMessage};
pub use srp_addr::SrpAddr;
pub use totempg::{
    Fragmenter, Packet as TotempgPacket, PacketView as TotempgPacketView, Reassembler,
};
