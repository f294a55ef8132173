//! Reads frames out of pcap and pcapng bytes: link type, timestamp and data of each, numbered as
//! tshark numbers them.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{PcapError, TsResolution};

use crate::error::CaptureError;

const PCAPNG_MAGIC: [u8; 4] = [0x0A, 0x0D, 0x0D, 0x0A];
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xA1, 0xB2, 0xC3, 0xD4],
    [0xD4, 0xC3, 0xB2, 0xA1],
    [0xA1, 0xB2, 0x3C, 0x4D],
    [0x4D, 0x3C, 0xB2, 0xA1],
];
// pcapng block types that carry a packet.
const PACKET_BLOCK: u32 = 2;
const SIMPLE_PACKET_BLOCK: u32 = 3;
const ENHANCED_PACKET_BLOCK: u32 = 6;
/// if_tsresol when the option is absent: microseconds.
const DEFAULT_TSRESOL: u8 = 6;

/// One captured frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// 1-based frame number, counting every packet record as tshark does.
    pub number: u64,
    /// The link type (LINKTYPE_* value) of the interface that captured it.
    pub linktype: u32,
    /// Capture time since the Unix epoch.
    pub timestamp: Duration,
    /// The captured bytes, starting with the link-layer header.
    pub data: &'a [u8],
}

/// One item read from a capture: a frame, or a record that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// A frame with its data.
    Frame(Frame<'a>),
    /// A packet record (or the file's tail) that could not be decoded; `frame` is its number, if it had one.
    Malformed {
        /// The frame number the record would have had, if it was a packet record.
        frame: Option<u64>,
        /// What was wrong.
        reason: String,
    },
}

enum Format {
    Pcap(PcapParser),
    PcapNg(PcapNgParser),
}

/// Iterates the frames of a pcap or pcapng capture held in memory.
pub struct FrameSource<'a> {
    file: &'a Path,
    format: Format,
    rest: &'a [u8],
    frames: u64,
    done: bool,
}

impl<'a> FrameSource<'a> {
    /// Detects pcap or pcapng from the first bytes and reads the file header; `file` only names errors.
    pub fn new(file: &'a Path, bytes: &'a [u8]) -> Result<Self, CaptureError> {
        let not_capture = |reason: String| CaptureError::NotACapture {
            file: file.to_path_buf(),
            reason,
        };
        let magic: [u8; 4] = bytes
            .get(..4)
            .and_then(|m| m.try_into().ok())
            .ok_or_else(|| not_capture(format!("only {} bytes", bytes.len())))?;
        let (rest, format) = if magic == PCAPNG_MAGIC {
            let (rest, p) = PcapNgParser::new(bytes)
                .map_err(|e| not_capture(format!("pcapng section header: {e}")))?;
            (rest, Format::PcapNg(p))
        } else if PCAP_MAGICS.contains(&magic) {
            let (rest, p) =
                PcapParser::new(bytes).map_err(|e| not_capture(format!("pcap header: {e}")))?;
            (rest, Format::Pcap(p))
        } else {
            return Err(not_capture(format!("unknown magic {magic:02x?}")));
        };
        Ok(FrameSource {
            file,
            format,
            rest,
            frames: 0,
            done: false,
        })
    }

    /// The next frame or malformed record; `None` at the end; `Err` if the file structure breaks.
    pub fn next_record(&mut self) -> Option<Result<Record<'a>, CaptureError>> {
        // Each turn consumes at least one block, so the loop ends with the input.
        loop {
            if self.done {
                return None;
            }
            if self.rest.is_empty() {
                self.done = true;
                return None;
            }
            let step = match self.format {
                Format::Pcap(_) => Some(Ok(self.next_pcap())),
                Format::PcapNg(_) => self.next_pcapng(),
            };
            if step.is_some() {
                return step;
            }
        }
    }

    fn next_pcap(&mut self) -> Record<'a> {
        let Format::Pcap(parser) = &self.format else {
            unreachable!("next_pcap is only called for pcap")
        };
        let header = parser.header();
        match parser.next_raw_packet(self.rest) {
            Ok((rest, raw)) => {
                self.rest = rest;
                self.frames = self.frames.saturating_add(1);
                let frac = match header.ts_resolution {
                    TsResolution::MicroSecond => u64::from(raw.ts_frac) * 1000,
                    TsResolution::NanoSecond => u64::from(raw.ts_frac),
                };
                let data = match raw.data {
                    Cow::Borrowed(d) => d,
                    // Parsing a slice always borrows; an owned copy cannot outlive this call.
                    Cow::Owned(_) => &[],
                };
                Record::Frame(Frame {
                    number: self.frames,
                    linktype: u32::from(header.datalink),
                    timestamp: Duration::from_secs(u64::from(raw.ts_sec))
                        + Duration::from_nanos(frac),
                    data,
                })
            }
            Err(e) => self.truncated_tail(e),
        }
    }

    /// Reads one pcapng block: `None` if it carries no frame.
    fn next_pcapng(&mut self) -> Option<Result<Record<'a>, CaptureError>> {
        let Format::PcapNg(parser) = &mut self.format else {
            unreachable!("next_pcapng is only called for pcapng")
        };
        let before = self.rest;
        let block_type = match parser.next_raw_block(before) {
            Ok((rest, raw)) => {
                self.rest = rest;
                raw.type_
            }
            Err(PcapError::IncompleteBuffer) => {
                return Some(Ok(self.truncated_tail(PcapError::IncompleteBuffer)))
            }
            Err(e) => {
                self.done = true;
                return Some(Err(CaptureError::Structure {
                    file: self.file.to_path_buf(),
                    frame: self.frames.saturating_add(1),
                    reason: format!("pcapng block: {e}"),
                }));
            }
        };
        if !matches!(
            block_type,
            PACKET_BLOCK | SIMPLE_PACKET_BLOCK | ENHANCED_PACKET_BLOCK
        ) {
            // Section headers and interface descriptions were taken in by the parser;
            // statistics, name resolution and other blocks carry no frames.
            return None;
        }
        self.frames = self.frames.saturating_add(1);
        let number = self.frames;
        // Decode the same block again, fully this time: for packet blocks the parser keeps no
        // state, and a failure here spoils only this frame since `rest` has already moved on.
        let decoded = parser
            .next_block(before)
            .map_err(|e| format!("packet block: {e}"))
            .and_then(|(_, block)| packet_block(parser, block));
        Some(Ok(match decoded {
            Ok(frame) => Record::Frame(Frame { number, ..frame }),
            Err(reason) => Record::Malformed {
                frame: Some(number),
                reason,
            },
        }))
    }

    /// The file ends inside a record: report it once and stop.
    fn truncated_tail(&mut self, e: PcapError) -> Record<'a> {
        self.done = true;
        Record::Malformed {
            frame: None,
            reason: format!(
                "capture ends inside a record after frame {} ({} trailing bytes): {e}",
                self.frames,
                self.rest.len()
            ),
        }
    }
}

/// Decodes a packet-carrying pcapng block; the frame number is filled in by the caller.
fn packet_block<'a>(parser: &PcapNgParser, block: Block<'a>) -> Result<Frame<'a>, String> {
    let (interface_id, ticks, data) = match block {
        Block::EnhancedPacket(b) => {
            // pcap-file stores the raw tick count as nanoseconds; undo that to apply if_tsresol.
            let ticks = u64::try_from(b.timestamp.as_nanos()).unwrap_or(u64::MAX);
            (b.interface_id, Some(ticks), b.data)
        }
        Block::Packet(b) => (u32::from(b.interface_id), Some(b.timestamp), b.data),
        Block::SimplePacket(b) => {
            // The body is padded to 32 bits; the original length says how much is packet.
            let len = usize::try_from(b.original_len).unwrap_or(usize::MAX);
            let data = match b.data {
                Cow::Borrowed(d) => Cow::Borrowed(d.get(..len).unwrap_or(d)),
                owned => owned,
            };
            (0, None, data)
        }
        _ => return Err("not a packet block".to_string()),
    };
    let Cow::Borrowed(data) = data else {
        return Err("packet data was copied by the parser".to_string());
    };
    let iface = usize::try_from(interface_id)
        .ok()
        .and_then(|i| parser.interfaces().get(i))
        .ok_or_else(|| format!("interface {interface_id} has no description block"))?;
    let (tsresol, tsoffset) = timestamp_options(iface);
    let timestamp = ticks
        .map(|t| ticks_to_duration(t, tsresol, tsoffset))
        .unwrap_or_default();
    Ok(Frame {
        number: 0,
        linktype: u32::from(iface.linktype),
        timestamp,
        data,
    })
}

/// if_tsresol and if_tsoffset of an interface (defaults: microseconds, no offset).
fn timestamp_options(iface: &InterfaceDescriptionBlock<'_>) -> (u8, i64) {
    let mut tsresol = DEFAULT_TSRESOL;
    let mut tsoffset = 0i64;
    for opt in &iface.options {
        match opt {
            InterfaceDescriptionOption::IfTsResol(r) => tsresol = *r,
            InterfaceDescriptionOption::IfTsOffset(o) => {
                tsoffset = i64::from_ne_bytes(o.to_ne_bytes())
            }
            _ => {}
        }
    }
    (tsresol, tsoffset)
}

/// Converts a pcapng tick count to time since the epoch: `tsresol` is 10^-n s, or 2^-n s with the
/// high bit set; `tsoffset` seconds are added.
pub(crate) fn ticks_to_duration(ticks: u64, tsresol: u8, tsoffset: i64) -> Duration {
    const NANOS: u128 = 1_000_000_000;
    let exp = u32::from(tsresol & 0x7F);
    let (secs, frac_nanos) = if tsresol & 0x80 == 0 {
        match 10u64.checked_pow(exp) {
            Some(per_sec) => (
                ticks / per_sec,
                u128::from(ticks % per_sec) * NANOS / u128::from(per_sec),
            ),
            None => (0, u128::from(ticks) * NANOS / 10u128.pow(exp.min(38))),
        }
    } else if exp >= 64 {
        (0, (u128::from(ticks) * NANOS) >> exp.min(127))
    } else {
        let mask = (1u64 << exp).wrapping_sub(1);
        (ticks >> exp, (u128::from(ticks & mask) * NANOS) >> exp)
    };
    let base =
        Duration::from_secs(secs) + Duration::from_nanos(u64::try_from(frac_nanos).unwrap_or(0));
    let shifted = if tsoffset >= 0 {
        base.checked_add(Duration::from_secs(tsoffset.unsigned_abs()))
    } else {
        base.checked_sub(Duration::from_secs(tsoffset.unsigned_abs()))
    };
    shifted.unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsresol_decimal_and_binary() {
        // 1.5 s in microseconds (default), nanoseconds and 2^-10 s.
        assert_eq!(
            ticks_to_duration(1_500_000, 6, 0),
            Duration::from_millis(1500)
        );
        assert_eq!(
            ticks_to_duration(1_500_000_000, 9, 0),
            Duration::from_millis(1500)
        );
        assert_eq!(
            ticks_to_duration(1536, 0x80 | 10, 0),
            Duration::from_millis(1500)
        );
        assert_eq!(ticks_to_duration(3, 0, 10), Duration::from_secs(13));
        assert_eq!(ticks_to_duration(u64::MAX, 127, 0), Duration::ZERO);
    }

    #[test]
    fn unknown_magic_is_an_error() {
        let e = FrameSource::new(Path::new("x"), b"GIF89a..").err().unwrap();
        assert!(e.to_string().contains("unknown magic"), "{e}");
    }
}
