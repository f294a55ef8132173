//! Bridging CPG groups between rings of unmodified corosync daemons (sans-IO core).
//!
//! Corosync's nodes know nothing of other rings, so there is no global order to keep:
//! what can be kept is each sender's own order (FIFO) and the group's membership. The
//! gateway is a member of both rings (our node, a full corosync member) and of each
//! bridged group on both (its *listener*). Every process of a group on one side gets a
//! *proxy* on the other: a member of the group there, joined by the gateway, that sends
//! exactly what its original sent, in the same order. So clients on each side see the
//! far side's members (as processes of the gateway's node) and their messages, each
//! sender's in its order; messages of different senders may interleave differently on
//! the two sides, which is why global total order needs our nodes on every ring.
//!
//! The gateway's own processes (listener and proxies, everything on its nodeid) are never
//! mirrored or forwarded, so nothing loops.

use std::collections::{BTreeMap, BTreeSet};

use totem::cpg::Process;

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Join `group` on `side` as the proxy of `far` (a process of the other side).
    Join {
        side: usize,
        group: Vec<u8>,
        far: Process,
    },
    /// The proxy of `far` leaves `group` on `side`.
    Leave {
        side: usize,
        group: Vec<u8>,
        far: Process,
    },
    /// The proxy of `far` on `side` multicasts `data` to `group`.
    Mcast {
        side: usize,
        group: Vec<u8>,
        far: Process,
        data: Vec<u8>,
    },
}

/// Counters of the FIFO bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FifoStats {
    /// Messages forwarded, by the side they came from.
    pub forwarded: [u64; 2],
    /// Messages of members the other side has no proxy of yet (not forwarded).
    pub unproxied: [u64; 2],
}

/// The mirrored groups of two rings.
#[derive(Debug)]
pub struct FifoBridge {
    /// The gateway's nodeid on each side.
    gw: [u32; 2],
    groups: BTreeSet<Vec<u8>>,
    /// Real members of each group on each side, as last seen.
    members: [BTreeMap<Vec<u8>, BTreeSet<Process>>; 2],
    pub stats: FifoStats,
}

impl FifoBridge {
    pub fn new(gw: [u32; 2], groups: &[Vec<u8>]) -> Self {
        FifoBridge {
            gw,
            groups: groups.iter().cloned().collect(),
            members: Default::default(),
            stats: FifoStats::default(),
        }
    }

    /// The bridged groups.
    pub fn groups(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.groups.iter()
    }

    /// Real members of `group` on `side` (the gateway's own processes left out).
    pub fn members(&self, side: usize, group: &[u8]) -> Vec<Process> {
        self.members[side]
            .get(group)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }

    /// `group`'s membership on `side` changed (the listener's view): the proxies on the
    /// other side follow.
    pub fn conf_chg(&mut self, side: usize, group: &[u8], members: &[Process]) -> Vec<Action> {
        if side > 1 || !self.groups.contains(group) {
            return Vec::new();
        }
        let now: BTreeSet<Process> = members
            .iter()
            .copied()
            .filter(|p| p.nodeid != self.gw[side])
            .collect();
        let before = self.members[side]
            .insert(group.to_vec(), now.clone())
            .unwrap_or_default();
        let far = 1 - side;
        let mut out: Vec<Action> = before
            .difference(&now)
            .map(|p| Action::Leave {
                side: far,
                group: group.to_vec(),
                far: *p,
            })
            .collect();
        out.extend(now.difference(&before).map(|p| Action::Join {
            side: far,
            group: group.to_vec(),
            far: *p,
        }));
        out
    }

    /// A message of `group` on `side` from `from`.
    pub fn deliver(
        &mut self,
        side: usize,
        group: &[u8],
        from: Process,
        data: Vec<u8>,
    ) -> Option<Action> {
        if side > 1 || from.nodeid == self.gw[side] || !self.groups.contains(group) {
            return None;
        }
        // CPG delivers a member's join before its messages; a message from a process the
        // listener has not seen join is not forwarded (it cannot have a proxy).
        let known = self.members[side]
            .get(group)
            .is_some_and(|m| m.contains(&from));
        if !known {
            self.stats.unproxied[side] += 1;
            return None;
        }
        self.stats.forwarded[side] += 1;
        Some(Action::Mcast {
            side: 1 - side,
            group: group.to_vec(),
            far: from,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(nodeid: u32, pid: u32) -> Process {
        Process { nodeid, pid }
    }

    #[test]
    fn members_are_mirrored_and_messages_follow_their_proxies() {
        let mut b = FifoBridge::new([5, 9], &[b"g".to_vec()]);
        // Side 0: two clients and the gateway's own listener (nodeid 5).
        let a = b.conf_chg(0, b"g", &[p(1, 100), p(2, 200), p(5, 7)]);
        assert_eq!(
            a,
            vec![
                Action::Join {
                    side: 1,
                    group: b"g".to_vec(),
                    far: p(1, 100)
                },
                Action::Join {
                    side: 1,
                    group: b"g".to_vec(),
                    far: p(2, 200)
                },
            ]
        );
        // Side 1 sees its client and the proxies (gateway nodeid 9): only the client is real.
        let a = b.conf_chg(1, b"g", &[p(3, 300), p(9, 1), p(9, 2), p(9, 3)]);
        assert_eq!(
            a,
            vec![Action::Join {
                side: 0,
                group: b"g".to_vec(),
                far: p(3, 300)
            }]
        );
        assert_eq!(
            b.deliver(0, b"g", p(1, 100), b"m".to_vec()),
            Some(Action::Mcast {
                side: 1,
                group: b"g".to_vec(),
                far: p(1, 100),
                data: b"m".to_vec()
            })
        );
        // A proxy's message (the gateway's nodeid) never goes back: no loop.
        assert_eq!(b.deliver(1, b"g", p(9, 1), b"m".to_vec()), None);
        // Unknown group, unknown sender.
        assert_eq!(b.deliver(0, b"other", p(1, 100), vec![]), None);
        assert_eq!(b.deliver(0, b"g", p(4, 400), vec![]), None);
        assert_eq!(b.stats.unproxied[0], 1);
        // Node 2's client leaves: its proxy leaves the far side.
        let a = b.conf_chg(0, b"g", &[p(1, 100), p(5, 7)]);
        assert_eq!(
            a,
            vec![Action::Leave {
                side: 1,
                group: b"g".to_vec(),
                far: p(2, 200)
            }]
        );
        assert_eq!(b.members(0, b"g"), vec![p(1, 100)]);
    }
}
