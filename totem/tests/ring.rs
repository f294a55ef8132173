//! Ring formation and total order in every generation, and the bytes on the wire.

mod common;

use common::*;
use totem::sim::evs_check;
use totem::Guarantee;
use totem_wire::Generation;

fn form_and_order(nodes: usize, gen: Generation) {
    let mut s = sim(nodes, gen, 42);
    let t = run_until_converged(&mut s, secs(10.0)).expect("ring forms");
    assert!(t < secs(3.0), "formed after {t:?}");
    let want: Vec<u32> = (1..=nodes as u32).collect();
    for life in 0..nodes {
        let regs = regular_configs(&s, life);
        let last = regs.last().expect("a regular configuration");
        assert_eq!(last.1, want, "{gen} life {life}");
        // Ring seqs are the start seq (1 in G2/G3, 0 in G1) + 4 per ring formed.
        let start = if gen == Generation::G1 { 0 } else { 1 };
        assert_eq!(
            (last.0 - start) % 4,
            0,
            "{gen}: ring seq {} not start + 4k",
            last.0
        );
    }
    // Every node sends, some safe.
    let mut ids = Vec::new();
    for round in 0..20 {
        for i in 0..nodes {
            let g = if round % 3 == 0 {
                Guarantee::Safe
            } else {
                Guarantee::Agreed
            };
            ids.push(s.submit(i, g, 10 * i).expect("accepted"));
        }
    }
    s.run_until(s.elapsed() + secs(3.0));
    let first = delivered(&s, 0);
    assert_eq!(first.len(), ids.len(), "{gen}: node 1 delivered all");
    for life in 1..nodes {
        assert_eq!(
            delivered(&s, life),
            first,
            "{gen}: same total order at life {life}"
        );
    }
    let mut sorted = first.clone();
    sorted.sort_unstable();
    let mut want_ids = ids.clone();
    want_ids.sort_unstable();
    assert_eq!(sorted, want_ids);
    let v = evs_check::check(&s.log, None);
    assert!(v.is_empty(), "{v:?}");
    assert!(s.log.unparseable.is_empty());
}

#[test]
fn three_nodes_g1() {
    form_and_order(3, Generation::G1);
}
#[test]
fn three_nodes_g2() {
    form_and_order(3, Generation::G2);
}
#[test]
fn three_nodes_g3() {
    form_and_order(3, Generation::G3);
}
#[test]
fn five_nodes_g1() {
    form_and_order(5, Generation::G1);
}
#[test]
fn five_nodes_g2() {
    form_and_order(5, Generation::G2);
}
#[test]
fn five_nodes_g3() {
    form_and_order(5, Generation::G3);
}

#[test]
fn single_node_ring_delivers_to_itself() {
    let mut s = sim(1, Generation::G3, 1);
    run_until_converged(&mut s, secs(2.0)).expect("alone");
    let a = s.submit(0, Guarantee::Agreed, 0).unwrap();
    let b = s.submit(0, Guarantee::Safe, 0).unwrap();
    s.run_until(s.elapsed() + secs(1.0));
    assert_eq!(delivered(&s, 0), vec![a, b]);
}
