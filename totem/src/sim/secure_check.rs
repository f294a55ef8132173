//! Checks of a secure run: every member of a configuration computed the same key for each
//! key epoch, nothing unsealed went on the wire, no current-ring packet was rejected at a
//! key switch, and at the end every live node sends with a key of the final ring.

use std::collections::BTreeMap;

use super::record::Log;
use super::Sim;
use crate::secure::{KeyNoteKind, SecureStats};

/// Totals and latencies of a secure run.
#[derive(Debug, Clone, Default)]
pub struct SecureSummary {
    /// Counters summed over every life.
    pub totals: SecureStats,
    /// Distinct key epochs agreed.
    pub epochs: usize,
    /// Datagrams on the wire (all sealed unless a violation says otherwise).
    pub sealed_on_wire: u64,
    /// For each ring whose epoch-0 key became active at every member: token rotations from
    /// the regular configuration to activation, the maximum over members.
    pub rekey_rotations: Vec<u64>,
}

fn add(t: &mut SecureStats, s: &SecureStats) {
    t.sealed_cluster += s.sealed_cluster;
    t.sealed_group += s.sealed_group;
    t.opened_cluster += s.opened_cluster;
    t.opened_group += s.opened_group;
    t.malformed += s.malformed;
    t.stale_epoch += s.stale_epoch;
    t.unknown_key += s.unknown_key;
    t.auth_failed += s.auth_failed;
    t.replay += s.replay;
    t.switch_rejections += s.switch_rejections;
    t.ka_errors += s.ka_errors;
    t.bad_control += s.bad_control;
    t.agreements += s.agreements;
    t.activations += s.activations;
    t.refreshes_started += s.refreshes_started;
    t.compute_ns += s.compute_ns;
}

/// One life's agreement of a key epoch: (life, nodeid, fingerprint, members).
type Agreed<'a> = (usize, u32, [u8; 8], &'a Vec<u32>);

/// Checks the recording of a secure run; returns violations and a summary.
pub fn check(log: &Log) -> (Vec<String>, SecureSummary) {
    let mut v = Vec::new();
    let sec = &log.secure;
    for u in &sec.unsealed {
        v.push(format!("unsealed datagram: {u}"));
    }
    // Same key (fingerprint) and same member list for every life that agreed an epoch.
    let mut by_epoch: BTreeMap<(u32, u64, u32), Vec<Agreed<'_>>> = BTreeMap::new();
    for n in &sec.notes {
        if n.note.kind == KeyNoteKind::Agreed {
            let e = n.note.epoch;
            by_epoch
                .entry((e.ring.rep, e.ring.seq, e.epoch))
                .or_default()
                .push((n.life, n.nodeid, n.note.fingerprint, &n.note.members));
        }
    }
    for (k, list) in &by_epoch {
        let (_, node0, fp0, m0) = list[0];
        for (_, node, fp, m) in list {
            if *fp != fp0 {
                v.push(format!(
                    "key epoch {k:?}: node {node} computed key {} but node {node0} computed {}",
                    hex::encode(fp),
                    hex::encode(fp0)
                ));
            }
            if *m != m0 {
                v.push(format!(
                    "key epoch {k:?}: node {node} agreed with members {m:?}, node {node0} with {m0:?}"
                ));
            }
            if !m.contains(node) {
                v.push(format!(
                    "key epoch {k:?}: node {node} not in its member list"
                ));
            }
        }
    }
    // Activation only after agreement, with the agreed fingerprint.
    for n in &sec.notes {
        if n.note.kind == KeyNoteKind::Activated {
            let e = n.note.epoch;
            let agreed = by_epoch
                .get(&(e.ring.rep, e.ring.seq, e.epoch))
                .and_then(|l| l.iter().find(|x| x.0 == n.life));
            if agreed.is_none_or(|a| a.2 != n.note.fingerprint) {
                v.push(format!(
                    "node {} activated key epoch {e:?} it had not agreed",
                    n.nodeid
                ));
            }
        }
    }
    let mut totals = SecureStats::default();
    for (_, s) in &sec.stats {
        add(&mut totals, s);
    }
    let switch_rejections = totals
        .switch_rejections
        .saturating_sub(sec.forged_switch_rejections);
    if switch_rejections > 0 {
        v.push(format!(
            "{switch_rejections} packets of the receiver's current ring rejected at a key switch"
        ));
    }
    let auth_failed = totals.auth_failed.saturating_sub(sec.forged_auth_failed);
    if auth_failed > 0 {
        v.push(format!("{auth_failed} packets failed authentication"));
    }
    // Rekey latency per ring: ConfigStart → Activated(epoch 0), per life, max over lives.
    let mut start: BTreeMap<(usize, u32, u64), u64> = BTreeMap::new();
    let mut lat: BTreeMap<(u32, u64), (u64, usize, usize)> = BTreeMap::new();
    for n in &sec.notes {
        let r = n.note.epoch.ring;
        match n.note.kind {
            KeyNoteKind::ConfigStart => {
                start.insert((n.life, r.rep, r.seq), n.note.tokens);
                let e = lat.entry((r.rep, r.seq)).or_default();
                e.1 = n.note.members.len();
            }
            KeyNoteKind::Activated if n.note.epoch.epoch == 0 => {
                if let Some(t0) = start.get(&(n.life, r.rep, r.seq)) {
                    let e = lat.entry((r.rep, r.seq)).or_default();
                    e.0 = e.0.max(n.note.tokens.saturating_sub(*t0));
                    e.2 += 1;
                }
            }
            _ => {}
        }
    }
    let rekey_rotations = lat
        .values()
        .filter(|(_, members, done)| *members > 0 && done == members)
        .map(|(r, _, _)| *r)
        .collect();
    (
        v,
        SecureSummary {
            totals,
            epochs: by_epoch.len(),
            sealed_on_wire: sec.sealed_on_wire,
            rekey_rotations,
        },
    )
}

/// At the end of a converged run: every live node sends with a key of its current ring.
pub fn check_final(sim: &Sim) -> Vec<String> {
    let mut v = Vec::new();
    for i in sim.live() {
        let (Some(e), Some(s)) = (sim.engine(i), sim.secure(i)) else {
            continue;
        };
        let ring = e.ring_id();
        match s.active_epoch() {
            Some(k) if k.ring.rep == ring.rep_nodeid() && k.ring.seq == ring.seq => {}
            other => v.push(format!(
                "node {}: at the end its send key is {other:?}, not one of ring ({}, {}) (agreement running: {}; {s:?})",
                e.nodeid(),
                ring.rep_nodeid(),
                ring.seq,
                s.member().in_progress(),
            )),
        }
    }
    v
}
