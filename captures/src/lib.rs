//! Reads pcap/pcapng captures and extracts the UDP datagrams in them (Totem traffic by default):
//! link layers, IPv4/IPv6 with fragment reassembly, and UDP, parsed without panicking on bad input.
#![warn(missing_docs)]

pub mod capture_config;
pub mod differential;
pub mod dump;
mod error;
mod extract;
mod ip;
pub mod knet;
pub mod knet_reach;
pub mod layers;
pub mod link;
pub mod links;
mod malformed;
mod pcap_source;
mod reassembly;
pub mod send;
pub mod story;
pub mod suite;
pub mod svg;
pub mod timeline;
mod udp;
pub mod verify;

pub use error::CaptureError;
pub use extract::{
    read_udp, read_udp_from_bytes, CaptureStats, Extractor, PortFilter, UdpDatagram,
};
pub use pcap_source::{Frame, FrameSource, Record};
