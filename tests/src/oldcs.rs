//! Real corosync 2.4.6 daemons (built from the upstream tag, `../shared/old-corosync/`) in
//! lab namespaces: installed on first use, one per namespace with its own state folder.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::netns::{Lab, LabError};
use crate::wait;

/// Builds `tests/bench/cpgload.c` into `bin` against the libcpg of the corosync installed
/// under `prefix` (2.4.6 or 1.4.10); panics naming `version` if gcc fails.
pub fn build_cpgload(prefix: &Path, version: &str, bin: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/cpgload.c");
    let p = prefix.display();
    let ok = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(bin)
        .arg(&src)
        .arg(format!("-I{p}/include"))
        .arg(format!("-L{p}/lib"))
        .arg(format!("-Wl,-rpath,{p}/lib"))
        .arg("-lcpg")
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "building the {version} libcpg client");
}

/// Where the 2.4.6 build lives once installed.
pub const PREFIX: &str = "/opt/oldcs/2.4.6";

/// The tarball shipped beside the repository.
pub fn tarball() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/old-corosync/corosync-2.4.6-debian12-x86_64.tar.xz")
}

/// Installs 2.4.6 under [`PREFIX`] if it is not there (root only).
pub fn install() -> Result<(), LabError> {
    install_version("2.4.6")
}

/// Where old corosync `version` ("2.4.6", "1.4.10") lives once installed.
pub fn prefix_of(version: &str) -> PathBuf {
    PathBuf::from(format!("/opt/oldcs/{version}"))
}

/// The tarball of old corosync `version` shipped beside the repository.
pub fn tarball_of(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../../shared/old-corosync/corosync-{version}-debian12-x86_64.tar.xz"
    ))
}

/// Installs old corosync `version` under [`prefix_of`] if it is not there (root only).
pub fn install_version(version: &str) -> Result<(), LabError> {
    if prefix_of(version).join("sbin/corosync").exists() {
        return Ok(());
    }
    let t = tarball_of(version);
    let out = Command::new("tar")
        .args(["-C", "/", "-xJf"])
        .arg(&t)
        .output()
        .map_err(|source| LabError::Spawn {
            cmd: format!("tar -xJf {}", t.display()),
            source,
        })?;
    if !out.status.success() {
        return Err(LabError::Command {
            cmd: format!("tar -C / -xJf {}", t.display()),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        });
    }
    Ok(())
}

/// A corosync.conf for 2.4.6 on udpu, no crypto, nodelist `(nodeid, ring0_addr)`.
pub fn conf(nodes: &[(u32, String)], bindnet: &str, dir: &Path) -> String {
    conf_crypto(nodes, bindnet, dir, None)
}

/// As [`conf`], with `crypto_cipher`, `crypto_hash` and the authkey file when given.
pub fn conf_crypto(
    nodes: &[(u32, String)],
    bindnet: &str,
    dir: &Path,
    crypto: Option<(&str, &str, &Path)>,
) -> String {
    let crypto = match crypto {
        Some((c, h, k)) => format!(
            "crypto_cipher: {c}\n    crypto_hash: {h}\n    keyfile: {}",
            k.display()
        ),
        None => "crypto_cipher: none\n    crypto_hash: none".into(),
    };
    let mut nl = String::new();
    for (id, a) in nodes {
        nl.push_str(&format!(
            "    node {{\n        ring0_addr: {a}\n        nodeid: {id}\n    }}\n"
        ));
    }
    format!(
        "totem {{\n    version: 2\n    cluster_name: upgrade\n    transport: udpu\n    \
         {crypto}\n    interface {{\n        ringnumber: 0\n        \
         bindnetaddr: {bindnet}\n        mcastport: 5405\n    }}\n}}\nnodelist {{\n{nl}}}\n\
         quorum {{\n    provider: corosync_votequorum\n}}\nlogging {{\n    to_stderr: no\n    \
         to_syslog: no\n    to_logfile: yes\n    logfile: {}/corosync.log\n    timestamp: on\n}}\n",
        dir.display()
    )
}

/// Starts the old corosync installed under `prefix` in node `index`'s namespace with
/// `dir/corosync.conf` and `dir/var` as its state folder (bind-mounted over the build's var,
/// private to the namespace); its pid.
pub fn spawn_daemon(
    lab: &mut Lab,
    index: usize,
    dir: &Path,
    prefix: &Path,
) -> Result<u32, LabError> {
    let var = dir.join("var");
    for sub in ["lib/corosync", "run", "log"] {
        let _ = std::fs::create_dir_all(var.join(sub));
    }
    let script = format!(
        "mount --bind \"$1\" {p}/var && COROSYNC_MAIN_CONFIG_FILE=\"$2\" exec {p}/sbin/corosync -f -p",
        p = prefix.display()
    );
    lab.spawn(
        index,
        &[
            "sh",
            "-c",
            &script,
            "sh",
            &var.display().to_string(),
            &dir.join("corosync.conf").display().to_string(),
        ],
        &dir.join("stdout.log"),
    )
}

/// A running 2.4.6 daemon.
#[derive(Debug)]
pub struct OldCorosync {
    pub index: usize,
    pub pid: u32,
    pub dir: PathBuf,
}

impl OldCorosync {
    /// Starts 2.4.6 in node `index`'s namespace with `dir/corosync.conf` and `dir/var` as
    /// its state folder (bind-mounted over the build's var, private to the namespace).
    pub fn start(lab: &mut Lab, index: usize, dir: &Path) -> Result<OldCorosync, LabError> {
        let pid = spawn_daemon(lab, index, dir, Path::new(PREFIX))?;
        Ok(OldCorosync {
            index,
            pid,
            dir: dir.to_path_buf(),
        })
    }

    /// Runs a 2.4.6 tool (`corosync-quorumtool`, …) in this node's namespace.
    pub fn tool(&self, lab: &Lab, tool: &str, args: &[&str]) -> Option<String> {
        let bin = format!("{PREFIX}/sbin/{tool}");
        let mut v = vec![bin.as_str()];
        v.extend_from_slice(args);
        lab.exec(self.index, &v)
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
    }

    /// The members 2.4.6 lists in `runtime.totem.pg.mrp.srp.members` as joined.
    pub fn members(&self, lab: &Lab) -> Vec<u32> {
        members_of(&self.tool(
            lab,
            "corosync-cmapctl",
            &["runtime.totem.pg.mrp.srp.members"],
        ))
    }

    /// Waits (bounded) until this node lists exactly `want`.
    pub fn wait_members(&self, lab: &Lab, want: &[u32], timeout: Duration) -> Result<(), String> {
        wait::until(timeout, Duration::from_millis(200), || {
            (self.members(lab) == want).then_some(())
        })
        .ok_or_else(|| {
            format!(
                "2.4.6 node {}: members {:?}, wanted {want:?}",
                self.index,
                self.members(lab)
            )
        })
    }

    /// Whether 2.4.6's quorumtool says Quorate.
    pub fn quorate(&self, lab: &Lab) -> bool {
        quorate(&self.tool(lab, "corosync-quorumtool", &["-s"]))
    }
}

/// Joined nodeids in a `runtime.*members` cmapctl listing (2.x: `…members.N.status (str) =
/// joined`).
pub fn members_of(out: &Option<String>) -> Vec<u32> {
    let Some(out) = out else { return Vec::new() };
    let mut v: Vec<u32> = out
        .lines()
        .filter(|l| l.contains(".status (str) = joined"))
        .filter_map(|l| {
            let key = l.split_whitespace().next()?;
            key.split('.').rev().nth(1)?.parse().ok()
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Whether a quorumtool -s output says Quorate.
pub fn quorate(out: &Option<String>) -> bool {
    out.as_deref().is_some_and(|o| {
        o.lines()
            .any(|l| l.starts_with("Quorate:") && l.contains("Yes"))
    })
}
