#![no_main]
use libfuzzer_sys::fuzz_target;

// A program of datagrams, timer advances and faults against a small simulated ring; the
// oracle panics on no ring after the heal or on any EVS violation.
fuzz_target!(|data: &[u8]| {
    if let Err(e) = totem::sim::engine_fuzz::run(data) {
        panic!("{e}");
    }
});
