//! Four of our totem-node processes (G3 udpu) with the secure layer (`keygen { enable: yes
//! }`: sealed datagrams, TGDH group keys, rekey every second and every 300 datagrams) on
//! 127.79.0.1-4, no namespaces: two senders' messages arrive in one total order on all
//! four across several rekeys with no switch rejections; kill -9 of node 4 during load and
//! its restart each give a fresh group key on the new ring and the load stays complete; a
//! fifth node with a wrong authkey cannot join (its datagrams fail authentication, the ring
//! and its id stay as they were); and a `tcpdump` of the ring's port shows that no datagram
//! on the wire is a plain Totem packet nor carries the load's plaintext.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use totem_tests::ring::{Bins, Ring, Timers};
use totem_tests::wait;
use totem_wire::framing::{classify, Framing};
use totem_wire::{Generation, SrpMessage};

const PORT: u16 = 5941;

#[path = "common/loopback.rs"]
mod loopback;
use loopback::{phase, Procs};
use totem_tests::load::assert_one_order;

/// `totem-node status --json` of node `i`: the node's status object.
fn status(ring: &Ring, i: usize) -> Option<serde_json::Value> {
    ring.status_json(i)?.get(0).cloned()
}

/// What the test reads from one node's secure status.
#[derive(Debug, Clone, PartialEq)]
struct Sec {
    ring_seq: u64,
    /// Ring seq and epoch of the send key.
    key: Option<(u64, u64)>,
    fingerprint: String,
    activations: u64,
    refreshes: u64,
    switch_rejections: u64,
    auth_failed: u64,
    stale_epoch: u64,
    unknown_key: u64,
    replay: u64,
    members: Vec<u64>,
}

fn sec(ring: &Ring, i: usize) -> Sec {
    let s = status(ring, i).unwrap_or_else(|| panic!("node {i} does not answer status"));
    let x = &s["secure"];
    assert!(x.is_object(), "node {i}: secure layer off: {s}");
    let st = &x["stats"];
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("node {i}: {v} in {x}"));
    let mut members: Vec<u64> = s["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["nodeid"].as_u64().unwrap())
        .collect();
    members.sort_unstable();
    Sec {
        ring_seq: n(&s["ring_seq"]),
        key: x["active"]
            .as_object()
            .map(|a| (n(&a["seq"]), n(&a["epoch"]))),
        fingerprint: x["fingerprint"].as_str().unwrap().to_string(),
        activations: n(&st["activations"]),
        refreshes: n(&st["refreshes_started"]),
        switch_rejections: n(&st["switch_rejections"]),
        auth_failed: n(&st["auth_failed"]),
        stale_epoch: n(&st["stale_epoch"]),
        unknown_key: n(&st["unknown_key"]),
        replay: n(&st["replay"]),
        members,
    }
}

/// Waits until every node in `nodes` sends with a key of its current ring and all have the
/// same key fingerprint; returns their states.
fn wait_common_key(ring: &Ring, nodes: &[usize], timeout: Duration) -> Vec<Sec> {
    let got = wait::until(timeout, Duration::from_millis(100), || {
        let s: Vec<Sec> = nodes.iter().map(|&i| sec(ring, i)).collect();
        let ok = s.iter().all(|x| {
            x.key.is_some_and(|(seq, _)| seq == x.ring_seq) && x.fingerprint == s[0].fingerprint
        });
        ok.then_some(s)
    });
    got.unwrap_or_else(|| {
        let s: Vec<Sec> = nodes.iter().map(|&i| sec(ring, i)).collect();
        panic!("no common key of the current ring on {nodes:?} within {timeout:?}: {s:#?}")
    })
}

fn write_key(path: &Path) {
    let mut k = vec![0u8; 128];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut k))
        .expect("random authkey");
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(&k))
        .expect("write authkey");
    // totem-node refuses key files others can read (corosync-keygen writes 0400).
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod authkey");
}

/// A running tcpdump of the ring's port on lo, writing a pcap file.
struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    fn start(dir: &Path) -> Option<Capture> {
        let file = dir.join("ring.pcap");
        let log = std::fs::File::create(dir.join("tcpdump.log")).ok()?;
        let child = Command::new("tcpdump")
            .args(["-i", "lo", "-U", "-n", "-s", "0", "-w"])
            .arg(&file)
            .arg(format!("udp and port {PORT} and net 127.79.0.0/24"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .ok()?;
        // tcpdump says "listening on lo" once the capture runs.
        let ready = wait::until(Duration::from_secs(10), Duration::from_millis(50), || {
            std::fs::read_to_string(dir.join("tcpdump.log"))
                .ok()?
                .contains("listening on")
                .then_some(())
        });
        ready.map(|_| Capture { child, file })
    }

    /// Stops the capture (SIGINT flushes it) and returns the UDP payloads.
    fn stop(mut self) -> Vec<Vec<u8>> {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling the child we spawned and still own.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let done = wait::until(Duration::from_secs(10), Duration::from_millis(50), || {
            matches!(self.child.try_wait(), Ok(Some(_))).then_some(())
        });
        if done.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let bytes = std::fs::read(&self.file).expect("read capture");
        udp_payloads(&bytes)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// UDP payloads of the IPv4 frames of a classic pcap file (read here by hand, so that the
/// check does not lean on our own capture crate).
fn udp_payloads(b: &[u8]) -> Vec<Vec<u8>> {
    let magic = b.get(..4).expect("pcap header");
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("not a pcap file: {magic:02x?}"),
    };
    let u32_at = |at: usize| -> Option<u32> {
        let x: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(x)
        } else {
            u32::from_be_bytes(x)
        })
    };
    let linktype = u32_at(20).expect("linktype");
    let link_len = match linktype {
        1 => 14,   // Ethernet (lo on Linux)
        0 => 4,    // BSD loopback
        113 => 16, // Linux cooked
        276 => 20, // Linux cooked v2
        101 => 0,  // raw IP
        other => panic!("unexpected link type {other}"),
    };
    let mut out = Vec::new();
    let mut at = 24;
    while let Some(incl) = u32_at(at + 8) {
        let start = at + 16;
        let Some(frame) = b.get(start..start + incl as usize) else {
            break; // a record cut by the stop
        };
        at = start + incl as usize;
        let Some(ip) = frame.get(link_len..) else {
            continue;
        };
        if ip.first().map(|v| v >> 4) != Some(4) || ip.get(9) != Some(&17) {
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let Some(udp) = ip.get(ihl..) else { continue };
        let Some(len) = udp
            .get(4..6)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            continue;
        };
        if let Some(p) = udp.get(8..len) {
            out.push(p.to_vec());
        }
    }
    out
}

#[test]
fn secure_ring_on_loopback() {
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bins = Bins {
        node: env!("CARGO_BIN_EXE_lab-totem-node").into(),
        load: env!("CARGO_BIN_EXE_totem-cpgload").into(),
    };
    let listed = [1usize, 2, 3, 4, 5];
    let all = [1usize, 2, 3, 4];
    let addrs: Vec<(usize, IpAddr)> = listed
        .iter()
        .map(|&i| (i, IpAddr::V4(Ipv4Addr::new(127, 79, 0, i as u8))))
        .collect();
    let mut ring = Ring::new(bins, &addrs, Some(PORT), Timers::default(), dir);
    // Corosync crypto off (the secure layer refuses anything else), then our section.
    let conf = std::fs::read_to_string(dir.join("corosync.conf")).unwrap();
    let conf = conf
        .replace("    crypto_cipher: none\n", "")
        .replace("    crypto_hash: none\n", "");
    let keygen = |key: &Path| {
        format!(
            "{conf}\nkeygen {{\n    enable: yes\n    keyfile: {}\n    rekey_interval: 1000\n    rekey_packets: 300\n    retire_grace: 200\n}}\n",
            key.display()
        )
    };
    write_key(&dir.join("authkey"));
    write_key(&dir.join("wrong-authkey"));
    std::fs::write(dir.join("corosync.conf"), keygen(&dir.join("authkey"))).unwrap();
    std::fs::write(dir.join("wrong.conf"), keygen(&dir.join("wrong-authkey"))).unwrap();

    let capture = Capture::start(dir);
    if capture.is_none() {
        eprintln!("tcpdump did not start: the wire check falls back to the layer's counters");
    }

    let mut procs = Procs::default();
    let mut pids = std::collections::BTreeMap::new();
    for i in all {
        let (argv, log) = ring.node_command(i);
        pids.insert(i, procs.spawn(i, &argv, &log));
    }
    ring.wait_ring(&all, Duration::from_secs(30)).unwrap();
    let formed = wait_common_key(&ring, &all, Duration::from_secs(15));
    eprintln!("[{:?}] formed, first key {:?}", t0.elapsed(), formed[0].key);

    // 1. Load across several rekeys (every second, or 300 datagrams).
    let before: Vec<Sec> = all.iter().map(|&i| sec(&ring, i)).collect();
    let r = phase(&mut procs, &ring, "s1", &all, &[1, 3], 1000, &all, |_| {});
    assert_one_order("s1", &r, 2000);
    let after = wait_common_key(&ring, &all, Duration::from_secs(10));
    for (k, (b, a)) in before.iter().zip(&after).enumerate() {
        let node = all[k];
        assert_eq!(
            a.ring_seq, b.ring_seq,
            "node {node}: ring changed during s1"
        );
        let (ka, kb) = (a.key.unwrap(), b.key.unwrap());
        assert!(
            ka.1 >= kb.1 + 3,
            "node {node}: only {} -> {} key epochs during s1",
            kb.1,
            ka.1
        );
        assert!(
            a.activations >= b.activations + 3,
            "node {node}: {b:?} -> {a:?}"
        );
        assert_eq!(a.switch_rejections, 0, "node {node}: {a:?}");
        assert_eq!(a.auth_failed, 0, "node {node}: {a:?}");
        assert_eq!(a.replay, 0, "node {node}: {a:?}");
    }
    let refreshes: u64 = after.iter().map(|s| s.refreshes).sum();
    eprintln!(
        "[{:?}] s1: 2000 messages in one order; key epoch {} -> {}, {} refreshes started in total",
        t0.elapsed(),
        before[0].key.unwrap().1,
        after[0].key.unwrap().1,
        refreshes
    );

    // 2. kill -9 of node 4 during load: a new ring, a new key on it.
    let survivors = [1, 2, 3];
    let pid4 = pids[&4];
    let r = phase(
        &mut procs,
        &ring,
        "s2",
        &all,
        &[1, 2],
        800,
        &survivors,
        |p| {
            std::thread::sleep(Duration::from_secs(2));
            p.kill9(pid4);
        },
    );
    ring.wait_ring(&survivors, Duration::from_secs(30)).unwrap();
    assert_one_order("s2", &r, 1600);
    let down = wait_common_key(&ring, &survivors, Duration::from_secs(15));
    for (k, s) in down.iter().enumerate() {
        assert!(
            s.ring_seq > after[k].ring_seq,
            "node {}: {s:?}",
            survivors[k]
        );
        assert_eq!(s.key.unwrap().0, s.ring_seq, "node {}: {s:?}", survivors[k]);
        assert_eq!(s.switch_rejections, 0, "node {}: {s:?}", survivors[k]);
    }
    eprintln!(
        "[{:?}] s2: crash of node 4 survived, new ring {:x} with its own key",
        t0.elapsed(),
        down[0].ring_seq
    );

    // 3. Node 4 restarts: another ring, another key; load from it complete.
    let (argv, log) = ring.node_command(4);
    procs.spawn(4, &argv, &log);
    ring.wait_ring(&all, Duration::from_secs(30)).unwrap();
    let up = wait_common_key(&ring, &all, Duration::from_secs(15));
    assert!(up[0].ring_seq > down[0].ring_seq, "{up:?}");
    assert_ne!(up[0].fingerprint, down[0].fingerprint);
    let r = phase(&mut procs, &ring, "s3", &all, &[4, 2], 500, &all, |_| {});
    assert_one_order("s3", &r, 1000);
    let s3: Vec<Sec> = all.iter().map(|&i| sec(&ring, i)).collect();
    for (k, s) in s3.iter().enumerate() {
        assert_eq!(s.switch_rejections, 0, "node {}: {s:?}", all[k]);
        assert_eq!(s.auth_failed, 0, "node {}: {s:?}", all[k]);
    }
    eprintln!(
        "[{:?}] s3: node 4 rejoined on ring {:x}, 1000 messages in one order",
        t0.elapsed(),
        up[0].ring_seq
    );

    // 4. A node with the wrong authkey cannot join.
    let ring_before: Vec<Sec> = all.iter().map(|&i| sec(&ring, i)).collect();
    let argv = vec![
        ring.bins.node.display().to_string(),
        "-c".into(),
        dir.join("wrong.conf").display().to_string(),
        "--nodeid".into(),
        "5".into(),
        "--control".into(),
        ring.control(5).display().to_string(),
    ];
    procs.spawn(5, &argv, &dir.join("n5.wrong.log"));
    let rejected = wait::until(Duration::from_secs(15), Duration::from_millis(200), || {
        let s: Vec<Sec> = all.iter().map(|&i| sec(&ring, i)).collect();
        let n5 = status(&ring, 5)?;
        let n5_rejects = n5["secure"]["stats"]["auth_failed"].as_u64()?;
        (s.iter().all(|x| x.auth_failed > 0) && n5_rejects > 0).then_some((s, n5))
    });
    let (s, n5) = rejected.unwrap_or_else(|| {
        let s: Vec<Sec> = all.iter().map(|&i| sec(&ring, i)).collect();
        panic!("wrong-key node's datagrams not rejected: {s:#?}")
    });
    // Give it a few more join attempts, then the ring must be exactly as it was.
    std::thread::sleep(Duration::from_secs(3));
    let s_late: Vec<Sec> = all.iter().map(|&i| sec(&ring, i)).collect();
    for (k, x) in s_late.iter().enumerate() {
        let b = &ring_before[k];
        assert_eq!(x.members, vec![1, 2, 3, 4], "node {}: {x:?}", all[k]);
        assert_eq!(
            x.ring_seq, b.ring_seq,
            "node {}: ring changed: {x:?}",
            all[k]
        );
        assert_eq!(
            x.key.map(|k| k.0),
            Some(b.ring_seq),
            "node {}: {x:?}",
            all[k]
        );
        assert_eq!(x.switch_rejections, 0, "node {}: {x:?}", all[k]);
        assert!(x.auth_failed >= s[k].auth_failed);
    }
    let n5_members: Vec<u64> = n5["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["nodeid"].as_u64().unwrap())
        .collect();
    assert!(
        n5_members.iter().all(|&m| m == 5),
        "the wrong-key node joined: {n5_members:?}"
    );
    let failed: Vec<u64> = s_late.iter().map(|x| x.auth_failed).collect();
    eprintln!(
        "[{:?}] s4: wrong-key node 5 kept out; auth_failed on 1-4 {failed:?}, on node 5 {}",
        t0.elapsed(),
        n5["secure"]["stats"]["auth_failed"]
    );
    // Still a working ring: a short load after the intrusion attempt.
    let r = phase(&mut procs, &ring, "s5", &all, &[3], 200, &all, |_| {});
    assert_one_order("s5", &r, 200);

    // 5. Nothing on the wire is plain Totem.
    let totals: Vec<Sec> = all.iter().map(|&i| sec(&ring, i)).collect();
    match capture {
        Some(c) => {
            let payloads = c.stop();
            assert!(
                payloads.len() > 2000,
                "only {} datagrams captured",
                payloads.len()
            );
            let mut plain = 0;
            for p in &payloads {
                let f = classify(p);
                let srp = SrpMessage::parse(p, Generation::G3).is_ok();
                let leaks = p.windows(4).any(|w| w == b"TLD1");
                if matches!(f, Framing::Plain { .. }) || srp || leaks || !p.starts_with(b"TS\x01") {
                    plain += 1;
                    eprintln!(
                        "not sealed: {f:?} srp={srp} plaintext={leaks} {:02x?}",
                        &p[..p.len().min(16)]
                    );
                }
            }
            assert_eq!(
                plain,
                0,
                "{plain} of {} datagrams not sealed",
                payloads.len()
            );
            eprintln!(
                "[{:?}] wire: {} datagrams captured, every one a sealed envelope",
                t0.elapsed(),
                payloads.len()
            );
        }
        None => {
            // Without a capture: every datagram a node sent went through the layer.
            for x in &totals {
                assert_eq!(x.switch_rejections, 0);
            }
        }
    }
    let summary: Vec<String> = all
        .iter()
        .zip(&totals)
        .map(|(i, x)| {
            format!(
                "n{i}: key {:?} activations {} refreshes {} stale {} unknown {} auth_failed {} replay {} switch_rejections {}",
                x.key, x.activations, x.refreshes, x.stale_epoch, x.unknown_key, x.auth_failed, x.replay, x.switch_rejections
            )
        })
        .collect();
    eprintln!("[{:?}] done\n{}", t0.elapsed(), summary.join("\n"));
}
