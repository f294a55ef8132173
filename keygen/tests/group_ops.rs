//! Every member computes the same group key after each operation, and the key changes.

mod common;

use std::collections::BTreeSet;

use common::Sim;
use proptest::prelude::*;

#[test]
fn initial_join_leave_merge_partition_refresh() {
    let mut sim = Sim::new();
    let mut seen = BTreeSet::new();
    let g = sim.spawn(5);
    sim.config(&g);
    assert!(seen.insert(sim.common_key(&g)));

    // Join.
    let j = sim.spawn(1);
    let mut g2 = g.clone();
    g2.extend(&j);
    let msgs = sim.config(&g2);
    assert_eq!(msgs, 3, "join: two announcements and one sponsor update");
    assert!(seen.insert(sim.common_key(&g2)));

    // Leave.
    let g3: Vec<_> = g2.iter().copied().filter(|&x| x != g2[2]).collect();
    let msgs = sim.config(&g3);
    assert_eq!(msgs, 1, "leave: one sponsor update");
    assert!(seen.insert(sim.common_key(&g3)));

    // Merge with another group of 3.
    let h = sim.spawn(3);
    sim.config(&h);
    assert!(seen.insert(sim.common_key(&h)));
    let mut m = g3.clone();
    m.extend(&h);
    sim.config(&m);
    assert!(seen.insert(sim.common_key(&m)));

    // Partition into two halves, each agrees on its own key.
    let (a, b) = m.split_at(4);
    sim.config(a);
    sim.config(b);
    assert!(seen.insert(sim.common_key(a)));
    assert!(seen.insert(sim.common_key(b)));

    // Refresh.
    sim.refresh(a, a[1]);
    let k = sim.common_key(a);
    assert!(seen.insert(k));
    assert_eq!(sim.members[&a[0]].group_key().unwrap().epoch.epoch, 1);

    // Same membership, new ring: still rekeys.
    sim.config(a);
    assert!(seen.insert(sim.common_key(a)));
}

#[test]
fn single_member_and_pair() {
    let mut sim = Sim::new();
    let g = sim.spawn(1);
    assert_eq!(sim.config(&g), 0);
    let k1 = sim.common_key(&g);
    sim.refresh(&g, g[0]);
    assert_ne!(k1, sim.common_key(&g));
    let j = sim.spawn(1);
    let pair = vec![g[0], j[0]];
    sim.config(&pair);
    sim.common_key(&pair);
    sim.config(&g);
    sim.common_key(&g);
}

#[derive(Debug, Clone)]
enum Op {
    Join(usize),
    Leave(Vec<usize>),
    MergeNew(usize),
    Partition(usize),
    Refresh(usize),
    Reform,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1usize..4).prop_map(Op::Join),
        proptest::collection::vec(0usize..64, 1..4).prop_map(Op::Leave),
        (1usize..12).prop_map(Op::MergeNew),
        (0usize..64).prop_map(Op::Partition),
        (0usize..64).prop_map(Op::Refresh),
        Just(Op::Reform),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn random_sequences_agree(start in 1usize..16, ops in proptest::collection::vec(op(), 1..8)) {
        let mut sim = Sim::new();
        let mut seen = BTreeSet::new();
        let mut g = sim.spawn(start);
        sim.config(&g);
        seen.insert(sim.common_key(&g));
        for op in ops {
            match op {
                Op::Join(k) => {
                    if g.len() + k > 40 { continue; }
                    let j = sim.spawn(k);
                    g.extend(j);
                }
                Op::Leave(idx) => {
                    let gone: BTreeSet<_> = idx.iter().map(|i| g[i % g.len()]).collect();
                    if gone.len() >= g.len() { continue; }
                    g.retain(|x| !gone.contains(x));
                }
                Op::MergeNew(k) => {
                    if g.len() + k > 40 { continue; }
                    let h = sim.spawn(k);
                    sim.config(&h);
                    seen.insert(sim.common_key(&h));
                    g.extend(h);
                }
                Op::Partition(at) => {
                    if g.len() < 2 { continue; }
                    let cut = 1 + at % (g.len() - 1);
                    let other = g.split_off(cut);
                    sim.config(&other);
                    prop_assert!(seen.insert(sim.common_key(&other)), "partition key repeats");
                }
                Op::Refresh(i) => {
                    let who = g[i % g.len()];
                    sim.refresh(&g, who);
                    prop_assert!(seen.insert(sim.common_key(&g)), "refresh key repeats");
                    continue;
                }
                Op::Reform => {}
            }
            sim.config(&g);
            prop_assert!(seen.insert(sim.common_key(&g)), "group key repeats");
        }
    }
}

#[test]
fn configuration_change_during_agreement() {
    for deliver in 0..4 {
        let mut sim = Sim::new();
        let g = sim.spawn(12);
        sim.config(&g);
        let k0 = sim.common_key(&g);
        // Three leave at once and two join, then the ring changes again before the end.
        let j = sim.spawn(2);
        let mut g1: Vec<_> = g
            .iter()
            .copied()
            .filter(|x| ![2, 5, 9].contains(x))
            .collect();
        g1.extend(&j);
        sim.config_interrupted(&g1, deliver);
        let g2: Vec<_> = g1.iter().copied().filter(|&x| x != 7).collect();
        sim.config(&g2);
        assert_ne!(sim.common_key(&g2), k0);
    }
}
