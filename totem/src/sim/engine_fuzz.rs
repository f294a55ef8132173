//! The engine fuzz oracle: arbitrary bytes are read as a program of datagrams (raw,
//! mutated, replayed, forged), timer advances, submits, crashes and restarts against a
//! small simulated ring; afterwards the network heals and the ring must re-form within a
//! bound, with the EVS checker clean.
//!
//! Shared by the cargo-fuzz target (`totem/fuzz`, `engine_ring`) and by `cargo test`
//! (`totem/tests/engine_fuzz.rs`, seeded programs), so CI runs the same checks without a
//! nightly toolchain.
//!
//! Raw bytes that decode as an mcast, token or commit token of a ring some node is in are
//! withheld, as the simulator's adversary does with mcasts: forging a live ring's next step
//! is content forgery, which only the authenticated envelopes prevent.

use std::time::Duration;

use totem_wire::Generation;

use super::adversary::Attack;
use super::evs_check;
use super::{Sim, SimConfig};
use crate::engine::{Engine, Guarantee};

/// Most program steps read from one input.
pub const MAX_STEPS: usize = 256;
/// Most virtual time the program part may take.
pub const MAX_PROGRAM_TIME: Duration = Duration::from_secs(30);

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FuzzRun {
    pub steps: usize,
    /// Datagrams injected (raw and named attacks).
    pub injected: u64,
    /// Raw datagrams withheld as live-ring forgeries.
    pub withheld: u64,
    /// Messages the engines refused.
    pub refused: u64,
}

/// Runs the program in `data`; `Err` names the violated property.
pub fn run(data: &[u8]) -> Result<FuzzRun, String> {
    let mut r = Reader(data);
    let gen = Generation::ALL[usize::from(r.byte().unwrap_or(0)) % 3];
    let nodes = 2 + usize::from(r.byte().unwrap_or(1)) % 3;
    let seed = u64::from_le_bytes(r.array().unwrap_or([0; 8]));
    let mut sim = Sim::new(SimConfig::new(nodes, gen, seed));
    sim.datagram_budget = 400_000;
    let mut out = FuzzRun::default();
    let start = sim.elapsed();
    while out.steps < MAX_STEPS && sim.elapsed() - start < MAX_PROGRAM_TIME {
        let Some(op) = r.byte() else { break };
        out.steps += 1;
        let node = usize::from(r.byte().unwrap_or(0)) % nodes;
        match op % 12 {
            0 | 1 => {
                let ms = u64::from(r.byte().unwrap_or(0)) * 8;
                sim.run_until(sim.elapsed() + Duration::from_millis(ms));
            }
            2 => {
                let g = if node % 2 == 0 {
                    Guarantee::Agreed
                } else {
                    Guarantee::Safe
                };
                sim.submit(node, g, usize::from(r.byte().unwrap_or(0)));
            }
            3 => {
                let len = usize::from(r.byte().unwrap_or(0));
                let bytes = r.take(len).to_vec();
                let rings: Vec<_> = sim
                    .live()
                    .into_iter()
                    .filter_map(|i| sim.engine(i).map(Engine::ring_id))
                    .collect();
                if super::adversary::is_live(&bytes, gen, &rings, true) {
                    out.withheld += 1;
                } else {
                    sim.inject(node, &bytes);
                }
            }
            4 => sim.attack(&Attack::Mutate {
                count: 1 + u32::from(r.byte().unwrap_or(0) % 16),
            }),
            5 => sim.attack(&Attack::Replay {
                count: 1 + u32::from(r.byte().unwrap_or(0) % 16),
            }),
            6 => sim.attack(&Attack::Token { from: node }),
            7 => {
                let ring_seq = u64::from_le_bytes(r.array().unwrap_or([0xFF; 8]));
                sim.attack(&Attack::RingSeqJoin {
                    from: node,
                    ring_seq,
                });
            }
            8 => sim.attack(&Attack::CommitToken { from: node }),
            9 => sim.attack(&Attack::MergeDetect { from: node }),
            10 => sim.crash(node),
            _ => sim.restart(node),
        }
    }
    out.injected = sim.attacker_counts().0;
    // The attacker stops; the network heals; every node is up.
    let ending = super::scenario::heal_and_probe(
        &mut sim,
        |c| {
            c.consensus_timeout() * (c.gather_stuck_after + 3)
                + c.token_timeout() * 4
                + Duration::from_secs(2)
        },
        Duration::ZERO,
    );
    out.refused = sim.refusals().total();
    if sim.overloaded() {
        return Err(format!(
            "message storm: more than {} datagrams",
            sim.datagram_budget
        ));
    }
    let v = evs_check::check(&sim.log, Some(&ending));
    if let Some(first) = v.first() {
        return Err(format!(
            "{gen} {nodes} nodes: {first} ({} violations)",
            v.len()
        ));
    }
    Ok(out)
}

/// Reads the program bytes; an exhausted reader yields nothing.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn array(&mut self) -> Option<[u8; 8]> {
        let a: [u8; 8] = self.0.get(..8)?.try_into().ok()?;
        self.0 = &self.0[8..];
        Some(a)
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (a, rest) = self.0.split_at(n);
        self.0 = rest;
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_short_inputs_run() {
        for data in [
            &[][..],
            &[1],
            &[2, 3],
            &[0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 6, 1],
        ] {
            run(data).unwrap_or_else(|e| panic!("{data:?}: {e}"));
        }
    }
}
