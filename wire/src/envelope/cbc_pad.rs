//! CBC mode with PKCS#7 padding (NSS `CKM_AES_CBC_PAD` / `CKM_DES3_CBC_PAD`) over RustCrypto.

use cbc::cipher::block_padding::{NoPadding, Pkcs7};
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};

use super::EnvelopeError;

/// A block cipher with its key, as used by the envelopes.
#[derive(Clone)]
pub(crate) enum CbcKey {
    /// AES-128 (16-byte key).
    Aes128([u8; 16]),
    /// AES-192 (24-byte key).
    Aes192([u8; 24]),
    /// AES-256 (32-byte key).
    Aes256([u8; 32]),
    /// Three-key triple DES, EDE (24-byte key).
    Tdes([u8; 24]),
}

impl CbcKey {
    /// Block size in bytes.
    pub(crate) fn block_len(&self) -> usize {
        match self {
            CbcKey::Tdes(_) => 8,
            _ => 16,
        }
    }

    /// Human-readable cipher name for errors.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            CbcKey::Aes128(_) => "aes128-cbc",
            CbcKey::Aes192(_) => "aes192-cbc",
            CbcKey::Aes256(_) => "aes256-cbc",
            CbcKey::Tdes(_) => "3des-cbc",
        }
    }

    /// Encrypts with PKCS#7 padding (a full pad block when `plaintext` is block-aligned).
    /// `iv16` is the 16-byte salt; 3DES uses its first 8 bytes.
    pub(crate) fn encrypt(&self, iv16: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
        let iv8: [u8; 8] = first8(iv16);
        match self {
            CbcKey::Aes128(k) => cbc::Encryptor::<aes::Aes128>::new(k.into(), iv16.into())
                .encrypt_padded_vec_mut::<Pkcs7>(plaintext),
            CbcKey::Aes192(k) => cbc::Encryptor::<aes::Aes192>::new(k.into(), iv16.into())
                .encrypt_padded_vec_mut::<Pkcs7>(plaintext),
            CbcKey::Aes256(k) => cbc::Encryptor::<aes::Aes256>::new(k.into(), iv16.into())
                .encrypt_padded_vec_mut::<Pkcs7>(plaintext),
            CbcKey::Tdes(k) => cbc::Encryptor::<des::TdesEde3>::new(k.into(), (&iv8).into())
                .encrypt_padded_vec_mut::<Pkcs7>(plaintext),
        }
    }

    /// Decrypts and strips PKCS#7 padding, checking every pad byte.
    pub(crate) fn decrypt(
        &self,
        iv16: &[u8; 16],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, EnvelopeError> {
        let blk = self.block_len();
        if ciphertext.is_empty() || ciphertext.len() % blk != 0 {
            return Err(EnvelopeError::BadPadding {
                cipher: self.name(),
                detail: format!(
                    "ciphertext length {} is not a positive multiple of the {blk}-byte block",
                    ciphertext.len()
                ),
            });
        }
        let iv8: [u8; 8] = first8(iv16);
        let raw = match self {
            CbcKey::Aes128(k) => cbc::Decryptor::<aes::Aes128>::new(k.into(), iv16.into())
                .decrypt_padded_vec_mut::<NoPadding>(ciphertext),
            CbcKey::Aes192(k) => cbc::Decryptor::<aes::Aes192>::new(k.into(), iv16.into())
                .decrypt_padded_vec_mut::<NoPadding>(ciphertext),
            CbcKey::Aes256(k) => cbc::Decryptor::<aes::Aes256>::new(k.into(), iv16.into())
                .decrypt_padded_vec_mut::<NoPadding>(ciphertext),
            CbcKey::Tdes(k) => cbc::Decryptor::<des::TdesEde3>::new(k.into(), (&iv8).into())
                .decrypt_padded_vec_mut::<NoPadding>(ciphertext),
        };
        let mut raw = raw.map_err(|_| EnvelopeError::BadPadding {
            cipher: self.name(),
            detail: "block decryption failed".into(),
        })?;
        let pad = usize::from(raw.last().copied().unwrap_or(0));
        if pad == 0 || pad > blk || pad > raw.len() {
            return Err(EnvelopeError::BadPadding {
                cipher: self.name(),
                detail: format!("last byte {pad:#04x} is not a valid PKCS#7 pad length"),
            });
        }
        let body_len = raw.len() - pad;
        if let Some(pos) = raw[body_len..].iter().position(|&b| usize::from(b) != pad) {
            return Err(EnvelopeError::BadPadding {
                cipher: self.name(),
                detail: format!(
                    "pad byte at plaintext offset {} differs from pad length {pad}",
                    body_len + pos
                ),
            });
        }
        raw.truncate(body_len);
        Ok(raw)
    }
}

/// First 8 bytes of a 16-byte salt (the 3DES IV).
fn first8(iv16: &[u8; 16]) -> [u8; 8] {
    let mut iv8 = [0u8; 8];
    iv8.copy_from_slice(&iv16[..8]);
    iv8
}
