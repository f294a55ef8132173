//! The per-member key agreement state machine driven by configuration changes and by the
//! key-agreement messages delivered in agreed order.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::{CryptoRng, RngCore};
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::auth::Credentials;
use crate::error::AgreementError;
use crate::ids::{ConfigChange, KeyEpoch, NodeId, RingId, MAX_MEMBERS};
use crate::kdf;
use crate::tree::Tree;
use crate::wire::{Body, Message};

/// An agreed group key and the key epoch it belongs to.
#[derive(Clone)]
pub struct GroupKey {
    /// Ring and refresh counter.
    pub epoch: KeyEpoch,
    /// 32-byte group key (input of the traffic key derivation).
    pub key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupKey")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// Counts of the public-key operations a member performed (for benchmarks and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpStats {
    /// X25519 Diffie-Hellman operations (node secret derivations).
    pub dh: u64,
    /// Fixed-base scalar multiplications (blinded keys).
    pub basepoint: u64,
}

#[derive(Clone)]
enum Phase {
    /// No agreement running (a key exists unless the member never completed one).
    Idle,
    /// Waiting for the tree announcements of every subgroup of the new configuration.
    Exchange {
        trees: Vec<Tree>,
        covered: BTreeSet<NodeId>,
    },
    /// Sponsor rounds after the tree shape is known.
    Rounds {
        round: u16,
        expected: BTreeSet<NodeId>,
        received: BTreeSet<NodeId>,
    },
}

#[derive(Clone)]
struct Pending {
    kind: u8,
    tag: u32,
    secrets: Vec<(usize, StaticSecret)>,
}

/// One member's view of the group key agreement.
#[derive(Clone)]
pub struct Member {
    id: NodeId,
    creds: Credentials,
    tree: Tree,
    phase: Phase,
    ring: RingId,
    members: Vec<NodeId>,
    key: Option<GroupKey>,
    pending: Option<Pending>,
    stats: OpStats,
}

fn random_secret<R: RngCore + CryptoRng>(rng: &mut R) -> StaticSecret {
    StaticSecret::random_from_rng(rng)
}

impl Member {
    /// A fresh member that belongs to no group yet; it draws its first leaf secret.
    pub fn new<R: RngCore + CryptoRng>(id: NodeId, creds: Credentials, rng: &mut R) -> Self {
        let s = random_secret(rng);
        let bk = kdf::blind(&s);
        Member {
            id,
            creds,
            tree: Tree::singleton(id, s, bk),
            phase: Phase::Idle,
            ring: RingId::default(),
            members: vec![id],
            key: None,
            pending: None,
            stats: OpStats {
                dh: 0,
                basepoint: 1,
            },
        }
    }

    /// This member's nodeid.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The most recently agreed group key.
    pub fn group_key(&self) -> Option<&GroupKey> {
        self.key.as_ref()
    }

    /// Whether an agreement is still running.
    pub fn in_progress(&self) -> bool {
        !matches!(self.phase, Phase::Idle)
    }

    /// Operation counters since creation.
    pub fn stats(&self) -> OpStats {
        self.stats
    }

    /// The current key tree (blinded keys are public; secrets are this member's path).
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The member list of the current configuration.
    pub fn members(&self) -> &[NodeId] {
        &self.members
    }

    /// Starts the agreement for a new configuration; returns the messages to broadcast.
    pub fn config_change<R: RngCore + CryptoRng>(
        &mut self,
        cfg: &ConfigChange,
        rng: &mut R,
    ) -> Result<Vec<Vec<u8>>, AgreementError> {
        if cfg.members.is_empty() || cfg.members.len() > MAX_MEMBERS {
            return Err(AgreementError::BadConfig("member count out of range"));
        }
        let keep: BTreeSet<NodeId> = cfg.members.iter().copied().collect();
        if keep.len() != cfg.members.len() {
            return Err(AgreementError::BadConfig("duplicate nodeid in member list"));
        }
        if !keep.contains(&self.id) {
            return Err(AgreementError::BadConfig("own nodeid not in member list"));
        }
        self.pending = None;
        self.ring = cfg.ring;
        self.members = cfg.members.clone();
        self.tree.prune(&keep);
        let mine: BTreeSet<NodeId> = self.tree.members().into_iter().collect();
        if mine == keep {
            if self.tree.nodes.iter().all(|n| n.bk.is_some()) {
                // No membership change: the rightmost member still refreshes.
                self.tree.flag_sponsor(Tree::ROOT);
            }
            return self.start_rounds(rng);
        }
        self.phase = Phase::Exchange {
            trees: Vec::new(),
            covered: BTreeSet::new(),
        };
        if self.tree.rightmost_member(Tree::ROOT) == self.id {
            let msg = Message {
                sender: self.id,
                ring: self.ring,
                epoch: 0,
                round: 0,
                body: Body::TreeAnnounce(self.tree.to_wire()),
            };
            return Ok(vec![self.creds.seal_message(&msg)?]);
        }
        Ok(Vec::new())
    }

    /// Restricts the key tree to the members of an EVS transitional configuration: the members
    /// that come from this member's previous configuration and so hold the same tree. Call it
    /// before the regular configuration that follows; it sends nothing. Without it, a member
    /// that missed configurations (a stalled node, or one whose peer restarted under the same
    /// nodeid) would announce a tree that overlaps the other subgroups' trees.
    pub fn transitional(&mut self, members: &[NodeId]) -> Result<(), AgreementError> {
        let keep: BTreeSet<NodeId> = members.iter().copied().collect();
        if !keep.contains(&self.id) {
            return Err(AgreementError::BadConfig("own nodeid not in member list"));
        }
        self.pending = None;
        self.tree.prune(&keep);
        Ok(())
    }

    /// Starts a periodic refresh of this member's leaf; returns the message to broadcast
    /// (none for a one-member group, whose key changes at once).
    pub fn start_refresh<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
    ) -> Result<Option<Vec<u8>>, AgreementError> {
        let Some(cur) = self.key.as_ref().map(|k| k.epoch) else {
            return Err(AgreementError::Busy);
        };
        if self.in_progress() {
            return Err(AgreementError::Busy);
        }
        if self.tree.nodes.len() == 1 {
            let s = random_secret(rng);
            self.tree.nodes[0].bk = Some(self.blind(&s));
            self.tree.nodes[0].secret = Some(s);
            self.finish(cur.epoch.wrapping_add(1))?;
            return Ok(None);
        }
        let (entries, secrets) = self.sponsor_path(rng, true)?;
        self.pending = Some(Pending {
            kind: 3,
            tag: cur.epoch,
            secrets,
        });
        let msg = Message {
            sender: self.id,
            ring: self.ring,
            epoch: cur.epoch,
            round: 0,
            body: Body::Refresh(entries),
        };
        Ok(Some(self.creds.seal_message(&msg)?))
    }

    /// Handles one delivered key-agreement message (including this member's own);
    /// returns the messages to broadcast next.
    pub fn receive<R: RngCore + CryptoRng>(
        &mut self,
        bytes: &[u8],
        rng: &mut R,
    ) -> Result<Vec<Vec<u8>>, AgreementError> {
        let msg = self.creds.open_message(bytes)?;
        if msg.ring != self.ring {
            return Err(AgreementError::WrongRing {
                got_rep: msg.ring.rep,
                got_seq: msg.ring.seq,
                want_rep: self.ring.rep,
                want_seq: self.ring.seq,
            });
        }
        let sender = msg.sender;
        let kind = msg.body.name();
        let unexpected = |reason| AgreementError::Unexpected {
            kind,
            sender,
            reason,
        };
        match msg.body {
            Body::TreeAnnounce(list) => {
                let Phase::Exchange { trees, covered } = &mut self.phase else {
                    return Err(unexpected("no tree exchange in progress"));
                };
                let t = Tree::from_wire(&list);
                if t.rightmost_member(Tree::ROOT) != sender {
                    return Err(unexpected("sender is not the rightmost member of its tree"));
                }
                let ms = t.members();
                let cfg: BTreeSet<NodeId> = self.members.iter().copied().collect();
                if ms.iter().any(|m| !cfg.contains(m) || covered.contains(m)) {
                    return Err(AgreementError::Inconsistent {
                        sender,
                        reason: "announced tree overlaps another or leaves the configuration",
                    });
                }
                let t = if ms.contains(&self.id) {
                    if list != self.tree.to_wire() {
                        return Err(AgreementError::Inconsistent {
                            sender,
                            reason: "announced tree differs from our own subgroup tree",
                        });
                    }
                    self.tree.clone()
                } else {
                    t
                };
                covered.extend(ms);
                trees.push(t);
                if covered.len() == cfg.len() {
                    let trees = std::mem::take(trees);
                    self.merge(trees);
                    return self.start_rounds(rng);
                }
                Ok(Vec::new())
            }
            Body::PathUpdate(entries) => {
                let Phase::Rounds {
                    round,
                    expected,
                    received,
                } = &mut self.phase
                else {
                    return Err(unexpected("no sponsor round in progress"));
                };
                if msg.round != *round {
                    return Err(unexpected("wrong round number"));
                }
                if !expected.contains(&sender) || received.contains(&sender) {
                    return Err(unexpected("sender is not a sponsor of this round"));
                }
                received.insert(sender);
                let done = received.len() == expected.len();
                self.apply_entries(sender, &entries, false)?;
                if sender == self.id {
                    self.install_pending(2, msg.round as u32)?;
                }
                if done {
                    return self.next_round(rng);
                }
                Ok(Vec::new())
            }
            Body::Refresh(entries) => {
                let Some(cur) = self.key.as_ref().map(|k| k.epoch.epoch) else {
                    return Err(unexpected("no group key to refresh"));
                };
                if self.in_progress() {
                    return Err(unexpected("agreement in progress"));
                }
                if msg.epoch != cur {
                    if sender == self.id {
                        self.pending = None;
                    }
                    return Err(AgreementError::StaleRefresh {
                        sender,
                        based_on: msg.epoch,
                        current: cur,
                    });
                }
                self.apply_entries(sender, &entries, true)?;
                if sender == self.id {
                    self.install_pending(3, msg.epoch)?;
                }
                self.compute_path()?;
                self.finish(cur.wrapping_add(1))?;
                Ok(Vec::new())
            }
        }
    }

    fn blind(&mut self, s: &StaticSecret) -> [u8; 32] {
        self.stats.basepoint += 1;
        kdf::blind(s)
    }

    fn my_leaf(&self) -> Result<usize, AgreementError> {
        self.tree
            .find_leaf(self.id)
            .ok_or(AgreementError::BadConfig("own leaf missing from tree"))
    }

    fn merge(&mut self, mut trees: Vec<Tree>) {
        let pos: BTreeMap<NodeId, usize> = self
            .members
            .iter()
            .enumerate()
            .map(|(i, &m)| (m, i))
            .collect();
        let first_pos = |t: &Tree| {
            t.members()
                .iter()
                .filter_map(|m| pos.get(m).copied())
                .min()
                .unwrap_or(usize::MAX)
        };
        trees.sort_by_key(|t| (std::cmp::Reverse(t.members().len()), first_pos(t)));
        let mut it = trees.into_iter();
        let Some(mut base) = it.next() else { return };
        for t in it {
            let hs = t.heights()[Tree::ROOT];
            let n = base.insertion_point(hs);
            base.insert(n, t);
        }
        self.tree = base;
    }

    fn start_rounds<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
    ) -> Result<Vec<Vec<u8>>, AgreementError> {
        if self.tree.nodes.len() == 1 {
            // Alone: refresh locally, nothing to broadcast.
            if self.tree.nodes[0].bk.is_none() || self.tree.nodes[0].secret.is_none() {
                let s = random_secret(rng);
                self.tree.nodes[0].bk = Some(self.blind(&s));
                self.tree.nodes[0].secret = Some(s);
            }
            self.phase = Phase::Idle;
            self.finish(0)?;
            return Ok(Vec::new());
        }
        self.phase = Phase::Rounds {
            round: 0,
            expected: BTreeSet::new(),
            received: BTreeSet::new(),
        };
        self.next_round(rng)
    }

    fn next_round<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
    ) -> Result<Vec<Vec<u8>>, AgreementError> {
        self.compute_path()?;
        if self.tree.ready_for_root() {
            self.phase = Phase::Idle;
            self.finish(0)?;
            return Ok(Vec::new());
        }
        let sponsors = self.tree.round_sponsors();
        if sponsors.is_empty() {
            return Err(AgreementError::Inconsistent {
                sender: self.id,
                reason: "no sponsor can make progress",
            });
        }
        let Phase::Rounds { round, .. } = self.phase else {
            return Err(AgreementError::BadConfig("not in sponsor rounds"));
        };
        let round = round.wrapping_add(1);
        let me = sponsors.contains(&self.id);
        self.phase = Phase::Rounds {
            round,
            expected: sponsors,
            received: BTreeSet::new(),
        };
        if !me {
            return Ok(Vec::new());
        }
        let (entries, secrets) = self.sponsor_path(rng, false)?;
        self.pending = Some(Pending {
            kind: 2,
            tag: round as u32,
            secrets,
        });
        let msg = Message {
            sender: self.id,
            ring: self.ring,
            epoch: 0,
            round,
            body: Body::PathUpdate(entries),
        };
        Ok(vec![self.creds.seal_message(&msg)?])
    }

    /// Computes what this member broadcasts as sponsor: a new leaf if it is waiting for a
    /// refresh (or `force_refresh`), then every stale node up the path whose sibling is
    /// resolved, stopping below the root.
    #[allow(clippy::type_complexity)]
    fn sponsor_path<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        force_refresh: bool,
    ) -> Result<(Vec<(u16, [u8; 32])>, Vec<(usize, StaticSecret)>), AgreementError> {
        let leaf = self.my_leaf()?;
        let mut entries = Vec::new();
        let mut secrets = Vec::new();
        let mut cur = if force_refresh || self.tree.nodes[leaf].bk.is_none() {
            let s = random_secret(rng);
            let bk = self.blind(&s);
            entries.push((leaf as u16, bk));
            secrets.push((leaf, s.clone()));
            s
        } else {
            self.tree.nodes[leaf]
                .secret
                .clone()
                .ok_or(AgreementError::BadConfig("own leaf secret missing"))?
        };
        let changed_from_leaf = !entries.is_empty();
        let mut c = leaf;
        while let Some(p) = self.tree.nodes[c].parent {
            if p == Tree::ROOT {
                break;
            }
            if self.tree.nodes[p].bk.is_some() && !changed_from_leaf {
                cur = self.tree.nodes[p]
                    .secret
                    .clone()
                    .ok_or(AgreementError::BadConfig("path secret missing"))?;
                c = p;
                continue;
            }
            let Some(sib) = self.tree.sibling(c) else {
                break;
            };
            let Some(sbk) = self.tree.nodes[sib].bk else {
                break;
            };
            let s = match (&self.tree.nodes[p].secret, changed_from_leaf) {
                (Some(s), false) => s.clone(),
                _ => {
                    self.stats.dh += 1;
                    kdf::node_secret(&cur, &sbk)?
                }
            };
            let bk = self.blind(&s);
            entries.push((p as u16, bk));
            secrets.push((p, s.clone()));
            cur = s;
            c = p;
        }
        Ok((entries, secrets))
    }

    /// Checks that `entries` are consecutive nodes on `sender`'s path (a refresh must
    /// cover the whole path below the root) and stores their blinded keys.
    fn apply_entries(
        &mut self,
        sender: NodeId,
        entries: &[(u16, [u8; 32])],
        refresh: bool,
    ) -> Result<(), AgreementError> {
        let bad = |reason| AgreementError::Inconsistent { sender, reason };
        let leaf = self
            .tree
            .find_leaf(sender)
            .ok_or(bad("sender has no leaf in the tree"))?;
        let path = self.tree.path(leaf);
        let first = entries.first().ok_or(bad("empty path"))?.0 as usize;
        let start = path
            .iter()
            .position(|&i| i == first)
            .ok_or(bad("entry not on the sender's path"))?;
        if refresh && (start != 0 || entries.len() + 1 != path.len()) {
            return Err(bad("refresh must cover the leaf-to-root path"));
        }
        for (k, (idx, _)) in entries.iter().enumerate() {
            let want = path.get(start + k).copied();
            if want != Some(*idx as usize) || *idx as usize == Tree::ROOT {
                return Err(bad("entries are not consecutive non-root path nodes"));
            }
            if !refresh && self.tree.nodes[*idx as usize].bk.is_some() {
                return Err(bad("entry for a node that is already resolved"));
            }
        }
        if refresh {
            // Every node on the sender's path changes, the root included.
            for &i in &path {
                self.tree.nodes[i].secret = None;
                self.tree.nodes[i].bk = None;
            }
        }
        for (idx, bk) in entries {
            let i = *idx as usize;
            let n = &self.tree.nodes[i];
            if n.leaf.is_none() && !(self.tree.resolved(n.left) && self.tree.resolved(n.right)) {
                return Err(bad("blinded key for a node with a stale child"));
            }
            self.tree.nodes[i].bk = Some(*bk);
        }
        Ok(())
    }

    fn install_pending(&mut self, kind: u8, tag: u32) -> Result<(), AgreementError> {
        let p = self.pending.take().ok_or(AgreementError::BadConfig(
            "own message delivered without pending secrets",
        ))?;
        if p.kind != kind || p.tag != tag {
            return Err(AgreementError::BadConfig(
                "own message does not match pending secrets",
            ));
        }
        for (i, s) in p.secrets {
            self.tree.nodes[i].secret = Some(s);
        }
        Ok(())
    }

    /// Computes this member's path secrets upward as far as the known blinded keys allow.
    fn compute_path(&mut self) -> Result<(), AgreementError> {
        let leaf = self.my_leaf()?;
        let Some(mut cur) = self.tree.nodes[leaf].secret.clone() else {
            return Ok(());
        };
        let mut c = leaf;
        while let Some(p) = self.tree.nodes[c].parent {
            if let Some(s) = &self.tree.nodes[p].secret {
                cur = s.clone();
                c = p;
                continue;
            }
            let Some(sib) = self.tree.sibling(c) else {
                break;
            };
            let Some(sbk) = self.tree.nodes[sib].bk else {
                break;
            };
            self.stats.dh += 1;
            let s = kdf::node_secret(&cur, &sbk)?;
            self.tree.nodes[p].secret = Some(s.clone());
            cur = s;
            c = p;
        }
        Ok(())
    }

    /// Derives the group key from the root secret and records the root's blinded key.
    fn finish(&mut self, epoch: u32) -> Result<(), AgreementError> {
        let root = self.tree.nodes[Tree::ROOT]
            .secret
            .clone()
            .ok_or(AgreementError::BadConfig("root secret not computable"))?;
        if self.tree.nodes[Tree::ROOT].bk.is_none() {
            let bk = self.blind(&root);
            self.tree.nodes[Tree::ROOT].bk = Some(bk);
        }
        let epoch = KeyEpoch {
            ring: self.ring,
            epoch,
        };
        self.key = Some(GroupKey {
            epoch,
            key: kdf::group_key(&self.creds.cluster, &root, &epoch),
        });
        self.phase = Phase::Idle;
        Ok(())
    }
}
