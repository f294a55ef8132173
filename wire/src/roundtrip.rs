//! Round-trip checks over arbitrary bytes, shared by the cargo-fuzz targets and the tests
//! that replay their corpora: decoding may fail, but must never panic, and whatever decodes
//! must encode back to the bytes it came from.

use crate::datagram::{decode, Keys};
use crate::generation::Generation;
use crate::knet::KnetFrame;
use crate::srp::message::SrpMessage;

/// Panics (the fuzzer's signal) if `data` decodes as an SRP message of `gen` but does not
/// re-encode to itself.
pub fn srp(data: &[u8], gen: Generation) {
    if let Ok(d) = SrpMessage::parse(data, gen) {
        assert_eq!(d.to_vec(), data, "{gen} SRP round trip");
        assert_eq!(d.message.buffer_len() + d.trailing.len(), data.len());
    }
}

/// As [`srp`] for whole datagrams, with and without a key.
pub fn datagram(data: &[u8], keys: &Keys) {
    if let Ok(d) = decode(data, keys) {
        let again = d.encode(keys).expect("a decoded datagram re-encodes");
        assert_eq!(
            again,
            data,
            "datagram round trip ({})",
            d.envelope.describe()
        );
    }
}

/// As [`srp`] for kronosnet frames; the zero-copy views must agree with the owned decode.
pub fn knet(data: &[u8]) {
    use crate::knet::{DataView, FrameView, HeaderView, KnetBody, PingView, PmtudView};
    let view = FrameView::new_checked(data);
    assert_eq!(
        view.is_ok(),
        KnetFrame::parse(data).is_ok(),
        "knet view and owned parse disagree"
    );
    if let Ok(f) = KnetFrame::parse(data) {
        if let Ok(v) = view {
            assert_eq!((v.kind(), v.src_host()), (f.kind, f.src_host));
        }
        assert_eq!(f.to_vec(), data, "knet round trip");
        assert_eq!(f.buffer_len(), data.len());
        let h = HeaderView::new_checked(data).expect("header view of a parsed frame");
        assert_eq!(
            (h.src_host(), h.pad(), h.kind()),
            (f.src_host, f.pad, f.kind)
        );
        match &f.body {
            KnetBody::Data { payload, .. } => {
                let v = DataView::new_checked(data).expect("data view");
                let dh = f.data_header().expect("data header");
                assert_eq!(
                    (v.seq(), v.frag_num(), v.frag_seq()),
                    (dh.seq, dh.frag_num, dh.frag_seq)
                );
                assert_eq!(v.payload(), &payload[..]);
            }
            KnetBody::Ping(p) => {
                let v = PingView::new_checked(data).expect("ping view");
                assert_eq!(
                    (v.link(), v.time(), v.seq(), v.timed()),
                    (p.link, p.time, p.seq, p.timed)
                );
                assert_eq!(v.tail(), &p.tail[..]);
            }
            KnetBody::Pmtud(p) => {
                let v = PmtudView::new_checked(data).expect("pmtud view");
                assert_eq!((v.link(), v.size_raw()), (p.link, p.size_raw));
                assert_eq!(v.padding(), &p.padding[..]);
            }
        }
    }
}

/// The knet reassembler over arbitrary bytes, read as records `len (1) ‖ frame (len)`: the data
/// frames among them are fed to one [`crate::knet::KnetDefrag`]. It never holds more than its
/// bound per host, and every message it completes is the completing fragment's bytes at that
/// fragment's place.
pub fn knet_defrag(data: &[u8]) {
    use crate::knet::{
        DefragEvent, FrameView, HostDefrag, KnetDefrag, DEFRAG_BUFFERS, MAX_MESSAGE_LEN,
    };
    let mut d = KnetDefrag::new();
    let mut rest = data;
    let mut frames = 0;
    while let Some((&len, tail)) = rest.split_first() {
        let (frame, next) = tail.split_at(usize::from(len).min(tail.len()));
        rest = next;
        let Ok(FrameView::Data(v)) = FrameView::new_checked(frame) else {
            continue;
        };
        frames += 1;
        let h = v.data_header();
        let p = v.payload();
        let host = v.header().src_host();
        if let DefragEvent::Complete(m) = d.push(host, &h, p) {
            assert!(
                m.len() <= MAX_MESSAGE_LEN,
                "reassembled message over the limit"
            );
            let at = if h.frag_seq == h.frag_num {
                m.len() - p.len()
            } else {
                usize::from(h.frag_seq - 1) * p.len()
            };
            assert_eq!(&m[at..at + p.len()], p, "fragment not at its place");
        }
        if let Some(hd) = d.host(host) {
            assert!(
                hd.in_flight() <= DEFRAG_BUFFERS,
                "more messages in flight than the bound"
            );
            assert!(
                hd.held_bytes() <= HostDefrag::MAX_HELD_BYTES,
                "more bytes than the bound"
            );
        }
    }
    assert!(d.pending() <= frames);
}

/// The knet crypto the fuzz targets use: nss, aes256, sha256 (corosync's choice) under
/// [`fuzz_authkey`].
pub fn fuzz_knet_crypto() -> crate::envelope::KnetCrypto {
    crate::envelope::KnetCrypto::new(
        crate::envelope::KnetCryptoConfig::COROSYNC_SECAUTH,
        &fuzz_authkey(),
    )
    .expect("valid fuzz knet crypto")
}

/// knet crypto over arbitrary bytes: whatever opens must re-seal to the same bytes (and its
/// frame goes through [`knet`]); the input read as `salt ‖ frame` must seal and open back.
pub fn knet_crypto(data: &[u8]) {
    use crate::envelope::{KnetCrypto, KnetCryptoConfig};
    let c = fuzz_knet_crypto();
    if let Ok(o) = c.open(data) {
        let salt = o.salt.expect("aes256 has a salt");
        assert_eq!(c.seal(&o.frame, &salt), data, "knet crypto reseal");
        knet(&o.frame);
    }
    if let Some((salt, frame)) = data.split_first_chunk::<16>() {
        let sealed = c.seal(frame, salt);
        assert_eq!(sealed.len(), c.config().sealed_len(frame.len()));
        let o = c.open(&sealed).expect("sealed data opens");
        assert_eq!(o.frame, frame, "knet crypto seal/open");
    }
    let mac_only = KnetCrypto::new(
        KnetCryptoConfig::from_names("openssl", "none", "sha512").expect("names"),
        &fuzz_authkey(),
    )
    .expect("valid config");
    if let Ok(o) = mac_only.open(data) {
        assert_eq!(mac_only.seal(&o.frame, &[0; 16]), data);
    }
}

/// Parses a native envelope (`totem::secure`); what parses must re-emit the same header.
pub fn native_envelope(data: &[u8]) {
    if let Ok(v) = crate::envelope::native::EnvelopeView::parse(data) {
        assert_eq!(
            &v.header.emit()[..],
            v.aad,
            "native envelope header round trip"
        );
        assert_eq!(v.aad.len() + v.sealed.len(), data.len());
    }
}

/// The authkey the fuzz targets use for envelopes: bytes 0x00..0x7F, as in the spec vectors.
pub fn fuzz_authkey() -> [u8; 128] {
    core::array::from_fn(|i| i as u8)
}

/// As [`srp`] for a totempg packet (an mcast payload), in both byte orders.
pub fn totempg(data: &[u8]) {
    for endian in [crate::Endian::Little, crate::Endian::Big] {
        if let Ok(p) = crate::TotempgPacket::parse(data, endian) {
            let mut out = vec![0u8; p.buffer_len()];
            let n = p.emit(&mut out).expect("buffer_len is enough");
            assert_eq!(&out[..n], data, "totempg round trip");
        }
        if let Ok(v) = crate::TotempgPacketView::new_checked(data, endian) {
            let mut reasm = crate::Reassembler::new();
            let mut done = Vec::new();
            let _ = reasm.feed(1, &v, &mut done);
        }
    }
}

/// As [`srp`] for a reassembled group message (group header and service message), for every
/// generation and service numbering.
pub fn app_message(data: &[u8]) {
    use crate::service::ServiceTable;
    for (gen, table) in [
        (Generation::G1, ServiceTable::Openais),
        (Generation::G1, ServiceTable::Corosync1),
        (Generation::G2, ServiceTable::Corosync2),
        (Generation::G3, ServiceTable::Corosync2),
    ] {
        for endian in [crate::Endian::Little, crate::Endian::Big] {
            if let Ok(a) = crate::AppMessage::decode_with(data, gen, endian, table) {
                let mut out = vec![0u8; a.buffer_len()];
                let n = a.emit(&mut out).expect("buffer_len is enough");
                assert_eq!(&out[..n], data, "{gen} {table:?} service round trip");
                let _ = a.to_string();
            }
        }
    }
}

/// As [`srp`] for cman messages: cman 3.x on openais (both byte orders) and the kernel cman
/// protocol (IPv4 and IPv6 address lengths).
pub fn cman(data: &[u8]) {
    use crate::cman::kernel::KernelPacket;
    use crate::cman::openais::CmanPacket;
    for endian in [crate::Endian::Little, crate::Endian::Big] {
        if let Ok(p) = CmanPacket::parse(data, endian) {
            let mut out = vec![0u8; p.buffer_len()];
            let n = p.emit(&mut out, endian).expect("buffer_len is enough");
            assert_eq!(&out[..n], data, "cman/openais round trip");
        }
    }
    for addr_len in [16usize, 28] {
        if let Ok(p) = KernelPacket::parse(data, addr_len) {
            let mut out = vec![0u8; p.buffer_len()];
            let n = p.emit(&mut out).expect("buffer_len is enough");
            assert_eq!(&out[..n], data, "kernel cman round trip");
        }
    }
}

/// The address book the retarget fuzz target uses: nodes 1–16 at 192.0.2.n (ring 1 at
/// 198.51.100.n for the even ones), as G2 writes them, with a G1 form whose padding is not zero.
pub fn fuzz_book() -> crate::retarget::AddressBook {
    use crate::retarget::{AddressBook, BookEntry};
    use std::net::{IpAddr, Ipv4Addr};
    let mut b = AddressBook::new();
    for n in 1..=16u8 {
        let r1 = (n % 2 == 0).then(|| IpAddr::V4(Ipv4Addr::new(198, 51, 100, n)));
        let mut e = BookEntry::new(u32::from(n), IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)), r1);
        e.g1[0].addr[4..].fill(n);
        b.insert(e).expect("distinct nodes");
    }
    b
}

/// The retarget path over arbitrary bytes: the first byte picks the two generations, the
/// rest is an SRP message of the first. Decoding or retargeting may fail with a named error,
/// never panic; what retargets encodes, decodes in the target generation as it was written,
/// and a second trip there and back changes nothing more.
pub fn retarget(data: &[u8]) {
    use crate::retarget::Retarget;
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let from = Generation::ALL[usize::from(sel % 3)];
    let to = Generation::ALL[usize::from((sel / 3) % 3)];
    let book = fuzz_book();
    let there = Retarget::new(&book, from, to).target(u32::from(sel >> 4));
    let Ok(d) = SrpMessage::parse(body, from) else {
        return;
    };
    // The gateway reads each mcast's service_build (peers by generation): any bytes.
    if let SrpMessage::Mcast(m) = &d.message {
        if let Some(list) =
            crate::retarget::built_services(&m.payload, m.header.generation, m.header.endian)
        {
            assert!(list.len() <= crate::service::sync::SERVICE_LIST_MAX);
        }
    }
    let x = match there.message(&d.message) {
        Ok(x) => x,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let Ok(wire) = x.try_to_vec() else {
        // A value the source accepted but the target cannot hold (a field too long).
        return;
    };
    let y = SrpMessage::parse(&wire, to).expect("a retargeted message decodes in its generation");
    assert_eq!(y.message, x, "{from} -> {to}: decodes as written");
    if let Ok(back) = there.reverse().message(&y.message) {
        let again = there
            .message(&back)
            .expect("what came back goes there again");
        assert_eq!(again, x, "{from} -> {to} -> {from} -> {to} is stable");
    }
}

/// Multiple-ring link frames and handshakes: whatever decodes from a little-endian sender
/// re-encodes to the same bytes (we emit little-endian only), and never a panic.
pub fn mrp_link(data: &[u8]) {
    use crate::mrp_link::{Handshake, LinkMsg, HANDSHAKE_LEN};
    if let Ok(m) = LinkMsg::parse(data) {
        let out = m.to_vec().expect("a decoded frame encodes");
        assert_eq!(out.len(), m.buffer_len());
        if data.starts_with(&[0x4b, 0x4c]) {
            assert_eq!(out, data, "mrp link frame round trip");
        }
        assert_eq!(LinkMsg::parse(&out).expect("what we emit decodes"), m);
    }
    if let Ok(h) = Handshake::parse(data) {
        if data[12..14] == [1, 0] {
            assert_eq!(&h.to_bytes()[..], &data[..HANDSHAKE_LEN]);
        }
    }
}

/// Multiple-ring elements: whatever decodes re-encodes to the same bytes, and the view
/// agrees with the owned form.
pub fn mrp(data: &[u8]) {
    use crate::mrp::{Element, ElementView};
    let owned = Element::parse(data);
    let view = ElementView::new_checked(data);
    if let Ok(e) = owned {
        let out = e.to_vec().expect("a decoded element encodes");
        assert_eq!(out, data, "mrp element round trip");
        let v = view.expect("the view accepts what parse accepts");
        assert_eq!(v.key(), e.key());
    }
}
