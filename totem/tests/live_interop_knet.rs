//! Live: our totem-node in a ring of corosync 3.1.7 daemons over transport knet (libknet
//! 1.25), in network namespaces (needs root). (a) membership with all three on both sides,
//! corosync's sync completes and quorum counts our vote; (b) CPG messages both ways, 64 KiB
//! and 1 MiB included (knet fragments them); (c) kill -9 of a corosync node and its rejoin;
//! (d) two knet links per host: our link 0 goes down and back up without a membership
//! change on any node.

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
    let pid = lab.ours(3).pid;
    lab.lab.signal(pid, "KILL");
    lab.ours.retain(|o| o.index != 3);
    let wrong = lab.tmp.path().join("wrongkey");
    let mut bad = key.clone();
    bad[7] ^= 0x01;
    std::fs::write(&wrong, &bad).unwrap();
    lab.our_key = Some(wrong);
    // corosync sees node 3 go first.
    lab.wait_ring(&[1, 2], Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after kill: {e}"));
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
            cfgtool_link(&lab, c, 0, 3).as_deref(),
            Some("disconnected"),
            "corosync {c} must not bring our link up{}",
            lab.logs()
        );
    }
    let st = lab.ours(3).status().expect("status");
    let k = &st[0]["knet"];
    let errors = k["stats"]["rx_open_errors"].as_u64().unwrap_or(0);
    assert!(errors > 0, "wrong key must be counted: {k}");
    assert_eq!(our_links(&lab, 3), vec![(1, 0, false), (2, 0, false)]);
    assert_eq!(lab.ours(3).members(), vec![3], "alone with a wrong key");
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
