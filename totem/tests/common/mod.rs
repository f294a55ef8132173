//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use totem::sim::{Sim, SimConfig};
use totem::{ConfigKind, Event};
use totem_wire::Generation;

pub fn sim(nodes: usize, gen: Generation, seed: u64) -> Sim {
    Sim::new(SimConfig::new(nodes, gen, seed))
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Regular configurations a life installed, as (ring seq, sorted members).
pub fn regular_configs(sim: &Sim, life: usize) -> Vec<(u64, Vec<u32>)> {
    sim.log.lives[life]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Config {
                kind: ConfigKind::Regular,
                ring_id,
                members,
                ..
            } => {
                let mut m = members.clone();
                m.sort_unstable();
                Some((ring_id.seq, m))
            }
            _ => None,
        })
        .collect()
}

/// Message ids a life delivered, in order.
pub fn delivered(sim: &Sim, life: usize) -> Vec<u64> {
    sim.log.lives[life]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Deliver { payload, .. } => totem::sim::record::msg_id(payload),
            _ => None,
        })
        .collect()
}

/// Runs in 50 ms steps until the cluster has one ring of all live nodes; returns the time.
pub fn run_until_converged(sim: &mut Sim, limit: Duration) -> Option<Duration> {
    let end = sim.elapsed() + limit;
    while sim.elapsed() < end {
        let t = sim.elapsed() + Duration::from_millis(50);
        sim.run_until(t);
        if sim.converged() {
            return Some(sim.elapsed());
        }
    }
    None
}
