//! Interoperability gateways built on `totem_wire` and `totem`.
//!
//! [`upgrade`] is the rolling-upgrade gateway's core: it stands beside one corosync 3
//! daemon in a ring of corosync 2 daemons and rewrites every datagram between the two
//! generations through the cluster's address book (`totem_wire::retarget`), so the ring
//! stays one G2 ring on the wire while nodes move to 3.x one by one. It is sans-IO: a
//! driver (or the simulator, [`sim`]) hands it datagrams and sends what it returns.

pub mod bridge;
pub mod conf;
pub mod knet_hosts;
pub mod metrics;
pub mod order;
pub mod plan;
pub mod run;
pub mod sim;
pub mod upgrade;
