//! Per-member computation of a rekey after a join and after a leave, for the sponsor and
//! for an ordinary member, with the number of X25519 operations each performs.
//!
//! Each iteration replays, on a clone of one member's state, exactly what that member does
//! for the change: the configuration change, verifying and decoding every delivered
//! key-agreement message, producing its own message if it is a sponsor, and deriving the
//! new group key. Network time is not included.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use rand_core::OsRng;
use totem_keygen::wire::Body;
use totem_keygen::{ConfigChange, Credentials, Member, NodeId, RingId};

const SIZES: [usize; 5] = [2, 8, 32, 128, 384];

fn creds() -> Credentials {
    Credentials::from_authkey(&[0x42u8; 128]).expect("authkey")
}

type Group = BTreeMap<NodeId, Member>;

/// Runs a configuration change over `members` and returns the delivered messages.
fn agree(group: &mut Group, cfg: &ConfigChange) -> Vec<(NodeId, Vec<u8>)> {
    let mut q = VecDeque::new();
    for id in &cfg.members {
        q.extend(
            group
                .get_mut(id)
                .unwrap()
                .config_change(cfg, &mut OsRng)
                .unwrap(),
        );
    }
    let c = creds();
    let mut log = Vec::new();
    while let Some(m) = q.pop_front() {
        for id in &cfg.members {
            q.extend(group.get_mut(id).unwrap().receive(&m, &mut OsRng).unwrap());
        }
        let sender = c.open_message(&m).unwrap().sender;
        log.push((sender, m));
    }
    let k0 = group[&cfg.members[0]].group_key().unwrap().key.clone();
    for id in &cfg.members {
        assert_eq!(*group[id].group_key().unwrap().key, *k0);
    }
    log
}

/// What member `m` does for one change; its own messages replace the recorded ones.
fn replay(m: &mut Member, cfg: &ConfigChange, log: &[(NodeId, Vec<u8>)]) {
    let mut own: VecDeque<Vec<u8>> = m.config_change(cfg, &mut OsRng).unwrap().into();
    for (sender, bytes) in log {
        let b = if *sender == m.id() {
            own.pop_front().expect("own message")
        } else {
            bytes.clone()
        };
        own.extend(m.receive(&b, &mut OsRng).unwrap());
    }
    assert!(m.group_key().is_some() && !m.in_progress());
}

struct Scenario {
    name: &'static str,
    before: Group,
    cfg: ConfigChange,
    log: Vec<(NodeId, Vec<u8>)>,
    sponsor: NodeId,
    member: Option<NodeId>,
}

fn path_sponsor(log: &[(NodeId, Vec<u8>)]) -> NodeId {
    let c = creds();
    log.iter()
        .find(|(_, b)| matches!(c.open_message(b).unwrap().body, Body::PathUpdate(_)))
        .map(|(s, _)| *s)
        .unwrap()
}

/// Join: a group of `n - 1` admits one node. Leave: one of the resulting `n` leaves.
/// The non-sponsor with the most DH operations (the sponsor's sibling side), i.e. the
/// worst case for an ordinary member.
fn worst_member(
    before: &Group,
    cfg: &ConfigChange,
    log: &[(NodeId, Vec<u8>)],
    candidates: &[NodeId],
    sponsor: NodeId,
) -> Option<NodeId> {
    candidates
        .iter()
        .copied()
        .filter(|&x| x != sponsor)
        .max_by_key(|x| {
            let mut m = before[x].clone();
            let d0 = m.stats().dh;
            replay(&mut m, cfg, log);
            m.stats().dh - d0
        })
}

fn scenarios(n: usize) -> Vec<Scenario> {
    let mut group: Group = (1..n as u32)
        .map(|id| (id, Member::new(id, creds(), &mut OsRng)))
        .collect();
    let members: Vec<NodeId> = (1..n as u32).collect();
    agree(
        &mut group,
        &ConfigChange {
            ring: RingId { rep: 1, seq: 1 },
            members: members.clone(),
        },
    );
    let mut out = Vec::new();

    // Join of one fresh node.
    let mut before = group.clone();
    let joiner = n as u32;
    before.insert(joiner, Member::new(joiner, creds(), &mut OsRng));
    let mut jm = members.clone();
    jm.push(joiner);
    let cfg = ConfigChange {
        ring: RingId { rep: 1, seq: 2 },
        members: jm,
    };
    let mut run = before.clone();
    let log = agree(&mut run, &cfg);
    let sponsor = path_sponsor(&log);
    let member = worst_member(&before, &cfg, &log, &members, sponsor);
    let group = run;
    let members = cfg.members.clone();
    out.push(Scenario {
        name: "join",
        before,
        cfg,
        log,
        sponsor,
        member,
    });

    // Leave of one member from the middle of the list.
    let before = group.clone();
    let gone = members[n / 2];
    let lm: Vec<NodeId> = members.iter().copied().filter(|&x| x != gone).collect();
    let cfg = ConfigChange {
        ring: RingId { rep: 1, seq: 3 },
        members: lm.clone(),
    };
    let mut run = before.clone();
    let log = agree(&mut run, &cfg);
    let sponsor = if lm.len() == 1 {
        lm[0]
    } else {
        path_sponsor(&log)
    };
    let member = worst_member(&before, &cfg, &log, &lm, sponsor);
    out.push(Scenario {
        name: "leave",
        before,
        cfg,
        log,
        sponsor,
        member,
    });
    out
}

fn bench(c: &mut Criterion) {
    let mut table = Vec::new();
    for n in SIZES {
        for s in scenarios(n) {
            let mut g = c.benchmark_group(s.name);
            for (role, who) in [("sponsor", Some(s.sponsor)), ("member", s.member)] {
                let Some(who) = who else { continue };
                let base = s.before[&who].clone();
                let mut probe = base.clone();
                let st0 = probe.stats();
                replay(&mut probe, &s.cfg, &s.log);
                let st1 = probe.stats();
                let bytes: usize = s.log.iter().map(|(_, b)| b.len()).sum();
                g.bench_with_input(BenchmarkId::new(role, n), &n, |b, _| {
                    b.iter_batched(
                        || base.clone(),
                        |mut m| replay(&mut m, &s.cfg, &s.log),
                        BatchSize::SmallInput,
                    )
                });
                table.push(format!(
                    "{:<6} {:<8} n={:<4} dh={:<3} basepoint={:<3} messages={} bytes={}",
                    s.name,
                    role,
                    n,
                    st1.dh - st0.dh,
                    st1.basepoint - st0.basepoint,
                    s.log.len(),
                    bytes
                ));
            }
            g.finish();
        }
    }
    eprintln!("\nX25519 operations per member:");
    for l in table {
        eprintln!("{l}");
    }
}

/// Cost of one X25519 DH and one fixed-base multiplication on this machine, to convert the
/// operation counts above into time.
fn primitives(c: &mut Criterion) {
    let a = x25519_dalek::StaticSecret::random_from_rng(OsRng);
    let b = totem_keygen::kdf::blind(&x25519_dalek::StaticSecret::random_from_rng(OsRng));
    c.bench_function("primitive/node_secret_dh", |bch| {
        bch.iter(|| totem_keygen::kdf::node_secret(&a, &b).unwrap())
    });
    c.bench_function("primitive/blind_basepoint", |bch| {
        bch.iter(|| totem_keygen::kdf::blind(&a))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = primitives, bench
}
criterion_main!(benches);
