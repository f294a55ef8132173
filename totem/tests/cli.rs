//! The totem-sim command line: summary line and exit status.

#[test]
fn summary_line_and_success_exit() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_totem-sim"))
        .args(["--seeds", "3", "--nodes", "4", "--start", "7"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().last(), Some("seeds=3 violations=0"), "{text}");
    assert!(out.status.success());
}
