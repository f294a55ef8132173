//! Byte-exact codecs for the Totem protocol family (openais 0.80, corosync 1.x, 2.x and 3.x).
pub mod envelope;
