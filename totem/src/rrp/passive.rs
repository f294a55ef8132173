//! Passive replication: each datagram on one ring, round-robin over the rings not faulty;
//! a ring whose receive count falls too far behind the others' is FAULTY (corosync's
//! `passive_monitor`, the monitor of the RRP paper).

use super::{RrpSettings, SendKind, RINGS};

/// Above this a ring's count is shifted down (corosync: INT_MAX / 2).
const RECV_COUNT_RESET: u32 = i32::MAX as u32 / 2;

#[derive(Debug, Default)]
pub(super) struct Passive {
    token_recv_count: [u32; RINGS],
    mcast_recv_count: [u32; RINGS],
    /// The ring of the last mcast and of the last token sent.
    msg_xmit: usize,
    token_xmit: usize,
}

impl Passive {
    /// The ring for the next datagram of `kind`: the next one not faulty, else ring 0.
    pub fn next_ring(&mut self, kind: SendKind, faulty: &[bool; RINGS]) -> usize {
        let cur = match kind {
            SendKind::Token => &mut self.token_xmit,
            SendKind::Mcast => &mut self.msg_xmit,
        };
        for _ in 0..RINGS {
            *cur = (*cur + 1) % RINGS;
            if !faulty[*cur] {
                return *cur;
            }
        }
        // Every ring faulty: ring 0 still carries the traffic.
        *cur = 0;
        0
    }

    /// Counts a receive on `ring`; returns the rings that fall behind now.
    pub fn monitor(
        &mut self,
        ring: usize,
        token: bool,
        s: &RrpSettings,
        faulty: &[bool; RINGS],
    ) -> [bool; RINGS] {
        let (counts, threshold) = if token {
            (&mut self.token_recv_count, s.problem_count_threshold)
        } else {
            (&mut self.mcast_recv_count, s.problem_count_mcast_threshold)
        };
        counts[ring] = counts[ring].wrapping_add(1);
        let mut max = counts.iter().copied().max().unwrap_or(0);
        if max > RECV_COUNT_RESET {
            let min_all = counts.iter().copied().min().unwrap_or(0);
            let min_active = (0..RINGS)
                .filter(|r| !faulty[*r])
                .map(|r| counts[r])
                .chain([counts[ring]])
                .min()
                .unwrap_or(0);
            for r in 0..RINGS {
                if min_all > 0 {
                    counts[r] -= min_all;
                } else if !faulty[r] {
                    counts[r] -= min_active.min(counts[r]);
                }
            }
            max = counts.iter().copied().max().unwrap_or(0);
        }
        let mut marked = [false; RINGS];
        for r in 0..RINGS {
            if !faulty[r] && max - counts[r] > threshold {
                marked[r] = true;
            }
        }
        marked
    }

    /// A ring re-enabled: every count starts again (corosync resets both tables).
    pub fn reenable(&mut self) {
        self.token_recv_count = [0; RINGS];
        self.mcast_recv_count = [0; RINGS];
    }
}
