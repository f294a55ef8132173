//! Every bundled capture verifies: all Totem datagrams decode and re-encode byte for byte.

use std::path::{Path, PathBuf};

use totem_captures::knet::keys_for_capture;
use totem_captures::verify::{sibling_authkey, verify_file, Report};
use totem_captures::PortFilter;
use totem_wire::datagram::{decode, DatagramError, Keys};
use totem_wire::envelope::{AuthKey, EnvelopeError, KnetCrypto, KnetCryptoConfig, KnetCryptoError};

fn captures(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "pcapng" || e == "pcap"));
    v.sort();
    v
}

fn keys_for(path: &Path) -> Keys {
    let keys = keys_for_capture(path, None, None).expect("bundled keys load");
    // The documented sibling rule: the authkey (and, for knet, the corosync.conf) next to it.
    assert_eq!(
        sibling_authkey(path).is_some(),
        format!("{keys:?}") != format!("{:?}", Keys::none())
    );
    keys
}

fn verify_all(dir: &str, min_files: usize) -> Report {
    let files = captures(dir);
    assert!(
        files.len() >= min_files,
        "{dir}: expected at least {min_files} captures, found {}",
        files.len()
    );
    let mut total = Report::default();
    for f in &files {
        let r = verify_file(f, &keys_for(f), &PortFilter::default()).expect("capture reads");
        assert!(r.totem > 0, "{}: no Totem datagrams found", f.display());
        for (_, fail) in r.failures.iter().take(5) {
            eprintln!("{}: frame {}: {}", f.display(), fail.frame, fail.reason);
        }
        assert!(r.passed(), "{}: {}", f.display(), r.summary_line());
        total.absorb(r);
    }
    println!("{dir}: {} ({:?})", total.summary_line(), total.by_kind);
    total
}

#[test]
fn real_g1_g2_captures_verify() {
    let total = verify_all("real", 37);
    // Every generation and envelope of the shared set is present and proven.
    for kind in [
        "G1 plain",
        "G1 secauth",
        "G2 totemcrypto-none",
        "G2 totemcrypto-encrypted",
        "G3 plain",
    ] {
        assert!(
            total.by_kind.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} datagrams verified"
        );
    }
    assert!(total.totem >= 46_000, "{}", total.summary_line());
}

#[test]
fn g3_captures_verify() {
    let files = captures("g3");
    if files.is_empty() {
        panic!("captures/g3 holds no captures: run captures/scripts/make-g3-captures.sh");
    }
    let total = verify_all("g3", 10);
    assert!(
        total.by_kind.get("G3 plain").copied().unwrap_or(0) > 1000,
        "{:?}",
        total.by_kind
    );
}

#[test]
fn wrong_key_is_an_authentication_error_not_garbage() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("real");
    for (capture, keyfile) in [
        (
            "1.4.10-udpu-secauth-01-formation.pcapng",
            "1.4.10-udpu-secauth.authkey",
        ),
        (
            "1.4.10-udpu-secauth-nss-01-formation.pcapng",
            "1.4.10-udpu-secauth.authkey",
        ),
        (
            "2.4.6-udpu-aes256-sha1-01-formation.pcapng",
            "2.4.6-udpu-aes256-sha1.authkey",
        ),
    ] {
        let mut key = AuthKey::from_file(dir.join(keyfile))
            .unwrap()
            .as_bytes()
            .to_vec();
        key[0] ^= 0x01;
        let keys = Keys::with_authkey(&key);
        let (datagrams, _) =
            totem_captures::read_udp(&dir.join(capture), &PortFilter::default()).unwrap();
        assert!(!datagrams.is_empty());
        for d in datagrams.iter().take(50) {
            match decode(&d.payload, &keys) {
                Err(DatagramError::Envelope(EnvelopeError::Authentication { .. })) => {}
                other => panic!(
                    "{capture} frame {}: expected an authentication error, got {other:?}",
                    d.frame
                ),
            }
        }
    }
}

#[test]
fn encrypted_without_key_is_reported_as_such() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("real");
    let r = verify_file(
        &dir.join("2.4.6-udpu-aes256-sha1-01-formation.pcapng"),
        &Keys::none(),
        &PortFilter::default(),
    )
    .unwrap();
    assert_eq!(r.decoded, 0);
    assert_eq!(r.errors(), r.totem);
    assert!(
        r.failures[0].1.reason.contains("no key"),
        "{}",
        r.failures[0].1.reason
    );
    assert!(!r.passed());
}

/// The encrypted knet captures (corosync 3.1.7, libknet 1.25): (variant, model, cipher, hash).
const KNET_CRYPTO: [(&str, &str, &str, &str); 4] = [
    ("nss-aes256-sha256", "nss", "aes256", "sha256"),
    ("openssl-aes256-sha256", "openssl", "aes256", "sha256"),
    ("nss-aes128-sha1", "nss", "aes128", "sha1"),
    ("openssl-none-sha512", "openssl", "none", "sha512"),
];

#[test]
fn encrypted_knet_captures_open_reseal_and_reassemble() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("g3");
    for (v, model, cipher, hash) in KNET_CRYPTO {
        // The sibling corosync.conf says what the daemons ran with.
        let conf = std::fs::read_to_string(dir.join(format!("3.1.7-knet-{v}.conf"))).unwrap();
        for line in [
            format!("crypto_model: {model}"),
            format!("crypto_cipher: {cipher}"),
            format!("crypto_hash: {hash}"),
        ] {
            assert!(conf.contains(&line), "{v}: {line}");
        }
        for scen in ["01-formation", "02-steady-cpg"] {
            let f = dir.join(format!("3.1.7-knet-{v}-{scen}.pcapng"));
            let r = verify_file(&f, &keys_for(&f), &PortFilter::default()).unwrap();
            println!(
                "{v} {scen}: {} sealed={:?} sealed-frames={:?} knet-reassembled={} {:?}",
                r.summary_line(),
                r.by_kind.get("G3 knet-sealed"),
                r.by_kind.get("G3 knet-sealed-frame"),
                r.knet_reassembled,
                r.layers.by_kind
            );
            assert!(r.passed(), "{v} {scen}: {}", r.summary_line());
            // Every datagram on the knet port was sealed: none is plaintext.
            let sealed = r.by_kind.get("G3 knet-sealed").copied().unwrap_or(0)
                + r.by_kind.get("G3 knet-sealed-frame").copied().unwrap_or(0);
            assert_eq!(sealed, r.totem, "{v} {scen}: {:?}", r.by_kind);
            assert!(r.totem > 250, "{v} {scen}");
            if scen == "02-steady-cpg" {
                // cpgsend's 21 messages (captures/g3/README.md), of which the 64 KiB and
                // 300 KiB ones span many knet data packets.
                assert_eq!(r.layers.by_kind.get("cpg.mcast").copied(), Some(21), "{v}");
                assert!(r.by_kind["G3 knet-sealed"] > 1500, "{v}: {:?}", r.by_kind);
            }
        }
    }
}

#[test]
fn knet_fragments_reassemble_in_plain_and_sealed_formation() {
    // Before PMTUD finishes, knet fragments the commit token and sync messages.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("g3");
    for name in [
        "3.1.7-knet-01-formation.pcapng",
        "3.1.7-knet-nss-aes256-sha256-01-formation.pcapng",
    ] {
        let f = dir.join(name);
        let r = verify_file(&f, &keys_for(&f), &PortFilter::default()).unwrap();
        assert!(r.passed(), "{name}: {}", r.summary_line());
        assert!(r.knet_reassembled > 5, "{name}: {}", r.knet_reassembled);
    }
}

#[test]
fn encrypted_knet_with_wrong_key_is_an_hmac_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("g3");
    for (v, model, cipher, hash) in KNET_CRYPTO {
        let mut key = std::fs::read(dir.join(format!("3.1.7-knet-{v}.authkey"))).unwrap();
        key[200] ^= 0x01; // past the cipher key: only the HMAC key differs
        let cfg = KnetCryptoConfig::from_names(model, cipher, hash).unwrap();
        let keys = Keys::none().with_knet(KnetCrypto::new(cfg, &key).unwrap());
        let (datagrams, _) = totem_captures::read_udp(
            &dir.join(format!("3.1.7-knet-{v}-01-formation.pcapng")),
            &PortFilter::default(),
        )
        .unwrap();
        assert!(datagrams.len() > 250);
        for d in &datagrams {
            match decode(&d.payload, &keys) {
                Err(DatagramError::KnetCrypto(KnetCryptoError::HmacMismatch { hash: h })) => {
                    assert_eq!(h, hash)
                }
                other => panic!("{v} frame {}: {other:?}", d.frame),
            }
        }
    }
}

#[test]
fn encrypted_knet_without_key_does_not_verify() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("g3/3.1.7-knet-nss-aes256-sha256-01-formation.pcapng");
    let r = verify_file(&f, &Keys::none(), &PortFilter::default()).unwrap();
    assert_eq!(r.decoded, 0, "{:?}", r.by_kind);
    assert!(!r.passed());
}
