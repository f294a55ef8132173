//! Traffic keys: nonce construction, uniqueness, slots and counted rejections.

use std::collections::BTreeSet;

use totem_keygen::traffic::{nonce, EnvelopeHeader, TrafficKeys, ENVELOPE_HEADER_LEN};
use totem_keygen::{GroupKey, KeyEpoch, OpenError, RingId, SealError};
use zeroize::Zeroizing;

fn gk(seq: u64, epoch: u32, byte: u8) -> GroupKey {
    GroupKey {
        epoch: KeyEpoch {
            ring: RingId { rep: 1, seq },
            epoch,
        },
        key: Zeroizing::new([byte; 32]),
    }
}

#[test]
fn nonce_layout_is_sender_then_counter_big_endian() {
    assert_eq!(
        nonce(0x0102_0304, 0x0506_0708_090a_0b0c),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    );
}

#[test]
fn nonces_are_unique_across_senders_and_packets() {
    let key = gk(1, 0, 7);
    let mut seen = BTreeSet::new();
    for sender in [1u32, 2, 3, 0x0100_0000, u32::MAX] {
        let mut tx = TrafficKeys::new(sender);
        tx.install(&key);
        for _ in 0..500 {
            let p = tx.seal(b"x").unwrap();
            let h = EnvelopeHeader::parse(&p).unwrap();
            assert_eq!(h.sender, sender);
            assert!(seen.insert(nonce(h.sender, h.counter)), "nonce reused");
        }
    }
    assert_eq!(seen.len(), 2500);
}

#[test]
fn send_new_receive_both_reject_older() {
    let mut a = TrafficKeys::new(1);
    let mut b = TrafficKeys::new(2);
    assert_eq!(a.seal(b"x"), Err(SealError::NoKey));
    a.install(&gk(5, 0, 1));
    b.install(&gk(5, 0, 1));
    let p0 = a.seal(b"epoch0").unwrap();
    a.install(&gk(5, 1, 2));
    let p1 = a.seal(b"epoch1").unwrap();
    assert_eq!(
        EnvelopeHeader::parse(&p1).unwrap().epoch.epoch,
        1,
        "sends with new key"
    );
    // b does not have epoch 1 yet.
    assert_eq!(b.open(&p1), Err(OpenError::UnknownKey));
    b.install(&gk(5, 1, 2));
    assert_eq!(b.open(&p0).unwrap(), b"epoch0", "previous slot still opens");
    assert_eq!(b.open(&p1).unwrap(), b"epoch1");
    // Re-installing the same or an older epoch changes nothing.
    assert!(!b.install(&gk(5, 1, 9)));
    assert!(!b.install(&gk(5, 0, 1)));
    // A third key pushes epoch 0 out.
    b.install(&gk(6, 0, 3));
    let p0b = {
        let mut old = TrafficKeys::new(1);
        old.install(&gk(5, 0, 1));
        old.seal(b"late").unwrap()
    };
    assert_eq!(b.open(&p0b), Err(OpenError::StaleEpoch));
    assert_eq!(b.open(&p1).unwrap_err(), OpenError::Replay);
    let s = b.stats();
    assert_eq!((s.ok, s.unknown_key, s.stale_epoch, s.replay), (2, 1, 1, 1));
}

#[test]
fn tamper_replay_and_malformed_are_counted() {
    let mut a = TrafficKeys::new(1);
    let mut b = TrafficKeys::new(2);
    a.install(&gk(1, 0, 4));
    b.install(&gk(1, 0, 4));
    let p = a.seal(b"payload").unwrap();
    for i in 0..p.len() {
        let mut bad = p.clone();
        bad[i] ^= 0x80;
        assert!(b.open(&bad).is_err(), "byte {i}");
    }
    assert_eq!(
        b.open(&p[..ENVELOPE_HEADER_LEN + 3]),
        Err(OpenError::Malformed("shorter than header and tag"))
    );
    assert_eq!(
        b.open(&p[..10]),
        Err(OpenError::Malformed("shorter than the envelope header"))
    );
    assert_eq!(b.open(&p).unwrap(), b"payload");
    assert_eq!(b.open(&p), Err(OpenError::Replay));
    // Out-of-order delivery inside the window is fine.
    let q: Vec<_> = (0..5).map(|_| a.seal(b"q").unwrap()).collect();
    for i in [4, 1, 3, 0, 2] {
        b.open(&q[i]).unwrap();
    }
    let s = b.stats();
    assert_eq!(s.ok, 6);
    assert_eq!(s.replay, 1);
    assert!(s.auth_failed + s.unknown_key + s.stale_epoch + s.malformed >= p.len() as u64);
    // A different group key cannot open.
    let mut c = TrafficKeys::new(3);
    c.install(&gk(1, 0, 5));
    assert_eq!(c.open(&a.seal(b"z").unwrap()), Err(OpenError::AuthFailed));
}
