//! Real captured datagrams for tests (see `testdata/upper/SOURCES.txt` for frame numbers).

use crate::endian::Endian;
use crate::generation::Generation;
use crate::srp::mcast::Mcast;

/// The UDP payload of the sample `name`.
pub(crate) fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/upper/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    hex::decode(text.trim()).expect("hex sample")
}

/// The mcast payload (the totempg packet) of a datagram and the sender's byte order.
pub(crate) fn mcast_payload(datagram: &[u8], gen: Generation) -> (Vec<u8>, Endian) {
    let srp = if gen == Generation::G2 {
        &datagram[4..]
    } else {
        datagram
    };
    let m = Mcast::parse(srp, gen).expect("mcast");
    (m.payload, m.header.endian)
}

/// The complete messages packed in a datagram that holds no fragments.
pub(crate) fn messages(name: &str, gen: Generation) -> (Vec<Vec<u8>>, Endian) {
    let (p, e) = mcast_payload(&sample(name), gen);
    let pkt = crate::totempg::Packet::parse(&p, e).expect("totempg");
    assert_eq!(
        (pkt.fragmented, pkt.continuation),
        (0, 0),
        "{name} holds fragments"
    );
    (pkt.pieces, e)
}
