//! What a gateway counts: datagrams translated per direction and message type, refusals
//! per direction and reason.

use totem_wire::MessageType;

/// Which way a datagram went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the local daemon to the ring.
    ToRing,
    /// From the ring to the local daemon.
    ToLocal,
}

/// Why a datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// Not a Totem message of the generation that side speaks.
    Undecodable,
    /// A nodeid the address book does not list.
    UnknownNode,
    /// An address the address book does not list, or listed for another node.
    UnknownAddress,
    /// A message the other generation has no form for (RRP ring tests in G3, say).
    NoCounterpart,
    /// A service message that changes size, split across mcasts.
    Fragmented,
    /// Larger than corosync 2 receives.
    Oversize,
    /// From the ring, but in the local node's name (a loop or a forgery).
    Loop,
    /// From the local daemon, but in another node's name.
    NotLocal,
    /// The book orders nodes differently by address and by nodeid.
    Order,
}

impl Refusal {
    /// Every reason, in a fixed order (for status and metrics).
    pub const ALL: [Refusal; 9] = [
        Refusal::Undecodable,
        Refusal::UnknownNode,
        Refusal::UnknownAddress,
        Refusal::NoCounterpart,
        Refusal::Fragmented,
        Refusal::Oversize,
        Refusal::Loop,
        Refusal::NotLocal,
        Refusal::Order,
    ];
    /// The metric label.
    pub const fn name(self) -> &'static str {
        match self {
            Refusal::Undecodable => "undecodable",
            Refusal::UnknownNode => "unknown_node",
            Refusal::UnknownAddress => "unknown_address",
            Refusal::NoCounterpart => "no_counterpart",
            Refusal::Fragmented => "fragmented",
            Refusal::Oversize => "oversize",
            Refusal::Loop => "loop",
            Refusal::NotLocal => "not_local",
            Refusal::Order => "order",
        }
    }
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Counters of one gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// `[direction][message type]` translated.
    translated: [[u64; 8]; 2],
    /// `[direction][reason]` refused.
    refused: [[u64; 9]; 2],
}

fn d(dir: Direction) -> usize {
    match dir {
        Direction::ToRing => 0,
        Direction::ToLocal => 1,
    }
}

impl Stats {
    pub(super) fn translated(&mut self, dir: Direction, t: MessageType) {
        self.translated[d(dir)][t as usize] += 1;
    }
    pub(super) fn refused(&mut self, dir: Direction, r: Refusal) {
        self.refused[d(dir)][r as usize] += 1;
    }
    /// Datagrams of type `t` translated in direction `dir`.
    pub fn translated_of(&self, dir: Direction, t: MessageType) -> u64 {
        self.translated[d(dir)][t as usize]
    }
    /// All datagrams translated in direction `dir`.
    pub fn translated_total(&self, dir: Direction) -> u64 {
        self.translated[d(dir)].iter().sum()
    }
    /// Refusals for `r` in direction `dir`.
    pub fn refused_of(&self, dir: Direction, r: Refusal) -> u64 {
        self.refused[d(dir)][r as usize]
    }
    /// All refusals.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().flatten().sum()
    }
    /// Adds `o`.
    pub fn add(&mut self, o: &Stats) {
        for (a, b) in self
            .translated
            .iter_mut()
            .flatten()
            .zip(o.translated.iter().flatten())
        {
            *a += b;
        }
        for (a, b) in self
            .refused
            .iter_mut()
            .flatten()
            .zip(o.refused.iter().flatten())
        {
            *a += b;
        }
    }
}
