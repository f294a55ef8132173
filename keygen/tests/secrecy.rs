//! Forward and backward secrecy against an adversary holding every secret a member ever
//! had, the cluster authkey, and every key-agreement message on the wire.
//!
//! The adversary's best derivation: starting from its secrets, it repeatedly combines every
//! known secret with every blinded key it has seen (`HKDF(DH(s, bk))`, the only operation
//! that yields new tree secrets without breaking X25519), tries every result as a root
//! secret for every key epoch, and keeps results whose blinded key appears in the
//! transcript (they are real tree nodes) for the next step, until nothing new appears.
//! A positive control runs the same routine for a member entitled to the key and must
//! find it, so the negative results are not an artefact of a weak adversary.

mod common;

use std::collections::BTreeSet;

use common::{creds, Sim};
use totem_keygen::kdf;
use totem_keygen::wire::Body;
use totem_keygen::{KeyEpoch, Member};
use x25519_dalek::StaticSecret;

fn transcript_bks(log: &[Vec<u8>]) -> BTreeSet<[u8; 32]> {
    let c = creds();
    let mut out = BTreeSet::new();
    for m in log {
        match c.open_message(m).expect("adversary has the authkey").body {
            Body::TreeAnnounce(nodes) => out.extend(nodes.iter().filter_map(|n| n.bk)),
            Body::PathUpdate(e) | Body::Refresh(e) => out.extend(e.iter().map(|(_, bk)| *bk)),
        }
    }
    out
}

fn state(m: &Member) -> (Vec<StaticSecret>, BTreeSet<[u8; 32]>) {
    let t = m.tree();
    (
        t.nodes.iter().filter_map(|n| n.secret.clone()).collect(),
        t.nodes.iter().filter_map(|n| n.bk).collect(),
    )
}

/// Returns every group key among `targets` the adversary derives.
fn best_derivation(
    secrets: Vec<StaticSecret>,
    bks: &BTreeSet<[u8; 32]>,
    targets: &[(KeyEpoch, [u8; 32])],
) -> Vec<[u8; 32]> {
    let ck = creds().cluster;
    let mut found = Vec::new();
    let mut known: BTreeSet<[u8; 32]> = secrets.iter().map(|s| s.to_bytes()).collect();
    let mut frontier = secrets;
    let try_root = |s: &StaticSecret, found: &mut Vec<[u8; 32]>| {
        for (e, k) in targets {
            if *kdf::group_key(&ck, s, e) == *k && !found.contains(k) {
                found.push(*k);
            }
        }
    };
    for s in &frontier {
        try_root(s, &mut found);
    }
    for _ in 0..20 {
        let mut next = Vec::new();
        for s in &frontier {
            for bk in bks {
                let Ok(d) = kdf::node_secret(s, bk) else {
                    continue;
                };
                try_root(&d, &mut found);
                if bks.contains(&kdf::blind(&d)) && known.insert(d.to_bytes()) {
                    next.push(d);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    found
}

fn key_of(sim: &Sim, id: u32) -> (KeyEpoch, [u8; 32]) {
    let k = sim.members[&id].group_key().unwrap();
    (k.epoch, *k.key)
}

#[test]
fn forward_secrecy_after_leave() {
    let mut sim = Sim::new();
    let mut g = sim.spawn(10);
    sim.config(&g);
    for victim_pos in [3usize, 9] {
        let victim = g[victim_pos.min(g.len() - 1)];
        let stayer = *g.iter().find(|&&x| x != victim).unwrap();
        let before_victim = sim.members[&victim].clone();
        let before_stayer = sim.members[&stayer].clone();
        let mark = sim.log.len();
        let mut later = Vec::new();

        g.retain(|&x| x != victim);
        sim.config(&g);
        sim.common_key(&g);
        later.push(key_of(&sim, g[0]));
        let first_after_leave = later[0];

        let j = sim.spawn(2);
        g.extend(&j);
        sim.config(&g);
        sim.common_key(&g);
        later.push(key_of(&sim, g[0]));
        sim.refresh(&g, g[1]);
        later.push(key_of(&sim, g[0]));
        g.remove(0);
        sim.config(&g);
        sim.common_key(&g);
        later.push(key_of(&sim, g[0]));

        let mut bks = transcript_bks(&sim.log[mark..]);
        let (vs, vbks) = state(&before_victim);
        bks.extend(vbks);
        assert!(!vs.is_empty());
        let found = best_derivation(vs, &bks, &later);
        assert!(
            found.is_empty(),
            "departed member derived {} later keys",
            found.len()
        );

        // Positive control: a member that stayed, from its state before the leave and the
        // same transcript, derives the key agreed right after the leave.
        let (ss, sbks) = state(&before_stayer);
        let mut bks2 = transcript_bks(&sim.log[mark..]);
        bks2.extend(sbks);
        let found = best_derivation(ss, &bks2, &[first_after_leave]);
        assert_eq!(
            found,
            vec![first_after_leave.1],
            "control must find the key"
        );
        // Keep the leaver out for the next iteration.
        sim.members.remove(&victim);
    }
}

#[test]
fn backward_secrecy_for_joiner() {
    let mut sim = Sim::new();
    let mut g = sim.spawn(9);
    sim.config(&g);
    let mut earlier = vec![key_of(&sim, g[0])];
    sim.refresh(&g, g[4]);
    earlier.push(key_of(&sim, g[0]));
    let old_member_state = sim.members[&g[2]].clone();

    let j = sim.spawn(1);
    g.extend(&j);
    sim.config(&g);
    sim.common_key(&g);
    // The joiner after one more operation, with every message since the start.
    sim.refresh(&g, j[0]);
    let joiner = sim.members[&j[0]].clone();
    let mut bks = transcript_bks(&sim.log);
    let (js, jbks) = state(&joiner);
    bks.extend(jbks);
    let found = best_derivation(js, &bks, &earlier);
    assert!(
        found.is_empty(),
        "joiner derived {} earlier keys",
        found.len()
    );

    // Control: a member that held the last earlier key derives it from its state.
    let (os, _) = state(&old_member_state);
    let found = best_derivation(os, &bks, &earlier[1..]);
    assert_eq!(found, vec![earlier[1].1]);
}
