//! An encrypted ring of our own nodes: group key agreement on every EVS configuration
//! change and an AEAD envelope around every datagram the engine emits.
//!
//! # Where it sits
//! [`SecureNode`] wraps one [`Engine`](crate::engine::Engine) the way the CPG and sync layers
//! do, from the outside and sans-IO: every datagram the engine emits goes through
//! [`SecureNode::seal`], every datagram received through [`SecureNode::open`] before the
//! engine sees it, and every engine event through [`SecureNode::on_event`], which runs the
//! key agreement ([`totem_keygen::Member`], TGDH over X25519/HKDF) and passes application
//! deliveries up. Payloads of the layer are framed by one leading byte ([`control`]):
//! application message, key-agreement message or key-ready notice.
//!
//! # Keys
//! * **Cluster key** (class 1): `HKDF-SHA256(salt = "totem-secure cluster v1", ikm =
//!   authkey, info = "cluster traffic xchacha20poly1305")`, XChaCha20-Poly1305. It seals
//!   every membership datagram (join, commit token, merge detect) and every datagram of a ring
//!   that has no group key yet at the sender (recovery, the key agreement itself, the first
//!   token rotations). It is what protects a new member's joins and the commit tokens: they
//!   are confidential and authentic against anyone without the authkey, and, since the
//!   authkey is also the root of trust of the key agreement ([`totem_keygen::auth`]), anyone
//!   holding it may join anyway. They carry only membership data (nodeids, ring ids,
//!   sequence numbers), never application payloads, except recovery copies of old-ring
//!   messages, which are re-sent under the cluster key (no forward secrecy for those).
//! * **Group keys** (class 2): agreed by TGDH among exactly the members of one regular
//!   configuration, after it is installed, with the key-agreement messages sent as agreed
//!   multicasts of that ring. Virtual synchrony makes every member feed the same messages in
//!   the same order, so all compute the same key. The traffic key of key epoch (ring id,
//!   epoch) is `totem_keygen::kdf::traffic_key`; epoch 0 follows the configuration change,
//!   each refresh adds one. Once active, every token, multicast and token-hold-cancel of that
//!   ring is sealed with it (ChaCha20-Poly1305).
//!
//! A datagram is sealed with the group key only when its own ring id (read from the SRP
//! header) is the ring of the active group key; otherwise with the cluster key. So a ring
//! change never makes a node seal a new ring's traffic with a key the new members lack.
//!
//! # Switching without loss
//! Two slots ([`slots::KeySlots`]): the active (send) key and one other receive key.
//! 1. A member that computes key `e` installs it as *next* (receives with both) and sends
//!    `Ready(e)` as an agreed multicast, still sealed with its current key.
//! 2. When it has delivered `Ready(e)` from every member of the configuration, every member
//!    can open `e`: it starts sending with `e`; the old key becomes *retiring*.
//! 3. Having switched, it sends `Switched(e)` (agreed). Once it delivered `Switched(e)` from
//!    every member, no member seals with the old key any more; the old key is dropped
//!    `retire_grace` later (datagrams sealed just before a switch may still be in flight).
//!    A member may deliver the last `Ready` seconds after the others (for instance when a
//!    one-way link makes it wait for retransmissions) while the ring stays up, so a pure
//!    timer is not enough: the simulator found exactly that case.
//!
//! Packets under a group key in neither slot are rejected and counted: older epochs as
//! `stale_epoch`, others as `unknown_key`; rejections of the receiver's current ring are
//! also counted as `switch_rejections`, which must stay zero.
//!
//! # Rekeying
//! Besides every configuration change, the member at position `(epoch + 1) mod n` of the
//! configuration starts a TGDH refresh once `rekey_interval` has passed since the key became
//! active, or once it sealed and opened `rekey_packets` datagrams under it
//! ([`SecureConfig`]), but never before the previous key retired (so at most two keys are
//! ever in use). The refresh is an agreed multicast; its delivery yields epoch + 1,
//! which is switched to as above.
//!
//! # Transitional configurations
//! Members of a new ring come from different old rings, or restarted under the same nodeid,
//! or missed configurations while stalled, so their TGDH trees disagree. EVS names the
//! members that share this node's history: the transitional configuration. At the regular
//! configuration the tree is first cut to those members
//! ([`totem_keygen::Member::transitional`]), then the agreement starts; old-ring messages
//! delivered in the transitional configuration still apply to the uncut tree.
//!
//! # Measurements (simulator, `totem-sim --bench-rekey` / `--model-rekey`)
//! Rotations until every member sends with the new key; TGDH compute per member (mean).
//! The simulator runs the full stack up to n = 128; n = 384 comes from the network-free
//! model (same agreement code, messages delivered wave by wave, each wave of m messages
//! costing ceil(m / 50) rotations under Totem's window of 50), which reproduces the
//! simulator at n = 128 (formation 14 vs 15, refresh 4 vs 4).
//!
//! ```text
//! n     form  refresh  leave  join    (rotations)   compute/member: join, form
//! 2     3-4   2-3      -      3                      0.1 ms,  0.1 ms
//! 8     5     2        2      3                      0.2 ms,  0.3 ms
//! 32    6     2        2      3                      0.2 ms,  0.5 ms
//! 128   15    4        4-6    5-7                    0.2 ms,  1.7 ms
//! 384   32*   9*       9*     10*   (* model)        0.4 ms, 10 ms
//! ```
//!
//! # Nonces
//! See [`envelope`]: sender ‖ counter under per-epoch group keys; session id ‖ counter
//! under the cluster key, with a random per-start session id.

pub mod control;
pub mod envelope;
mod node;
pub mod slots;

use std::time::Duration;

pub use node::{KeyNote, KeyNoteKind, SecureError, SecureNode, SecureStats};

/// Settings of the secure layer.
#[derive(Clone)]
pub struct SecureConfig {
    /// Cluster authkey (at least 16 bytes): root of the cluster key and of the key agreement.
    pub authkey: Vec<u8>,
    /// Refresh the group key this long after it became active (`None`: never by time).
    pub rekey_interval: Option<Duration>,
    /// Refresh after this many datagrams sealed and opened under one key (`None`: never).
    pub rekey_packets: Option<u64>,
    /// How long the previous key keeps opening packets after the switch.
    pub retire_grace: Duration,
}

impl std::fmt::Debug for SecureConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureConfig")
            .field("rekey_interval", &self.rekey_interval)
            .field("rekey_packets", &self.rekey_packets)
            .field("retire_grace", &self.retire_grace)
            .finish_non_exhaustive()
    }
}

impl SecureConfig {
    /// Rekeys only on configuration changes; the old key retires after 2 s.
    pub fn new(authkey: Vec<u8>) -> Self {
        SecureConfig {
            authkey,
            rekey_interval: None,
            rekey_packets: None,
            retire_grace: Duration::from_secs(2),
        }
    }
}
