//! A cman cluster.conf, migrated by cman-compat, is read by our corosync.conf reader and
//! starts a node: the migration's output is not just text corosync accepts, it runs here.

use std::process::Command;
use std::time::{Duration, Instant};

use cman_compat::migrate::{migrate, MigrateOptions};
use totem::node_config::{load, CryptoSetting, Overrides, TransportKind};
use totem_wire::Generation;

const NODE: &str = env!("CARGO_BIN_EXE_lab-totem-node");

#[test]
fn migrated_cluster_conf_starts_a_node() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("authkey");
    std::fs::write(&key, (0u8..128).collect::<Vec<u8>>()).unwrap();
    // A key file others can read is refused (corosync-keygen writes 0400).
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // A cman udpu cluster on loopback addresses (no namespace needed), secauth from a keyfile.
    let xml = format!(
        r#"<cluster name="mig" config_version="3">
             <cman transport="udpu" port="5931" keyfile="{key}"/>
             <totem token="3000" secauth="on"/>
             <clusternodes>
               <clusternode name="127.78.0.1" nodeid="1" votes="1"/>
               <clusternode name="127.78.0.2" nodeid="2" votes="1"/>
               <clusternode name="127.78.0.3" nodeid="3" votes="1"/>
             </clusternodes>
           </cluster>"#,
        key = key.display()
    );
    let m = migrate(&xml, &MigrateOptions::default()).expect("migrates");
    let conf = tmp.path().join("corosync.conf");
    std::fs::write(&conf, &m.corosync_conf).unwrap();

    // Our reader maps it (the migration writes corosync 2.x syntax: a G2 ring).
    let ov = Overrides {
        generation: Some(Generation::G2),
        nodeid: Some(1),
    };
    let nc = load(&conf, ov).unwrap_or_else(|e| panic!("{e}\n{}", m.corosync_conf));
    assert_eq!(nc.transport, TransportKind::Udpu, "{}", m.corosync_conf);
    assert_eq!(nc.nodes.len(), 3);
    assert_eq!(nc.engine.token, Duration::from_millis(3000));
    assert!(
        matches!(nc.crypto, CryptoSetting::TotemCrypto { .. }),
        "secauth on must give G2 crypto: {:?}",
        nc.crypto
    );

    // And it runs: the node forms its (single-member) ring and answers status.
    let sock = tmp.path().join("ctl.sock");
    let mut child = Command::new(NODE)
        .arg("-c")
        .arg(&conf)
        .args(["--generation", "g2", "--nodeid", "1", "--control"])
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("totem-node starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last;
    let formed = loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("totem-node exited: {status}");
        }
        let out = Command::new(NODE)
            .args(["status", "--json", "--control"])
            .arg(&sock)
            .output()
            .unwrap();
        last = String::from_utf8_lossy(&out.stdout).to_string();
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&last) {
            let s = &v[0];
            if s["state"]
                .as_str()
                .is_some_and(|st| st.eq_ignore_ascii_case("operational"))
                && s["members"].as_array().is_some_and(|a| a.len() == 1)
            {
                break true;
            }
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(formed, "no ring formed; last status: {last}");
}
