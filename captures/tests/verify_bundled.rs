//! Every bundled capture verifies: all Totem datagrams decode and re-encode byte for byte.

use std::path::{Path, PathBuf};

use totem_captures::verify::{sibling_authkey, verify_file, Report};
use totem_captures::PortFilter;
use totem_wire::datagram::{decode, DatagramError, Keys};
use totem_wire::envelope::{AuthKey, EnvelopeError};

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
    match sibling_authkey(path) {
        Some(k) => Keys::with_authkey(
            AuthKey::from_file(&k)
                .expect("bundled key loads")
                .as_bytes(),
        ),
        None => Keys::none(),
    }
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
