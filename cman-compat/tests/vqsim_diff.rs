//! Differential test: random scenarios through the real corosync-vqsim (votequorum's own code)
//! and through our engine; quorate, quorum, total votes and expected votes must agree after
//! every step. vqsim runs its nodes as asynchronous processes; the log shim staggers their sync
//! timers so each sync has one message order (docs/vqsim-diff.md). Should a scenario still race,
//! it is re-run on vqsim and only counts as a mismatch if it mismatches every time; none may.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cman_compat::vqsim::{build_shim, diff, find_vqsim, scenario};

const SCENARIOS: usize = 200;
const JOBS: usize = 6;
const RETRIES: usize = 3;
const WALL_LIMIT: Duration = Duration::from_secs(150);

#[test]
fn engine_matches_vqsim() {
    let Some(bin) = find_vqsim() else {
        println!("SKIP: corosync-vqsim missing");
        return;
    };
    let scratch = std::env::temp_dir().join(format!("vqsim-difftest-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let shim = build_shim(&scratch).ok();
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<Vec<(u64, usize, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let stats = Arc::new(Mutex::new((0usize, 0usize, 0usize, 0usize)));
    let mut hs = Vec::new();
    for _ in 0..JOBS {
        let (next, results, stats) = (next.clone(), results.clone(), stats.clone());
        let (bin, shim, scratch) = (bin.clone(), shim.clone(), scratch.clone());
        hs.push(std::thread::spawn(move || loop {
            let k = next.fetch_add(1, Ordering::SeqCst);
            if k >= SCENARIOS || start.elapsed() > WALL_LIMIT {
                break;
            }
            let s = scenario::generate(0xC0FFEE + k as u64);
            let mut attempts = 0;
            let mut last = String::new();
            let mut matched = false;
            while attempts <= RETRIES {
                attempts += 1;
                let dir = scratch.join(format!("s{k}-{attempts}"));
                match diff::run_scenario(&bin, shim.as_deref(), &dir, &s) {
                    Ok(r) => {
                        if let Ok(mut st) = stats.lock() {
                            st.0 += r.node_checks;
                            st.1 += r.log_checks;
                        }
                        if r.mismatches.is_empty() {
                            matched = true;
                            break;
                        }
                        last = format!("{:?}", r.mismatches);
                    }
                    Err(e) => last = format!("vqsim error: {e}"),
                }
            }
            if let Ok(mut st) = stats.lock() {
                st.2 += 1;
                if matched && attempts > 1 {
                    st.3 += 1;
                }
            }
            if !matched {
                if let Ok(mut r) = results.lock() {
                    r.push((
                        s.seed,
                        attempts,
                        format!("{} -> {last}", diff::describe(&s)),
                    ));
                }
            }
        }));
    }
    for h in hs {
        h.join().expect("worker");
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let st = *stats.lock().expect("stats");
    let bad = results.lock().expect("results").clone();
    println!(
        "vqsim diff: scenarios={} node_checks={} log_checks={} raced_then_matched={} mismatches={} shim={}",
        st.2,
        st.0,
        st.1,
        st.3,
        bad.len(),
        shim.is_some()
    );
    assert!(
        st.2 >= SCENARIOS / 2,
        "only {} scenarios ran within the time limit",
        st.2
    );
    assert!(st.0 > 0, "no node state was compared");
    for b in &bad {
        println!("MISMATCH seed={} attempts={}: {}", b.0, b.1, b.2);
    }
    assert!(
        bad.is_empty(),
        "{} of {} scenarios disagree with vqsim every time",
        bad.len(),
        st.2
    );
}
