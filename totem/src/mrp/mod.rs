//! The Totem multiple-ring protocol (Agarwal, Moser, Melliar-Smith, Budhia, ACM TOCS 16(2),
//! 1998): rings joined by gateways, one global total order across them.
//!
//! [`order`] is what every node runs above its ring (keys, waiting for every origin, ring
//! configurations in the global order); [`port`] is one side of a gateway (forwarding,
//! nulls that keep idle rings advancing, origins attached and detached, selective
//! forwarding by group). Both are sans-IO. The elements are `totem_wire::mrp`. The
//! simulator of joined rings is `crate::sim::rings`.

pub mod order;
pub mod port;

pub use order::{Delivery, Orderer, Refusal};
pub use port::{LinkMsg, Port, PortStats};

#[cfg(test)]
mod tests;
