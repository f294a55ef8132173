//! The real-socket side of the engine: udpu and udp transports over tokio, the datagram
//! envelope, and the node task that drives an [`Engine`](crate::Engine).

pub mod envelope;
pub mod knet;
pub mod mmsg;
pub mod node;
pub mod transport;
pub mod transport_config;
pub mod watch;

pub use envelope::Envelope;
pub use node::{
    spawn, spawn_watched, Command, DriverStats, KeySlotStatus, NodeError, NodeHandle, RekeyStep,
    SecureStatus, Status, QUEUE_BYTES,
};
pub use transport::Transport;
pub use transport_config::TransportConfig;
pub use watch::DeliveryWatch;
