//! Tests of the knet layer against frames of `captures/g3/3.1.7-knet-01-formation.pcapng`
//! (corosync 3.1.7, libknet 1.25, hosts 1..3 at 192.0.2.11..13, port 5405) and against
//! the libknet 1.25 rules they were written from.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use totem_wire::knet::{ping_frame, TYPE_DATA, TYPE_PING, TYPE_PONG};

fn hexb(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn addr(host: u16) -> SocketAddr {
    format!("192.0.2.1{host}:5405").parse().unwrap()
}

fn params() -> LinkParams {
    LinkParams::corosync_defaults(Duration::from_millis(3650))
}

fn layer(me: u16, policy: LinkPolicy, now: Instant) -> KnetLayer {
    sealed_layer(me, policy, KnetSeal::clear(), now)
}

/// Host `me` of three on one link each, with `seal` and the data MTU it leaves on a 1500-byte
/// IPv4 link.
fn sealed_layer(me: u16, policy: LinkPolicy, seal: KnetSeal, now: Instant) -> KnetLayer {
    let hosts = (1..=3)
        .map(|h| (h, vec![(0u8, addr(h), params())]))
        .collect();
    KnetLayer::new(
        KnetConfig {
            host_id: me,
            policy,
            hosts,
            data_mtu: seal.data_mtu(1500, false),
        },
        seal,
        now,
    )
}

/// Answers every ping `l` has queued with the pong a real knet sends (the ping with type
/// 0x82 and the peer's host id), `n` rounds, so that links come up.
fn bring_up(l: &mut KnetLayer, now: &mut Instant, rounds: usize) {
    for _ in 0..rounds {
        l.handle_timeout(*now);
        let mut pongs = Vec::new();
        while let Some(t) = l.poll_transmit() {
            if t.bytes[1] == TYPE_PING {
                let mut p = t.bytes.clone();
                p[1] = TYPE_PONG;
                let host = u16::from(t.dest.ip().to_string().as_bytes()[9] - b'0');
                p[2..4].copy_from_slice(&host.to_be_bytes());
                pongs.push((t.dest, p));
            }
        }
        *now += Duration::from_millis(1);
        for (src, p) in pongs {
            assert_eq!(l.handle_datagram(*now, src, &p), None);
        }
        *now += params().ping_interval;
    }
}

/// Capture frames 13/14: host 2's ping to host 1 and host 1's pong, which is the ping with
/// type 0x82 and host id 1, everything else echoed.
#[test]
fn pong_answers_capture_ping_byte_for_byte() {
    let now = Instant::now();
    let mut l = layer(1, LinkPolicy::Passive, now);
    let ping = hexb("018100020000009203000000000000cde8880500000000000001");
    assert_eq!(l.handle_datagram(now, addr(2), &ping), None);
    let t = l.poll_transmit().expect("a pong");
    assert_eq!(t.dest, addr(2));
    assert_eq!(t.link, 0);
    assert_eq!(
        t.bytes,
        hexb("018200010000009203000000000000cde8880500000000000001")
    );
    assert_eq!(l.link_status()[0].rx_ping, 1);
}

/// Capture frames 154/155: host 2's 1472-byte PMTUD probe (size 0x05dc in host order) and
/// host 1's 9-byte reply.
#[test]
fn pmtud_reply_matches_capture() {
    let now = Instant::now();
    let mut l = layer(1, LinkPolicy::Passive, now);
    let mut probe = hexb("01830002000000dc05");
    probe.resize(1472, 0);
    assert_eq!(l.handle_datagram(now, addr(2), &probe), None);
    let t = l.poll_transmit().expect("a reply");
    assert_eq!(t.bytes, hexb("01840001000000dc05"));
    assert_eq!(t.dest, addr(2));
}

/// A ping from an address that is not the link's peer is dropped (knet's rx ACL).
#[test]
fn ping_from_foreign_address_dropped() {
    let now = Instant::now();
    let mut l = layer(1, LinkPolicy::Passive, now);
    let ping = hexb("018100020000009203000000000000cde8880500000000000001");
    let foreign: SocketAddr = "192.0.2.99:5405".parse().unwrap();
    assert_eq!(l.handle_datagram(now, foreign, &ping), None);
    assert!(l.poll_transmit().is_none());
    assert_eq!(l.stats().rx_wrong_link, 1);
}

/// libknet: a link comes up on the pong after `pong_count` counted ones (pong_count 2: the
/// third), and data from a host without an up link is discarded.
#[test]
fn link_up_after_pong_count_and_data_before_is_dropped() {
    let mut now = Instant::now();
    let mut l = layer(1, LinkPolicy::Passive, now);
    let data = hexb(
        "010000020000000100000101000070c0030200020000000000000002000000020000000500000000000000",
    );
    assert_eq!(l.handle_datagram(now, addr(2), &data), None);
    assert_eq!(l.stats().rx_unreachable, 1);
    bring_up(&mut l, &mut now, 2);
    assert!(!l.reachable(2));
    bring_up(&mut l, &mut now, 1);
    assert!(l.reachable(2));
    assert!(l.reachable(3));
    // Capture frame 43: host 2's merge_detect broadcast (seq 1, bcast 1, frag_num 1).
    let d = l.handle_datagram(now, addr(2), &data).expect("delivered");
    assert_eq!(d.src_host, 2);
    assert!(d.bcast);
    assert_eq!(d.payload, data[14..]);
    // The same seq again (an active-mode copy or a retransmit by the network) is a duplicate.
    assert_eq!(l.handle_datagram(now, addr(2), &data), None);
    assert_eq!(l.stats().rx_duplicate, 1);
}

/// Pongs stop: the link goes down after pong_timeout × backoff (10 at first, one less each
/// second, never below 1) plus twice the latency.
#[test]
fn link_down_on_pong_timeout_with_backoff() {
    let mut now = Instant::now();
    let mut l = layer(1, LinkPolicy::Passive, now);
    bring_up(&mut l, &mut now, 3);
    assert!(l.reachable(2));
    // 12 s of silence: the backoff shrinks to 1, the timeout is 1825 ms.
    let start = now;
    let mut down_at = None;
    for _ in 0..2000 {
        now += Duration::from_millis(10);
        l.handle_timeout(now);
        while l.poll_transmit().is_some() {}
        if !l.reachable(2) {
            down_at = Some(now - start);
            break;
        }
    }
    let d = down_at.expect("link went down");
    // Backoff reaches 1 only after ~9 s; the last pong is ~0.9 s before `start`.
    assert!(d > Duration::from_secs(5), "{d:?}");
    assert!(d < Duration::from_secs(12), "{d:?}");
    let s = &l.link_status()[0];
    assert!(!s.connected);
    assert_eq!(s.down_count, 1);
}

/// Two of our layers: a 4000-byte message is cut into 1446-byte fragments (1460-byte frames
/// as in the knet steady-state captures, §5.4), and two messages reassemble while their
/// fragments arrive interleaved and out of order.
#[test]
fn fragments_and_reassembles_interleaved() {
    let mut now = Instant::now();
    let mut a = layer(1, LinkPolicy::Passive, now);
    let mut b = layer(2, LinkPolicy::Passive, now);
    bring_up(&mut a, &mut now, 3);
    bring_up(&mut b, &mut now, 3);
    let m1: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
    let m2: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(a.send(now, &m1, Some(2)), 1);
    assert_eq!(a.send(now, &m2, Some(2)), 1);
    let frames: Vec<Transmit> = std::iter::from_fn(|| a.poll_transmit()).collect();
    let lens: Vec<usize> = frames.iter().map(|t| t.bytes.len()).collect();
    assert_eq!(
        lens,
        vec![
            1460,
            1460,
            4000 - 2 * 1446 + 14,
            1460,
            1460,
            3000 - 2 * 1446 + 14
        ]
    );
    assert_eq!(frames[2].bytes[11..13], [3, 3]);
    let order = [5, 0, 3, 2, 4, 1];
    let mut got = Vec::new();
    for i in order {
        if let Some(d) = b.handle_datagram(now, addr(1), &frames[i].bytes) {
            got.push(d.payload);
        }
    }
    assert_eq!(got, vec![m2.clone(), m1.clone()]);
    // A late duplicate fragment of a finished message is not delivered again.
    assert_eq!(b.handle_datagram(now, addr(1), &frames[0].bytes), None);
}

/// A sender that restarts pings with seq 0: the window is wiped, so its new seq 1 is
/// accepted although seq 1 was delivered before.
#[test]
fn restarted_sender_seq_zero_ping_resets_window() {
    let mut now = Instant::now();
    let mut l = layer(1, LinkPolicy::Passive, now);
    bring_up(&mut l, &mut now, 3);
    let data = hexb(
        "010000020000000100000101000070c0030200020000000000000002000000020000000500000000000000",
    );
    assert!(l.handle_datagram(now, addr(2), &data).is_some());
    // A timed ping carrying seq 1 (host 2's current tx seq).
    let p1 = ping_frame(2, false, 0, [0; 16], 1, 1);
    l.handle_datagram(now, addr(2), &p1);
    assert!(l.handle_datagram(now, addr(2), &data).is_none());
    // Host 2 restarts: its pings carry seq 0.
    let p0 = ping_frame(2, false, 0, [0; 16], 0, 1);
    l.handle_datagram(now, addr(2), &p0);
    assert_eq!(l.stats().rx_window_resets, 1);
    assert!(l.handle_datagram(now, addr(2), &data).is_some());
}

/// Compressed data is refused and counted.
#[test]
fn compressed_data_refused() {
    let mut now = Instant::now();
    let mut l = layer(1, LinkPolicy::Passive, now);
    bring_up(&mut l, &mut now, 3);
    let mut data = hexb(
        "010000020000000100000101000070c0030200020000000000000002000000020000000500000000000000",
    );
    data[8] = 1;
    assert_eq!(l.handle_datagram(now, addr(2), &data), None);
    assert_eq!(l.stats().rx_compressed, 1);
}

/// The seq window follows knet: old seqs inside 4096 are remembered, far jumps reset.
#[test]
fn seq_window_rules() {
    use super::seqwin::{Map, SeqWindow};
    let mut w = SeqWindow::default();
    assert!(w.lookup(10, Map::Delivered, false));
    w.set(10, Map::Delivered);
    assert!(!w.lookup(10, Map::Delivered, false));
    assert!(w.lookup(11, Map::Delivered, false));
    w.set(11, Map::Delivered);
    assert!(w.lookup(9, Map::Delivered, false));
    assert!(!w.lookup(10, Map::Delivered, false));
    // Wrap: 65535 → 1.
    let mut w = SeqWindow::default();
    assert!(w.lookup(65535, Map::Delivered, false));
    w.set(65535, Map::Delivered);
    assert!(w.lookup(1, Map::Delivered, false));
    w.set(1, Map::Delivered);
    assert!(!w.lookup(65535, Map::Delivered, false));
    assert!(!w.lookup(1, Map::Delivered, false));
}

/// Link policies over two links per host: passive uses the highest priority, active all,
/// rr alternates.
#[test]
fn link_policies() {
    for (policy, want) in [
        (LinkPolicy::Passive, vec![1u8, 1, 1, 1]),
        (LinkPolicy::Active, vec![0, 1, 0, 1, 0, 1, 0, 1]),
        (LinkPolicy::Rr, vec![0, 1, 0, 1]),
    ] {
        let mut now = Instant::now();
        let a1: SocketAddr = "198.51.100.12:5406".parse().unwrap();
        let mut p1 = params();
        p1.priority = 5;
        let cfg = KnetConfig {
            host_id: 1,
            policy,
            hosts: vec![(2, vec![(0, addr(2), params()), (1, a1, p1)])],
            data_mtu: 1446,
        };
        let mut l = KnetLayer::new(cfg, KnetSeal::clear(), now);
        for _ in 0..3 {
            l.handle_timeout(now);
            let pings: Vec<Transmit> = std::iter::from_fn(|| l.poll_transmit()).collect();
            now += Duration::from_millis(1);
            for t in pings {
                let mut p = t.bytes.clone();
                p[1] = TYPE_PONG;
                p[3] = 2;
                l.handle_datagram(now, t.dest, &p);
            }
            now += Duration::from_secs(1);
        }
        for _ in 0..4 {
            l.send(now, b"x", None);
        }
        let links: Vec<u8> = std::iter::from_fn(|| l.poll_transmit())
            .filter(|t| t.bytes[1] == TYPE_DATA)
            .map(|t| t.link)
            .collect();
        assert_eq!(links, want, "{policy:?}");
    }
}

/// Datagrams of `wire/tests/fixtures/knet/<name>.txt` (captures of corosync 3.1.7 with knet
/// crypto): (source IP, bytes).
pub(super) fn fixture(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wire/tests/fixtures/knet");
    let text = std::fs::read_to_string(dir.join(format!("{name}.txt"))).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let _frame = w.next()?;
            let ip = w.next()?.to_string();
            Some((ip, hex::decode(w.next()?).ok()?))
        })
        .collect()
}

pub(super) fn fixture_key(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wire/tests/fixtures/knet");
    hex::decode(
        std::fs::read_to_string(dir.join(format!("{name}.authkey.hex")))
            .unwrap()
            .trim(),
    )
    .unwrap()
}

fn crypto_layer(me: u16, key: &[u8], now: Instant) -> KnetLayer {
    use totem_wire::envelope::knet::{KnetCrypto, KnetCryptoConfig};
    let cfg = KnetCryptoConfig::from_names("nss", "aes256", "sha256").unwrap();
    let seal = KnetSeal::crypto(KnetCrypto::new(cfg, key).unwrap());
    sealed_layer(me, LinkPolicy::Passive, seal, now)
}

/// A real encrypted ping (nss/aes256/sha256 capture) opens with the cluster key and is
/// answered with a sealed pong that opens back to the ping with type 0x82 and our host id;
/// with a wrong key the same datagram is a counted seal error and nothing is sent, so the
/// link cannot come up.
#[test]
fn crypto_ping_from_capture_and_wrong_key() {
    use totem_wire::envelope::knet::{KnetCrypto, KnetCryptoConfig};
    let name = "nss-aes256-sha256";
    let key = fixture_key(name);
    let cfg = KnetCryptoConfig::from_names("nss", "aes256", "sha256").unwrap();
    let opener = KnetCrypto::new(cfg, &key).unwrap();
    let (ip, dgram, ping) = fixture(name)
        .into_iter()
        .find_map(|(ip, d)| {
            let f = opener.open(&d).ok()?.frame;
            (f.get(1) == Some(&TYPE_PING)).then_some((ip, d, f))
        })
        .expect("an encrypted ping in the fixture");
    let src_host = u16::from_be_bytes([ping[2], ping[3]]);
    let me = if src_host == 1 { 2 } else { 1 };
    let src: SocketAddr = format!("{ip}:5405").parse().unwrap();
    let now = Instant::now();
    let mut l = crypto_layer(me, &key, now);
    // libknet's data MTU with aes256/sha256 (salt 16, HMAC 32, CBC padding): below clear's.
    assert!(l.data_mtu() < data_mtu(1500, false));
    assert_eq!(l.handle_datagram(now, src, &dgram), None);
    let t = l.poll_transmit().expect("a pong");
    let pong = opener
        .open(&t.bytes)
        .expect("our pong opens with the key")
        .frame;
    let mut want = ping.clone();
    want[1] = TYPE_PONG;
    want[2..4].copy_from_slice(&me.to_be_bytes());
    assert_eq!(pong, want);
    assert_eq!(l.stats().rx_open_errors, 0);
    // Wrong key: one flipped byte.
    let mut bad = key.clone();
    bad[0] ^= 1;
    let mut w = crypto_layer(me, &bad, now);
    assert_eq!(w.handle_datagram(now, src, &dgram), None);
    assert!(w.poll_transmit().is_none());
    assert_eq!(w.stats().rx_open_errors, 1);
    // Clear text on a crypto link is refused too.
    let clear = ping_frame(src_host, false, 0, [0; 16], 0, 1);
    assert_eq!(w.handle_datagram(now, src, &clear), None);
    assert_eq!(w.stats().rx_open_errors, 2);
    assert!(!w.reachable(src_host));
}

/// Two of our layers with the same key talk; fragments of a sealed message fit the path
/// MTU and reassemble.
#[test]
fn crypto_round_trip_fragmented() {
    let key: Vec<u8> = (0..128u32).map(|i| (i * 3) as u8).collect();
    let mut now = Instant::now();
    let mut a = crypto_layer(1, &key, now);
    let mut b = crypto_layer(2, &key, now);
    for _ in 0..4 {
        a.handle_timeout(now);
        b.handle_timeout(now);
        for _ in 0..2 {
            let from_a: Vec<Transmit> = std::iter::from_fn(|| a.poll_transmit()).collect();
            let from_b: Vec<Transmit> = std::iter::from_fn(|| b.poll_transmit()).collect();
            for t in from_a.into_iter().filter(|t| t.dest == addr(2)) {
                b.handle_datagram(now, addr(1), &t.bytes);
            }
            for t in from_b.into_iter().filter(|t| t.dest == addr(1)) {
                a.handle_datagram(now, addr(2), &t.bytes);
            }
        }
        now += params().ping_interval;
    }
    assert!(a.reachable(2) && b.reachable(1));
    let m: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(a.send(now, &m, Some(2)), 1);
    let mut got = None;
    for t in std::iter::from_fn(|| a.poll_transmit()) {
        assert!(
            t.bytes.len() <= 1472,
            "sealed fragment {} > 1472",
            t.bytes.len()
        );
        if let Some(d) = b.handle_datagram(now, addr(1), &t.bytes) {
            got = Some(d.payload);
        }
    }
    assert_eq!(got, Some(m));
    assert_eq!(b.stats().rx_open_errors, 0);
}

/// A flood of garbage is counted exactly while its log lines are rate limited: one line in
/// the first second, the rest suppressed (and counted), the limiter's timer in poll_timeout.
#[test]
fn refusal_flood_counted_exactly_and_logged_once_per_second() {
    let t0 = Instant::now();
    let mut l = layer(1, LinkPolicy::Passive, t0);
    for i in 0..500u64 {
        let now = t0 + Duration::from_micros(i * 100);
        assert_eq!(l.handle_datagram(now, addr(2), &[0xff, 0x00, 0x01]), None);
    }
    assert_eq!(l.stats().rx_malformed, 500);
    assert_eq!(l.stats().log_suppressed, 499);
    assert!(
        l.poll_timeout()
            .is_some_and(|t| t <= t0 + Duration::from_secs(1)),
        "the summary of the suppressed lines is due at the end of the window"
    );
}
