//! The `quorum {}` and `nodelist {}` settings votequorum reads, and the start-up rules that
//! turn them into an effective configuration (two_node implies wait_for_all, ATB disables
//! two_node, odd-sized ATB needs wait_for_all, qdevice incompatibilities, device vote derivation).

use super::error::QuorumError;

/// Auto tie breaker selection (`auto_tie_breaker_node`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AtbMode {
    /// ATB disabled.
    #[default]
    None,
    /// The partition holding the lowest node id (as of the last quorate view) wins.
    Lowest,
    /// The partition holding the highest node id wins.
    Highest,
    /// The first listed node present decides, unless an earlier listed node was in the previous view.
    List(Vec<u32>),
}

impl AtbMode {
    /// Parses `auto_tie_breaker_node` like votequorum: `lowest`, `highest` or a node id list;
    /// anything else (or a list starting with 0/garbage) disables ATB.
    pub fn parse(s: &str) -> AtbMode {
        let s = s.trim();
        if s == "lowest" {
            return AtbMode::Lowest;
        }
        if s == "highest" {
            return AtbMode::Highest;
        }
        let mut ids = Vec::new();
        for tok in s.split_whitespace() {
            match tok.parse::<u32>() {
                Ok(n) if n != 0 => ids.push(n),
                _ => break,
            }
        }
        if ids.is_empty() {
            AtbMode::None
        } else {
            AtbMode::List(ids)
        }
    }
}

/// One `nodelist.node` entry: id and `quorum_votes` (default 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeEntry {
    /// Node id.
    pub nodeid: u32,
    /// `quorum_votes`.
    pub votes: u32,
}

/// Raw quorum settings as written in corosync.conf (None = key absent).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuorumOptions {
    /// `nodelist { node {...} }` entries in file order.
    pub nodelist: Vec<NodeEntry>,
    /// `quorum.expected_votes`.
    pub expected_votes: Option<u32>,
    /// `quorum.votes` (deprecated; used only without a nodelist entry for this node).
    pub votes: Option<u32>,
    /// `quorum.two_node`.
    pub two_node: bool,
    /// `quorum.wait_for_all`; `None` means "follow two_node".
    pub wait_for_all: Option<bool>,
    /// `quorum.last_man_standing`.
    pub last_man_standing: bool,
    /// `quorum.last_man_standing_window` in ms (default 10000).
    pub last_man_standing_window_ms: Option<u32>,
    /// `quorum.auto_tie_breaker`.
    pub auto_tie_breaker: bool,
    /// `quorum.auto_tie_breaker_node` (default lowest).
    pub auto_tie_breaker_node: Option<String>,
    /// `quorum.allow_downscale` (implies expected_votes_tracking).
    pub allow_downscale: bool,
    /// `quorum.expected_votes_tracking`.
    pub expected_votes_tracking: bool,
    /// `quorum.device.model` present: `Some(votes)` with `quorum.device.votes` (None = derive).
    pub device: Option<Option<u32>>,
}

/// Default last_man_standing_window (ms).
pub const DEFAULT_LMS_WINDOW_MS: u32 = 10_000;

/// The effective configuration after votequorum's start-up rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveConfig {
    /// two_node after ATB conflict resolution.
    pub two_node: bool,
    /// wait_for_all (explicit, or following two_node).
    pub wait_for_all: bool,
    /// last_man_standing.
    pub last_man_standing: bool,
    /// LMS window in ms.
    pub lms_window_ms: u32,
    /// ATB after the odd-cluster rule.
    pub atb: AtbMode,
    /// allow_downscale.
    pub allow_downscale: bool,
    /// expected votes tracking (forced on by allow_downscale).
    pub ev_tracking: bool,
    /// Votes of this node.
    pub votes: u32,
    /// Expected votes of this node before tracking is applied.
    pub expected_votes: u32,
    /// Explicit `quorum.expected_votes`, if set.
    pub configured_expected: Option<u32>,
    /// Expected votes from the nodelist (plus derived device votes); 0 without a nodelist.
    pub nodelist_expected: u32,
    /// Quorum device votes (0 = no device).
    pub qdevice_votes: u32,
    /// Whether a quorum device may operate.
    pub qdevice_can_operate: bool,
}

impl QuorumOptions {
    /// Sum of nodelist votes (the nodelist's expected votes).
    pub fn nodelist_votes(&self) -> u32 {
        self.nodelist
            .iter()
            .fold(0u32, |a, n| a.saturating_add(n.votes))
    }

    /// Applies votequorum's start-up rules for node `nodeid`; `votes_override` replaces the
    /// node's own votes (used for nodes added at runtime that are not in the nodelist).
    pub fn resolve(
        &self,
        nodeid: u32,
        votes_override: Option<u32>,
    ) -> Result<EffectiveConfig, QuorumError> {
        let have_nodelist = !self.nodelist.is_empty();
        let configured_expected = self.expected_votes.filter(|&e| e != 0);
        if !have_nodelist && configured_expected.is_none() {
            return Err(QuorumError::NoExpectedVotes);
        }
        let have_qdevice = self.device.is_some();
        let mut qdevice_votes: Option<u32> = self.device.flatten();
        if self.two_node && have_qdevice {
            return Err(QuorumError::TwoNodeWithQdevice);
        }
        let mut atb = if self.auto_tie_breaker {
            match &self.auto_tie_breaker_node {
                Some(s) => AtbMode::parse(s),
                None => AtbMode::Lowest,
            }
        } else {
            AtbMode::None
        };
        let ev_tracking = self.expected_votes_tracking || self.allow_downscale;
        let wait_for_all = self.wait_for_all.unwrap_or(self.two_node);
        let mut two_node = self.two_node;
        if two_node && atb != AtbMode::None {
            two_node = false;
        }
        let node_expected = self.nodelist_votes();
        if atb != AtbMode::None && node_expected % 2 == 1 && !wait_for_all {
            if self.last_man_standing {
                return Err(QuorumError::AtbLmsOddCluster);
            }
            atb = AtbMode::None;
        }
        if have_qdevice && self.last_man_standing {
            return Err(QuorumError::QdeviceIncompatible {
                feature: "last_man_standing",
            });
        }
        if have_qdevice && atb != AtbMode::None {
            return Err(QuorumError::QdeviceIncompatible {
                feature: "auto_tie_breaker",
            });
        }
        if have_qdevice && self.allow_downscale {
            return Err(QuorumError::QdeviceIncompatible {
                feature: "allow_downscale",
            });
        }
        if have_qdevice && qdevice_votes.is_none() && configured_expected.is_some() {
            return Err(QuorumError::QdeviceVotesRequired {
                reason: "quorum.expected_votes is set",
            });
        }
        let node_count = u32::try_from(self.nodelist.len()).unwrap_or(u32::MAX);
        if have_qdevice && qdevice_votes.is_none() && have_nodelist && node_count != node_expected {
            return Err(QuorumError::QdeviceVotesRequired {
                reason: "not all nodes vote 1",
            });
        }
        if let (Some(dv), Some(ev)) = (qdevice_votes, configured_expected) {
            if dv > 0 && ev.checked_sub(dv).is_none_or(|d| d < 2) {
                return Err(QuorumError::QdeviceVotesTooHigh {
                    device_votes: dv,
                    expected_votes: ev,
                });
            }
        }
        let mut nodelist_expected = node_expected;
        if have_qdevice && qdevice_votes.is_none() && configured_expected.is_none() && have_nodelist
        {
            let dv = node_expected.saturating_sub(1);
            qdevice_votes = Some(dv);
            nodelist_expected = node_expected.saturating_add(dv);
        }
        let (votes, mut expected) = if have_nodelist {
            let own = self
                .nodelist
                .iter()
                .find(|n| n.nodeid == nodeid)
                .map(|n| n.votes);
            (
                votes_override
                    .or(own)
                    .unwrap_or_else(|| self.votes.unwrap_or(1)),
                nodelist_expected,
            )
        } else {
            (votes_override.unwrap_or_else(|| self.votes.unwrap_or(1)), 0)
        };
        if let Some(e) = configured_expected {
            expected = e;
        }
        Ok(EffectiveConfig {
            two_node,
            wait_for_all,
            last_man_standing: self.last_man_standing,
            lms_window_ms: self
                .last_man_standing_window_ms
                .unwrap_or(DEFAULT_LMS_WINDOW_MS),
            atb,
            allow_downscale: self.allow_downscale,
            ev_tracking,
            votes,
            expected_votes: expected,
            configured_expected,
            nodelist_expected: if have_nodelist { nodelist_expected } else { 0 },
            qdevice_votes: if have_qdevice {
                qdevice_votes.unwrap_or(0)
            } else {
                0
            },
            qdevice_can_operate: true,
        })
    }
}
