//! Root of trust for key-agreement messages.
//!
//! Two layers, both implemented:
//! 1. the cluster authkey (the file `totem-keygen` writes): every message carries an
//!    HMAC-SHA256 keyed by `HKDF(authkey)`; a node without the authkey can neither produce an
//!    accepted message nor derive a group key (the group key is salted with another HKDF
//!    output of the authkey);
//! 2. optional per-node Ed25519 identity keys: when configured, every message is signed by
//!    its sender and, with `require_signatures`, an unsigned message or one whose nodeid has
//!    no known key is refused, so one member cannot speak for another.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{KeyError, WireError};
use crate::ids::NodeId;
use crate::kdf::ClusterKeys;
use crate::wire::Message;

type HmacSha256 = Hmac<Sha256>;

/// Credentials of one node: cluster keys, its own identity key and the peers' public keys.
#[derive(Clone)]
pub struct Credentials {
    /// Keys derived from the cluster authkey.
    pub cluster: ClusterKeys,
    /// This node's Ed25519 signing key, if identities are in use.
    pub identity: Option<SigningKey>,
    /// Known identity public keys by nodeid.
    pub peers: BTreeMap<NodeId, VerifyingKey>,
    /// Refuse unsigned messages and unknown signers.
    pub require_signatures: bool,
}

impl Credentials {
    /// Credentials with the cluster authkey only.
    pub fn from_authkey(authkey: &[u8]) -> Result<Self, KeyError> {
        Ok(Credentials {
            cluster: ClusterKeys::from_authkey(authkey)?,
            identity: None,
            peers: BTreeMap::new(),
            require_signatures: false,
        })
    }

    /// Adds this node's identity key (messages get signed).
    pub fn with_identity(mut self, key: SigningKey) -> Self {
        self.identity = Some(key);
        self
    }

    /// Adds a peer's identity public key and turns on signature enforcement.
    pub fn with_peer(mut self, node: NodeId, key: VerifyingKey) -> Self {
        self.peers.insert(node, key);
        self.require_signatures = true;
        self
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut m = <HmacSha256 as Mac>::new_from_slice(self.cluster.mac_key.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(data);
        m
    }

    /// Encodes, signs (if an identity key is set) and MACs a message.
    pub fn seal_message(&self, msg: &Message) -> Result<Vec<u8>, WireError> {
        let signed = self.identity.is_some();
        let mut out = msg.emit_signed_part(signed)?;
        if let Some(sk) = &self.identity {
            let sig = sk.sign(&out);
            out.extend_from_slice(&sig.to_bytes());
        }
        let tag = self.mac(&out).finalize().into_bytes();
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Decodes a frame and checks its MAC, then its signature.
    pub fn open_message(&self, buf: &[u8]) -> Result<Message, WireError> {
        let frame = Message::parse_frame(buf)?;
        self.mac(frame.mac_part)
            .verify_slice(frame.mac)
            .map_err(|_| WireError::BadMac)?;
        let sender = frame.message.sender;
        match (frame.signature, self.peers.get(&sender)) {
            (Some(sig), Some(vk)) => {
                let sig =
                    Signature::from_slice(sig).map_err(|_| WireError::BadSignature { sender })?;
                vk.verify(frame.signed_part, &sig)
                    .map_err(|_| WireError::BadSignature { sender })?;
            }
            (None, _) if self.require_signatures => {
                return Err(WireError::MissingSignature { sender })
            }
            (Some(_), None) if self.require_signatures => {
                return Err(WireError::UnknownSigner { sender })
            }
            _ => {}
        }
        Ok(frame.message)
    }
}
