//! IPv4 and IPv6 fragment reassembly with bounded memory and a capture-time timeout.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use crate::malformed::Malformed;

/// Largest reassembled payload (bytes after the IP header) we accept: IP lengths are 16-bit.
const MAX_DATAGRAM: usize = 65_535;

/// Limits that keep reassembly bounded whatever the capture holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// At most this many datagrams are being reassembled at once; the oldest is dropped beyond it.
    pub max_pending: usize,
    /// At most this many fragment bytes are held in total; the oldest datagrams are dropped beyond it.
    pub max_bytes: usize,
    /// A datagram whose first fragment is older than this (in capture time) is dropped.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pending: 1024,
            max_bytes: 16 * 1024 * 1024,
            // Linux's default ipfrag_time.
            timeout: Duration::from_secs(30),
        }
    }
}

/// Identifies the fragments of one datagram: addresses, identification and upper protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FragmentKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    pub proto: u8,
}

/// One fragment as carried by a packet: its byte offset, whether more follow, and its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fragment<'a> {
    pub offset: usize,
    pub more: bool,
    pub data: &'a [u8],
}

/// A datagram rebuilt from its fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reassembled {
    pub payload: Vec<u8>,
    pub fragments: u32,
}

#[derive(Debug)]
struct Pending {
    first_seen: Duration,
    /// Fragment bytes by offset; a repeated offset keeps the first copy.
    pieces: BTreeMap<usize, Vec<u8>>,
    /// Known once the last fragment (more = false) has been seen.
    total: Option<usize>,
    bytes: usize,
}

/// Holds fragments until their datagram is complete.
#[derive(Debug, Default)]
pub(crate) struct Reassembler {
    limits: Limits,
    pending: HashMap<FragmentKey, Pending>,
    held_bytes: usize,
    /// Datagrams given up on (timed out or evicted) so far.
    abandoned: u64,
}

impl Reassembler {
    pub(crate) fn new(limits: Limits) -> Self {
        Reassembler {
            limits,
            ..Reassembler::default()
        }
    }

    /// Adds a fragment seen at capture time `now`; returns the datagram if this fragment completed it.
    pub(crate) fn add(
        &mut self,
        key: FragmentKey,
        frag: Fragment<'_>,
        now: Duration,
    ) -> Result<Option<Reassembled>, Malformed> {
        let len = frag.data.len();
        let end = frag
            .offset
            .checked_add(len)
            .filter(|&e| e <= MAX_DATAGRAM)
            .ok_or_else(|| {
                Malformed::new(
                    "fragment",
                    frag.offset,
                    format!("fragment ends past {MAX_DATAGRAM} bytes"),
                )
            })?;
        if frag.more && len & 7 != 0 {
            return Err(Malformed::new(
                "fragment",
                frag.offset,
                format!("non-final fragment length {len} is not a multiple of 8"),
            ));
        }
        self.expire(now);

        let entry = self.pending.entry(key).or_insert_with(|| Pending {
            first_seen: now,
            pieces: BTreeMap::new(),
            total: None,
            bytes: 0,
        });
        if !frag.more {
            match entry.total {
                Some(t) if t != end => {
                    return Err(Malformed::new(
                        "fragment",
                        frag.offset,
                        format!("last fragment ends at {end}, an earlier one said {t}"),
                    ))
                }
                _ => entry.total = Some(end),
            }
        }
        if let std::collections::btree_map::Entry::Vacant(v) = entry.pieces.entry(frag.offset) {
            v.insert(frag.data.to_vec());
            entry.bytes = entry.bytes.saturating_add(len);
            self.held_bytes = self.held_bytes.saturating_add(len);
        }

        if let Some(done) = Self::complete(entry) {
            if let Some(p) = self.pending.remove(&key) {
                self.held_bytes = self.held_bytes.saturating_sub(p.bytes);
            }
            return Ok(Some(done));
        }
        self.enforce_bounds(&key);
        Ok(None)
    }

    /// The number of datagrams abandoned so far plus those still incomplete; consumes the reassembler.
    pub(crate) fn finish(self) -> u64 {
        for (key, p) in &self.pending {
            tracing::debug!(
                ?key,
                fragments = p.pieces.len(),
                bytes = p.bytes,
                "incomplete reassembly at end of capture"
            );
        }
        self.abandoned
            .saturating_add(u64::try_from(self.pending.len()).unwrap_or(u64::MAX))
    }

    /// Builds the datagram if every byte from 0 to the known total is covered.
    fn complete(p: &Pending) -> Option<Reassembled> {
        let total = p.total?;
        let mut covered = 0usize;
        for (&off, data) in &p.pieces {
            if off > covered {
                return None;
            }
            covered = covered.max(off.saturating_add(data.len()));
        }
        if covered < total {
            return None;
        }
        let mut payload = vec![0u8; total];
        for (&off, data) in &p.pieces {
            let end = off.saturating_add(data.len()).min(total);
            if let (Some(dst), Some(src)) = (
                payload.get_mut(off..end),
                data.get(..end.saturating_sub(off)),
            ) {
                dst.copy_from_slice(src);
            }
        }
        Some(Reassembled {
            payload,
            fragments: u32::try_from(p.pieces.len()).unwrap_or(u32::MAX),
        })
    }

    /// Drops datagrams whose first fragment is older than the timeout.
    fn expire(&mut self, now: Duration) {
        let timeout = self.limits.timeout;
        let expired: Vec<FragmentKey> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_sub(p.first_seen) > timeout)
            .map(|(k, _)| *k)
            .collect();
        for key in expired {
            self.abandon(&key, "timed out");
        }
    }

    /// Drops the oldest datagrams (other than `keep`) while over the count or byte limit.
    fn enforce_bounds(&mut self, keep: &FragmentKey) {
        while self.pending.len() > self.limits.max_pending
            || self.held_bytes > self.limits.max_bytes
        {
            let oldest = self
                .pending
                .iter()
                .filter(|(k, _)| *k != keep)
                .min_by_key(|(_, p)| p.first_seen)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => self.abandon(&k, "evicted by memory bound"),
                None => {
                    // Only the current datagram is left and it alone is over the bound.
                    let k = *keep;
                    self.abandon(&k, "alone exceeds memory bound");
                    break;
                }
            }
        }
    }

    fn abandon(&mut self, key: &FragmentKey, why: &'static str) {
        if let Some(p) = self.pending.remove(key) {
            self.held_bytes = self.held_bytes.saturating_sub(p.bytes);
            self.abandoned = self.abandoned.saturating_add(1);
            tracing::debug!(
                ?key,
                fragments = p.pieces.len(),
                why,
                "incomplete reassembly dropped"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(id: u32) -> FragmentKey {
        FragmentKey {
            src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            id,
            proto: 17,
        }
    }

    fn frag(offset: usize, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment { offset, more, data }
    }

    #[test]
    fn out_of_order_three_pieces() {
        let whole: Vec<u8> = (0u8..40).collect();
        let mut r = Reassembler::new(Limits::default());
        let t = Duration::from_secs(1);
        assert_eq!(r.add(key(1), frag(32, false, &whole[32..]), t), Ok(None));
        assert_eq!(r.add(key(1), frag(0, true, &whole[..16]), t), Ok(None));
        let done = r
            .add(key(1), frag(16, true, &whole[16..32]), t)
            .unwrap()
            .unwrap();
        assert_eq!(done.payload, whole);
        assert_eq!(done.fragments, 3);
        assert_eq!(r.finish(), 0);
    }

    #[test]
    fn timeout_abandons_and_counts() {
        let mut r = Reassembler::new(Limits::default());
        r.add(key(1), frag(0, true, &[0; 8]), Duration::from_secs(1))
            .unwrap();
        // 31 s later the first is expired; the second stays pending.
        r.add(key(2), frag(0, true, &[0; 8]), Duration::from_secs(32))
            .unwrap();
        // The late tail of datagram 1 starts a new, incomplete reassembly.
        assert_eq!(
            r.add(key(1), frag(8, false, &[0; 4]), Duration::from_secs(33)),
            Ok(None)
        );
        assert_eq!(r.finish(), 3);
    }

    #[test]
    fn pending_count_is_bounded() {
        let limits = Limits {
            max_pending: 4,
            ..Limits::default()
        };
        let mut r = Reassembler::new(limits);
        for id in 0..10 {
            r.add(
                key(id),
                frag(0, true, &[0; 8]),
                Duration::from_millis(u64::from(id)),
            )
            .unwrap();
            assert!(r.pending.len() <= 4);
        }
        assert_eq!(r.finish(), 10);
    }

    #[test]
    fn bad_fragments_are_malformed() {
        let mut r = Reassembler::new(Limits::default());
        let t = Duration::ZERO;
        assert!(r.add(key(1), frag(0, true, &[0; 7]), t).is_err());
        assert!(r.add(key(1), frag(65_528, false, &[0; 16]), t).is_err());
        r.add(key(2), frag(8, false, &[0; 8]), t).unwrap();
        assert!(r.add(key(2), frag(8, false, &[0; 16]), t).is_err());
    }
}
