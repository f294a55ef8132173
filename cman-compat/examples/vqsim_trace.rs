//! Developer tool: runs one generated scenario (by seed) through corosync-vqsim and the engine
//! and prints, per checkpoint, vqsim's `show`, the state rebuilt from votequorum's log and the
//! engine's snapshot; the raw votequorum log goes to the file given as second argument.
//! Usage: `cargo run -p cman-compat --example vqsim_trace -- SEED [LOGFILE]`.

use std::time::Duration;

use cman_compat::vqsim::{build_shim, diff, find_vqsim, logparse, scenario, Vqsim};
use totem::quorum::Cluster;

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = match args.next().and_then(|s| s.parse().ok()) {
        Some(s) => s,
        None => {
            eprintln!("usage: vqsim_trace SEED [LOGFILE]");
            std::process::exit(2);
        }
    };
    let logfile = args.next();
    let Some(bin) = find_vqsim() else {
        eprintln!("corosync-vqsim missing");
        std::process::exit(2);
    };
    let s = scenario::generate(seed);
    println!("{}", diff::describe(&s));
    let scratch = std::env::temp_dir().join(format!("vqsim-trace-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&scratch);
    let shim = match build_shim(&scratch) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("shim: {e}");
            std::process::exit(2);
        }
    };
    let two_node = s
        .opts
        .nodelist
        .first()
        .and_then(|n| s.opts.resolve(n.nodeid, None).ok())
        .is_some_and(|c| c.two_node);
    let settle = diff::settle_for(&s);
    let mut sim = match Vqsim::start(
        &bin,
        &s.opts,
        &scratch.join("run"),
        Some(&shim),
        Duration::from_secs(60),
    ) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("vqsim: {e}");
            std::process::exit(2);
        }
    };
    let mut cluster = Cluster::start_all(s.opts.clone()).expect("engine start");
    let mut last_log = Vec::new();
    for i in 0..=s.steps.len() {
        if i > 0 {
            let step = &s.steps[i - 1];
            println!("== step {i}: {}", step.command());
            for (j, cmd) in step.commands().iter().enumerate() {
                if j > 0 {
                    std::thread::sleep(settle);
                }
                sim.send(cmd).expect("send");
            }
            if let Err(e) = step.apply(&mut cluster) {
                println!("engine rejected: {e}");
            }
        } else {
            println!("== start-up");
        }
        let wait = if i == 0 {
            settle + Duration::from_millis(150)
        } else {
            settle
        };
        let (show, log) = sim.show(wait).expect("show");
        let logged = logparse::node_states(&log, two_node);
        for l in &show {
            let snap = cluster.snapshot(l.nodeid);
            let lg = logged.get(&l.nodeid);
            let differs = snap.as_ref().is_none_or(|x| {
                Some(x.quorate) != l.quorate
                    || lg.is_some_and(|g| {
                        (g.total_votes, g.expected_votes, g.quorum)
                            != (x.total_votes, x.expected_votes, x.quorum)
                    })
            });
            println!(
                "{} P{} n{}: vqsim q={:?} tv={:?} ev={:?} quorum={:?} | engine q={:?} tv={:?} ev={:?} quorum={:?} members={:?}",
                if differs { "DIFF" } else { "    " },
                l.partition,
                l.nodeid,
                l.quorate,
                lg.map(|x| x.total_votes),
                lg.map(|x| x.expected_votes),
                lg.map(|x| x.quorum),
                snap.as_ref().map(|x| x.quorate),
                snap.as_ref().map(|x| x.total_votes),
                snap.as_ref().map(|x| x.expected_votes),
                snap.as_ref().map(|x| x.quorum),
                l.members,
            );
        }
        last_log = log;
    }
    sim.finish();
    if let Some(f) = logfile {
        let _ = std::fs::write(&f, last_log.join("\n"));
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
