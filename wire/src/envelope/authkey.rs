//! The shared cluster key (`authkey`) as corosync 1.x and 2.x load it.
//!
//! * From a key file exactly the first 128 bytes are used; a shorter file is an error
//!   (corosync: "Could only read N bits of 1024 bits").
//! * An inline key (`totem.key` / `key:`) may be 1..=128 bytes; its length then matters
//!   (SOBER key loading folds it in, the 2.x HMAC uses exactly those bytes).
//! * Ciphers that need a fixed-size key read it from the key zero-padded to 128 bytes,
//!   as corosync reads its 128-byte key buffer.

use std::path::Path;

use super::EnvelopeError;

/// Number of bytes corosync reads from a key file and the size of its key buffer.
pub const AUTHKEY_FILE_LEN: usize = 128;

/// A cluster authentication key: 1 to 128 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    /// Key bytes exactly as corosync holds them (`private_key`, `private_key_len`).
    bytes: Vec<u8>,
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        write!(f, "AuthKey({} bytes)", self.bytes.len())
    }
}

impl AuthKey {
    /// Builds a key from the contents of a key file: the first 128 bytes are used, extra bytes are
    /// ignored, fewer than 128 bytes is an error naming the length.
    pub fn from_file_contents(contents: &[u8]) -> Result<AuthKey, EnvelopeError> {
        match contents.get(..AUTHKEY_FILE_LEN) {
            Some(key) => Ok(AuthKey {
                bytes: key.to_vec(),
            }),
            None => Err(EnvelopeError::Truncated {
                what: "authkey file (corosync reads exactly 1024 bits)",
                need: AUTHKEY_FILE_LEN,
                have: contents.len(),
            }),
        }
    }

    /// Reads a key file from disk with the rules of [`AuthKey::from_file_contents`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<AuthKey, EnvelopeError> {
        let path = path.as_ref();
        let contents = std::fs::read(path).map_err(|e| EnvelopeError::KeyFile {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        Self::from_file_contents(&contents)
    }

    /// Builds a key from inline configuration bytes (1..=128 bytes).
    pub fn from_inline(bytes: &[u8]) -> Result<AuthKey, EnvelopeError> {
        check_key_len(bytes)?;
        Ok(AuthKey {
            bytes: bytes.to_vec(),
        })
    }

    /// The key bytes (`private_key_len` of them).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Key length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a key has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl AsRef<[u8]> for AuthKey {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Rejects empty keys and keys longer than corosync's 128-byte key buffer.
pub(crate) fn check_key_len(bytes: &[u8]) -> Result<(), EnvelopeError> {
    if bytes.is_empty() {
        return Err(EnvelopeError::Config {
            field: "authkey",
            detail: "key is empty".into(),
        });
    }
    if bytes.len() > AUTHKEY_FILE_LEN {
        return Err(EnvelopeError::Config {
            field: "authkey",
            detail: format!(
                "key is too long: {} bytes, at most {AUTHKEY_FILE_LEN}",
                bytes.len()
            ),
        });
    }
    Ok(())
}

/// The first `N` bytes of `key` zero-padded to 128 bytes (how corosync feeds fixed-size cipher keys).
pub(crate) fn padded_prefix<const N: usize>(key: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, k) in out.iter_mut().zip(key) {
        *o = *k;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_contents_use_first_128_bytes() {
        let data: Vec<u8> = (0..200u16).map(|i| (i % 251) as u8).collect();
        let key = AuthKey::from_file_contents(&data).unwrap();
        assert_eq!(key.len(), 128);
        assert_eq!(key.as_bytes(), &data[..128]);
    }

    #[test]
    fn short_file_is_an_error_naming_the_length() {
        let err = AuthKey::from_file_contents(&[1u8; 100]).unwrap_err();
        assert_eq!(
            err,
            EnvelopeError::Truncated {
                what: "authkey file (corosync reads exactly 1024 bits)",
                need: 128,
                have: 100
            }
        );
        assert!(err.to_string().contains("have 100"));
    }

    #[test]
    fn inline_key_limits() {
        assert!(AuthKey::from_inline(&[]).is_err());
        assert!(AuthKey::from_inline(&[0u8; 129]).is_err());
        assert_eq!(AuthKey::from_inline(b"abcd").unwrap().len(), 4);
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = AuthKey::from_file("/nonexistent/totem-authkey").unwrap_err();
        assert!(
            matches!(err, EnvelopeError::KeyFile { ref path, .. } if path == "/nonexistent/totem-authkey")
        );
    }

    #[test]
    fn padded_prefix_zero_fills() {
        assert_eq!(padded_prefix::<6>(b"abcd"), *b"abcd\0\0");
        assert_eq!(padded_prefix::<2>(b"abcd"), *b"ab");
    }
}
