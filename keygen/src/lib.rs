//! Contributory group key agreement (TGDH over X25519) with rekeying on membership change.

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
