//! The `totem-keygen` binary.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_totem-keygen"))
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("totem-keygen-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn writes_authkey_and_refuses_overwrite() {
    let d = tmpdir("auth");
    let k = d.join("authkey");
    let out = bin().arg("-k").arg(&k).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = std::fs::metadata(&k).unwrap();
    assert_eq!(meta.len(), 128);
    assert_eq!(meta.permissions().mode() & 0o777, 0o400);
    let first = std::fs::read(&k).unwrap();
    assert_ne!(first, vec![0u8; 128]);

    let out = bin().arg("-k").arg(&k).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one-line reason: {err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&k).unwrap(), first);

    let out = bin().arg("-k").arg(&k).arg("--force").output().unwrap();
    assert!(out.status.success());
    assert_ne!(std::fs::read(&k).unwrap(), first, "new random key");

    let out = bin()
        .arg("-k")
        .arg(d.join("no/such/dir/authkey"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn writes_identity_pair() {
    let d = tmpdir("id");
    let out = bin()
        .arg("--identity")
        .arg("7")
        .arg("-d")
        .arg(&d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sk = totem_keygen::keyfile::read_signing_key(&d.join("identity-7.key")).unwrap();
    let pk = totem_keygen::keyfile::read_verifying_key(&d.join("identity-7.pub")).unwrap();
    assert_eq!(sk.verifying_key(), pk);
    let mode = std::fs::metadata(d.join("identity-7.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o400);
    let out = bin()
        .arg("--identity")
        .arg("7")
        .arg("-d")
        .arg(&d)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = bin().arg("--identity").arg("notanumber").output().unwrap();
    assert!(!out.status.success());
    std::fs::remove_dir_all(&d).unwrap();
}
