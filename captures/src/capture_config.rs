//! The engine configuration of a node in a capture: generation, nodeid and address from the
//! wire, timers from the corosync.conf that node ran (when it sits next to the capture), else
//! corosync's defaults for the generation.
//!
//! Config files are found by name: `<stem>-n<N>.conf` in the capture's folder or its
//! `configs/` subfolder, where the capture's file name starts with `<stem>-` (the longest
//! such stem wins), as the bundled captures name them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use totem::config::Config;
use totem::corosync_conf::{self, Section};
use totem_wire::ip_address::TotemIpAddress;
use totem_wire::Generation;

/// Why a node's configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("{file}: {reason}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// A timer value is not a number.
    #[error("{file}: totem.{key}: {value:?} is not a number")]
    Value {
        /// The file.
        file: PathBuf,
        /// The key.
        key: String,
        /// Its value.
        value: String,
    },
}

/// The corosync.conf node `nodeid` ran with, found by the naming rule.
pub fn node_conf(capture: &Path, nodeid: u32) -> Option<PathBuf> {
    let name = capture.file_name()?.to_str()?;
    let dir = capture.parent().unwrap_or(Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let suffix = format!("-n{nodeid}.conf");
    let mut best: Option<(usize, PathBuf)> = None;
    for d in [dir.to_path_buf(), dir.join("configs")] {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(stem) = path
                .file_name()
                .and_then(|f| f.to_str())
                .and_then(|f| f.strip_suffix(&suffix))
            else {
                continue;
            };
            if name.starts_with(&format!("{stem}-"))
                && best.as_ref().is_none_or(|(n, _)| stem.len() > *n)
            {
                best = Some((stem.len(), path));
            }
        }
    }
    best.map(|(_, p)| p)
}

/// Reads and parses a corosync.conf.
pub fn read_conf(path: &Path) -> Result<Section, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        file: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    corosync_conf::parse(&text).map_err(|e| ConfigError::Read {
        file: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The engine configuration of `nodeid`: corosync's defaults for `generation` (token 1000 ms
/// in 1.x/2.x, 3000 ms in 3.x; no token_coefficient in 1.x), overridden by the timers and
/// flow-control keys of `conf`'s `totem` section, with the nodelist size from its `nodelist`.
pub fn engine_config(
    generation: Generation,
    nodeid: u32,
    address: Option<TotemIpAddress>,
    conf: Option<(&Path, &Section)>,
) -> Result<Config, ConfigError> {
    let mut c = Config::new(generation, nodeid);
    c.address = address;
    if generation != Generation::G3 {
        c.token = Duration::from_millis(1000);
    }
    if generation == Generation::G1 {
        c.token_coefficient = Duration::ZERO;
    }
    let Some((file, root)) = conf else {
        return Ok(c);
    };
    if let Some(nl) = root.section("nodelist") {
        c.nodelist_size = nl.sections("node").count();
    }
    let Some(totem) = root.section("totem") else {
        return Ok(c);
    };
    let num = |key: &str| -> Result<Option<u64>, ConfigError> {
        totem
            .get(key)
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| ConfigError::Value {
                    file: file.to_path_buf(),
                    key: key.into(),
                    value: v.into(),
                })
            })
            .transpose()
    };
    let ms = |key: &str| num(key).map(|v| v.map(Duration::from_millis));
    if let Some(v) = ms("token")? {
        c.token = v;
    }
    if let Some(v) = ms("token_coefficient")? {
        c.token_coefficient = v;
    }
    if let Some(v) = ms("token_retransmit")? {
        c.token_retransmit = Some(v);
    }
    if let Some(v) = ms("hold")? {
        c.hold = Some(v);
    }
    if let Some(v) = ms("consensus")? {
        c.consensus = Some(v);
    }
    if let Some(v) = ms("join")? {
        c.join = v;
    }
    if let Some(v) = ms("merge")? {
        c.merge = v;
    }
    if let Some(v) = ms("downcheck")? {
        c.downcheck = v;
    }
    for (key, field) in [
        (
            "token_retransmits_before_loss_const",
            &mut c.token_retransmits_before_loss_const,
        ),
        ("fail_recv_const", &mut c.fail_recv_const),
        ("seqno_unchanged_const", &mut c.seqno_unchanged_const),
        ("miss_count_const", &mut c.miss_count_const),
        ("max_messages", &mut c.max_messages),
        ("window_size", &mut c.window_size),
    ] {
        if let Some(v) = num(key)? {
            *field = v.max(1) as u32;
        }
    }
    Ok(c)
}

/// The token timeout node `nodeid` of a capture ran with: from its config file if found,
/// else the default for the generation with `nodes` nodes.
pub fn token_timeout(
    capture: &Path,
    generation: Generation,
    nodeid: u32,
    nodes: usize,
) -> Duration {
    let conf = node_conf(capture, nodeid).and_then(|p| read_conf(&p).ok().map(|s| (p, s)));
    match engine_config(
        generation,
        nodeid,
        None,
        conf.as_ref().map(|(p, s)| (p.as_path(), s)),
    ) {
        Ok(mut c) => {
            if conf.is_none() && generation != Generation::G1 {
                c.nodelist_size = nodes;
            }
            c.token_timeout()
        }
        Err(_) => Duration::from_millis(1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_g3_config_gives_corosync_3_runtime_token() {
        let capture = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/g3/3.1.7-udpu-03-node3-killed.pcapng"
        ));
        let conf = node_conf(capture, 2).expect("sibling config");
        assert!(conf.ends_with("configs/3.1.7-udpu-n2.conf"), "{conf:?}");
        assert_eq!(
            token_timeout(capture, Generation::G3, 2, 3),
            Duration::from_millis(3650)
        );
    }

    #[test]
    fn longest_stem_wins_and_g1_defaults_apply() {
        let capture = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/real/1.4.10-udpu-secauth-01-formation.pcapng"
        ));
        let conf = node_conf(capture, 1).expect("sibling config");
        assert!(conf.ends_with("1.4.10-udpu-secauth-n1.conf"), "{conf:?}");
        assert_eq!(
            token_timeout(capture, Generation::G1, 1, 3),
            Duration::from_millis(1000)
        );
    }
}
