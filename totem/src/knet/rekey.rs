//! Run-time knet key change, as corosync 3.1.7 does it for `corosync-cfgtool -R`.
//!
//! The sequence (corosync v3.1.7 `exec/cfg.c`, `exec/totemknet.c`, `exec/totemconfig.c`;
//! kronosnet v1.25 `libknet/crypto.c`, `libknet/threads_rx.c`):
//!
//! 0. At start corosync loads the key into knet crypto config `crypto_index` = 1, uses it and
//!    refuses clear traffic (`totemknet_initialize`: `knet_handle_crypto_set_config(.., 1)`,
//!    `knet_handle_crypto_use_config(1)`, `rx_clear_traffic(DISALLOW)`).
//! 1. `corosync-cfgtool -R` asks the local daemon over IPC; it multicasts the CFG exec
//!    message `MESSAGE_REQ_EXEC_CFG_RELOAD_CONFIG` (service 1, fn 3, 32 bytes, TOTEM_SAFE;
//!    cfg.c `message_handler_req_lib_cfg_reload_config`). **Load**: every node, on delivery,
//!    re-reads corosync.conf and the key file (`totem_reread_crypto_config`: `crypto_changed`
//!    is set when model/cipher/hash or the key bytes differ), and `totemknet_reconfigure`
//!    flips `crypto_index` to `3 - crypto_index` and loads the new key there with
//!    `knet_handle_crypto_set_config` ("use_config will be called later when all nodes are
//!    synced"). From here knet opens datagrams with either key: the config in use first,
//!    then the other (`crypto_authenticate_and_decrypt`), but still seals with the old one.
//! 2. If crypto changed, each node multicasts its *own* `MESSAGE_REQ_EXEC_CFG_CRYPTO_RECONFIG`
//!    (fn 4, 24 bytes, `phase` = 1 ACTIVATE, TOTEM_SAFE) ("each node sends its own PHASE
//!    message so we're not relying on the leader node to survive the transition").
//!    **Activate**: when a node's own phase-1 message is delivered (safe: every member has
//!    received it, so every member has the reload behind it and the new key loaded), it calls
//!    `knet_handle_crypto_use_config(crypto_index)`: from now on it seals with the new key.
//!    Phase messages from other nodes are ignored (`nodeid == totem_nodeid_get()` check).
//! 3. It then multicasts its own phase 2 (CLEANUP, TOTEM_SAFE). **Cleanup**: on delivery of
//!    its own phase-2 message it clears config `3 - crypto_index`
//!    (`knet_handle_crypto_set_config` with model/cipher/hash "none") and, if crypto stays on,
//!    refuses clear traffic again.
//!
//! So the wire does signal the steps: the reload message and each node's own two safe phase
//! messages, one after the other, each about a token rotation apart (a safe message is
//! delivered once the token has come round with every member's aru past it). A node switches
//! its sending key at its own step 2 while the others may still seal with the old key; that
//! is harmless because every member holds both keys from step 1 until its own step 3.
//!
//! Measured with corosync 3.1.7 in namespaces (debug log, 4 ms resolution): reload, phase 1
//! and phase 2 are delivered within 10..20 ms of each other under CPG load, and a corosync
//! node clears its old config a few ms after it started sealing with the new one.
//!
//! Our node follows the same steps and sends its own phase messages (so that any node
//! reading the CFG traffic sees the usual sequence), but takes two steps earlier, because
//! its own safe messages are ordered after the corosync nodes' and it must never seal with
//! a key a corosync node has already cleared:
//!
//! * load at the delivery of the reload, inside the node task (before the CPG/CFG service
//!   task sees it);
//! * activate at the first of: any node's phase-1 message delivered, the first datagram
//!   that only the new config opens (that peer is past its phase 1, and its phase 2 cannot
//!   be delivered before the token has passed through us), our own phase 1;
//! * clean up at the delivery of our own phase 2.
//!
//! [`Rekey`] is the `crypto_index` bookkeeping over a [`KnetSeal`]; the driver
//! (`driver::knet::KnetNet::rekey_load` / `rekey_phase`) runs the steps.

use totem_wire::envelope::knet::KnetCrypto;

use super::seal::{KnetSeal, SealError};

/// `CRYPTO_RECONFIG_PHASE_ACTIVATE` (corosync `totem.h`).
pub const PHASE_ACTIVATE: u32 = 1;
/// `CRYPTO_RECONFIG_PHASE_CLEANUP`.
pub const PHASE_CLEANUP: u32 = 2;

/// corosync's `crypto_index` and the three steps of a key change over a [`KnetSeal`], with
/// the step awaited next (so that each step runs once, whichever trigger comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rekey {
    /// The config the latest key was loaded into (1 or 2).
    index: u8,
    /// Whether the latest configuration has crypto on.
    enabled: bool,
    /// `PHASE_ACTIVATE` after a load, `PHASE_CLEANUP` after activation, else `None`.
    awaiting: Option<u32>,
}

impl Rekey {
    /// The state after start: the key (if any) in config 1.
    pub fn new(enabled: bool) -> Self {
        Rekey {
            index: 1,
            enabled,
            awaiting: None,
        }
    }

    /// The config the latest key went into.
    pub fn index(&self) -> u8 {
        self.index
    }

    /// The phase awaited next, if a key change is under way.
    pub fn awaiting(&self) -> Option<u32> {
        self.awaiting
    }

    /// Step 1: loads the new crypto (`None`: crypto off) into the other config; both keys
    /// open datagrams from now on, ours are still sealed with the old one.
    pub fn load(&mut self, seal: &mut KnetSeal, new: Option<KnetCrypto>) -> Result<(), SealError> {
        let next = 3 - self.index;
        let enabled = new.is_some();
        if !enabled {
            seal.set_rx_clear(true);
        }
        seal.set_config(next, new)?;
        self.index = next;
        self.enabled = enabled;
        self.awaiting = Some(PHASE_ACTIVATE);
        Ok(())
    }

    /// Step 2: seal with the new config.
    pub fn activate(&self, seal: &mut KnetSeal) -> Result<(), SealError> {
        seal.use_config(if self.enabled { self.index } else { 0 })
    }

    /// Step 3: drop the old config; refuse clear text again if crypto is on.
    pub fn cleanup(&self, seal: &mut KnetSeal) -> Result<(), SealError> {
        let r = seal.set_config(3 - self.index, None);
        if self.enabled {
            seal.set_rx_clear(false);
        }
        r
    }

    /// Runs `phase` if it is the step awaited; `Ok(false)` when there is nothing to do
    /// (e.g. activation already done at another trigger).
    pub fn phase(&mut self, seal: &mut KnetSeal, phase: u32) -> Result<bool, SealError> {
        if self.awaiting != Some(phase) {
            return Ok(false);
        }
        self.awaiting = match phase {
            PHASE_ACTIVATE => Some(PHASE_CLEANUP),
            _ => None,
        };
        match phase {
            PHASE_ACTIVATE => self.activate(seal)?,
            _ => self.cleanup(seal)?,
        }
        Ok(true)
    }

    /// After a datagram was opened: whether it was the first one sealed with the loaded,
    /// not yet used key (a peer past its phase 1), which is the cue to activate.
    pub fn new_key_seen(&self, seal: &KnetSeal) -> bool {
        self.awaiting == Some(PHASE_ACTIVATE) && self.enabled && seal.last_opened() == self.index
    }
}
