//! The multiple-ring LAN gateway (`totem-gateway bridge`): one process that is a member of
//! two rings of our nodes, with one [`Port`] on each, joined inside the process.
//!
//! [`Bridge`] is the sans-IO core: it takes each ring's multiple-ring events (what the
//! gateway's executive hands out, `totem::cpg::Cpg::start_gateway`), connects the two
//! ports once both rings have a synced configuration, carries their link messages to each
//! other and returns the elements each ring must be given. [`run`] drives it over two
//! real nodes; [`conf`] reads its configuration; [`metrics`] renders its counters.

pub mod conf;
pub mod fifo;
pub mod metrics;
pub mod run;
mod run_fifo;
mod run_wan;
pub mod wan;
pub mod wan_port;

use totem::engine::Event;
use totem::mrp::{Delivery, Port, PortStats};

/// One side of the bridge as status shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SideStatus {
    /// The system's number of this side's ring.
    pub ring: u32,
    /// The gateway's nodeid in that ring.
    pub nodeid: u32,
    /// The ring's members (last regular configuration the port saw synced).
    pub members: Vec<u32>,
    pub synced: bool,
    /// Rings reached through the other side.
    pub far_origins: Vec<u32>,
    /// Groups forwarded from this ring to the other side (the far side has members).
    pub forwarded_groups: Vec<String>,
    /// Groups with members on this side.
    pub near_groups: Vec<String>,
    pub stats: PortStats,
    /// Elements waiting in the port's own order.
    pub waiting: usize,
}

/// The two ports and their in-process link.
#[derive(Debug)]
pub struct Bridge {
    ports: [Port; 2],
    connected: bool,
    /// Global deliveries of the gateway itself (it is a node of both rings), per side.
    delivered: [u64; 2],
}

impl Bridge {
    /// A bridge between ring `a.0` (gateway nodeid `a.1` there) and ring `b.0` (`b.1`).
    /// `selective`: forward a group's data only where the far side has members.
    pub fn new(a: (u32, u32), b: (u32, u32), selective: bool) -> Self {
        Bridge {
            ports: [
                Port::new(a.0, a.1, selective),
                Port::new(b.0, b.1, selective),
            ],
            connected: false,
            delivered: [0; 2],
        }
    }

    /// Whether the two ports are joined.
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// An event of side `side`'s ring.
    pub fn handle_event(&mut self, side: usize, ev: &Event) {
        let Some(p) = self.ports.get_mut(side) else {
            return;
        };
        p.handle_event(ev);
        self.pump();
    }

    /// Joins the ports once both rings are synced, and carries link messages until none
    /// is left (bounded: each message is handled once; a port answers a message with a
    /// bounded number of others).
    fn pump(&mut self) {
        if !self.connected && self.ports.iter().all(|p| p.orderer().synced()) {
            self.connected = true;
            for p in &mut self.ports {
                p.connect();
            }
            tracing::info!(
                rings = ?self.ports.iter().map(|p| p.orderer().ring()).collect::<Vec<_>>(),
                "multiple-ring bridge: both rings synced, ports joined"
            );
        }
        for _ in 0..1_000_000 {
            let mut moved = false;
            for side in 0..2 {
                while let Some(d) = self.ports[side].poll_delivery() {
                    if matches!(d, Delivery::Data { .. }) {
                        self.delivered[side] += 1;
                    }
                }
                let msgs: Vec<_> = std::iter::from_fn(|| self.ports[side].poll_link()).collect();
                if !self.connected {
                    continue;
                }
                for m in msgs {
                    self.ports[1 - side].handle_link(m);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Next element to submit into side `side`'s ring.
    pub fn poll_ring(&mut self, side: usize) -> Option<Vec<u8>> {
        self.ports.get_mut(side)?.poll_ring()
    }

    /// What status and metrics show of side `side`.
    pub fn side(&self, side: usize) -> SideStatus {
        side_status(&self.ports[side])
    }

    /// Messages the gateway itself delivered in the global order, per side.
    pub fn delivered(&self) -> [u64; 2] {
        self.delivered
    }
}

/// What status and metrics show of a port.
pub fn side_status(p: &Port) -> SideStatus {
    let o = p.orderer();
    let names = |v: Vec<Vec<u8>>| {
        v.into_iter()
            .map(|g| String::from_utf8_lossy(&g).into_owned())
            .collect()
    };
    SideStatus {
        ring: o.ring(),
        nodeid: o.nodeid(),
        members: o.members().to_vec(),
        synced: o.synced(),
        far_origins: p.far_origins(),
        forwarded_groups: names(p.forwarded_groups()),
        near_groups: names(p.near_groups()),
        stats: p.stats.clone(),
        waiting: o.waiting(),
    }
}

#[cfg(test)]
mod tests;
