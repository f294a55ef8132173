//! The Redundant Ring Protocol of corosync 1.x and 2.x (Koch, Moser, Melliar-Smith, 2002, as
//! exec/totemrrp.c runs it): one Totem ring over two networks, in passive or active mode,
//! with per-ring failure detection, FAULTY marking and automatic recovery by ring tests.

mod settings;

pub use settings::{RingInterface, RrpMode, RrpSettings};
