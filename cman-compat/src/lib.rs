//! cman compatibility: votequorum/cman quorum semantics (a pure engine), a driver for the
//! `corosync-vqsim` simulator used to differential-test it, `cman_tool` views and the
//! `cluster.conf` migration.

pub mod cmantool;
pub mod corosync_conf;
pub mod migrate;
pub mod quorum;
pub mod vqsim;
