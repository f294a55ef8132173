//! Random scenarios: a workload of submits and random faults, then heal and quiet, then
//! the EVS check.

use std::time::Duration;

use totem_wire::Generation;

use super::adversary::Attack;
use super::evs_check::{self, Ending};
use super::rng::Rng;
use super::{Sim, SimConfig};
use crate::engine::Guarantee;

/// One scheduled step of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Submit {
        node: usize,
        safe: bool,
        extra: usize,
    },
    Crash(usize),
    Leave(usize),
    Restart(usize),
    /// Group index per node.
    Partition(Vec<usize>),
    /// One-way block from the first node to the second.
    Block(usize, usize, bool),
    Loss(usize, usize, f64),
    Dup(f64),
    Pause(usize, Duration),
    Slow(usize, Duration),
    /// Heal the network (partitions, loss, duplication, slowness).
    Heal,
    /// The attacker sends something (see [`super::adversary`]).
    Attack(Attack),
}

/// A reproducible run: the seed decides the actions, and the simulator's network.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub nodes: usize,
    pub generation: Generation,
    /// Length of the workload-and-faults phase.
    pub workload: Duration,
    pub actions: Vec<(Duration, Action)>,
    /// Run the secure layer on every node (see [`crate::secure`]).
    pub secure: Option<crate::secure::SecureConfig>,
    /// Per-node generations; empty: every node runs `generation`.
    pub generations: Vec<Generation>,
    /// Links `(from, to)` with a [`super::middlebox::Relay`] and the delay it adds. Every
    /// link between two generations has one.
    pub relays: Vec<(usize, usize, Duration)>,
}

/// The result of running a scenario.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub violations: Vec<String>,
    pub ending: Ending,
    pub datagrams: u64,
    pub delivered: usize,
    pub submitted: usize,
    /// Regular configurations installed, summed over every node incarnation.
    pub regular_configs: usize,
    /// Node incarnations (starts and restarts).
    pub lives: usize,
    /// Secure-layer totals (secure runs only).
    pub secure: Option<super::secure_check::SecureSummary>,
    /// Messages the engines refused, by reason.
    pub refusals: crate::engine::Refusals,
    /// Datagrams the attacker injected.
    pub attacked: u64,
    /// What the relays did, summed.
    pub relayed: super::middlebox::BoxStats,
}

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

impl Scenario {
    /// Draws a scenario for `nodes` nodes from `seed`; the generation is drawn too unless given.
    pub fn generate(seed: u64, nodes: usize, generation: Option<Generation>) -> Self {
        let mut r = Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xA5A5);
        let nodes = nodes.clamp(1, super::MAX_NODES);
        let generation = generation.unwrap_or(Generation::ALL[r.below(3) as usize]);
        let w = r.range(5_000, 20_000);
        let mut actions = Vec::new();
        let submits = r.range(20, 150);
        for _ in 0..submits {
            let at = r.range(300, w);
            let node = r.below(nodes as u64) as usize;
            let burst = if r.chance(0.1) { r.range(5, 40) } else { 1 };
            for _ in 0..burst {
                actions.push((
                    ms(at),
                    Action::Submit {
                        node,
                        safe: r.chance(0.3),
                        extra: r.below(200) as usize,
                    },
                ));
            }
        }
        let faults = r.range(0, 8);
        for _ in 0..faults {
            let at = r.range(800, w.saturating_sub(300).max(801));
            let node = r.below(nodes as u64) as usize;
            let other = r.below(nodes as u64) as usize;
            let lasting = r.range(300, 5_000);
            match r.below(9) {
                0 => {
                    actions.push((ms(at), Action::Crash(node)));
                    actions.push((ms(at + lasting), Action::Restart(node)));
                }
                1 => {
                    actions.push((ms(at), Action::Leave(node)));
                    actions.push((ms(at + lasting), Action::Restart(node)));
                }
                2 => {
                    let groups = r.range(2, 3) as usize;
                    let g: Vec<usize> = (0..nodes)
                        .map(|_| r.below(groups as u64) as usize)
                        .collect();
                    actions.push((ms(at), Action::Partition(g)));
                    actions.push((ms(at + lasting), Action::Heal));
                }
                3 => {
                    actions.push((ms(at), Action::Block(node, other, true)));
                    actions.push((ms(at + lasting), Action::Block(node, other, false)));
                }
                4 => {
                    let p = r.range(1, 40) as f64 / 100.0;
                    for a in 0..nodes {
                        for b in 0..nodes {
                            actions.push((ms(at), Action::Loss(a, b, p)));
                            actions.push((ms(at + lasting), Action::Loss(a, b, 0.0)));
                        }
                    }
                }
                5 => {
                    let p = r.range(5, 60) as f64 / 100.0;
                    actions.push((ms(at), Action::Loss(node, other, p)));
                    actions.push((ms(at + lasting), Action::Loss(node, other, 0.0)));
                }
                6 => {
                    actions.push((ms(at), Action::Dup(r.range(1, 20) as f64 / 100.0)));
                    actions.push((ms(at + lasting), Action::Dup(0.0)));
                }
                7 => actions.push((ms(at), Action::Pause(node, ms(r.range(100, 2_500))))),
                _ => {
                    actions.push((ms(at), Action::Slow(node, ms(r.range(1, 60)))));
                    actions.push((ms(at + lasting), Action::Slow(node, Duration::ZERO)));
                }
            }
        }
        actions.sort_by_key(|(t, _)| *t);
        Scenario {
            seed,
            nodes,
            generation,
            workload: ms(w),
            actions,
            secure: None,
            generations: Vec::new(),
            relays: Vec::new(),
        }
    }

    /// [`Scenario::generate`] plus an attacker during the workload: the ring-seq join, the
    /// absurd token, bogus commit tokens and merge detects, and floods of mutated and
    /// replayed datagrams (2,000 a second for up to 3 s), all from members' addresses. The
    /// attacker stops when the workload ends; the usual heal and convergence bound follow.
    pub fn generate_hostile(seed: u64, nodes: usize, generation: Option<Generation>) -> Self {
        let mut sc = Scenario::generate(seed, nodes, generation);
        let mut r = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x0BAD);
        let w = sc.workload.as_millis() as u64;
        let n = sc.nodes as u64;
        for _ in 0..r.range(2, 8) {
            let at = r.range(500, w.saturating_sub(200).max(501));
            let from = r.below(n) as usize;
            match r.below(6) {
                0 => {
                    let ring_seq = if r.chance(0.5) {
                        u64::MAX - 4
                    } else {
                        r.next_u64()
                    };
                    sc.actions.push((
                        ms(at),
                        Action::Attack(Attack::RingSeqJoin { from, ring_seq }),
                    ));
                }
                1 => sc
                    .actions
                    .push((ms(at), Action::Attack(Attack::Token { from }))),
                2 => {
                    for k in 0..r.range(1, 20) {
                        sc.actions
                            .push((ms(at + k * 7), Action::Attack(Attack::CommitToken { from })));
                    }
                }
                3 => {
                    for k in 0..r.range(1, 20) {
                        sc.actions
                            .push((ms(at + k * 7), Action::Attack(Attack::MergeDetect { from })));
                    }
                }
                4 => {
                    let burst = r.range(100, 3_000);
                    for k in 0..burst / 10 {
                        sc.actions
                            .push((ms(at + k * 5), Action::Attack(Attack::Mutate { count: 10 })));
                    }
                }
                _ => {
                    let burst = r.range(100, 3_000);
                    for k in 0..burst / 10 {
                        sc.actions
                            .push((ms(at + k * 5), Action::Attack(Attack::Replay { count: 10 })));
                    }
                }
            }
        }
        sc.actions.retain(|(t, _)| *t < sc.workload);
        sc.actions.sort_by_key(|(t, _)| *t);
        sc
    }

    /// [`Scenario::generate`] on a ring of G2 and G3 engines (at least one of each, drawn
    /// per node), a relay on every link between the two generations and on some links
    /// within one, each adding 0–300 µs.
    pub fn generate_mixed(seed: u64, nodes: usize) -> Self {
        let mut sc = Scenario::generate(seed, nodes.max(2), Some(Generation::G2));
        let mut r = Rng::new(seed.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ 0x6A7E);
        let n = sc.nodes;
        let mut gens: Vec<Generation> = (0..n)
            .map(|_| {
                if r.chance(0.5) {
                    Generation::G2
                } else {
                    Generation::G3
                }
            })
            .collect();
        let k = r.below(n as u64) as usize;
        if gens.iter().all(|g| *g == gens[0]) {
            gens[k] = if gens[0] == Generation::G2 {
                Generation::G3
            } else {
                Generation::G2
            };
        }
        for a in 0..n {
            for b in 0..n {
                if a != b && (gens[a] != gens[b] || r.chance(0.3)) {
                    sc.relays.push((a, b, Duration::from_micros(r.below(301))));
                }
            }
        }
        sc.generation = gens[0];
        sc.generations = gens;
        sc
    }

    /// Runs the scenario: workload and faults, heal (every node restarted), wait for one
    /// ring, send a probe from every node, let it settle, and check.
    pub fn run(&self) -> Outcome {
        let mut sc = SimConfig::new(self.nodes, self.generation, self.seed);
        sc.secure = self.secure.clone();
        sc.generations = self.generations.clone();
        let relays = self.relays.clone();
        let mut sim = Sim::with_middleboxes(sc, |sim| {
            let book = sim.address_book();
            relays
                .iter()
                .map(|&(a, b, d)| {
                    let r: Box<dyn super::middlebox::Middlebox> =
                        Box::new(super::middlebox::Relay::new(book.clone(), d));
                    (r, vec![(a, b)])
                })
                .collect()
        });
        sim.datagram_budget = 200_000 * self.nodes as u64;
        for (t, a) in &self.actions {
            if *t > self.workload + ms(5_000) {
                break;
            }
            sim.run_until(*t);
            apply(&mut sim, a);
        }
        sim.run_until(self.workload);
        let ending = heal_and_probe(
            &mut sim,
            |c| c.consensus_timeout() * 3 + c.token_timeout() * 4 + ms(2_000),
            ms(5_000),
        );
        let mut violations = evs_check::check(&sim.log, Some(&ending));
        let mut relayed = super::middlebox::BoxStats::default();
        for id in 0..self.relays.len() {
            if let Some(st) = sim.middlebox_stats(id) {
                relayed.passed += st.passed;
                relayed.rewritten += st.rewritten;
                for (why, n) in st.dropped {
                    *relayed.dropped.entry(why).or_default() += n;
                }
            }
        }
        // Honest nodes send nothing a relay may not carry: a drop would be a lost message.
        for (why, n) in &relayed.dropped {
            violations.push(format!("relay dropped {n} datagrams: {why}"));
        }
        let mut secure = None;
        if self.secure.is_some() {
            sim.record_secure_stats();
            let (sv, summary) = super::secure_check::check(&sim.log);
            violations.extend(sv);
            if ending.converged_at.is_some() {
                violations.extend(super::secure_check::check_final(&sim));
            }
            secure = Some(summary);
        }
        if sim.overloaded() {
            violations.insert(
                0,
                format!("message storm: more than {} datagrams", sim.datagram_budget),
            );
        }
        let delivered = sim
            .log
            .lives
            .iter()
            .map(|l| {
                l.events
                    .iter()
                    .filter(|(_, e)| matches!(e, crate::engine::Event::Deliver { .. }))
                    .count()
            })
            .sum();
        let regular_configs = sim
            .log
            .lives
            .iter()
            .map(|l| {
                l.events
                    .iter()
                    .filter(|(_, e)| {
                        matches!(
                            e,
                            crate::engine::Event::Config {
                                kind: crate::engine::ConfigKind::Regular,
                                ..
                            }
                        )
                    })
                    .count()
            })
            .sum();
        Outcome {
            relayed,
            refusals: sim.refusals(),
            attacked: sim.attacker_counts().0,
            regular_configs,
            secure,
            lives: sim.log.lives.len(),
            violations,
            ending,
            datagrams: sim.datagrams,
            delivered,
            submitted: sim.log.submitted.len(),
        }
    }
}

/// The end of every run: the network heals and every node is up; the cluster has `bound`
/// (of the engine configuration), plus `grace` to be seen, to form one ring; then every
/// live node sends a safe probe and the ring settles for three token timeouts.
pub fn heal_and_probe(
    sim: &mut Sim,
    bound: impl FnOnce(&crate::config::Config) -> Duration,
    grace: Duration,
) -> Ending {
    sim.heal();
    for i in 0..sim.len() {
        sim.restart(i);
    }
    let heal_at = sim.elapsed();
    let c = sim.engine_config(0);
    let bound = bound(&c);
    let mut converged_at = None;
    let mut t = heal_at;
    while t <= heal_at + bound + grace {
        t += ms(50);
        sim.run_until(t);
        if sim.converged() {
            converged_at = Some(sim.elapsed());
            break;
        }
    }
    let mut probes = Vec::new();
    if converged_at.is_some() {
        for i in sim.live() {
            if let Some(id) = sim.submit(i, Guarantee::Safe, 3) {
                probes.push(id);
            }
        }
    }
    sim.run_until(sim.elapsed() + c.token_timeout() * 3);
    Ending {
        heal_at,
        bound,
        converged_at,
        probes,
    }
}

/// Applies one action to the simulator.
pub fn apply(sim: &mut Sim, a: &Action) {
    match a {
        Action::Submit { node, safe, extra } => {
            let g = if *safe {
                Guarantee::Safe
            } else {
                Guarantee::Agreed
            };
            sim.submit(*node, g, *extra);
        }
        Action::Crash(n) => sim.crash(*n),
        Action::Leave(n) => sim.leave(*n),
        Action::Restart(n) => sim.restart(*n),
        Action::Partition(g) => sim.partition(g),
        Action::Block(a, b, on) => sim.set_blocked(*a, *b, *on),
        Action::Loss(a, b, p) => sim.set_loss(*a, *b, *p),
        Action::Dup(p) => sim.set_dup(*p),
        Action::Pause(n, d) => sim.pause(*n, *d),
        Action::Slow(n, d) => sim.set_slow(*n, *d),
        Action::Heal => sim.heal(),
        Action::Attack(a) => sim.attack(a),
    }
}
