//! Decode and verify throughput over the bundled captures, per generation (packets per second).
//! `cargo run --release -p totem-captures --example versus_tshark` prints the same figures next
//! to `tshark -V` on the same files.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use totem_captures::verify::{sibling_authkey, verify_datagram};
use totem_captures::{read_udp, PortFilter, UdpDatagram};
use totem_wire::datagram::{decode, Keys};
use totem_wire::envelope::AuthKey;

fn load(glob_prefix: &str, dir: &str) -> Vec<(UdpDatagram, usize)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(glob_prefix) && n.ends_with(".pcapng")
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let key = sibling_authkey(&f).map(|k| AuthKey::from_file(k).unwrap());
        let slot = if key.is_some() { 1 } else { 0 };
        for d in read_udp(&f, &PortFilter::default()).unwrap().0 {
            out.push((d, slot));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let plain = Keys::none();
    // Both keyed capture sets use different keys; benchmark the plain and the SOBER sets.
    let sober = Keys::with_authkey(
        AuthKey::from_file(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("real/1.4.10-udpu-secauth.authkey"),
        )
        .unwrap()
        .as_bytes(),
    );
    for (label, prefix, dir, keyed) in [
        ("G1 1.4.10 plain", "1.4.10-udpu-02", "real", false),
        ("G1 1.4.10 secauth", "1.4.10-udpu-secauth-02", "real", true),
        ("G2 2.4.6 none", "2.4.6-udpu-02", "real", false),
        ("G3 3.1.7 udpu", "3.1.7-udpu-02", "g3", false),
    ] {
        let data = load(prefix, dir);
        let keys = if keyed { &sober } else { &plain };
        let mut g = c.benchmark_group(label);
        g.throughput(Throughput::Elements(data.len() as u64));
        g.bench_function("decode", |b| {
            b.iter(|| {
                data.iter()
                    .filter(|(d, _)| decode(&d.payload, keys).is_ok())
                    .count()
            })
        });
        g.bench_function("verify", |b| {
            b.iter(|| {
                data.iter()
                    .filter(|(d, _)| verify_datagram(d, keys).is_ok())
                    .count()
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
