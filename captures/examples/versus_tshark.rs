//! Packets per second: our decode and verify against `tshark -V` on the same captures.
//!
//! `cargo run --release -p totem-captures --example versus_tshark [FILE...]` (defaults to one
//! steady-traffic capture per generation). tshark runs as a whole process (`-V` to /dev/null,
//! corosync dissectors forced on the Totem ports) over the capture repeated 20 times, with its
//! start-up measured separately and subtracted; ours is timed in-process over the already-read
//! datagrams, best of 5. tshark decodes G1 fully, G2/G3 only as UDP data (it has no dissector
//! for them), so its G2/G3 rates are for much less work than ours.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use totem_captures::verify::verify_datagram;
use totem_captures::{read_udp, PortFilter};
use totem_wire::datagram::decode;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        files = [
            "real/1.4.10-udpu-02-steady-cpg.pcapng",
            "real/1.4.10-udpu-secauth-02-steady-cpg.pcapng",
            "real/2.4.6-udpu-02-steady-cpg.pcapng",
            "g3/3.1.7-udpu-02-steady-cpg.pcapng",
        ]
        .iter()
        .map(|f| root.join(f))
        .collect();
    }
    println!(
        "{:<44} {:>8} {:>14} {:>14} {:>14} {:>8}",
        "capture", "packets", "decode pkt/s", "verify pkt/s", "tshark -V pkt/s", "ratio"
    );
    for f in files {
        let keys = totem_captures::knet::keys_for_capture(&f, None, None).expect("keys load");
        let (data, _) = read_udp(&f, &PortFilter::default()).expect("capture reads");
        let n = data.len() as f64;
        let best = |work: &dyn Fn() -> usize| {
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(work());
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::MAX, f64::min)
        };
        let dec = n / best(&|| {
            data.iter()
                .filter(|d| decode(&d.payload, &keys).is_ok())
                .count()
        });
        let ver = n / best(&|| {
            data.iter()
                .filter(|d| verify_datagram(d, &keys).is_ok())
                .count()
        });
        // tshark gets the capture 20 times over (mergecap -a), so its start-up is a small
        // part of the run; its start-up alone (one packet) is still subtracted.
        let big = std::env::temp_dir().join(format!("versus-tshark-{}.pcapng", std::process::id()));
        let copies: Vec<&PathBuf> = std::iter::repeat_n(&f, 20).collect();
        let merged = Command::new("mergecap")
            .arg("-a")
            .arg("-w")
            .arg(&big)
            .args(&copies)
            .status()
            .is_ok_and(|s| s.success());
        let run = |count: Option<&str>| {
            let t = Instant::now();
            let mut cmd = Command::new("tshark");
            cmd.args(["-V", "-r"])
                .arg(&big)
                .args(["-d", "udp.port==5405,corosync_totemnet"]);
            if let Some(c) = count {
                cmd.args(["-c", c]);
            }
            match cmd.stdout(Stdio::null()).stderr(Stdio::null()).status() {
                Ok(s) if s.success() => t.elapsed().as_secs_f64(),
                _ => f64::NAN,
            }
        };
        let tsh = if merged {
            let startup = (0..3).map(|_| run(Some("1"))).fold(f64::MAX, f64::min);
            let whole = (0..2).map(|_| run(None)).fold(f64::MAX, f64::min);
            20.0 * n / (whole - startup).max(1e-6)
        } else {
            f64::NAN
        };
        let _ = std::fs::remove_file(&big);
        println!(
            "{:<44} {:>8} {:>14.0} {:>14.0} {:>14.0} {:>7.0}x",
            f.file_name().unwrap().to_string_lossy(),
            data.len(),
            dec,
            ver,
            tsh,
            ver / tsh
        );
    }
}
