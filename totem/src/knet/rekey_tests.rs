//! Two crypto configs and the three key change steps, checked against a real encrypted ping
//! (corosync 3.1.7 / knet 1.25 capture, nss/aes256/sha256) and an independent opener.

use std::borrow::Cow;

use totem_wire::envelope::knet::{KnetCrypto, KnetCryptoConfig};

use super::rekey::{Rekey, PHASE_ACTIVATE, PHASE_CLEANUP};
use super::seal::{KnetSeal, SealError};
use super::tests::{fixture, fixture_key};
use totem_wire::knet::TYPE_PING;

const NAME: &str = "nss-aes256-sha256";

fn config() -> KnetCryptoConfig {
    KnetCryptoConfig::from_names("nss", "aes256", "sha256").unwrap()
}

fn crypto(key: &[u8]) -> KnetCrypto {
    KnetCrypto::new(config(), key).unwrap()
}

/// The capture's key and one of its encrypted pings (with its clear frame).
fn captured_ping() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let key = fixture_key(NAME);
    let opener = crypto(&key);
    let (dgram, frame) = fixture(NAME)
        .into_iter()
        .find_map(|(_, d)| {
            let f = opener.open(&d).ok()?.frame;
            (f.get(1) == Some(&TYPE_PING)).then_some((d, f))
        })
        .expect("an encrypted ping in the fixture");
    (key, dgram, frame)
}

fn other_key(key: &[u8], flip: u8) -> Vec<u8> {
    let mut k = key.to_vec();
    k[0] ^= flip;
    k
}

/// knet rx order: the config in use, then the other loaded one; each config counts what it
/// opened and sealed; the config in use cannot be replaced; empty or unknown configs cannot
/// be used.
#[test]
fn two_slots_open_either_seal_with_in_use() {
    let (key, dgram, ping) = captured_ping();
    let old = other_key(&key, 1);
    let mut s = KnetSeal::crypto(crypto(&old));
    assert_eq!(s.in_use(), 1);
    // Only the wrong key loaded: refused, nothing counted as opened.
    assert!(matches!(s.open(&dgram), Err(SealError::Crypto(_))));
    // The capture's key in config 2: config 1 fails, config 2 opens it.
    s.set_config(2, Some(crypto(&key))).unwrap();
    assert_eq!(s.open(&dgram).unwrap(), Cow::<[u8]>::Owned(ping.clone()));
    assert_eq!(s.last_opened(), 2);
    let st = s.slot_stats();
    assert_eq!(
        (st[0].loaded, st[0].opened),
        (true, 0),
        "config 1 opened nothing yet"
    );
    assert_eq!((st[1].loaded, st[1].opened), (true, 1));
    // We still seal with config 1: only the old key opens it.
    let out = s.seal(&ping).unwrap();
    assert_eq!(crypto(&old).open(&out).unwrap().frame, ping);
    assert!(crypto(&key).open(&out).is_err());
    assert_eq!(s.slot_stats()[0].sealed, 1);
    assert!(s.open(&out).is_ok());
    assert_eq!(s.last_opened(), 1);
    // Config 1 is in use: not replaceable.
    assert_eq!(s.set_config(1, None), Err(SealError::SlotInUse(1)));
    s.use_config(2).unwrap();
    let out = s.seal(&ping).unwrap();
    assert_eq!(crypto(&key).open(&out).unwrap().frame, ping);
    assert!(crypto(&old).open(&out).is_err());
    assert_eq!(s.slot_stats()[1].sealed, 1);
    // Now config 1 can go; the captured ping still opens, with config 2 tried first.
    s.set_config(1, None).unwrap();
    assert!(!s.slot_stats()[0].loaded);
    assert!(s.open(&dgram).is_ok());
    assert_eq!(s.slot_stats()[1].opened, 2);
    assert_eq!(s.use_config(1), Err(SealError::SlotEmpty(1)));
    assert_eq!(s.use_config(3), Err(SealError::NoSuchSlot(3)));
    assert_eq!(s.set_config(0, None), Err(SealError::NoSuchSlot(0)));
    // Clear text stays refused.
    assert!(s.open(&ping).is_err());
}

/// corosync's steps: load into `3 - crypto_index`, use it, clear the old one; a second
/// change goes back to config 1.
#[test]
fn rekey_three_steps_then_again() {
    let (key, dgram, ping) = captured_ping();
    let old = other_key(&key, 2);
    let mut s = KnetSeal::crypto(crypto(&old));
    let mut r = Rekey::new(true);
    assert_eq!(r.index(), 1);
    // A peer still sealing with the old key, and one already on the new (the capture's).
    let from_old = crypto(&old).seal(&ping, &[7; 16]);
    r.load(&mut s, Some(crypto(&key))).unwrap();
    assert_eq!((r.index(), s.in_use()), (2, 1));
    assert!(s.open(&from_old).is_ok());
    assert!(s.open(&dgram).is_ok());
    r.activate(&mut s).unwrap();
    assert_eq!(s.in_use(), 2);
    let out = s.seal(&ping).unwrap();
    assert_eq!(crypto(&key).open(&out).unwrap().frame, ping);
    // Before cleanup the old key still opens.
    assert!(s.open(&from_old).is_ok());
    r.cleanup(&mut s).unwrap();
    assert!(s.open(&from_old).is_err());
    assert!(s.open(&dgram).is_ok());
    let st = s.slot_stats();
    assert_eq!((st[0].loaded, st[0].opened), (false, 2));
    assert_eq!((st[1].loaded, st[1].opened, st[1].sealed), (true, 2, 1));
    // Second change: back into config 1.
    let third = other_key(&key, 4);
    r.load(&mut s, Some(crypto(&third))).unwrap();
    assert_eq!((r.index(), s.in_use()), (1, 2));
    r.activate(&mut s).unwrap();
    r.cleanup(&mut s).unwrap();
    assert_eq!(s.in_use(), 1);
    assert!(s.open(&dgram).is_err());
    let out = s.seal(&ping).unwrap();
    assert_eq!(crypto(&third).open(&out).unwrap().frame, ping);
}

/// A step out of order fails like knet does (EBUSY): cleanup before activate would clear
/// the config in use.
#[test]
fn cleanup_before_activate_is_refused() {
    let (key, _, _) = captured_ping();
    let mut s = KnetSeal::crypto(crypto(&other_key(&key, 1)));
    let mut r = Rekey::new(true);
    r.load(&mut s, Some(crypto(&key))).unwrap();
    assert_eq!(r.cleanup(&mut s), Err(SealError::SlotInUse(1)));
    assert_eq!(s.in_use(), 1);
    assert!(s.slot_stats()[0].loaded);
}

/// Crypto switched off at run time: clear text accepted from the load on, sent after
/// activate; switched on from clear: clear text refused after cleanup only.
#[test]
fn rekey_to_and_from_clear() {
    let (key, dgram, ping) = captured_ping();
    let mut s = KnetSeal::crypto(crypto(&key));
    let mut r = Rekey::new(true);
    assert!(s.open(&ping).is_err());
    r.load(&mut s, None).unwrap();
    assert!(s.open(&dgram).is_ok());
    assert_eq!(s.open(&ping).unwrap(), Cow::Borrowed(&ping[..]));
    r.activate(&mut s).unwrap();
    assert_eq!((s.in_use(), s.describe().as_str()), (0, "none"));
    assert_eq!(s.seal(&ping).unwrap(), ping);
    r.cleanup(&mut s).unwrap();
    assert!(
        s.open(&dgram).is_ok(),
        "clear text only if no config opens it"
    );

    let mut c = KnetSeal::clear();
    let mut r = Rekey::new(false);
    r.load(&mut c, Some(crypto(&key))).unwrap();
    assert_eq!(r.index(), 2);
    assert!(c.open(&ping).is_ok(), "clear still accepted until cleanup");
    r.activate(&mut c).unwrap();
    assert_eq!(
        crypto(&key).open(&c.seal(&ping).unwrap()).unwrap().frame,
        ping
    );
    r.cleanup(&mut c).unwrap();
    assert!(c.open(&ping).is_err());
    assert!(c.open(&dgram).is_ok());
}

/// Each step runs once, whichever trigger comes first: the first datagram only the new key
/// opens activates; the own phase-1 message afterwards does nothing; cleanup only after
/// activation; phases out of turn do nothing.
#[test]
fn triggers_run_each_step_once() {
    let (key, dgram, ping) = captured_ping();
    let old = other_key(&key, 8);
    let mut s = KnetSeal::crypto(crypto(&old));
    let mut r = Rekey::new(true);
    assert_eq!(r.awaiting(), None);
    assert_eq!(
        r.phase(&mut s, PHASE_ACTIVATE),
        Ok(false),
        "no change under way"
    );
    r.load(&mut s, Some(crypto(&key))).unwrap();
    assert_eq!(r.awaiting(), Some(PHASE_ACTIVATE));
    assert_eq!(
        r.phase(&mut s, PHASE_CLEANUP),
        Ok(false),
        "cleanup before activation"
    );
    assert!(s.slot_stats()[0].loaded);
    // A datagram under the old key is no cue; one under the new key is.
    s.open(&crypto(&old).seal(&ping, &[1; 16])).unwrap();
    assert!(!r.new_key_seen(&s));
    s.open(&dgram).unwrap();
    assert!(r.new_key_seen(&s));
    assert_eq!(r.phase(&mut s, PHASE_ACTIVATE), Ok(true));
    assert_eq!(s.in_use(), 2);
    assert!(!r.new_key_seen(&s), "already active");
    assert_eq!(
        r.phase(&mut s, PHASE_ACTIVATE),
        Ok(false),
        "own phase 1 later"
    );
    assert_eq!(r.awaiting(), Some(PHASE_CLEANUP));
    assert_eq!(r.phase(&mut s, PHASE_CLEANUP), Ok(true));
    assert!(!s.slot_stats()[0].loaded);
    assert_eq!(r.awaiting(), None);
    assert_eq!(r.phase(&mut s, PHASE_CLEANUP), Ok(false));
}
