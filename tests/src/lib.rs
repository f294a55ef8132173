//! Shared helpers for the cross-crate and live interop tests in `tests/tests/`: network
//! namespaces with a bridge ([`netns::Lab`]) and real corosync daemons in them
//! ([`corosync::Corosync`]). Every wait is bounded; everything is torn down on drop.

pub mod corosync;
pub mod netns;
pub mod wait;
