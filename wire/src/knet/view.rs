//! A zero-copy view of any knet v1 frame: the receive path's one parse, which checks the
//! common header and the kind's payload header once and copies nothing.

use super::data::{DataHeader, DataView};
use super::header::HeaderView;
use super::ping::PingView;
use super::pmtud::PmtudView;
use crate::error::Result;
use crate::framing::KnetKind;

/// One received frame, borrowed, by kind.
#[derive(Debug, Clone, Copy)]
pub enum FrameView<'a> {
    /// User data (a whole message or one fragment).
    Data(DataView<'a>),
    /// Heartbeat ping.
    Ping(PingView<'a>),
    /// Heartbeat reply.
    Pong(PingView<'a>),
    /// PMTUD probe.
    Pmtud(PmtudView<'a>),
    /// PMTUD reply.
    PmtudReply(PmtudView<'a>),
}

impl<'a> FrameView<'a> {
    /// Checks version, type and the kind's payload header length.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self> {
        let h = HeaderView::new_checked(buf)?;
        Ok(match h.kind() {
            KnetKind::Data => FrameView::Data(DataView::from_header(h)?),
            KnetKind::Ping => FrameView::Ping(PingView::from_header(h)?),
            KnetKind::Pong => FrameView::Pong(PingView::from_header(h)?),
            KnetKind::Pmtud => FrameView::Pmtud(PmtudView::from_header(h)?),
            KnetKind::PmtudReply => FrameView::PmtudReply(PmtudView::from_header(h)?),
        })
    }

    /// The whole frame.
    pub fn bytes(&self) -> &'a [u8] {
        match self {
            FrameView::Data(v) => v.bytes(),
            FrameView::Ping(v) | FrameView::Pong(v) => v.bytes(),
            FrameView::Pmtud(v) | FrameView::PmtudReply(v) => v.bytes(),
        }
    }

    /// Sender's knet host id.
    pub fn src_host(&self) -> u16 {
        let b = self.bytes();
        u16::from_be_bytes([b[2], b[3]])
    }

    /// Frame kind.
    pub fn kind(&self) -> KnetKind {
        match self {
            FrameView::Data(_) => KnetKind::Data,
            FrameView::Ping(_) => KnetKind::Ping,
            FrameView::Pong(_) => KnetKind::Pong,
            FrameView::Pmtud(_) => KnetKind::Pmtud,
            FrameView::PmtudReply(_) => KnetKind::PmtudReply,
        }
    }
}

impl DataView<'_> {
    /// The 8-byte data header, owned (what the reassembler takes).
    pub fn data_header(&self) -> DataHeader {
        DataHeader {
            seq: self.seq(),
            compress: self.compress(),
            pad: self.pad(),
            bcast: self.bcast(),
            frag_num: self.frag_num(),
            frag_seq: self.frag_seq(),
            channel: self.channel(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knet::{decode_time, encode_time, ping_frame, pmtud_reply_frame};

    fn hexb(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// `captures/g3/3.1.7-knet-01-formation.pcapng` frame 50: host 1's first orf_token to host
    /// 2: unicast (bcast 0), seq 4. The header we build for the same seq is the captured one.
    #[test]
    fn data_header_matches_capture_token() {
        let f = hexb("010000010000000400000001000070c003000001000000020000000000000000000000ffffffff0100000001000000090000000000000000000000000000000000000000000000");
        let h = DataHeader {
            seq: 4,
            frag_num: 1,
            ..Default::default()
        };
        assert_eq!(h.frame_header(1), f[..14]);
        let FrameView::Data(v) = FrameView::new_checked(&f).unwrap() else {
            panic!("not data")
        };
        assert_eq!(v.data_header(), h);
        assert_eq!(v.header().src_host(), 1);
        assert_eq!(v.payload(), &f[14..]);
    }

    /// Capture frames 13/14: host 2's ping; the pong host 1 sends is the ping with type 0x82
    /// and host id 1, everything else echoed.
    #[test]
    fn ping_and_pong_frames_match_capture() {
        let ping = hexb("018100020000009203000000000000cde8880500000000000001");
        let FrameView::Ping(v) = FrameView::new_checked(&ping).unwrap() else {
            panic!("not a ping")
        };
        assert_eq!(
            ping_frame(2, false, v.link(), v.time(), v.seq(), v.timed()),
            ping[..]
        );
        let pong = ping_frame(1, true, v.link(), v.time(), v.seq(), v.timed());
        let mut want = ping.clone();
        want[1] = 0x82;
        want[3] = 1;
        assert_eq!(pong[..], want[..]);
        let p = FrameView::new_checked(&pong).unwrap();
        assert_eq!((p.kind(), p.src_host()), (KnetKind::Pong, 1));
    }

    #[test]
    fn pmtud_reply_echoes_link_and_size() {
        let r = pmtud_reply_frame(3, 1, [0xdc, 0x05]);
        assert_eq!(r, [1, 0x84, 0, 3, 0, 0, 1, 0xdc, 0x05]);
        let FrameView::PmtudReply(v) = FrameView::new_checked(&r).unwrap() else {
            panic!("not a reply")
        };
        assert_eq!((v.link(), v.size_raw()), (1, [0xdc, 0x05]));
    }

    #[test]
    fn time_round_trips_and_short_frames_are_refused() {
        let d = core::time::Duration::new(2163, 248_252_440);
        assert_eq!(decode_time(&encode_time(d)), Some(d));
        let mut bad = encode_time(d);
        bad[8..].copy_from_slice(&2_000_000_000u64.to_le_bytes());
        assert_eq!(decode_time(&bad), None);
        for short in [
            &[1u8, 0x81, 0, 1, 0, 0, 0][..],
            &[1, 0, 0, 1, 0, 0, 0, 1],
            &[1, 0x83, 0, 1, 0, 0, 0],
        ] {
            assert!(FrameView::new_checked(short).is_err(), "{short:?}");
        }
        assert!(FrameView::new_checked(&[2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]).is_err());
        assert!(FrameView::new_checked(&[1, 0x85, 0, 1, 0, 0, 0, 0, 0]).is_err());
    }
}
