//! `check` and `engine` on the bundled captures: known scenarios found, mutations caught.

use std::path::{Path, PathBuf};
use std::time::Instant;

use totem::engine::{Engine, Event, Transmit};
use totem_captures::differential::{self, Subject};
use totem_captures::story::{read_story, Story};
use totem_captures::timeline::{Happening, Options, Timeline};
use totem_captures::PortFilter;
use totem_wire::{Generation, SrpMessage};

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn story(rel: &str) -> Story {
    let p = path(rel);
    let keys = totem_captures::knet::keys_for_capture(&p, None, None).unwrap();
    read_story(&p, &keys, &PortFilter::default()).unwrap()
}

fn timeline(s: &Story) -> Timeline {
    Timeline::build(s, Options::defaults(s.generation(), 3))
}

fn members(t: &Timeline) -> Vec<Vec<u32>> {
    t.rings.iter().map(|r| r.members.clone()).collect()
}

#[test]
fn node3_killed_shows_a_ring_without_node_3_after_a_token_loss() {
    for rel in [
        "g3/3.1.7-udpu-03-node3-killed.pcapng",
        "g3/3.1.7-udp-03-node3-killed.pcapng",
        "real/1.4.10-udpu-03-node3-killed.pcapng",
        "real/2.4.6-udpu-03-node3-killed.pcapng",
    ] {
        let t = timeline(&story(rel));
        assert_eq!(members(&t), vec![vec![1, 2, 3], vec![1, 2]], "{rel}");
        assert!(t.rings[0].pre_existing && !t.rings[1].pre_existing, "{rel}");
        let formed = t
            .events
            .iter()
            .find_map(|e| match &e.what {
                Happening::Formed { ring: 1, lost, .. } => Some(lost.clone()),
                _ => None,
            })
            .expect("ring 2 formed");
        assert_eq!(formed, vec![3], "{rel}");
        assert_eq!(t.count("token_loss"), 1, "{rel}");
        assert!(t.passed(), "{rel}: {}", t.text());
        // The loss comes before the new ring, and the new ring took a consensus timeout.
        let loss = t
            .events
            .iter()
            .find(|e| e.what.kind() == "token_loss")
            .unwrap();
        assert!(loss.at < t.rings[1].formed_at, "{rel}");
    }
    let t = timeline(&story("g3/3.1.7-udpu-03-node3-killed.pcapng"));
    let f = t.rings[1].formation.unwrap();
    assert!(
        (4.0..5.0).contains(&f),
        "join to operational {f} s (consensus 4380 ms)"
    );
}

#[test]
fn partition_merge_shows_the_split_and_the_merged_ring() {
    for rel in [
        "g3/3.1.7-udpu-05-partition-merge.pcapng",
        "g3/3.1.7-udpu-ipv6-05-partition-merge.pcapng",
        "real/1.4.10-udpu-05-partition-merge.pcapng",
        "real/2.4.6-udpu-05-partition-merge.pcapng",
    ] {
        let t = timeline(&story(rel));
        assert_eq!(
            members(&t),
            vec![vec![1, 2, 3], vec![1, 2], vec![1, 2, 3]],
            "{rel}"
        );
        assert_eq!(
            (
                t.count("partition"),
                t.count("merge"),
                t.count("token_loss")
            ),
            (1, 1, 1),
            "{rel}: {}",
            t.text()
        );
        let merge = t
            .events
            .iter()
            .find_map(|e| match &e.what {
                Happening::Merge { ring, from } => Some((*ring, from.clone())),
                _ => None,
            })
            .unwrap();
        assert_eq!(merge.0, 2, "{rel}");
        assert_eq!(
            merge.1[0], t.rings[1].id,
            "{rel}: the 2-node ring is one side"
        );
        assert_eq!(
            merge.1[1].rep_nodeid(),
            3,
            "{rel}: node 3's own ring the other"
        );
    }
}

#[test]
fn rejoin_shows_node_3_joining() {
    for rel in [
        "g3/3.1.7-udpu-04-node3-rejoin.pcapng",
        "real/2.4.6-udp-04-node3-rejoin.pcapng",
    ] {
        let t = timeline(&story(rel));
        assert_eq!(members(&t), vec![vec![1, 2], vec![1, 2, 3]], "{rel}");
        let joined = t
            .events
            .iter()
            .find_map(|e| match &e.what {
                Happening::Formed {
                    ring: 1, joined, ..
                } => Some(joined.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(joined, vec![3], "{rel}");
        assert_eq!(t.count("token_loss") + t.count("merge"), 0, "{rel}");
    }
}

#[test]
fn leave_is_counted_once_and_rotation_is_measured() {
    let t = timeline(&story("g3/3.1.7-udpu-06-node3-leave.pcapng"));
    assert_eq!(t.count("leave"), 1, "udpu sends one copy per member");
    let (p50, p99) = t.rings[0].rotation_ms().unwrap();
    // An idle corosync 3 ring holds the token for the hold timeout (685 ms) per visit.
    assert!((600.0..800.0).contains(&p50) && p50 <= p99, "{p50} {p99}");
}

#[test]
fn a_missing_message_fails_seq_coverage_with_its_seq() {
    let mut s = story("g3/3.1.7-udpu-02-steady-cpg.pcapng");
    assert!(timeline(&s).passed());
    let victim = s
        .msgs
        .iter()
        .find_map(|m| match &m.message {
            SrpMessage::Mcast(x) if x.seq == 100 => Some(x.ring_id),
            _ => None,
        })
        .unwrap();
    s.msgs.retain(
        |m| !matches!(&m.message, SrpMessage::Mcast(x) if x.seq == 100 && x.ring_id == victim),
    );
    let t = timeline(&s);
    assert!(!t.passed());
    let c = t.checks.iter().find(|c| c.name == "seq-coverage").unwrap();
    assert!(
        !c.passed && c.detail.contains("seqs 100 never"),
        "{}",
        c.detail
    );
}

#[test]
fn a_retransmit_with_other_bytes_fails_consistency() {
    let mut s = story("g3/3.1.7-udpu-02-steady-cpg.pcapng");
    // udpu sends each mcast once per member: alter the second copy of seq 50.
    let mut copies = 0;
    for m in &mut s.msgs {
        if let SrpMessage::Mcast(x) = &mut m.message {
            if x.seq == 50 {
                copies += 1;
                if copies == 2 {
                    x.payload[0] ^= 0xff;
                }
            }
        }
    }
    assert!(copies >= 2);
    let t = timeline(&s);
    let c = t
        .checks
        .iter()
        .find(|c| c.name == "retransmit-consistency")
        .unwrap();
    assert!(!c.passed && c.detail.contains("seq 50"), "{}", c.detail);
}

#[test]
fn unrecovered_old_ring_messages_fail_recovery() {
    let mut s = story("g3/3.1.7-udpu-03-node3-killed.pcapng");
    assert!(timeline(&s).passed());
    // Pretend node 1 had acknowledged only up to 300 of the old ring's 313: the new ring
    // would have to re-send 301..=313 encapsulated, and the capture has none.
    for m in &mut s.msgs {
        if let SrpMessage::CommitToken(c) = &mut m.message {
            c.memb_list[0].aru = 300;
        }
    }
    let t = timeline(&s);
    let c = t.checks.iter().find(|c| c.name == "recovery").unwrap();
    assert!(!c.passed && c.detail.contains("301-313"), "{}", c.detail);
}

fn first_token_frame(s: &Story, node: u32, seq: u64) -> u64 {
    s.msgs
        .iter()
        .find_map(|m| match &m.message {
            SrpMessage::OrfToken(t) if t.header.nodeid == node && t.ring_id.seq == seq => {
                Some(m.frame)
            }
            _ => None,
        })
        .unwrap()
}

#[test]
fn engine_agrees_with_every_node_of_the_scenarios() {
    for rel in [
        "g3/3.1.7-udpu-01-formation.pcapng",
        "g3/3.1.7-udpu-03-node3-killed.pcapng",
        "g3/3.1.7-udp-05-partition-merge.pcapng",
        "g3/3.1.7-knet-01-formation.pcapng",
        "real/1.4.10-udpu-04-node3-rejoin.pcapng",
    ] {
        let p = path(rel);
        if !p.exists() {
            continue;
        }
        let s = story(rel);
        for (n, r) in differential::replay_all(Some(&p), &s) {
            let r = r.unwrap();
            assert_eq!(r.differ(), 0, "{rel} node {n}: {:?}", r.difference_lines());
        }
    }
}

#[test]
fn engine_catches_a_mutated_ring_id_at_its_frame() {
    let rel = "g3/3.1.7-udpu-03-node3-killed.pcapng";
    let mut s = story(rel);
    let frame = first_token_frame(&s, 1, 0x11);
    let r = differential::replay(Some(&path(rel)), &s, 1).unwrap();
    assert_eq!(r.summary_line(), "rings=1 same=1 differ=0");
    // Node 1's tokens and merge detects of ring 1.11 now claim ring 1.99.
    for m in &mut s.msgs {
        match &mut m.message {
            SrpMessage::OrfToken(t) if t.header.nodeid == 1 && t.ring_id.seq == 0x11 => {
                t.ring_id.seq = 0x99;
            }
            SrpMessage::MergeDetect(d) if d.system_from.nodeid() == 1 && d.ring_id.seq == 0x11 => {
                d.ring_id.seq = 0x99;
            }
            _ => {}
        }
    }
    let r = differential::replay(Some(&path(rel)), &s, 1).unwrap();
    assert_eq!(r.summary_line(), "rings=2 same=0 differ=2");
    let lines = r.difference_lines().join("\n");
    assert!(
        lines.contains(&format!(
            "ring 1.99: ring not installed by ours; capture members [1] (frame {frame})"
        )),
        "{lines}"
    );
    assert!(
        lines.contains("ring 1.11: ring not installed by node in capture"),
        "{lines}"
    );
}

/// Our engine with one bug: its regular configurations lose their last member.
struct Forgetful(Engine);

impl Subject for Forgetful {
    fn datagram(&mut self, now: Instant, bytes: &[u8]) {
        self.0.handle_datagram(now, bytes);
    }
    fn timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }
    fn next_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn transmit(&mut self) -> Option<Transmit> {
        self.0.poll_transmit()
    }
    fn event(&mut self) -> Option<Event> {
        match self.0.poll_event() {
            Some(Event::Config {
                kind,
                ring_id,
                mut members,
                left,
                joined,
            }) => {
                members.pop();
                Some(Event::Config {
                    kind,
                    ring_id,
                    members,
                    left,
                    joined,
                })
            }
            e => e,
        }
    }
    fn leave(&mut self, now: Instant) {
        self.0.leave(now);
    }
}

#[test]
fn a_wrong_engine_is_caught_with_frames_and_members() {
    let rel = "g3/3.1.7-udpu-05-partition-merge.pcapng";
    let s = story(rel);
    let cfg = differential::config_for(Some(&path(rel)), &s, 2).unwrap();
    assert_eq!(cfg.generation, Generation::G3);
    assert_eq!(
        cfg.token_timeout().as_millis(),
        3650,
        "timers from configs/3.1.7-udpu-n2.conf"
    );
    let delivery = differential::Delivery::for_node(Some(&path(rel)), &s, 2);
    let r = differential::replay_with(&s, 2, Forgetful, cfg, &delivery).unwrap();
    assert_eq!(r.summary_line(), "rings=2 same=0 differ=2");
    let lines = r.difference_lines();
    let (f1, f2) = (
        first_token_frame(&s, 2, 0x1a),
        first_token_frame(&s, 2, 0x1e),
    );
    assert!(
        lines[0].starts_with(&format!(
            "differ: ring 1.1a: members [1, 2] vs [1]; capture members [1, 2] (frame {f1})"
        )),
        "{lines:?}"
    );
    assert!(
        lines[1].contains(&format!(
            "members [1, 2, 3] vs [1, 2]; capture members [1, 2, 3] (frame {f2})"
        )),
        "{lines:?}"
    );
}

#[test]
fn svg_has_a_lane_per_node_and_a_span_per_membership() {
    let t = timeline(&story("g3/3.1.7-udpu-05-partition-merge.pcapng"));
    let svg = totem_captures::svg::render(&t, "partition & merge");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for n in 1..=3 {
        assert!(svg.contains(&format!(">node {n}</text>")), "lane {n}");
    }
    // Nodes 1 and 2 are in all three rings, node 3 in the first and last.
    assert_eq!(svg.matches("<title>ring ").count(), 3 + 3 + 2);
    assert!(svg.contains("partition &amp; merge"));
    assert!(svg.contains("<polyline"), "token rotation plot");
}

mod props {
    use proptest::prelude::*;
    use totem_captures::timeline::percentiles;

    proptest! {
        #[test]
        fn percentiles_are_ordered_members_of_the_sample(v in proptest::collection::vec(0.0f64..10.0, 1..200)) {
            let (p50, p99) = percentiles(&v).unwrap();
            prop_assert!(p50 <= p99);
            prop_assert!(v.contains(&p50) && v.contains(&p99));
            let below = v.iter().filter(|x| **x <= p50).count();
            prop_assert!(below * 2 >= v.len());
        }
    }
}

#[test]
fn a_cut_link_keeps_what_the_bridge_shows_from_the_cut_node() {
    let rel = "real/2.4.6-udpu-05-partition-merge.pcapng";
    let s = story(rel);
    let delivery = differential::Delivery::for_node(Some(&path(rel)), &s, 3);
    assert_eq!(delivery.knet, None);
    let links = &delivery.links;
    assert_eq!(links.cuts.len(), 1, "{links:?}");
    assert_eq!(links.cuts[0].node, 3);
    // Node 3 sends nothing the bridge sees while its link is down.
    assert!(!s
        .msgs
        .iter()
        .any(|m| m.sender() == 3 && links.is_down(3, m.time)));
    let cfg = || differential::config_for(Some(&path(rel)), &s, 3).unwrap();
    let r = differential::replay_with(&s, 3, |e| e, cfg(), &delivery).unwrap();
    assert!(r.cut_off > 0);
    assert_eq!(r.differ(), 0, "{:?}", r.difference_lines());
    // Fed the datagrams it never got, node 3 forms singletons the real one did not.
    let none = differential::Delivery::default();
    let r = differential::replay_with(&s, 3, |e| e, cfg(), &none).unwrap();
    assert_eq!(r.cut_off, 0);
    assert!(r.differ() > 0, "{}", r.summary_line());
}

fn frame_time(s: &Story, frame: u64) -> std::time::Duration {
    s.knet.iter().find(|k| k.frame == frame).unwrap().time
}

#[test]
fn knet_data_from_a_host_not_yet_reachable_is_not_fed() {
    let rel = "g3/3.1.7-knet-nss-aes256-sha256-01-formation.pcapng";
    let s = story(rel);
    let delivery = differential::Delivery::for_node(Some(&path(rel)), &s, 1);
    let reach = delivery
        .knet
        .clone()
        .expect("node 1's knet starts in the capture");
    // Node 1 counts hosts 2 and 3 reachable at their third pong to it (frames 49, 50).
    assert_eq!(reach.up.get(&2), Some(&frame_time(&s, 49)));
    assert_eq!(reach.up.get(&3), Some(&frame_time(&s, 50)));
    // So node 2's merge detects of frames 45 and 46 never reached node 1's totemsrp (it
    // stayed operational in 1.5: its merge detect of frame 67).
    let cfg = || differential::config_for(Some(&path(rel)), &s, 1).unwrap();
    let r = differential::replay_with(&s, 1, |e| e, cfg(), &delivery).unwrap();
    assert_eq!(r.unreachable, 2);
    assert_eq!(r.differ(), 0, "{:?}", r.difference_lines());
    // Fed them, our node 1 commits [1, 2] where corosync committed [1, 2, 3].
    let none = differential::Delivery::default();
    let r = differential::replay_with(&s, 1, |e| e, cfg(), &none).unwrap();
    assert!(r.differ() > 0, "{}", r.summary_line());
}

#[test]
fn knet_started_before_the_capture_has_every_host_reachable() {
    let rel = "g3/3.1.7-knet-nss-aes256-sha256-02-steady-cpg.pcapng";
    let s = story(rel);
    for n in 1..=3 {
        let d = differential::Delivery::for_node(Some(&path(rel)), &s, n);
        assert_eq!(d.knet, None, "node {n}");
    }
}

#[test]
fn another_generations_datagrams_do_not_reach_the_node() {
    let rel = "real/mixed-2.4.6x2+1.4.10-udpu.pcapng";
    let s = story(rel);
    // Node 3 ran 1.4.10 (G1); nodes 1 and 2 ran 2.4.6 (G2) and unicast it merge detects.
    assert_eq!(s.generation_of(3), Generation::G1);
    let r = differential::replay(Some(&path(rel)), &s, 3).unwrap();
    // 1.4.10 logged "Type of received message is wrong" 67 times (spec findings, section 5).
    assert_eq!(r.foreign, 67);
    assert_eq!(r.differ(), 0, "{:?}", r.difference_lines());
    for n in [1, 2] {
        let r = differential::replay(Some(&path(rel)), &s, n).unwrap();
        assert!(r.foreign > 0, "node {n}");
        assert_eq!(r.differ(), 0, "node {n}: {:?}", r.difference_lines());
    }
}

#[test]
fn openais_tokens_under_a_stale_header_nodeid_are_taken() {
    let rel = "real/openais-0.80.6-udp-01-formation.pcapng";
    let s = story(rel);
    let addrs = s.addresses();
    let node_of = |ip: &str| -> u32 {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        *addrs.iter().find(|(_, a)| a.contains(&ip)).unwrap().0
    };
    let (n1, n2) = (node_of("198.51.100.11"), node_of("198.51.100.12"));
    // Frame 12: node 1 passes the commit token's second rotation on under node 2's nodeid
    // (openais sets it only when a member fills in its entry); frame 148: node 1
    // retransmits a token under node 2's nodeid (its copy is taken before the nodeid is set).
    for f in [12, 148] {
        let m = s.msgs.iter().find(|m| m.frame == f).unwrap();
        assert_eq!(m.sender(), n2, "frame {f}");
        assert!(differential::sent_by(
            m,
            n1,
            &addrs[&n1].iter().copied().collect::<Vec<_>>()
        ));
    }
    assert!(s.has_stale_nodeids());
    let cfg = differential::config_for(Some(&path(rel)), &s, n2).unwrap();
    assert!(cfg.openais_stale_nodeids);
    for (n, r) in differential::replay_all(Some(&path(rel)), &s) {
        let r = r.unwrap();
        assert_eq!(r.differ(), 0, "node {n}: {:?}", r.difference_lines());
        assert!(r.rings.len() >= 2, "node {n}");
    }
    // Without it, node 2's engine refuses node 1's stale tokens and falls out of the ring.
    let mut strict = cfg;
    strict.openais_stale_nodeids = false;
    let delivery = differential::Delivery::for_node(Some(&path(rel)), &s, n2);
    let r = differential::replay_with(&s, n2, |e| e, strict, &delivery).unwrap();
    assert!(r.differ() > 0, "{}", r.summary_line());
}

#[test]
fn corosync_captures_show_no_stale_nodeids() {
    for rel in [
        "real/1.4.10-udpu-01-formation.pcapng",
        "real/1.4.10-udp-04-node3-rejoin.pcapng",
        "real/2.4.6-udpu-05-partition-merge.pcapng",
        "g3/3.1.7-udpu-03-node3-killed.pcapng",
    ] {
        assert!(!story(rel).has_stale_nodeids(), "{rel}");
    }
}

#[test]
fn rings_whose_recovery_never_completed_are_not_installed() {
    // Active RRP with node 3's ring-1 link down: 2.4.6 went round commit tokens for rings
    // 17 to 109, recovering none (its logs: "A new membership" for 13, then 113 only).
    let rel = "real/2.4.6-udpu-rrp-active-06-ring1-fault-recover.pcapng";
    let s = story(rel);
    let sent_tokens_in = |seq: u64| {
        s.msgs.iter().any(|m| {
            matches!(&m.message, SrpMessage::OrfToken(t) if t.header.nodeid == 1 && t.ring_id.seq == seq)
        })
    };
    assert!(sent_tokens_in(41) && sent_tokens_in(113));
    for (n, r) in differential::replay_all(Some(&path(rel)), &s) {
        let r = r.unwrap();
        let rings: Vec<u64> = r.rings.iter().map(|c| c.ring().seq).collect();
        assert_eq!(rings, [113], "node {n}: {:?}", r.difference_lines());
        assert_eq!(r.differ(), 0, "node {n}: {:?}", r.difference_lines());
    }
    // corosync has no gather_stuck_after: with ours on, our engine starts afresh alone.
    let mut cfg = differential::config_for(Some(&path(rel)), &s, 1).unwrap();
    assert_eq!(cfg.gather_stuck_after, 0);
    cfg.gather_stuck_after = 4;
    let d = differential::Delivery::for_node(Some(&path(rel)), &s, 1);
    let r = differential::replay_with(&s, 1, |e| e, cfg, &d).unwrap();
    assert!(r.differ() > 0, "{}", r.summary_line());
}
