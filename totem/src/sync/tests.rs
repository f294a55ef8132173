use totem_wire::service::sync::SyncMessage;
use totem_wire::{Endian, Generation, RingId};

use super::messages;
use super::{local_services, Output, Sync};

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
        matches!(&out[..], [Output::SendSync(b), Output::Init { members, .. }]
        if b.len() == 552 && members == &[1, 2, 3])
    );
    // Node 2 runs a service we do not know (7): it joins the list as a dummy.
    let b1 = messages::service_build(G, ring, &[0, 2, 3, 5]);
    let b2 = messages::service_build(G, ring, &[0, 2, 3, 5, 7]);
    assert!(s.deliver(1, &parse(&b1)).is_empty());
    assert!(s.deliver(2, &parse(&b2)).is_empty());
    let out = s.deliver(3, &parse(&b1));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], Output::Process(0));
    assert_eq!(s.services(), &[0, 2, 3, 5, 7]);
    let bar = messages::barrier(G, ring);
    let mut activated = Vec::new();
    let mut processed = vec![0];
    for _ in 0..5 {
        for (i, m) in members.iter().enumerate() {
            let out = s.deliver(*m, &parse(&bar));
            if i < 2 {
                assert!(out.is_empty(), "{out:?}");
                continue;
            }
            for o in out {
                match o {
                    Output::Activate(x) => activated.push(x),
                    Output::Process(x) => processed.push(x),
                    Output::SendSync(b) => assert_eq!(b, bar),
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
    s.deliver(1, &parse(&b));
    let out = s.deliver(2, &parse(&b));
    assert_eq!(out[0], Output::Process(0));
    // A transitional configuration while CMAP runs: abort, then builds of the old ring are
    // stale.
    let out = s.transitional(&[1]);
    assert_eq!(out, [Output::Abort(0)]);
    assert!(s.in_progress());
    assert!(s.deliver(2, &parse(&messages::barrier(G, old))).is_empty());
    assert_eq!(s.stats().stale_messages, 1);
    let out = s.regular(new, &[1, 3]);
    assert!(matches!(&out[1], Output::Init { trans, .. } if trans == &[1]));
    s.deliver(1, &parse(&messages::service_build(G, new, &[0, 2, 3, 5])));
    let out = s.deliver(3, &parse(&messages::service_build(G, new, &[0, 2, 3, 5])));
    assert_eq!(out[0], Output::Process(0));
    assert_eq!(s.stats().rounds_aborted, 1);
}

#[test]
fn single_member_completes_on_its_own_messages() {
    let ring = RingId::node(4, 1);
    let mut s = Sync::new(G, local_services(G));
    let out = s.regular(ring, &[4]);
    let Output::SendSync(build) = &out[0] else {
        panic!()
    };
    let mut pending = vec![build.clone()];
    let mut done = false;
    for _ in 0..20 {
        let Some(m) = pending.pop() else { break };
        for o in s.deliver(4, &parse(&m)) {
            match o {
                Output::SendSync(b) => pending.push(b),
                Output::Completed => done = true,
                _ => {}
            }
        }
    }
    assert!(done);
    assert_eq!(s.stats().rounds_completed, 1);
}
