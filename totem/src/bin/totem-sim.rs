//! Runs random Totem scenarios in the simulator and checks Extended Virtual Synchrony.
//!
//! Prints every violation with the seed that reproduces it and ends with
//! `seeds=N violations=V`; exits non-zero when V > 0.
//!
//! `--secure` runs the secure layer (`totem::secure`) on every node: the wire is audited for
//! unsealed datagrams and every key epoch for agreement, besides the EVS check.
//! `--bench-rekey 2,8,32,128` measures rekey latency in token rotations in the simulator;
//! `--model-rekey 384` estimates it without the network for sizes the simulator cannot run
//! in reasonable time.

use clap::Parser;
use totem::sim::scenario::Scenario;
use totem_wire::Generation;

#[derive(Parser, Debug)]
#[command(about = "Deterministic Totem simulator with an EVS checker")]
struct Args {
    /// Number of seeds to run.
    #[arg(long, default_value_t = 0)]
    seeds: u64,
    /// Rekey benchmark instead of scenarios: comma-separated ring sizes (e.g. 2,8,32).
    #[arg(long, value_delimiter = ',')]
    bench_rekey: Vec<usize>,
    /// Network-free model of the key agreement for these ring sizes: waves of messages and
    /// compute per member (for sizes the simulator cannot run in reasonable time).
    #[arg(long, value_delimiter = ',')]
    model_rekey: Vec<usize>,
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
    /// Run the secure layer (group key agreement, sealed wire) on every node and check it.
    #[arg(long)]
    secure: bool,
    /// An attacker on the network during the workload: forged joins, tokens, commit tokens
    /// and merge detects, replays and mutations, from members' addresses.
    #[arg(long)]
    hostile: bool,
    /// A ring of G2 and G3 engines with a relay (decode, rewrite for the receiver's
    /// generation, re-encode) on every link between them and on some others.
    #[arg(long, conflicts_with_all = ["hostile", "secure", "generation"])]
    mixed: bool,
    /// K rings joined by gateways (a chain: gateway j joins rings j and j+1), our nodes
    /// running the multiple-ring protocol, checked for one global order; --nodes is then
    /// the nodes per ring.
    #[arg(long, conflicts_with_all = ["hostile", "secure", "generation", "mixed"])]
    rings: Option<usize>,
    /// With --rings: each gateway is two processes joined by a WAN link with this one-way
    /// delay in ms (cut and healed among the faults).
    #[arg(long, requires = "rings")]
    wan_ms: Option<u64>,
    /// With --rings: no faults (every message must reach every node).
    #[arg(long, requires = "rings")]
    no_faults: bool,
    /// With --rings: forward every group everywhere (no selective forwarding).
    #[arg(long, requires = "rings")]
    flood: bool,
    /// With --hostile: only these attack kinds (join, token, commit, merge, mutate, replay).
    #[arg(long, value_delimiter = ',')]
    attacks: Vec<String>,
    /// Secure runs: refresh the group key this many ms after it became active (0: off).
    #[arg(long, default_value_t = 1500)]
    rekey_ms: u64,
    /// Secure runs: refresh after this many datagrams under one key (0: off).
    #[arg(long, default_value_t = 400)]
    rekey_packets: u64,
}

/// The simulator's fixed 128-byte authkey (bytes 0..128).
fn secure_authkey() -> Vec<u8> {
    (0..128u8).collect()
}

fn main() {
    totem_log::init("error");
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
    if !args.bench_rekey.is_empty() {
        println!("n     step     members rotations latency_ms compute_mean_ms compute_max_ms");
        let mut failed = false;
        for &n in &args.bench_rekey {
            match totem::sim::secure_bench::rekey_bench(n, args.start) {
                Ok(rows) => {
                    for c in rows {
                        println!(
                            "{n:<5} {:<8} {:<7} {:<9} {:<10.1} {:<15.3} {:.3}",
                            c.what,
                            c.members,
                            c.rotations,
                            c.latency.as_secs_f64() * 1e3,
                            c.compute_mean.as_secs_f64() * 1e3,
                            c.compute_max.as_secs_f64() * 1e3
                        );
                    }
                }
                Err(e) => {
                    println!("{e}");
                    failed = true;
                }
            }
        }
        std::process::exit(i32::from(failed));
    }
    if !args.model_rekey.is_empty() {
        println!("n     step     members waves rotations_est compute_mean_ms compute_max_ms");
        for &n in &args.model_rekey {
            for c in totem::sim::secure_bench::model_bench(n, args.start) {
                println!(
                    "{n:<5} {:<8} {:<7} {:<5} {:<13} {:<15.3} {:.3}",
                    c.what,
                    c.members,
                    c.waves,
                    c.rotations_est,
                    c.compute_mean.as_secs_f64() * 1e3,
                    c.compute_max.as_secs_f64() * 1e3
                );
            }
        }
        return;
    }
    if let Some(k) = args.rings {
        std::process::exit(run_rings(&args, k));
    }
    let mut violations = 0u64;
    let mut refusals = totem::engine::Refusals::default();
    let mut attacked = 0u64;
    let mut relayed = (0u64, 0u64);
    for seed in args.start..args.start.saturating_add(args.seeds) {
        let mut sc = if args.hostile {
            Scenario::generate_hostile(seed, args.nodes, generation)
        } else if args.mixed {
            Scenario::generate_mixed(seed, args.nodes)
        } else {
            Scenario::generate(seed, args.nodes, generation)
        };
        if !args.attacks.is_empty() {
            sc.actions.retain(|(_, a)| match a {
                totem::sim::scenario::Action::Attack(x) => {
                    args.attacks.iter().any(|k| k == x.kind())
                }
                _ => true,
            });
        }
        if args.secure {
            let mut c = totem::secure::SecureConfig::new(secure_authkey());
            c.rekey_interval =
                (args.rekey_ms > 0).then(|| std::time::Duration::from_millis(args.rekey_ms));
            c.rekey_packets = (args.rekey_packets > 0).then_some(args.rekey_packets);
            sc.secure = Some(c);
        }
        if args.dump {
            for (t, a) in &sc.actions {
                if !matches!(a, totem::sim::scenario::Action::Submit { .. }) {
                    println!("seed={seed} at {t:?}: {a:?}");
                }
            }
        }
        let out = sc.run();
        refusals.add(&out.refusals);
        attacked += out.attacked;
        relayed.0 += out.relayed.passed;
        relayed.1 += out.relayed.rewritten;
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
            if let Some(s) = &out.secure {
                let t = &s.totals;
                println!(
                    "seed={seed} secure: wire_sealed={} epochs={} agreements={} activations={} refreshes={} sealed_cluster={} sealed_group={} stale_epoch={} unknown_key={} replay={} switch_rejections={} ka_errors={} rekey_rotations_max={:?}",
                    s.sealed_on_wire, s.epochs, t.agreements, t.activations, t.refreshes_started,
                    t.sealed_cluster, t.sealed_group, t.stale_epoch, t.unknown_key, t.replay,
                    t.switch_rejections, t.ka_errors, s.rekey_rotations.iter().max()
                );
            }
        }
        for v in &out.violations {
            println!("seed={seed} gen={} nodes={}: {v}", sc.generation, sc.nodes);
        }
        violations += out.violations.len() as u64;
    }
    if refusals.total() > 0 || attacked > 0 {
        let by: Vec<String> = refusals
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        println!("attacker_datagrams={attacked} refused: {}", by.join(" "));
    }
    if args.mixed {
        println!("relayed unchanged={} rewritten={}", relayed.0, relayed.1);
    }
    println!("seeds={} violations={violations}", args.seeds);
    if violations > 0 {
        std::process::exit(1);
    }
}

/// `--rings K`: seeded multi-ring scenarios; returns the exit code.
fn run_rings(args: &Args, k: usize) -> i32 {
    use totem::sim::rings::{scenario, RingsConfig, Wan};
    let mut violations = 0u64;
    let mut lat = Vec::new();
    for seed in args.start..args.start.saturating_add(args.seeds) {
        let mut cfg = RingsConfig::new(k, args.nodes.clamp(1, 16), seed);
        cfg.selective = !args.flood;
        cfg.wan = args.wan_ms.map(|ms| Wan {
            delay: std::time::Duration::from_millis(ms),
            ..Wan::default()
        });
        let (r, rep) = scenario(cfg, !args.no_faults);
        if args.verbose {
            println!(
                "seed={seed} rings={k} sent={} delivered={} remote_latency_ms_p50={:.1} p99={:.1}",
                rep.sent, rep.delivered, rep.remote_latency_ms.0, rep.remote_latency_ms.1
            );
            print!("{}", r.gateway_report());
            if args.dump {
                print!("{}", r.node_report());
            }
        }
        for v in &rep.violations {
            println!("seed={seed} rings={k}: {v}");
        }
        violations += rep.violations.len() as u64;
        lat.push(rep.remote_latency_ms.0);
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    if let Some(m) = lat.get(lat.len() / 2) {
        println!("remote delivery latency p50 (median over seeds): {m:.1} ms");
    }
    println!("seeds={} violations={violations}", args.seeds);
    i32::from(violations > 0)
}
