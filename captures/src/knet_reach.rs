//! Which hosts a node's knet counted reachable, over a capture: knet hands corosync no data
//! from a host it does not count reachable yet, though the capture shows it arriving.
//!
//! libknet (v1.25, Debian 12's; `libknet/threads_rx.c`) discards a data packet from a host
//! that is not reachable ("Source host %u not reachable yet. Discarding packet."). A host
//! becomes reachable when one of its links comes up, and a link comes up on a pong received
//! once `pong_count` pongs were counted already (pong handling in the same file): on the
//! (pong_count + 1)-th pong. corosync 3.1.7 sets `knet_pong_count` 2 unless the config's
//! `totem.interface` says otherwise (`exec/totemconfig.c`, `KNET_PONG_COUNT`). knet sends
//! data only to reachable hosts, and its data sequence numbers start at 1 (`threads_tx.c`:
//! `tx_seq_num` is incremented before each send and skips 0).
//!
//! So when the capture shows node N's knet start (N's first data frame has seq 1), N has
//! host H unreachable at first, and reachable from the (pong_count + 1)-th pong from H to N
//! on; no later than N's first data to H, in case pongs before the capture left the count
//! short. A node whose knet started before the capture has every host reachable throughout.
//! Links going down again (pongs missing, `knet_pong_timeout`) are not modelled.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use totem_wire::framing::KnetKind;

use crate::capture_config::{node_conf, read_conf};
use crate::story::Story;

/// corosync 3's `knet_pong_count` when its config does not set one.
pub const DEFAULT_PONG_COUNT: usize = 2;

/// When each other host became reachable for one node whose knet started in the capture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnetReach {
    /// Host id and the capture time it became reachable; a host not listed never did.
    pub up: BTreeMap<u32, Duration>,
}

impl KnetReach {
    /// The reachability `node`'s knet had of the others, if the capture shows its knet start
    /// (None: every host reachable throughout). `pong_count` as the node's config sets it.
    pub fn of(story: &Story, node: u32, pong_count: usize) -> Option<KnetReach> {
        let addresses = story.addresses();
        let none = BTreeSet::new();
        let at = |host: u32| addresses.get(&host).unwrap_or(&none);
        let mine = at(node);
        let first_data = story
            .knet
            .iter()
            .find(|k| u32::from(k.src_host) == node && k.kind == KnetKind::Data)?;
        if first_data.seq != Some(1) {
            return None;
        }
        let mut pongs: BTreeMap<u32, usize> = BTreeMap::new();
        let mut up: BTreeMap<u32, Duration> = BTreeMap::new();
        for k in &story.knet {
            let from = u32::from(k.src_host);
            if k.kind == KnetKind::Pong && from != node && mine.contains(&k.dst.ip()) {
                let n = pongs.entry(from).or_default();
                if *n >= pong_count {
                    up.entry(from).or_insert(k.time);
                }
                *n += 1;
            }
            if from == node && k.kind == KnetKind::Data {
                // N sent to `to`: N had it reachable by then.
                for (&to, ips) in &addresses {
                    if to != node && ips.contains(&k.dst.ip()) {
                        up.entry(to).or_insert(k.time);
                    }
                }
            }
        }
        Some(KnetReach { up })
    }

    /// Whether `host` was reachable at capture time `t`.
    pub fn reachable(&self, host: u32, t: Duration) -> bool {
        self.up.get(&host).is_some_and(|up| t >= *up)
    }
}

/// `knet_pong_count` of `node`'s config next to `capture` (its first `totem.interface` that
/// sets one), else corosync's default.
pub fn pong_count(capture: &Path, node: u32) -> usize {
    node_conf(capture, node)
        .and_then(|p| read_conf(&p).ok())
        .and_then(|root| {
            let totem = root.section("totem")?;
            totem
                .sections("interface")
                .find_map(|i| i.get("knet_pong_count")?.trim().parse().ok())
        })
        .unwrap_or(DEFAULT_PONG_COUNT)
}
