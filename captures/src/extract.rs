//! The public API: frames in, matching UDP datagrams and statistics out.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::error::CaptureError;
use crate::ip::{self, IpOutcome};
use crate::link::{self, NetworkLayer};
use crate::malformed::Malformed;
use crate::pcap_source::{FrameSource, Record};
use crate::reassembly::{Limits, Reassembler};
use crate::udp;

const IPPROTO_UDP: u8 = 17;

/// One UDP datagram found in a capture, reassembled if it was fragmented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpDatagram {
    /// 1-based number of the frame that completed it, as tshark numbers frames.
    pub frame: u64,
    /// Capture time of that frame since the Unix epoch.
    pub timestamp: Duration,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// The UDP payload (what follows the 8-byte UDP header, up to the UDP length).
    pub payload: Vec<u8>,
    /// How many IP fragments carried it; 1 if not fragmented.
    pub fragments: u32,
}

/// Which UDP datagrams to keep: those whose destination or source port is in `ports`.
///
/// An empty list matches every UDP datagram (see [`PortFilter::any`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFilter {
    /// Ports to match on either side; empty means any.
    pub ports: Vec<u16>,
}

impl PortFilter {
    /// A filter on the given ports.
    pub fn new(ports: impl Into<Vec<u16>>) -> Self {
        PortFilter {
            ports: ports.into(),
        }
    }

    /// A filter that keeps every UDP datagram.
    pub fn any() -> Self {
        PortFilter { ports: Vec::new() }
    }

    /// Whether a datagram between these ports is kept.
    pub fn matches(&self, src_port: u16, dst_port: u16) -> bool {
        self.ports.is_empty() || self.ports.contains(&dst_port) || self.ports.contains(&src_port)
    }
}

impl Default for PortFilter {
    /// The Totem ports: 5404 and 5405.
    fn default() -> Self {
        PortFilter::new([5404, 5405])
    }
}

/// Counts of what a capture held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Frames (packet records) read.
    pub frames: u64,
    /// Complete UDP datagrams decoded (after reassembly).
    pub udp: u64,
    /// UDP datagrams that passed the port filter.
    pub matched: u64,
    /// Frames that carry no IP (ARP, LLC, unknown link types, ...).
    pub skipped_non_ip: u64,
    /// Frames or records that could not be decoded.
    pub malformed: u64,
    /// Fragmented datagrams never completed (timed out, evicted, or still pending at the end).
    pub incomplete_fragments: u64,
}

/// Turns frames into UDP datagrams one at a time, reassembling IP fragments across frames.
#[derive(Debug)]
pub struct Extractor {
    filter: PortFilter,
    reassembler: Reassembler,
    stats: CaptureStats,
}

impl Extractor {
    /// A new extractor keeping datagrams that `filter` matches.
    pub fn new(filter: PortFilter) -> Self {
        Extractor {
            filter,
            reassembler: Reassembler::new(Limits::default()),
            stats: CaptureStats::default(),
        }
    }

    /// Takes one frame of link type `linktype`; returns the matching datagram it carries or completes.
    pub fn push_frame(
        &mut self,
        frame: u64,
        linktype: u32,
        timestamp: Duration,
        data: &[u8],
    ) -> Option<UdpDatagram> {
        self.stats.frames = self.stats.frames.saturating_add(1);
        match self.decode(frame, linktype, timestamp, data) {
            Ok(d) => d,
            Err(m) => {
                tracing::debug!(frame, "malformed frame: {m}");
                self.stats.malformed = self.stats.malformed.saturating_add(1);
                None
            }
        }
    }

    /// Counts a record the capture reader could not decode; `frame` is its number if it had one.
    pub fn push_malformed_record(&mut self, frame: Option<u64>, reason: &str) {
        if frame.is_some() {
            self.stats.frames = self.stats.frames.saturating_add(1);
        }
        tracing::debug!(?frame, "malformed capture record: {reason}");
        self.stats.malformed = self.stats.malformed.saturating_add(1);
    }

    /// Ends the capture: reassemblies still pending count as incomplete.
    pub fn finish(self) -> CaptureStats {
        let mut stats = self.stats;
        stats.incomplete_fragments = self.reassembler.finish();
        stats
    }

    fn decode(
        &mut self,
        frame: u64,
        linktype: u32,
        timestamp: Duration,
        data: &[u8],
    ) -> Result<Option<UdpDatagram>, Malformed> {
        let outcome = match link::network_layer(linktype, data)? {
            NetworkLayer::Ipv4(p) => ip::ipv4(p, timestamp, &mut self.reassembler)?,
            NetworkLayer::Ipv6(p) => ip::ipv6(p, timestamp, &mut self.reassembler)?,
            NetworkLayer::NotIp(why) => {
                tracing::trace!(frame, ?why, "not IP");
                self.stats.skipped_non_ip = self.stats.skipped_non_ip.saturating_add(1);
                return Ok(None);
            }
        };
        let IpOutcome::Payload(ip) = outcome else {
            return Ok(None);
        };
        if ip.proto != IPPROTO_UDP {
            return Ok(None);
        }
        let u = udp::parse(&ip.payload)?;
        self.stats.udp = self.stats.udp.saturating_add(1);
        if !self.filter.matches(u.src_port, u.dst_port) {
            return Ok(None);
        }
        self.stats.matched = self.stats.matched.saturating_add(1);
        Ok(Some(UdpDatagram {
            frame,
            timestamp,
            src: SocketAddr::new(ip.src, u.src_port),
            dst: SocketAddr::new(ip.dst, u.dst_port),
            payload: u.payload.to_vec(),
            fragments: ip.fragments,
        }))
    }
}

/// Reads a pcap or pcapng file and returns its UDP datagrams that `filter` matches, in frame order.
pub fn read_udp(
    path: &Path,
    filter: &PortFilter,
) -> Result<(Vec<UdpDatagram>, CaptureStats), CaptureError> {
    let bytes = std::fs::read(path).map_err(|source| CaptureError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    read_udp_named(path, &bytes, filter)
}

/// Like [`read_udp`] for a capture already in memory.
pub fn read_udp_from_bytes(
    bytes: &[u8],
    filter: &PortFilter,
) -> Result<(Vec<UdpDatagram>, CaptureStats), CaptureError> {
    read_udp_named(Path::new("<bytes>"), bytes, filter)
}

fn read_udp_named(
    file: &Path,
    bytes: &[u8],
    filter: &PortFilter,
) -> Result<(Vec<UdpDatagram>, CaptureStats), CaptureError> {
    let mut source = FrameSource::new(file, bytes)?;
    let mut extractor = Extractor::new(filter.clone());
    let mut out = Vec::new();
    while let Some(record) = source.next_record() {
        match record? {
            Record::Frame(f) => {
                if let Some(d) = extractor.push_frame(f.number, f.linktype, f.timestamp, f.data) {
                    out.push(d);
                }
            }
            Record::Malformed { frame, reason } => extractor.push_malformed_record(frame, &reason),
        }
    }
    Ok((out, extractor.finish()))
}
