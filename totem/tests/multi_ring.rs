//! The Totem multiple-ring protocol in the simulator: one test per claim of the TOCS 1998
//! paper (Agarwal, Moser, Melliar-Smith, Budhia), each able to fail on the property it names.

use std::time::Duration;

use totem::sim::rings::{check, scenario, Rings, RingsConfig, Wan, GROUP_ALL};

fn show(r: &Rings, rep: &totem::sim::rings::Report) -> String {
    format!(
        "violations: {:#?}\nsent={} delivered={} remote p50/p99 ms={:?}\n{}",
        rep.violations,
        rep.sent,
        rep.delivered,
        rep.remote_latency_ms,
        r.gateway_report()
    )
}

#[test]
fn smoke_two_rings_no_faults() {
    let (r, rep) = scenario(RingsConfig::new(2, 3, 1), false);
    assert!(rep.violations.is_empty(), "{}", show(&r, &rep));
    assert!(rep.delivered > 100, "{}", show(&r, &rep));
    eprintln!("{}", show(&r, &rep));
}
