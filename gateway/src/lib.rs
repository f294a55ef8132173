//! Interoperability gateways: mixed-generation rings and multi-ring bridging built on `totem`. Not started yet.
