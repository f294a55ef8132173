//! The totem-replay command line: the summary line, exit codes and error listing.

use std::path::Path;
use std::process::Command;

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

#[test]
fn verify_ends_with_the_summary_line_and_exits_zero() {
    let (code, out, _) = replay(&[
        "verify",
        "real/2.4.6-udpu-01-formation.pcapng",
        "g3/3.1.7-udpu-01-formation.pcapng",
    ]);
    assert_eq!(code, 0, "{out}");
    let line = last_line(&out);
    let fields: Vec<(&str, u64)> = line
        .split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k, v.parse().expect("number"))
        })
        .collect();
    let keys: Vec<&str> = fields.iter().map(|f| f.0).collect();
    assert_eq!(
        keys,
        ["packets", "totem", "decoded", "identical", "errors"],
        "{line}"
    );
    let v: Vec<u64> = fields.iter().map(|f| f.1).collect();
    // 343 (2.4.6) + the G3 udpu formation datagrams; all decoded and identical.
    assert!(
        v[1] > 343 && v[1] == v[2] && v[2] == v[3] && v[4] == 0,
        "{line}"
    );
}

#[test]
fn encrypted_without_matching_key_fails_with_listed_errors() {
    // The G2 aes256 capture with the G1 key: nothing opens, every datagram is an error.
    let (code, out, _) = replay(&[
        "verify",
        "--key",
        "real/1.4.10-udpu-secauth.authkey",
        "real/2.4.6-udpu-aes256-sha1-01-formation.pcapng",
    ]);
    assert_eq!(code, 1);
    assert!(
        out.lines().next().unwrap_or("").starts_with("error: "),
        "{out}"
    );
    assert!(out.contains("authentication failed"), "{out}");
    assert_eq!(
        last_line(&out),
        "packets=342 totem=342 decoded=0 identical=0 errors=342"
    );
}

#[test]
fn dump_text_and_json() {
    let (code, out, _) = replay(&["dump", "g3/3.1.7-udpu-02-steady-cpg.pcapng"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("cpg.mcast group=\"g3cap\""),
        "no CPG decode in dump"
    );
    let (code, out, _) = replay(&["dump", "--json", "real/1.4.10-udpu-01-formation.pcapng"]);
    assert_eq!(code, 0);
    let first: serde_json::Value =
        serde_json::from_str(out.lines().next().unwrap()).expect("JSON lines");
    assert_eq!(first["generation"], "G1");
    assert_eq!(first["message"]["type"], "memb_join");
    assert_eq!(
        first["message"]["system_from"]["ring0"]["addr"],
        "198.51.100.11"
    );
}

#[test]
fn bad_input_is_a_one_line_error_and_exit_2() {
    let (code, _, err) = replay(&["verify", "no-such-file.pcapng"]);
    assert_eq!(code, 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("totem-replay: "), "{err}");
    let (code, _, err) = replay(&[
        "verify",
        "--key",
        "no-such.authkey",
        "real/2.4.6-udpu-01-formation.pcapng",
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn encrypted_knet_verifies_from_sibling_key_and_conf() {
    let (code, out, _) = replay(&[
        "verify",
        "g3/3.1.7-knet-openssl-aes256-sha256-02-steady-cpg.pcapng",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verified G3 knet-sealed: "), "{out}");
    assert!(out.contains("cpg.mcast: 21"), "{out}");
    assert!(
        out.contains("Totem messages reassembled from knet fragments"),
        "{out}"
    );
    assert!(last_line(&out).ends_with("errors=0"), "{out}");
}

#[test]
fn knet_crypto_flag_overrides_the_sibling_conf() {
    // The right key with the wrong hash: every datagram fails its HMAC.
    let (code, out, _) = replay(&[
        "verify",
        "--knet-crypto",
        "nss:aes256:sha1",
        "g3/3.1.7-knet-nss-aes256-sha256-01-formation.pcapng",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("sha1 hmac mismatch"), "{out}");
    assert!(last_line(&out).contains(" decoded=0 "), "{out}");
    let (code, _, err) = replay(&[
        "verify",
        "--knet-crypto",
        "nss:aes256:none",
        "g3/3.1.7-knet-nss-aes256-sha256-01-formation.pcapng",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("requires crypto_hash"), "{err}");
}

#[test]
fn dump_shows_sealed_knet_frames_and_reassembled_messages() {
    let (code, out, _) = replay(&["dump", "g3/3.1.7-knet-nss-aes128-sha1-01-formation.pcapng"]);
    assert_eq!(code, 0);
    assert!(out.contains("sealed knet Ping from host"), "{out}");
    assert!(out.contains("envelope sealed knet data host="), "{out}");
    assert!(out.contains("sealed knet PmtudReply from host"), "{out}");
    // A fragment that completes a message shows the message (plain knet envelope text).
    assert!(out.contains("envelope knet data host="), "{out}");
}
