//! Known-answer tests. Expected values come from `tests/kat/gen_kat.py`, which computes
//! them with pyca/cryptography from the layouts in the crate docs, plus RFC 7748 / RFC 8032
//! inputs.

use ed25519_dalek::SigningKey;
use totem_keygen::kdf::{self, ClusterKeys};
use totem_keygen::traffic::TrafficKeys;
use totem_keygen::wire::{Body, Message};
use totem_keygen::{Credentials, GroupKey, KeyEpoch, RingId};
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

fn h32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

const ALICE: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const BOB_PUB: &str = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const NODE_SECRET: &str = "030f8ce8be14bd89126ec01b2d4eb8d2c3e0a3ac5a3e02f43b493dc726f1429b";
const NODE_BK: &str = "7bc93f023531b5fe3f8a8463bf0550aeda16814f82810a533233f32261ca6551";
const MAC_KEY: &str = "2c702caaa84431ca68ef81d93e34ac6176becda4ad05bfa747ad0033e6a95b10";
const GROUP_SALT: &str = "8a1766993ed7d3bd85f5da658431f3fe994605bd37f0c5109af7b2f8b22a9b99";
const GROUP_KEY: &str = "1976b160ca7af49b0634b53d76a1f8fa8179306c1f6c495bdf53a6b170f4fac8";
const TRAFFIC_KEY: &str = "a5020c3d5df9f415335854c82439abb125cc090aae0d2a645b0677fc0ce13cd4";
const ENVELOPE: &str = "010000000007000000031122334455667788000000050000000000000000b27a003eadf294fdb9f73d02fb7420c095fecb52fe3f3d060b3867";
const ED_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const ED_PUB: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const FRAME: &str = "544b010201000002000000090000000311223344556677880000000000000046000200047bc93f023531b5fe3f8a8463bf0550aeda16814f82810a533233f32261ca655100010909090909090909090909090909090909090909090909090909090909090909af299c250d3315cfa3f99741746e813d7b793f3cc433c6980f41c1ab7e9006fb6651689833f8267ce0f250978a431dcae4df460ad541d464dbf6a92dd14a4107af383d1fe3005301e964dc84fc627d42389b42ffd250d2619611458f5813df2c";

fn epoch() -> KeyEpoch {
    KeyEpoch {
        ring: RingId {
            rep: 3,
            seq: 0x1122_3344_5566_7788,
        },
        epoch: 5,
    }
}

fn authkey() -> Vec<u8> {
    (0u8..128).collect()
}

#[test]
fn node_secret_matches_independent_hkdf_of_rfc7748_dh() {
    let a = StaticSecret::from(h32(ALICE));
    let s = kdf::node_secret(&a, &h32(BOB_PUB)).unwrap();
    assert_eq!(hex::encode(s.as_bytes()), NODE_SECRET);
    assert_eq!(hex::encode(kdf::blind(&s)), NODE_BK);
}

#[test]
fn cluster_group_and_traffic_keys() {
    let ck = ClusterKeys::from_authkey(&authkey()).unwrap();
    assert_eq!(hex::encode(ck.mac_key.as_ref()), MAC_KEY);
    assert_eq!(hex::encode(ck.group_salt.as_ref()), GROUP_SALT);
    let root = StaticSecret::from(h32(NODE_SECRET));
    let gk = kdf::group_key(&ck, &root, &epoch());
    assert_eq!(hex::encode(gk.as_ref()), GROUP_KEY);
    let tk = kdf::traffic_key(&gk, &epoch());
    assert_eq!(hex::encode(tk.as_ref()), TRAFFIC_KEY);
}

#[test]
fn envelope_bytes_match_independent_chacha20poly1305() {
    let gk = GroupKey {
        epoch: epoch(),
        key: Zeroizing::new(h32(GROUP_KEY)),
    };
    let mut tx = TrafficKeys::new(7);
    assert!(tx.install(&gk));
    let p = tx.seal(b"hello totem").unwrap();
    assert_eq!(hex::encode(&p), ENVELOPE);
    let mut rx = TrafficKeys::new(8);
    rx.install(&gk);
    assert_eq!(
        rx.open(&hex::decode(ENVELOPE).unwrap()).unwrap(),
        b"hello totem"
    );
}

#[test]
fn signed_frame_matches_independent_encoding() {
    let sk = SigningKey::from_bytes(&h32(ED_SEED));
    assert_eq!(hex::encode(sk.verifying_key().as_bytes()), ED_PUB);
    let creds = Credentials::from_authkey(&authkey())
        .unwrap()
        .with_identity(sk.clone())
        .with_peer(9, sk.verifying_key());
    let msg = Message {
        sender: 9,
        ring: epoch().ring,
        epoch: 0,
        round: 2,
        body: Body::PathUpdate(vec![(4, h32(NODE_BK)), (1, [9u8; 32])]),
    };
    let bytes = creds.seal_message(&msg).unwrap();
    assert_eq!(hex::encode(&bytes), FRAME);
    assert_eq!(bytes.len(), msg.buffer_len(true));
    assert_eq!(
        creds.open_message(&hex::decode(FRAME).unwrap()).unwrap(),
        msg
    );
}
