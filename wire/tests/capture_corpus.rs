//! Runs every plaintext mcast of a corpus of real datagrams through totempg reassembly and
//! the service decoders, checking that decode → emit gives back the exact bytes.
//!
//! The corpus is a text file of lines `<capture> <label> <hex UDP payload>` made with
//! `tshark -r F -Y udp -T fields -e udp.payload`; point `TOTEM_CORPUS` at it and run
//! `cargo test -p totem-wire --test capture_corpus -- --ignored --nocapture`.

use std::collections::{BTreeMap, HashMap, HashSet};

use totem_wire::framing::G2Header;
use totem_wire::srp::mcast::Mcast;
use totem_wire::{
    classify, AppMessage, Framing, Generation, Reassembler, ServiceTable, TotempgPacket,
    TotempgPacketView,
};

#[test]
#[ignore = "needs TOTEM_CORPUS"]
fn corpus_round_trips() {
    let Ok(path) = std::env::var("TOTEM_CORPUS") else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let mut seen = HashSet::new();
    let mut reasm: HashMap<String, Reassembler> = HashMap::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let (mut packets, mut messages) = (0usize, 0usize);
    for line in text.lines() {
        let mut it = line.split(' ');
        let (Some(cap), Some(_), Some(hex)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let Ok(dgram) = hex_decode(hex) else { continue };
        let (gen, srp) = match classify(&dgram) {
            Framing::Plain { generation, .. } => (generation, &dgram[..]),
            Framing::G2 {
                header: G2Header::V23,
            } => (Generation::G2, &dgram[4..]),
            _ => continue,
        };
        let Ok(m) = Mcast::parse(srp, gen) else {
            continue;
        };
        if m.is_encapsulated() {
            continue;
        }
        // udpu sends each mcast once per member; keep the first copy.
        if !seen.insert((
            cap.to_string(),
            m.ring_id.to_string(),
            m.seq,
            m.system_from.nodeid(),
        )) {
            continue;
        }
        packets += 1;
        let e = m.header.endian;
        let pkt = TotempgPacket::parse(&m.payload, e).unwrap_or_else(|err| panic!("{cap}: {err}"));
        let mut out = vec![0u8; pkt.buffer_len()];
        pkt.emit(&mut out).unwrap();
        assert_eq!(out, m.payload, "{cap}: totempg round trip");
        let v = TotempgPacketView::new_checked(&m.payload, e).unwrap();
        let mut msgs = Vec::new();
        let r = reasm.entry(format!("{cap} {}", m.ring_id)).or_default();
        r.feed(m.system_from.nodeid(), &v, &mut msgs).unwrap();
        let table = if cap.starts_with("openais") {
            ServiceTable::Openais
        } else {
            ServiceTable::for_generation(gen)
        };
        for msg in msgs {
            messages += 1;
            let a = AppMessage::decode_with(&msg, gen, e, table)
                .unwrap_or_else(|err| panic!("{cap}: {err}"));
            let mut b = vec![0u8; a.buffer_len()];
            a.emit(&mut b).unwrap();
            assert_eq!(b, msg, "{cap}: {a}");
            assert!(a.trailer.is_empty(), "{cap}: {a}");
            let s = a.to_string();
            let kind = s.split(' ').next().unwrap_or("").to_string();
            *kinds.entry(format!("{gen} {kind}")).or_default() += 1;
        }
    }
    let disc: u64 = reasm.values().map(|r| r.stats().discontinuities).sum();
    println!("{packets} mcast packets, {messages} messages, {disc} discontinuities");
    for (k, n) in &kinds {
        println!("{n:6} {k}");
    }
    assert!(messages > 0);
}

fn hex_decode(s: &str) -> Result<Vec<u8>, ()> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or(())?, 16).map_err(|_| ()))
        .collect()
}
