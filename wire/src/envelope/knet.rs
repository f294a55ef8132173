//! kronosnet (libknet 1.x) crypto envelope, as corosync 3 configures it.
//!
//! corosync hands knet `crypto_model` (nss or openssl), `crypto_cipher`, `crypto_hash` and the
//! whole authkey (128..=4096 bytes, the complete key file) unchanged. Every knet frame (data,
//! ping, pong, PMTUD) is then sent as one UDP datagram:
//!
//! | cipher | hash | datagram |
//! |---|---|---|
//! | none | none | the plain knet frame (crypto off) |
//! | none | H | `frame ‖ HMAC-H(key, frame)` |
//! | AES-n | H | `salt[16] ‖ AES-n-CBC-PKCS#7(key[..n/8], iv = salt, frame) ‖ HMAC-H(key, salt ‖ ct)` |
//!
//! The cipher key is the first 16/24/32 bytes of the authkey; the HMAC key is the whole authkey.
//! A cipher without a hash is rejected (by corosync and by libknet). The nss and openssl models
//! produce the same bytes for the same salt: they differ only in the library that computes them,
//! so a datagram sealed by one opens with the other.

use subtle::ConstantTimeEq;

use super::cbc_pad::CbcKey;
use super::totemcrypto::Hash;
use super::EnvelopeError;
use crate::knet::{HEADER_ALL_LEN, MAX_PACKET_SIZE};

/// The `crypto_hash` values knet accepts (the same set as corosync 2's).
pub type KnetHash = Hash;

/// Length of the random salt (the CBC IV) in front of every encrypted datagram.
pub const SALT_LEN: usize = 16;
/// Shortest key libknet accepts (`KNET_MIN_KEY_LEN`, 1024 bits).
pub const MIN_KEY_LEN: usize = 128;
/// Longest key libknet accepts and the most corosync 3 reads from a key file (`KNET_MAX_KEY_LEN`).
pub const MAX_KEY_LEN: usize = 4096;
/// Largest AES block overhead a sealed frame can carry (a full PKCS#7 pad block).
pub const MAX_PAD_LEN: usize = 16;

/// Everything that can go wrong configuring, opening or sealing a knet crypto datagram.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum KnetCryptoError {
    /// The datagram is shorter than the envelope itself (`what` names the missing part).
    #[error("knet crypto datagram too short for {what}: need more than {need} bytes, have {have}")]
    TooShort {
        /// The part that did not fit (hmac, salt, ciphertext).
        what: &'static str,
        /// Bytes that must be exceeded.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The authenticated part is longer than knet's largest packet.
    #[error("knet crypto datagram too long: {len} bytes before the hmac, at most {max}")]
    TooLong {
        /// Bytes before the HMAC.
        len: usize,
        /// `KNET_MAX_PACKET_SIZE`.
        max: usize,
    },
    /// The HMAC at the end does not match: wrong key, wrong hash or a corrupted datagram.
    #[error("knet {hash} hmac mismatch (wrong key, wrong crypto_hash or corrupted datagram)")]
    HmacMismatch {
        /// The configured hash.
        hash: &'static str,
    },
    /// The ciphertext length is not a positive multiple of the AES block.
    #[error("knet {cipher} ciphertext length {len} is not a positive multiple of 16")]
    BadLength {
        /// The configured cipher.
        cipher: &'static str,
        /// Ciphertext bytes after the salt and before the HMAC.
        len: usize,
    },
    /// Decryption produced invalid PKCS#7 padding.
    #[error("knet {cipher} bad padding: {detail}")]
    BadPadding {
        /// The configured cipher.
        cipher: &'static str,
        /// What exactly was wrong.
        detail: String,
    },
    /// A setting or the key is not one knet accepts.
    #[error("invalid knet crypto {field}: {detail}")]
    Config {
        /// The offending setting (crypto_model, crypto_cipher, crypto_hash, authkey).
        field: &'static str,
        /// Why it was rejected.
        detail: String,
    },
}

/// `crypto_model`: which library libknet loads. Both give the same bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnetModel {
    /// Mozilla NSS (`crypto_nss.so`), corosync's default.
    Nss,
    /// OpenSSL (`crypto_openssl.so`).
    Openssl,
}

/// `crypto_cipher` for knet: AES in CBC mode with PKCS#7 padding, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnetCipher {
    /// No encryption.
    None,
    /// AES-256-CBC (key = authkey bytes 0..32).
    Aes256,
    /// AES-192-CBC (key = authkey bytes 0..24).
    Aes192,
    /// AES-128-CBC (key = authkey bytes 0..16).
    Aes128,
}

impl KnetModel {
    /// Both models.
    pub const ALL: [KnetModel; 2] = [KnetModel::Nss, KnetModel::Openssl];

    /// Parses a `crypto_model` value.
    pub fn from_config_name(name: &str) -> Result<KnetModel, KnetCryptoError> {
        match name {
            "nss" => Ok(KnetModel::Nss),
            "openssl" => Ok(KnetModel::Openssl),
            other => Err(KnetCryptoError::Config {
                field: "crypto_model",
                detail: format!("unknown model {other:?} (nss or openssl)"),
            }),
        }
    }

    /// The name as written in corosync.conf.
    pub fn name(self) -> &'static str {
        match self {
            KnetModel::Nss => "nss",
            KnetModel::Openssl => "openssl",
        }
    }
}

impl KnetCipher {
    /// All ciphers knet accepts.
    pub const ALL: [KnetCipher; 4] = [
        KnetCipher::None,
        KnetCipher::Aes256,
        KnetCipher::Aes192,
        KnetCipher::Aes128,
    ];

    /// Parses a `crypto_cipher` value.
    pub fn from_config_name(name: &str) -> Result<KnetCipher, KnetCryptoError> {
        match name {
            "none" => Ok(KnetCipher::None),
            "aes256" => Ok(KnetCipher::Aes256),
            "aes192" => Ok(KnetCipher::Aes192),
            "aes128" => Ok(KnetCipher::Aes128),
            other => Err(KnetCryptoError::Config {
                field: "crypto_cipher",
                detail: format!("unknown cipher {other:?} (none, aes256, aes192, aes128)"),
            }),
        }
    }

    /// The name as written in corosync.conf.
    pub fn name(self) -> &'static str {
        match self {
            KnetCipher::None => "none",
            KnetCipher::Aes256 => "aes256",
            KnetCipher::Aes192 => "aes192",
            KnetCipher::Aes128 => "aes128",
        }
    }

    /// Block length (16) or 0 for none: knet's `sec_block_size`.
    pub fn block_len(self) -> usize {
        match self {
            KnetCipher::None => 0,
            _ => 16,
        }
    }

    /// Salt length (16) or 0 for none: knet's `sec_salt_size`.
    pub fn salt_len(self) -> usize {
        match self {
            KnetCipher::None => 0,
            _ => SALT_LEN,
        }
    }

    /// The keyed cipher: the first 16/24/32 key bytes.
    fn keyed(self, key: &[u8]) -> Option<CbcKey> {
        fn prefix<const N: usize>(key: &[u8]) -> [u8; N] {
            let mut out = [0u8; N];
            for (o, k) in out.iter_mut().zip(key) {
                *o = *k;
            }
            out
        }
        match self {
            KnetCipher::None => None,
            KnetCipher::Aes256 => Some(CbcKey::Aes256(prefix::<32>(key))),
            KnetCipher::Aes192 => Some(CbcKey::Aes192(prefix::<24>(key))),
            KnetCipher::Aes128 => Some(CbcKey::Aes128(prefix::<16>(key))),
        }
    }
}

/// Name of a hash as written in corosync.conf.
pub fn hash_name(hash: KnetHash) -> &'static str {
    match hash {
        Hash::None => "none",
        Hash::Md5 => "md5",
        Hash::Sha1 => "sha1",
        Hash::Sha256 => "sha256",
        Hash::Sha384 => "sha384",
        Hash::Sha512 => "sha512",
    }
}

/// Parses a `crypto_hash` value, mapping errors to [`KnetCryptoError`].
pub fn hash_from_config_name(name: &str) -> Result<KnetHash, KnetCryptoError> {
    Hash::from_config_name(name).map_err(|_| KnetCryptoError::Config {
        field: "crypto_hash",
        detail: format!("unknown hash {name:?} (none, md5, sha1, sha256, sha384, sha512)"),
    })
}

/// The three knet crypto settings of a corosync 3 cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KnetCryptoConfig {
    /// `crypto_model`.
    pub model: KnetModel,
    /// `crypto_cipher`.
    pub cipher: KnetCipher,
    /// `crypto_hash`.
    pub hash: KnetHash,
}

impl Default for KnetCryptoConfig {
    /// corosync 3's defaults: model nss, cipher none, hash none (crypto off).
    fn default() -> Self {
        KnetCryptoConfig {
            model: KnetModel::Nss,
            cipher: KnetCipher::None,
            hash: Hash::None,
        }
    }
}

impl KnetCryptoConfig {
    /// corosync's choice when crypto is on without further settings (`secauth: on`): nss, aes256, sha256.
    pub const COROSYNC_SECAUTH: KnetCryptoConfig = KnetCryptoConfig {
        model: KnetModel::Nss,
        cipher: KnetCipher::Aes256,
        hash: Hash::Sha256,
    };

    /// Builds a config from the three corosync.conf values.
    pub fn from_names(model: &str, cipher: &str, hash: &str) -> Result<Self, KnetCryptoError> {
        Ok(KnetCryptoConfig {
            model: KnetModel::from_config_name(model)?,
            cipher: KnetCipher::from_config_name(cipher)?,
            hash: hash_from_config_name(hash)?,
        })
    }

    /// True when corosync turns knet crypto on (cipher or hash not none).
    pub fn is_enabled(&self) -> bool {
        self.cipher != KnetCipher::None || self.hash != Hash::None
    }

    /// Checks corosync's and libknet's rule that a cipher needs a hash.
    pub fn validate(&self) -> Result<(), KnetCryptoError> {
        if self.cipher != KnetCipher::None && self.hash == Hash::None {
            return Err(KnetCryptoError::Config {
                field: "crypto_hash",
                detail: "crypto_cipher requires crypto_hash with value other than none".into(),
            });
        }
        Ok(())
    }

    /// Exact sealed size of a `plain_len`-byte frame (libknet `calc_data_outlen`).
    pub fn sealed_len(&self, plain_len: usize) -> usize {
        let blk = self.cipher.block_len();
        let body = if blk == 0 {
            plain_len
        } else {
            plain_len + (blk - plain_len % blk)
        };
        body + self.cipher.salt_len() + self.hash.len()
    }

    /// Largest number of bytes sealing can add to any frame (salt + full pad block + HMAC).
    pub fn max_overhead(&self) -> usize {
        self.cipher.salt_len() + self.cipher.block_len() + self.hash.len()
    }

    /// Largest knet frame (header included) whose sealed form fits in `onwire_len` bytes of UDP
    /// payload; `None` when not even the envelope fits.
    pub fn max_frame_len(&self, onwire_len: usize) -> Option<usize> {
        let fixed = self.cipher.salt_len() + self.hash.len();
        let body = onwire_len.checked_sub(fixed)?;
        let blk = self.cipher.block_len();
        if blk == 0 {
            return Some(body);
        }
        // PKCS#7 always adds 1..=16 bytes: the frame must be shorter than the largest whole
        // number of blocks.
        (body - body % blk).checked_sub(1)
    }

    /// Application data per knet data packet for a UDP payload of `onwire_len` bytes, as libknet
    /// computes it (`calc_max_data_outlen`): what corosync sees as the link MTU.
    pub fn max_data_len(&self, onwire_len: usize) -> Option<usize> {
        let salt_hash = self.cipher.salt_len() + self.hash.len();
        let mut out = onwire_len;
        let blk = self.cipher.block_len();
        if blk != 0 {
            out = out.checked_sub(salt_hash)?;
            out = out.checked_sub(out % blk + 1)?;
            out += salt_hash;
        }
        out.checked_sub(HEADER_ALL_LEN + salt_hash)
    }
}

/// What [`KnetCrypto::open`] recovered from a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnetOpened {
    /// The salt (CBC IV), when a cipher is configured: pass it to [`KnetCrypto::seal`] to
    /// reproduce the datagram byte for byte.
    pub salt: Option<[u8; SALT_LEN]>,
    /// The knet frame.
    pub frame: Vec<u8>,
}

/// Seals and opens knet datagrams for one configuration and key.
#[derive(Clone)]
pub struct KnetCrypto {
    /// The configuration.
    config: KnetCryptoConfig,
    /// Keyed cipher, if any.
    cipher: Option<CbcKey>,
    /// HMAC key: the whole authkey.
    key: Vec<u8>,
}

impl std::fmt::Debug for KnetCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("KnetCrypto")
            .field("config", &self.config)
            .field("key_len", &self.key.len())
            .finish_non_exhaustive()
    }
}

/// The key bytes corosync 3 passes to knet from the contents of a key file: the whole file, at
/// most 4096 bytes read, at least 128 required.
pub fn key_from_file_contents(contents: &[u8]) -> Result<&[u8], KnetCryptoError> {
    let key = contents.get(..MAX_KEY_LEN).unwrap_or(contents);
    check_key(key)?;
    Ok(key)
}

/// Rejects keys outside libknet's 128..=4096 bytes.
fn check_key(key: &[u8]) -> Result<(), KnetCryptoError> {
    if key.len() < MIN_KEY_LEN || key.len() > MAX_KEY_LEN {
        return Err(KnetCryptoError::Config {
            field: "authkey",
            detail: format!(
                "key is {} bytes; knet needs {MIN_KEY_LEN} to {MAX_KEY_LEN}",
                key.len()
            ),
        });
    }
    Ok(())
}

impl KnetCrypto {
    /// Validates `config` and keys it with `key` (the authkey exactly as corosync passes it:
    /// 128..=4096 bytes). With crypto off (none/none) the key is not checked.
    pub fn new(config: KnetCryptoConfig, key: &[u8]) -> Result<KnetCrypto, KnetCryptoError> {
        config.validate()?;
        if config.is_enabled() {
            check_key(key)?;
        }
        Ok(KnetCrypto {
            config,
            cipher: config.cipher.keyed(key),
            key: if config.is_enabled() {
                key.to_vec()
            } else {
                Vec::new()
            },
        })
    }

    /// The configuration.
    pub fn config(&self) -> KnetCryptoConfig {
        self.config
    }

    /// Seals one knet frame. `salt` is the CBC IV (random in libknet); it is ignored when the
    /// cipher is none.
    pub fn seal(&self, frame: &[u8], salt: &[u8; SALT_LEN]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.config.sealed_len(frame.len()));
        self.seal_into(frame, salt, &mut out);
        out
    }

    /// Like [`KnetCrypto::seal`], appending to `out`.
    pub fn seal_into(&self, frame: &[u8], salt: &[u8; SALT_LEN], out: &mut Vec<u8>) {
        let start = out.len();
        match &self.cipher {
            Some(c) => {
                out.extend_from_slice(salt);
                out.extend_from_slice(&c.encrypt(salt, frame));
            }
            None => out.extend_from_slice(frame),
        }
        if self.config.hash != Hash::None {
            let mac = self.config.hash.mac(&self.key, &[&out[start..]]);
            out.extend_from_slice(&mac);
        }
    }

    /// Authenticates and decrypts one datagram into the knet frame it carries.
    pub fn open(&self, datagram: &[u8]) -> Result<KnetOpened, KnetCryptoError> {
        let hash_len = self.config.hash.len();
        let body = if hash_len == 0 {
            datagram
        } else {
            let body_len = datagram
                .len()
                .checked_sub(hash_len)
                .filter(|&n| n > 0)
                .ok_or(KnetCryptoError::TooShort {
                    what: "hmac",
                    need: hash_len,
                    have: datagram.len(),
                })?;
            if body_len > MAX_PACKET_SIZE {
                return Err(KnetCryptoError::TooLong {
                    len: body_len,
                    max: MAX_PACKET_SIZE,
                });
            }
            let (body, mac) = datagram.split_at(body_len);
            let expected = self.config.hash.mac(&self.key, &[body]);
            if !bool::from(expected.ct_eq(mac)) {
                return Err(KnetCryptoError::HmacMismatch {
                    hash: hash_name(self.config.hash),
                });
            }
            body
        };
        let Some(cipher) = &self.cipher else {
            return Ok(KnetOpened {
                salt: None,
                frame: body.to_vec(),
            });
        };
        let (salt, ct) = match body.split_first_chunk::<SALT_LEN>() {
            Some((s, ct)) if !ct.is_empty() => (*s, ct),
            _ => {
                return Err(KnetCryptoError::TooShort {
                    what: "salt and ciphertext",
                    need: SALT_LEN,
                    have: body.len(),
                })
            }
        };
        let name = self.config.cipher.name();
        if ct.len() % 16 != 0 {
            return Err(KnetCryptoError::BadLength {
                cipher: name,
                len: ct.len(),
            });
        }
        let frame = cipher.decrypt(&salt, ct).map_err(|e| match e {
            EnvelopeError::BadPadding { detail, .. } => KnetCryptoError::BadPadding {
                cipher: name,
                detail,
            },
            other => KnetCryptoError::BadPadding {
                cipher: name,
                detail: other.to_string(),
            },
        })?;
        Ok(KnetOpened {
            salt: Some(salt),
            frame,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(cipher: &str, hash: &str) -> KnetCryptoConfig {
        KnetCryptoConfig::from_names("nss", cipher, hash).unwrap()
    }

    #[test]
    fn data_mtu_matches_libknet_logs() {
        // corosync 3.1.7 / libknet 1.25 logs (captures/g3/logs/3.1.7-knet-*-n1.log):
        // "PMTUD link change ... from <min> to <pmtud>" on a 1500-byte IPv4 link, i.e. a UDP
        // payload of 1472 bytes, and the 576-byte IPv4 minimum (548 bytes of UDP payload).
        for (cipher, hash, min, full) in [
            ("none", "none", 522, 1446),
            ("aes256", "sha256", 469, 1397),
            ("aes128", "sha1", 485, 1397),
            ("none", "sha512", 458, 1382),
        ] {
            let c = cfg(cipher, hash);
            assert_eq!(c.max_data_len(576 - 28), Some(min), "{cipher}/{hash}");
            assert_eq!(c.max_data_len(1500 - 28), Some(full), "{cipher}/{hash}");
        }
        assert_eq!(cfg("aes256", "sha256").max_data_len(10), None);
    }

    #[test]
    fn max_frame_len_fits_exactly() {
        for cipher in KnetCipher::ALL {
            for hash in Hash::ALL {
                let c = KnetCryptoConfig {
                    model: KnetModel::Nss,
                    cipher,
                    hash,
                };
                if c.validate().is_err() {
                    continue;
                }
                for onwire in [100usize, 1472, 1473, 1487, 1488] {
                    let m = c.max_frame_len(onwire).unwrap();
                    assert!(c.sealed_len(m) <= onwire, "{c:?} {onwire}");
                    assert!(c.sealed_len(m + 1) > onwire, "{c:?} {onwire}");
                }
            }
        }
    }

    #[test]
    fn sealed_len_pads_a_full_block_when_aligned() {
        let c = cfg("aes256", "sha256");
        assert_eq!(c.sealed_len(32), 16 + 48 + 32);
        assert_eq!(c.sealed_len(31), 16 + 32 + 32);
        assert_eq!(c.max_overhead(), 16 + 16 + 32);
        assert_eq!(cfg("none", "sha512").sealed_len(26), 26 + 64);
        assert_eq!(cfg("none", "none").sealed_len(26), 26);
    }

    #[test]
    fn config_rules() {
        assert!(matches!(
            KnetCrypto::new(cfg("aes256", "none"), &[1; 256]),
            Err(KnetCryptoError::Config {
                field: "crypto_hash",
                ..
            })
        ));
        assert!(matches!(
            KnetCrypto::new(cfg("aes256", "sha1"), &[1; 127]),
            Err(KnetCryptoError::Config {
                field: "authkey",
                ..
            })
        ));
        assert!(KnetCrypto::new(cfg("aes256", "sha1"), &[1; 4097]).is_err());
        assert!(KnetCrypto::new(cfg("none", "none"), &[]).is_ok());
        assert!(KnetCryptoConfig::from_names("gnutls", "none", "none").is_err());
        assert!(KnetCryptoConfig::from_names("nss", "3des", "sha1").is_err());
        assert!(KnetCryptoConfig::from_names("nss", "none", "sha224").is_err());
        assert_eq!(key_from_file_contents(&[7; 5000]).unwrap().len(), 4096);
        assert!(key_from_file_contents(&[7; 100]).is_err());
    }

    #[test]
    fn open_errors_are_specific() {
        let c = KnetCrypto::new(cfg("aes128", "md5"), &[3; 128]).unwrap();
        assert!(matches!(
            c.open(&[0; 16]),
            Err(KnetCryptoError::TooShort { what: "hmac", .. })
        ));
        // A valid HMAC over a body too short for salt + ciphertext.
        let mac = Hash::Md5.mac(&[3; 128], &[&[9u8; 16]]);
        let mut d = vec![9u8; 16];
        d.extend_from_slice(&mac);
        assert!(matches!(
            c.open(&d),
            Err(KnetCryptoError::TooShort {
                what: "salt and ciphertext",
                ..
            })
        ));
        // A valid HMAC over a ciphertext that is not block-aligned.
        let body = [9u8; 16 + 20];
        let mut d = body.to_vec();
        d.extend_from_slice(&Hash::Md5.mac(&[3; 128], &[&body]));
        assert!(matches!(
            c.open(&d),
            Err(KnetCryptoError::BadLength { len: 20, .. })
        ));
        // A valid HMAC over random blocks: the padding check fails (or, rarely, passes).
        let body = [0x41u8; 16 + 32];
        let mut d = body.to_vec();
        d.extend_from_slice(&Hash::Md5.mac(&[3; 128], &[&body]));
        match c.open(&d) {
            Err(KnetCryptoError::BadPadding { .. }) | Ok(_) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn seal_matches_openssl_cli_vector() {
        // Independent vector: `openssl enc -aes-128-cbc -K 00..0f -iv 10..1f` of "knet" and
        // `openssl dgst -md5 -mac HMAC` over salt ‖ ct with the 128-byte key 00..7f.
        let key: Vec<u8> = (0..128u8).collect();
        let salt: [u8; 16] = core::array::from_fn(|i| 0x10 + i as u8);
        let c = KnetCrypto::new(cfg("aes128", "md5"), &key).unwrap();
        let sealed = c.seal(b"knet", &salt);
        assert_eq!(sealed.len(), 16 + 16 + 16);
        assert_eq!(&sealed[..16], &salt);
        assert_eq!(hex_of(&sealed[16..32]), OPENSSL_CT);
        assert_eq!(hex_of(&sealed[32..]), OPENSSL_MAC);
        assert_eq!(c.open(&sealed).unwrap().frame, b"knet");
    }

    fn hex_of(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    const OPENSSL_CT: &str = "a9109a6e2a7a9729de460c4c5a375ace";
    const OPENSSL_MAC: &str = "bc4212ad47f38ee8c4d085748101a364";
}
