//! Command lines: the totem-sim summary line and exit status; totem-node refusing bad keygen setups.

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

/// A keygen ring config on 127.0.0.1 with `extra` totem lines and `keyfile`.
fn keygen_conf(
    dir: &std::path::Path,
    extra: &str,
    keyfile: &std::path::Path,
) -> std::path::PathBuf {
    let text = format!(
        "totem {{\n    version: 2\n    transport: udpu\n{extra}    interface {{\n        mcastport: 5951\n    }}\n}}\nnodelist {{\n    node {{\n        nodeid: 1\n        ring0_addr: 127.0.0.1\n    }}\n}}\nkeygen {{\n    enable: yes\n    keyfile: {}\n    rekey_interval: 1000\n}}\n",
        keyfile.display()
    );
    let p = dir.join("corosync.conf");
    std::fs::write(&p, text).unwrap();
    p
}

/// totem-node refuses a keygen ring mixed with corosync crypto (exit 2, key and line) and
/// an authkey file that is missing or too short (exit 1, the path and reason), before it
/// sends anything.
#[test]
fn totem_node_refuses_bad_keygen_setups() {
    let dir = tempfile::tempdir().unwrap();
    let node = env!("CARGO_BIN_EXE_totem-node");
    let key = dir.path().join("authkey");
    let run = |conf: &std::path::Path| {
        std::process::Command::new(node)
            .arg("-c")
            .arg(conf)
            .args(["--nodeid", "1", "--control"])
            .arg(dir.path().join("n1.sock"))
            .output()
            .expect("runs")
    };

    let conf = keygen_conf(dir.path(), "    crypto_cipher: aes256\n", &key);
    let out = run(&conf);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("line 4: totem.crypto_cipher: \"aes256\" refused: corosync crypto cannot be combined with keygen.enable: yes"),
        "{err}"
    );

    let conf = keygen_conf(dir.path(), "", &key);
    let out = run(&conf);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("keygen secure layer: authkey") && err.contains("authkey"),
        "{err}"
    );

    std::fs::write(&key, [7u8; 8]).unwrap();
    // Readable by others: refused with the file and its mode before anything else.
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = run(&conf);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "keygen.keyfile: key file {} has mode 0644",
            key.display()
        )),
        "{err}"
    );
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = run(&conf);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("keygen secure layer: authkey"), "{err}");
}

/// Logs on a stderr that is not a terminal (a pipe here, a file or journald in service)
/// carry no ANSI colour codes.
#[test]
fn logs_to_a_pipe_have_no_colour_codes_and_status_shows_refusal_counters() {
    let dir = tempfile::tempdir().unwrap();
    let port = 20_000 + (std::process::id() % 5000) as u16 * 2;
    let conf = dir.path().join("corosync.conf");
    std::fs::write(
        &conf,
        format!("totem {{\n    version: 2\n    transport: udpu\n    interface {{\n        mcastport: {port}\n    }}\n}}\nnodelist {{\n    node {{\n        nodeid: 1\n        ring0_addr: 127.0.0.1\n    }}\n}}\nlogging {{\n    to_stderr: yes\n}}\n"),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_totem-node"))
        .arg("-c")
        .arg(&conf)
        .args(["--nodeid", "1", "--control"])
        .arg(dir.path().join("n1.sock"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // The status shows the refusal counters of the node loop and the control socket.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_totem-node"))
        .args(["status", "--control"])
        .arg(dir.path().join("n1.sock"))
        .output()
        .expect("status runs");
    let text = String::from_utf8_lossy(&status.stdout);
    for counter in [
        "rx_unlisted",
        "log_suppressed",
        "requests_too_long",
        "slow_client_disconnects",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(counter)),
            "no {counter} in the status: {text}"
        );
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("exits");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("node started"),
        "no start-up line logged: {err}"
    );
    assert!(!err.contains('\x1b'), "escape codes in piped logs: {err}");
}
