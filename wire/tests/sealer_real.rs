//! The one envelope type ([`Sealer`]) against the real datagrams of `envelope_real.rs` and
//! `knet_crypto_real.rs` (same fixtures): opening a captured datagram and sealing its
//! plaintext again with the salt it was opened with gives back the captured bytes, a fresh
//! salt gives a datagram that opens to the same plaintext, and a wrong key is an
//! authentication error.

use totem_wire::datagram::{decode, Keys};
use totem_wire::envelope::knet::key_from_file_contents;
use totem_wire::envelope::{
    Cipher, CryptoConfig, EnvelopeError, Hash, KnetCrypto, KnetCryptoConfig, SealSettings, Sealer,
    SecauthMode, Variant, RANDOM_LEN,
};

const ENVELOPE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/envelope");
const KNET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/knet");

fn read(dir: &str, name: &str) -> String {
    std::fs::read_to_string(format!("{dir}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The datagrams of a fixture: the hex in the last column of each line.
fn datagrams(dir: &str, name: &str) -> Vec<Vec<u8>> {
    let v: Vec<Vec<u8>> = read(dir, name)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| hex::decode(l.split_whitespace().last().unwrap()).unwrap())
        .collect();
    assert!(v.len() >= 6, "{name}");
    v
}

fn key(dir: &str, name: &str) -> Vec<u8> {
    hex::decode(read(dir, name).trim()).unwrap()
}

/// (fixture, settings, key) for every real envelope we have.
fn cases() -> Vec<(String, SealSettings, Vec<u8>)> {
    let g1 = key(ENVELOPE, "g1-secauth.authkey.hex");
    let mut v = vec![
        (
            "g1-sober.hex".to_string(),
            SealSettings::Secauth {
                mode: SecauthMode::Sober,
                trailer: Some(0),
            },
            g1.clone(),
        ),
        (
            "g1-nss.hex".to_string(),
            SealSettings::Secauth {
                mode: SecauthMode::Nss,
                trailer: Some(1),
            },
            g1,
        ),
        (
            "g2-aes256-sha1.hex".to_string(),
            SealSettings::TotemCrypto(CryptoConfig {
                cipher: Cipher::Aes256,
                hash: Hash::Sha1,
                variant: Variant::V2_3,
            }),
            key(ENVELOPE, "g2-aes256-sha1.authkey.hex"),
        ),
    ];
    for (name, model, cipher, hash) in [
        ("nss-aes256-sha256", "nss", "aes256", "sha256"),
        ("openssl-aes256-sha256", "openssl", "aes256", "sha256"),
        ("nss-aes128-sha1", "nss", "aes128", "sha1"),
        ("openssl-none-sha512", "openssl", "none", "sha512"),
    ] {
        let k = key(KNET, &format!("{name}.authkey.hex"));
        v.push((
            format!("knet/{name}.txt"),
            SealSettings::Knet(KnetCryptoConfig::from_names(model, cipher, hash).unwrap()),
            key_from_file_contents(&k).unwrap().to_vec(),
        ));
    }
    v
}

fn fixture(name: &str) -> Vec<Vec<u8>> {
    match name.strip_prefix("knet/") {
        Some(n) => datagrams(KNET, n),
        None => datagrams(ENVELOPE, name),
    }
}

#[test]
fn resealing_with_the_captured_salt_gives_the_captured_bytes() {
    let fresh = [0x5au8; RANDOM_LEN];
    for (name, settings, k) in cases() {
        let s = Sealer::new(settings, &k).unwrap();
        for d in fixture(&name) {
            let o = s.open(&d).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(o.random.is_some(), s.needs_random(), "{name}");
            let salt = o.random.unwrap_or([0; RANDOM_LEN]);
            assert_eq!(s.seal(&o.plaintext, &salt).unwrap(), d, "{name}");
            let again = s.seal(&o.plaintext, &fresh).unwrap();
            assert_eq!(again != d, s.needs_random(), "{name}");
            assert_eq!(s.open(&again).unwrap().plaintext, o.plaintext, "{name}");
        }
    }
}

#[test]
fn a_wrong_key_is_an_authentication_error() {
    for (name, settings, mut k) in cases() {
        k[5] ^= 0x80;
        let s = Sealer::new(settings, &k).unwrap();
        for d in fixture(&name) {
            let e = s.open(&d).unwrap_err();
            assert!(
                matches!(e, EnvelopeError::Authentication { .. }),
                "{name}: {e:?}"
            );
        }
    }
}

/// The datagram layer seals afresh too: a decoded real datagram re-encoded with its own salt
/// is the captured one; with another salt it decodes to the same message.
#[test]
fn datagrams_encode_fresh_in_their_own_envelope() {
    let fresh = [0xc3u8; RANDOM_LEN];
    for (name, settings, k) in cases() {
        let keys = match settings {
            SealSettings::Knet(c) => Keys::none().with_knet(KnetCrypto::new(c, &k).unwrap()),
            _ => Keys::with_authkey(&k),
        };
        let mut decoded = 0;
        for d in fixture(&name) {
            // knet fragments and control frames are not whole Totem datagrams.
            let Ok(dg) = decode(&d, &keys) else { continue };
            decoded += 1;
            assert_eq!(dg.encode(&keys).unwrap(), d, "{name}");
            let o = Sealer::new(settings, &k).unwrap().open(&d).unwrap();
            let salt = o.random.unwrap_or([0; RANDOM_LEN]);
            assert_eq!(dg.encode_fresh(&keys, &salt).unwrap(), d, "{name}");
            let again = dg.encode_fresh(&keys, &fresh).unwrap();
            assert_eq!(again != d, settings.needs_random(), "{name}");
            assert_eq!(decode(&again, &keys).unwrap().body, dg.body, "{name}");
        }
        assert!(decoded > 0, "{name}: no whole Totem datagram");
    }
}
