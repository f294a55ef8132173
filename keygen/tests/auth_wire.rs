//! Authentication of key-agreement messages and robustness of the decoder.

mod common;

use common::{creds, Sim, AUTHKEY};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use rand_core::OsRng;
use totem_keygen::wire::{Body, Message, HEADER_LEN};
use totem_keygen::{AgreementError, ConfigChange, Credentials, Member, RingId, WireError};

fn sample() -> Message {
    Message {
        sender: 4,
        ring: RingId { rep: 1, seq: 9 },
        epoch: 0,
        round: 1,
        body: Body::PathUpdate(vec![(3, [7u8; 32]), (1, [8u8; 32])]),
    }
}

#[test]
fn tampered_message_is_rejected() {
    let c = creds();
    let good = c.seal_message(&sample()).unwrap();
    assert_eq!(c.open_message(&good).unwrap(), sample());
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        assert!(
            c.open_message(&bad).is_err(),
            "flipping byte {i} was accepted"
        );
    }
}

#[test]
fn wrong_authkey_is_rejected() {
    let other = Credentials::from_authkey(&[0x33u8; 128]).unwrap();
    let bytes = other.seal_message(&sample()).unwrap();
    assert_eq!(creds().open_message(&bytes), Err(WireError::BadMac));
}

#[test]
fn signatures_are_enforced() {
    let a = SigningKey::from_bytes(&[1u8; 32]);
    let b = SigningKey::from_bytes(&[2u8; 32]);
    let verifier = creds().with_peer(4, a.verifying_key());
    // Unsigned (only authkey): refused once signatures are required.
    let unsigned = creds().seal_message(&sample()).unwrap();
    assert_eq!(
        verifier.open_message(&unsigned),
        Err(WireError::MissingSignature { sender: 4 })
    );
    // Signed by the wrong identity (a member speaking for node 4).
    let forged = creds().with_identity(b).seal_message(&sample()).unwrap();
    assert_eq!(
        verifier.open_message(&forged),
        Err(WireError::BadSignature { sender: 4 })
    );
    let ok = creds().with_identity(a).seal_message(&sample()).unwrap();
    assert_eq!(verifier.open_message(&ok).unwrap(), sample());
    // Unknown signer.
    let mut m = sample();
    m.sender = 5;
    let unknown = creds()
        .with_identity(SigningKey::from_bytes(&[3u8; 32]))
        .seal_message(&m)
        .unwrap();
    assert_eq!(
        verifier.open_message(&unknown),
        Err(WireError::UnknownSigner { sender: 5 })
    );
}

#[test]
fn node_without_authkey_cannot_join() {
    let mut sim = Sim::new();
    let g = sim.spawn(4);
    sim.config(&g);
    let good_key = sim.common_key(&g);
    let intruder_id = 99;
    let mut intruder = Member::new(
        intruder_id,
        Credentials::from_authkey(&[0x11u8; 128]).unwrap(),
        &mut OsRng,
    );
    let mut all = g.clone();
    all.push(intruder_id);
    let cfg = ConfigChange {
        ring: RingId { rep: 1, seq: 50 },
        members: all.clone(),
    };
    let mut msgs = Vec::new();
    for id in &g {
        msgs.extend(
            sim.members
                .get_mut(id)
                .unwrap()
                .config_change(&cfg, &mut OsRng)
                .unwrap(),
        );
    }
    let intruder_msgs = intruder.config_change(&cfg, &mut OsRng).unwrap();
    assert_eq!(intruder_msgs.len(), 1);
    // Its announcement is refused by every member; it cannot read theirs either.
    for id in &g {
        let r = sim
            .members
            .get_mut(id)
            .unwrap()
            .receive(&intruder_msgs[0], &mut OsRng);
        assert_eq!(r.err(), Some(AgreementError::Wire(WireError::BadMac)));
    }
    for m in &msgs {
        assert_eq!(
            intruder.receive(m, &mut OsRng).err(),
            Some(AgreementError::Wire(WireError::BadMac))
        );
    }
    assert!(intruder.group_key().is_none());
    // Members never complete a key with it; their last key is unchanged.
    for id in &g {
        assert!(sim.members[id].in_progress());
        assert_eq!(*sim.members[id].group_key().unwrap().key, good_key);
    }
    let _ = AUTHKEY;
}

#[test]
fn every_truncation_gives_an_error() {
    let c = creds();
    let mut sim = Sim::new();
    let g = sim.spawn(6);
    sim.config(&g);
    let mut frames = sim.log.clone();
    frames.push(c.seal_message(&sample()).unwrap());
    for f in &frames {
        c.open_message(f).unwrap();
        for cut in 0..f.len() {
            let e = Message::parse_frame(&f[..cut]).unwrap_err();
            assert!(
                matches!(
                    e,
                    WireError::Truncated { .. }
                        | WireError::BadTree { .. }
                        | WireError::BadValue { .. }
                ),
                "cut {cut}: {e}"
            );
        }
        let mut long = f.clone();
        long.push(0);
        assert!(matches!(
            Message::parse_frame(&long),
            Err(WireError::Trailing { .. })
        ));
    }
}

#[test]
fn malformed_fields_name_the_field() {
    let c = creds();
    let good = c.seal_message(&sample()).unwrap();
    let mut b = good.clone();
    b[3] = 9;
    assert_eq!(
        Message::parse_frame(&b).unwrap_err(),
        WireError::BadValue {
            field: "kind",
            offset: 3,
            value: 9
        }
    );
    let mut b = good.clone();
    b[HEADER_LEN] = 0;
    b[HEADER_LEN + 1] = 0;
    assert_eq!(
        Message::parse_frame(&b).unwrap_err(),
        WireError::BadValue {
            field: "entry_count",
            offset: HEADER_LEN,
            value: 0
        }
    );
    // A tree announcement whose preorder list leaves a child missing.
    let m = Message {
        body: Body::TreeAnnounce(vec![
            totem_keygen::tree::WireNode {
                leaf: None,
                bk: None,
            },
            totem_keygen::tree::WireNode {
                leaf: Some(1),
                bk: Some([9; 32]),
            },
        ]),
        ..sample()
    };
    let bytes = c.seal_message(&m).unwrap();
    assert!(matches!(
        Message::parse_frame(&bytes),
        Err(WireError::BadTree {
            reason: "tree ends with missing children",
            ..
        })
    ));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Message::parse_frame(&bytes);
        let _ = creds().open_message(&bytes);
    }

    #[test]
    fn random_header_with_valid_prefix_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..400), kind in 1u8..4) {
        let mut b = b"TK".to_vec();
        b.extend([1, kind, 0, 0]);
        b.extend(tail);
        let _ = Message::parse_frame(&b);
    }
}
