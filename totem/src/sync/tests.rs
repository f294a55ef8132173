use totem_wire::service::sync::SyncMessage;
use totem_wire::{Endian, Generation, KnownGroup, RingId};

use super::compat::ClmIdentity;
use super::messages;
use super::{local_services, Output, Sync};
use totem_wire::service::openais::OpenaisMessage;

const G: Generation = Generation::G3;

fn parse(b: &[u8]) -> SyncMessage {
    SyncMessage::parse(b, G, Endian::Little).unwrap()
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

/// Spec §7.1: G3 service_build is 552 bytes, id 1 at 0, size at 8, ring id {rep u32, seq u64}
/// at 16, entries at 32, list at 40; barrier is 32 bytes with id 0.
#[test]
fn sync_messages_have_the_spec_layout() {
    let ring = RingId::node(1, 5);
    let b = messages::service_build(G, ring, &[0, 2, 3, 5]);
    assert_eq!(b.len(), 552);
    assert_eq!(le32(&b, 0), 1);
    assert_eq!(le32(&b, 8), 552);
    assert_eq!(le32(&b, 16), 1);
    assert_eq!(u64::from_le_bytes(b[20..28].try_into().unwrap()), 5);
    assert_eq!(le32(&b, 32), 4);
    assert_eq!(
        [le32(&b, 40), le32(&b, 44), le32(&b, 48), le32(&b, 52)],
        [0, 2, 3, 5]
    );
    assert!(b[56..].iter().all(|&x| x == 0));
    let bar = messages::barrier(G, ring);
    assert_eq!(bar.len(), 32);
    assert_eq!((le32(&bar, 0), le32(&bar, 8), le32(&bar, 16)), (0, 32, 1));
}

/// Spec §9.2/§9.3/§9.1: nodeinfo 32 bytes (id 0x00050000), cmap sync 328 bytes without a
/// config_version (header id 0), downlist 1568 bytes (id 0x00020005).
#[test]
fn service_sync_messages_have_the_spec_layout() {
    let n = messages::nodeinfo(G, 7, 1, 3, 8);
    assert_eq!(n.len(), 32);
    assert_eq!(le32(&n, 0), 0x0005_0000);
    assert_eq!(
        [le32(&n, 16), le32(&n, 20), le32(&n, 24), le32(&n, 28)],
        [7, 1, 3, 8]
    );
    let c = messages::cmap_sync(G, None);
    assert_eq!(c.len(), 328);
    assert_eq!((le32(&c, 0), le32(&c, 8)), (0, 328));
    assert_eq!((c[16], c[24]), (0, 1));
    assert_eq!(u16::from_le_bytes([c[48], c[49]]), 20);
    assert_eq!(&c[56..76], b"totem.config_version");
    assert_eq!(c[48 + 264], 0);
    let c = messages::cmap_sync(G, Some(9));
    assert_eq!(c.len(), 336);
    assert_eq!(c[48 + 264], 8);
    assert_eq!(&c[48 + 280..], &9u64.to_le_bytes());
    let d = messages::cpg_downlist(G, 3, &[4, 6]);
    assert_eq!(d.len(), 1568);
    assert_eq!(le32(&d, 0), 0x0002_0005);
    assert_eq!(
        [le32(&d, 16), le32(&d, 24), le32(&d, 32), le32(&d, 36)],
        [3, 2, 4, 6]
    );
}

/// Feeds every member's sync messages in a fixed total order, as a ring would deliver them,
/// and checks the service order, the barriers and completion.
#[test]
fn three_members_run_every_service_in_order() {
    let ring = RingId::node(1, 9);
    let members = [1, 2, 3];
    let mut s = Sync::new(G, local_services(G));
    assert!(s.in_progress());
    let out = s.regular(ring, &members);
    assert!(
        matches!(&out[..], [Output::Send(_, b), Output::Init { members, .. }]
        if b.len() == 552 && members == &[1, 2, 3])
    );
    // Node 2 runs a service we do not know (7): it joins the list as a dummy.
    let b1 = messages::service_build(G, ring, &[0, 2, 3, 5]);
    let b2 = messages::service_build(G, ring, &[0, 2, 3, 5, 7]);
    assert!(s.deliver(1, KnownGroup::Sync, &parse(&b1)).is_empty());
    assert!(s.deliver(2, KnownGroup::Sync, &parse(&b2)).is_empty());
    let out = s.deliver(3, KnownGroup::Sync, &parse(&b1));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], Output::Process(0));
    assert_eq!(s.services(), &[0, 2, 3, 5, 7]);
    let bar = messages::barrier(G, ring);
    let mut activated = Vec::new();
    let mut processed = vec![0];
    for _ in 0..5 {
        for (i, m) in members.iter().enumerate() {
            let out = s.deliver(*m, KnownGroup::Sync, &parse(&bar));
            if i < 2 {
                assert!(out.is_empty(), "{out:?}");
                continue;
            }
            for o in out {
                match o {
                    Output::Activate(x) => activated.push(x),
                    Output::Process(x) => processed.push(x),
                    Output::Send(_, b) => assert_eq!(b, bar),
                    Output::Completed => assert!(!s.in_progress()),
                    other => panic!("{other:?}"),
                }
            }
        }
    }
    assert_eq!(activated, [0, 2, 3, 5, 7]);
    assert_eq!(processed, [0, 2, 3, 5, 7]);
    assert!(!s.in_progress());
    assert_eq!(s.stats().rounds_completed, 1);
}

#[test]
fn stale_ring_messages_are_ignored_and_new_config_aborts() {
    let old = RingId::node(1, 9);
    let new = RingId::node(1, 13);
    let mut s = Sync::new(G, local_services(G));
    s.regular(old, &[1, 2]);
    let b = messages::service_build(G, old, &[0, 2, 3, 5]);
    s.deliver(1, KnownGroup::Sync, &parse(&b));
    let out = s.deliver(2, KnownGroup::Sync, &parse(&b));
    assert_eq!(out[0], Output::Process(0));
    // A transitional configuration while CMAP runs: abort, then builds of the old ring are
    // stale.
    let out = s.transitional(&[1]);
    assert_eq!(out, [Output::Abort(0)]);
    assert!(s.in_progress());
    assert!(s
        .deliver(2, KnownGroup::Sync, &parse(&messages::barrier(G, old)))
        .is_empty());
    assert_eq!(s.stats().stale_messages, 1);
    let out = s.regular(new, &[1, 3]);
    assert!(matches!(&out[1], Output::Init { trans, .. } if trans == &[1]));
    s.deliver(
        1,
        KnownGroup::Sync,
        &parse(&messages::service_build(G, new, &[0, 2, 3, 5])),
    );
    let out = s.deliver(
        3,
        KnownGroup::Sync,
        &parse(&messages::service_build(G, new, &[0, 2, 3, 5])),
    );
    assert_eq!(out[0], Output::Process(0));
    assert_eq!(s.stats().rounds_aborted, 1);
}

#[test]
fn single_member_completes_on_its_own_messages() {
    let ring = RingId::node(4, 1);
    let mut s = Sync::new(G, local_services(G));
    let out = s.regular(ring, &[4]);
    let Output::Send(_, build) = &out[0] else {
        panic!()
    };
    let mut pending = vec![build.clone()];
    let mut done = false;
    for _ in 0..20 {
        let Some(m) = pending.pop() else { break };
        for o in s.deliver(4, KnownGroup::Sync, &parse(&m)) {
            match o {
                Output::Send(_, b) => pending.push(b),
                Output::Completed => done = true,
                _ => {}
            }
        }
    }
    assert!(done);
    assert_eq!(s.stats().rounds_completed, 1);
}

/// A ring of corosync 1.x participants: every message sent goes into one total order and is
/// delivered to every member, as Totem's agreed order does.
struct G1Ring {
    nodes: Vec<(u32, Sync)>,
    queue: std::collections::VecDeque<(u32, KnownGroup, Vec<u8>)>,
    sent: Vec<(u32, KnownGroup, String)>,
    completed: Vec<u32>,
    /// Times the fallback had to release held EVT steps.
    releases: u32,
}

impl G1Ring {
    fn new(flavor: super::Flavor, ids: &[u32]) -> Self {
        let nodes = ids
            .iter()
            .map(|&n| {
                let addr = std::net::IpAddr::from([198, 51, 100, 10 + n as u8]);
                (n, Sync::g1(flavor, ClmIdentity::new(n, addr)))
            })
            .collect();
        G1Ring {
            nodes,
            queue: Default::default(),
            sent: Vec::new(),
            completed: Vec::new(),
            releases: 0,
        }
    }

    fn take(&mut self, from: u32, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Send(g, b) => {
                    self.sent.push((from, g, kind(g, &b)));
                    self.queue.push_back((from, g, b));
                }
                Output::Completed => self.completed.push(from),
                _ => {}
            }
        }
    }

    fn regular(&mut self, ring: RingId) {
        let ids: Vec<u32> = self.nodes.iter().map(|n| n.0).collect();
        for i in 0..self.nodes.len() {
            let (n, s) = &mut self.nodes[i];
            let n = *n;
            let out = s.regular(ring, &ids);
            self.take(n, out);
        }
    }

    /// Delivers everything (bounded), in order, to every node.
    fn run(&mut self) {
        for _ in 0..10_000 {
            let Some((from, g, b)) = self.queue.pop_front() else {
                // Quiet: the service's fallback timer releases held EVT steps.
                let mut released = false;
                for i in 0..self.nodes.len() {
                    let (n, s) = &mut self.nodes[i];
                    let n = *n;
                    let out = s.evt_release();
                    released |= !out.is_empty();
                    self.take(n, out);
                }
                if released {
                    self.releases += 1;
                    continue;
                }
                return;
            };
            for i in 0..self.nodes.len() {
                let (n, s) = &mut self.nodes[i];
                let n = *n;
                let out = match g {
                    KnownGroup::A => match OpenaisMessage::parse(&b, G1, Endian::Little) {
                        Ok(OpenaisMessage::EvtChanCmd { chc_op, .. }) => {
                            s.evt_chancmd(from, chc_op)
                        }
                        _ => Vec::new(),
                    },
                    _ => s.deliver(
                        from,
                        g,
                        &SyncMessage::parse(&b, G1, Endian::Little).unwrap(),
                    ),
                };
                self.take(n, out);
            }
        }
        panic!("sync never went quiet");
    }
}

const G1: Generation = Generation::G1;

/// A G1 ring id: representative node 1 at 198.51.100.11.
fn g1_ring(seq: u64) -> RingId {
    use totem_wire::ip_address::TotemIpAddress;
    RingId {
        rep: totem_wire::RingRep::Addr(TotemIpAddress::v4(1, [198, 51, 100, 11].into())),
        seq,
    }
}

/// A short name for a message: group and kind.
fn kind(g: KnownGroup, b: &[u8]) -> String {
    match g {
        KnownGroup::A => match OpenaisMessage::parse(b, G1, Endian::Little) {
            Ok(OpenaisMessage::EvtChanCmd { chc_op, .. }) => format!("a:evt{chc_op}"),
            Ok(OpenaisMessage::ClmNodeJoin(_)) => "a:clm".into(),
            Err(_) => "a:?".into(),
        },
        _ => {
            let name = match SyncMessage::parse(b, G1, Endian::Little) {
                Ok(SyncMessage::Barrier(_)) => "barrier",
                Ok(SyncMessage::ServiceBuild(_)) => "build",
                Ok(SyncMessage::MembDetermine(_)) => "determine",
                Err(_) => "?",
            };
            format!("{}:{name}", String::from_utf8_lossy(g.name()))
        }
    }
}

/// Whitetank (1.4.10's default): each member sends memb_determine and the opening barrier,
/// then CLM's NODEJOIN and barrier, AMF's and CKPT's barriers, EVT's two channel commands
/// and barrier, CPG's barrier, and an empty syncv2 service_build; everyone completes.
#[test]
fn g1_whitetank_round_completes_with_1_4_10_message_sequence() {
    let ring = g1_ring(12);
    let mut r = G1Ring::new(super::Flavor::Whitetank, &[1, 2, 3]);
    r.regular(ring);
    r.run();
    assert_eq!(r.completed, [1, 2, 3]);
    let mine: Vec<&str> = r
        .sent
        .iter()
        .filter(|s| s.0 == 3)
        .map(|s| s.2.as_str())
        .collect();
    assert_eq!(
        mine,
        [
            "syncv2:determine",
            "sync:barrier",
            "a:clm",
            "sync:barrier",
            "sync:barrier",
            "sync:barrier",
            "a:evt7",
            "a:evt5",
            "sync:barrier",
            "sync:barrier",
            "syncv2:build",
        ]
    );
    for (_, s) in &r.nodes {
        assert!(!s.in_progress());
        assert!(s.services().is_empty());
    }
}

/// `compatibility: none`: syncv2 only, over CLM, EVT and CPG.
#[test]
fn g1_v2_only_round_runs_clm_evt_cpg() {
    let ring = g1_ring(16);
    let mut r = G1Ring::new(super::Flavor::V2Only, &[1, 2, 3]);
    r.regular(ring);
    r.run();
    assert_eq!(r.completed, [1, 2, 3]);
    let mine: Vec<&str> = r
        .sent
        .iter()
        .filter(|s| s.0 == 2)
        .map(|s| s.2.as_str())
        .collect();
    assert_eq!(
        mine,
        [
            "syncv2:build",
            "a:clm",
            "syncv2:barrier",
            "a:evt7",
            "a:evt5",
            "syncv2:barrier",
            "syncv2:barrier",
        ]
    );
    assert_eq!(r.nodes[0].1.services(), &[1, 4, 8]);
    // A ring of ours only: everyone held OPEN_COUNT_DONE until the fallback released it.
    assert_eq!(r.releases, 1);
}

/// Sync v2 EVT beside 1.4.10 nodes (which send OPEN_COUNT_DONE when they start the step):
/// ours goes once the others' are in, and the step completes without the fallback.
#[test]
fn g1_v2_evt_waits_for_the_others_open_count_done() {
    let ring = g1_ring(24);
    let id = ClmIdentity::new(3, std::net::IpAddr::from([198, 51, 100, 13]));
    let mut s = Sync::g1(super::Flavor::V2Only, id);
    s.regular(ring, &[1, 2, 3]);
    let p = |b: Vec<u8>| SyncMessage::parse(&b, G1, Endian::Little).unwrap();
    for n in [1, 2, 3] {
        s.deliver(
            n,
            KnownGroup::SyncV2,
            &p(messages::service_build(G1, ring, &[1, 4, 8])),
        );
    }
    let bar = || p(messages::barrier(G1, ring));
    s.deliver(1, KnownGroup::SyncV2, &bar());
    s.deliver(2, KnownGroup::SyncV2, &bar());
    let out = s.deliver(3, KnownGroup::SyncV2, &bar());
    // CLM done, EVT starts: nothing sent yet.
    assert_eq!(out, [Output::Activate(1), Output::Process(4)]);
    assert!(s.evt_held());
    assert!(s.evt_chancmd(1, 7).is_empty());
    let out = s.evt_chancmd(2, 7);
    assert!(matches!(&out[..], [Output::Send(KnownGroup::A, b)] if b[16] == 7));
    assert!(!s.evt_held());
    assert!(s.evt_release().is_empty());
    let out = s.evt_chancmd(3, 7);
    assert!(matches!(&out[..], [Output::Send(KnownGroup::A, b)] if b[16] == 5));
    s.evt_chancmd(1, 5);
    s.evt_chancmd(2, 5);
    let out = s.evt_chancmd(3, 5);
    assert!(matches!(&out[..], [Output::Send(KnownGroup::SyncV2, b)] if b.len() == 48));
}

/// A member that never runs EVT holds the round (what 1.4.10 logged when our node sent
/// nothing): with one of three silent, nobody completes.
#[test]
fn g1_round_waits_for_a_silent_member() {
    let ring = g1_ring(20);
    let mut r = G1Ring::new(super::Flavor::Whitetank, &[1, 2]);
    for i in 0..2 {
        let (n, s) = &mut r.nodes[i];
        let n = *n;
        let out = s.regular(ring, &[1, 2, 3]);
        r.take(n, out);
    }
    r.run();
    assert!(r.completed.is_empty());
    assert!(r.nodes.iter().all(|(_, s)| s.in_progress()));
}

/// A new configuration in the middle of sync v1 aborts the running v1 service; barriers of
/// the old ring are then stale, and the new round starts from the opening barrier.
#[test]
fn g1_new_configuration_aborts_sync_v1() {
    let old = g1_ring(12);
    let new = g1_ring(16);
    let id = ClmIdentity::new(3, std::net::IpAddr::from([198, 51, 100, 13]));
    let mut s = Sync::g1(super::Flavor::Whitetank, id);
    let out = s.regular(old, &[1, 3]);
    assert!(matches!(
        &out[..2],
        [
            Output::Send(KnownGroup::SyncV2, _),
            Output::Send(KnownGroup::Sync, _)
        ]
    ));
    let bar = |r| SyncMessage::parse(&messages::barrier(G1, r), G1, Endian::Little).unwrap();
    assert!(s.deliver(1, KnownGroup::Sync, &bar(old)).is_empty());
    let out = s.deliver(3, KnownGroup::Sync, &bar(old));
    // The opening barrier is complete: CLM runs (NODEJOIN, then its barrier).
    assert_eq!(out[0], Output::Process(super::compat::CLM));
    assert!(matches!(&out[1], Output::Send(KnownGroup::A, b) if b.len() == 392));
    let out = s.transitional(&[3]);
    assert_eq!(out, [Output::Abort(super::compat::CLM)]);
    assert!(s.deliver(1, KnownGroup::Sync, &bar(old)).is_empty());
    assert_eq!(s.stats().stale_messages, 1);
    let out = s.regular(new, &[3]);
    assert!(matches!(&out[1], Output::Send(KnownGroup::Sync, b) if b.len() == 48));
    // A syncv2 barrier is not a sync v1 barrier.
    assert!(s.deliver(3, KnownGroup::SyncV2, &bar(new)).is_empty());
    assert_eq!(s.stats().rounds_aborted, 1);
}

/// Alone in a sync v2 ring, nothing is held: the EVT step runs on our own messages.
#[test]
fn g1_v2_alone_does_not_hold_evt() {
    let ring = g1_ring(28);
    let id = ClmIdentity::new(3, std::net::IpAddr::from([198, 51, 100, 13]));
    let mut r = G1Ring {
        nodes: vec![(3, Sync::g1(super::Flavor::V2Only, id))],
        queue: Default::default(),
        sent: Vec::new(),
        completed: Vec::new(),
        releases: 0,
    };
    let out = r.nodes[0].1.regular(ring, &[3]);
    r.take(3, out);
    r.run();
    assert_eq!((r.completed.as_slice(), r.releases), (&[3][..], 0));
}
