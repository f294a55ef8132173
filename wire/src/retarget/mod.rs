//! Retarget: a decoded datagram of one generation rewritten for another, through an
//! explicit [`AddressBook`].
//!
//! Every field that names a node (header nodeids stay nodeids; srp_addr lists, ring id
//! representatives, rtr lists and commit-token entries change shape) is looked up in the
//! book, and an mcast's totempg packet is taken apart into its service messages, each
//! rewritten for the target generation (service header layout, service and function ids,
//! generation-sized ring ids inside sync messages) and packed again. A node or address the
//! book does not hold, or a message that has no form in the target generation, is an error
//! naming it: nothing is filled with a default.
//!
//! What the source generation does not carry is given by the caller ([`Retarget`]): the G3
//! header's `target_nodeid` (destination for unicast, 0 for broadcast). Bytes that are
//! garbage in every sender (pads) are carried where the target has room and zero elsewhere.

mod address_book;
mod service;
mod srp;

pub use address_book::{AddressBook, BookEntry, BookError};
pub use service::built_services;

use crate::error::Error;
use crate::generation::Generation;
use crate::service::ServiceTable;
use crate::srp::message::{Decoded, SrpMessage};

/// Why a message could not be rewritten for the target generation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetargetError {
    /// The book has no node with this id.
    #[error("node {0} is not in the address book")]
    UnknownNode(u32),
    /// The book has no node with this address.
    #[error("address {0} is not in the address book")]
    UnknownAddress(String),
    /// The address belongs to a listed node but does not match its entry.
    #[error("node {nodeid}: address {addr} does not match the address book")]
    AddressMismatch { nodeid: u32, addr: String },
    /// The message (or service, or function) has no form in the target generation.
    #[error("{what} has no {to} form")]
    NoCounterpart { what: String, to: Generation },
    /// A service message that must change is split across mcasts; one datagram alone
    /// cannot rewrite it.
    #[error("{what} is fragmented across mcasts and changes size or layout in {to}")]
    Fragmented { what: String, to: Generation },
    /// The source did not decode, or the result did not encode.
    #[error("{0}")]
    Codec(#[from] Error),
}

/// One direction of translation: from a generation (and its service table) to another.
#[derive(Debug, Clone, Copy)]
pub struct Retarget<'a> {
    pub book: &'a AddressBook,
    pub from: Generation,
    pub to: Generation,
    /// Service table of the source (G1 is openais or corosync 1.x; G2/G3 share one).
    pub from_table: ServiceTable,
    pub to_table: ServiceTable,
    /// The G3 header's `target_nodeid` when writing G3: the destination nodeid of a unicast
    /// (the token's next hop), 0 for a broadcast.
    pub target_nodeid: u32,
    /// What an mcast carries above SRP.
    pub payload: Payload,
}

/// The layer above SRP in an mcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// corosync's totempg packets and service messages, rewritten message by message.
    Totempg,
    /// Bytes that name no node and hold no generation-sized field (our native format's
    /// sealed payloads, a test's own): carried as they are.
    Opaque,
}

impl<'a> Retarget<'a> {
    /// From `from` to `to`, with each generation's usual service table and target 0.
    pub fn new(book: &'a AddressBook, from: Generation, to: Generation) -> Self {
        Retarget {
            book,
            from,
            to,
            from_table: ServiceTable::for_generation(from),
            to_table: ServiceTable::for_generation(to),
            target_nodeid: 0,
            payload: Payload::Totempg,
        }
    }

    /// With mcast payloads carried as they are (see [`Payload::Opaque`]).
    pub fn opaque_payloads(mut self) -> Self {
        self.payload = Payload::Opaque;
        self
    }

    /// With the G3 `target_nodeid` to write.
    pub fn target(mut self, nodeid: u32) -> Self {
        self.target_nodeid = nodeid;
        self
    }

    /// The reverse direction, same book and target.
    pub fn reverse(&self) -> Self {
        Retarget {
            from: self.to,
            to: self.from,
            from_table: self.to_table,
            to_table: self.from_table,
            ..*self
        }
    }

    /// Rewrites one decoded SRP message.
    pub fn message(&self, m: &SrpMessage) -> Result<SrpMessage, RetargetError> {
        srp::message(self, m)
    }

    /// Rewrites a decoded datagram body. Bytes after the message (1.x hands its crypto
    /// trailer byte up with the message) are a receive artefact, not part of what a sender
    /// of another generation writes: they are kept only when the generation stays.
    pub fn decoded(&self, d: &Decoded) -> Result<Decoded, RetargetError> {
        Ok(Decoded {
            message: self.message(&d.message)?,
            trailing: if self.from == self.to {
                d.trailing.clone()
            } else {
                Vec::new()
            },
        })
    }

    /// [`Retarget::decoded`], encoded in the target generation (trailing bytes included).
    pub fn encoded(&self, d: &Decoded) -> Result<Vec<u8>, RetargetError> {
        let out = self.decoded(d)?;
        let mut v = out.message.try_to_vec()?;
        v.extend_from_slice(&out.trailing);
        Ok(v)
    }
}

#[cfg(test)]
mod tests;
