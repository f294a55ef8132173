//! What a simulation records for the checker: every node incarnation's events, what each
//! received on the wire, and every submitted message.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::engine::{Event, Guarantee};

/// Identity of a simulated message: a counter written in the first 8 payload bytes.
pub type MsgId = u64;

/// Reads the message id of a simulator payload.
pub fn msg_id(payload: &[u8]) -> Option<MsgId> {
    let b: [u8; 8] = payload.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// One incarnation of a node, from start to crash, leave or the end of the run.
#[derive(Debug, Clone, Default)]
pub struct Life {
    pub nodeid: u32,
    pub incarnation: u32,
    pub started: Duration,
    /// When it crashed or left; `None` if alive at the end.
    pub ended: Option<Duration>,
    pub events: Vec<(Duration, Event)>,
    /// First time each message reached this node (its own sends count at send time).
    pub received: BTreeMap<MsgId, Duration>,
}

/// A message handed to `submit`.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub life: usize,
    pub sender: u32,
    pub at: Duration,
    pub guarantee: Guarantee,
}

/// Everything the checker needs.
#[derive(Debug, Clone, Default)]
pub struct Log {
    pub lives: Vec<Life>,
    pub submitted: BTreeMap<MsgId, Submitted>,
    /// Datagrams the engines emitted that `totem_wire` could not parse.
    pub unparseable: Vec<String>,
}
