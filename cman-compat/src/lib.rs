//! cman compatibility: votequorum/cman quorum semantics (a pure engine), a driver for the
//! `corosync-vqsim` simulator used to differential-test it, and (later) `cman_tool` views.

pub mod quorum;
pub mod vqsim;
