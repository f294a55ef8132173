//! totempg: the layer that packs application messages into Totem mcasts, fragments the large
//! ones and reassembles them per sender (spec §5.1).

pub mod fragmenter;
pub mod packet;
pub mod reassembly;

pub use fragmenter::Fragmenter;
pub use packet::{Packet, PacketView};
pub use reassembly::{Reassembler, ReassemblyStats};

/// Largest reassembled message corosync accepts (MESSAGE_SIZE_MAX, 1 MiB).
pub const MESSAGE_SIZE_MAX: usize = 1024 * 1024;
