//! cman compatibility on top of Totem: a driver for the `corosync-vqsim` simulator used to
//! differential-test totem's votequorum engine ([`totem::quorum`]), `cman_tool` views and the
//! `cluster.conf` migration.

pub mod cmantool;
pub mod migrate;
pub mod vqsim;
