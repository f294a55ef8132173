//! The one hook between knet frames and the wire: sealing an outgoing datagram and opening a
//! received one. Clear text (crypto_cipher and crypto_hash none) or knet crypto (nss/openssl
//! models, AES-CBC and HMAC, the codec in `totem_wire::envelope::knet`).

use std::borrow::Cow;

use rand_core::{OsRng, RngCore};
use totem_wire::envelope::knet::{KnetCrypto, SALT_LEN};

/// Why a datagram could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("knet crypto: {0}")]
    Crypto(String),
}

/// How datagrams are sealed.
#[derive(Debug, Default)]
pub enum KnetSeal {
    /// crypto_cipher none, crypto_hash none: the frame is the datagram.
    #[default]
    Clear,
    /// knet crypto with the cluster's key; clear datagrams are refused (corosync's knet
    /// accepts only sealed traffic once crypto is configured).
    Crypto(Box<KnetCrypto>),
}

impl KnetSeal {
    /// Payload bytes per data fragment on a path MTU of `link_mtu` (libknet
    /// `calc_max_data_outlen` after the IP/UDP overhead).
    pub fn data_mtu(&self, link_mtu: usize, ipv6: bool) -> usize {
        match self {
            KnetSeal::Clear => super::data_mtu(link_mtu, ipv6),
            KnetSeal::Crypto(c) => {
                let ip = if ipv6 {
                    super::OVERHEAD_V6
                } else {
                    super::OVERHEAD_V4
                };
                c.config()
                    .max_data_len(link_mtu.saturating_sub(ip))
                    .unwrap_or(super::MIN_DATA_MTU)
                    .max(1)
            }
        }
    }

    /// Wraps one frame for the wire.
    pub fn seal(&self, frame: &[u8]) -> Result<Vec<u8>, SealError> {
        match self {
            KnetSeal::Clear => Ok(frame.to_vec()),
            KnetSeal::Crypto(c) => {
                let mut salt = [0u8; SALT_LEN];
                OsRng.fill_bytes(&mut salt);
                Ok(c.seal(frame, &salt))
            }
        }
    }

    /// Unwraps one received datagram into its frame.
    pub fn open<'a>(&self, dgram: &'a [u8]) -> Result<Cow<'a, [u8]>, SealError> {
        match self {
            KnetSeal::Clear => Ok(Cow::Borrowed(dgram)),
            KnetSeal::Crypto(c) => c
                .open(dgram)
                .map(|o| Cow::Owned(o.frame))
                .map_err(|e| SealError::Crypto(e.to_string())),
        }
    }
}
