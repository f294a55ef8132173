//! The knet crypto envelope against datagrams that real corosync 3.1.7 / libknet 1.25 sent
//! (captures/g3/3.1.7-knet-<model>-<cipher>-<hash>-02-steady-cpg.pcapng, extracted with tshark
//! into tests/fixtures/knet/; keys are the captures' authkeys).

use totem_wire::envelope::knet::{key_from_file_contents, SALT_LEN};
use totem_wire::envelope::{KnetCipher, KnetCrypto, KnetCryptoConfig, KnetCryptoError};
use totem_wire::knet::KnetFrame;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/knet");

/// The four recorded variants: (fixture name, model, cipher, hash).
const VARIANTS: [(&str, &str, &str, &str); 4] = [
    ("nss-aes256-sha256", "nss", "aes256", "sha256"),
    ("openssl-aes256-sha256", "openssl", "aes256", "sha256"),
    ("nss-aes128-sha1", "nss", "aes128", "sha1"),
    ("openssl-none-sha512", "openssl", "none", "sha512"),
];

struct Datagram {
    frame: u32,
    /// Last octet of the sender's IPv4 address (192.0.2.1N = node N).
    src_octet: u8,
    bytes: Vec<u8>,
}

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}"))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn datagrams(name: &str) -> Vec<Datagram> {
    let v: Vec<Datagram> = read(&format!("{name}.txt"))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 3, "bad fixture line in {name}");
            Datagram {
                frame: f[0].parse().unwrap(),
                src_octet: f[1].rsplit('.').next().unwrap().parse().unwrap(),
                bytes: hex::decode(f[2]).unwrap(),
            }
        })
        .collect();
    assert_eq!(v.len(), 40, "{name}");
    v
}

fn crypto(name: &str, model: &str, cipher: &str, hash: &str) -> KnetCrypto {
    let key = hex::decode(read(&format!("{name}.authkey.hex")).trim()).unwrap();
    assert_eq!(key.len(), 256, "the script writes 256-byte keys");
    let key = key_from_file_contents(&key).unwrap();
    KnetCrypto::new(
        KnetCryptoConfig::from_names(model, cipher, hash).unwrap(),
        key,
    )
    .unwrap()
}

#[test]
fn every_fixture_datagram_opens_parses_and_reseals_identically() {
    for (name, model, cipher, hash) in VARIANTS {
        let c = crypto(name, model, cipher, hash);
        let cfg = c.config();
        let mut kinds = std::collections::BTreeMap::new();
        for d in datagrams(name) {
            let opened = c
                .open(&d.bytes)
                .unwrap_or_else(|e| panic!("{name} frame {}: {e}", d.frame));
            // The plaintext is a knet v1 frame from the node whose address sent it.
            assert_eq!(opened.frame[0], 1, "{name} frame {}: version", d.frame);
            let host = u16::from_be_bytes([opened.frame[2], opened.frame[3]]);
            assert_eq!(
                host,
                u16::from(d.src_octet - 10),
                "{name} frame {}",
                d.frame
            );
            let f = KnetFrame::parse(&opened.frame)
                .unwrap_or_else(|e| panic!("{name} frame {}: {e}", d.frame));
            assert_eq!(f.to_vec(), opened.frame);
            *kinds.entry(format!("{:?}", f.kind)).or_insert(0) += 1;
            // Sizes: the datagram is exactly what libknet's calc_data_outlen predicts.
            assert_eq!(cfg.sealed_len(opened.frame.len()), d.bytes.len());
            assert_eq!(opened.salt.is_some(), cfg.cipher != KnetCipher::None);
            let salt = opened.salt.unwrap_or([0; SALT_LEN]);
            assert_eq!(
                c.seal(&opened.frame, &salt),
                d.bytes,
                "{name} frame {}: reseal",
                d.frame
            );
        }
        assert!(kinds.contains_key("Data"), "{name}: {kinds:?}");
    }
}

#[test]
fn nss_and_openssl_models_are_wire_compatible() {
    // Open the nss capture with an openssl-model instance and vice versa.
    for (name, model, cipher, hash) in VARIANTS {
        let other = if model == "nss" { "openssl" } else { "nss" };
        let c = crypto(name, other, cipher, hash);
        for d in datagrams(name) {
            let o = c.open(&d.bytes).unwrap();
            assert_eq!(c.seal(&o.frame, &o.salt.unwrap_or([0; 16])), d.bytes);
        }
    }
}

#[test]
fn wrong_key_gives_hmac_mismatch() {
    for (name, model, cipher, hash) in VARIANTS {
        let cfg = KnetCryptoConfig::from_names(model, cipher, hash).unwrap();
        let c = KnetCrypto::new(cfg, &[0x5a; 256]).unwrap();
        for d in datagrams(name) {
            match c.open(&d.bytes) {
                Err(KnetCryptoError::HmacMismatch { hash: h }) => assert_eq!(h, hash),
                other => panic!("{name} frame {}: {other:?}", d.frame),
            }
        }
    }
}

#[test]
fn wrong_hash_or_corruption_is_rejected() {
    let (name, _, _, _) = VARIANTS[0];
    let key = hex::decode(read(&format!("{name}.authkey.hex")).trim()).unwrap();
    let sha1 = KnetCrypto::new(
        KnetCryptoConfig::from_names("nss", "aes256", "sha1").unwrap(),
        &key,
    )
    .unwrap();
    let good = crypto(name, "nss", "aes256", "sha256");
    for d in datagrams(name).iter().take(5) {
        assert!(matches!(
            sha1.open(&d.bytes),
            Err(KnetCryptoError::HmacMismatch { .. })
        ));
        let mut bad = d.bytes.clone();
        bad[20] ^= 1;
        assert!(matches!(
            good.open(&bad),
            Err(KnetCryptoError::HmacMismatch { .. })
        ));
        assert!(matches!(
            good.open(&d.bytes[..20]),
            Err(KnetCryptoError::TooShort { .. }) | Err(KnetCryptoError::HmacMismatch { .. })
        ));
    }
}
