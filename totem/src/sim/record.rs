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
    /// Secure-layer recording (empty unless the run is secure).
    pub secure: SecureLog,
}

/// One key event of a life in a secure run.
#[derive(Debug, Clone)]
pub struct SecureNote {
    pub life: usize,
    pub nodeid: u32,
    pub at: Duration,
    pub note: crate::secure::KeyNote,
}

/// What a secure run records: key events, wire audit failures and per-life counters.
#[derive(Debug, Clone, Default)]
pub struct SecureLog {
    pub notes: Vec<SecureNote>,
    /// Datagrams on the simulated wire that were not a sealed envelope (must stay empty).
    pub unsealed: Vec<String>,
    /// Datagrams put on the wire, all sealed.
    pub sealed_on_wire: u64,
    /// Counters of each life, taken when it ends (or at the end of the run).
    pub stats: Vec<(usize, crate::secure::SecureStats)>,
    /// Of the authentication failures and key-switch rejections in `stats`, those of the
    /// attacker's datagrams (expected; the check counts only the rest).
    pub forged_auth_failed: u64,
    pub forged_switch_rejections: u64,
}
