use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use totem_wire::header::{Header, MessageType};
use totem_wire::ip_address::TotemIpAddress;
use totem_wire::srp::orf_token::OrfToken;
use totem_wire::srp::ring_test::RingTest;
use totem_wire::{Generation, RingId, RingRep, SrpMessage};

use super::*;

const G: Generation = Generation::G2;

fn ip(a: u8, b: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(192, 0, a, b)))
}

/// corosync's defaults, but a decrementer slow enough not to run inside a test's rotations
/// (`active_decrementer_takes_problems_back` runs it by hand).
fn settings(mode: RrpMode) -> RrpSettings {
    RrpSettings {
        problem_count_timeout: Duration::from_secs(60),
        ..RrpSettings::defaults(mode, Duration::from_millis(238))
    }
}

fn rrp(mode: RrpMode) -> Rrp {
    Rrp::new(settings(mode), G, 1, [ip(2, 1), ip(3, 1)])
}

fn token(seq: u32) -> Vec<u8> {
    let ring_id = RingId {
        rep: RingRep::Addr(TotemIpAddress::v4(1, Ipv4Addr::new(192, 0, 2, 1))),
        seq: 8,
    };
    SrpMessage::OrfToken(OrfToken {
        header: Header::new(G, MessageType::OrfToken, 2),
        seq: 0,
        token_seq: seq,
        aru: 0,
        aru_addr: 2,
        ring_id,
        backlog: 0,
        fcc: 0,
        retrans_flg: 0,
        rtr_list: Vec::new(),
    })
    .to_vec()
}

fn ring_test(t: MessageType, ring: i32, activator: i32) -> Vec<u8> {
    let m = RingTest {
        generation: G,
        endian: totem_wire::endian::Endian::Little,
        msg_type: t,
        encapsulated: 0,
        ring_number: ring,
        nodeid_activator: activator,
    };
    let mut b = vec![0; m.buffer_len()];
    m.emit(&mut b).unwrap();
    b
}

fn outs(r: &mut Rrp) -> Vec<RrpOut> {
    std::iter::from_fn(|| r.poll_out()).collect()
}

/// Runs `n` token rotations where the token comes on ring 0 only, each followed by its
/// expiry; returns `now` after them. The first token after a clean one is held until the
/// expiry; while ring 1 has problems it is not waited for.
fn tokens_on_ring0_only(r: &mut Rrp, mut now: Instant, first_seq: u32, n: u32) -> Instant {
    for i in 0..n {
        let seq = first_seq + i;
        let v = r.on_receive(now, 0, &token(seq));
        now += Duration::from_millis(239);
        r.handle_timeout(now);
        let delivered = outs(r)
            .into_iter()
            .any(|o| matches!(o, RrpOut::Deliver { .. }));
        assert_eq!(
            delivered,
            v == Verdict::Taken,
            "token {seq}: the expiry hands on what was held, and only that"
        );
        now += Duration::from_millis(10);
    }
    now
}

#[test]
fn active_token_waits_for_its_copy_on_the_other_ring() {
    let mut r = rrp(RrpMode::Active);
    let now = Instant::now();
    assert_eq!(r.on_receive(now, 0, &token(1)), Verdict::Taken);
    assert_eq!(r.on_receive(now, 1, &token(1)), Verdict::Deliver);
    assert_eq!(
        r.poll_timeout(),
        None,
        "both copies came: no expiry pending"
    );
    assert!(outs(&mut r).is_empty());
    // The next token, ring 1 first.
    assert_eq!(r.on_receive(now, 1, &token(2)), Verdict::Taken);
    assert_eq!(r.on_receive(now, 0, &token(2)), Verdict::Deliver);
    assert_eq!(r.stats().token_rx, [2, 2]);
}

#[test]
fn active_missing_copies_count_problems_until_the_ring_is_faulty() {
    let mut r = rrp(RrpMode::Active);
    let now = Instant::now();
    assert_eq!(
        r.send_rings(SendKind::Token, Some(2))
            .iter()
            .collect::<Vec<_>>(),
        [0, 1]
    );
    // Nine misses: problems, not yet FAULTY.
    let now = tokens_on_ring0_only(&mut r, now, 1, 9);
    assert_eq!(r.stats().problems, [0, 9]);
    assert!(!r.is_faulty(1));
    assert!(
        r.status().rings[1]
            .status
            .starts_with("Incrementing problem counter for seqid 9 iface 192.0.3.1 to [9 of 10]"),
        "{}",
        r.status().rings[1].status
    );
    // The tenth makes ring 1 FAULTY.
    let now = tokens_on_ring0_only(&mut r, now, 10, 1);
    assert!(r.is_faulty(1));
    assert_eq!(
        r.status().rings[1].status,
        "Marking seqid 10 ringid 1 interface 192.0.3.1 FAULTY"
    );
    assert_eq!(r.status().rings[0].status, "ring 0 active with no faults");
    // A faulty ring is not waited for, and nothing is sent on it.
    assert_eq!(r.on_receive(now, 0, &token(11)), Verdict::Deliver);
    assert_eq!(
        r.send_rings(SendKind::Mcast, None)
            .iter()
            .collect::<Vec<_>>(),
        [0]
    );
    assert_eq!(
        r.send_rings(SendKind::Token, Some(2))
            .iter()
            .collect::<Vec<_>>(),
        [0]
    );
}

#[test]
fn active_suspect_ring_is_timed_but_not_waited_for() {
    let mut r = rrp(RrpMode::Active);
    let now = Instant::now();
    // The first miss holds the token for the full expiry, as corosync does.
    assert_eq!(r.on_receive(now, 0, &token(1)), Verdict::Taken);
    let t = r.poll_timeout().unwrap();
    assert_eq!(t, now + Duration::from_millis(238));
    r.handle_timeout(t);
    assert!(matches!(outs(&mut r)[..], [RrpOut::Deliver { .. }]));
    // Ring 1 now has a problem: the next token goes on at once, and its missing copy is
    // still timed and counted.
    assert_eq!(r.on_receive(t, 0, &token(2)), Verdict::Deliver);
    let t2 = r.poll_timeout().unwrap();
    r.handle_timeout(t2);
    assert!(outs(&mut r).is_empty(), "already delivered: not again");
    assert_eq!(r.stats().problems, [0, 2]);
    // A late copy on ring 1 is passed on too (the engine drops it by token_seq, as it drops
    // corosync's).
    assert_eq!(r.on_receive(t2, 1, &token(2)), Verdict::Deliver);
    // A copy that does come in time on the suspect ring adds no problem.
    assert_eq!(r.on_receive(t2, 0, &token(3)), Verdict::Deliver);
    assert_eq!(r.on_receive(t2, 1, &token(3)), Verdict::Deliver);
    // Nothing is timed now but the decrementer (a minute away in these tests).
    assert!(r.poll_timeout().unwrap() > t2 + Duration::from_secs(30));
    assert_eq!(r.stats().problems, [0, 2]);
    // The healthy ring is still waited for when the suspect one comes first.
    assert_eq!(r.on_receive(t2, 1, &token(4)), Verdict::Taken);
    assert_eq!(r.on_receive(t2, 0, &token(4)), Verdict::Deliver);
}

#[test]
fn active_decrementer_takes_problems_back() {
    let mut r = rrp(RrpMode::Active);
    tokens_on_ring0_only(&mut r, Instant::now(), 1, 3);
    assert!(r.status().rings[1].status.contains("[3 of 10]"));
    // Copies come again; each turn of the decrementer takes one problem off.
    let mut now;
    for left in [2, 1] {
        now = r.poll_timeout().unwrap();
        r.handle_timeout(now);
        assert!(r.status().rings[1]
            .status
            .contains(&format!("to [{left} of 10]")));
    }
    now = r.poll_timeout().unwrap();
    r.handle_timeout(now);
    assert_eq!(r.status().rings[1].status, "ring 1 active with no faults");
    // One more turn finds nothing and stops.
    now = r.poll_timeout().unwrap();
    r.handle_timeout(now);
    assert_eq!(
        r.poll_timeout(),
        None,
        "no problem left: the decrementer stops"
    );
    // Three more misses start from zero again: still far from FAULTY.
    tokens_on_ring0_only(&mut r, now, 4, 9);
    assert!(!r.is_faulty(1));
}

#[test]
fn faulty_ring_is_tested_and_recovered_by_the_activate_message() {
    let mut r = rrp(RrpMode::Active);
    r.send_rings(SendKind::Token, Some(2));
    let now = tokens_on_ring0_only(&mut r, Instant::now(), 1, 10);
    assert!(r.is_faulty(1));
    // After rrp_autorecovery_check_timeout our ring test goes to the token target on ring 1.
    let at = r.poll_timeout().unwrap();
    assert!(at > now && at <= now + Duration::from_millis(1000));
    r.handle_timeout(at);
    let sent = outs(&mut r);
    assert_eq!(
        sent,
        [RrpOut::TokenSend {
            ring: 1,
            target: 2,
            bytes: ring_test(MessageType::RingTestActive, 1, 1)
        }]
    );
    // Our test comes back round ring 1: we send ACTIVATE on it.
    assert_eq!(
        r.on_receive(at, 1, &ring_test(MessageType::RingTestActive, 1, 1)),
        Verdict::Taken
    );
    assert_eq!(
        outs(&mut r),
        [RrpOut::TokenSend {
            ring: 1,
            target: 2,
            bytes: ring_test(MessageType::RingTestActivate, 1, 1)
        }]
    );
    assert!(
        r.is_faulty(1),
        "re-enabled when ACTIVATE has gone round, not before"
    );
    // ACTIVATE back at its activator: ring 1 is in use again, and it stops there.
    assert_eq!(
        r.on_receive(at, 1, &ring_test(MessageType::RingTestActivate, 1, 1)),
        Verdict::Taken
    );
    assert!(outs(&mut r).is_empty());
    assert!(!r.is_faulty(1));
    assert_eq!(r.status().rings[1].status, "ring 1 active with no faults");
    assert_eq!(r.stats().recovered, [0, 1]);
    assert_eq!(
        r.send_rings(SendKind::Mcast, None)
            .iter()
            .collect::<Vec<_>>(),
        [0, 1]
    );
    // No more ring tests once it recovered.
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn other_nodes_ring_tests_are_passed_on_unchanged() {
    let mut r = rrp(RrpMode::Passive);
    let now = Instant::now();
    let active = ring_test(MessageType::RingTestActive, 1, 3);
    // Before we ever sent a token there is nobody to pass it to.
    assert_eq!(r.on_receive(now, 1, &active), Verdict::Taken);
    assert!(outs(&mut r).is_empty());
    assert_eq!(r.stats().ring_tests_untargeted, 1);
    r.send_rings(SendKind::Token, Some(2));
    assert_eq!(r.on_receive(now, 1, &active), Verdict::Taken);
    assert_eq!(
        outs(&mut r),
        [RrpOut::TokenSend {
            ring: 1,
            target: 2,
            bytes: active
        }]
    );
    let activate = ring_test(MessageType::RingTestActivate, 1, 3);
    assert_eq!(r.on_receive(now, 1, &activate), Verdict::Taken);
    assert_eq!(
        outs(&mut r),
        [RrpOut::TokenSend {
            ring: 1,
            target: 2,
            bytes: activate
        }]
    );
    assert_eq!(r.stats().ring_tests_forwarded, 2);
    // A truncated one is counted, not forwarded.
    assert_eq!(
        r.on_receive(now, 1, &ring_test(MessageType::RingTestActive, 1, 3)[..8]),
        Verdict::Taken
    );
    assert!(outs(&mut r).is_empty());
    assert_eq!(r.stats().ring_tests_refused, 1);
}

#[test]
fn passive_sends_round_robin_and_skips_a_faulty_ring() {
    let mut r = rrp(RrpMode::Passive);
    let rings = |r: &mut Rrp, k| r.send_rings(k, Some(2)).iter().collect::<Vec<_>>();
    assert_eq!(rings(&mut r, SendKind::Token), [1]);
    assert_eq!(rings(&mut r, SendKind::Token), [0]);
    assert_eq!(
        rings(&mut r, SendKind::Mcast),
        [1],
        "mcasts rotate on their own"
    );
    assert_eq!(rings(&mut r, SendKind::Token), [1]);
    // Tokens keep coming on ring 0 only: ring 1 falls more than 10 behind.
    let now = Instant::now();
    for seq in 0..10 {
        assert_eq!(r.on_receive(now, 0, &token(seq)), Verdict::Deliver);
        assert!(
            !r.is_faulty(1),
            "{} behind is within the threshold",
            seq + 1
        );
    }
    // 11 behind: more than rrp_problem_count_threshold.
    assert_eq!(r.on_receive(now, 0, &token(10)), Verdict::Deliver);
    assert!(r.is_faulty(1));
    assert_eq!(
        r.status().rings[1].status,
        "Marking ringid 1 interface 192.0.3.1 FAULTY"
    );
    for _ in 0..4 {
        assert_eq!(rings(&mut r, SendKind::Token), [0]);
        assert_eq!(rings(&mut r, SendKind::Mcast), [0]);
    }
}

#[test]
fn passive_mcast_threshold_is_its_own() {
    let mut r = rrp(RrpMode::Passive);
    let now = Instant::now();
    // A merge detect stands for any non-token message.
    let md = SrpMessage::MergeDetect(totem_wire::srp::merge_detect::MergeDetect {
        header: Header::new(G, MessageType::MembMergeDetect, 2),
        system_from: totem_wire::srp_addr::SrpAddr::single(TotemIpAddress::v4(
            2,
            Ipv4Addr::new(192, 0, 2, 2),
        )),
        ring_id: RingId {
            rep: RingRep::Addr(TotemIpAddress::v4(1, Ipv4Addr::new(192, 0, 2, 1))),
            seq: 8,
        },
    })
    .to_vec();
    for _ in 0..100 {
        r.on_receive(now, 0, &md);
    }
    assert!(!r.is_faulty(1), "100 behind is within the mcast threshold");
    r.on_receive(now, 0, &md);
    assert!(r.is_faulty(1));
}

#[test]
fn every_ring_faulty_still_sends_on_ring_0() {
    for mode in [RrpMode::Active, RrpMode::Passive] {
        let mut r = rrp(mode);
        r.faulty = [true, true];
        assert_eq!(
            r.send_rings(SendKind::Mcast, None)
                .iter()
                .collect::<Vec<_>>(),
            [0],
            "{mode}"
        );
        assert_eq!(
            r.send_rings(SendKind::Token, Some(2))
                .iter()
                .collect::<Vec<_>>(),
            [0],
            "{mode}"
        );
    }
}

#[test]
fn manual_reenable_clears_every_ring() {
    let mut r = rrp(RrpMode::Active);
    let now = tokens_on_ring0_only(&mut r, Instant::now(), 1, 10);
    assert!(r.is_faulty(1));
    r.reenable(now, None);
    assert!(!r.is_faulty(1));
    assert_eq!(r.status().rings[1].status, "ring 1 active with no faults");
    assert_eq!(
        r.on_receive(now, 0, &token(20)),
        Verdict::Taken,
        "ring 1 is waited for again"
    );
}

#[test]
fn active_tokens_faster_than_the_expiry_still_count_each_miss() {
    let mut r = rrp(RrpMode::Active);
    let mut now = Instant::now();
    assert_eq!(r.on_receive(now, 0, &token(1)), Verdict::Taken);
    now += Duration::from_millis(238);
    r.handle_timeout(now);
    assert_eq!(r.stats().problems, [0, 1]);
    // Tokens 2.. come every millisecond on ring 0 only: each goes on at once, and its
    // missing copy is timed to its own expiry.
    for seq in 2..=10 {
        now += Duration::from_millis(1);
        assert_eq!(r.on_receive(now, 0, &token(seq)), Verdict::Deliver);
    }
    assert_eq!(r.stats().problems, [0, 1], "their copies may still come");
    // 238 ms after token 9 came, tokens 2..=9 have missed theirs.
    now += Duration::from_millis(237);
    r.handle_timeout(now);
    assert_eq!(r.stats().problems, [0, 9]);
    assert!(!r.is_faulty(1));
    now += Duration::from_millis(1);
    assert_eq!(r.on_receive(now, 0, &token(11)), Verdict::Deliver);
    r.handle_timeout(now);
    assert!(r.is_faulty(1), "ten misses in 250 ms: FAULTY");
    assert_eq!(
        r.status().rings[1].status,
        "Marking seqid 10 ringid 1 interface 192.0.3.1 FAULTY"
    );
    // A FAULTY ring is no longer timed: no expiry runs for token 12.
    assert_eq!(r.on_receive(now, 0, &token(12)), Verdict::Deliver);
    assert!(r
        .poll_timeout()
        .is_none_or(|t| t > now + Duration::from_millis(500)));
}

/// The seqs of the tokens that reached the engine: delivered at once or by the expiry.
fn delivered_seq(v: Verdict, msg: &[u8]) -> Option<u32> {
    (v == Verdict::Deliver).then(|| seq_of(msg))
}

fn seq_of(msg: &[u8]) -> u32 {
    totem_wire::srp::orf_token::OrfTokenView::new_checked(msg, G)
        .unwrap()
        .token_seq()
}

fn expired_seqs(r: &mut Rrp) -> Vec<u32> {
    outs(r)
        .into_iter()
        .filter_map(|o| match o {
            RrpOut::Deliver { bytes } => Some(seq_of(&bytes)),
            _ => None,
        })
        .collect()
}

/// Takes ring 1 down for ten rotations (FAULTY), then recovers it by our ring test.
fn fault_and_recover_ring1(r: &mut Rrp, now: Instant) -> Instant {
    r.send_rings(SendKind::Token, Some(2));
    let now = tokens_on_ring0_only(r, now, 1, 10);
    assert!(r.is_faulty(1));
    let at = r.poll_timeout().unwrap();
    r.handle_timeout(at);
    outs(r);
    r.on_receive(at, 1, &ring_test(MessageType::RingTestActive, 1, 1));
    r.on_receive(at, 1, &ring_test(MessageType::RingTestActivate, 1, 1));
    outs(r);
    assert!(!r.is_faulty(1));
    at.max(now)
}

#[test]
fn active_late_copy_of_an_earlier_token_does_not_release_the_held_one() {
    let mut r = rrp(RrpMode::Active);
    let now = Instant::now();
    assert_eq!(r.on_receive(now, 0, &token(1)), Verdict::Taken);
    assert_eq!(r.on_receive(now, 1, &token(1)), Verdict::Deliver);
    // Token 2 is held for its ring-1 copy; a late (duplicate) ring-1 copy of token 1
    // comes first. It is no copy of token 2: token 2 stays held and timed.
    assert_eq!(r.on_receive(now, 0, &token(2)), Verdict::Taken);
    let v = r.on_receive(now, 1, &token(1));
    assert_ne!(delivered_seq(v, &token(1)), Some(2));
    assert_eq!(
        r.poll_timeout(),
        Some(now + Duration::from_millis(238)),
        "token 2 is still timed"
    );
    // Its own ring-1 copy releases it, and nobody missed anything.
    assert_eq!(r.on_receive(now, 1, &token(2)), Verdict::Deliver);
    let later = now + Duration::from_millis(500);
    r.handle_timeout(later);
    assert!(expired_seqs(&mut r).is_empty());
    assert_eq!(r.stats().problems, [0, 0]);

    // Ring 1 dies right after the late copy: token 2 still reaches the engine by its
    // expiry, and only ring 1 is charged.
    let mut r = rrp(RrpMode::Active);
    assert_eq!(r.on_receive(now, 0, &token(1)), Verdict::Taken);
    assert_eq!(r.on_receive(now, 1, &token(1)), Verdict::Deliver);
    assert_eq!(r.on_receive(now, 0, &token(2)), Verdict::Taken);
    r.on_receive(now, 1, &token(1));
    let t = r.poll_timeout().expect("token 2 held: its expiry runs");
    assert!(t <= now + Duration::from_millis(238));
    r.handle_timeout(t);
    assert_eq!(expired_seqs(&mut r), [2]);
    assert_eq!(r.stats().problems, [0, 1]);
}

#[test]
fn active_ring0_late_while_ring1_recovers_is_not_charged() {
    let mut r = rrp(RrpMode::Active);
    let mut now = fault_and_recover_ring1(&mut r, Instant::now());
    let before = r.stats().problems;
    let mut seq = 100;
    // One ring-0 copy really is lost (a genuine miss): ring 0 is suspect.
    assert_eq!(r.on_receive(now, 1, &token(seq)), Verdict::Taken);
    now += Duration::from_millis(238);
    r.handle_timeout(now);
    assert_eq!(expired_seqs(&mut r), [seq]);
    assert_eq!(r.stats().problems[0], before[0] + 1);
    // Under load the token goes round every 5 ms, and ring 0's socket is read in bursts:
    // the ring-0 copies of three tokens come together, 1 ms after the third token's ring-1
    // copy (at most 11 ms late, well within token_expired_timeout).
    for _ in 0..20 {
        let mut late0 = Vec::new();
        for _ in 0..3 {
            seq += 1;
            now += Duration::from_millis(5);
            if r.poll_timeout().is_some_and(|t| t <= now) {
                r.handle_timeout(now);
            }
            let v = r.on_receive(now, 1, &token(seq));
            assert_eq!(
                delivered_seq(v, &token(seq)),
                Some(seq),
                "token {seq} goes on with ring 1's copy (ring 0 is suspect)"
            );
            late0.push(seq);
        }
        now += Duration::from_millis(1);
        for s in late0 {
            r.on_receive(now, 0, &token(s));
        }
        assert!(
            !r.is_faulty(0),
            "ring 0 FAULTY at token {seq}: {:?}",
            r.stats()
        );
    }
    now += Duration::from_secs(1);
    r.handle_timeout(now);
    assert!(!r.is_faulty(0));
    assert!(!r.is_faulty(1));
    assert_eq!(
        r.stats().problems[0],
        before[0] + 1,
        "late copies are not misses"
    );
    assert_eq!(r.stats().problems[1], before[1], "ring 1 missed nothing");
}

#[test]
fn active_never_marks_the_last_good_ring_faulty() {
    let mut r = rrp(RrpMode::Active);
    r.send_rings(SendKind::Token, Some(2));
    let mut now = tokens_on_ring0_only(&mut r, Instant::now(), 1, 10);
    assert!(r.is_faulty(1));
    // Now ring 0 loses its copies too (the peers still send on ring 1): every token is
    // held for ring 0 and goes on by the expiry, but ring 0 stays in use.
    for seq in 11..40 {
        if r.poll_timeout().is_some_and(|t| t <= now) {
            r.handle_timeout(now);
            outs(&mut r);
        }
        let v = r.on_receive(now, 1, &token(seq));
        if v == Verdict::Taken {
            now += Duration::from_millis(239);
            r.handle_timeout(now);
            assert_eq!(expired_seqs(&mut r), [seq]);
        }
        now += Duration::from_millis(30);
        assert!(!r.is_faulty(0), "token {seq}: the last ring not FAULTY");
    }
    now += Duration::from_secs(1);
    r.handle_timeout(now);
    assert!(!r.is_faulty(0));
    assert!(r.stats().problems[0] >= 10);
    assert_eq!(r.stats().marked_faulty, [0, 1]);
    assert_eq!(
        r.send_rings(SendKind::Mcast, None)
            .iter()
            .collect::<Vec<_>>(),
        [0]
    );
}

#[test]
fn passive_never_marks_the_last_good_ring_faulty() {
    let mut r = rrp(RrpMode::Passive);
    let now = Instant::now();
    for seq in 0..11 {
        r.on_receive(now, 0, &token(seq));
    }
    assert!(r.is_faulty(1));
    // Ring 1 (FAULTY here, in use elsewhere) now gets far ahead of ring 0.
    for seq in 11..40 {
        r.on_receive(now, 1, &token(seq));
    }
    assert!(!r.is_faulty(0));
}

mod hostile {
    use proptest::prelude::*;

    use super::*;

    /// What may arrive: garbage, ring tests with any fields (truncated or not), tokens
    /// with any seq, on ring 0, 1 or one we do not have; and time passing.
    #[derive(Debug, Clone)]
    enum Input {
        Bytes(usize, Vec<u8>),
        Test(usize, bool, i32, i32, usize),
        Token(usize, u32),
        Wait(u16),
        Send(bool),
    }

    fn input() -> impl Strategy<Value = Input> {
        prop_oneof![
            (0usize..3, proptest::collection::vec(any::<u8>(), 0..64))
                .prop_map(|(r, b)| Input::Bytes(r, b)),
            (0usize..3, any::<bool>(), -2i32..4, 0i32..5, 0usize..13)
                .prop_map(|(r, a, n, who, cut)| Input::Test(r, a, n, who, cut)),
            (0usize..3, 0u32..40).prop_map(|(r, s)| Input::Token(r, s)),
            any::<u16>().prop_map(Input::Wait),
            any::<bool>().prop_map(Input::Send),
        ]
    }

    proptest! {
        /// Whatever comes, the layer never panics, never sends on a ring it does not have,
        /// sends nothing but ring tests of 12 bytes by itself, never leaves every ring
        /// unused, and its deadlines are never in the past once handled.
        #[test]
        fn hostile_input_keeps_the_layer_sane(
            mode in prop_oneof![Just(RrpMode::Active), Just(RrpMode::Passive)],
            inputs in proptest::collection::vec(input(), 1..200),
        ) {
            let mut r = rrp(mode);
            let mut now = Instant::now();
            for i in inputs {
                match i {
                    Input::Bytes(ring, b) => { r.on_receive(now, ring, &b); }
                    Input::Test(ring, activate, n, who, cut) => {
                        let t = if activate { MessageType::RingTestActivate } else { MessageType::RingTestActive };
                        let b = ring_test(t, n, who);
                        r.on_receive(now, ring, &b[..cut.min(b.len())]);
                    }
                    Input::Token(ring, seq) => { r.on_receive(now, ring, &token(seq)); }
                    Input::Wait(ms) => {
                        now += Duration::from_millis(u64::from(ms % 3000));
                        if r.poll_timeout().is_some_and(|t| t <= now) {
                            r.handle_timeout(now);
                        }
                        prop_assert!(r.poll_timeout().is_none_or(|t| t > now));
                    }
                    Input::Send(token) => {
                        let k = if token { SendKind::Token } else { SendKind::Mcast };
                        let rings = r.send_rings(k, Some(2));
                        prop_assert!(rings.iter().count() >= 1);
                        prop_assert!(rings.iter().all(|x| x < RINGS));
                    }
                }
                while let Some(o) = r.poll_out() {
                    match o {
                        RrpOut::TokenSend { ring, bytes, .. } => {
                            prop_assert!(ring < RINGS);
                            prop_assert_eq!(bytes.len(), 12);
                        }
                        RrpOut::Deliver { bytes } => prop_assert!(!bytes.is_empty()),
                    }
                }
            }
        }
    }
}
