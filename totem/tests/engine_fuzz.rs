//! The engine fuzz oracle (`totem::sim::engine_fuzz`) on seeded random programs and on the
//! committed corpus of the cargo-fuzz target (`totem/fuzz`), so every CI run exercises the
//! fuzz target's checks without a nightly toolchain.

use std::path::Path;

use totem::sim::engine_fuzz;
use totem::sim::rng::Rng;

/// A program biased towards the interesting steps: mostly time advances and attacks, some
/// raw datagrams taken from the program's own earlier bytes.
fn program(rng: &mut Rng) -> Vec<u8> {
    let mut p = vec![rng.below(3) as u8, rng.below(3) as u8];
    p.extend(rng.next_u64().to_le_bytes());
    for _ in 0..rng.range(10, 120) {
        let op = rng.below(12) as u8;
        p.push(op);
        p.push(rng.below(4) as u8);
        match op {
            0 | 1 => p.push(rng.range(1, 120) as u8),
            3 => {
                let len = rng.range(0, 80) as u8;
                p.push(len);
                p.extend((0..len).map(|_| rng.next_u64() as u8));
            }
            7 => p.extend(rng.next_u64().to_le_bytes()),
            _ => p.push(rng.next_u64() as u8),
        }
    }
    p
}

#[test]
fn seeded_programs_keep_evs_and_reform() {
    let mut rng = Rng::new(0xE9);
    let mut injected = 0;
    let mut refused = 0;
    for k in 0..400 {
        let p = program(&mut rng);
        match engine_fuzz::run(&p) {
            Ok(r) => {
                injected += r.injected;
                refused += r.refused;
            }
            Err(e) => panic!(
                "program {k} ({} bytes, hex {}): {e}",
                p.len(),
                hex::encode(&p)
            ),
        }
    }
    assert!(injected > 5_000, "the programs injected {injected}");
    assert!(refused > 500, "the engines refused {refused}");
}

#[test]
fn committed_corpus_runs_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/engine_ring");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    for f in files {
        let data = std::fs::read(&f).unwrap();
        if let Err(e) = engine_fuzz::run(&data) {
            panic!("{}: {e}", f.display());
        }
    }
}
