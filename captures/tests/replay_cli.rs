//! The `check`, `engine`, `send` and `test` subcommands of totem-replay, as CI runs them.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use totem_captures::{read_udp, PortFilter};

fn replay(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_totem-replay"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output()
        .expect("totem-replay runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

fn expect_files(dir: &str) -> usize {
    std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "expect")
        })
        .count()
}

/// The regression suite over every bundled capture: each has an expectations file and
/// meets it.
#[test]
fn bundled_captures_meet_their_expectations() {
    for dir in ["g3", "real"] {
        let n = expect_files(dir);
        let pcaps = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "pcapng")
            })
            .count();
        assert_eq!(n, pcaps, "{dir}: one .expect per capture");
        let (code, out, err) = replay(&["test", dir]);
        assert_eq!(
            last_line(&out),
            format!("{n} passed, 0 failed"),
            "{out}{err}"
        );
        assert_eq!(code, 0);
        assert_eq!(
            out.lines().count(),
            n + 1,
            "one line per capture, then the summary"
        );
    }
}

#[test]
fn a_wrong_expectation_fails_the_suite_and_the_junit_report_says_why() {
    let dir = tempfile_dir("suite");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("g3/3.1.7-udpu-03-node3-killed.pcapng");
    std::fs::copy(&src, dir.join("killed.pcapng")).unwrap();
    std::fs::copy(&src, dir.join("killed-too.pcapng")).unwrap();
    std::fs::write(
        dir.join("killed.expect"),
        "verdict = pass\nrings = 2\nring.2 = 1.11 : 1,2,3  # wrong: node 3 was killed\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("killed-too.expect"),
        "ring.2 = 1.11 : 1,2\ntoken_losses = 1\n",
    )
    .unwrap();
    let junit = dir.join("junit.xml");
    let (code, out, _) = replay(&[
        "test",
        dir.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(last_line(&out), "1 passed, 1 failed");
    assert!(
        out.contains("FAIL killed.pcapng: line 3: ring.2: expected 1.11 : 1,2,3, got 1.11 : 1,2"),
        "{out}"
    );
    let x = std::fs::read_to_string(&junit).unwrap();
    assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
    assert!(x.contains("<failure message=\"line 3: ring.2"), "{x}");
    std::fs::write(dir.join("killed.expect"), "ringz = 2\n").unwrap();
    let (code, out, _) = replay(&["test", dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        out.contains("killed.expect:1: unknown key \"ringz\""),
        "{out}"
    );
}

#[test]
fn check_reports_the_verdict_and_draws_an_svg() {
    let svg = tempfile_dir("svg").join("killed.svg");
    let (code, out, _) = replay(&[
        "check",
        "g3/3.1.7-udpu-03-node3-killed.pcapng",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ring #2 1.11 formed: members [1, 2] lost [3]"),
        "{out}"
    );
    assert!(last_line(&out).starts_with("verdict: pass  rings=2 formed=1 token_losses=1"));
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let (code, out, _) = replay(&[
        "check",
        "--json",
        "real/2.4.6-udpu-05-partition-merge.pcapng",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["merges"], 1);
    assert_eq!(v["rings"][1]["members"], serde_json::json!([1, 2]));
    assert_eq!(v["rings"][2]["ring_id"], "198.51.100.11/33");
}

#[test]
fn engine_prints_the_summary_line_and_bad_input_a_one_line_reason() {
    let (code, out, _) = replay(&[
        "engine",
        "g3/3.1.7-udpu-05-partition-merge.pcapng",
        "--node",
        "1",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(last_line(&out), "rings=2 same=2 differ=0");
    assert!(out.contains("seed: ring 1.16 members [1, 2, 3]"), "{out}");
    let (code, out, err) = replay(&[
        "engine",
        "g3/3.1.7-udpu-05-partition-merge.pcapng",
        "--node",
        "9",
    ]);
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("node 9 sends nothing"), "{err}");
}

/// `send` on loopback: every datagram the capture addressed to node 2 arrives, same bytes,
/// same order, from the rewritten source.
#[test]
fn send_replays_a_capture_to_a_local_socket() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = rx.local_addr().unwrap().port();
    let rel = "g3/3.1.7-udpu-01-formation.pcapng";
    let (all, _) = read_udp(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(rel),
        &PortFilter::default(),
    )
    .unwrap();
    let want: Vec<Vec<u8>> = all
        .iter()
        .filter(|d| d.dst.ip().to_string() == "192.0.2.12")
        .map(|d| d.payload.clone())
        .collect();
    assert!(want.len() > 100);
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 70_000];
        while let Ok((n, from)) = rx.recv_from(&mut buf) {
            got.push((buf[..n].to_vec(), from));
        }
        got
    });
    let to = format!("192.0.2.12=127.0.0.1:{port}");
    // The capture lasts 2.5 s; at 25x it takes 0.1 s.
    let (code, out, err) = replay(&[
        "send",
        rel,
        "--map",
        &to,
        "--map",
        "192.0.2.11=127.0.0.11",
        "--speed",
        "25",
    ]);
    assert_eq!(code, 0, "{err}");
    // Datagrams to node 1 go to 127.0.0.11:5405 (nobody listens); the rest are skipped.
    let sent: Vec<&Vec<u8>> = all
        .iter()
        .filter(|d| ["192.0.2.12", "192.0.2.11"].contains(&d.dst.ip().to_string().as_str()))
        .map(|d| &d.payload)
        .collect();
    let bytes: usize = sent.iter().map(|p| p.len()).sum();
    assert_eq!(
        last_line(&out),
        format!(
            "sent={} bytes={bytes} skipped={}",
            sent.len(),
            all.len() - sent.len()
        )
    );
    let got = reader.join().unwrap();
    assert_eq!(got.len(), want.len());
    assert!(
        got.iter().map(|g| &g.0).eq(want.iter()),
        "same bytes, same order"
    );
    let from_node1 = all
        .iter()
        .filter(|d| {
            d.dst.ip().to_string() == "192.0.2.12" && d.src.ip().to_string() == "192.0.2.11"
        })
        .count();
    assert_eq!(
        got.iter()
            .filter(|g| g.1.ip().to_string() == "127.0.0.11")
            .count(),
        from_node1,
        "node 1's datagrams come from its new address"
    );
    let (code, _, err) = replay(&["send", rel, "--map", "192.0.2.12=192.0.2.99"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a loopback address"), "{err}");
}

fn tempfile_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "totem-replay-{tag}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
