//! [`SecureNode`]: the secure layer of one node (see the module docs for the design).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use totem_keygen::{ConfigChange, Credentials, KeyEpoch, Member, RingId};
use totem_wire::{Generation, SrpMessage};

use super::control::{self, Control};
use super::envelope::{self, EnvelopeView, Header, KeyId};
use super::slots::{KeySlots, Window};
use super::SecureConfig;
use crate::engine::{ConfigKind, Engine, Event, Guarantee};
use crate::logfmt::{epoch as epoch_of, Epoch, Opt};

/// Salt of the cluster key derivation.
pub const CLUSTER_SALT: &[u8] = b"totem-secure cluster v1";
/// Info label of the cluster traffic key.
pub const CLUSTER_INFO: &[u8] = b"cluster traffic xchacha20poly1305";

/// Why the layer could not be set up or could not seal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecureError {
    /// The authkey is unusable.
    #[error("authkey: {0}")]
    Authkey(#[from] totem_keygen::KeyError),
    /// A send counter would wrap.
    #[error("send counter exhausted for {0}")]
    CounterExhausted(&'static str),
    /// The AEAD refused the plaintext (too large).
    #[error("AEAD refused a {0}-byte plaintext")]
    Aead(usize),
}

/// Counters of the secure layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecureStats {
    /// Datagrams sealed under the cluster key.
    pub sealed_cluster: u64,
    /// Datagrams sealed under a group key.
    pub sealed_group: u64,
    /// Datagrams opened under the cluster key.
    pub opened_cluster: u64,
    /// Datagrams opened under a group key.
    pub opened_group: u64,
    /// Not an envelope.
    pub malformed: u64,
    /// Group key older than both slots.
    pub stale_epoch: u64,
    /// Group key in no slot and not older.
    pub unknown_key: u64,
    /// Tag did not verify.
    pub auth_failed: u64,
    /// Counter already seen (duplicates included).
    pub replay: u64,
    /// Stale, unknown or unauthentic group-key packets of the receiver's current ring.
    pub switch_rejections: u64,
    /// Key-agreement messages refused by the agreement (wrong ring, stale refresh, ...).
    pub ka_errors: u64,
    /// Layer payloads that did not decode.
    pub bad_control: u64,
    /// Keys agreed.
    pub agreements: u64,
    /// Keys switched to for sending.
    pub activations: u64,
    /// Refreshes this node started.
    pub refreshes_started: u64,
    /// Wall-clock nanoseconds spent in the key agreement (benchmarks).
    pub compute_ns: u64,
}

/// What happened to a key, for recordings and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyNoteKind {
    /// A regular configuration started an agreement.
    ConfigStart,
    /// A key was computed (installed for receiving).
    Agreed,
    /// Every member has the key; this node sends with it.
    Activated,
    /// This node started a refresh of the key epoch given.
    RefreshStart,
}

/// One key event with the token rotations this node had seen so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyNote {
    /// What happened.
    pub kind: KeyNoteKind,
    /// When.
    pub at: Instant,
    /// The key epoch (for `ConfigStart`: the ring with epoch 0).
    pub epoch: KeyEpoch,
    /// First 8 bytes of SHA-256 over the traffic key label and the group key (zero for
    /// `ConfigStart`); equal fingerprints mean equal keys.
    pub fingerprint: [u8; 8],
    /// Members of the configuration.
    pub members: Vec<u32>,
    /// Tokens this node had received (without duplicates) at that moment.
    pub tokens: u64,
    /// This node's cumulative key-agreement compute time at that moment, in nanoseconds.
    pub compute_ns: u64,
}

struct ClusterKey {
    cipher: XChaCha20Poly1305,
    session: [u8; 16],
    next_counter: u64,
    windows: BTreeMap<u32, ([u8; 16], Window)>,
}

/// The secure layer of one node: key agreement, key slots and the envelope.
pub struct SecureNode {
    me: u32,
    gen: Generation,
    cfg: SecureConfig,
    member: Member,
    cluster: ClusterKey,
    slots: KeySlots,
    ring: Option<RingId>,
    members: Vec<u32>,
    last_agreed: Option<KeyEpoch>,
    pending: Option<KeyEpoch>,
    pending_fp: [u8; 8],
    active_fp: [u8; 8],
    ready: BTreeSet<u32>,
    switch_epoch: Option<KeyEpoch>,
    switched: BTreeSet<u32>,
    active_since: Option<Instant>,
    refresh_sent: bool,
    refresh_due: bool,
    outbox: VecDeque<Vec<u8>>,
    transitional: Option<Vec<u32>>,
    stats: SecureStats,
    notes: Vec<KeyNote>,
}

fn ring_of(r: &totem_wire::RingId) -> RingId {
    RingId {
        rep: r.rep_nodeid(),
        seq: r.seq,
    }
}

fn tokens(engine: &Engine) -> u64 {
    let s = engine.stats();
    s.orf_token_rx.saturating_sub(s.orf_token_dup)
}

/// Fingerprint of a group key: SHA-256("totem-secure fingerprint" ‖ epoch ‖ key)[..8].
pub fn fingerprint(key: &[u8; 32], epoch: &KeyEpoch) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(b"totem-secure fingerprint");
    h.update(epoch.to_bytes());
    h.update(key);
    let d = h.finalize();
    let mut f = [0u8; 8];
    f.copy_from_slice(&d[..8]);
    f
}

impl std::fmt::Debug for SecureNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureNode")
            .field("me", &self.me)
            .field("ring", &self.ring)
            .field("active", &self.slots.active_epoch())
            .field("pending", &self.pending)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl SecureNode {
    /// The layer of node `me` speaking generation `gen`; draws its session id and first
    /// leaf secret from `rng`.
    pub fn new<R: RngCore + CryptoRng>(
        me: u32,
        gen: Generation,
        cfg: SecureConfig,
        rng: &mut R,
    ) -> Result<Self, SecureError> {
        let creds = Credentials::from_authkey(&cfg.authkey)?;
        let hk = Hkdf::<Sha256>::new(Some(CLUSTER_SALT), &cfg.authkey);
        let mut ck = zeroize::Zeroizing::new([0u8; 32]);
        hk.expand(CLUSTER_INFO, ck.as_mut())
            .map_err(|_| SecureError::Aead(32))?;
        let mut session = [0u8; 16];
        session[..4].copy_from_slice(&me.to_be_bytes());
        rng.fill_bytes(&mut session[4..]);
        Ok(SecureNode {
            me,
            gen,
            member: Member::new(me, creds, rng),
            cluster: ClusterKey {
                cipher: XChaCha20Poly1305::new(ck.as_ref().into()),
                session,
                next_counter: 0,
                windows: BTreeMap::new(),
            },
            cfg,
            slots: KeySlots::default(),
            ring: None,
            members: Vec::new(),
            last_agreed: None,
            pending: None,
            pending_fp: [0; 8],
            active_fp: [0; 8],
            ready: BTreeSet::new(),
            switch_epoch: None,
            switched: BTreeSet::new(),
            active_since: None,
            refresh_sent: false,
            refresh_due: false,
            outbox: VecDeque::new(),
            transitional: None,
            stats: SecureStats::default(),
            notes: Vec::new(),
        })
    }

    /// Counters.
    pub fn stats(&self) -> SecureStats {
        self.stats
    }
    /// Epoch of the key this node sends with.
    pub fn active_epoch(&self) -> Option<KeyEpoch> {
        self.slots.active_epoch()
    }
    /// Fingerprint of the send key (see [`fingerprint`]; zero before the first key).
    pub fn active_fingerprint(&self) -> [u8; 8] {
        self.active_fp
    }
    /// Epoch and role of the second key slot.
    pub fn other_slot(&self) -> Option<(KeyEpoch, super::slots::Role)> {
        self.slots.other_epoch()
    }
    /// A key agreed but not yet switched to (waiting for every member's `Ready`).
    pub fn pending_epoch(&self) -> Option<KeyEpoch> {
        self.pending
    }
    /// Keys dropped from the second slot before they retired (a newer key arrived first).
    pub fn superseded(&self) -> u64 {
        self.slots.superseded
    }
    /// The key agreement state.
    pub fn member(&self) -> &Member {
        &self.member
    }
    /// Asks for a refresh of the group key as soon as this node may start one (only the
    /// designated refresher of the current epoch acts on it).
    pub fn request_refresh(&mut self) {
        if self.slots.active_epoch().is_some() {
            self.refresh_due = true;
        }
    }

    /// Takes the key events recorded since the last call.
    pub fn take_notes(&mut self) -> Vec<KeyNote> {
        std::mem::take(&mut self.notes)
    }

    /// Submits an application payload (framed) to the engine.
    pub fn submit(
        &mut self,
        engine: &mut Engine,
        payload: &[u8],
        guarantee: Guarantee,
    ) -> Result<(), crate::engine::Backpressure> {
        engine.submit(control::app(payload), guarantee)
    }

    /// The ring a datagram belongs to if it is ring traffic (token, multicast,
    /// token-hold-cancel); membership datagrams give `None`.
    fn ring_traffic(&self, bytes: &[u8]) -> Option<RingId> {
        match SrpMessage::parse(bytes, self.gen).ok()?.message {
            SrpMessage::OrfToken(t) => Some(ring_of(&t.ring_id)),
            SrpMessage::Mcast(m) => Some(ring_of(&m.ring_id)),
            SrpMessage::TokenHoldCancel(h) => Some(ring_of(&h.ring_id)),
            _ => None,
        }
    }

    /// Seals one datagram the engine emitted.
    pub fn seal(&mut self, bytes: &[u8]) -> Result<Vec<u8>, SecureError> {
        let ring = self.ring_traffic(bytes);
        if let (Some(r), Some(slot)) = (ring, self.slots.active()) {
            if slot.epoch.ring == r {
                let counter = slot.next_counter;
                slot.next_counter = counter
                    .checked_add(1)
                    .ok_or(SecureError::CounterExhausted("group key"))?;
                let h = Header {
                    sender: self.me,
                    key: envelope::group_id(&slot.epoch),
                    counter,
                };
                let out = envelope::seal_group(&slot.cipher, &h, bytes)
                    .ok_or(SecureError::Aead(bytes.len()))?;
                slot.packets += 1;
                self.stats.sealed_group += 1;
                self.check_volume();
                return Ok(out);
            }
        }
        let c = &mut self.cluster;
        let counter = c.next_counter;
        c.next_counter = counter
            .checked_add(1)
            .ok_or(SecureError::CounterExhausted("cluster key"))?;
        let h = Header {
            sender: self.me,
            key: KeyId::Cluster { session: c.session },
            counter,
        };
        let out =
            envelope::seal_cluster(&c.cipher, &h, bytes).ok_or(SecureError::Aead(bytes.len()))?;
        self.stats.sealed_cluster += 1;
        Ok(out)
    }

    /// Opens one received datagram; `None` when it is rejected (and counted).
    pub fn open(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        let Ok(v) = EnvelopeView::parse(bytes) else {
            self.stats.malformed += 1;
            return None;
        };
        let sender = v.header.sender;
        let counter = v.header.counter;
        match v.header.key {
            KeyId::Cluster { session } => {
                let c = &mut self.cluster;
                let w = match c.windows.get(&sender) {
                    Some((s, w)) if *s == session => *w,
                    _ => Window::default(),
                };
                if !w.fresh(counter) {
                    self.stats.replay += 1;
                    return None;
                }
                let Some(pt) = envelope::open_cluster(&c.cipher, &v) else {
                    self.stats.auth_failed += 1;
                    return None;
                };
                let mut w = w;
                w.mark(counter);
                c.windows.insert(sender, (session, w));
                self.stats.opened_cluster += 1;
                Some(pt)
            }
            KeyId::Group { rep, seq, epoch } => {
                let epoch = KeyEpoch {
                    ring: RingId { rep, seq },
                    epoch,
                };
                let current_ring = self.ring == Some(epoch.ring);
                let stale = self.slots.is_stale(&epoch);
                let Some(slot) = self.slots.find(&epoch) else {
                    if stale {
                        self.stats.stale_epoch += 1;
                    } else {
                        self.stats.unknown_key += 1;
                    }
                    if current_ring {
                        self.stats.switch_rejections += 1;
                        tracing::debug!(
                            node = self.me,
                            sender,
                            epoch = %Epoch(epoch),
                            active = %Opt(&epoch_of(self.slots.active_epoch())),
                            other = %Opt(&epoch_of(self.slots.other_epoch().map(|(e, _)| e))),
                            pending = %Opt(&epoch_of(self.pending)),
                            "switch rejection"
                        );
                    }
                    return None;
                };
                let w = slot.windows.get(&sender).copied().unwrap_or_default();
                if !w.fresh(counter) {
                    self.stats.replay += 1;
                    return None;
                }
                let Some(pt) = envelope::open_group(&slot.cipher, &v) else {
                    self.stats.auth_failed += 1;
                    if current_ring {
                        self.stats.switch_rejections += 1;
                    }
                    return None;
                };
                slot.windows.entry(sender).or_default().mark(counter);
                slot.packets += 1;
                self.stats.opened_group += 1;
                self.check_volume();
                Some(pt)
            }
        }
    }

    fn check_volume(&mut self) {
        if let (Some(limit), Some(slot)) = (self.cfg.rekey_packets, self.slots.active()) {
            if slot.packets >= limit && !self.refresh_sent {
                self.refresh_due = true;
            }
        }
    }

    /// Handles one engine event; returns what the application sees (configuration changes
    /// and application deliveries, unframed), consuming the layer's own messages.
    pub fn on_event<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ev: Event,
        engine: &mut Engine,
        rng: &mut R,
    ) -> Option<Event> {
        let out = match ev {
            Event::Config {
                kind: ConfigKind::Regular,
                ring_id,
                ref members,
                ..
            } => {
                let ring = ring_of(&ring_id);
                self.ring = Some(ring);
                self.members = members.clone();
                self.pending = None;
                self.ready.clear();
                self.switch_epoch = None;
                self.switched.clear();
                self.refresh_sent = false;
                self.refresh_due = false;
                self.outbox.clear();
                self.notes.push(KeyNote {
                    kind: KeyNoteKind::ConfigStart,
                    at: now,
                    epoch: KeyEpoch { ring, epoch: 0 },
                    fingerprint: [0; 8],
                    members: members.clone(),
                    tokens: tokens(engine),
                    compute_ns: self.stats.compute_ns,
                });
                // Members arriving from other rings (or restarted under the same nodeid) are
                // cut from our tree, so each subgroup announces a disjoint tree.
                if let Some(t) = self.transitional.take() {
                    if let Err(e) = self.member.transitional(&t) {
                        tracing::warn!(node = self.me, "transitional configuration refused: {e}");
                        self.stats.ka_errors += 1;
                    }
                }
                let cc = ConfigChange {
                    ring,
                    members: members.clone(),
                };
                let r = self.compute(|m| m.config_change(&cc, rng));
                if let Err(e) = self.queue_ka(r) {
                    tracing::warn!(node = self.me, "key agreement refused config: {e}");
                }
                self.check_new_key(now, engine);
                Some(ev)
            }
            Event::Config {
                kind: ConfigKind::Transitional,
                ref members,
                ..
            } => {
                // Old-ring messages delivered in the transitional configuration still apply
                // to the old tree; the tree is cut to these members at the regular one.
                self.transitional = Some(members.clone());
                Some(ev)
            }
            Event::Deliver {
                sender,
                payload,
                guarantee,
                ring_id,
                seq,
            } => match control::parse(&payload) {
                Ok(Control::App(p)) => Some(Event::Deliver {
                    sender,
                    payload: p.to_vec(),
                    guarantee,
                    ring_id,
                    seq,
                }),
                Ok(Control::KeyAgreement(m)) => {
                    let r = self.compute(|member| member.receive(m, rng));
                    if let Err(e) = self.queue_ka(r) {
                        tracing::debug!(node = self.me, "key agreement message refused: {e}");
                    }
                    self.check_new_key(now, engine);
                    None
                }
                Ok(Control::Ready(e)) => {
                    if self.pending == Some(e) {
                        self.ready.insert(sender);
                        self.maybe_activate(now, engine);
                    }
                    None
                }
                Ok(Control::Switched(e)) => {
                    if self.switch_epoch == Some(e) {
                        self.switched.insert(sender);
                        if self.members.iter().all(|m| self.switched.contains(m)) {
                            self.slots.arm_retire(now + self.cfg.retire_grace);
                            self.switch_epoch = None;
                        }
                    }
                    None
                }
                Err(_) => {
                    self.stats.bad_control += 1;
                    None
                }
            },
        };
        self.flush(engine);
        out
    }

    fn check_new_key(&mut self, now: Instant, engine: &Engine) {
        let Some(gk) = self.member.group_key() else {
            return;
        };
        if Some(gk.epoch) == self.last_agreed {
            return;
        }
        let epoch = gk.epoch;
        let tk = totem_keygen::kdf::traffic_key(&gk.key, &epoch);
        let fp = fingerprint(&tk, &epoch);
        self.slots.install_next(gk);
        self.last_agreed = Some(epoch);
        self.pending = Some(epoch);
        self.pending_fp = fp;
        self.ready.clear();
        self.stats.agreements += 1;
        self.notes.push(KeyNote {
            kind: KeyNoteKind::Agreed,
            at: now,
            epoch,
            fingerprint: fp,
            members: self.member.members().to_vec(),
            tokens: tokens(engine),
            compute_ns: self.stats.compute_ns,
        });
        self.outbox.push_back(control::ready(&epoch));
    }

    fn maybe_activate(&mut self, now: Instant, engine: &Engine) {
        let Some(e) = self.pending else { return };
        if !self.members.iter().all(|m| self.ready.contains(m)) {
            return;
        }
        if self.slots.activate(e) {
            self.pending = None;
            self.ready.clear();
            self.switch_epoch = Some(e);
            self.switched.clear();
            self.outbox.push_back(control::switched(&e));
            self.active_since = Some(now);
            self.refresh_sent = false;
            self.refresh_due = false;
            self.stats.activations += 1;
            let fp = self.pending_fp;
            self.active_fp = fp;
            self.notes.push(KeyNote {
                kind: KeyNoteKind::Activated,
                at: now,
                epoch: e,
                fingerprint: fp,
                members: self.members.clone(),
                tokens: tokens(engine),
                compute_ns: self.stats.compute_ns,
            });
        }
    }

    /// Submits queued layer messages to the engine (they wait if its queue is full).
    fn flush(&mut self, engine: &mut Engine) {
        while let Some(m) = self.outbox.pop_front() {
            if let Err(e) = engine.submit(m.clone(), Guarantee::Agreed) {
                tracing::debug!(node = self.me, "key message waits: {e}");
                self.outbox.push_front(m);
                break;
            }
        }
    }

    /// Whether this node is the one to start the next refresh.
    fn is_refresher(&self) -> bool {
        let Some(e) = self.slots.active_epoch() else {
            return false;
        };
        let n = self.members.len();
        n > 0
            && Some(e.ring) == self.ring
            && self.members[(e.epoch as usize).wrapping_add(1) % n] == self.me
    }

    fn can_refresh(&self) -> bool {
        !self.refresh_sent
            && self.pending.is_none()
            // The previous key must have retired first: the refresh installs a key in the
            // second slot, and members that switched later may still be using the old one.
            && !self.slots.retiring()
            && !self.member.in_progress()
            && self.is_refresher()
    }

    /// The next instant at which [`Self::handle_timeout`] must run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retire = self.slots.retire_deadline();
        if !self.can_refresh() {
            return retire;
        }
        let since = self.active_since?;
        let due = if self.refresh_due {
            Some(since)
        } else {
            self.cfg.rekey_interval.map(|iv| since + iv)
        };
        match (retire, due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Submits layer messages that waited for room in the engine's send queue; call after
    /// feeding the engine a datagram.
    pub fn pump(&mut self, engine: &mut Engine) {
        if !self.outbox.is_empty() {
            self.flush(engine);
        }
    }

    /// Runs one step of the key agreement, adding its time to `compute_ns`.
    fn compute<T>(&mut self, step: impl FnOnce(&mut Member) -> T) -> T {
        let t0 = Instant::now();
        let r = step(&mut self.member);
        self.stats.compute_ns += t0.elapsed().as_nanos() as u64;
        r
    }

    /// Queues the key-agreement messages a step produced (sent when the token comes); a
    /// refused step is counted in `ka_errors` and handed back for the caller to log.
    fn queue_ka(
        &mut self,
        r: Result<Vec<Vec<u8>>, totem_keygen::AgreementError>,
    ) -> Result<(), totem_keygen::AgreementError> {
        match r {
            Ok(msgs) => {
                self.outbox
                    .extend(msgs.iter().map(|m| control::key_agreement(m)));
                Ok(())
            }
            Err(e) => {
                self.stats.ka_errors += 1;
                Err(e)
            }
        }
    }

    /// Retires old keys and starts a refresh when one is due.
    pub fn handle_timeout<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        engine: &mut Engine,
        rng: &mut R,
    ) {
        self.slots.expire(now);
        let by_time = matches!(
            (self.cfg.rekey_interval, self.active_since),
            (Some(iv), Some(since)) if now >= since + iv
        );
        if (by_time || self.refresh_due) && self.can_refresh() {
            let r = self.compute(|m| m.start_refresh(rng));
            if let Some(e) = self.slots.active_epoch() {
                self.notes.push(KeyNote {
                    kind: KeyNoteKind::RefreshStart,
                    at: now,
                    epoch: e,
                    fingerprint: [0; 8],
                    members: self.members.clone(),
                    tokens: tokens(engine),
                    compute_ns: self.stats.compute_ns,
                });
            }
            match r {
                Ok(Some(m)) => self.outbox.push_back(control::key_agreement(&m)),
                Ok(None) => self.check_new_key(now, engine),
                Err(e) => {
                    tracing::debug!(node = self.me, "refresh not started: {e}");
                    self.stats.ka_errors += 1;
                }
            }
            self.refresh_sent = true;
            self.stats.refreshes_started += 1;
        }
        if self.refresh_due && !self.is_refresher() {
            self.refresh_due = false;
        }
        self.flush(engine);
    }
}
