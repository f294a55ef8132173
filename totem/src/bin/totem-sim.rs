//! Runs random Totem scenarios in the simulator and checks Extended Virtual Synchrony.
//!
//! Prints every violation with the seed that reproduces it and ends with
//! `seeds=N violations=V`; exits non-zero when V > 0.

use clap::Parser;
use totem::sim::scenario::Scenario;
use totem_wire::Generation;

#[derive(Parser, Debug)]
#[command(about = "Deterministic Totem simulator with an EVS checker")]
struct Args {
    /// Number of seeds to run.
    #[arg(long)]
    seeds: u64,
    /// Nodes per scenario (1..=64).
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Wire generation (g1, g2, g3); drawn from the seed when absent.
    #[arg(long)]
    generation: Option<String>,
    /// Print one line per seed.
    #[arg(long)]
    verbose: bool,
    /// Print each scenario's fault actions before running it.
    #[arg(long)]
    dump: bool,
}

fn main() {
    let args = Args::parse();
    let generation = match args
        .generation
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => None,
        Some("g1") => Some(Generation::G1),
        Some("g2") => Some(Generation::G2),
        Some("g3") => Some(Generation::G3),
        Some(other) => {
            eprintln!("unknown generation {other:?} (use g1, g2 or g3)");
            std::process::exit(2);
        }
    };
    let mut violations = 0u64;
    for seed in args.start..args.start.saturating_add(args.seeds) {
        let sc = Scenario::generate(seed, args.nodes, generation);
        if args.dump {
            for (t, a) in &sc.actions {
                if !matches!(a, totem::sim::scenario::Action::Submit { .. }) {
                    println!("seed={seed} at {t:?}: {a:?}");
                }
            }
        }
        let out = sc.run();
        if args.verbose {
            println!(
                "seed={seed} gen={} nodes={} faults={} lives={} configs={} submitted={} delivered={} datagrams={} converged_after={:?}",
                sc.generation,
                sc.nodes,
                sc.actions.iter().filter(|(_, a)| !matches!(a, totem::sim::scenario::Action::Submit { .. })).count(),
                out.lives,
                out.regular_configs,
                out.submitted,
                out.delivered,
                out.datagrams,
                out.ending.converged_at.map(|t| t.saturating_sub(out.ending.heal_at))
            );
        }
        for v in &out.violations {
            println!("seed={seed} gen={} nodes={}: {v}", sc.generation, sc.nodes);
        }
        violations += out.violations.len() as u64;
    }
    println!("seeds={} violations={violations}", args.seeds);
    if violations > 0 {
        std::process::exit(1);
    }
}
