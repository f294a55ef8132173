//! Crypto envelopes that wrap Totem messages on the wire.
//!
//! * G1 (openais 0.80, corosync 1.x): [`secauth`] — SOBER-128 + HMAC-SHA1, or NSS AES-256-CBC mode.
//! * G2 (corosync 2.x): [`totemcrypto`] — 4-byte config header, optional AES/3DES-CBC, optional HMAC.
//! * G3 (corosync 3.x, knet transport): [`knet`] — libknet's salt ‖ AES-CBC ‖ HMAC envelope;
//!   [`knet_conf`] reads its settings from corosync.conf.
//! * [`sealer`]: one [`Sealer`] for all of them: built from the settings and the key, it
//!   seals fresh datagrams with random bytes the caller draws, and opens.
//! * [`authkey`] loads the shared key the way corosync does.
//! * [`native`]: the envelope of our own encrypted rings (not a corosync format).
//!
//! Everything here is pure computation on byte slices; nothing panics on hostile input.

pub mod authkey;
pub(crate) mod cbc_pad;
pub mod knet;
pub mod knet_conf;
pub mod native;
pub mod sealer;
pub mod secauth;
pub mod sober128;
mod sober128_tables;
pub mod totemcrypto;

pub use authkey::AuthKey;
pub use knet::{
    KnetCipher, KnetCrypto, KnetCryptoConfig, KnetCryptoError, KnetHash, KnetModel, KnetOpened,
};
pub use sealer::{SealSettings, Sealer, Unsealed, RANDOM_LEN};
pub use secauth::{Secauth, SecauthMode, SecauthOpened, SecauthParams};
pub use sober128::Sober128Prng;
pub use totemcrypto::{
    Cipher, CryptoConfig, Hash, TotemCrypto, TotemCryptoOpened, TotemCryptoParams, Variant,
};

/// Everything that can go wrong while loading keys or opening/sealing an envelope.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The input ended before a required part (`what`) was complete.
    #[error("truncated {what}: need at least {need} bytes, have {have}")]
    Truncated {
        /// Which part of the datagram or key was short.
        what: &'static str,
        /// Minimum number of bytes required.
        need: usize,
        /// Number of bytes actually available.
        have: usize,
    },
    /// The digest did not match: wrong key, wrong algorithm or a corrupted datagram.
    #[error("authentication failed ({envelope}): {detail}")]
    Authentication {
        /// Envelope kind that was tried ("secauth", "totemcrypto 2.3+", ...).
        envelope: &'static str,
        /// What was compared and failed.
        detail: String,
    },
    /// A header byte at `offset` has a value this envelope does not accept.
    #[error("bad envelope header at offset {offset}: {detail}")]
    BadHeader {
        /// Byte offset inside the datagram.
        offset: usize,
        /// What was expected and what was found.
        detail: String,
    },
    /// CBC decryption produced invalid PKCS#7 padding or a ciphertext of impossible length.
    #[error("bad {cipher} padding: {detail}")]
    BadPadding {
        /// Cipher that was used.
        cipher: &'static str,
        /// What exactly was wrong.
        detail: String,
    },
    /// A configuration value (key, cipher/hash combination, seal parameter) is not allowed.
    #[error("invalid configuration for {field}: {detail}")]
    Config {
        /// Name of the offending setting.
        field: &'static str,
        /// Why it was rejected.
        detail: String,
    },
    /// The knet crypto envelope refused a datagram or a setting (an HMAC mismatch is reported
    /// as [`EnvelopeError::Authentication`] instead).
    #[error("knet crypto: {0}")]
    Knet(KnetCryptoError),
    /// A key file could not be read.
    #[error("cannot read key file {path}: {detail}")]
    KeyFile {
        /// Path of the key file.
        path: String,
        /// The underlying I/O error, as text.
        detail: String,
    },
}

/// Checks `have >= need`, reporting a [`EnvelopeError::Truncated`] naming `what` otherwise.
pub(crate) fn need(what: &'static str, need: usize, have: usize) -> Result<(), EnvelopeError> {
    if have < need {
        Err(EnvelopeError::Truncated { what, need, have })
    } else {
        Ok(())
    }
}
