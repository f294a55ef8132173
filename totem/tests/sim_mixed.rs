//! Rings of two generations in the simulator: G2 and G3 engines, with a relay that rewrites
//! every datagram between them through the address book (`totem_wire::retarget`), form one
//! ring, deliver in one order, and survive faults (random seeds, EVS checker); boxes on a
//! link can also delay, drop and be taken off.

mod common;

use std::time::Duration;

use common::*;
use totem::engine::Guarantee;
use totem::sim::evs_check;
use totem::sim::middlebox::{BlackHole, Middlebox, Relay};
use totem::sim::scenario::Scenario;
use totem::sim::{Sim, SimConfig};
use totem_wire::Generation;

fn mixed_cfg(gens: &[Generation], seed: u64) -> SimConfig {
    let mut c = SimConfig::new(gens.len(), gens[0], seed);
    c.generations = gens.to_vec();
    c
}

/// Every ordered pair of distinct nodes.
fn all_links(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|a| (0..n).filter(move |b| *b != a).map(move |b| (a, b)))
        .collect()
}

fn relayed_sim(gens: &[Generation], seed: u64, delay: Duration) -> Sim {
    let n = gens.len();
    Sim::with_middleboxes(mixed_cfg(gens, seed), |sim| {
        let r: Box<dyn Middlebox> = Box::new(Relay::new(sim.address_book(), delay));
        vec![(r, all_links(n))]
    })
}

#[test]
fn g2_and_g3_engines_form_one_ring_through_relays_and_deliver_in_one_order() {
    use Generation::{G2, G3};
    let gens = [G2, G3, G3, G2];
    let mut sim = relayed_sim(&gens, 11, Duration::from_micros(150));
    let at = run_until_converged(&mut sim, secs(10.0)).expect("one ring of four");
    // One ring, seen by a G2 engine with an address representative and by a G3 engine
    // with a nodeid one, naming the same node and seq.
    let (r2, r3) = (
        sim.engine(0).unwrap().ring_id(),
        sim.engine(1).unwrap().ring_id(),
    );
    assert!(r2.fits(G2) && r3.fits(G3), "{r2} / {r3}");
    assert_eq!((r2.rep_nodeid(), r2.seq), (r3.rep_nodeid(), r3.seq));
    for k in 0..40 {
        let g = if k % 3 == 0 {
            Guarantee::Safe
        } else {
            Guarantee::Agreed
        };
        sim.submit(k % 4, g, 30);
    }
    sim.run_until(at + secs(3.0));
    let first = delivered(&sim, 0);
    assert_eq!(first.len(), 40);
    for life in 1..4 {
        assert_eq!(delivered(&sim, life), first, "life {life}");
    }
    let st = sim.middlebox_stats(0).unwrap();
    assert!(st.rewritten > 100 && st.passed > 10, "{st:?}");
    assert!(st.dropped.is_empty(), "{st:?}");
    assert!(evs_check::check(&sim.log, None).is_empty());
}

#[test]
fn without_the_relay_the_generations_do_not_meet() {
    use Generation::{G2, G3};
    let mut sim = Sim::new(mixed_cfg(&[G2, G3, G2, G3], 3));
    sim.run_until(secs(8.0));
    assert!(!sim.converged());
    // Each generation forms its own ring and refuses or ignores the other's bytes.
    let m0 = sim.engine(0).unwrap().members();
    assert!(!m0.contains(&2) && m0.contains(&3), "{m0:?}");
}

#[test]
fn a_box_that_drops_splits_the_ring_and_taking_it_off_heals_it() {
    let mut sim = relayed_sim(&[Generation::G3; 3], 5, Duration::ZERO);
    let at = run_until_converged(&mut sim, secs(10.0)).expect("ring of three");
    let hole = sim.add_middlebox(
        Box::new(BlackHole::default()),
        &[(0, 2), (2, 0), (1, 2), (2, 1)],
    );
    sim.run_until(at + secs(8.0));
    assert!(!sim.engine(0).unwrap().members().contains(&3));
    assert!(sim.middlebox_stats(hole).unwrap().dropped["black hole"] > 0);
    for (a, b) in [(0, 2), (2, 0), (1, 2), (2, 1)] {
        sim.clear_middlebox(a, b);
    }
    run_until_converged(&mut sim, secs(15.0)).expect("healed");
    assert!(evs_check::check(&sim.log, None).is_empty());
}

#[test]
fn random_mixed_rings_keep_extended_virtual_synchrony() {
    let mut rewritten = 0;
    for seed in 0..40u64 {
        let sc = Scenario::generate_mixed(seed, 3 + (seed % 4) as usize);
        assert!(
            sc.generations.contains(&Generation::G2) && sc.generations.contains(&Generation::G3)
        );
        let out = sc.run();
        assert!(
            out.violations.is_empty(),
            "seed {seed}: {:?}",
            out.violations
        );
        assert!(out.ending.converged_at.is_some(), "seed {seed}");
        rewritten += out.relayed.rewritten;
    }
    assert!(rewritten > 10_000, "{rewritten}");
}
