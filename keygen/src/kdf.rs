//! Every key derivation of the crate (HKDF-SHA256), with its label in one place.

use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::ids::KeyEpoch;

/// Salt for deriving the cluster keys from the authkey file contents.
pub const AUTHKEY_SALT: &[u8] = b"totem-keygen authkey v1";
/// Info label of the HMAC key that authenticates key-agreement messages.
pub const INFO_MAC: &[u8] = b"totem-keygen key-agreement mac";
/// Info label of the salt mixed into every group key.
pub const INFO_GROUP_SALT: &[u8] = b"totem-keygen group salt";
/// Salt of the tree-node KDF.
pub const NODE_SALT: &[u8] = b"totem-keygen tgdh v1";
/// Info label of the tree-node KDF.
pub const INFO_NODE: &[u8] = b"node secret";
/// Info label prefix of the group key (followed by the 16-byte key epoch).
pub const INFO_GROUP: &[u8] = b"totem-keygen group key";
/// Info label prefix of the traffic key (followed by the 16-byte key epoch).
pub const INFO_TRAFFIC: &[u8] = b"totem-keygen traffic chacha20poly1305";

fn expand32(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    let res = hk.expand_multi_info(info, out.as_mut());
    debug_assert!(res.is_ok());
    out
}

/// Keys derived from the cluster authkey: the message MAC key and the group-key salt.
#[derive(Clone)]
pub struct ClusterKeys {
    /// HMAC-SHA256 key for key-agreement messages.
    pub mac_key: Zeroizing<[u8; 32]>,
    /// Salt mixed into every group key, so a node without the authkey derives nothing.
    pub group_salt: Zeroizing<[u8; 32]>,
}

impl ClusterKeys {
    /// Derives the cluster keys from the raw authkey bytes (any length ≥ 16).
    pub fn from_authkey(authkey: &[u8]) -> Result<Self, KeyError> {
        if authkey.len() < 16 {
            return Err(KeyError::AuthkeyTooShort { len: authkey.len() });
        }
        Ok(ClusterKeys {
            mac_key: expand32(AUTHKEY_SALT, authkey, &[INFO_MAC]),
            group_salt: expand32(AUTHKEY_SALT, authkey, &[INFO_GROUP_SALT]),
        })
    }
}

/// Secret of an internal tree node: HKDF(DH(own, other_blinded)) read as an X25519 scalar.
pub fn node_secret(own: &StaticSecret, other_blinded: &[u8; 32]) -> Result<StaticSecret, KeyError> {
    let shared = own.diffie_hellman(&PublicKey::from(*other_blinded));
    if !shared.was_contributory() {
        return Err(KeyError::LowOrderPoint);
    }
    let okm = expand32(NODE_SALT, shared.as_bytes(), &[INFO_NODE]);
    Ok(StaticSecret::from(*okm))
}

/// Blinded key of a node secret: the X25519 public key (scalar times base point).
pub fn blind(secret: &StaticSecret) -> [u8; 32] {
    PublicKey::from(secret).to_bytes()
}

/// Group key for one key epoch: HKDF(salt = cluster group salt, ikm = root secret).
pub fn group_key(
    cluster: &ClusterKeys,
    root: &StaticSecret,
    epoch: &KeyEpoch,
) -> Zeroizing<[u8; 32]> {
    expand32(
        cluster.group_salt.as_ref(),
        root.as_bytes(),
        &[INFO_GROUP, &epoch.to_bytes()],
    )
}

/// ChaCha20-Poly1305 traffic key of one key epoch, derived from its group key.
pub fn traffic_key(group_key: &[u8; 32], epoch: &KeyEpoch) -> Zeroizing<[u8; 32]> {
    expand32(&[], group_key, &[INFO_TRAFFIC, &epoch.to_bytes()])
}
