//! Key files: the cluster authkey and per-node Ed25519 identity keys.
//!
//! * authkey: 128 random bytes (as `corosync-keygen` writes), mode 0400;
//! * `identity-<nodeid>.key`: the 32-byte Ed25519 secret seed, mode 0400;
//! * `identity-<nodeid>.pub`: the 32-byte Ed25519 public key, mode 0444.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::{CryptoRng, RngCore};

use crate::error::KeyError;
use crate::ids::NodeId;

/// Length of a generated authkey.
pub const AUTHKEY_LEN: usize = 128;

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file exists and overwriting was not allowed.
    #[error("{0} already exists (use --force to overwrite)")]
    Exists(PathBuf),
    /// An I/O operation failed.
    #[error("{path}: {source}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        source: io::Error,
    },
    /// The contents are not a valid key.
    #[error("{path}: {source}")]
    Key {
        /// File concerned.
        path: PathBuf,
        /// What is wrong.
        source: KeyError,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to a new file with `mode`; refuses an existing file unless `force`.
pub fn write_key_file(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    force: bool,
) -> Result<(), KeyFileError> {
    match fs::symlink_metadata(path) {
        Ok(_) if !force => return Err(KeyFileError::Exists(path.to_path_buf())),
        Ok(_) => fs::remove_file(path).map_err(io_err(path))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path)(e)),
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))?;
    Ok(())
}

/// Generates a 128-byte authkey from `rng`.
pub fn generate_authkey<R: RngCore + CryptoRng>(rng: &mut R) -> [u8; AUTHKEY_LEN] {
    let mut k = [0u8; AUTHKEY_LEN];
    rng.fill_bytes(&mut k);
    k
}

/// Paths of the identity key pair of `node` in `dir`.
pub fn identity_paths(dir: &Path, node: NodeId) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("identity-{node}.key")),
        dir.join(format!("identity-{node}.pub")),
    )
}

/// Reads an authkey file (at least 16 bytes).
pub fn read_authkey(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let b = fs::read(path).map_err(io_err(path))?;
    if b.len() < 16 {
        return Err(KeyFileError::Key {
            path: path.to_path_buf(),
            source: KeyError::AuthkeyTooShort { len: b.len() },
        });
    }
    Ok(b)
}

fn read32(path: &Path) -> Result<[u8; 32], KeyFileError> {
    let b = fs::read(path).map_err(io_err(path))?;
    <[u8; 32]>::try_from(b.as_slice()).map_err(|_| KeyFileError::Key {
        path: path.to_path_buf(),
        source: KeyError::BadIdentityKey {
            len: b.len(),
            expected: 32,
        },
    })
}

/// Reads an identity secret key file.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    Ok(SigningKey::from_bytes(&read32(path)?))
}

/// Reads an identity public key file.
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, KeyFileError> {
    VerifyingKey::from_bytes(&read32(path)?).map_err(|_| KeyFileError::Key {
        path: path.to_path_buf(),
        source: KeyError::BadIdentityKey {
            len: 32,
            expected: 32,
        },
    })
}
