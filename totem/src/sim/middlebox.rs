//! Boxes on the simulated links: something between two nodes that sees every datagram and
//! delivers it as it is, rewritten, later, several times or not at all.
//!
//! [`Relay`] is the one the gateways need proven: it decodes each datagram in the sender's
//! generation and writes it in the receiver's through an address book (the same bytes when
//! the generations agree), so a ring can hold engines of two generations. What it cannot
//! rewrite it drops and counts by reason: never forwarded garbled.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use totem_wire::retarget::{AddressBook, Retarget};
use totem_wire::{Generation, SrpMessage};

/// One end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// Node slot in the simulation.
    pub index: usize,
    pub nodeid: u32,
    pub generation: Generation,
}

/// What a box did, for reports and checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoxStats {
    /// Datagrams delivered unchanged.
    pub passed: u64,
    /// Datagrams delivered rewritten.
    pub rewritten: u64,
    /// Datagrams dropped, by reason.
    pub dropped: BTreeMap<String, u64>,
}

/// A box on one or more links.
pub trait Middlebox: Debug {
    /// The datagram `bytes` on its way from `from` to `to`: returns what reaches `to`, each
    /// with the delay the box adds (nothing: dropped; two: duplicated).
    fn on_datagram(&mut self, from: Hop, to: Hop, bytes: &[u8]) -> Vec<(Vec<u8>, Duration)>;
    /// Its counters.
    fn stats(&self) -> BoxStats;
}

/// Decodes in the sender's generation and re-encodes in the receiver's, after `delay`.
#[derive(Debug)]
pub struct Relay {
    book: AddressBook,
    /// Extra one-way delay of every relayed datagram.
    pub delay: Duration,
    stats: BoxStats,
}

impl Relay {
    /// A relay that rewrites through `book`.
    pub fn new(book: AddressBook, delay: Duration) -> Self {
        Relay {
            book,
            delay,
            stats: BoxStats::default(),
        }
    }

    fn drop_for(&mut self, why: String) -> Vec<(Vec<u8>, Duration)> {
        *self.stats.dropped.entry(why).or_default() += 1;
        Vec::new()
    }
}

impl Middlebox for Relay {
    fn on_datagram(&mut self, from: Hop, to: Hop, bytes: &[u8]) -> Vec<(Vec<u8>, Duration)> {
        let d = match SrpMessage::parse(bytes, from.generation) {
            Ok(d) => d,
            Err(e) => return self.drop_for(format!("undecodable {}: {e}", from.generation)),
        };
        // The token is the one unicast; corosync 3 over knet names its destination.
        let target = match d.message {
            SrpMessage::OrfToken(_) => to.nodeid,
            _ => 0,
        };
        // The simulator's payloads are its own (message ids), not corosync's totempg.
        let t = Retarget::new(&self.book, from.generation, to.generation)
            .target(target)
            .opaque_payloads();
        let out = t.encoded(&d).map_err(|e| e.to_string());
        match out {
            Ok(v) if v == bytes => {
                self.stats.passed += 1;
                vec![(v, self.delay)]
            }
            Ok(v) => {
                self.stats.rewritten += 1;
                vec![(v, self.delay)]
            }
            Err(e) => self.drop_for(e),
        }
    }

    fn stats(&self) -> BoxStats {
        self.stats.clone()
    }
}

/// A box that drops every datagram it sees (a cut cable with the link still listed).
#[derive(Debug, Default)]
pub struct BlackHole {
    stats: BoxStats,
}

impl Middlebox for BlackHole {
    fn on_datagram(&mut self, _: Hop, _: Hop, _: &[u8]) -> Vec<(Vec<u8>, Duration)> {
        *self.stats.dropped.entry("black hole".into()).or_default() += 1;
        Vec::new()
    }
    fn stats(&self) -> BoxStats {
        self.stats.clone()
    }
}
