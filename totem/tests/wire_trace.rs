//! Drives three engines by hand and checks the bytes they exchange against what live
//! corosync daemons were seen to send (findings-*.md, corosync-wire.md §3): every datagram
//! parses with totem_wire, the first ring seq is start + 4, the commit token goes round
//! twice, the first ORF token has seq 0, token_seq 0 and aru 0xFFFFFFFF from the rep.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use totem::{Config, Dest, Engine, Guarantee, State};
use totem_wire::ip_address::TotemIpAddress;
use totem_wire::{Generation, RingRep, SrpMessage};

fn configs(gen: Generation) -> Vec<Config> {
    (1..=3u32)
        .map(|n| match gen {
            Generation::G3 => {
                let mut c = Config::new(gen, n);
                c.ring_seq_start = 1;
                c
            }
            // Node 3 has the lowest address: it must be the representative.
            _ => {
                let mut c = Config::with_address(
                    gen,
                    TotemIpAddress::v4(n, Ipv4Addr::new(192, 0, 2, 40 - n as u8)),
                );
                c.ring_seq_start = if gen == Generation::G1 { 0 } else { 1 };
                c
            }
        })
        .collect()
}

/// Runs the three engines on a perfect network for `ms` ms; returns every datagram sent.
fn run(gen: Generation, ms: u64) -> (Vec<Engine>, Vec<(u32, Dest, SrpMessage)>) {
    let t0 = Instant::now();
    let mut engines: Vec<Engine> = configs(gen)
        .into_iter()
        .map(|c| Engine::new(c, t0))
        .collect();
    let mut sent = Vec::new();
    let mut wire: VecDeque<(usize, Vec<u8>)> = VecDeque::new();
    let mut now = t0;
    let end = t0 + Duration::from_millis(ms);
    let mut submitted = false;
    while now < end {
        for (i, e) in engines.iter_mut().enumerate() {
            while let Some(t) = e.poll_transmit() {
                let msg = SrpMessage::parse(&t.bytes, gen)
                    .expect("engine output parses")
                    .message;
                sent.push((i as u32 + 1, t.dest, msg));
                match t.dest {
                    Dest::All => {
                        for j in 0..3 {
                            if j != i {
                                wire.push_back((j, t.bytes.clone()));
                            }
                        }
                    }
                    Dest::Node(n) => wire.push_back((n as usize - 1, t.bytes)),
                }
            }
        }
        if let Some((j, b)) = wire.pop_front() {
            engines[j].handle_datagram(now, &b);
            continue;
        }
        now += Duration::from_millis(1);
        for e in engines.iter_mut() {
            if e.poll_timeout().is_some_and(|d| d <= now) {
                e.handle_timeout(now);
            }
        }
        if !submitted && engines.iter().all(|e| e.state() == State::Operational) {
            engines[0]
                .submit(b"hello".to_vec(), Guarantee::Agreed)
                .unwrap();
            submitted = true;
        }
    }
    (engines, sent)
}

fn check(gen: Generation) {
    let (engines, sent) = run(gen, 3_000);
    assert!(
        engines.iter().all(|e| e.state() == State::Operational),
        "{gen}"
    );
    let start = if gen == Generation::G1 { 0 } else { 1 };
    let ring = engines[0].ring_id();
    // Started at the same instant, each node first forms a ring of its own from its own
    // looped-back join (start + 4), then the three merge: highest seen + 4.
    assert_eq!(ring.seq, start + 8, "{gen}: ring seq = highest seen + 4");
    let rep = if gen == Generation::G3 { 1 } else { 3 };
    match ring.rep {
        RingRep::Node(n) => assert_eq!(n, rep),
        RingRep::Addr(a) => {
            assert_eq!(a.nodeid, rep, "{gen}: rep is the lowest address");
            assert_eq!(a.ip(), Some(Ipv4Addr::new(192, 0, 2, 37).into()));
        }
    }
    // Joins carry the start seq and our own lists.
    let first_join = sent
        .iter()
        .find_map(|(_, _, m)| match m {
            SrpMessage::MembJoin(j) => Some(j.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(first_join.ring_seq, start);
    assert_eq!(first_join.proc_list.len(), 1);
    // The commit token: created by the rep, two rotations (memb_index 1, 2, 3 then 3, 3, 3).
    let commits: Vec<(u32, i32, u32)> = sent
        .iter()
        .filter_map(|(from, _, m)| match m {
            SrpMessage::CommitToken(c) if c.ring_id == ring => {
                Some((*from, c.memb_index, c.token_seq))
            }
            _ => None,
        })
        .collect();
    assert_eq!(commits.len(), 6, "{gen}: {commits:?}");
    assert_eq!(commits[0].0, rep, "{gen}: the rep creates the commit token");
    let idx: Vec<i32> = commits.iter().map(|c| c.1).collect();
    assert_eq!(idx, vec![1, 2, 3, 3, 3, 3], "{gen}");
    let tseq: Vec<u32> = commits.iter().map(|c| c.2).collect();
    assert_eq!(tseq, vec![1, 2, 3, 4, 5, 6], "{gen}: token_seq +1 per send");
    // The first ORF token.
    let (from, dest, first) = sent
        .iter()
        .find_map(|(f, d, m)| match m {
            SrpMessage::OrfToken(t) => Some((*f, *d, t.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(from, rep);
    assert!(matches!(dest, Dest::Node(_)), "tokens are unicast");
    assert_eq!(
        (first.seq, first.token_seq, first.aru, first.aru_addr),
        (0, 0, 0xFFFF_FFFF, rep)
    );
    assert_eq!(first.ring_id, ring);
    // The data message.
    let data: Vec<_> = sent
        .iter()
        .filter_map(|(_, d, m)| match m {
            SrpMessage::Mcast(mc) if !mc.is_encapsulated() => Some((*d, mc.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0].0, Dest::All);
    assert_eq!(data[0].1.payload, b"hello");
    assert_eq!(
        data[0].1.header.encapsulated,
        totem_wire::header::NOT_ENCAPSULATED
    );
    assert_eq!(data[0].1.seq, 1);
    // Idle afterwards: the rep holds the token and sends merge detects.
    assert!(sent
        .iter()
        .any(|(f, _, m)| *f == rep && matches!(m, SrpMessage::MergeDetect(_))));
}

#[test]
fn g1_bytes() {
    check(Generation::G1);
}
#[test]
fn g2_bytes() {
    check(Generation::G2);
}
#[test]
fn g3_bytes() {
    check(Generation::G3);
}

/// The G3 token_hold_cancel worked example of corosync-wire.md §3.6.
#[test]
fn leave_and_hold_cancel_shapes() {
    let (mut engines, _) = run(Generation::G3, 3_000);
    let now = Instant::now() + Duration::from_secs(10);
    engines[2].leave(now);
    let t = engines[2].poll_transmit().expect("leave sent");
    assert_eq!(t.dest, Dest::All);
    let SrpMessage::MembJoin(j) = SrpMessage::parse(&t.bytes, Generation::G3).unwrap().message
    else {
        panic!("leave is a join")
    };
    assert_eq!(j.header.nodeid, 0);
    assert_eq!(
        j.system_from.nodeid(),
        3,
        "G3 keeps the real nodeid in system_from"
    );
    assert_eq!(
        j.failed_list.iter().map(|a| a.nodeid()).collect::<Vec<_>>(),
        vec![3]
    );
    assert!(engines[2].submit(vec![1], Guarantee::Agreed).is_err());
    assert_eq!(engines[2].poll_timeout(), None);
}

/// Garbage, truncations and bit flips of real engine output never panic and are counted.
#[test]
fn malformed_input_is_counted_not_fatal() {
    let (mut engines, sent) = run(Generation::G3, 1_000);
    let now = Instant::now() + Duration::from_secs(5);
    let before = engines[0].stats().malformed;
    let samples: Vec<Vec<u8>> = sent.iter().take(40).map(|(_, _, m)| m.to_vec()).collect();
    let mut bad = 0u64;
    for s in &samples {
        for cut in 0..s.len() {
            engines[0].handle_datagram(now, &s[..cut]);
            bad += 1;
        }
        for i in 0..s.len().min(64) {
            let mut f = s.clone();
            f[i] ^= 0xA5;
            engines[1].handle_datagram(now, &f);
        }
    }
    engines[0].handle_datagram(now, &[]);
    engines[0].handle_datagram(now, &[0xFF; 3000]);
    assert_eq!(engines[0].stats().malformed - before, bad + 2);
}

/// Feeds node 2 hand-made tokens of its own ring and reads the token it forwards to node 3:
/// the aru rules of §3.2 and token_seq dedupe.
#[test]
fn aru_rules_and_token_dedupe() {
    use totem_wire::header::{Header, MessageType};
    use totem_wire::srp::orf_token::OrfToken;
    let (mut engines, _) = run(Generation::G3, 3_000);
    let e = &mut engines[1];
    while e.poll_transmit().is_some() {}
    let ring = e.ring_id();
    let now = Instant::now() + Duration::from_secs(20);
    let feed =
        |e: &mut Engine, token_seq: u32, seq: u32, aru: u32, aru_addr: u32| -> Option<OrfToken> {
            let t = OrfToken {
                header: Header::new(Generation::G3, MessageType::OrfToken, 1),
                seq,
                token_seq,
                aru,
                aru_addr,
                ring_id: ring,
                backlog: 0,
                fcc: 0,
                retrans_flg: 0,
                rtr_list: vec![],
            };
            e.handle_datagram(now, &SrpMessage::OrfToken(t).to_vec());
            let mut fwd = None;
            while let Some(tx) = e.poll_transmit() {
                if let SrpMessage::OrfToken(t) = SrpMessage::parse(&tx.bytes, Generation::G3)
                    .unwrap()
                    .message
                {
                    assert_eq!(tx.dest, Dest::Node(3), "forwarded to the successor");
                    fwd = Some(t);
                }
            }
            fwd
        };
    // Node 2 has everything up to seq 1 (the "hello"). The hand-made tokens start far from
    // the ring's own token_seq: take the first one's counters (a correct ring's tokens
    // advance one hop per member, anything else is refused).
    e.adopt_next_token();
    let t = feed(e, 1_000_001, 1, 1, 0).unwrap();
    assert_eq!((t.aru, t.aru_addr), (1, 0), "aru == seq: aru_addr cleared");
    let t = feed(e, 1_000_002, 5, 3, 3).unwrap();
    assert_eq!(
        (t.aru, t.aru_addr),
        (1, 2),
        "lower aru: lowered, aru_addr = me"
    );
    let t = feed(e, 1_000_003, 5, 0, 3).unwrap();
    assert_eq!(
        (t.aru, t.aru_addr),
        (0, 3),
        "higher own aru, someone else's aru_addr: kept"
    );
    let t = feed(e, 1_000_004, 5, 0, 2).unwrap();
    assert_eq!(
        (t.aru, t.aru_addr),
        (1, 2),
        "own aru_addr: raised to my aru"
    );
    assert_eq!(t.token_seq, 1_000_005, "token_seq + 1 per hop");
    // The same token again is a retransmission: dropped.
    let dups = e.stats().orf_token_dup;
    assert!(feed(e, 1_000_004, 5, 0, 2).is_none());
    assert!(feed(e, 999, 5, 0, 2).is_none());
    assert_eq!(e.stats().orf_token_dup, dups + 2);
}
