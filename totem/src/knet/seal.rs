//! The one hook between knet frames and the wire: sealing an outgoing datagram and opening a
//! received one. Today only clear text exists; knet crypto (nss/openssl cipher + hmac) plugs in
//! here as another variant.

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
}

impl KnetSeal {
    /// Bytes sealing adds to a frame (taken off the data MTU).
    pub fn overhead(&self) -> usize {
        match self {
            KnetSeal::Clear => 0,
        }
    }

    /// Wraps one frame for the wire.
    pub fn seal(&self, frame: &[u8]) -> Result<Vec<u8>, SealError> {
        match self {
            KnetSeal::Clear => Ok(frame.to_vec()),
        }
    }

    /// Unwraps one received datagram into its frame.
    pub fn open<'a>(&self, dgram: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, SealError> {
        match self {
            KnetSeal::Clear => Ok(std::borrow::Cow::Borrowed(dgram)),
        }
    }
}
