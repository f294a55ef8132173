//! EVS transitional configurations: a member that restarted under the same nodeid, or one
//! that missed configurations while stalled, must not make the next agreement fail.

mod common;

use common::{creds, Sim};
use rand_core::OsRng;
use totem_keygen::Member;

/// Node 3 restarts (fresh state, same nodeid) and rejoins before the others saw it leave.
/// Without cutting the others' trees to their transitional members the restarted node's
/// one-leaf tree overlaps theirs; with it, all three agree.
#[test]
fn restart_under_same_nodeid_agrees_after_transitional_cut() {
    let mut sim = Sim::new();
    let ids = sim.spawn(3);
    sim.config(&ids);
    let old_key = sim.members[&1].group_key().unwrap().key.clone();

    // Without the cut: the agreement cannot finish (someone refuses a message).
    let mut broken = Sim {
        members: sim.members.clone(),
        seq: sim.seq,
        log: Vec::new(),
        next_id: sim.next_id,
    };
    broken
        .members
        .insert(3, Member::new(3, creds(), &mut OsRng));
    let finished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| broken.config(&ids)))
        .is_ok()
        && ids.iter().all(|i| !broken.members[i].in_progress());
    assert!(!finished, "overlapping trees must not silently agree");

    sim.members.insert(3, Member::new(3, creds(), &mut OsRng));
    for id in [1, 2] {
        sim.members
            .get_mut(&id)
            .unwrap()
            .transitional(&[1, 2])
            .unwrap();
    }
    sim.members.get_mut(&3).unwrap().transitional(&[3]).unwrap();
    sim.config(&ids);
    let k1 = sim.members[&1].group_key().unwrap();
    for id in &ids {
        let k = sim.members[id].group_key().unwrap();
        assert_eq!(*k.key, *k1.key, "member {id}");
        assert_eq!(k.epoch, k1.epoch);
    }
    assert_ne!(*k1.key, *old_key);
}

/// A transitional list without the member itself is refused.
#[test]
fn transitional_must_contain_self() {
    let mut m = Member::new(4, creds(), &mut OsRng);
    assert!(m.transitional(&[1, 2]).is_err());
    assert!(m.transitional(&[4]).is_ok());
}
