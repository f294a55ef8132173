//! Runs N random scenarios through corosync-vqsim and the cman-compat quorum engine and
//! prints `scenarios=N mismatches=M` (details of mismatching scenarios go to the log).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use clap::Parser;
use cman_compat::vqsim::{build_shim, diff, find_vqsim, scenario};

/// Differential test of the quorum engine against corosync-vqsim.
#[derive(Parser, Debug)]
struct Args {
    /// Number of scenarios.
    #[arg(long, default_value_t = 100)]
    scenarios: u64,
    /// First seed (scenario k uses seed+k).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Parallel vqsim sessions.
    #[arg(long, default_value_t = 6)]
    jobs: usize,
    /// Compare quorate only (do not build the log shim).
    #[arg(long)]
    no_shim: bool,
}

fn main() {
    totem_log::init("info");
    let args = Args::parse();
    let Some(bin) = find_vqsim() else {
        println!("SKIP: corosync-vqsim missing");
        return;
    };
    let scratch = std::env::temp_dir().join(format!("vqsim-diff-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&scratch) {
        tracing::error!("cannot create {}: {e}", scratch.display());
        std::process::exit(2);
    }
    let shim: Option<PathBuf> = if args.no_shim {
        None
    } else {
        match build_shim(&scratch) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!("no log shim ({e}); comparing quorate only");
                None
            }
        }
    };
    let next = Arc::new(AtomicUsize::new(0));
    let bad = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let checks = Arc::new(Mutex::new((0usize, 0usize)));
    let total = args.scenarios as usize;
    let mut handles = Vec::new();
    for _ in 0..args.jobs.max(1) {
        let (next, bad, errors, checks) =
            (next.clone(), bad.clone(), errors.clone(), checks.clone());
        let (bin, shim, scratch) = (bin.clone(), shim.clone(), scratch.clone());
        let seed0 = args.seed;
        handles.push(std::thread::spawn(move || loop {
            let k = next.fetch_add(1, Ordering::SeqCst);
            if k >= total {
                break;
            }
            let s = scenario::generate(seed0.wrapping_add(k as u64));
            let dir = scratch.join(format!("s{k}"));
            match diff::run_scenario(&bin, shim.as_deref(), &dir, &s) {
                Ok(r) => {
                    if let Ok(mut c) = checks.lock() {
                        c.0 += r.node_checks;
                        c.1 += r.log_checks;
                    }
                    if !r.mismatches.is_empty() {
                        bad.fetch_add(1, Ordering::SeqCst);
                        tracing::warn!("MISMATCH {} -> {:?}", diff::describe(&s), r.mismatches);
                    }
                }
                Err(e) => {
                    errors.fetch_add(1, Ordering::SeqCst);
                    tracing::warn!("ERROR {}: {e}", diff::describe(&s));
                }
            }
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let (nc, lc) = checks.lock().map(|c| *c).unwrap_or((0, 0));
    tracing::info!(
        "node_checks={nc} log_checks={lc} errors={}",
        errors.load(Ordering::SeqCst)
    );
    println!(
        "scenarios={} mismatches={}",
        total,
        bad.load(Ordering::SeqCst) + errors.load(Ordering::SeqCst)
    );
}
