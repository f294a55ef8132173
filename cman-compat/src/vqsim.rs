//! Drives the real `corosync-vqsim` (votequorum's own code on a simulated cluster) as a
//! subprocess, for differential testing of [`totem::quorum`].
//!
//! Learnt about vqsim 3.1.7 (see `docs` in the report):
//! * `-c FILE` path must be shorter than 8 bytes (its length check is `sizeof(sizeof(...))`),
//!   so we run it in a scratch directory with `-c c.conf`.
//! * commands on stdin: `up [P:]N[,N..]`, `down N` (only the first argument is used),
//!   `split P:N[,N..]` (= `move`), `join P1 P2..`, `qdevice on|off [P:]N..`, `show`,
//!   `sync on|off`, `timeout MS`, `assert on|off`, `autofence on|off`, `exit`; a line
//!   starting with `#` is ignored but echoed after the `#vqsim> ` prompt (used as a marker).
//! * `show` prints `P:N: q=Q ring=[R.S] nodes=[A B ..]` per node then `#autofence: off`.
//! * quorum numbers are not printed; we load a small LD_PRELOAD shim (vqsim-shim/vqlog.c)
//!   that makes votequorum's debug log visible on stderr as `VQLOG pid node msg`.

pub mod diff;
pub mod logparse;
pub mod scenario;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use thiserror::Error;

use totem::quorum::{AtbMode, QuorumOptions};

/// Binary name looked up on PATH.
pub const VQSIM_BIN: &str = "corosync-vqsim";

/// The shim's C source, compiled at run time with `cc`.
pub const SHIM_SOURCE: &str = include_str!("../vqsim-shim/vqlog.c");

/// What went wrong driving vqsim.
#[derive(Debug, Error)]
pub enum VqsimError {
    /// I/O on the scratch directory, pipes or process.
    #[error("vqsim i/o ({what}): {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The shim did not compile.
    #[error("compiling the vqsim log shim failed: {0}")]
    Shim(String),
    /// vqsim did not answer within the deadline.
    #[error("vqsim timed out waiting for marker {marker}")]
    Timeout {
        /// Marker awaited.
        marker: u32,
    },
    /// vqsim closed its output.
    #[error("vqsim exited early (waiting for marker {marker})")]
    Exited {
        /// Marker awaited.
        marker: u32,
    },
    /// A `show` line that does not parse.
    #[error("unparsable vqsim show line: {0:?}")]
    BadLine(String),
}

/// Finds `corosync-vqsim` on PATH.
pub fn find_vqsim() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(VQSIM_BIN))
        .find(|p| p.is_file())
}

/// Compiles the log shim into `dir`; returns its path.
pub fn build_shim(dir: &Path) -> Result<PathBuf, VqsimError> {
    let src = dir.join("vqlog.c");
    let so = dir.join("vqlog.so");
    std::fs::write(&src, SHIM_SOURCE).map_err(|e| VqsimError::Io {
        what: "write shim source",
        source: e,
    })?;
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-ldl")
        .output()
        .map_err(|e| VqsimError::Io {
            what: "run cc",
            source: e,
        })?;
    if !out.status.success() {
        return Err(VqsimError::Shim(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    Ok(so)
}

/// Renders a corosync.conf for `opts`, with `state_dir` for the ev_tracking file.
pub fn render_conf(opts: &QuorumOptions, state_dir: &Path) -> String {
    let mut s = String::new();
    s.push_str("totem {\n    version: 2\n    cluster_name: vqdiff\n}\n");
    s.push_str(&format!(
        "system {{\n    state_dir: {}\n}}\n",
        state_dir.display()
    ));
    s.push_str("logging {\n    to_stderr: no\n    to_syslog: no\n}\n");
    s.push_str("quorum {\n    provider: corosync_votequorum\n");
    if let Some(e) = opts.expected_votes {
        s.push_str(&format!("    expected_votes: {e}\n"));
    }
    if opts.two_node {
        s.push_str("    two_node: 1\n");
    }
    if let Some(w) = opts.wait_for_all {
        s.push_str(&format!("    wait_for_all: {}\n", u8::from(w)));
    }
    if opts.last_man_standing {
        s.push_str("    last_man_standing: 1\n");
    }
    if let Some(w) = opts.last_man_standing_window_ms {
        s.push_str(&format!("    last_man_standing_window: {w}\n"));
    }
    if opts.auto_tie_breaker {
        s.push_str("    auto_tie_breaker: 1\n");
    }
    if let Some(n) = &opts.auto_tie_breaker_node {
        s.push_str(&format!("    auto_tie_breaker_node: {n}\n"));
    }
    if opts.allow_downscale {
        s.push_str("    allow_downscale: 1\n");
    }
    if opts.expected_votes_tracking {
        s.push_str("    expected_votes_tracking: 1\n");
    }
    s.push_str("}\nnodelist {\n");
    for n in &opts.nodelist {
        s.push_str(&format!(
            "    node {{\n        ring0_addr: 192.0.2.{}\n        nodeid: {}\n        quorum_votes: {}\n    }}\n",
            n.nodeid % 250 + 1,
            n.nodeid,
            n.votes
        ));
    }
    s.push_str("}\n");
    s
}

/// Describes an ATB mode the way corosync.conf writes it.
pub fn atb_node_string(m: &AtbMode) -> Option<String> {
    match m {
        AtbMode::None => None,
        AtbMode::Lowest => Some("lowest".into()),
        AtbMode::Highest => Some("highest".into()),
        AtbMode::List(l) => Some(
            l.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

/// One node line of `show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowLine {
    /// Partition number.
    pub partition: usize,
    /// Node id.
    pub nodeid: u32,
    /// Quorate (None = UNINITIALIZED).
    pub quorate: Option<bool>,
    /// Members the node was told about.
    pub members: Vec<u32>,
}

/// Parses one `show` node line, `P:N: q=Q ring=[..] nodes=[..]` or `P:N: q=UNINITIALIZED`.
pub fn parse_show_line(line: &str) -> Option<ShowLine> {
    let (p, rest) = line.split_once(':')?;
    let partition = p.trim().parse().ok()?;
    let (n, rest) = rest.split_once(':')?;
    let nodeid = n.trim().parse().ok()?;
    let rest = rest.trim();
    let q = rest.strip_prefix("q=")?;
    if q.starts_with("UNINITIALIZED") {
        return Some(ShowLine {
            partition,
            nodeid,
            quorate: None,
            members: Vec::new(),
        });
    }
    let quorate = match q.split_whitespace().next()? {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    let nodes = rest.split_once("nodes=[")?.1.split_once(']')?.0;
    let members = nodes
        .split_whitespace()
        .map(|x| x.parse().ok())
        .collect::<Option<Vec<u32>>>()?;
    Some(ShowLine {
        partition,
        nodeid,
        quorate: Some(quorate),
        members,
    })
}

/// A running vqsim with its scratch directory.
pub struct Vqsim {
    child: Child,
    stdin: ChildStdin,
    out_rx: Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
    dir: PathBuf,
    next_marker: u32,
    deadline: Instant,
}

impl Vqsim {
    /// Starts vqsim for `opts` in a fresh directory under `scratch`, preloading `shim` if given.
    /// The whole session must finish within `budget`.
    pub fn start(
        bin: &Path,
        opts: &QuorumOptions,
        scratch: &Path,
        shim: Option<&Path>,
        budget: Duration,
    ) -> Result<Self, VqsimError> {
        let dir = scratch.to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| VqsimError::Io {
            what: "create scratch dir",
            source: e,
        })?;
        std::fs::write(dir.join("c.conf"), render_conf(opts, &dir)).map_err(|e| {
            VqsimError::Io {
                what: "write c.conf",
                source: e,
            }
        })?;
        let mut cmd = Command::new(bin);
        cmd.current_dir(&dir)
            .args(["-c", "c.conf"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(s) = shim {
            cmd.env("LD_PRELOAD", s).env(
                "VQSIM_SYNC_STAGGER_MS",
                scenario::SYNC_STAGGER_MS.to_string(),
            );
        }
        let mut child = cmd.spawn().map_err(|e| VqsimError::Io {
            what: "spawn corosync-vqsim",
            source: e,
        })?;
        let stdin = child.stdin.take().ok_or(VqsimError::Io {
            what: "take stdin",
            source: std::io::Error::other("no stdin pipe"),
        })?;
        let stdout = child.stdout.take().ok_or(VqsimError::Io {
            what: "take stdout",
            source: std::io::Error::other("no stdout pipe"),
        })?;
        let stderr = child.stderr.take().ok_or(VqsimError::Io {
            what: "take stderr",
            source: std::io::Error::other("no stderr pipe"),
        })?;
        let (tx, out_rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = Arc::clone(&log);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                match line {
                    Ok(l) => {
                        if let Ok(mut g) = log2.lock() {
                            g.push(l);
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        Ok(Vqsim {
            child,
            stdin,
            out_rx,
            log,
            dir,
            next_marker: 1,
            deadline: Instant::now() + budget,
        })
    }

    /// Sends one command line.
    pub fn send(&mut self, line: &str) -> Result<(), VqsimError> {
        writeln!(self.stdin, "{line}").map_err(|e| VqsimError::Io {
            what: "write command",
            source: e,
        })?;
        self.stdin.flush().map_err(|e| VqsimError::Io {
            what: "flush command",
            source: e,
        })
    }

    /// Waits `settle`, runs `show`, and returns its node lines plus every stderr log line so far.
    pub fn show(&mut self, settle: Duration) -> Result<(Vec<ShowLine>, Vec<String>), VqsimError> {
        thread::sleep(settle);
        let marker = self.next_marker;
        self.next_marker += 1;
        self.send("show")?;
        self.send(&format!("#mark {marker}"))?;
        let tag = format!("#mark {marker}");
        let mut block: Vec<ShowLine> = Vec::new();
        loop {
            let now = Instant::now();
            if now >= self.deadline {
                return Err(VqsimError::Timeout { marker });
            }
            match self.out_rx.recv_timeout(self.deadline - now) {
                Ok(line) => {
                    if line.contains(&tag) {
                        break;
                    }
                    if line.contains("#vqsim> show") {
                        block.clear();
                        continue;
                    }
                    if let Some(s) = parse_show_line(&line) {
                        block.push(s);
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Err(VqsimError::Timeout { marker }),
                Err(RecvTimeoutError::Disconnected) => return Err(VqsimError::Exited { marker }),
            }
        }
        let log = self.log.lock().map(|g| g.clone()).unwrap_or_default();
        Ok((block, log))
    }

    /// Ends the session: `exit`, then kills vqsim and any node process still alive (by pid).
    pub fn finish(mut self) {
        let _ = self.send("exit");
        let stop = Instant::now() + Duration::from_millis(500);
        while Instant::now() < stop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = self.log.lock().map(|g| g.clone()).unwrap_or_default();
        for pid in logparse::pids(&log) {
            kill_if_alive(pid);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends SIGKILL to `pid` if it is still a `corosync-vqsim` process (a node vqsim left behind).
fn kill_if_alive(pid: u32) {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() == "corosync-vqsim" {
        let _ = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}
