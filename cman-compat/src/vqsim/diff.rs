//! Runs a [`Scenario`] through vqsim and through [`Cluster`] and compares, after start-up and
//! after every step, each node's quorate flag (vqsim's `show`) and total votes, expected votes
//! and quorum (votequorum's own log, see [`super::logparse`]).

use std::path::Path;
use std::time::Duration;

use super::logparse;
use super::scenario::{self, Scenario, Step};
use super::{Vqsim, VqsimError};
use totem::quorum::Cluster;

/// One disagreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Checkpoint index (0 = after start-up, k = after step k).
    pub checkpoint: usize,
    /// Node id.
    pub nodeid: u32,
    /// Which value.
    pub field: &'static str,
    /// vqsim's value.
    pub vqsim: String,
    /// Engine's value.
    pub engine: String,
}

/// Outcome of one scenario.
#[derive(Debug, Clone, Default)]
pub struct ScenarioReport {
    /// Checkpoints compared.
    pub checkpoints: usize,
    /// Node states compared (sum over checkpoints).
    pub node_checks: usize,
    /// Values compared from the log (0 when the shim is not in use).
    pub log_checks: usize,
    /// All disagreements.
    pub mismatches: Vec<Mismatch>,
}

/// How long to let vqsim settle after each command.
pub fn settle_for(s: &Scenario) -> Duration {
    let n = u32::try_from(s.opts.nodelist.len()).unwrap_or(u32::MAX);
    let sync = scenario::sync_duration_ms(n.saturating_add(2)) + 40;
    let ms = if s.opts.last_man_standing {
        sync + s.opts.last_man_standing_window_ms.unwrap_or(0) + 40
    } else {
        sync
    };
    Duration::from_millis(u64::from(ms))
}

/// Runs `s` through vqsim (binary `bin`, optional log shim) in `scratch` and through the engine.
pub fn run_scenario(
    bin: &Path,
    shim: Option<&Path>,
    scratch: &Path,
    s: &Scenario,
) -> Result<ScenarioReport, VqsimError> {
    let settle = settle_for(s);
    let budget = Duration::from_secs(5) + settle * (s.steps.len() as u32 + 2) * 4;
    let two_node = s
        .opts
        .nodelist
        .first()
        .and_then(|n| s.opts.resolve(n.nodeid, None).ok())
        .is_some_and(|c| c.two_node);
    let mut sim = Vqsim::start(bin, &s.opts, scratch, shim, budget)?;
    let mut report = ScenarioReport::default();
    let result = (|| -> Result<(), VqsimError> {
        let mut cluster = match Cluster::start_all(s.opts.clone()) {
            Ok(c) => c,
            Err(_) => return Ok(()),
        };
        let (show, log) = sim.show(settle + Duration::from_millis(150))?;
        compare(
            0,
            &cluster,
            &show,
            &log,
            shim.is_some(),
            two_node,
            &mut report,
        );
        for (i, step) in s.steps.iter().enumerate() {
            let cmds = step.commands();
            for (j, cmd) in cmds.iter().enumerate() {
                if j > 0 {
                    std::thread::sleep(settle);
                }
                sim.send(cmd)?;
            }
            if step.apply(&mut cluster).is_err() {
                // The generator only emits valid steps; an error here is itself a finding.
                report.mismatches.push(Mismatch {
                    checkpoint: i + 1,
                    nodeid: 0,
                    field: "step",
                    vqsim: step.command(),
                    engine: "rejected".into(),
                });
            }
            let (show, log) = sim.show(settle)?;
            compare(
                i + 1,
                &cluster,
                &show,
                &log,
                shim.is_some(),
                two_node,
                &mut report,
            );
        }
        Ok(())
    })();
    sim.finish();
    result.map(|()| report)
}

fn compare(
    checkpoint: usize,
    cluster: &Cluster,
    show: &[super::ShowLine],
    log: &[String],
    use_log: bool,
    two_node: bool,
    report: &mut ScenarioReport,
) {
    report.checkpoints += 1;
    let logged = if use_log {
        logparse::node_states(log, two_node)
    } else {
        Default::default()
    };
    let mut push = |nodeid: u32, field: &'static str, v: String, e: String| {
        report.mismatches.push(Mismatch {
            checkpoint,
            nodeid,
            field,
            vqsim: v,
            engine: e,
        });
    };
    let engine_nodes: Vec<u32> = cluster.snapshots().iter().map(|s| s.nodeid).collect();
    let shown: Vec<u32> = {
        let mut v: Vec<u32> = show.iter().map(|l| l.nodeid).collect();
        v.sort_unstable();
        v
    };
    if shown != engine_nodes {
        push(
            0,
            "nodes_up",
            format!("{shown:?}"),
            format!("{engine_nodes:?}"),
        );
    }
    for line in show {
        let Some(snap) = cluster.snapshot(line.nodeid) else {
            continue;
        };
        report.node_checks += 1;
        if cluster.partition_of(line.nodeid) != Some(line.partition) {
            push(
                line.nodeid,
                "partition",
                line.partition.to_string(),
                format!("{:?}", cluster.partition_of(line.nodeid)),
            );
        }
        match line.quorate {
            Some(q) if q != snap.quorate => push(
                line.nodeid,
                "quorate",
                q.to_string(),
                snap.quorate.to_string(),
            ),
            None => push(
                line.nodeid,
                "quorate",
                "UNINITIALIZED".into(),
                snap.quorate.to_string(),
            ),
            _ => {}
        }
        if let Some(l) = logged.get(&line.nodeid) {
            report.log_checks += 3;
            if l.total_votes != snap.total_votes {
                push(
                    line.nodeid,
                    "total_votes",
                    l.total_votes.to_string(),
                    snap.total_votes.to_string(),
                );
            }
            if l.expected_votes != snap.expected_votes {
                push(
                    line.nodeid,
                    "expected_votes",
                    l.expected_votes.to_string(),
                    snap.expected_votes.to_string(),
                );
            }
            if l.quorum != snap.quorum {
                push(
                    line.nodeid,
                    "quorum",
                    l.quorum.to_string(),
                    snap.quorum.to_string(),
                );
            }
        }
    }
}

/// Describes a scenario for a failure message.
pub fn describe(s: &Scenario) -> String {
    let steps: Vec<String> = s.steps.iter().map(Step::command).collect();
    format!("seed={} opts={:?} steps={:?}", s.seed, s.opts, steps)
}
