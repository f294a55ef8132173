//! knet v1 codecs and the knet crypto envelope: property round trips, and the frames quoted in
//! shared/spec/findings-corosync3-live.md §5.5 as known answers.

use proptest::prelude::*;
use totem_wire::envelope::{KnetCipher, KnetCrypto, KnetCryptoConfig, KnetHash, KnetModel};
use totem_wire::framing::KnetKind;
use totem_wire::knet::{
    DataHeader, DataView, HeaderView, KnetBody, KnetFrame, Ping, PingView, Pmtud, PmtudView,
    DATA_LEN, PING_LEN,
};

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

#[test]
fn findings_ping_and_pong_decode() {
    // knet ping 26 B from the findings: host 1, link 0, timespec host order, seq 0x0076, timed 1.
    let ping = hex("01 81 00 01 00 00 00 73 08 00 00 00 00 00 00 18 08 cc 0e 00 00 00 00 00 76 01");
    let v = PingView::new_checked(&ping).unwrap();
    assert_eq!(v.link(), 0);
    assert_eq!(v.seq(), 0x76);
    assert_eq!(v.timed(), 1);
    let f = KnetFrame::parse(&ping).unwrap();
    assert_eq!((f.kind, f.src_host), (KnetKind::Ping, 1));
    let KnetBody::Ping(p) = &f.body else {
        panic!("not a ping")
    };
    // 0x873 = 2163 s, 0x0ecc0818 = 248252440 ns of CLOCK_MONOTONIC, little-endian.
    assert_eq!(p.time_le(), (0x873, 0x0ecc_0818));
    assert_eq!(f.to_vec(), ping);
    // The pong from host 3 echoes the rest.
    let mut pong = ping.clone();
    pong[1] = 0x82;
    pong[3] = 3;
    let g = KnetFrame::parse(&pong).unwrap();
    assert_eq!((g.kind, g.src_host), (KnetKind::Pong, 3));
    assert_eq!(g.body, f.body);
}

#[test]
fn findings_data_frame_decodes() {
    // knet token: host 1, seq 0x75, unicast, not fragmented, channel 0, Totem G3 after byte 14.
    let token = hex("01 00 00 01 00 00 00 75 00 00 00 01 00 00 70 c0 03 00 00 01 00 00 00 02");
    let v = DataView::new_checked(&token).unwrap();
    assert_eq!(
        (
            v.seq(),
            v.compress(),
            v.bcast(),
            v.frag_num(),
            v.frag_seq(),
            v.channel()
        ),
        (0x75, 0, 0, 1, 0, 0)
    );
    assert_eq!(&v.payload()[..3], &[0x70, 0xc0, 0x03]);
    assert_eq!(v.header().src_host(), 1);
    let f = KnetFrame::parse(&token).unwrap();
    assert_eq!(f.totem_payload(), Some(&token[14..]));
    assert_eq!(f.to_vec(), token);
    // The other views refuse a data frame.
    assert!(PingView::new_checked(&token).is_err());
    assert!(PmtudView::new_checked(&token).is_err());
}

#[test]
fn pmtud_reply_decodes() {
    // PMTUD reply: host 2, link 0, size 1500 in host (little-endian) order, no padding.
    let r = hex("01 84 00 02 00 00 00 dc 05");
    let v = PmtudView::new_checked(&r).unwrap();
    assert_eq!(
        (v.link(), v.size_raw(), v.padding().len()),
        (0, [0xdc, 0x05], 0)
    );
    let f = KnetFrame::parse(&r).unwrap();
    let KnetBody::Pmtud(p) = &f.body else {
        panic!()
    };
    assert_eq!(p.size(totem_wire::Endian::Little), 1500);
    assert_eq!(f.to_vec(), r);
}

#[test]
fn malformed_frames_are_errors() {
    for bad in [
        &[][..],
        &[1, 0, 0][..],
        &[2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0][..], // version 2
        &[1, 0x85, 0, 1, 0, 0, 0][..],                   // unknown type
        &[1, 0, 0, 1, 0, 0, 0, 1][..],                   // data header cut short
        &[1, 0x81, 0, 1, 0, 0, 0, 1, 2][..],             // ping cut short
        &[1, 0x83, 0, 1, 0, 0, 0, 1][..],                // pmtud cut short
    ] {
        assert!(KnetFrame::parse(bad).is_err(), "{bad:?}");
    }
    assert!(HeaderView::new_checked(&[1, 0x85, 0, 1, 0, 0]).is_err());
}

fn arb_frame() -> impl Strategy<Value = KnetFrame> {
    let data = (
        any::<u16>(),
        any::<[u8; 6]>(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(seq, b, payload)| {
            (
                KnetKind::Data,
                KnetBody::Data {
                    seq,
                    compress: b[0],
                    pad: b[1],
                    bcast: b[2],
                    frag_num: b[3],
                    frag_seq: b[4],
                    channel: b[5],
                    payload,
                },
            )
        });
    let ping = (
        any::<bool>(),
        any::<u8>(),
        any::<[u8; 16]>(),
        any::<u16>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..4),
    )
        .prop_map(|(pong, link, time, seq, timed, tail)| {
            (
                if pong { KnetKind::Pong } else { KnetKind::Ping },
                KnetBody::Ping(Ping {
                    link,
                    time,
                    seq,
                    timed,
                    tail,
                }),
            )
        });
    let pmtud = (
        any::<bool>(),
        any::<u8>(),
        any::<[u8; 2]>(),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(reply, link, size_raw, padding)| {
            (
                if reply {
                    KnetKind::PmtudReply
                } else {
                    KnetKind::Pmtud
                },
                KnetBody::Pmtud(Pmtud {
                    link,
                    size_raw,
                    padding,
                }),
            )
        });
    (
        prop_oneof![data, ping, pmtud],
        any::<u16>(),
        any::<[u8; 2]>(),
    )
        .prop_map(|((kind, body), src_host, pad)| KnetFrame {
            kind,
            type_byte: totem_wire::knet::header::type_byte_of(kind),
            src_host,
            pad,
            body,
        })
}

proptest! {
    #[test]
    fn frame_emit_parse_emit(f in arb_frame()) {
        let bytes = f.to_vec();
        prop_assert_eq!(bytes.len(), f.buffer_len());
        let g = KnetFrame::parse(&bytes).unwrap();
        prop_assert_eq!(&g, &f);
        prop_assert_eq!(g.to_vec(), bytes);
    }

    #[test]
    fn data_header_round_trip(b in any::<[u8; DATA_LEN]>()) {
        let h = DataHeader::parse(&b).unwrap();
        let mut out = [0u8; DATA_LEN];
        prop_assert_eq!(h.emit(&mut out).unwrap(), DATA_LEN);
        prop_assert_eq!(out, b);
    }

    #[test]
    fn ping_round_trip(b in any::<[u8; PING_LEN]>()) {
        let p = Ping::parse(&b).unwrap();
        let mut out = [0u8; PING_LEN];
        p.emit(&mut out).unwrap();
        prop_assert_eq!(out, b);
        prop_assert_eq!(p.seq, u16::from_be_bytes([b[17], b[18]]));
    }

    #[test]
    fn pmtud_round_trip(b in proptest::collection::vec(any::<u8>(), 3..100)) {
        let p = Pmtud::parse(&b).unwrap();
        let mut out = vec![0u8; p.buffer_len()];
        p.emit(&mut out).unwrap();
        prop_assert_eq!(out, b);
    }

    #[test]
    fn seal_open_every_model_cipher_hash(
        frame in proptest::collection::vec(any::<u8>(), 1..600),
        salt in any::<[u8; 16]>(),
        key in proptest::collection::vec(any::<u8>(), 128..300),
    ) {
        for model in KnetModel::ALL {
            for cipher in KnetCipher::ALL {
                for hash in KnetHash::ALL {
                    let cfg = KnetCryptoConfig { model, cipher, hash };
                    let Ok(c) = KnetCrypto::new(cfg, &key) else {
                        // Only a cipher without a hash is refused.
                        prop_assert!(cipher != KnetCipher::None && hash == KnetHash::None);
                        continue;
                    };
                    let sealed = c.seal(&frame, &salt);
                    prop_assert_eq!(sealed.len(), cfg.sealed_len(frame.len()));
                    prop_assert!(sealed.len() <= frame.len() + cfg.max_overhead());
                    let o = c.open(&sealed).unwrap();
                    prop_assert_eq!(&o.frame, &frame);
                    prop_assert_eq!(o.salt.is_some(), cipher != KnetCipher::None);
                    // The other model reads it too.
                    let other = KnetModel::ALL.into_iter().find(|m| *m != model).unwrap();
                    let c2 = KnetCrypto::new(KnetCryptoConfig { model: other, ..cfg }, &key).unwrap();
                    prop_assert_eq!(c2.open(&sealed).unwrap().frame, frame.clone());
                    if hash != KnetHash::None {
                        let mut bad = sealed.clone();
                        let last = bad.len() - 1;
                        bad[last] ^= 1;
                        prop_assert!(c.open(&bad).is_err());
                    }
                }
            }
        }
    }
}
