//! Live: our totem-node in a ring of corosync 3.1.7 daemons over transport knet (libknet
//! 1.25), in network namespaces (needs root). (a) membership with all three on both sides,
//! corosync's sync completes and quorum counts our vote; (b) CPG messages both ways, 64 KiB
//! and 1 MiB included (knet fragments them); (c) kill -9 of a corosync node and its rejoin;
//! (d) two knet links per host: our link 0 goes down and back up without a membership
//! change on any node; (e) knet crypto, a wrong key, and a run-time key change
//! (`corosync-cfgtool -R`) under CPG load.

mod interop;

use std::time::{Duration, Instant};

use interop::cpg::run_cpg;
use interop::{field, Interop};
use totem_tests::corosync::Transport;
use totem_tests::wait;

/// Our node's knet links as (host, link, connected).
fn our_links(lab: &Interop, o: usize) -> Vec<(u64, u64, bool)> {
    lab.ours(o)
        .status()
        .and_then(|s| {
            s[0]["knet"]["links"].as_array().map(|a| {
                a.iter()
                    .map(|l| {
                        (
                            l["host"].as_u64().unwrap_or(0),
                            l["link"].as_u64().unwrap_or(99),
                            l["connected"].as_bool().unwrap_or(false),
                        )
                    })
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// `corosync-cfgtool -s` of corosync node `c`: the status word of `nodeid` on `link`.
fn cfgtool_link(lab: &Interop, c: usize, link: u32, nodeid: u32) -> Option<String> {
    let out = lab
        .corosync(c)
        .tool(&lab.lab, &["timeout", "5", "corosync-cfgtool", "-s"])?;
    let mut in_link = false;
    for l in out.lines() {
        if l.starts_with("LINK ID") {
            in_link = l.split_whitespace().nth(2) == Some(&link.to_string());
        } else if in_link && l.trim_start().starts_with("nodeid:") {
            let mut w = l.split_whitespace();
            w.next();
            let id = w.next()?.trim_end_matches(':');
            if id == nodeid.to_string() {
                return w.next().map(str::to_string);
            }
        }
    }
    None
}

/// Kills our node 3, restarts it with `key_file` (a key corosync nodes 1 and 2 do not use)
/// and checks it stays out: corosync keeps ring [1, 2] and its link to node 3 down, our node
/// counts the datagrams it cannot open and stays alone. Returns that count.
fn restart_ours_kept_out(lab: &mut Interop, key_file: std::path::PathBuf, what: &str) -> u64 {
    let pid = lab.ours(3).pid;
    lab.lab.signal(pid, "KILL");
    lab.ours.retain(|o| o.index != 3);
    // corosync sees node 3 go first.
    lab.wait_ring(&[1, 2], Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after kill: {e}"));
    // Our node refuses key files others can read (corosync-keygen writes 0400).
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod key");
    lab.our_key = Some(key_file);
    lab.start_ours(3);
    std::thread::sleep(Duration::from_secs(8));
    for c in [1, 2] {
        assert_eq!(
            lab.corosync(c).members(&lab.lab),
            vec![1, 2],
            "{}",
            lab.logs()
        );
        assert_eq!(
            cfgtool_link(lab, c, 0, 3).as_deref(),
            Some("disconnected"),
            "corosync {c} must not bring up our link with {what}{}",
            lab.logs()
        );
    }
    let st = lab.ours(3).status().expect("status");
    let k = &st[0]["knet"];
    let errors = k["stats"]["rx_open_errors"].as_u64().unwrap_or(0);
    assert!(
        errors > 0,
        "datagrams under {what} must be refused and counted: {k}"
    );
    assert_eq!(lab.ours(3).members(), vec![3], "alone with {what}");
    errors
}

fn ring_ids(lab: &Interop, corosync_at: &[usize], ours_at: &[usize]) -> Vec<String> {
    let mut v: Vec<String> = corosync_at
        .iter()
        .map(|&c| {
            field(&lab.quorumtool(c, &["-s"]).unwrap_or_default(), "Ring ID").unwrap_or_default()
        })
        .collect();
    v.extend(
        ours_at
            .iter()
            .map(|&o| lab.ours(o).ring_id().unwrap_or_default()),
    );
    v
}

#[test]
fn live_knet_membership_cpg_kill_rejoin() {
    let t0 = Instant::now();
    let Some(mut lab) = Interop::start_with("ka", &[1, 2], &[3], Transport::Knet, 1) else {
        return;
    };
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    lab.wait_sync(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    let formed = t0.elapsed();
    // (a) one ring id everywhere; 3 votes, quorate; corosync's knet sees our link up.
    let ids = ring_ids(&lab, &[1, 2], &[3]);
    assert!(
        ids.iter().all(|i| !i.is_empty() && *i == ids[0]),
        "ring ids {ids:?}{}",
        lab.logs()
    );
    for c in [1, 2] {
        let qs = lab.quorumtool(c, &["-s"]).unwrap_or_default();
        assert_eq!(field(&qs, "Total votes").as_deref(), Some("3"), "{qs}");
        assert_eq!(field(&qs, "Quorate").as_deref(), Some("Yes"), "{qs}");
        assert_eq!(
            cfgtool_link(&lab, c, 0, 3).as_deref(),
            Some("connected"),
            "corosync {c} cfgtool{}",
            lab.logs()
        );
    }
    let links = our_links(&lab, 3);
    assert_eq!(links, vec![(1, 0, true), (2, 0, true)], "{}", lab.logs());
    // `totem-node status` prints the links like corosync-cfgtool -s.
    let text = std::process::Command::new(interop::TOTEM_NODE)
        .args(["status", "--control"])
        .arg(lab.ours(3).control())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    assert!(text.contains("LINK ID 0 udp"), "{text}");
    for id in [1, 2] {
        assert!(
            text.lines().any(|l| l.contains("nodeid:")
                && l.contains(&format!(" {id}:"))
                && l.contains("\tconnected")),
            "status lacks connected node {id}:\n{text}"
        );
    }
    eprintln!("totem-node status:\n{text}");
    // (b) CPG both ways.
    let n = run_cpg(&mut lab, "ka", &[1, 2], &[3]);
    let st = lab.ours(3).status().expect("status");
    let k = &st[0]["knet"];
    eprintln!(
        "knet counters of our node after CPG: {}",
        serde_json::to_string(&k["stats"]).unwrap_or_default()
    );
    assert!(
        k["stats"]["rx_fragments"].as_u64().unwrap_or(0) > 0,
        "1 MiB CPG messages must arrive fragmented: {k}"
    );
    assert_eq!(k["stats"]["rx_open_errors"].as_u64(), Some(0));
    assert_eq!(k["stats"]["rx_malformed"].as_u64(), Some(0));
    assert_eq!(k["stats"]["rx_defrag_invalid"].as_u64(), Some(0));
    // (c) kill -9 corosync 2: the ring shrinks to 1 and 3, then 2 rejoins.
    let pid = lab.corosync(2).pid;
    lab.lab.signal(pid, "KILL");
    lab.corosync.retain(|c| c.index != 2);
    let t_kill = Instant::now();
    lab.wait_ring(&[1, 3], Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after kill: {e}"));
    let shrink = t_kill.elapsed();
    let t_re = Instant::now();
    lab.start_corosync(2);
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("after rejoin: {e}"));
    lab.wait_sync(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after rejoin: {e}"));
    let rejoin = t_re.elapsed();
    let st = lab.ours(3).status().expect("status");
    eprintln!(
        "live_knet: formed in {:.1} s, {n} CPG messages, ring of 2 after kill in {:.1} s, rejoined in {:.1} s; knet {}",
        formed.as_secs_f64(),
        shrink.as_secs_f64(),
        rejoin.as_secs_f64(),
        serde_json::to_string(&st[0]["knet"]["stats"]).unwrap_or_default()
    );
    assert!(
        st[0]["knet"]["stats"]["rx_window_resets"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "the restarted corosync's seq-0 pings must reset our window: {}",
        st[0]["knet"]
    );
}

/// IPv6: the same ring over fd00:db8:: addresses (sockets, link addresses and scope).
#[test]
fn live_knet_ipv6_membership() {
    let Some(lab) = Interop::start_opts("kc", &[1, 2], &[3], Transport::Knet, 1, true) else {
        return;
    };
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    lab.wait_sync(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    let ids = ring_ids(&lab, &[1, 2], &[3]);
    assert!(ids.iter().all(|i| !i.is_empty() && *i == ids[0]), "{ids:?}");
    assert_eq!(our_links(&lab, 3), vec![(1, 0, true), (2, 0, true)]);
    let st = lab.ours(3).status().expect("status");
    assert_eq!(
        st[0]["knet"]["data_mtu"].as_u64(),
        Some(1500 - 48 - 26),
        "IPv6 data MTU (1500 − IPv6/UDP 48 − knet header 26)"
    );
    assert_eq!(cfgtool_link(&lab, 1, 0, 3).as_deref(), Some("connected"));
}

/// knet crypto nss/aes256/sha256 with one key: the ring forms with all three and no
/// datagram fails to open. Then our node restarts with a wrong key: every datagram it gets
/// is a counted seal error, its links never come up, and the corosync nodes stay a ring of two.
#[test]
fn live_knet_crypto_ring_and_wrong_key() {
    let key: Vec<u8> = (0..256u32)
        .map(|i| (i.wrapping_mul(73) ^ 0x5a) as u8)
        .collect();
    let Some(mut lab) = Interop::start_crypto("kd", &[1, 2], &[3], &key) else {
        return;
    };
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    lab.wait_sync(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    let st = lab.ours(3).status().expect("status");
    let k = &st[0]["knet"];
    assert!(k["crypto"].as_str().unwrap_or("").contains("Aes256"), "{k}");
    assert_eq!(k["stats"]["rx_open_errors"].as_u64(), Some(0), "{k}");
    let n = run_cpg(&mut lab, "kd", &[1, 2], &[3]);
    assert!(n > 0);
    // Restart ours with a wrong key.
    let wrong = lab.tmp.path().join("wrongkey");
    let mut bad = key.clone();
    bad[7] ^= 0x01;
    std::fs::write(&wrong, &bad).unwrap();
    let errors = restart_ours_kept_out(&mut lab, wrong, "a wrong key");
    assert_eq!(our_links(&lab, 3), vec![(1, 0, false), (2, 0, false)]);
    eprintln!(
        "live_knet crypto: {n} CPG messages with aes256/sha256; wrong key: {errors} datagrams refused in 8 s, links down"
    );
}

#[test]
fn live_knet_two_links_failover_without_membership_change() {
    let t0 = Instant::now();
    let Some(lab) = Interop::start_with("kb", &[1, 2], &[3], Transport::Knet, 2) else {
        return;
    };
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    lab.wait_sync(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    let all_up = |lab: &Interop| {
        let l = our_links(lab, 3);
        l.len() == 4 && l.iter().all(|x| x.2)
    };
    wait::until(Duration::from_secs(15), Duration::from_millis(250), || {
        all_up(&lab).then_some(())
    })
    .unwrap_or_else(|| panic!("links {:?}{}", our_links(&lab, 3), lab.logs()));
    for c in [1, 2] {
        for link in [0, 1] {
            assert_eq!(
                cfgtool_link(&lab, c, link, 3).as_deref(),
                Some("connected"),
                "corosync {c} link {link}{}",
                lab.logs()
            );
        }
    }
    // knet's pong timeout starts at 10 × ping_timeout and shrinks by one step a second:
    // let it settle as an operator's cluster would have.
    std::thread::sleep(Duration::from_secs(12).saturating_sub(t0.elapsed()));
    let before = ring_ids(&lab, &[1, 2], &[3]);
    assert!(before.iter().all(|i| *i == before[0]), "{before:?}");
    // Our node's network 0 goes down at the bridge.
    lab.lab.set_net_link(3, 0, false).expect("link down");
    let t_down = Instant::now();
    let down_seen = wait::until(Duration::from_secs(15), Duration::from_millis(200), || {
        let l = our_links(&lab, 3);
        let ours_down = l.iter().filter(|x| x.1 == 0).all(|x| !x.2);
        let theirs_down = [1, 2]
            .iter()
            .all(|&c| cfgtool_link(&lab, c, 0, 3).as_deref() == Some("disconnected"));
        (ours_down && theirs_down).then_some(())
    });
    let detect = t_down.elapsed();
    assert!(
        down_seen.is_some(),
        "link 0 not seen down: {:?}{}",
        our_links(&lab, 3),
        lab.logs()
    );
    // Stay down a while with traffic on link 1 only.
    std::thread::sleep(Duration::from_secs(6));
    let during = ring_ids(&lab, &[1, 2], &[3]);
    lab.lab.set_net_link(3, 0, true).expect("link up");
    let t_up = Instant::now();
    wait::until(Duration::from_secs(20), Duration::from_millis(250), || {
        (all_up(&lab)
            && [1, 2]
                .iter()
                .all(|&c| cfgtool_link(&lab, c, 0, 3).as_deref() == Some("connected")))
        .then_some(())
    })
    .unwrap_or_else(|| panic!("link 0 back: {:?}{}", our_links(&lab, 3), lab.logs()));
    let recover = t_up.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    let after = ring_ids(&lab, &[1, 2], &[3]);
    assert_eq!(
        during,
        before,
        "membership changed while link 0 was down{}",
        lab.logs()
    );
    assert_eq!(
        after,
        before,
        "membership changed after link 0 came back{}",
        lab.logs()
    );
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}"));
    let st = lab.ours(3).status().expect("status");
    eprintln!(
        "live_knet two links: link 0 down seen in {:.1} s, back up in {:.1} s, ring {} unchanged; links {}",
        detect.as_secs_f64(),
        recover.as_secs_f64(),
        before[0],
        serde_json::to_string(&st[0]["knet"]["links"]).unwrap_or_default()
    );
}

/// One of our CPG clients under steady load: joins, waits for 3 members, sends `count`
/// 500-byte messages at ~`rate`/s while collecting deliveries until `total`.
async fn paced_client(
    control: std::path::PathBuf,
    nodeid: u32,
    count: u32,
    rate: u32,
    total: usize,
) -> Vec<(u32, u32, usize)> {
    use interop::cpg::{check, message, GROUP};
    use totem::control::CpgClient;
    use totem::cpg::CpgEvent;
    let mut cl = tokio::time::timeout(Duration::from_secs(10), CpgClient::join(&control, GROUP))
        .await
        .expect("join in time")
        .expect("join");
    let mut tick = tokio::time::interval(Duration::from_millis(u64::from(1000 / rate.max(1))));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (mut members, mut sent) = (0, 0u32);
    let mut deliveries = Vec::new();
    while deliveries.len() < total {
        tokio::select! {
            _ = tick.tick(), if members == 3 && sent < count => {
                sent += 1;
                cl.mcast(&message(nodeid, cl.pid, sent, 500)).await.expect("mcast");
            }
            ev = tokio::time::timeout_at(deadline, cl.next()) => match ev {
                Ok(Ok(Some(CpgEvent::ConfChg { members: m, .. }))) => members = m.len(),
                Ok(Ok(Some(CpgEvent::Deliver { nodeid: from, data, .. }))) => {
                    assert!(check(&data, from), "corrupt message from {from}");
                    let seq = u32::from_le_bytes(data[12..16].try_into().unwrap());
                    deliveries.push((from, seq, data.len()));
                }
                Ok(Ok(Some(CpgEvent::Ring { .. }))) => {}
                other => panic!(
                    "our client on {nodeid}: {other:?} after {} deliveries ({sent} sent)",
                    deliveries.len()
                ),
            },
        }
    }
    deliveries
}

/// Every sender's messages once each, seq 1..=count, in order.
fn assert_complete(d: &[(u32, u32, usize)], senders: &[u32], count: u32, who: &str) {
    for &s in senders {
        let seqs: Vec<u32> = d.iter().filter(|x| x.0 == s).map(|x| x.1).collect();
        assert_eq!(
            seqs,
            (1..=count).collect::<Vec<_>>(),
            "{who}: messages of node {s} (gap, duplicate or reorder)"
        );
    }
    assert_eq!(d.len(), senders.len() * count as usize, "{who}");
}

/// The knet key change of corosync 3.1 (`corosync-cfgtool -R` after a new authkey) with
/// CPG load flowing from all three nodes: our node loads the new key when the reload is
/// delivered, switches with its own safe phase-1 message and drops the old key with phase 2,
/// as the corosync nodes do. No membership change anywhere, every message delivered once
/// on every node in one order, our traffic afterwards on crypto config 2 only; a node
/// restarted with the old key cannot join.
#[test]
fn live_knet_key_change_under_cpg_load() {
    use interop::cpg::{build_cpgsend, cpgsend_deliveries};
    let old: Vec<u8> = (0..256u32)
        .map(|i| (i.wrapping_mul(41) ^ 0xa5) as u8)
        .collect();
    let new: Vec<u8> = (0..256u32)
        .map(|i| (i.wrapping_mul(97) ^ 0x3c) as u8)
        .collect();
    let Some(mut lab) = Interop::start_crypto("ke", &[1, 2], &[3], &old) else {
        return;
    };
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    lab.wait_sync(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    let before = ring_ids(&lab, &[1, 2], &[3]);
    assert!(
        before.iter().all(|i| !i.is_empty() && *i == before[0]),
        "{before:?}"
    );
    let st = lab.ours(3).status().expect("status");
    assert_eq!(st[0]["knet"]["crypto_in_use"].as_u64(), Some(1), "{st}");

    // Load: 300 × 500 B at 30/s from each of the three nodes (~10 s).
    const COUNT: u32 = 300;
    let total = 3 * COUNT as usize;
    let bin = build_cpgsend(lab.tmp.path());
    let mut logs = Vec::new();
    for c in [1usize, 2] {
        let log = lab.tmp.path().join(format!("ke-cpgsend{c}.log"));
        lab.lab
            .spawn(
                c,
                &[
                    bin.to_str().unwrap(),
                    "-g",
                    interop::cpg::GROUP,
                    "-s",
                    &format!("500*{COUNT}"),
                    "-r",
                    "30",
                    "-m",
                    "3",
                    "-w",
                    &total.to_string(),
                    "-T",
                    "60",
                    "-v",
                ],
                &log,
            )
            .expect("cpgsend");
        logs.push((c, log));
    }
    let control = lab.ours(3).control();
    let client = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(paced_client(control, 3, COUNT, 30, total))
    });
    // Let the load run, then change the key on every node and reload from corosync node 1.
    std::thread::sleep(Duration::from_secs(4));
    let key_path = lab.knet_key.clone().expect("crypto lab");
    let old_path = lab.tmp.path().join("oldkey");
    std::fs::write(&old_path, &old).unwrap();
    std::fs::write(&key_path, &new).unwrap();
    let engine = |lab: &Interop, name: &str| {
        lab.ours(3)
            .status()
            .and_then(|s| {
                s[0]["engine"].as_array().and_then(|a| {
                    a.iter()
                        .find(|e| e[0].as_str() == Some(name))
                        .and_then(|e| e[1].as_u64())
                })
            })
            .unwrap_or(0)
    };
    let retx0 = (
        engine(&lab, "token_retransmits"),
        engine(&lab, "mcast_retx"),
    );
    let t_reload = Instant::now();
    let out = lab
        .corosync(1)
        .tool(&lab.lab, &["timeout", "10", "corosync-cfgtool", "-R"])
        .unwrap_or_default();
    let t_cfgtool = t_reload.elapsed();
    // Our node's steps as they happen.
    let mut seen = [None::<Duration>; 3];
    let rekey = |lab: &Interop| {
        lab.ours(3)
            .status()
            .map(|s| {
                let r = &s[0]["knet"]["rekey"];
                [
                    r["loads"].as_u64().unwrap_or(0),
                    r["activations"].as_u64().unwrap_or(0),
                    r["cleanups"].as_u64().unwrap_or(0),
                ]
            })
            .unwrap_or_default()
    };
    wait::until(Duration::from_secs(10), Duration::from_millis(20), || {
        let r = rekey(&lab);
        for (k, v) in r.iter().enumerate() {
            if *v > 0 && seen[k].is_none() {
                seen[k] = Some(t_reload.elapsed());
            }
        }
        (r == [1, 1, 1]).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "key change steps {:?} (cfgtool: {out}){}",
            rekey(&lab),
            lab.logs()
        )
    });

    // The corosync nodes did their side: reload seen, new key loaded into config 2. (Their
    // log file is written asynchronously and once lacked the knet line although the node
    // switched keys, so this is reported, not asserted; that every node switched is proven
    // below: our node drops config 1 and then opens everything it gets with config 2.)
    let mut corosync_logged = Vec::new();
    for c in [1usize, 2] {
        let path = lab.corosync(c).dir.join("corosync.log");
        let ok = wait::until(Duration::from_secs(3), Duration::from_millis(100), || {
            let log = String::from_utf8_lossy(&std::fs::read(&path).ok()?).to_string();
            (log.contains("Config reload requested by node 1")
                && log.contains("crypto reconfigured on index 2"))
            .then_some(())
        });
        corosync_logged.push((c, ok.is_some()));
    }
    // Retransmissions within 1.5 s of the reload (a refused token or mcast shows here).
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(t_reload.elapsed()));
    let retx = (
        engine(&lab, "token_retransmits") - retx0.0,
        engine(&lab, "mcast_retx") - retx0.1,
    );
    let ours = client.join().expect("our client");
    assert_complete(&ours, &[1, 2, 3], COUNT, "our node");
    for (c, log) in &logs {
        let t = wait::until(Duration::from_secs(40), Duration::from_millis(200), || {
            let t = std::fs::read_to_string(log).ok()?;
            t.contains("RESULT").then_some(t)
        })
        .unwrap_or_else(|| {
            panic!(
                "cpgsend on {c} did not finish:\n{}{}",
                std::fs::read_to_string(log).unwrap_or_default(),
                lab.logs()
            )
        });
        let (d, result) = cpgsend_deliveries(&t);
        assert!(result.contains(" bad=0"), "node {c}: {result}");
        assert_complete(&d, &[1, 2, 3], COUNT, &format!("corosync node {c}"));
        assert_eq!(
            d, ours,
            "delivery order of corosync node {c} differs from ours"
        );
    }
    // No knet datagram of ours refused by a corosync node during the change (knet logs
    // every datagram no config opens once clear text is disallowed).
    for c in [1usize, 2] {
        let log = String::from_utf8_lossy(
            &std::fs::read(lab.corosync(c).dir.join("corosync.log")).expect("corosync log"),
        )
        .to_string();
        if !log.contains("Config reload requested by node 1") {
            // Lines around a reload are sometimes missing from corosync's log file.
            eprintln!("corosync {c}: log lacks the reload, refusal check skipped");
            continue;
        }
        let refused: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Unable to decrypt"))
            .collect();
        assert!(
            refused.is_empty(),
            "corosync {c} refused datagrams during the key change:\n{}",
            refused.join("\n")
        );
    }
    let after = ring_ids(&lab, &[1, 2], &[3]);
    assert_eq!(
        after,
        before,
        "membership changed during the key change{}",
        lab.logs()
    );
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}"));

    // Traffic now on config 2 only: config 1 gone, config 2 seals and opens, and keeps
    // doing so (pings) while config 1 stays empty.
    let st = lab.ours(3).status().expect("status");
    let k = &st[0]["knet"];
    assert_eq!(k["crypto_in_use"].as_u64(), Some(2), "{k}");
    let slots = |k: &serde_json::Value| {
        (0..2)
            .map(|i| {
                let s = &k["crypto_slots"][i];
                (
                    s["loaded"].as_bool().unwrap_or(true),
                    s["sealed"].as_u64().unwrap_or(0),
                    s["opened"].as_u64().unwrap_or(0),
                )
            })
            .collect::<Vec<_>>()
    };
    let s1 = slots(k);
    assert!(!s1[0].0 && s1[1].0, "config 1 dropped, 2 loaded: {k}");
    assert!(s1[1].1 > 0 && s1[1].2 > 0, "config 2 seals and opens: {k}");
    assert_eq!(k["stats"]["rx_open_errors"].as_u64(), Some(0), "{k}");
    std::thread::sleep(Duration::from_secs(2));
    let st = lab.ours(3).status().expect("status");
    let s2 = slots(&st[0]["knet"]);
    assert!(
        s2[1].1 > s1[1].1 && s2[1].2 > s1[1].2 && s2[0] == s1[0],
        "{s1:?} -> {s2:?}"
    );

    // A node with only the old key cannot join.
    let errors = restart_ours_kept_out(&mut lab, old_path, "the old key");
    for c in [1usize, 2] {
        let log = String::from_utf8_lossy(
            &std::fs::read(lab.corosync(c).dir.join("corosync.log")).unwrap_or_default(),
        )
        .to_string();
        for l in log.lines().filter(|l| {
            l.contains("Crypto reconfiguration phase")
                || l.contains("crypto reconfigured")
                || l.contains("reload requested")
                || l.contains("Clearing old")
        }) {
            eprintln!("corosync {c}: {l}");
        }
    }
    for l in lab.ours(3).log().lines().filter(|l| {
        l.contains("config reload")
            || l.contains("knet crypto reconfig")
            || l.contains("first datagram under")
    }) {
        eprintln!("ours: {l}");
    }
    let ms = |d: Option<Duration>| d.map_or(-1.0, |d| d.as_secs_f64() * 1000.0);
    eprintln!(
        "live_knet key change: cfgtool -R returned in {:.0} ms; our node loaded the key at {:.0} ms, sent with it at {:.0} ms, dropped the old at {:.0} ms; {} CPG messages on 3 nodes, ring {} unchanged; config 2 sealed {} opened {}; old key: {errors} datagrams refused in 8 s; corosync logged the reconfiguration: {corosync_logged:?}; our token/mcast retransmits during the change: {retx:?}",
        t_cfgtool.as_secs_f64() * 1000.0,
        ms(seen[0]),
        ms(seen[1]),
        ms(seen[2]),
        ours.len(),
        before[0],
        s2[1].1,
        s2[1].2,
    );
}
