//! Property tests: seal → open → seal reproduces the datagram for every configuration, and
//! opening arbitrary bytes never panics.

use proptest::prelude::*;
use totem_wire::envelope::{
    Cipher, CryptoConfig, EnvelopeError, Hash, Secauth, SecauthMode, SecauthParams, TotemCrypto,
    TotemCryptoParams, Variant,
};

const VARIANTS: [Variant; 3] = [Variant::V2_0, Variant::V2_2, Variant::V2_3];

fn valid_configs() -> Vec<CryptoConfig> {
    let mut v = Vec::new();
    for variant in VARIANTS {
        for cipher in Cipher::ALL {
            for hash in Hash::ALL {
                if cipher != Cipher::None && hash == Hash::None {
                    continue;
                }
                v.push(CryptoConfig {
                    cipher,
                    hash,
                    variant,
                });
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn g2_seal_open_seal_identical(
        key in proptest::collection::vec(any::<u8>(), 1..=128),
        plaintext in proptest::collection::vec(any::<u8>(), 1..400),
        salt in any::<[u8; 16]>(),
    ) {
        for config in valid_configs() {
            let t = TotemCrypto::new(config, &key).unwrap();
            let params = TotemCryptoParams {
                salt: (config.cipher != Cipher::None).then_some(salt),
                pads: [0, 0],
            };
            let d = t.seal(&plaintext, &params).unwrap();
            prop_assert_eq!(d.len(), plaintext.len() + config.overhead(plaintext.len()));
            let o = t.open(&d).unwrap();
            prop_assert_eq!(&o.plaintext, &plaintext);
            prop_assert_eq!(o.params, params);
            prop_assert_eq!(t.seal(&o.plaintext, &o.params).unwrap(), d);
        }
    }

    #[test]
    fn g1_seal_open_seal_identical(
        key_words in 1usize..=32,
        key_seed in any::<u8>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..400),
        salt in any::<[u8; 16]>(),
        mode_sel in 0u8..3,
    ) {
        let key: Vec<u8> = (0..key_words * 4).map(|i| key_seed.wrapping_mul(31).wrapping_add(i as u8)).collect();
        let s = Secauth::new(&key).unwrap();
        let params = match mode_sel {
            0 => SecauthParams { mode: SecauthMode::Sober, salt, trailer: Some(0) },
            1 => SecauthParams { mode: SecauthMode::Sober, salt, trailer: None },
            _ => SecauthParams { mode: SecauthMode::Nss, salt, trailer: Some(1) },
        };
        let d = s.seal(&plaintext, &params);
        let o = s.open(&d).unwrap();
        prop_assert_eq!(&o.plaintext, &plaintext);
        prop_assert_eq!(o.params, params);
        prop_assert_eq!(s.seal(&o.plaintext, &o.params), d);
    }

    #[test]
    fn open_arbitrary_bytes_never_panics(
        data in proptest::collection::vec(any::<u8>(), 0..200),
        fe_header in any::<bool>(),
    ) {
        let key: Vec<u8> = (0u8..128).collect();
        let mut data = data;
        if fe_header && data.len() >= 4 {
            data[..4].copy_from_slice(&[0xfe, 0xfe, 0, 0]);
        }
        let s = Secauth::new(&key).unwrap();
        prop_assert!(s.open(&data).is_err());
        for config in valid_configs() {
            let t = TotemCrypto::new(config, &key).unwrap();
            let r = t.open(&data);
            if config.hash != Hash::None {
                // Without the key nothing authenticates.
                prop_assert!(r.is_err());
            }
            if let Err(EnvelopeError::Truncated { need, have, .. }) = r {
                prop_assert!(have < need);
            }
        }
    }
}
