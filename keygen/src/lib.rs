//! Contributory group key agreement for Totem rings: a TGDH key tree (Kim, Perrig and
//! Tsudik, "Tree-based Group Key Agreement") over X25519 with HKDF-SHA256, rekeyed on every
//! configuration change, plus ChaCha20-Poly1305 traffic keys derived per (ring id, epoch).
//!
//! # Why TGDH
//! The ring already gives virtual synchrony: every member sees the same configuration
//! change and the same totally ordered messages. TGDH needs exactly that and nothing else:
//! every member computes the same tree shape and the same sponsors from public state, so no
//! extra rounds are needed to elect anyone, and each member does O(log n) DH operations per
//! change. TreeKEM (MLS) would need a delivery service ordering commits and per-member
//! HPKE encryption of path secrets; Totem already orders, so TGDH's broadcast blinded keys
//! are simpler and fully contributory (every member's leaf feeds the root).
//!
//! # Tree
//! Each leaf is a member's ephemeral X25519 secret `k`; its blinded key is `k·G`. An internal
//! node's secret is `HKDF-SHA256(salt="totem-keygen tgdh v1", ikm=X25519(k_left, bk_right),
//! info="node secret")` read as an X25519 scalar (equal to `X25519(k_right, bk_left)`).
//! The group key of key epoch `e` is `HKDF(salt=HKDF(authkey), ikm=root secret,
//! info="totem-keygen group key" ‖ ring rep ‖ ring seq ‖ e)`, so it also depends on the
//! cluster authkey. See [`kdf`] for every label.
//!
//! # Protocol (driven by [`Member`])
//! 1. Configuration change (ordered member list `L`, ring id): every member removes the
//!    leaves not in `L` from its tree. For each removed leaf, its sibling takes the parent's
//!    place and the rightmost leaf under that sibling becomes a *sponsor* (must refresh).
//! 2. If `L` is not exactly the leaves of its tree (join or merge), each subgroup's
//!    rightmost member broadcasts its pruned tree (shape and blinded keys). A fresh node is a
//!    one-leaf subgroup. Once the announced trees cover `L`, everyone merges them the same
//!    way: largest first (ties: earliest member in `L`), each next tree inserted at the
//!    shallowest-then-rightmost node `N` where `depth(N)+1+max(height(N), height(T))` does not
//!    exceed the height, else at the root; the rightmost leaf under `N` becomes a sponsor.
//!    If nothing changed at all, the rightmost leaf of the tree is the sponsor.
//! 3. Rounds: the sponsors of a round are the owners of leaves that must refresh, and the
//!    rightmost member under each stale non-root node whose two children are resolved. Each
//!    sponsor broadcasts the blinded keys it can compute along its path (below the root).
//!    When every non-root node is resolved, every member computes the root. A join or a
//!    single leave takes one round; a merge one announcement round plus usually one round;
//!    scattered partitions take at most the tree height.
//! 4. Periodic refresh: any member may broadcast a new leaf and path (epoch + 1); a refresh
//!    computed on an epoch that is no longer current loses the race and is rejected.
//!
//! A configuration change that arrives mid-agreement is handled: stale nodes and pending
//! refreshes are part of the shared state that virtual synchrony keeps identical.
//!
//! # Authentication
//! See [`auth`]: HMAC-SHA256 under an HKDF of the cluster authkey on every message, and
//! optional per-node Ed25519 signatures (both implemented). Wire format: [`wire`].
//!
//! # Traffic
//! See [`traffic`]: keys per (ring id, epoch), nonce = sender nodeid ‖ per-sender counter,
//! current and previous key slots, counted rejections.

pub mod auth;
pub mod error;
pub mod ids;
pub mod kdf;
pub mod keyfile;
pub mod member;
pub mod traffic;
pub mod tree;
pub mod wire;

pub use auth::Credentials;
pub use error::{AgreementError, KeyError, OpenError, SealError, WireError};
pub use ids::{ConfigChange, KeyEpoch, NodeId, RingId, MAX_MEMBERS};
pub use member::{GroupKey, Member, OpStats};
pub use traffic::{RxStats, TrafficKeys};
