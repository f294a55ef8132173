//! Replays the committed fuzz corpora (real datagrams) through the fuzz targets' checks, plus
//! every truncation and a sweep of single-byte mutations of each seed, so CI exercises the
//! fuzz targets on every run without a nightly toolchain.

use std::path::Path;

use totem_wire::datagram::Keys;
use totem_wire::{roundtrip, Generation};

/// The committed seeds (`seed-*`, real datagrams) and whatever a local fuzzing run added.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    corpus_files(target, false)
}

/// Only the committed seeds.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    corpus_files(target, true)
}

fn corpus_files(target: &str, seeds_only: bool) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.retain(|f| {
        !seeds_only
            || f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
    });
    files.sort();
    let v: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!v.is_empty(), "empty corpus {target}");
    v
}

/// Runs `check` on each seed, each of its truncations and each byte of it flipped.
fn exercise(target: &str, check: impl Fn(&[u8])) -> usize {
    let mut runs = 0;
    for seed in corpus(target) {
        check(&seed);
        for n in (0..seed.len()).step_by(if seed.len() > 256 { 7 } else { 1 }) {
            check(&seed[..n]);
            runs += 1;
        }
        let mut m = seed.clone();
        for i in (0..m.len()).step_by(if m.len() > 256 { 13 } else { 1 }) {
            for x in [0x01u8, 0x80, 0xFF] {
                m[i] ^= x;
                check(&m);
                m[i] ^= x;
                runs += 1;
            }
        }
    }
    runs
}

#[test]
fn srp_targets() {
    for (t, g) in [
        ("srp_g1", Generation::G1),
        ("srp_g2", Generation::G2),
        ("srp_g3", Generation::G3),
    ] {
        // The seeds themselves must decode: they are real messages of that generation.
        for seed in seeds(t) {
            let d =
                totem_wire::SrpMessage::parse(&seed, g).unwrap_or_else(|e| panic!("{t} seed: {e}"));
            assert_eq!(d.to_vec(), seed);
        }
        assert!(exercise(t, |b| roundtrip::srp(b, g)) > 1000);
    }
}

#[test]
fn datagram_targets() {
    let plain = Keys::none();
    assert!(exercise("datagram_plain", |b| roundtrip::datagram(b, &plain)) > 1000);
    let keyed = Keys::with_authkey(&roundtrip::fuzz_authkey());
    // The keyed seeds are encrypted under the captures' keys, not the fuzz key: they exercise
    // the authentication failure paths; the fuzzer finds the rest.
    assert!(exercise("datagram_keyed", |b| roundtrip::datagram(b, &keyed)) > 1000);
}

#[test]
fn knet_target() {
    for seed in seeds("knet") {
        totem_wire::knet::KnetFrame::parse(&seed).expect("knet seed decodes");
    }
    assert!(exercise("knet", roundtrip::knet) > 100);
}

#[test]
fn knet_defrag_target() {
    assert!(exercise("knet_defrag", roundtrip::knet_defrag) > 100);
}

#[test]
fn knet_crypto_target() {
    // Seeds are real knet frames (from the encrypted captures, opened by an independent
    // implementation) re-sealed under the fuzz key: every one opens and re-seals identically.
    let c = roundtrip::fuzz_knet_crypto();
    let seeds = seeds("knet_crypto");
    assert!(seeds.len() >= 20, "{}", seeds.len());
    for seed in &seeds {
        let o = c
            .open(seed)
            .expect("knet_crypto seed opens under the fuzz key");
        totem_wire::knet::KnetFrame::parse(&o.frame).expect("knet_crypto seed frame parses");
        assert_eq!(&c.seal(&o.frame, &o.salt.unwrap()), seed);
    }
    assert!(exercise("knet_crypto", roundtrip::knet_crypto) > 1000);
}

#[test]
fn upper_layer_targets() {
    // Seeds are real totempg packets and the group messages packed in them: they decode.
    for seed in seeds("totempg") {
        totem_wire::TotempgPacket::parse(&seed, totem_wire::Endian::Little)
            .expect("totempg seed decodes");
    }
    assert!(exercise("totempg", roundtrip::totempg) > 1000);
    assert!(exercise("app_message", roundtrip::app_message) > 1000);
}

#[test]
fn cman_target() {
    // No real cman traffic exists in our captures: these seeds are inputs a fuzzing run found
    // to reach deep into the decoders (largest coverage first).
    assert!(exercise("cman", roundtrip::cman) > 500);
}

/// Seeds for the retarget target: the real G3 seeds, carried into each source generation
/// through the fuzz address book, behind each selector byte. `TOTEM_WRITE_SEEDS=1` writes
/// them to `fuzz/corpus/retarget` for cargo fuzz.
fn retarget_seeds() -> Vec<Vec<u8>> {
    use totem_wire::retarget::Retarget;
    let book = roundtrip::fuzz_book();
    let mut out = Vec::new();
    for seed in seeds("srp_g3") {
        let m = totem_wire::SrpMessage::parse(&seed, Generation::G3)
            .unwrap()
            .message;
        for sel in 0u8..9 {
            let from = Generation::ALL[usize::from(sel % 3)];
            let Ok(src) = Retarget::new(&book, Generation::G3, from).message(&m) else {
                continue;
            };
            let mut v = vec![sel | 0x20];
            v.extend(src.try_to_vec().unwrap());
            out.push(v);
        }
    }
    out
}

#[test]
fn retarget_target() {
    let seeds = retarget_seeds();
    assert!(seeds.len() > 30, "{} retarget seeds", seeds.len());
    if std::env::var_os("TOTEM_WRITE_SEEDS").is_some() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/retarget");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), s).unwrap();
        }
    }
    let mut runs = 0;
    for seed in &seeds {
        roundtrip::retarget(seed);
        for n in (1..seed.len()).step_by(5) {
            roundtrip::retarget(&seed[..n]);
            runs += 1;
        }
        let mut m = seed.clone();
        for i in (1..m.len()).step_by(7) {
            for x in [0x01u8, 0x80, 0xFF] {
                m[i] ^= x;
                roundtrip::retarget(&m);
                m[i] ^= x;
                runs += 1;
            }
        }
    }
    assert!(runs > 5000, "{runs}");
}

/// Seeds for the multiple-ring element target: one element of every kind in both byte
/// orders, forwarded or not. `TOTEM_WRITE_SEEDS=1` writes them to `fuzz/corpus/mrp`.
fn mrp_seeds() -> Vec<Vec<u8>> {
    use totem_wire::mrp::{Body, Element, Kind};
    let mut out = Vec::new();
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        let body = match kind {
            Kind::Data => Body::Payload((0..40u8).collect()),
            Kind::Attach | Kind::Detach => Body::Origins {
                path: vec![(1, 4), (2, 5)],
                origins: vec![2, 3],
            },
            Kind::RingConfig => Body::Members(vec![1, 2, 3, 4]),
            _ => Body::Empty,
        };
        for (big, fwd) in [(false, false), (true, true)] {
            let mut e = Element::new(kind, 1, 3, 1000 + i as u64, b"all", body.clone());
            e.forwarded = fwd;
            e.ring_seq = (8 << 32) | 1;
            e.seq = 17;
            if big {
                e.endian = totem_wire::Endian::Big;
            }
            out.push(e.to_vec().unwrap());
        }
    }
    out
}

#[test]
fn mrp_target() {
    let seeds = mrp_seeds();
    if std::env::var_os("TOTEM_WRITE_SEEDS").is_some() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/mrp");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), s).unwrap();
        }
    }
    let mut runs = 0;
    for seed in &seeds {
        // Every seed decodes (the target checks re-encoding).
        assert!(totem_wire::mrp::Element::parse(seed).is_ok());
        roundtrip::mrp(seed);
        for n in 0..seed.len() {
            roundtrip::mrp(&seed[..n]);
            runs += 1;
        }
        let mut m = seed.clone();
        for i in 0..m.len() {
            for x in [0x01u8, 0x80, 0xFF] {
                m[i] ^= x;
                roundtrip::mrp(&m);
                m[i] ^= x;
                runs += 1;
            }
        }
    }
    assert!(runs > 3000, "{runs}");
}

fn mrp_link_seeds() -> Vec<Vec<u8>> {
    use totem_wire::mrp_link::{Handshake, LinkMsg};
    let el = totem_wire::mrp::Element::new(
        totem_wire::mrp::Kind::Data,
        0,
        1,
        9,
        b"g",
        totem_wire::mrp::Body::Payload(b"x".to_vec()),
    )
    .to_vec()
    .unwrap();
    vec![
        LinkMsg::Hello {
            origins: vec![(0, vec![]), (2, vec![(1, 8), (2, 9)])],
            clock: 77,
        }
        .to_vec()
        .unwrap(),
        LinkMsg::Element(el).to_vec().unwrap(),
        LinkMsg::Groups(vec![b"bench".to_vec(), b"a".to_vec()])
            .to_vec()
            .unwrap(),
        LinkMsg::Heartbeat.to_vec().unwrap(),
        Handshake {
            nonce: [3; 32],
            ring: 1,
        }
        .to_bytes()
        .to_vec(),
    ]
}

#[test]
fn mrp_link_target() {
    let seeds = mrp_link_seeds();
    if std::env::var_os("TOTEM_WRITE_SEEDS").is_some() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/mrp_link");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), s).unwrap();
        }
    }
    let mut runs = 0;
    for (i, seed) in seeds.iter().enumerate() {
        // Every seed decodes (frames, and the handshake last).
        if i + 1 < seeds.len() {
            assert!(totem_wire::mrp_link::LinkMsg::parse(seed).is_ok());
        } else {
            assert!(totem_wire::mrp_link::Handshake::parse(seed).is_ok());
        }
        for n in 0..=seed.len() {
            roundtrip::mrp_link(&seed[..n]);
            runs += 1;
        }
        let mut m = seed.clone();
        for i in 0..m.len() {
            for x in [0x01u8, 0x80, 0xFF] {
                m[i] ^= x;
                roundtrip::mrp_link(&m);
                m[i] ^= x;
                runs += 1;
            }
        }
    }
    assert!(runs > 300, "{runs}");
}
