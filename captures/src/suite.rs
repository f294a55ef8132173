//! Captures as a regression suite: each capture with an expectations file, checked by
//! `totem-replay test DIR`.

use std::path::Path;
use std::time::Duration;

use totem_wire::datagram::Keys;

use crate::story::read_story;
use crate::timeline::{Options, Timeline};
use crate::{CaptureError, PortFilter};

/// Reads a capture and analyses it; `token_gap_ms` overrides the token-loss gap (default:
/// half the token timeout of node 1's sibling corosync.conf, else corosync's default).
pub fn analyse(
    file: &Path,
    keys: &Keys,
    filter: &PortFilter,
    token_gap_ms: Option<u64>,
) -> Result<Timeline, CaptureError> {
    let story = read_story(file, keys, filter)?;
    let gen = story.generation();
    let nodes = story.nodes();
    let first = nodes.iter().next().copied().unwrap_or(1);
    let gap = match token_gap_ms {
        Some(ms) => Duration::from_millis(ms),
        None => crate::capture_config::token_timeout(file, gen, first, nodes.len()).mul_f64(0.5),
    };
    Ok(Timeline::build(&story, Options { token_gap: gap }))
}

/// What a capture is expected to show, read from its `.expect` file.
///
/// Format: one `key = value` per line, `#` starts a comment, blank lines are ignored.
///
/// | key | value |
/// | --- | --- |
/// | `verdict` | `pass` or `fail`: the EVS checks' verdict |
/// | `rings` | number of rings seen (pre-existing included) |
/// | `formed` | number of rings formed inside the capture |
/// | `ring.N` | `ID : M,M,M`: the N-th ring (1-based, formation order), its id as `check` prints it (`1.11`, `198.51.100.11/16`) or `*` for any, and its members in ring order |
/// | `token_losses`, `partitions`, `merges`, `leaves` | event counts |
/// | `count.TYPE` | messages of one type (`orf_token`, `mcast`, `memb_join`, `memb_merge_detect`, `memb_commit_token`, `token_hold_cancel`) |
/// | `engine_differ` | total `differ` of the differential replay over every node |
///
/// Every key is optional; a key not listed here is an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    /// `(key, value, line)` in file order.
    pub entries: Vec<(String, String, usize)>,
}

/// Why an expectations file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ExpectError {
    /// Cannot read it.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `key = value` or the key is unknown.
    #[error("{file}:{line}: {reason}")]
    Syntax {
        /// The file.
        file: std::path::PathBuf,
        /// 1-based line.
        line: usize,
        /// Why.
        reason: String,
    },
}

const KEYS: [&str; 8] = [
    "verdict",
    "rings",
    "formed",
    "token_losses",
    "partitions",
    "merges",
    "leaves",
    "engine_differ",
];

impl Expect {
    /// Parses the text of an expectations file (`file` names it in errors).
    pub fn parse(text: &str, file: &Path) -> Result<Expect, ExpectError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |reason: String| ExpectError::Syntax {
                file: file.to_path_buf(),
                line: i + 1,
                reason,
            };
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| err(format!("expected `key = value`, got {line:?}")))?;
            let (k, v) = (k.trim(), v.trim());
            let known = KEYS.contains(&k)
                || k.strip_prefix("ring.")
                    .is_some_and(|n| n.parse::<usize>().is_ok_and(|n| n >= 1))
                || k.strip_prefix("count.").is_some_and(|t| !t.is_empty());
            if !known {
                return Err(err(format!("unknown key {k:?}")));
            }
            entries.push((k.to_string(), v.to_string(), i + 1));
        }
        Ok(Expect { entries })
    }

    /// Reads and parses an expectations file.
    pub fn read(file: &Path) -> Result<Expect, ExpectError> {
        let text = std::fs::read_to_string(file).map_err(|source| ExpectError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        Expect::parse(&text, file)
    }

    /// Whether the differential replay is needed.
    pub fn wants_engine(&self) -> bool {
        self.entries.iter().any(|(k, _, _)| k == "engine_differ")
    }

    /// Compares with what the tools found; returns one line per mismatch.
    pub fn compare(&self, t: &Timeline, engine_differ: Option<usize>) -> Vec<String> {
        let mut bad = Vec::new();
        for (k, want, line) in &self.entries {
            let got: String = match k.as_str() {
                "verdict" => if t.passed() { "pass" } else { "fail" }.into(),
                "rings" => t.rings.len().to_string(),
                "formed" => t.formed().count().to_string(),
                "token_losses" => t.count("token_loss").to_string(),
                "partitions" => t.count("partition").to_string(),
                "merges" => t.count("merge").to_string(),
                "leaves" => t.count("leave").to_string(),
                "engine_differ" => engine_differ.map_or("-".into(), |d| d.to_string()),
                k if k.starts_with("count.") => t
                    .counts
                    .get(&k["count.".len()..])
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
                k => {
                    let n: usize = k["ring.".len()..].parse().unwrap_or(0);
                    let (want_id, want_members) = want.rsplit_once(':').unwrap_or(("*", want));
                    let want_members: Vec<String> = want_members
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                    let want_id = want_id.trim();
                    match t.rings.get(n - 1) {
                        None => {
                            bad.push(format!("line {line}: {k}: expected {want}, no such ring"))
                        }
                        Some(r) => {
                            let members: Vec<String> =
                                r.members.iter().map(ToString::to_string).collect();
                            let id = r.id.to_string();
                            if (want_id != "*" && want_id != id) || members != want_members {
                                bad.push(format!(
                                    "line {line}: {k}: expected {want}, got {id} : {}",
                                    members.join(",")
                                ));
                            }
                        }
                    }
                    continue;
                }
            };
            if &got != want {
                bad.push(format!("line {line}: {k}: expected {want}, got {got}"));
            }
        }
        bad
    }
}

/// The outcome for one capture of a suite.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// Capture file name.
    pub name: String,
    /// Mismatches or errors; empty when it passed.
    pub failures: Vec<String>,
    /// Seconds it took.
    pub seconds: f64,
}

/// The expectations file of a capture: `<stem>.expect` next to it.
pub fn expect_file(capture: &Path) -> std::path::PathBuf {
    capture.with_extension("expect")
}

/// The captures of `dir` that have an expectations file, sorted by name.
pub fn cases(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut v: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "pcapng" || e == "pcap") && expect_file(p).is_file()
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Runs one case: analyse the capture (keys by the sibling rule), replay every node when the
/// expectations ask for it, compare.
pub fn run_case(capture: &Path, filter: &PortFilter) -> CaseResult {
    let started = std::time::Instant::now();
    let name = capture
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    let failures = (|| -> Result<Vec<String>, String> {
        let expect = Expect::read(&expect_file(capture)).map_err(|e| e.to_string())?;
        let keys = crate::knet::keys_for_capture(capture, None, None)?;
        let story = read_story(capture, &keys, filter).map_err(|e| e.to_string())?;
        let gen = story.generation();
        let nodes = story.nodes();
        let first = nodes.iter().next().copied().unwrap_or(1);
        let gap =
            crate::capture_config::token_timeout(capture, gen, first, nodes.len()).mul_f64(0.5);
        let t = Timeline::build(&story, Options { token_gap: gap });
        let differ = if expect.wants_engine() {
            let mut total = 0;
            for (n, r) in crate::differential::replay_all(Some(capture), &story) {
                match r {
                    Ok(r) => total += r.differ(),
                    Err(e) => return Err(format!("engine node {n}: {e}")),
                }
            }
            Some(total)
        } else {
            None
        };
        Ok(expect.compare(&t, differ))
    })()
    .unwrap_or_else(|e| vec![e]);
    CaseResult {
        name,
        failures,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// JUnit XML for a suite run.
pub fn junit(suite: &str, results: &[CaseResult]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    let total: f64 = results.iter().map(|r| r.seconds).sum();
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" time=\"{total:.3}\">\n",
        esc(suite),
        results.len()
    );
    for r in results {
        s.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            esc(suite),
            esc(&r.name),
            r.seconds
        ));
        if r.failures.is_empty() {
            s.push_str("/>\n");
        } else {
            s.push_str(&format!(
                ">\n    <failure message=\"{}\">{}</failure>\n  </testcase>\n",
                esc(&r.failures[0]),
                esc(&r.failures.join("\n"))
            ));
        }
    }
    s.push_str("</testsuite>\n</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_and_rejects_unknown_ones() {
        let e = Expect::parse(
            "# c\nverdict = pass\nring.1 = 1.d : 1,2,3  # x\ncount.orf_token = 5\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(e.entries.len(), 3);
        assert_eq!(e.entries[1].1, "1.d : 1,2,3");
        let err = Expect::parse("verdict = pass\nbogus = 1\n", Path::new("x")).unwrap_err();
        assert!(err.to_string().contains("x:2: unknown key"), "{err}");
        assert!(Expect::parse("ring.0 = *:1", Path::new("x")).is_err());
        assert!(Expect::parse("no equals sign", Path::new("x")).is_err());
    }

    #[test]
    fn junit_counts_failures_and_escapes() {
        let x = junit(
            "s",
            &[
                CaseResult {
                    name: "a<b".into(),
                    failures: vec![],
                    seconds: 0.5,
                },
                CaseResult {
                    name: "c".into(),
                    failures: vec!["rings: expected 2, got 1 & more".into()],
                    seconds: 0.25,
                },
            ],
        );
        assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
        assert!(x.contains("name=\"a&lt;b\""), "{x}");
        assert!(x.contains("got 1 &amp; more"), "{x}");
    }
}
