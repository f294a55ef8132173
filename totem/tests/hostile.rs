//! The attacks seen against live rings of our nodes (issue: forged and corrupted datagrams
//! cannot stall, split or lose), replayed in the simulator against G1, G2 and G3 rings:
//! each must leave every node alive, one ring of all nodes within a stated bound, and no
//! message lost or duplicated (the EVS checker), with the refusals counted by reason.

mod common;

use std::time::Duration;

use common::*;
use totem::engine::Refusal;
use totem::sim::adversary::Attack;
use totem::sim::evs_check;
use totem::sim::scenario::{Action, Scenario};
use totem_wire::Generation;

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

/// Two senders (nodes 1 and 2) submitting every 20 ms from 0.5 s to `until`.
fn load(until: u64) -> Vec<(Duration, Action)> {
    let mut v = Vec::new();
    let mut t = 500;
    while t < until {
        for node in [0, 1] {
            v.push((
                ms(t),
                Action::Submit {
                    node,
                    safe: t % 3 == 0,
                    extra: 40,
                },
            ));
        }
        t += 20;
    }
    v
}

fn scenario(
    seed: u64,
    gen: Generation,
    workload: u64,
    mut actions: Vec<(Duration, Action)>,
) -> Scenario {
    actions.extend(load(workload));
    actions.sort_by_key(|(t, _)| *t);
    Scenario {
        seed,
        nodes: 3,
        generation: gen,
        workload: ms(workload),
        actions,
        secure: None,
        generations: Vec::new(),
        relays: Vec::new(),
    }
}

/// One forged G3 join (nodeid 2, ring_seq 2^64 − 5) used to move every node to ring
/// `1.ffffffffffffffff`; at the next membership change nodes 1 and 2 never formed a ring
/// again. Now the join is refused; the ring seq stays small; a crash and restart of node 3
/// re-form the ring each time.
#[test]
fn ring_seq_near_u64_end_is_refused_and_the_ring_reforms() {
    for gen in Generation::ALL {
        let mut s = sim(3, gen, 11);
        run_until_converged(&mut s, secs(5.0)).expect("forms");
        s.attack(&Attack::RingSeqJoin {
            from: 1,
            ring_seq: u64::MAX - 4,
        });
        s.run_until(s.elapsed() + secs(1.0));
        for i in 0..3 {
            let e = s.engine(i).unwrap();
            assert!(
                e.ring_id().seq < 1 << 32,
                "{gen}: node {} adopted {}",
                i + 1,
                e.ring_id()
            );
            // Sent "from" node 2 to the other two.
            assert_eq!(
                e.stats().refused.get(Refusal::RingSeqJump),
                u64::from(i != 1),
                "{gen}: node {}",
                i + 1
            );
        }
        s.crash(2);
        let t0 = s.elapsed();
        let t = run_until_converged(&mut s, secs(10.0)).expect("nodes 1 and 2 re-form");
        assert!(t - t0 < secs(4.0), "{gen}: took {:?}", t - t0);
        s.restart(2);
        run_until_converged(&mut s, secs(10.0)).expect("node 3 rejoins");
        let v = evs_check::check(&s.log, None);
        assert!(v.is_empty(), "{gen}: {v:#?}");
    }
}

/// A forged token with the current ring id, seq 0xFFFFFFF0, token_seq 0x7FFFFFFF, aru 0
/// and 30 random retransmit entries, sent to every node under CPG-like load: 325 messages
/// went missing on every node although nobody left. Now it is refused (it does not come
/// from the receiver's predecessor, and its token_seq jumps); nothing is lost.
#[test]
fn absurd_token_loses_nothing() {
    for gen in Generation::ALL {
        let attacks = (0..5)
            .map(|k| {
                (
                    ms(2_000 + k * 700),
                    Action::Attack(Attack::Token {
                        from: (k % 3) as usize,
                    }),
                )
            })
            .collect();
        let sc = scenario(21, gen, 6_000, attacks);
        let out = sc.run();
        assert!(out.violations.is_empty(), "{gen}: {:#?}", out.violations);
        assert_eq!(out.attacked, 5);
        let r = &out.refusals;
        let refused = r.get(Refusal::TokenSeqJump) + r.get(Refusal::NotFromPredecessor);
        // Each forged token reaches the two nodes other than its "sender".
        assert_eq!(refused, 10, "{gen}: {r:?}");
        assert!(
            out.submitted > 400 && out.delivered >= out.submitted * 3,
            "{gen}: {} of {}",
            out.delivered,
            out.submitted
        );
    }
}

/// A seeded flood of 30,000 mutated real datagrams at 5,000/s (truncations, bit and byte
/// flips, extreme field values of recent traffic, from the senders' addresses) shut node 3
/// out for good. Now every node is in one ring within the scenario's bound after the flood,
/// and nothing is lost.
#[test]
fn mutation_flood_shuts_nobody_out() {
    for (gen, seed) in [
        (Generation::G1, 31),
        (Generation::G2, 32),
        (Generation::G3, 33),
    ] {
        let attacks = (0..600)
            .map(|k| {
                (
                    ms(1_000 + k * 10),
                    Action::Attack(Attack::Mutate { count: 50 }),
                )
            })
            .collect();
        let sc = scenario(seed, gen, 8_000, attacks);
        let out = sc.run();
        assert!(out.violations.is_empty(), "{gen}: {:#?}", out.violations);
        assert!(out.attacked > 25_000, "{gen}: only {} sent", out.attacked);
        let e = &out.ending;
        let took = e.converged_at.expect("converged") - e.heal_at;
        assert!(
            took <= e.bound,
            "{gen}: one ring {took:?} after the flood, bound {:?}",
            e.bound
        );
        assert!(out.refusals.total() > 1_000, "{gen}: {:?}", out.refusals);
    }
}

/// Replays of earlier traffic (tokens meant for other members, old joins, old rings'
/// mcasts and merge detects) cost at most reconfigurations, never a message.
#[test]
fn replay_flood_loses_nothing() {
    for gen in Generation::ALL {
        let attacks = (0..300)
            .map(|k| {
                (
                    ms(1_000 + k * 10),
                    Action::Attack(Attack::Replay { count: 20 }),
                )
            })
            .collect();
        let sc = scenario(41, gen, 6_000, attacks);
        let out = sc.run();
        assert!(out.violations.is_empty(), "{gen}: {:#?}", out.violations);
        assert!(
            out.refusals.get(Refusal::NotFromPredecessor) > 0,
            "{gen}: {:?}",
            out.refusals
        );
    }
}

/// Forged commit tokens and merge detects for rings nobody formed, some with ring seqs at
/// the end of u64.
#[test]
fn bogus_commit_tokens_and_merge_detects() {
    for gen in Generation::ALL {
        let mut attacks = Vec::new();
        for k in 0..200u64 {
            let from = (k % 3) as usize;
            let a = if k % 2 == 0 {
                Attack::CommitToken { from }
            } else {
                Attack::MergeDetect { from }
            };
            attacks.push((ms(1_000 + k * 15), Action::Attack(a)));
        }
        let sc = scenario(51, gen, 6_000, attacks);
        let out = sc.run();
        assert!(out.violations.is_empty(), "{gen}: {:#?}", out.violations);
        assert!(
            out.refusals.get(Refusal::RingSeqJump) > 0,
            "{gen}: {:?}",
            out.refusals
        );
    }
}

/// Random hostile scenarios (the attacker mixed with crashes, partitions, loss): a fixed
/// set of seeds per generation, EVS clean and converged within the bound.
#[test]
fn hostile_seeds() {
    let mut attacked = 0;
    for seed in 0..30 {
        for gen in Generation::ALL {
            let sc = Scenario::generate_hostile(700_000 + seed, 4, Some(gen));
            let out = sc.run();
            assert!(
                out.violations.is_empty(),
                "seed {seed} {gen}: {:#?}",
                out.violations
            );
            attacked += out.attacked;
        }
    }
    assert!(attacked > 10_000, "the attacker sent {attacked}");
}

/// The same attacks against the sealed ring (the secure layer): none of them opens, so the
/// engines never see them.
#[test]
fn sealed_ring_ignores_the_attacker() {
    let key: Vec<u8> = (0..128u8).collect();
    for gen in Generation::ALL {
        let mut attacks = Vec::new();
        for k in 0..100u64 {
            let from = (k % 3) as usize;
            let a = match k % 5 {
                0 => Attack::RingSeqJoin {
                    from,
                    ring_seq: u64::MAX - 4,
                },
                1 => Attack::Token { from },
                2 => Attack::CommitToken { from },
                3 => Attack::Mutate { count: 30 },
                _ => Attack::MergeDetect { from },
            };
            attacks.push((ms(1_500 + k * 30), Action::Attack(a)));
        }
        let mut sc = scenario(61, gen, 6_000, attacks);
        sc.secure = Some(totem::secure::SecureConfig::new(key.clone()));
        let out = sc.run();
        assert!(out.violations.is_empty(), "{gen}: {:#?}", out.violations);
        assert!(out.attacked > 500);
        assert_eq!(
            out.refusals.total(),
            0,
            "{gen}: forged datagrams reached an engine: {:?}",
            out.refusals
        );
    }
}
