//! Envelope codecs against real datagrams captured from corosync 1.4.10 and 2.4.6
//! (see tests/fixtures/envelope/README.md), and against independently derived vectors.

use totem_wire::envelope::{
    AuthKey, Cipher, CryptoConfig, EnvelopeError, Hash, Secauth, SecauthMode, TotemCrypto,
    TotemCryptoParams, Variant,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/envelope");

/// One captured datagram with the Totem header fields an independent decoder saw.
struct Captured {
    frame: u32,
    totem_type: u8,
    nodeid: u32,
    bytes: Vec<u8>,
}

fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}"))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn captured(name: &str) -> Vec<Captured> {
    let v: Vec<Captured> = read_fixture(name)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 4, "bad fixture line in {name}");
            Captured {
                frame: f[0].parse().unwrap(),
                totem_type: f[1].parse().unwrap(),
                nodeid: f[2].parse().unwrap(),
                bytes: hex::decode(f[3]).unwrap(),
            }
        })
        .collect();
    assert!(v.len() >= 6, "{name} has too few datagrams");
    v
}

fn key(name: &str) -> Vec<u8> {
    let k = hex::decode(read_fixture(name).trim()).unwrap();
    assert_eq!(k.len(), 128);
    k
}

/// Checks a recovered Totem SRP header against the independent decode.
fn assert_totem_header(c: &Captured, plaintext: &[u8]) {
    assert!(
        plaintext.len() >= 8,
        "frame {}: plaintext too short",
        c.frame
    );
    assert_eq!(plaintext[0], c.totem_type, "frame {}: type", c.frame);
    assert_eq!(
        &plaintext[2..4],
        &[0x22, 0xff],
        "frame {}: endian detector",
        c.frame
    );
    let nodeid = u32::from_le_bytes(plaintext[4..8].try_into().unwrap());
    assert_eq!(nodeid, c.nodeid, "frame {}: nodeid", c.frame);
}

fn g2_aes256_sha1() -> TotemCrypto {
    TotemCrypto::new(
        CryptoConfig {
            cipher: Cipher::Aes256,
            hash: Hash::Sha1,
            variant: Variant::V2_3,
        },
        &key("g2-aes256-sha1.authkey.hex"),
    )
    .unwrap()
}

#[test]
fn g1_sober_real_datagrams_open_and_reseal_byte_for_byte() {
    let s = Secauth::new(&key("g1-secauth.authkey.hex")).unwrap();
    for c in captured("g1-sober.hex") {
        let o = s
            .open(&c.bytes)
            .unwrap_or_else(|e| panic!("frame {}: {e}", c.frame));
        assert_eq!(o.params.mode, SecauthMode::Sober);
        assert_eq!(o.params.trailer, Some(0), "frame {}", c.frame);
        assert_eq!(&o.params.salt[..], &c.bytes[20..36]);
        assert_eq!(o.plaintext.len(), c.bytes.len() - 37);
        assert_totem_header(&c, &o.plaintext);
        assert_eq!(
            s.seal(&o.plaintext, &o.params),
            c.bytes,
            "frame {}",
            c.frame
        );
    }
}

#[test]
fn g1_sober_without_trailer_is_an_openais_style_datagram() {
    let s = Secauth::new(&key("g1-secauth.authkey.hex")).unwrap();
    for c in captured("g1-sober.hex") {
        let no_trailer = &c.bytes[..c.bytes.len() - 1];
        let o = s.open(no_trailer).unwrap();
        assert_eq!(o.params.trailer, None);
        assert_totem_header(&c, &o.plaintext);
        assert_eq!(s.seal(&o.plaintext, &o.params), no_trailer);
    }
}

#[test]
fn g1_nss_real_datagrams_open_and_reseal_byte_for_byte() {
    let s = Secauth::new(&key("g1-secauth.authkey.hex")).unwrap();
    for c in captured("g1-nss.hex") {
        let o = s
            .open(&c.bytes)
            .unwrap_or_else(|e| panic!("frame {}: {e}", c.frame));
        assert_eq!(o.params.mode, SecauthMode::Nss);
        assert_eq!(o.params.trailer, Some(1));
        assert_totem_header(&c, &o.plaintext);
        // AES-CBC with PKCS#7: ciphertext is the plaintext rounded up to the next whole block.
        assert_eq!(c.bytes.len() - 37, (o.plaintext.len() / 16 + 1) * 16);
        assert_eq!(
            s.seal(&o.plaintext, &o.params),
            c.bytes,
            "frame {}",
            c.frame
        );
    }
}

#[test]
fn g2_real_datagrams_open_and_reseal_byte_for_byte() {
    let t = g2_aes256_sha1();
    for c in captured("g2-aes256-sha1.hex") {
        let o = t
            .open(&c.bytes)
            .unwrap_or_else(|e| panic!("frame {}: {e}", c.frame));
        assert_eq!(
            o.params.salt.as_ref().map(|s| &s[..]),
            Some(&c.bytes[4..20])
        );
        assert_eq!(o.params.pads, [0, 0]);
        assert_totem_header(&c, &o.plaintext);
        assert_eq!(
            t.seal(&o.plaintext, &o.params).unwrap(),
            c.bytes,
            "frame {}",
            c.frame
        );
    }
}

fn flipped(k: &[u8], at: usize) -> Vec<u8> {
    let mut k = k.to_vec();
    k[at] ^= 0x01;
    k
}

#[test]
fn wrong_key_is_an_authentication_error() {
    let g1 = key("g1-secauth.authkey.hex");
    for at in [0, 31, 64, 127] {
        let s = Secauth::new(&flipped(&g1, at)).unwrap();
        for c in captured("g1-sober.hex") {
            let e = s.open(&c.bytes).unwrap_err();
            assert!(matches!(e, EnvelopeError::Authentication { .. }), "{e:?}");
        }
    }
    // NSS mode keys AES and HMAC with the first 32 bytes only.
    for at in [0, 17, 31] {
        let s = Secauth::new(&flipped(&g1, at)).unwrap();
        for c in captured("g1-nss.hex") {
            let e = s.open(&c.bytes).unwrap_err();
            assert!(matches!(e, EnvelopeError::Authentication { .. }), "{e:?}");
        }
    }
    let g2 = key("g2-aes256-sha1.authkey.hex");
    for at in [0, 40, 127] {
        let t = TotemCrypto::new(g2_aes256_sha1().config(), &flipped(&g2, at)).unwrap();
        for c in captured("g2-aes256-sha1.hex") {
            let e = t.open(&c.bytes).unwrap_err();
            assert!(matches!(e, EnvelopeError::Authentication { .. }), "{e:?}");
        }
    }
}

#[test]
fn nss_mode_ignores_key_bytes_past_32() {
    let s = Secauth::new(&flipped(&key("g1-secauth.authkey.hex"), 64)).unwrap();
    for c in captured("g1-nss.hex") {
        assert!(s.open(&c.bytes).is_ok(), "frame {}", c.frame);
    }
}

#[test]
fn g1_truncations_never_panic() {
    let s = Secauth::new(&key("g1-secauth.authkey.hex")).unwrap();
    for file in ["g1-sober.hex", "g1-nss.hex"] {
        for c in captured(file).iter().take(3) {
            for len in 0..c.bytes.len() {
                let r = s.open(&c.bytes[..len]);
                if len < 36 {
                    assert_eq!(
                        r.unwrap_err(),
                        EnvelopeError::Truncated {
                            what: "secauth datagram",
                            need: 36,
                            have: len
                        }
                    );
                } else if file == "g1-sober.hex" && len == c.bytes.len() - 1 {
                    assert!(
                        r.is_ok(),
                        "dropping only the trailer keeps a valid datagram"
                    );
                } else {
                    let e = r.unwrap_err();
                    assert!(
                        matches!(e, EnvelopeError::Authentication { .. }),
                        "{len}: {e:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn g2_truncations_never_panic() {
    let t = g2_aes256_sha1();
    for c in captured("g2-aes256-sha1.hex").iter().take(3) {
        for len in 0..c.bytes.len() {
            let r = t.open(&c.bytes[..len]);
            match len {
                0..=4 => assert_eq!(
                    r.unwrap_err(),
                    EnvelopeError::Truncated {
                        what: "totemcrypto datagram",
                        need: 5,
                        have: len
                    }
                ),
                5..=39 => assert_eq!(
                    r.unwrap_err(),
                    EnvelopeError::Truncated {
                        what: "totemcrypto datagram",
                        need: 40,
                        have: len
                    }
                ),
                _ => assert!(matches!(
                    r.unwrap_err(),
                    EnvelopeError::Authentication { .. }
                )),
            }
        }
    }
}

#[test]
fn corrupting_any_byte_is_rejected() {
    let s = Secauth::new(&key("g1-secauth.authkey.hex")).unwrap();
    let t = g2_aes256_sha1();
    let sober = &captured("g1-sober.hex")[0].bytes;
    let nss = &captured("g1-nss.hex")[0].bytes;
    let g2 = &captured("g2-aes256-sha1.hex")[0].bytes;
    // The trailer byte is not authenticated; every other byte is.
    for i in 0..sober.len() - 1 {
        let mut d = sober.clone();
        d[i] ^= 0x80;
        assert!(s.open(&d).is_err(), "sober byte {i}");
    }
    for i in 0..nss.len() - 1 {
        let mut d = nss.clone();
        d[i] ^= 0x80;
        assert!(s.open(&d).is_err(), "nss byte {i}");
    }
    for i in 0..g2.len() {
        let mut d = g2.clone();
        d[i] ^= 0x80;
        let e = t.open(&d).unwrap_err();
        if i < 2 {
            assert!(matches!(e, EnvelopeError::BadHeader { offset, .. } if offset == i));
        } else {
            // Pads are checked only after authentication, so a flipped pad fails authentication.
            assert!(
                matches!(e, EnvelopeError::Authentication { .. }),
                "g2 byte {i}: {e:?}"
            );
        }
    }
}

fn parse_cipher(s: &str) -> Cipher {
    Cipher::from_config_name(s).unwrap()
}

#[test]
fn g2_all_configs_match_independently_derived_vectors() {
    let authkey: Vec<u8> = (0u8..0x80).collect();
    let salt: [u8; 16] = core::array::from_fn(|i| 0xa0 + i as u8);
    let msg =
        hex::decode("050022ff01000000010000000200c0a801010000000000000000000000000800000000000000")
            .unwrap();
    let mut n = 0;
    for line in read_fixture("g2-derived-vectors.txt").lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let variant = match f[0] {
            "2.0" => Variant::V2_0,
            "2.2" => Variant::V2_2,
            "2.3" => Variant::V2_3,
            other => panic!("variant {other}"),
        };
        let cipher = parse_cipher(f[1]);
        let config = CryptoConfig {
            cipher,
            hash: Hash::from_config_name(f[2]).unwrap(),
            variant,
        };
        let want = hex::decode(f[3]).unwrap();
        let t = TotemCrypto::new(config, &authkey).unwrap();
        let params = TotemCryptoParams {
            salt: (cipher != Cipher::None).then_some(salt),
            pads: [0, 0],
        };
        assert_eq!(t.seal(&msg, &params).unwrap(), want, "{line}");
        let o = t.open(&want).unwrap();
        assert_eq!(o.plaintext, msg, "{line}");
        assert_eq!(o.params, params);
        assert_eq!(want.len(), msg.len() + config.overhead(msg.len()), "{line}");
        n += 1;
    }
    assert_eq!(n, 78);
}

#[test]
fn authkey_file_rules() {
    let dir = std::env::temp_dir().join(format!("totem-wire-authkey-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let real = key("g2-aes256-sha1.authkey.hex");
    let full = dir.join("full");
    let mut long = real.clone();
    long.extend_from_slice(b"trailing bytes are ignored");
    std::fs::write(&full, &long).unwrap();
    let short = dir.join("short");
    std::fs::write(&short, &real[..100]).unwrap();

    let k = AuthKey::from_file(&full).unwrap();
    assert_eq!(k.as_bytes(), &real[..]);
    let err = AuthKey::from_file(&short).unwrap_err();
    assert_eq!(
        err,
        EnvelopeError::Truncated {
            what: "authkey file (corosync reads exactly 1024 bits)",
            need: 128,
            have: 100
        }
    );
    std::fs::remove_dir_all(&dir).unwrap();
    // A key loaded from file opens real traffic.
    let t = TotemCrypto::new(g2_aes256_sha1().config(), k.as_bytes()).unwrap();
    assert!(t.open(&captured("g2-aes256-sha1.hex")[0].bytes).is_ok());
}
