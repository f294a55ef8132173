//! The Totem protocol engine: a sans-IO state machine for ordering and membership, and its transports. Not started yet.
