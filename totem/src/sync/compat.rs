//! What corosync 1.x runs in its sync engines besides the real services: the openais
//! compatibility dummies of exec/evil.c (v1.4.10) and the 1.x service lists.
//!
//! * CLM (1): its sync step multicasts one NODEJOIN describing the node (nobody in 1.x
//!   handles it; openais 0.80 did), then the barrier.
//! * AMF (2), CKPT (3): no messages, a barrier each.
//! * EVT (4): every member multicasts a channel command OPEN_COUNT_DONE; once as many have
//!   been delivered as there are members, each multicasts CONF_DONE; once as many of those
//!   are in, the barrier. A member that does not take part holds every other member's EVT
//!   step, and with it the whole round, forever.
//! * CPG (8): the real CPG sync (downlist, joinlist), as in 2.x.

use totem_wire::service::header::ServiceHeader;
use totem_wire::service::openais::{self, ClmNodeJoin, OpenaisMessage, SizedName};
use totem_wire::Generation;

/// CLM, AMF, CKPT, EVT and CPG in the corosync 1.x numbering.
pub const CLM: u32 = 1;
pub const AMF: u32 = 2;
pub const CKPT: u32 = 3;
pub const EVT: u32 = 4;
pub const CPG: u32 = 8;

/// EVT channel command `chc_op` EVT_CONF_DONE.
pub const EVT_CONF_DONE: u32 = 5;
/// EVT channel command `chc_op` EVT_OPEN_COUNT_DONE.
pub const EVT_OPEN_COUNT_DONE: u32 = 7;
/// EVT exec function of channel commands.
pub const EVT_CHANCMD: u16 = 1;

/// The services sync v1 runs in `compatibility: whitetank`, in order: sync v1 walks service
/// ids from 0 and stops at the first id with neither a v1 service nor an openais dummy (9,
/// CMAN); EVS (0), LCK, MSG and CFG (5-7) are found but have no sync step. VOTEQUORUM (15)
/// is never reached: in 1.x it has no sync step anyway and sends its NODEINFO on every
/// configuration change.
pub const V1_SERVICES: [u32; 5] = [CLM, AMF, CKPT, EVT, CPG];

/// The services 1.x lists in its sync v2 service_build: none in whitetank mode (only
/// services marked sync v2 with a sync step are listed, and no 1.4 service is), CLM, EVT and
/// CPG with `compatibility: none`.
pub fn v2_services(flavor: super::Flavor) -> Vec<u32> {
    match flavor {
        super::Flavor::Whitetank => Vec::new(),
        super::Flavor::V2Only => vec![CLM, EVT, CPG],
        super::Flavor::Corosync2 => Vec::new(),
    }
}

/// What the CLM NODEJOIN says about us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClmIdentity {
    pub nodeid: u32,
    /// Our ring-0 address as text (also sent as the node name, as 1.x does).
    pub address: String,
    pub ipv6: bool,
    /// Boot time in ns since the epoch (1.x: (now - uptime) x 10^9).
    pub boot_timestamp: u64,
}

impl ClmIdentity {
    /// The identity of a node with `nodeid` at `addr`, booted when /proc/uptime says (0 if
    /// it cannot be read).
    pub fn new(nodeid: u32, addr: std::net::IpAddr) -> Self {
        ClmIdentity {
            nodeid,
            address: addr.to_string(),
            ipv6: addr.is_ipv6(),
            boot_timestamp: boot_timestamp_ns().unwrap_or(0),
        }
    }
}

fn boot_timestamp_ns() -> Option<u64> {
    let up = std::fs::read_to_string("/proc/uptime").ok()?;
    let up: f64 = up.split_whitespace().next()?.parse().ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(now.saturating_sub(up as u64).saturating_mul(1_000_000_000))
}

fn emit(m: &OpenaisMessage) -> Vec<u8> {
    let mut b = vec![0u8; m.buffer_len()];
    // Sized by buffer_len; every field is in range.
    let n = m.emit(&mut b).unwrap_or(0);
    b.truncate(n);
    b
}

fn sized<const N: usize>(text: &str) -> SizedName<N> {
    let mut value = [0u8; N];
    let n = text.len().min(N - 1);
    value[..n].copy_from_slice(&text.as_bytes()[..n]);
    SizedName {
        length: n as u16,
        pad: [0; 6],
        value,
    }
}

/// The CLM NODEJOIN of the dummy CLM sync step (392 bytes, group "a").
pub fn clm_nodejoin(id: &ClmIdentity) -> Vec<u8> {
    let m = OpenaisMessage::ClmNodeJoin(Box::new(ClmNodeJoin {
        header: ServiceHeader::new(
            Generation::G1,
            openais::CLM,
            0,
            openais::CLM_NODEJOIN_LEN as u32,
        ),
        node_id: id.nodeid,
        node_id_pad: [0; 4],
        address: sized(&id.address),
        family: if id.ipv6 { 2 } else { 1 },
        family_pad: [0; 4],
        node_name: sized(&id.address),
        member: 1,
        member_pad: [0; 4],
        boot_timestamp: id.boot_timestamp,
        initial_view_number: 0,
    }));
    emit(&m)
}

/// An EVT channel command with `op` (24 bytes, group "a").
pub fn evt_chancmd(op: u32) -> Vec<u8> {
    emit(&OpenaisMessage::EvtChanCmd {
        header: ServiceHeader::new(Generation::G1, openais::EVT, EVT_CHANCMD, 24),
        chc_op: op,
        rest: vec![0; 4],
    })
}

/// The dummy EVT step: which command we wait for and how many have come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct EvtStep {
    /// The operation being counted (OPEN_COUNT_DONE, then CONF_DONE).
    pub waiting: u32,
    pub checked_in: usize,
    /// Members that must check in (the member list the step started with).
    pub of: usize,
}

impl EvtStep {
    pub fn start(of: usize) -> Self {
        EvtStep {
            waiting: EVT_OPEN_COUNT_DONE,
            checked_in: 0,
            of,
        }
    }

    /// One channel command delivered: `Some(op)` when we must now multicast `op`, `None`
    /// otherwise; [`EvtStep::done`] tells when the step is over.
    pub fn deliver(&mut self, op: u32) -> Option<u32> {
        if op != self.waiting {
            return None;
        }
        self.checked_in += 1;
        if self.checked_in < self.of {
            return None;
        }
        self.checked_in = 0;
        if self.waiting == EVT_OPEN_COUNT_DONE {
            self.waiting = EVT_CONF_DONE;
            Some(EVT_CONF_DONE)
        } else {
            self.waiting = 0;
            None
        }
    }

    pub fn done(&self) -> bool {
        self.waiting == 0
    }
}
