//! A whole UDP payload: envelope (none, G1 secauth, G2 totemcrypto) around an SRP message.
//!
//! [`decode`] finds the generation and envelope, authenticates and decrypts with the keys it
//! is given, and decodes the SRP message; [`Datagram::encode`] reverses every step with the
//! same salt and parameters, so a real datagram comes back byte for byte.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::envelope::knet::SALT_LEN as KNET_SALT_LEN;
use crate::envelope::{
    Cipher, CryptoConfig, EnvelopeError, Hash, KnetCrypto, KnetCryptoError, Secauth, SecauthParams,
    TotemCrypto, TotemCryptoParams, Variant, RANDOM_LEN,
};
use crate::error::Error;
use crate::framing::{classify, Framing, G2Header, KnetKind};
use crate::generation::Generation;
use crate::knet::{KnetBody, KnetFrame};
use crate::srp::message::{Decoded, SrpMessage};

/// How a datagram was wrapped, with what is needed to wrap it again identically.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Envelope {
    /// No envelope: G1 with secauth off, G3 on udp/udpu.
    Plain,
    /// G1 secauth (SOBER-128 or NSS mode).
    Secauth(SecauthParams),
    /// G2 totemcrypto header, with or without crypto.
    TotemCrypto {
        config: CryptoConfig,
        params: TotemCryptoParams,
    },
    /// A kronosnet data frame (corosync 3 knet transport, crypto off); the frame is kept
    /// with an empty payload, the Totem message is the body.
    Knet(Box<KnetFrame>),
    /// A kronosnet data frame sealed by knet crypto; the frame is kept with an empty payload,
    /// `salt` (absent with cipher none) reproduces the datagram with the same [`Keys`].
    KnetSealed {
        /// CBC IV of the datagram.
        salt: Option<[u8; KNET_SALT_LEN]>,
        /// The frame with its payload emptied.
        frame: Box<KnetFrame>,
    },
}

impl Envelope {
    /// The same envelope with `random` as its salt or IV (where it has one): how a fresh
    /// datagram of this kind is sealed. `random` must be fresh random bytes for every datagram.
    pub fn with_random(&self, random: &[u8; RANDOM_LEN]) -> Envelope {
        let mut e = self.clone();
        match &mut e {
            Envelope::Plain | Envelope::Knet(_) => {}
            Envelope::Secauth(p) => p.salt = *random,
            Envelope::TotemCrypto { params, .. } => {
                if let Some(s) = params.salt.as_mut() {
                    *s = *random;
                }
            }
            Envelope::KnetSealed { salt, .. } => {
                if let Some(s) = salt.as_mut() {
                    *s = *random;
                }
            }
        }
        e
    }

    /// A short description for dumps.
    pub fn describe(&self) -> String {
        match self {
            Envelope::Plain => "plain".into(),
            Envelope::Secauth(p) => format!("secauth {:?} trailer={:?}", p.mode, p.trailer),
            Envelope::TotemCrypto { config, .. } => {
                format!(
                    "{} {:?}/{:?}",
                    config.variant.name(),
                    config.cipher,
                    config.hash
                )
            }
            Envelope::KnetSealed { frame, .. } => {
                format!("sealed {}", Envelope::Knet(frame.clone()).describe())
            }
            Envelope::Knet(f) => match &f.body {
                KnetBody::Data {
                    seq,
                    bcast,
                    channel,
                    ..
                } => {
                    format!(
                        "knet data host={} seq={seq} bcast={bcast} channel={channel}",
                        f.src_host
                    )
                }
                _ => format!("knet {:?} host={}", f.kind, f.src_host),
            },
        }
    }
}

/// A decoded datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub generation: Generation,
    pub envelope: Envelope,
    pub body: Decoded,
}

/// Why a datagram could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    /// The envelope could not be opened (wrong key, corrupted, truncated).
    #[error("envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The SRP message inside is malformed.
    #[error("{0}")]
    Codec(#[from] Error),
    /// Encrypted, and no key (or no matching configuration) was given.
    #[error("{0} datagram that does not decode as plaintext and no key opens it (encrypted?)")]
    NeedsKey(&'static str),
    /// A kronosnet frame: corosync 3's knet transport, not a bare Totem message.
    #[error("kronosnet frame ({0:?}), not a bare Totem message")]
    Knet(KnetKind),
    /// The knet crypto envelope could not be opened (wrong key or settings, corrupted).
    #[error("knet crypto: {0}")]
    KnetCrypto(#[from] KnetCryptoError),
}

/// One knet frame as it came off the wire, sealed or not, with what re-sealing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnetDatagram {
    /// Whether knet crypto was on (the frame came out of [`KnetCrypto::open`]).
    pub sealed: bool,
    /// The salt of a sealed datagram with a cipher.
    pub salt: Option<[u8; KNET_SALT_LEN]>,
    /// The frame.
    pub frame: KnetFrame,
}

impl KnetDatagram {
    /// Encodes (and, if it was sealed, seals) the frame again.
    pub fn encode(&self, keys: &Keys) -> Result<Vec<u8>, DatagramError> {
        let plain = self.frame.to_vec();
        if !self.sealed {
            return Ok(plain);
        }
        let c = keys.knet.as_ref().ok_or(DatagramError::NeedsKey("knet"))?;
        Ok(c.seal(&plain, &self.salt.unwrap_or([0; KNET_SALT_LEN])))
    }
}

/// Opens (with the knet crypto in `keys`, if any) and parses one knet datagram of any kind.
pub fn open_knet(payload: &[u8], keys: &Keys) -> Result<KnetDatagram, DatagramError> {
    // With knet crypto on, corosync forbids clear traffic: only what opens is accepted.
    if let Some(c) = keys.knet.as_ref().filter(|c| c.config().is_enabled()) {
        let o = c.open(payload)?;
        return Ok(KnetDatagram {
            sealed: true,
            salt: o.salt,
            frame: KnetFrame::parse(&o.frame)?,
        });
    }
    Ok(KnetDatagram {
        sealed: false,
        salt: None,
        frame: KnetFrame::parse(payload)?,
    })
}

/// The keys a decoder may use: the cluster authkey, applied to every envelope it could fit.
pub struct Keys {
    secauth: Option<Secauth>,
    g2: Vec<TotemCrypto>,
    /// Index into `g2` of the configuration that last worked: tried first next time.
    g2_hint: AtomicUsize,
    /// knet crypto (corosync 3 knet transport), if configured.
    knet: Option<KnetCrypto>,
}

impl Default for Keys {
    fn default() -> Self {
        Keys::none()
    }
}

impl core::fmt::Debug for Keys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Keys(secauth: {}, g2 configs: {}, knet: {:?})",
            self.secauth.is_some(),
            self.g2.len(),
            self.knet.as_ref().map(|k| k.config())
        )
    }
}

impl Keys {
    /// No key: only plaintext datagrams (and G2 with crypto none/none) decode.
    pub fn none() -> Self {
        let g2 = [Variant::V2_3, Variant::V2_2, Variant::V2_0]
            .into_iter()
            .filter_map(|variant| {
                TotemCrypto::new(
                    CryptoConfig {
                        cipher: Cipher::None,
                        hash: Hash::None,
                        variant,
                    },
                    &[],
                )
                .ok()
            })
            .collect();
        Keys {
            secauth: None,
            g2,
            g2_hint: AtomicUsize::new(0),
            knet: None,
        }
    }

    /// Adds knet crypto (corosync 3 knet transport): every datagram must open with it, as
    /// corosync disallows clear traffic once knet crypto is on.
    pub fn with_knet(mut self, crypto: KnetCrypto) -> Self {
        self.knet = Some(crypto);
        self
    }

    /// The knet crypto, if configured.
    pub fn knet(&self) -> Option<&KnetCrypto> {
        self.knet.as_ref()
    }

    /// Keys from an authkey. Every G2 cipher/hash combination is a candidate, since the G2
    /// header does not say which one the sender used.
    pub fn with_authkey(authkey: &[u8]) -> Self {
        let mut keys = Keys::none();
        keys.secauth = Secauth::new(authkey).ok();
        for variant in [Variant::V2_3, Variant::V2_2, Variant::V2_0] {
            // corosync's defaults first: aes256 + sha1.
            let mut combos = vec![(Cipher::Aes256, Hash::Sha1)];
            for c in Cipher::ALL {
                for h in Hash::ALL {
                    if (c, h) != (Cipher::Aes256, Hash::Sha1)
                        && !(c == Cipher::None && h == Hash::None)
                    {
                        combos.push((c, h));
                    }
                }
            }
            for (cipher, hash) in combos {
                if let Ok(t) = TotemCrypto::new(
                    CryptoConfig {
                        cipher,
                        hash,
                        variant,
                    },
                    authkey,
                ) {
                    keys.g2.push(t);
                }
            }
        }
        keys
    }

    /// Keys for exactly one G2 configuration (what a running node has).
    pub fn with_g2_config(config: CryptoConfig, authkey: &[u8]) -> Result<Self, EnvelopeError> {
        let mut keys = Keys::none();
        keys.secauth = Secauth::new(authkey).ok();
        keys.g2.insert(0, TotemCrypto::new(config, authkey)?);
        Ok(keys)
    }

    fn g2_for(&self, config: &CryptoConfig) -> Option<&TotemCrypto> {
        self.g2.iter().find(|t| t.config() == *config)
    }
}

/// Decodes one UDP payload.
pub fn decode(payload: &[u8], keys: &Keys) -> Result<Datagram, DatagramError> {
    if let Some(c) = keys.knet.as_ref().filter(|c| c.config().is_enabled()) {
        // corosync turns clear traffic off with knet crypto on: nothing else is accepted.
        let o = c.open(payload)?;
        return decode_knet_sealed(o.salt, &o.frame);
    }
    decode_unsealed(payload, keys)
}

/// A sealed knet frame, opened: a whole Totem message in a data frame decodes, anything else
/// is reported as [`DatagramError::Knet`].
fn decode_knet_sealed(
    salt: Option<[u8; KNET_SALT_LEN]>,
    plain: &[u8],
) -> Result<Datagram, DatagramError> {
    let mut frame = KnetFrame::parse(plain)?;
    let Some(inner) = frame.totem_payload() else {
        return Err(DatagramError::Knet(frame.kind));
    };
    let body = SrpMessage::parse(inner, Generation::G3)?;
    if let KnetBody::Data { payload, .. } = &mut frame.body {
        payload.clear();
    }
    Ok(Datagram {
        generation: Generation::G3,
        envelope: Envelope::KnetSealed {
            salt,
            frame: Box::new(frame),
        },
        body,
    })
}

fn decode_unsealed(payload: &[u8], keys: &Keys) -> Result<Datagram, DatagramError> {
    match classify(payload) {
        Framing::Plain {
            generation: Generation::G3,
            ..
        } => Ok(Datagram {
            generation: Generation::G3,
            envelope: Envelope::Plain,
            body: SrpMessage::parse(payload, Generation::G3)?,
        }),
        Framing::Plain { generation, .. } => match SrpMessage::parse(payload, generation) {
            Ok(body) => Ok(Datagram {
                generation,
                envelope: Envelope::Plain,
                body,
            }),
            // A secauth datagram may start with bytes that look like a G1 header.
            Err(e) => open_secauth(payload, keys).map_err(|_| DatagramError::Codec(e)),
        },
        Framing::G2 { header } => open_g2(payload, header, keys),
        Framing::Knet {
            kind: KnetKind::Data,
        } => {
            let mut frame = KnetFrame::parse(payload)?;
            let Some(inner) = frame.totem_payload() else {
                return Err(DatagramError::Knet(KnetKind::Data));
            };
            let body = SrpMessage::parse(inner, Generation::G3)?;
            if let KnetBody::Data { payload, .. } = &mut frame.body {
                payload.clear();
            }
            Ok(Datagram {
                generation: Generation::G3,
                envelope: Envelope::Knet(Box::new(frame)),
                body,
            })
        }
        Framing::Knet { kind } => Err(DatagramError::Knet(kind)),
        Framing::Opaque => open_secauth(payload, keys),
    }
}

fn open_secauth(payload: &[u8], keys: &Keys) -> Result<Datagram, DatagramError> {
    let s = keys
        .secauth
        .as_ref()
        .ok_or(DatagramError::NeedsKey("G1 secauth"))?;
    let opened = s.open(payload)?;
    let body = SrpMessage::parse(&opened.plaintext, Generation::G1)?;
    Ok(Datagram {
        generation: Generation::G1,
        envelope: Envelope::Secauth(opened.params),
        body,
    })
}

fn open_g2(payload: &[u8], header: G2Header, keys: &Keys) -> Result<Datagram, DatagramError> {
    let variant = match header {
        G2Header::V23 => Variant::V2_3,
        G2Header::V22 => Variant::V2_2,
        G2Header::V20 { .. } => Variant::V2_0,
    };
    let n = keys.g2.len();
    let hint = keys
        .g2_hint
        .load(Ordering::Relaxed)
        .min(n.saturating_sub(1));
    let mut last_err: Option<DatagramError> = None;
    let mut plaintext_err: Option<Error> = None;
    for k in (0..n).map(|i| (hint + i) % n) {
        let t = &keys.g2[k];
        if t.config().variant != variant {
            continue;
        }
        if let G2Header::V20 { cipher, hash } = header {
            if t.config().cipher.id() != cipher || t.config().hash.id() != hash {
                continue;
            }
        }
        match t.open(payload) {
            Ok(opened) => match SrpMessage::parse(&opened.plaintext, Generation::G2) {
                // Without a hash, "opening" always succeeds: only an exact-length SRP
                // message proves the configuration is the right one.
                Ok(body) if t.config().hash != Hash::None || body.trailing.is_empty() => {
                    keys.g2_hint.store(k, Ordering::Relaxed);
                    return Ok(Datagram {
                        generation: Generation::G2,
                        envelope: Envelope::TotemCrypto {
                            config: t.config(),
                            params: opened.params,
                        },
                        body,
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    if t.config().hash == Hash::None {
                        plaintext_err.get_or_insert(e);
                    } else {
                        return Err(e.into());
                    }
                }
            },
            Err(e) => {
                if t.config().hash != Hash::None {
                    last_err = Some(e.into());
                }
            }
        }
    }
    if keys.g2.iter().all(|t| t.config().hash == Hash::None) {
        // No key given: either crypto is on, or this is a malformed none/none datagram.
        return Err(DatagramError::NeedsKey("G2 totemcrypto"));
    }
    Err(last_err
        .or(plaintext_err.map(DatagramError::Codec))
        .unwrap_or(DatagramError::NeedsKey("G2 totemcrypto")))
}

impl Datagram {
    /// Encodes the datagram again, wrapping it the way it was wrapped (same salt: the bytes
    /// it was decoded from come back).
    pub fn encode(&self, keys: &Keys) -> Result<Vec<u8>, DatagramError> {
        seal_as(self.body.to_vec(), &self.envelope, keys)
    }

    /// Encodes the datagram in the envelope it came in, sealed afresh with `random` as the
    /// salt or IV (see [`Envelope::with_random`]).
    pub fn encode_fresh(
        &self,
        keys: &Keys,
        random: &[u8; RANDOM_LEN],
    ) -> Result<Vec<u8>, DatagramError> {
        seal_as(self.body.to_vec(), &self.envelope.with_random(random), keys)
    }
}

/// Wraps the encoded SRP message `plain` in `envelope` with the keys in `keys`.
fn seal_as(plain: Vec<u8>, envelope: &Envelope, keys: &Keys) -> Result<Vec<u8>, DatagramError> {
    match envelope {
        Envelope::Plain => Ok(plain),
        Envelope::Secauth(params) => {
            let s = keys
                .secauth
                .as_ref()
                .ok_or(DatagramError::NeedsKey("G1 secauth"))?;
            Ok(s.seal(&plain, params))
        }
        Envelope::TotemCrypto { config, params } => {
            let t = keys
                .g2_for(config)
                .ok_or(DatagramError::NeedsKey("G2 totemcrypto"))?;
            Ok(t.seal(&plain, params)?)
        }
        Envelope::Knet(frame) => {
            let mut f = (**frame).clone();
            if let KnetBody::Data { payload, .. } = &mut f.body {
                *payload = plain;
            }
            Ok(f.to_vec())
        }
        Envelope::KnetSealed { salt, frame } => {
            let c = keys.knet.as_ref().ok_or(DatagramError::NeedsKey("knet"))?;
            let mut f = (**frame).clone();
            if let KnetBody::Data { payload, .. } = &mut f.body {
                *payload = plain;
            }
            Ok(c.seal(&f.to_vec(), &salt.unwrap_or([0; KNET_SALT_LEN])))
        }
    }
}
