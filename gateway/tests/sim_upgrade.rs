//! Rolling upgrades in the simulator: a ring of G2 engines whose nodes move, one at a time,
//! to G3 engines behind gateways, under load and faults. At every step the nodes not being
//! upgraded keep one ring, every message is delivered once in one order (EVS checker), and
//! a gateway's death costs only its own node.

use std::time::Duration;

use totem::engine::Guarantee;
use totem::sim::evs_check;
use totem::sim::{Sim, SimConfig};
use totem_gateway::sim::Upgrade;
use totem_wire::Generation;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn cluster(n: usize, seed: u64) -> Sim {
    let mut c = SimConfig::new(n, Generation::G2, seed);
    c.ascending_addresses = true;
    Sim::new(c)
}

/// Runs `d` with one submit every 25 ms from a live node in turn; returns how many went in.
fn load(sim: &mut Sim, d: Duration, k: &mut usize) -> usize {
    let end = sim.elapsed() + d;
    let mut sent = 0;
    while sim.elapsed() < end {
        let t = sim.elapsed() + Duration::from_millis(25);
        sim.run_until(t);
        let live = sim.live();
        if live.is_empty() {
            continue;
        }
        let i = live[*k % live.len()];
        *k += 1;
        let g = if (*k).is_multiple_of(4) {
            Guarantee::Safe
        } else {
            Guarantee::Agreed
        };
        if sim.submit(i, g, 64).is_some() {
            sent += 1;
        }
    }
    sent
}

/// Lets the last submits reach everyone before the check.
fn settle(sim: &mut Sim) {
    let t = sim.elapsed() + secs(3.0);
    sim.run_until(t);
}

fn converge(sim: &mut Sim, limit: Duration) -> bool {
    let end = sim.elapsed() + limit;
    while sim.elapsed() < end {
        let t = sim.elapsed() + Duration::from_millis(50);
        sim.run_until(t);
        if sim.converged() {
            return true;
        }
    }
    false
}

/// Whether the live nodes other than `except` are in one ring with each other.
fn others_together(sim: &Sim, except: usize) -> bool {
    let others: Vec<usize> = sim.live().into_iter().filter(|i| *i != except).collect();
    let want: Vec<u32> = others.iter().map(|i| *i as u32 + 1).collect();
    others.iter().all(|i| {
        let m = sim.engine(*i).unwrap().members();
        want.iter().all(|w| m.contains(w))
    })
}

#[test]
fn three_nodes_upgrade_one_by_one_under_load() {
    let mut sim = cluster(3, 1);
    let mut k = 0;
    assert!(converge(&mut sim, secs(10.0)));
    load(&mut sim, secs(2.0), &mut k);
    let mut ups = Upgrade::default();
    for i in 0..3 {
        sim.crash(i);
        load(&mut sim, secs(1.5), &mut k);
        assert!(others_together(&sim, i), "step {i}: the others split");
        ups.upgrade(&mut sim, i, Duration::from_micros(80)).unwrap();
        sim.restart(i);
        assert!(
            converge(&mut sim, secs(10.0)),
            "step {i}: no ring after the restart"
        );
        // Node i now runs G3, the others whatever they run; one ring, one order.
        let r = sim.engine(i).unwrap().ring_id();
        assert!(r.fits(Generation::G3), "{r}");
        load(&mut sim, secs(2.0), &mut k);
        assert!(sim.converged(), "step {i}: ring lost under load");
    }
    for i in 0..3 {
        let st = sim.middlebox_stats(ups.gateways[i].unwrap()).unwrap();
        assert!(st.rewritten > 50, "gateway {i}: {st:?}");
        assert!(st.dropped.is_empty(), "gateway {i}: {st:?}");
    }
    settle(&mut sim);
    let v = evs_check::check(&sim.log, None);
    assert!(v.is_empty(), "{v:?}");
    assert!(sim.log.submitted.len() > 200);
}

#[test]
fn a_dead_gateway_takes_out_only_its_node_and_its_restart_brings_it_back() {
    let mut sim = cluster(5, 2);
    let mut k = 0;
    assert!(converge(&mut sim, secs(10.0)));
    let mut ups = Upgrade::default();
    // Three of five on G3 (nodes 1, 3, 5), two left on G2.
    for i in [0, 2, 4] {
        sim.crash(i);
        ups.upgrade(&mut sim, i, Duration::from_micros(50)).unwrap();
        sim.restart(i);
        assert!(converge(&mut sim, secs(10.0)), "upgrade of {i}");
    }
    load(&mut sim, secs(1.0), &mut k);
    let gw = ups.gateways[2].unwrap();
    sim.set_box_down(gw, true);
    load(&mut sim, secs(4.0), &mut k);
    for i in [0, 1, 3, 4] {
        let m = sim.engine(i).unwrap().members();
        assert_eq!(m.len(), 4, "node {i}: {m:?}");
        assert!(!m.contains(&3));
    }
    sim.set_box_down(gw, false);
    assert!(converge(&mut sim, secs(15.0)), "node 3 did not come back");
    load(&mut sim, secs(1.0), &mut k);
    settle(&mut sim);
    let v = evs_check::check(&sim.log, None);
    assert!(v.is_empty(), "{v:?}");
}

#[test]
fn rolling_upgrades_under_loss_partitions_and_crashes_keep_virtual_synchrony() {
    // TOTEM_GATEWAY_SEEDS=N runs more (CI runs 200).
    let seeds = std::env::var("TOTEM_GATEWAY_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12u64);
    for seed in 0..seeds {
        let n = 3 + (seed % 3) as usize;
        let mut c = SimConfig::new(n, Generation::G2, 100 + seed);
        c.ascending_addresses = true;
        let mut sim = Sim::new(c);
        let mut k = 0;
        assert!(converge(&mut sim, secs(10.0)), "seed {seed}");
        let mut ups = Upgrade::default();
        for i in 0..n {
            // A fault beside each step: loss on one link, a partition, a crash of another node.
            let other = (i + 1 + seed as usize) % n;
            match (seed + i as u64) % 3 {
                0 => sim.set_loss(i, other, 0.2),
                1 => {
                    let groups: Vec<usize> = (0..n).map(|x| usize::from(x == other)).collect();
                    sim.partition(&groups);
                }
                _ => sim.crash(other),
            }
            sim.crash(i);
            load(&mut sim, secs(1.0), &mut k);
            ups.upgrade(&mut sim, i, Duration::from_micros(100))
                .unwrap();
            sim.restart(i);
            load(&mut sim, secs(1.0), &mut k);
            sim.heal();
            if sim.engine(other).is_none() {
                sim.restart(other);
            }
            assert!(converge(&mut sim, secs(20.0)), "seed {seed} step {i}");
            load(&mut sim, secs(0.5), &mut k);
        }
        settle(&mut sim);
        settle(&mut sim);
        let v = evs_check::check(&sim.log, None);
        assert!(v.is_empty(), "seed {seed}: {v:?}");
        for g in ups.gateways.iter().flatten() {
            let st = sim.middlebox_stats(*g).unwrap();
            assert!(st.dropped.is_empty(), "seed {seed}: {st:?}");
        }
    }
}
