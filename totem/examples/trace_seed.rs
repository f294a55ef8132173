//! Replays one scenario seed step by step, printing node states every 100 ms of virtual time.
use std::time::Duration;
use totem::sim::scenario::{apply, Scenario};
use totem::sim::{Sim, SimConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let nodes: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let until_ms: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(30_000);
    let step: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let sc = Scenario::generate(seed, nodes, None);
    let mut sim = Sim::new(SimConfig::new(sc.nodes, sc.generation, sc.seed));
    let mut acts = sc.actions.iter().peekable();
    let mut t = Duration::ZERO;
    while t < Duration::from_millis(until_ms) {
        t += Duration::from_millis(step);
        while let Some((at, a)) = acts.peek() {
            if *at > t {
                break;
            }
            sim.run_until(*at);
            if !matches!(a, totem::sim::scenario::Action::Submit { .. }) {
                println!("{at:?} {a:?}");
            }
            apply(&mut sim, a);
            acts.next();
        }
        sim.run_until(t);
        let st: Vec<String> = (0..sim.len())
            .map(|i| match sim.engine(i) {
                Some(e) => {
                    let (p, f) = e.gather_view();
                    format!(
                        "{}:{:?}@{}/{:?} p{:?} f{:?}",
                        i + 1,
                        e.state(),
                        e.ring_id().seq,
                        e.members(),
                        p,
                        f
                    )
                }
                None => format!("{}:down", i + 1),
            })
            .collect();
        println!("{t:?} dg={} {}", sim.datagrams, st.join(" "));
    }
}
