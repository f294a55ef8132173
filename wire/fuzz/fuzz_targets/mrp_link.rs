#![no_main]
use libfuzzer_sys::fuzz_target;
use totem_wire::roundtrip;

fuzz_target!(|data: &[u8]| roundtrip::mrp_link(data));
