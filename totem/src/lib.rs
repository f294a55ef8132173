//! The Totem single-ring ordering and membership protocol (Amir et al., TOCS 1995) as
//! corosync runs it, as a sans-IO state machine ([`Engine`]), with a deterministic network
//! simulator and an Extended Virtual Synchrony checker ([`sim`]).

pub mod base64;
pub mod config;
pub mod control;
pub mod corosync_conf;
pub mod cpg;
pub mod driver;
pub mod engine;
pub mod knet;
pub mod logfmt;
pub mod member;
pub mod mrp;
pub mod node_config;
pub mod quorum;
pub mod ratelimit;
pub mod rrp;
pub mod secure;
pub mod sim;
pub mod sync;

pub use config::Config;
pub use engine::{
    Backpressure, ConfigKind, Dest, Engine, Event, Guarantee, State, Stats, Transmit,
};
pub use member::Member;
