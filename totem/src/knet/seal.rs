//! The one hook between knet frames and the wire: sealing an outgoing datagram and opening a
//! received one. Clear text (crypto_cipher and crypto_hash none) or knet crypto (nss/openssl
//! models, AES-CBC and HMAC, the codec in `totem_wire::envelope::knet`).
//!
//! Like libknet 1.25 (`crypto.c`), the seal holds two crypto configurations ("config 1" and
//! "config 2") so that a cluster can change its key at run time without dropping a packet:
//!
//! * `set_config(n, ..)` loads or clears config `n` (1 or 2); the config in use cannot be
//!   replaced (knet answers EBUSY).
//! * `use_config(n)` picks the config that seals what we send (0: send clear text).
//! * [`KnetSeal::open`] tries the config in use first, then the other loaded one
//!   (`crypto_authenticate_and_decrypt`); only if every loaded config fails and clear traffic
//!   is allowed (`knet_handle_crypto_rx_clear_traffic`) is the datagram taken as clear text.
//!
//! How corosync 3.1.7 drives these during `corosync-cfgtool -R` is described in
//! [`crate::knet::rekey`].

use std::borrow::Cow;

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use totem_wire::envelope::knet::{KnetCrypto, SALT_LEN};

/// Crypto configurations a handle holds (`KNET_MAX_CRYPTO_INSTANCES`).
pub const CRYPTO_SLOTS: u8 = 2;

/// Why a datagram could not be sealed or opened, or a config change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("knet crypto: {0}")]
    Crypto(String),
    #[error("knet crypto config {0} does not exist (configs are 1..=2)")]
    NoSuchSlot(u8),
    #[error("knet crypto config {0} is in use and cannot be replaced")]
    SlotInUse(u8),
    #[error("knet crypto config {0} is not loaded")]
    SlotEmpty(u8),
    #[error("clear text datagram refused (crypto only)")]
    ClearRefused,
}

/// Counters of one crypto config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotStats {
    /// Whether the config holds a key now.
    pub loaded: bool,
    /// Datagrams sealed with it.
    pub sealed: u64,
    /// Datagrams it opened.
    pub opened: u64,
}

/// How datagrams are sealed: up to two knet crypto configs, one of them (or none) in use.
#[derive(Debug)]
pub struct KnetSeal {
    slots: [Option<Box<KnetCrypto>>; 2],
    stats: [SlotStats; 2],
    /// 0 (send clear text), 1 or 2.
    in_use: u8,
    /// Whether a datagram no config opens is taken as clear text.
    rx_clear: bool,
    /// Clear datagrams accepted.
    clear_opened: u64,
    /// The config that opened the last datagram (0: clear text or none yet).
    last_opened: u8,
}

impl Default for KnetSeal {
    fn default() -> Self {
        KnetSeal::clear()
    }
}

fn index(slot: u8) -> Result<usize, SealError> {
    match slot {
        1 | 2 => Ok(usize::from(slot - 1)),
        n => Err(SealError::NoSuchSlot(n)),
    }
}

impl KnetSeal {
    /// crypto_cipher none, crypto_hash none: the frame is the datagram.
    pub fn clear() -> Self {
        KnetSeal {
            slots: [None, None],
            stats: [SlotStats::default(); 2],
            in_use: 0,
            rx_clear: true,
            clear_opened: 0,
            last_opened: 0,
        }
    }

    /// knet crypto with the cluster's key in config 1, in use, clear text refused (what
    /// corosync 3.1 sets up at start: `crypto_index` 1).
    pub fn crypto(c: KnetCrypto) -> Self {
        let mut s = KnetSeal::clear();
        s.slots[0] = Some(Box::new(c));
        s.stats[0].loaded = true;
        s.in_use = 1;
        s.rx_clear = false;
        s
    }

    /// Loads `crypto` into config `slot` (1 or 2), or clears it with `None`; the config in
    /// use cannot be replaced.
    pub fn set_config(&mut self, slot: u8, crypto: Option<KnetCrypto>) -> Result<(), SealError> {
        let i = index(slot)?;
        if self.in_use == slot {
            return Err(SealError::SlotInUse(slot));
        }
        let st = self.stats.get_mut(i).ok_or(SealError::NoSuchSlot(slot))?;
        st.loaded = crypto.is_some();
        if let Some(s) = self.slots.get_mut(i) {
            *s = crypto.map(Box::new);
        }
        Ok(())
    }

    /// Seals what we send with config `slot` from now on (0: clear text).
    pub fn use_config(&mut self, slot: u8) -> Result<(), SealError> {
        if slot != 0 {
            let i = index(slot)?;
            if self.slots.get(i).is_none_or(|s| s.is_none()) {
                return Err(SealError::SlotEmpty(slot));
            }
        }
        self.in_use = slot;
        Ok(())
    }

    /// Whether a datagram no loaded config opens is taken as clear text.
    pub fn set_rx_clear(&mut self, allow: bool) {
        self.rx_clear = allow;
    }

    /// The config in use (0: clear text).
    pub fn in_use(&self) -> u8 {
        self.in_use
    }

    /// Counters of config 1 and config 2.
    pub fn slot_stats(&self) -> [SlotStats; 2] {
        self.stats
    }

    /// Clear datagrams accepted.
    pub fn clear_opened(&self) -> u64 {
        self.clear_opened
    }

    /// The config that opened the last datagram accepted (0: clear text or none yet).
    pub fn last_opened(&self) -> u8 {
        self.last_opened
    }

    fn current(&self) -> Option<&KnetCrypto> {
        let i = index(self.in_use).ok()?;
        self.slots.get(i)?.as_deref()
    }

    /// What seals our traffic: "none" or the in-use config's model/cipher/hash.
    pub fn describe(&self) -> String {
        match self.current() {
            None => "none".to_string(),
            Some(c) => format!("{:?}", c.config()),
        }
    }

    /// Payload bytes per data fragment on a path MTU of `link_mtu` (libknet
    /// `calc_max_data_outlen` after the IP/UDP overhead), for the config in use.
    pub fn data_mtu(&self, link_mtu: usize, ipv6: bool) -> usize {
        match self.current() {
            None => super::data_mtu(link_mtu, ipv6),
            Some(c) => c
                .config()
                .max_data_len(link_mtu.saturating_sub(super::ip_udp_overhead(ipv6)))
                .unwrap_or(super::MIN_DATA_MTU)
                .max(1),
        }
    }

    /// Wraps one frame for the wire with the config in use.
    pub fn seal(&mut self, frame: &[u8]) -> Result<Vec<u8>, SealError> {
        let Ok(i) = index(self.in_use) else {
            return Ok(frame.to_vec());
        };
        let Some(Some(c)) = self.slots.get(i) else {
            return Err(SealError::SlotEmpty(self.in_use));
        };
        let mut salt = [0u8; SALT_LEN];
        OsRng.fill_bytes(&mut salt);
        let out = c.seal(frame, &salt);
        if let Some(st) = self.stats.get_mut(i) {
            st.sealed += 1;
        }
        Ok(out)
    }

    /// Unwraps one received datagram into its frame: the config in use first, then the
    /// other loaded one, then (if allowed) clear text.
    pub fn open<'a>(&mut self, dgram: &'a [u8]) -> Result<Cow<'a, [u8]>, SealError> {
        let first = index(self.in_use).ok();
        let order = [first, first.map(|i| 1 - i).or(Some(0)), Some(1)];
        let mut tried = [false; 2];
        let mut last_err = None;
        for i in order.into_iter().flatten() {
            if tried.get(i).copied().unwrap_or(true) {
                continue;
            }
            if let Some(t) = tried.get_mut(i) {
                *t = true;
            }
            let Some(Some(c)) = self.slots.get(i) else {
                continue;
            };
            match c.open(dgram) {
                Ok(o) => {
                    if let Some(st) = self.stats.get_mut(i) {
                        st.opened += 1;
                    }
                    self.last_opened = if i == 0 { 1 } else { 2 };
                    return Ok(Cow::Owned(o.frame));
                }
                Err(e) => last_err = Some(e.to_string()),
            }
        }
        if self.rx_clear {
            self.clear_opened += 1;
            self.last_opened = 0;
            return Ok(Cow::Borrowed(dgram));
        }
        Err(match last_err {
            Some(e) => SealError::Crypto(e),
            None => SealError::ClearRefused,
        })
    }
}
