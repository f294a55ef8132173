#![no_main]
use libfuzzer_sys::fuzz_target;
use totem_wire::{roundtrip, Generation};

fuzz_target!(|data: &[u8]| roundtrip::srp(data, Generation::G3));
