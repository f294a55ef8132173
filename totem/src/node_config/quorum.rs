//! The `quorum` section and the nodelist's `quorum_votes`: votequorum's settings for our
//! node, as [`QuorumOptions`] for the quorum engine ([`crate::quorum`]).
//!
//! As in corosync: without a `quorum` section, or one without `provider`, there is no
//! votequorum (no quorum service, no votequorum sync messages; the node counts as quorate);
//! `provider: corosync_votequorum` runs it; any other provider is refused (corosync refuses
//! an unknown one at start, and we implement no other). The flags are 8-bit integers
//! (corosync's reader takes no yes/no here), non-zero meaning on. Keys corosync knows but
//! we do not use, and keys nobody knows, are collected for one warning at start; a quorum
//! device (`quorum.device`) is refused: we have no qdevice.

use super::{invalid, num, qualified, refused, NodeConfigError, NodeEntry, Result};
use crate::corosync_conf::{Entry, Section};
use crate::quorum::{AtbMode, NodeEntry as VoteEntry, QuorumError, QuorumOptions};

/// The only quorum provider we run.
pub const PROVIDER: &str = "corosync_votequorum";

/// What the `quorum` section gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct QuorumSection {
    /// Votequorum's settings; `None` without a votequorum provider.
    pub options: Option<QuorumOptions>,
    /// `quorum.*` keys not used (each with its line), for one warning at start.
    pub ignored: Vec<String>,
}

/// Keys of `quorum` whose value is an unsigned 32-bit number.
const NUMBER_KEYS: &[&str] = &["expected_votes", "votes", "last_man_standing_window"];

/// Keys of `quorum` whose value is corosync's 8-bit flag (0 off, anything else on).
const FLAG_KEYS: &[&str] = &[
    "two_node",
    "wait_for_all",
    "last_man_standing",
    "auto_tie_breaker",
    "allow_downscale",
    "expected_votes_tracking",
];

/// Reads `root`'s quorum section for our node `nodeid`; `nodes` are the nodelist's entries
/// in file order (one per `nodelist.node` section, as [`super::nodelist::nodelist`] returns
/// them), empty without a nodelist.
pub(super) fn quorum_section(
    root: &Section,
    nodes: &[NodeEntry],
    nodeid: u32,
) -> Result<QuorumSection> {
    let votes = nodelist_votes(root, nodes)?;
    let Some(q) = root.section("quorum") else {
        return Ok(QuorumSection::default());
    };
    if let Some(d) = q.sections("device").next() {
        return Err(NodeConfigError::Refused {
            key: "quorum.device".into(),
            value: String::new(),
            line: d.line,
            reason: "quorum devices (corosync-qdevice) are not supported: totem-node has no qdevice; remove the device section".into(),
        });
    }
    let mut ignored: Vec<String> = q
        .subsections()
        .map(|s| format!("quorum.{} (line {}, section)", s.name, s.line))
        .collect();
    match q.entry("provider") {
        None => {
            ignored.extend(
                q.entries()
                    .map(|e| format!("quorum.{} (line {}, no provider)", e.key, e.line)),
            );
            return Ok(QuorumSection {
                options: None,
                ignored,
            });
        }
        Some(e) if e.value == PROVIDER => {}
        Some(e) => {
            return Err(refused(
                &qualified("quorum", e),
                "the only quorum provider is corosync_votequorum (corosync refuses an unknown provider; corosync_ykd is not implemented)",
            ));
        }
    }
    let mut o = QuorumOptions {
        nodelist: votes,
        ..QuorumOptions::default()
    };
    for e in q.entries() {
        let k = e.key.as_str();
        let qe = qualified("quorum", e);
        if NUMBER_KEYS.contains(&k) {
            let v: u32 = num(&qe)?;
            match k {
                "expected_votes" => o.expected_votes = Some(v),
                "votes" => o.votes = Some(v),
                _ => o.last_man_standing_window_ms = Some(v),
            }
        } else if FLAG_KEYS.contains(&k) {
            let on = flag(&qe)?;
            match k {
                "two_node" => o.two_node = on,
                "wait_for_all" => o.wait_for_all = Some(on),
                "last_man_standing" => o.last_man_standing = on,
                "auto_tie_breaker" => o.auto_tie_breaker = on,
                "allow_downscale" => o.allow_downscale = on,
                _ => o.expected_votes_tracking = on,
            }
        } else if k == "auto_tie_breaker_node" {
            atb_node(&qe)?;
            o.auto_tie_breaker_node = Some(e.value.clone());
        } else if k != "provider" {
            ignored.push(format!("quorum.{k} (line {})", e.line));
        }
    }
    // votequorum's start-up rules: a configuration it would refuse is refused here.
    o.resolve(nodeid, None).map_err(|err| rule_error(q, &err))?;
    Ok(QuorumSection {
        options: Some(o),
        ignored,
    })
}

/// An 8-bit flag as corosync reads it: a number 0..=255, non-zero meaning on.
fn flag(e: &Entry) -> Result<bool> {
    e.value.parse::<u8>().map(|v| v != 0).map_err(|_| {
        invalid(
            e,
            "expected 0 or 1 (corosync reads an 8-bit number here, not yes/no)",
        )
    })
}

/// `auto_tie_breaker_node`: `lowest`, `highest` or node ids separated by spaces.
fn atb_node(e: &Entry) -> Result<()> {
    match AtbMode::parse(&e.value) {
        AtbMode::Lowest | AtbMode::Highest => Ok(()),
        AtbMode::List(ids) if ids.len() == e.value.split_whitespace().count() => Ok(()),
        _ => Err(invalid(
            e,
            "expected lowest, highest or a list of non-zero node ids separated by spaces",
        )),
    }
}

/// A configuration votequorum refuses at start, named at the quorum section (or the key
/// the rule is about).
fn rule_error(q: &Section, err: &QuorumError) -> NodeConfigError {
    let at = |k: &str| {
        q.entry(k)
            .map(|e| (format!("quorum.{k}"), e.value.clone(), e.line))
    };
    let (key, value, line) = match err {
        QuorumError::AtbLmsOddCluster => at("last_man_standing"),
        QuorumError::NoExpectedVotes => None,
        _ => None,
    }
    .unwrap_or_else(|| ("quorum".into(), String::new(), q.line));
    NodeConfigError::Refused {
        key,
        value,
        line,
        reason: err.to_string(),
    }
}

/// Each nodelist node's `quorum_votes` (default 1), paired with its nodeid.
fn nodelist_votes(root: &Section, nodes: &[NodeEntry]) -> Result<Vec<VoteEntry>> {
    let Some(nl) = root.section("nodelist") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(nodes.len());
    for (sec, node) in nl.sections("node").zip(nodes) {
        let votes = match sec.entry("quorum_votes") {
            Some(e) => num::<u32>(&qualified("nodelist.node", e))?,
            None => 1,
        };
        out.push(VoteEntry {
            nodeid: node.nodeid,
            votes,
        });
    }
    Ok(out)
}
