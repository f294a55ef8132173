//! Our votequorum participant: cman-compat's votequorum engine fed with the nodeinfo and
//! reconfigure messages delivered on the ring, and the nodeinfo we multicast during sync.
//! The settings come from the `quorum` section ([`crate::node_config::NodeConfig::quorum`]);
//! the last_man_standing window is a deadline the caller's timer waits for
//! ([`Quorum::lms_deadline`], [`Quorum::fire_lms`]).

use std::time::{Duration, Instant};

use crate::quorum::events::{Message, NodeInfo as VqNodeInfo, Reconfigure};
use crate::quorum::{NodeEntry, NodeFlags, QuorumOptions, QuorumSnapshot, VoteQuorum};
use totem_wire::service::votequorum::VotequorumMessage;
use totem_wire::Generation;

use super::messages;

/// Why the quorum participant could not start.
#[derive(Debug, thiserror::Error)]
pub enum QuorumStartError {
    #[error("votequorum configuration: {0}")]
    Config(#[from] crate::quorum::QuorumError),
}

/// What `totem-node status` shows of quorum.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuorumStatus {
    pub quorate: bool,
    pub quorum: u32,
    pub total_votes: u32,
    pub expected_votes: u32,
    /// Our votequorum node flags as carried in our NODEINFO (quorate 1, leaving 2,
    /// wait_for_all_status 4, first 8, ...).
    pub flags: u32,
    /// (nodeid, votes, expected_votes, state code) of every node seen.
    pub nodes: Vec<(u32, u32, u32, u32)>,
    /// Highest expected votes among members (quorumtool's "Highest expected").
    #[serde(default)]
    pub highest_expected: u32,
    /// Our own votes.
    #[serde(default)]
    pub votes: u32,
    /// The features in force after votequorum's start-up rules.
    #[serde(default)]
    pub features: QuorumFeatures,
}

/// The votequorum features in force, as `corosync-quorumtool -s` lists them in "Flags:".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuorumFeatures {
    pub two_node: bool,
    pub wait_for_all: bool,
    pub last_man_standing: bool,
    pub auto_tie_breaker: bool,
    pub allow_downscale: bool,
}

impl QuorumStatus {
    /// The "Flags:" words of `corosync-quorumtool -s`, in its order: 2Node Quorate
    /// WaitForAll LastManStanding AutoTieBreaker AllowDownscale.
    pub fn flag_words(&self) -> Vec<&'static str> {
        let f = &self.features;
        [
            (f.two_node, "2Node"),
            (self.quorate, "Quorate"),
            (f.wait_for_all, "WaitForAll"),
            (f.last_man_standing, "LastManStanding"),
            (f.auto_tie_breaker, "AutoTieBreaker"),
            (f.allow_downscale, "AllowDownscale"),
        ]
        .into_iter()
        .filter_map(|(on, w)| on.then_some(w))
        .collect()
    }
}

/// Whether `m` is a NODEINFO with the leaving flag.
pub fn is_leaving(m: &VotequorumMessage) -> bool {
    matches!(m, VotequorumMessage::NodeInfo(i) if i.flags & NodeFlags::LEAVING != 0)
}

/// One node's votequorum state.
#[derive(Debug)]
pub struct Quorum {
    gen: Generation,
    vq: VoteQuorum,
    /// When the armed last_man_standing window ends.
    lms_deadline: Option<Instant>,
}

impl Quorum {
    /// Votequorum for `nodeid` with `opts` (the `quorum` section and nodelist votes);
    /// votequorum's start-up rules apply ([`QuorumOptions::resolve`]).
    pub fn new(
        gen: Generation,
        nodeid: u32,
        opts: &QuorumOptions,
    ) -> Result<Self, QuorumStartError> {
        let vq = VoteQuorum::new(nodeid, opts, None, 0)?;
        Ok(Quorum {
            gen,
            vq,
            lms_deadline: None,
        })
    }

    /// Votequorum for `nodeid` with every node of `nodelist` voting once and no other
    /// settings (what a `quorum { provider: corosync_votequorum }` section gives).
    pub fn with_nodelist(
        gen: Generation,
        nodeid: u32,
        nodelist: &[u32],
    ) -> Result<Self, QuorumStartError> {
        Self::new(gen, nodeid, &Self::default_options(nodeid, nodelist))
    }

    /// Options with one vote per node of `nodelist` (plus `nodeid` when it is not listed).
    pub fn default_options(nodeid: u32, nodelist: &[u32]) -> QuorumOptions {
        let mut ids = nodelist.to_vec();
        if !ids.contains(&nodeid) {
            ids.push(nodeid);
        }
        QuorumOptions {
            nodelist: ids
                .into_iter()
                .map(|n| NodeEntry {
                    nodeid: n,
                    votes: 1,
                })
                .collect(),
            ..QuorumOptions::default()
        }
    }

    /// When the armed last_man_standing window ends (`None`: not armed).
    pub fn lms_deadline(&self) -> Option<Instant> {
        self.lms_deadline
    }

    /// The last_man_standing window ended: a quorate node recomputes expected votes from
    /// the nodes present.
    pub fn fire_lms(&mut self) {
        self.lms_deadline = None;
        self.vq.fire_lms_timer();
        let s = self.vq.snapshot();
        tracing::info!(
            expected_votes = s.expected_votes,
            quorum = s.quorum,
            quorate = s.quorate,
            "last_man_standing window ended"
        );
    }

    /// Sync init of a new ring.
    pub fn sync_init(&mut self, members: &[u32]) {
        let arms = self.vq.lms_arms();
        self.vq.sync_init(members);
        if self.vq.lms_arms() != arms {
            // (Re)started, as votequorum restarts its timer on each qualifying change.
            let window = u64::from(self.vq.config().lms_window_ms);
            self.lms_deadline = Some(Instant::now() + Duration::from_millis(window));
        }
    }

    /// The NODEINFO messages for our sync turn: ours, then the quorum device's (nodeid 0).
    pub fn sync_messages(&self) -> Vec<Vec<u8>> {
        self.vq
            .sync_messages()
            .iter()
            .filter_map(|m| self.nodeinfo_bytes(m))
            .collect()
    }

    /// A NODEINFO of the engine as it goes on the wire in our generation.
    fn nodeinfo_bytes(&self, m: &Message) -> Option<Vec<u8>> {
        match m {
            Message::NodeInfo(i) => Some(messages::nodeinfo(
                self.gen,
                i.nodeid,
                i.votes,
                i.expected_votes,
                i.flags.0,
            )),
            Message::Reconfigure(_) => None,
        }
    }

    /// Our NODEINFO marked leaving, to multicast before a clean stop when allow_downscale
    /// is on (the others then lower expected votes); `None` without allow_downscale.
    pub fn leave(&mut self) -> Option<Vec<u8>> {
        let m = self.vq.leave()?;
        self.nodeinfo_bytes(&m)
    }

    /// Every member's barrier for VOTEQUORUM is in.
    pub fn sync_activate(&mut self) {
        self.vq.sync_activate();
    }

    /// A votequorum message delivered from `sender`.
    pub fn deliver(&mut self, sender: u32, m: &VotequorumMessage) {
        let msg = match m {
            VotequorumMessage::NodeInfo(i) => Message::NodeInfo(VqNodeInfo {
                nodeid: i.nodeid,
                votes: i.votes,
                expected_votes: i.expected_votes,
                flags: NodeFlags(i.flags),
            }),
            VotequorumMessage::Reconfigure(r) => {
                let rc = match r.param {
                    1 => Reconfigure::ExpectedVotes(r.value),
                    2 => Reconfigure::NodeVotes {
                        nodeid: r.nodeid,
                        votes: r.value,
                    },
                    3 => Reconfigure::CancelWaitForAll,
                    other => {
                        tracing::debug!(sender, param = other, "votequorum reconfigure ignored");
                        return;
                    }
                };
                Message::Reconfigure(rc)
            }
            other => {
                tracing::debug!(sender, msg = ?other, "votequorum message ignored");
                return;
            }
        };
        self.vq.deliver(sender, &msg);
    }

    /// The engine's full snapshot.
    pub fn snapshot(&self) -> QuorumSnapshot {
        self.vq.snapshot()
    }

    /// The summary for status output.
    pub fn status(&self) -> QuorumStatus {
        let s = self.vq.snapshot();
        let c = self.vq.config();
        QuorumStatus {
            quorate: s.quorate,
            quorum: s.quorum,
            total_votes: s.total_votes,
            expected_votes: s.expected_votes,
            flags: s.flags.0,
            nodes: s
                .nodes
                .iter()
                .map(|n| (n.nodeid, n.votes, n.expected_votes, n.state.code()))
                .collect(),
            highest_expected: s.highest_expected,
            votes: s
                .nodes
                .iter()
                .find(|n| n.nodeid == s.nodeid)
                .map_or(c.votes, |n| n.votes),
            features: QuorumFeatures {
                two_node: s.two_node,
                wait_for_all: c.wait_for_all,
                last_man_standing: s.last_man_standing,
                auto_tie_breaker: c.atb != crate::quorum::AtbMode::None,
                allow_downscale: c.allow_downscale,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    //! Votequorum through [`Quorum`] as the CPG service drives it (sync init, every
    //! member's NODEINFO bytes decoded and delivered, activate), without a simulator.
    use super::*;
    use crate::quorum::NodeEntry;
    use totem_wire::Endian;

    const GEN: Generation = Generation::G3;

    fn opts(n: u32, f: impl FnOnce(&mut QuorumOptions)) -> QuorumOptions {
        let mut o = QuorumOptions {
            nodelist: (1..=n)
                .map(|id| NodeEntry {
                    nodeid: id,
                    votes: 1,
                })
                .collect(),
            ..QuorumOptions::default()
        };
        f(&mut o);
        o
    }

    /// One sync round of the ring `members` (each an index into `nodes`, nodeid = index+1).
    fn round(nodes: &mut [Quorum], members: &[u32]) {
        let ids: Vec<usize> = members.iter().map(|&m| m as usize - 1).collect();
        for &i in &ids {
            nodes[i].sync_init(members);
        }
        let mut sent = Vec::new();
        for &i in &ids {
            for m in nodes[i].sync_messages() {
                let v = VotequorumMessage::parse(&m, GEN, Endian::Little).expect("our bytes parse");
                sent.push((i as u32 + 1, v));
            }
        }
        for (sender, v) in &sent {
            for &i in &ids {
                nodes[i].deliver(*sender, v);
            }
        }
        for &i in &ids {
            nodes[i].sync_activate();
        }
    }

    fn quorate(nodes: &[Quorum], i: u32) -> bool {
        nodes[i as usize - 1].status().quorate
    }

    #[test]
    fn two_node_survives_either_node_leaving() {
        let o = opts(2, |o| o.two_node = true);
        let mut n: Vec<Quorum> = (1..=2)
            .map(|id| Quorum::new(GEN, id, &o).unwrap())
            .collect();
        // wait_for_all (implied): alone at start, not quorate.
        round(&mut n, &[1]);
        assert!(!quorate(&n, 1));
        round(&mut n, &[1, 2]);
        assert!(quorate(&n, 1) && quorate(&n, 2));
        let s = n[0].status();
        assert_eq!((s.quorum, s.total_votes, s.expected_votes), (1, 2, 2));
        assert_eq!(s.flag_words(), ["2Node", "Quorate", "WaitForAll"]);
        // Node 2 crashes: node 1 stays quorate with its one vote.
        round(&mut n, &[1]);
        assert!(quorate(&n, 1));
        assert_eq!(n[0].status().total_votes, 1);
        // Node 2 restarts (fresh state): waits for all until it sees quorate node 1.
        n[1] = Quorum::new(GEN, 2, &o).unwrap();
        round(&mut n, &[2]);
        assert!(!quorate(&n, 2));
        round(&mut n, &[1, 2]);
        assert!(quorate(&n, 2));
        // Node 1 goes: node 2 stays quorate.
        round(&mut n, &[2]);
        assert!(quorate(&n, 2));
        // Control: without two_node a lone node of two is not quorate.
        let o = opts(2, |_| {});
        let mut n: Vec<Quorum> = (1..=2)
            .map(|id| Quorum::new(GEN, id, &o).unwrap())
            .collect();
        round(&mut n, &[1, 2]);
        round(&mut n, &[1]);
        assert!(!quorate(&n, 1));
    }

    #[test]
    fn wait_for_all_needs_every_node_once() {
        let o = opts(3, |o| o.wait_for_all = Some(true));
        let mut n: Vec<Quorum> = (1..=3)
            .map(|id| Quorum::new(GEN, id, &o).unwrap())
            .collect();
        round(&mut n, &[1, 2]);
        assert!(!quorate(&n, 1) && !quorate(&n, 2));
        assert_eq!(n[0].status().flag_words(), ["WaitForAll"]);
        assert_ne!(
            n[0].status().flags & crate::quorum::NodeFlags::WFA_STATUS,
            0
        );
        round(&mut n, &[1, 2, 3]);
        assert!((1..=3).all(|i| quorate(&n, i)));
        // One lost after all were seen: two of three stay quorate.
        round(&mut n, &[1, 2]);
        assert!(quorate(&n, 1) && quorate(&n, 2));
        // Control: without wait_for_all two of three are quorate from the start.
        let o = opts(3, |_| {});
        let mut n: Vec<Quorum> = (1..=3)
            .map(|id| Quorum::new(GEN, id, &o).unwrap())
            .collect();
        round(&mut n, &[1, 2]);
        assert!(quorate(&n, 1));
    }

    #[test]
    fn quorum_votes_count_in_nodeinfo_and_totals() {
        let o = opts(3, |o| o.nodelist[0].votes = 2);
        let mut n: Vec<Quorum> = (1..=3)
            .map(|id| Quorum::new(GEN, id, &o).unwrap())
            .collect();
        // Our NODEINFO carries our 2 votes and expected 4.
        let m = VotequorumMessage::parse(&n[0].sync_messages()[0], GEN, Endian::Little).unwrap();
        let VotequorumMessage::NodeInfo(i) = m else {
            panic!("{m:?}")
        };
        assert_eq!((i.nodeid, i.votes, i.expected_votes), (1, 2, 4));
        round(&mut n, &[1, 2, 3]);
        let s = n[1].status();
        assert_eq!((s.total_votes, s.expected_votes, s.quorum), (4, 4, 3));
        assert!(s.nodes.contains(&(1, 2, 4, 1)), "{:?}", s.nodes);
        // Node 1 (2 votes) and one other are quorate; the other two alone are not.
        round(&mut n, &[2, 3]);
        assert!(!quorate(&n, 2));
    }

    #[test]
    fn last_man_standing_window_lowers_expected_votes() {
        let o = opts(3, |o| {
            o.last_man_standing = true;
            o.last_man_standing_window_ms = Some(50);
        });
        let mut n: Vec<Quorum> = (1..=3)
            .map(|id| Quorum::new(GEN, id, &o).unwrap())
            .collect();
        round(&mut n, &[1, 2, 3]);
        assert_eq!(n[0].lms_deadline(), None);
        round(&mut n, &[1, 2]);
        let d = n[0].lms_deadline().expect("armed when a node left");
        assert!(d <= Instant::now() + Duration::from_millis(50));
        assert_eq!(n[0].status().flag_words(), ["Quorate", "LastManStanding"]);
        n[0].fire_lms();
        let s = n[0].status();
        assert_eq!((s.expected_votes, s.quorum), (2, 2));
        assert_eq!(n[0].lms_deadline(), None);
    }

    #[test]
    fn allow_downscale_leave_lowers_expected_votes() {
        let o = opts(3, |o| o.allow_downscale = true);
        let mut n: Vec<Quorum> = (1..=3)
            .map(|id| Quorum::new(GEN, id, &o).unwrap())
            .collect();
        round(&mut n, &[1, 2, 3]);
        let m = n[0].leave().expect("allow_downscale announces the leave");
        let v = VotequorumMessage::parse(&m, GEN, Endian::Little).unwrap();
        assert!(is_leaving(&v));
        for q in &mut n[1..] {
            q.deliver(1, &v);
        }
        round(&mut n, &[2, 3]);
        let s = n[1].status();
        assert_eq!((s.expected_votes, s.quorum, s.quorate), (2, 2, true));
        // Without allow_downscale nothing is sent.
        let o = opts(3, |_| {});
        let mut q = Quorum::new(GEN, 1, &o).unwrap();
        assert!(q.leave().is_none());
    }
}
