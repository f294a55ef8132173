//! Shared helpers for the cross-crate and live interop tests in `tests/tests/`: network
//! namespaces with a bridge ([`netns::Lab`]) and real corosync daemons in them
//! ([`corosync::Corosync`]), our own totem-node rings ([`ring::Ring`]) and the load message
//! both CPG load clients share ([`load`]). Every wait is bounded; everything is torn down on
//! drop.

pub mod cman;
pub mod corosync;
pub mod load;
pub mod mixed_lab;
pub mod mrp_lab;
pub mod netns;
pub mod oldcs;
pub mod oldcs1;
pub mod quorum_lab;
pub mod ring;
pub mod upgrade;
pub mod wait;
