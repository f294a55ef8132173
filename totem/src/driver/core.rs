//! What the node loop drives: a sans-IO [`Core`] that takes datagrams, timer expiries and
//! commands in and gives datagrams to send, events and transport requests out. The Totem
//! member (engine, envelope, secure layer, CPG's delivery watch: [`super::member::Member`])
//! is one; a gateway core is another. The loop owns the sockets and the clock, the core
//! owns the protocol: it decides, the loop executes ([`TransportRequest`]).

use std::net::SocketAddr;
use std::time::Instant;

use super::knet::KnetStatus;
use super::node::{DriverStats, RekeyStep};
use crate::node_config::KnetCryptoSetting;

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// Every other node (udp: the group; udpu and knet: each configured node).
    All,
    /// The node with this nodeid (by the nodelist, or as learnt).
    Node(u32),
    /// This address (udp/udpu only).
    Addr(SocketAddr),
}

/// One datagram to send, sealed as it goes on the wire (knet frames it further).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub dest: Dest,
    pub bytes: Vec<u8>,
    /// The ring to send on (0; 1 is ring 1 of the redundant ring protocol).
    pub ring: usize,
}

impl Outgoing {
    /// A datagram for ring 0.
    pub fn new(dest: Dest, bytes: Vec<u8>) -> Self {
        Outgoing {
            dest,
            bytes,
            ring: 0,
        }
    }
}

/// What a core asks of the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportRequest {
    /// `nodeid` sends from `addr` on `ring` (udp/udpu address book).
    Learn {
        nodeid: u32,
        addr: SocketAddr,
        ring: usize,
    },
    /// knet key change: load these settings (`Load`, answered whether the key changed) or
    /// run a phase; the outcome comes back through [`Core::request_done`].
    Rekey {
        step: RekeyStep,
        setting: Option<KnetCryptoSetting>,
    },
}

/// Whether the loop goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Send what is queued, then stop.
    Stop,
}

/// The transport as a core's command handler sees it.
pub trait NetControl {
    /// Our bound address (link 0).
    fn local_addr(&self) -> Option<SocketAddr>;
    /// Where datagrams for `nodeid` go.
    fn addr_of(&self, nodeid: u32) -> Option<SocketAddr>;
    /// knet links and counters (knet only).
    fn knet_status(&self) -> Option<KnetStatus>;
    /// Runs a knet key change step now (udp/udpu: `Ok(false)`).
    fn rekey(
        &mut self,
        step: RekeyStep,
        setting: Option<KnetCryptoSetting>,
    ) -> Result<bool, String>;
    /// The loop's own counters (datagrams in and out, unlisted, unroutable, log lines dropped).
    fn stats(&self) -> DriverStats;
}

/// A sans-IO protocol core run by the node loop. Call rules: after every input the loop
/// drains [`Core::poll_transmit`], then [`Core::poll_event`] and [`Core::poll_request`],
/// and repeats while events came (a core may answer an event with datagrams).
pub trait Core: Send + 'static {
    /// What goes up to the layer above (e.g. engine events to the CPG service).
    type Event: Send + 'static;
    /// Commands from that layer (through the loop's command channel).
    type Command: Send + 'static;

    /// A datagram from `src`: as received (udp/udpu), or a whole message reassembled and
    /// opened by the knet link layer.
    fn handle_datagram(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]);
    /// A datagram that came on `ring` (redundant rings; ring 0 is [`Core::handle_datagram`]).
    fn handle_ring_datagram(&mut self, now: Instant, ring: usize, src: SocketAddr, bytes: &[u8]) {
        if ring == 0 {
            self.handle_datagram(now, src, bytes);
        }
    }
    /// Runs what is due at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The next deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next datagram to send.
    fn poll_transmit(&mut self) -> Option<Outgoing>;
    /// The next event for the layer above.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The next request to the transport.
    fn poll_request(&mut self) -> Option<TransportRequest> {
        None
    }
    /// The outcome of a [`TransportRequest::Rekey`].
    fn request_done(&mut self, _step: RekeyStep, _outcome: Result<bool, String>) {}
    /// A command; [`Flow::Stop`] ends the loop once what is queued is sent.
    fn handle_command(
        &mut self,
        now: Instant,
        cmd: Self::Command,
        net: &mut dyn NetControl,
    ) -> Flow;
    /// Called at the start of every turn of the loop, before output is drained (e.g. to
    /// move a backlog into freed send-queue space).
    fn turn(&mut self) {}
    /// The command channel closed: the last output is sent, then the loop ends.
    fn close(&mut self, _now: Instant) {}
    /// The loop has sent the last output and ends (after [`Flow::Stop`] or [`Core::close`]).
    fn stopped(&mut self) {}
}
