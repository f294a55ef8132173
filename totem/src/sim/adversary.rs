//! An attacker on the simulated network: forged, replayed and mutated datagrams sent from
//! members' addresses (the simulator has no addresses: a datagram "from" node i is one any
//! node takes as node i's).
//!
//! What it sends reproduces the attacks seen against live rings: a join with a ring seq
//! near the end of u64, tokens of the current ring with impossible seq / token_seq / aru
//! and retransmit lists, commit tokens and merge detects for rings nobody formed, replays
//! of earlier traffic and mutations (truncation, bit and byte flips, extreme field values)
//! of recent real datagrams.
//!
//! One thing it does not send: a plausible mcast of a ring some node is in. Without
//! authentication such an mcast is content forgery (it takes a seq another sender's
//! message would have had), which no ordering protocol can tell from the real thing; that
//! is what the authenticated envelopes are for, and the secure simulation runs these same
//! attacks against sealed rings, where none of them opens.

use std::collections::VecDeque;

use totem_wire::header::{Header, MessageType};
use totem_wire::srp::commit_token::{CommitToken, MembEntry};
use totem_wire::srp::memb_join::MembJoin;
use totem_wire::srp::merge_detect::MergeDetect;
use totem_wire::srp::orf_token::{OrfToken, RtrItem};
use totem_wire::{Generation, RingId, SrpMessage};

use super::rng::Rng;
use crate::member::Member;

/// Datagrams kept for replay and mutation.
const RECENT_MAX: usize = 512;

/// One attack, as a scenario schedules it.
#[derive(Debug, Clone, PartialEq)]
pub enum Attack {
    /// A join from node `from` carrying `ring_seq` (the u64 wrap attack: 2^64 − 5).
    RingSeqJoin { from: usize, ring_seq: u64 },
    /// A token of `from`'s current ring: seq 0xFFFFFFF0, token_seq 0x7FFFFFFF, aru 0 and
    /// 30 random retransmit entries.
    Token { from: usize },
    /// A commit token for a ring nobody formed (random members and ring seq), from `from`.
    CommitToken { from: usize },
    /// A merge detect for a random ring, from `from`.
    MergeDetect { from: usize },
    /// `count` mutated copies of recent datagrams, each from its original sender.
    Mutate { count: u32 },
    /// `count` replays of datagrams seen earlier, each from its original sender.
    Replay { count: u32 },
}

impl Attack {
    /// The attack's kind, as `totem-sim --attacks` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Attack::RingSeqJoin { .. } => "join",
            Attack::Token { .. } => "token",
            Attack::CommitToken { .. } => "commit",
            Attack::MergeDetect { .. } => "merge",
            Attack::Mutate { .. } => "mutate",
            Attack::Replay { .. } => "replay",
        }
    }
}

/// What the attacker has seen, and how much it sent.
#[derive(Debug, Default, Clone)]
pub struct Adversary {
    recent: VecDeque<(usize, Vec<u8>)>,
    seen: u64,
    /// Datagrams the attacker injected.
    pub sent: u64,
    /// Mutations dropped because they were plausible mcasts of a live ring (see the module
    /// docs).
    pub withheld: u64,
}

impl Adversary {
    /// Remembers a datagram node `from` sent (one in eight once the buffer is full, so it
    /// holds traffic of several rings).
    pub fn observe(&mut self, rng: &mut Rng, from: usize, bytes: &[u8]) {
        self.seen += 1;
        if self.recent.len() < RECENT_MAX {
            self.recent.push_back((from, bytes.to_vec()));
        } else if rng.below(8) == 0 {
            let k = rng.below(RECENT_MAX as u64) as usize;
            self.recent[k] = (from, bytes.to_vec());
        }
    }

    /// A recorded datagram, at random.
    pub fn pick(&self, rng: &mut Rng) -> Option<(usize, Vec<u8>)> {
        if self.recent.is_empty() {
            return None;
        }
        let k = rng.below(self.recent.len() as u64) as usize;
        Some(self.recent[k].clone())
    }
}

/// A mutated copy of `bytes`.
pub fn mutate(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    if b.is_empty() {
        return b;
    }
    match rng.below(6) {
        0 => {
            let keep = rng.below(b.len() as u64) as usize;
            b.truncate(keep);
        }
        1 => {
            for _ in 0..rng.range(1, 4) {
                let i = rng.below(b.len() as u64) as usize;
                b[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            for _ in 0..rng.range(1, 4) {
                let i = rng.below(b.len() as u64) as usize;
                b[i] = rng.next_u64() as u8;
            }
        }
        3 => {
            // An extreme value over a 4-byte field (seqs, aru, counts, nodeids).
            let v: u32 = match rng.below(4) {
                0 => 0,
                1 => u32::MAX,
                2 => 0x7FFF_FFFF,
                _ => 0xFFFF_FFF0,
            };
            if b.len() >= 4 {
                let i = rng.below((b.len() - 3) as u64) as usize;
                b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        4 => {
            // An extreme 8-byte value (ring seqs).
            let v: u64 = match rng.below(3) {
                0 => u64::MAX - 4,
                1 => 0xDE00_0000_0000_0011,
                _ => 1 << 63,
            };
            if b.len() >= 8 {
                let i = rng.below((b.len() - 7) as u64) as usize;
                b[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        _ => {
            let extra = rng.range(1, 64) as usize;
            b.extend((0..extra).map(|_| rng.next_u64() as u8));
        }
    }
    b
}

/// Whether `bytes` is an mcast of one of `rings` (content the attacker may not forge); with
/// `tokens`, also a token or commit token of one of them.
pub fn is_live(bytes: &[u8], gen: Generation, rings: &[RingId], tokens: bool) -> bool {
    match SrpMessage::parse(bytes, gen) {
        Ok(d) => match d.message {
            SrpMessage::Mcast(m) => {
                rings.contains(&m.ring_id)
                    || m.inner()
                        .and_then(Result::ok)
                        .is_some_and(|i| rings.contains(&i.ring_id))
            }
            SrpMessage::OrfToken(t) => tokens && rings.contains(&t.ring_id),
            SrpMessage::CommitToken(c) => tokens && rings.contains(&c.ring_id),
            _ => false,
        },
        Err(_) => false,
    }
}

/// The forged join of the ring-seq attack.
pub fn ring_seq_join(gen: Generation, from: Member, members: &[Member], ring_seq: u64) -> Vec<u8> {
    let j = MembJoin {
        header: Header::new(gen, MessageType::MembJoin, from.nodeid()),
        system_from: from.wire(),
        ring_seq,
        proc_list: members.iter().map(Member::wire).collect(),
        failed_list: Vec::new(),
    };
    SrpMessage::MembJoin(j).to_vec()
}

/// The forged token of the token attack, for ring `ring`.
pub fn absurd_token(rng: &mut Rng, gen: Generation, from: u32, ring: RingId) -> Vec<u8> {
    let rtr_list = (0..30)
        .map(|_| RtrItem {
            ring_id: ring,
            seq: rng.next_u64() as u32,
        })
        .collect();
    let t = OrfToken {
        header: Header::new(gen, MessageType::OrfToken, from),
        seq: 0xFFFF_FFF0,
        token_seq: 0x7FFF_FFFF,
        aru: 0,
        aru_addr: from,
        ring_id: ring,
        backlog: 0,
        fcc: 0,
        retrans_flg: 0,
        rtr_list,
    };
    SrpMessage::OrfToken(t).to_vec()
}

/// A commit token for a ring nobody formed: a random subset of `members`, index 0..n.
pub fn bogus_commit_token(
    rng: &mut Rng,
    gen: Generation,
    from: Member,
    members: &[Member],
) -> Vec<u8> {
    let mut chosen: Vec<Member> = members
        .iter()
        .copied()
        .filter(|_| rng.chance(0.6))
        .collect();
    if chosen.is_empty() {
        chosen.push(from);
    }
    chosen.sort();
    let n = chosen.len();
    let seq = match rng.below(3) {
        0 => u64::MAX - 4,
        1 => rng.below(1 << 20),
        _ => rng.next_u64(),
    };
    let zero = from.ring_id(0);
    let c = CommitToken {
        header: Header::new(gen, MessageType::MembCommitToken, from.nodeid()),
        token_seq: rng.below(4) as u32,
        ring_id: from.ring_id(seq),
        retrans_flg: 0,
        memb_index: rng.below(n as u64 + 1) as i32,
        addr: chosen.iter().map(Member::wire).collect(),
        memb_list: vec![
            MembEntry {
                ring_id: zero,
                aru: 0,
                high_delivered: 0,
                received_flg: 1,
            };
            n
        ],
    };
    SrpMessage::CommitToken(c).to_vec()
}

/// A merge detect for a random ring of `from`.
pub fn bogus_merge_detect(rng: &mut Rng, gen: Generation, from: Member) -> Vec<u8> {
    let seq = match rng.below(3) {
        0 => u64::MAX - 4,
        1 => rng.below(1 << 16),
        _ => rng.next_u64(),
    };
    let m = MergeDetect {
        header: Header::new(gen, MessageType::MembMergeDetect, from.nodeid()),
        system_from: from.wire(),
        ring_id: from.ring_id(seq),
    };
    SrpMessage::MergeDetect(m).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_messages_decode_in_every_generation() {
        let mut rng = Rng::new(3);
        for gen in Generation::ALL {
            let addr = totem_wire::ip_address::TotemIpAddress::v4(2, [192, 0, 2, 2].into());
            let me = Member::own(gen, 2, Some(addr));
            let ring = me.ring_id(8);
            for bytes in [
                ring_seq_join(gen, me, &[me], u64::MAX - 4),
                absurd_token(&mut rng, gen, 2, ring),
                bogus_commit_token(&mut rng, gen, me, &[me]),
                bogus_merge_detect(&mut rng, gen, me),
            ] {
                SrpMessage::parse(&bytes, gen).unwrap_or_else(|e| panic!("{gen}: {e}"));
            }
        }
    }

    #[test]
    fn mutations_change_the_datagram() {
        let mut rng = Rng::new(9);
        let orig: Vec<u8> = (0..100).collect();
        let changed = (0..200).filter(|_| mutate(&mut rng, &orig) != orig).count();
        assert!(
            changed > 150,
            "{changed} of 200 mutations changed something"
        );
    }
}
