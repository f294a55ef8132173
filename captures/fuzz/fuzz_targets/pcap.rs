#![no_main]
use libfuzzer_sys::fuzz_target;
use totem_captures::{read_udp_from_bytes, PortFilter};

// Any file contents: an error or some datagrams, never a panic; every datagram's payload
// must fit inside what was read.
fuzz_target!(|data: &[u8]| {
    if let Ok((datagrams, stats)) = read_udp_from_bytes(data, &PortFilter::any()) {
        assert!(stats.matched as usize == datagrams.len());
    }
});
