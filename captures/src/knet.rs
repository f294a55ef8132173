//! knet-specific parts of replay: which keys and crypto settings belong to a capture, and the
//! reassembly of knet-fragmented data into the Totem messages it carries.
//!
//! Crypto settings rule (documented in `totem-replay --help`): explicit flags win; otherwise a
//! `<prefix>.conf` (a corosync.conf) next to the capture whose name starts with `<prefix>`
//! gives `crypto_model` / `crypto_cipher` / `crypto_hash` (corosync's defaults apply); the key
//! is `--key` or the sibling `<prefix>.authkey`, read whole as corosync 3 does (128..4096 bytes).

use std::path::{Path, PathBuf};

use totem_wire::datagram::{Datagram, Envelope, Keys, KnetDatagram};
use totem_wire::envelope::knet::key_from_file_contents;
use totem_wire::envelope::knet_conf::KnetConfSettings;
use totem_wire::envelope::{AuthKey, KnetCrypto, KnetCryptoConfig};
use totem_wire::knet::{DefragEvent, KnetBody, KnetDefrag};
use totem_wire::{Generation, SrpMessage};

use crate::verify::sibling_file;

/// The corosync.conf that belongs to a capture by the naming rule (`<prefix>.conf`).
pub fn sibling_conf(capture: &Path) -> Option<PathBuf> {
    sibling_file(capture, ".conf")
}

/// The knet crypto settings of corosync.conf text: the pairs of its top-level `totem`
/// sections, read with the workspace's one corosync.conf grammar.
pub fn knet_settings(text: &str) -> Result<KnetConfSettings, String> {
    let root = totem::corosync_conf::parse(text).map_err(|e| e.to_string())?;
    let pairs = root
        .sections("totem")
        .flat_map(|t| t.entries())
        .map(|e| (e.key.as_str(), e.value.as_str()));
    KnetConfSettings::from_totem_entries(pairs).map_err(|e| e.to_string())
}

/// Builds the decoding keys for a capture: the authkey (`key`, else the sibling
/// `<prefix>.authkey`) for every G1/G2 envelope, plus knet crypto when `knet` (else the
/// sibling `<prefix>.conf`) turns it on.
pub fn keys_for_capture(
    capture: &Path,
    key: Option<&Path>,
    knet: Option<KnetCryptoConfig>,
) -> Result<Keys, String> {
    let key_path = key
        .map(Path::to_path_buf)
        .or_else(|| crate::verify::sibling_authkey(capture));
    let Some(key_path) = key_path else {
        return Ok(Keys::none());
    };
    let bytes = std::fs::read(&key_path)
        .map_err(|e| format!("cannot read key {}: {e}", key_path.display()))?;
    let g12 =
        AuthKey::from_file_contents(&bytes).map_err(|e| format!("{}: {e}", key_path.display()))?;
    let mut keys = Keys::with_authkey(g12.as_bytes());
    let knet = match knet {
        Some(c) => Some(c),
        None => match sibling_conf(capture) {
            Some(conf) => {
                let text = std::fs::read_to_string(&conf)
                    .map_err(|e| format!("cannot read {}: {e}", conf.display()))?;
                Some(
                    knet_settings(&text)
                        .map_err(|e| format!("{}: {e}", conf.display()))?
                        .crypto,
                )
            }
            None => None,
        },
    };
    if let Some(cfg) = knet.filter(KnetCryptoConfig::is_enabled) {
        let k =
            key_from_file_contents(&bytes).map_err(|e| format!("{}: {e}", key_path.display()))?;
        keys = keys.with_knet(KnetCrypto::new(cfg, k).map_err(|e| e.to_string())?);
    }
    Ok(keys)
}

/// A Totem message rebuilt from knet fragments.
#[derive(Debug, Clone)]
pub struct Reassembled {
    /// Sender host id.
    pub host: u16,
    /// knet data sequence number shared by the fragments.
    pub seq: u16,
    /// Number of fragments.
    pub fragments: u8,
    /// The decoded message (envelope: the last fragment's frame, payload emptied).
    pub datagram: Datagram,
}

/// Feeds knet data fragments in capture order and hands back each completed Totem message.
#[derive(Debug, Default)]
pub struct KnetReassembly {
    defrag: KnetDefrag,
    /// Fragmented messages completed and decoded so far.
    pub completed: u64,
}

impl KnetReassembly {
    /// An empty reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one opened knet frame. `None` unless it completed a fragmented message; then
    /// the message decoded as G3 SRP, or why it did not decode or re-encode identically.
    pub fn feed(&mut self, k: &KnetDatagram) -> Option<Result<Reassembled, String>> {
        let h = k.frame.data_header()?;
        let KnetBody::Data { payload, .. } = &k.frame.body else {
            return None;
        };
        match self.defrag.push(k.frame.src_host, &h, payload) {
            DefragEvent::Complete(msg) => {
                let r = Self::decode(k, h.seq, h.frag_num, msg);
                if r.is_ok() {
                    self.completed += 1;
                }
                Some(r)
            }
            DefragEvent::Invalid(why) => Some(Err(format!(
                "knet fragment host {} seq {}: {why}",
                k.frame.src_host, h.seq
            ))),
            DefragEvent::Whole | DefragEvent::Pending | DefragEvent::Duplicate => None,
        }
    }

    fn decode(
        k: &KnetDatagram,
        seq: u16,
        fragments: u8,
        msg: &[u8],
    ) -> Result<Reassembled, String> {
        let host = k.frame.src_host;
        let body = SrpMessage::parse(msg, Generation::G3)
            .map_err(|e| format!("knet host {host} seq {seq} ({fragments} fragments): {e}"))?;
        if body.to_vec() != msg {
            return Err(format!(
                "knet host {host} seq {seq} ({fragments} fragments): re-encoded Totem message differs"
            ));
        }
        let mut frame = k.frame.clone();
        if let KnetBody::Data { payload, .. } = &mut frame.body {
            payload.clear();
        }
        Ok(Reassembled {
            host,
            seq,
            fragments,
            datagram: Datagram {
                generation: Generation::G3,
                envelope: Envelope::Knet(Box::new(frame)),
                body,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use totem_wire::envelope::{Hash, KnetCipher, KnetModel};

    /// Moved from wire's knet_conf text reader: only the top-level totem section counts, and
    /// `#` after text is part of the value, as corosync reads it.
    #[test]
    fn knet_settings_read_the_totem_section_of_corosync_conf() {
        let s = knet_settings(
            "totem {\n  version: 2\n  crypto_model: openssl\n  # c\n  crypto_cipher: aes128\n  \
             crypto_hash: sha1\n  keyfile: /tmp/k\n}\nlogging {\n  crypto_hash: md5\n}\n",
        )
        .unwrap();
        assert_eq!(s.crypto.model, KnetModel::Openssl);
        assert_eq!(s.crypto.cipher, KnetCipher::Aes128);
        assert_eq!(s.crypto.hash, Hash::Sha1);
        assert_eq!(s.keyfile.as_deref(), Some("/tmp/k"));
        let e = knet_settings("totem {\n crypto_cipher: aes128 # c\n crypto_hash: sha1\n}\n");
        assert!(e.is_err(), "{e:?}");
        let e = knet_settings("totem {\n crypto_hash sha1\n}\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
    }
}
