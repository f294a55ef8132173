#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use totem_wire::datagram::Keys;
use totem_wire::roundtrip;

static KEYS: OnceLock<Keys> = OnceLock::new();

// Every envelope (secauth SOBER/NSS, every G2 cipher and hash) keyed with the spec's test key.
fuzz_target!(|data: &[u8]| {
    let keys = KEYS.get_or_init(|| Keys::with_authkey(&roundtrip::fuzz_authkey()));
    roundtrip::datagram(data, keys)
});
