//! The real-socket side of the engine: udpu and udp transports over tokio, the datagram
//! envelope, and the node task that drives an [`Engine`](crate::Engine).

pub mod core;
pub mod envelope;
pub mod knet;
pub mod member;
pub mod mmsg;
pub mod node;
pub mod transport;
pub mod transport_config;
pub mod watch;

pub use self::core::{Core, Dest, Flow, NetControl, Outgoing, TransportRequest};
pub use envelope::Envelope;
pub use member::Member;
pub use node::{
    drive, drive_rings, spawn, spawn_watched, Command, DriveOptions, DriverStats, KeySlotStatus,
    Net, NodeError, NodeHandle, RekeyStep, SecureStatus, Status, QUEUE_BYTES,
};
pub use transport::Transport;
pub use transport_config::TransportConfig;
pub use watch::DeliveryWatch;
