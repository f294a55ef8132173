//! The attacks seen against live rings of our nodes, replayed against three of our
//! totem-node processes on loopback (127.79.0.1-3, udpu, no crypto) in each generation:
//! the forged join with ring seq 2^64 − 5 followed by kill -9 and restart of node 3, the
//! absurd token under CPG load, and a flood of mutated real datagrams (bundled captures of
//! the same generation) at ~5,000/s under CPG load. Every attack datagram is sent from a
//! listed address (node 2's). Afterwards: every node alive, one ring of all three within
//! `RING_BOUND`, every sender's messages delivered once by every listener in one order, and
//! the refusals counted in `totem-node status`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use totem::config::Config;
use totem::driver::envelope::Envelope;
use totem::member::Member;
use totem::node_config::{self, Overrides};
use totem::sim::adversary;
use totem::sim::rng::Rng;
use totem_tests::load::assert_one_order;
use totem_tests::ring::{Bins, Ring, Timers};
use totem_wire::ip_address::TotemIpAddress;
use totem_wire::{Generation, RingId, SrpMessage};

#[path = "common/loopback.rs"]
mod loopback;
use loopback::{phase, Procs};

/// One ring of all nodes after each attack, within this (token 1000 ms: a membership
/// change takes token + consensus ≈ 2.2 s; a poisoned gather restarts after 4 consensus
/// periods).
const RING_BOUND: Duration = Duration::from_secs(20);

fn addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 79, 0, i as u8))
}

struct Live {
    ring: Ring,
    procs: Procs,
    pids: BTreeMap<usize, u32>,
    gen: Generation,
    port: u16,
    envelope: Envelope,
    attacker: UdpSocket,
}

/// Writes a 128-byte authkey (mode 0600, as the config checks want it).
fn write_key(path: &Path, seed: u64) {
    use std::os::unix::fs::PermissionsExt;
    let mut rng = Rng::new(seed);
    let key: Vec<u8> = (0..128).map(|_| rng.next_u64() as u8).collect();
    std::fs::write(path, key).expect("write authkey");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// Turns the ring's corosync.conf into a sealed one (G1 secauth, G2 aes256/sha1) with
/// `key`.
fn seal_conf(conf: &str, gen: Generation, key: &Path) -> String {
    let settings = match gen {
        Generation::G1 => format!("    secauth: on\n    keyfile: {}\n", key.display()),
        _ => format!(
            "    crypto_cipher: aes256\n    crypto_hash: sha1\n    keyfile: {}\n",
            key.display()
        ),
    };
    let kept: String = conf
        .lines()
        .filter(|l| {
            !l.contains("crypto_cipher") && !l.contains("crypto_hash") && !l.contains("secauth")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    kept.replacen("totem {\n", &format!("totem {{\n{settings}"), 1)
}

impl Live {
    fn start(gen: Generation, port: u16, dir: &Path) -> Live {
        Live::start_with(gen, port, dir, false)
    }

    /// `sealed`: the ring runs G1 secauth or G2 aes256/sha1 with one key, and the attacker
    /// seals with another.
    fn start_with(gen: Generation, port: u16, dir: &Path, sealed: bool) -> Live {
        let bins = Bins {
            node: env!("CARGO_BIN_EXE_lab-totem-node").into(),
            load: env!("CARGO_BIN_EXE_totem-cpgload").into(),
        };
        let members: Vec<(usize, IpAddr)> = (1..=3).map(|i| (i, addr(i))).collect();
        let ring = Ring::new(bins, &members, Some(port), Timers::default(), dir);
        if gen == Generation::G1 {
            // corosync 1.x has no crypto_cipher / crypto_hash (it has secauth).
            let path = dir.join("corosync.conf");
            let conf = std::fs::read_to_string(&path).expect("conf");
            let conf: String = conf
                .lines()
                .filter(|l| !l.contains("crypto_cipher") && !l.contains("crypto_hash"))
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(
                &path,
                conf.replacen("totem {\n", "totem {\n    secauth: off\n", 1),
            )
            .expect("write conf");
        }
        let mut attacker_conf = dir.join("corosync.conf");
        if sealed {
            let path = dir.join("corosync.conf");
            let conf = std::fs::read_to_string(&path).expect("conf");
            write_key(&dir.join("authkey"), 1);
            write_key(&dir.join("attacker.authkey"), 2);
            std::fs::write(&path, seal_conf(&conf, gen, &dir.join("authkey"))).expect("conf");
            attacker_conf = dir.join("attacker.conf");
            std::fs::write(
                &attacker_conf,
                seal_conf(&conf, gen, &dir.join("attacker.authkey")),
            )
            .expect("attacker conf");
        }
        let conf = node_config::load(
            &attacker_conf,
            Overrides {
                generation: Some(gen),
                nodeid: Some(2),
            },
        )
        .expect("the attacker's corosync.conf");
        let envelope = Envelope::from_setting(&conf.crypto).expect("envelope");
        // The attacker sends from node 2's address (another port: the nodes check addresses).
        let attacker = UdpSocket::bind(SocketAddr::new(addr(2), 0)).expect("attacker socket");
        let mut l = Live {
            ring,
            procs: Procs::default(),
            pids: BTreeMap::new(),
            gen,
            port,
            envelope,
            attacker,
        };
        for i in 1..=3 {
            l.spawn(i);
        }
        l
    }

    fn spawn(&mut self, i: usize) {
        let (mut argv, log) = self.ring.node_command(i);
        argv.push("--generation".into());
        argv.push(format!("{}", self.gen).to_ascii_lowercase());
        let pid = self.procs.spawn(i, &argv, &log);
        self.pids.insert(i, pid);
    }

    fn alive(&self) -> Vec<usize> {
        self.pids
            .iter()
            .filter(|(_, pid)| Path::new(&format!("/proc/{pid}")).exists())
            .map(|(i, _)| *i)
            .collect()
    }

    fn status_json(&self, i: usize) -> serde_json::Value {
        let out = std::process::Command::new(&self.ring.bins.node)
            .args(["status", "--json", "--control"])
            .arg(self.ring.control(i))
            .output()
            .expect("totem-node status");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
        v[0].clone()
    }

    /// Engine counter `key` of node `i`.
    fn counter(&self, i: usize, key: &str) -> u64 {
        let s = self.status_json(i);
        s["engine"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|kv| kv[0].as_str() == Some(key))
                    .and_then(|kv| kv[1].as_u64())
            })
            .unwrap_or_else(|| panic!("node {i}: no engine counter {key} in {s}"))
    }

    /// The ring node `i` is in, as the wire names it.
    fn ring_id(&self, i: usize) -> RingId {
        let s = self.status_json(i);
        let seq = s["ring_seq"].as_u64().expect("ring_seq");
        let rep = s["ring_rep"].as_str().expect("ring_rep");
        let rep_member = match self.gen {
            Generation::G3 => Member::own(self.gen, rep.parse().expect("rep nodeid"), None),
            _ => {
                let ip: Ipv4Addr = rep.parse().expect("rep address");
                let nodeid = u32::from(ip.octets()[3]);
                Member::own(self.gen, nodeid, Some(TotemIpAddress::v4(nodeid, ip)))
            }
        };
        rep_member.ring_id(seq)
    }

    fn member(&self, i: usize) -> Member {
        let a = match addr(i) {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(_) => unreachable!(),
        };
        let c = Config::with_address(self.gen, TotemIpAddress::v4(i as u32, a));
        Member::own(self.gen, i as u32, c.address)
    }

    /// Sends one bare SRP message to every node, sealed as the ring seals.
    fn send_all(&self, srp: &[u8]) {
        let Ok(wire) = self.envelope.seal(srp) else {
            return;
        };
        for i in 1..=3 {
            let _ = self
                .attacker
                .send_to(&wire, SocketAddr::new(addr(i), self.port));
        }
    }

    /// Driver counter `key` of node `i`.
    fn driver(&self, i: usize, key: &str) -> u64 {
        let s = self.status_json(i);
        s["driver"][key]
            .as_u64()
            .unwrap_or_else(|| panic!("node {i}: no driver counter {key} in {s}"))
    }

    fn wait_ring(&self, what: &str) {
        let t = Instant::now();
        self.ring
            .wait_ring(&[1, 2, 3], RING_BOUND)
            .unwrap_or_else(|e| panic!("{}: after {what}: {e}", self.gen));
        eprintln!(
            "[{}] one ring of 1-3 {:?} after {what}",
            self.gen,
            t.elapsed()
        );
    }

    fn kill9(&mut self, i: usize) {
        if let Some(pid) = self.pids.remove(&i) {
            self.procs.kill9(pid);
        }
    }
}

/// Bare SRP messages of a bundled capture of `gen`'s steady CPG traffic.
fn capture_messages(gen: Generation) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../captures");
    let file: PathBuf = match gen {
        Generation::G1 => root.join("real/1.4.10-udpu-02-steady-cpg.pcapng"),
        Generation::G2 => root.join("real/2.4.6-udpu-02-steady-cpg.pcapng"),
        Generation::G3 => root.join("g3/3.1.7-udpu-02-steady-cpg.pcapng"),
    };
    let filter = totem_captures::PortFilter::new(vec![5405, 5404]);
    let (datagrams, _) = totem_captures::read_udp(&file, &filter).expect("capture");
    let story = totem_captures::story::Story::from_datagrams(&datagrams, &Default::default());
    let msgs: Vec<Vec<u8>> = story.msgs.iter().map(|m| m.srp.clone()).collect();
    assert!(
        msgs.len() > 1_000,
        "{}: {} messages",
        file.display(),
        msgs.len()
    );
    msgs
}

/// Whether `bytes` is an mcast, token or commit token of a ring at or after `ring` (the
/// live ring's next step: content forgery, which only authentication stops; see
/// `totem::sim::adversary`).
fn is_live_step(bytes: &[u8], gen: Generation, ring: &RingId) -> bool {
    let live = |r: &RingId| r.rep == ring.rep && r.seq + 4 >= ring.seq;
    match SrpMessage::parse(bytes, gen) {
        Ok(d) => match d.message {
            SrpMessage::Mcast(m) => live(&m.ring_id),
            SrpMessage::OrfToken(t) => live(&t.ring_id),
            SrpMessage::CommitToken(c) => live(&c.ring_id),
            _ => false,
        },
        Err(_) => false,
    }
}

fn run_generation(gen: Generation, port: u16, dir: &Path) {
    let t0 = Instant::now();
    let mut l = Live::start(gen, port, dir);
    l.wait_ring("start");

    // 1. The forged join: ring seq 2^64 - 5 from node 2.
    let members: Vec<Member> = (1..=3).map(|i| l.member(i)).collect();
    let join = adversary::ring_seq_join(gen, members[1], &members, u64::MAX - 4);
    l.send_all(&join);
    std::thread::sleep(Duration::from_secs(1));
    for i in 1..=3 {
        let seq = l.ring_id(i).seq;
        assert!(seq < 1 << 32, "{gen}: node {i} adopted ring seq {seq:#x}");
    }
    let refused: u64 = [1, 3]
        .iter()
        .map(|&i| l.counter(i, "refused_ring_seq_jump"))
        .sum();
    assert!(
        refused >= 2,
        "{gen}: nodes 1 and 3 refused the join ({refused})"
    );
    l.kill9(3);
    let t = Instant::now();
    l.ring
        .wait_ring(&[1, 2], RING_BOUND)
        .unwrap_or_else(|e| panic!("{gen}: nodes 1 and 2 after kill -9 of node 3: {e}"));
    eprintln!(
        "[{gen}] ring of 1-2 {:?} after kill -9 of node 3",
        t.elapsed()
    );
    l.spawn(3);
    l.wait_ring("restart of node 3");

    // 2. The absurd token, five times, under load from nodes 1 and 3.
    let nodes = [1usize, 2, 3];
    let mut procs = std::mem::take(&mut l.procs);
    let r = phase(
        &mut procs,
        &l.ring,
        "tok",
        &nodes,
        &[1, 3],
        600,
        &nodes,
        |_| {
            let mut rng = Rng::new(7);
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(400));
                let ring = l.ring_id(1);
                l.send_all(&adversary::absurd_token(&mut rng, gen, 2, ring));
            }
        },
    );
    l.procs = procs;
    assert_one_order(&format!("{gen} absurd token"), &r, 1200);
    let refused: u64 = [1, 3]
        .iter()
        .map(|&i| {
            l.counter(i, "refused_token_seq_jump") + l.counter(i, "refused_not_from_predecessor")
        })
        .sum();
    assert!(
        refused >= 5,
        "{gen}: the forged tokens were refused ({refused})"
    );
    l.wait_ring("the absurd tokens");

    // 3. 15,000 mutated datagrams of a real capture at ~5,000/s, under load.
    let base = capture_messages(gen);
    let malformed_before: u64 = nodes.iter().map(|&i| l.counter(i, "malformed")).sum();
    let rejected_before: u64 = nodes.iter().map(|&i| l.counter(i, "rejected")).sum();
    let mut withheld = 0;
    let mut procs = std::mem::take(&mut l.procs);
    let r = phase(
        &mut procs,
        &l.ring,
        "flood",
        &nodes,
        &[1, 2],
        1000,
        &nodes,
        |_| {
            let mut rng = Rng::new(0xF100D);
            let start = Instant::now();
            let mut ring = l.ring_id(1);
            for k in 0..15_000u64 {
                if k % 500 == 0 {
                    ring = l.ring_id(1);
                    // ~5,000 a second.
                    let due = Duration::from_micros(k * 200);
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                let orig = &base[rng.below(base.len() as u64) as usize];
                let m = adversary::mutate(&mut rng, orig);
                if is_live_step(&m, gen, &ring) {
                    withheld += 1;
                    continue;
                }
                l.send_all(&m);
            }
        },
    );
    l.procs = procs;
    assert_eq!(
        l.alive(),
        vec![1, 2, 3],
        "{gen}: every node alive after the flood"
    );
    assert_one_order(&format!("{gen} mutation flood"), &r, 2000);
    l.wait_ring("the mutation flood");
    let malformed: u64 = nodes.iter().map(|&i| l.counter(i, "malformed")).sum();
    let rejected: u64 = nodes.iter().map(|&i| l.counter(i, "rejected")).sum();
    eprintln!(
        "[{gen}] flood: malformed +{} refused +{} withheld {withheld} ({:?} in all)",
        malformed - malformed_before,
        rejected - rejected_before,
        t0.elapsed()
    );
    assert!(
        malformed + rejected > malformed_before + rejected_before + 1_000,
        "{gen}: the nodes counted the flood"
    );
}

#[test]
fn hostile_datagrams_cannot_stall_split_or_lose_g3() {
    let tmp = tempfile::tempdir().unwrap();
    run_generation(Generation::G3, 5951, tmp.path());
}

#[test]
fn hostile_datagrams_cannot_stall_split_or_lose_g2() {
    let tmp = tempfile::tempdir().unwrap();
    run_generation(Generation::G2, 5953, tmp.path());
}

#[test]
fn hostile_datagrams_cannot_stall_split_or_lose_g1() {
    let tmp = tempfile::tempdir().unwrap();
    run_generation(Generation::G1, 5955, tmp.path());
}

/// The same attacks against a sealed ring (G1 secauth, G2 aes256/sha1), the attacker sealing
/// with a key the ring does not use: no effect at all. The ring id never changes, the
/// engines refuse nothing (nothing reaches them), every datagram is counted as an envelope
/// error, and the CPG load runs through untouched.
fn sealed_generation(gen: Generation, port: u16, dir: &Path) {
    let mut l = Live::start_with(gen, port, dir, true);
    l.wait_ring("start");
    let nodes = [1usize, 2, 3];
    let ring = l.ring_id(1);
    let env_before: u64 = nodes
        .iter()
        .map(|&i| l.driver(i, "rx_envelope_errors"))
        .sum();
    let members: Vec<Member> = (1..=3).map(|i| l.member(i)).collect();
    let base = capture_messages(gen);
    let mut sent = 0u64;
    let mut procs = std::mem::take(&mut l.procs);
    let r = phase(
        &mut procs,
        &l.ring,
        "sealed",
        &nodes,
        &[1, 3],
        800,
        &nodes,
        |_| {
            let mut rng = Rng::new(0x5EA1);
            l.send_all(&adversary::ring_seq_join(
                gen,
                members[1],
                &members,
                u64::MAX - 4,
            ));
            for _ in 0..5 {
                l.send_all(&adversary::absurd_token(&mut rng, gen, 2, ring));
            }
            sent += 6;
            let start = Instant::now();
            for k in 0..10_000u64 {
                if k % 500 == 0 {
                    let due = Duration::from_micros(k * 200);
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                let orig = &base[rng.below(base.len() as u64) as usize];
                l.send_all(&adversary::mutate(&mut rng, orig));
                sent += 1;
            }
        },
    );
    l.procs = procs;
    assert_one_order(&format!("{gen} sealed ring under attack"), &r, 1600);
    for i in nodes {
        assert_eq!(l.ring_id(i), ring, "{gen}: node {i} changed ring");
        let refused: u64 = totem::engine::Refusal::ALL
            .iter()
            .map(|r| l.counter(i, &format!("refused_{r}")))
            .sum();
        assert_eq!(
            refused, 0,
            "{gen}: forged datagrams reached node {i}'s engine"
        );
    }
    let env: u64 = nodes
        .iter()
        .map(|&i| l.driver(i, "rx_envelope_errors"))
        .sum();
    assert!(
        env - env_before >= sent * 3 * 9 / 10,
        "{gen}: {} envelope errors for {} datagrams to 3 nodes",
        env - env_before,
        sent
    );
    eprintln!(
        "[{gen} sealed] {sent} datagrams x 3 nodes, {} envelope errors, ring {ring} unchanged",
        env - env_before
    );
}

#[test]
fn sealed_g2_ring_ignores_the_attacker() {
    let tmp = tempfile::tempdir().unwrap();
    sealed_generation(Generation::G2, 5957, tmp.path());
}

#[test]
fn sealed_g1_ring_ignores_the_attacker() {
    let tmp = tempfile::tempdir().unwrap();
    sealed_generation(Generation::G1, 5959, tmp.path());
}
