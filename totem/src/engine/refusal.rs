//! Why the engine refuses a decoded message: what it claims cannot be true of this ring.
//!
//! Every datagram is hostile until proven otherwise. A message that decodes but contradicts
//! what the ring has done (a ring seq no correct member can reach, a token whose seq or aru
//! the ring never produced, a retransmit request for a message never sent, a member outside
//! the nodelist) is dropped before it touches any state, and counted here by reason.

use std::fmt;

/// The reason one message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// A join with empty proc and failed lists.
    EmptyJoin,
    /// A join, commit token or merge detect whose ring seq is past [`RING_SEQ_MAX`] while
    /// our ring is not.
    RingSeqJump,
    /// A join, commit token or merge detect naming a node that is not in the nodelist.
    NotInNodelist,
    /// A commit token whose lists disagree (lengths, index, duplicate members).
    CommitTokenShape,
    /// A full commit token (second rotation) that differs from the one this node passed on.
    CommitTokenChanged,
    /// A token or commit token that does not come from the member before us in ring order.
    NotFromPredecessor,
    /// A token whose token_seq jumps further than one hop per member since our last one.
    TokenSeqJump,
    /// A token whose seq is below a message this node already holds from the ring.
    TokenSeqBehind,
    /// A token whose seq is further ahead than the ring's queues can span.
    TokenSeqAhead,
    /// A token whose aru is above its seq, or whose aru_addr is not a member.
    TokenAru,
    /// Tokens whose fcc kept the flow-control window full on an idle ring for several
    /// visits while messages waited: a corrupted fcc; the node re-forms the ring.
    TokenFcc,
    /// A token asking for retransmission of messages the ring never sent, or whose
    /// retrans_flg is neither 0 nor 1.
    TokenRtr,
    /// An mcast whose seq no token of this ring could have handed out yet.
    McastAhead,
    /// A message of another ring that names a member of ours whose token is still
    /// circulating, with a ring seq no newer than ours: a replay or a forgery.
    StaleForeign,
    /// A join that would take the gathered set past PROCESSOR_COUNT_MAX members.
    TooManyMembers,
    /// A ring-test message (RRP; not used by a single ring).
    RingTest,
}

impl Refusal {
    /// Every reason, in the order status lists them.
    pub const ALL: [Refusal; 16] = [
        Refusal::EmptyJoin,
        Refusal::RingSeqJump,
        Refusal::NotInNodelist,
        Refusal::CommitTokenShape,
        Refusal::CommitTokenChanged,
        Refusal::NotFromPredecessor,
        Refusal::TokenSeqJump,
        Refusal::TokenSeqBehind,
        Refusal::TokenSeqAhead,
        Refusal::TokenAru,
        Refusal::TokenFcc,
        Refusal::TokenRtr,
        Refusal::McastAhead,
        Refusal::StaleForeign,
        Refusal::TooManyMembers,
        Refusal::RingTest,
    ];

    /// The reason's name in status output, logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::EmptyJoin => "empty_join",
            Refusal::RingSeqJump => "ring_seq_jump",
            Refusal::NotInNodelist => "not_in_nodelist",
            Refusal::CommitTokenShape => "commit_token_shape",
            Refusal::CommitTokenChanged => "commit_token_changed",
            Refusal::NotFromPredecessor => "not_from_predecessor",
            Refusal::TokenSeqJump => "token_seq_jump",
            Refusal::TokenSeqBehind => "token_seq_behind",
            Refusal::TokenSeqAhead => "token_seq_ahead",
            Refusal::TokenAru => "token_aru",
            Refusal::TokenFcc => "token_fcc",
            Refusal::TokenRtr => "token_rtr",
            Refusal::McastAhead => "mcast_ahead",
            Refusal::StaleForeign => "stale_foreign",
            Refusal::TooManyMembers => "too_many_members",
            Refusal::RingTest => "ring_test",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Highest ring seq the engine accepts from others unless its own ring is already past it:
/// 2^32 below the end of u64, so the `+ 4` of a new ring never wraps (a ring seq grows by
/// 4 per reconfiguration; no correct cluster gets anywhere near). Lower, value-based caps
/// strand a node that legitimately got above them; a forged seq below the cap is transient
/// instead, since a new ring's seq comes from each member's latest join.
pub const RING_SEQ_MAX: u64 = u64::MAX - (1 << 32);

/// Refusal counts by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refusals {
    counts: [u64; Refusal::ALL.len()],
}

impl Refusals {
    /// Counts one refusal.
    pub fn count(&mut self, r: Refusal) {
        let c = &mut self.counts[r.index()];
        *c = c.saturating_add(1);
    }
    /// Adds every count of `other`.
    pub fn add(&mut self, other: &Refusals) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a = a.saturating_add(b);
        }
    }
    /// How many messages were refused for `r`.
    pub fn get(&self, r: Refusal) -> u64 {
        self.counts[r.index()]
    }
    /// All refusals.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }
    /// (reason, count) for every reason, zero counts included.
    pub fn iter(&self) -> impl Iterator<Item = (Refusal, u64)> + '_ {
        Refusal::ALL.iter().map(|r| (*r, self.get(*r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason_and_in_total() {
        let mut r = Refusals::default();
        r.count(Refusal::TokenAru);
        r.count(Refusal::TokenAru);
        r.count(Refusal::RingSeqJump);
        assert_eq!(r.get(Refusal::TokenAru), 2);
        assert_eq!(r.get(Refusal::RingSeqJump), 1);
        assert_eq!(r.get(Refusal::McastAhead), 0);
        assert_eq!(r.total(), 3);
        let names: Vec<&str> = r.iter().map(|(k, _)| k.name()).collect();
        assert_eq!(names.len(), Refusal::ALL.len());
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "names are unique");
    }

    #[test]
    fn indices_match_the_table() {
        for (i, r) in Refusal::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r}");
        }
    }
}
