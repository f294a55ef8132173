//! The rolling-upgrade gateway's core: one corosync 3 daemon (G3, the *local* side) in a
//! ring of corosync 2 daemons (G2, the *ring* side).
//!
//! The gateway is the local node's presence on the G2 ring (fate sharing: it serves that one
//! node and nobody else). Datagrams from the ring are rewritten for the local daemon, the
//! local daemon's for the ring, each through the cluster's [`AddressBook`]. It keeps no
//! protocol state: the Totem engines on both sides run the ring; the gateway only
//! translates, and refuses (counted by [`Refusal`]) what it cannot translate faithfully:
//! it never forwards a datagram garbled.

mod stats;

pub use stats::{Direction, Refusal, Stats};

use totem_wire::retarget::{AddressBook, Payload, Retarget, RetargetError};
use totem_wire::{Generation, MessageType, SrpMessage};

/// The largest datagram corosync 2.x receives (`FRAME_SIZE_MAX`).
pub const G2_FRAME_MAX: usize = 10_000;

/// Why a datagram was not forwarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}: {1}")]
    Refused(Refusal, String),
}

impl GatewayError {
    /// The counted reason.
    pub fn refusal(&self) -> Refusal {
        match self {
            GatewayError::Refused(r, _) => *r,
        }
    }
}

fn refuse(r: Refusal, detail: impl Into<String>) -> GatewayError {
    GatewayError::Refused(r, detail.into())
}

/// Settings of one gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Every node of the cluster, with its addresses.
    pub book: AddressBook,
    /// The node this gateway serves (runs corosync 3).
    pub local: u32,
    /// The ring's generation (G2 while any 2.x node remains).
    pub ring: Generation,
    /// The local daemon's generation.
    pub daemon: Generation,
    /// What mcasts carry: corosync's totempg (rewritten per service message), or opaque
    /// bytes (the simulator's own payloads).
    pub payload: Payload,
}

/// What runs behind a node of the G2 ring, as its sync service_build tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// corosync 2.x itself (no QUORUM service in its sync list).
    Corosync2,
    /// corosync 3.1 behind its gateway (its list has QUORUM, id 3).
    Corosync3,
}

impl PeerKind {
    /// From a service_build's list.
    pub fn of_services(services: &[u32]) -> Self {
        if services.contains(&3) {
            PeerKind::Corosync3
        } else {
            PeerKind::Corosync2
        }
    }
}

/// The node an mcast's service_build speaks for and what runs there, if it carries one.
pub fn peer_kind_of(m: &SrpMessage) -> Option<(u32, PeerKind)> {
    let SrpMessage::Mcast(mc) = m else {
        return None;
    };
    // corosync's MESSAGE_ENCAPSULATED (1): a recovery copy of an old ring's message.
    if mc.header.encapsulated == 1 {
        return None;
    }
    let services =
        totem_wire::retarget::built_services(&mc.payload, mc.header.generation, mc.header.endian)?;
    let node = if mc.node_id != 0 {
        mc.node_id
    } else {
        mc.header.nodeid
    };
    Some((node, PeerKind::of_services(&services)))
}

/// The translation core.
#[derive(Debug)]
pub struct Gateway {
    cfg: GatewayConfig,
    stats: Stats,
    /// What each ring node runs, as last seen in its service_build.
    peers: std::collections::BTreeMap<u32, PeerKind>,
}

impl Gateway {
    /// A gateway for `cfg.local`; the book must list it and order the ring one way.
    pub fn new(cfg: GatewayConfig) -> Result<Self, GatewayError> {
        cfg.book
            .node(cfg.local)
            .map_err(|e| refuse(Refusal::UnknownNode, e.to_string()))?;
        crate::order::check(&cfg.book).map_err(|e| refuse(Refusal::Order, e.to_string()))?;
        Ok(Gateway {
            cfg,
            stats: Stats::default(),
            peers: Default::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.cfg
    }

    /// What it did so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// What runs behind each ring node, by generation, as found on the wire (each node's
    /// service_build after every membership change).
    pub fn peers(&self) -> &std::collections::BTreeMap<u32, PeerKind> {
        &self.peers
    }

    /// A datagram (the SRP message, envelope already opened) that the local daemon sent
    /// towards node `dest` (`None`: to everyone); returns the bytes for the ring.
    pub fn from_local(&mut self, bytes: &[u8], dest: Option<u32>) -> Result<Vec<u8>, GatewayError> {
        let out = self.translate(Direction::ToRing, bytes, |m, local| {
            // The local daemon speaks only for its own node (0: a leave); an mcast keeps
            // its originator's nodeid when another member retransmits it.
            let n = m.nodeid();
            if n != local && n != 0 && m.msg_type() != MessageType::Mcast {
                return Err(refuse(
                    Refusal::NotLocal,
                    format!("local daemon sent a {} as node {n}", m.msg_type().name()),
                ));
            }
            Ok(dest.unwrap_or(0))
        });
        self.count(Direction::ToRing, out)
    }

    /// A datagram from node `src` of the ring; returns the bytes for the local daemon.
    pub fn from_ring(&mut self, bytes: &[u8], src: u32) -> Result<Vec<u8>, GatewayError> {
        let out = self.translate(Direction::ToLocal, bytes, |m, local| {
            let n = m.nodeid();
            if n == local && m.msg_type() != MessageType::Mcast {
                return Err(refuse(
                    Refusal::Loop,
                    format!(
                        "a {} from node {src} claims the local node {local}",
                        m.msg_type().name()
                    ),
                ));
            }
            // The token goes to the local daemon only; knet names it in the header.
            Ok(if m.msg_type() == MessageType::OrfToken {
                local
            } else {
                0
            })
        });
        self.count(Direction::ToLocal, out)
    }

    fn translate(
        &mut self,
        dir: Direction,
        bytes: &[u8],
        check: impl FnOnce(&SrpMessage, u32) -> Result<u32, GatewayError>,
    ) -> Result<(MessageType, Vec<u8>), GatewayError> {
        let (from, to) = match dir {
            Direction::ToRing => (self.cfg.daemon, self.cfg.ring),
            Direction::ToLocal => (self.cfg.ring, self.cfg.daemon),
        };
        let d = SrpMessage::parse(bytes, from)
            .map_err(|e| refuse(Refusal::Undecodable, format!("{from}: {e}")))?;
        if dir == Direction::ToLocal && self.cfg.payload == Payload::Totempg {
            if let Some((node, kind)) = peer_kind_of(&d.message) {
                self.peers.insert(node, kind);
            }
        }
        let t = d.message.msg_type();
        let target = check(&d.message, self.cfg.local)?;
        let mut r = Retarget::new(&self.cfg.book, from, to).target(target);
        r.payload = self.cfg.payload;
        let v = r
            .encoded(&d)
            .map_err(|e| refuse(Refusal::from_retarget(&e), e.to_string()))?;
        if to == Generation::G2 && v.len() > G2_FRAME_MAX {
            return Err(refuse(
                Refusal::Oversize,
                format!(
                    "{} of {} bytes, corosync 2 takes {G2_FRAME_MAX}",
                    t.name(),
                    v.len()
                ),
            ));
        }
        Ok((t, v))
    }

    fn count(
        &mut self,
        dir: Direction,
        r: Result<(MessageType, Vec<u8>), GatewayError>,
    ) -> Result<Vec<u8>, GatewayError> {
        match r {
            Ok((t, v)) => {
                self.stats.translated(dir, t);
                Ok(v)
            }
            Err(e) => {
                self.stats.refused(dir, e.refusal());
                Err(e)
            }
        }
    }
}

impl Refusal {
    fn from_retarget(e: &RetargetError) -> Self {
        match e {
            RetargetError::UnknownNode(_) => Refusal::UnknownNode,
            RetargetError::UnknownAddress(_) | RetargetError::AddressMismatch { .. } => {
                Refusal::UnknownAddress
            }
            RetargetError::NoCounterpart { .. } => Refusal::NoCounterpart,
            RetargetError::Fragmented { .. } => Refusal::Fragmented,
            RetargetError::Codec(_) => Refusal::Undecodable,
        }
    }
}

#[cfg(test)]
mod tests;
