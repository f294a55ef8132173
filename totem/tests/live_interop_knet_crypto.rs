//! Live: the interop scenarios (membership and sync, votequorum, CPG both ways, kill -9 and
//! restart, partition and merge) over transport knet with crypto aes256/sha256 (nss, and
//! openssl once), in a ring of two corosync 3.1.7 daemons (nodes 1, 2) and our totem-node
//! (node 3), each in its own network namespace (needs root).

mod interop;

use std::time::{Duration, Instant};

use interop::cpg::{build_cpgsend, cpgsend_deliveries, run_cpg};
use interop::{field, Interop};
use totem_tests::wait;

/// The ring's shared authkey: 256 bytes, none of them the same as its neighbour's.
fn key() -> Vec<u8> {
    (0..256u32)
        .map(|i| (i.wrapping_mul(151) ^ 0xa7) as u8)
        .collect()
}

/// Starts the 2 corosync + ours lab with `model` crypto and waits for ring and sync.
fn formed(prefix: &str, model: &'static str) -> Option<(Interop, Duration)> {
    let t0 = Instant::now();
    let lab = Interop::start_crypto_model(prefix, &[1, 2], &[3], &key(), model)?;
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    lab.wait_sync(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    let st = lab.ours(3).status().expect("status");
    let k = &st[0]["knet"];
    assert!(k["crypto"].as_str().unwrap_or("").contains("Aes256"), "{k}");
    Some((lab, t0.elapsed()))
}

/// Ring ids ("rep.seq") of the corosync nodes `cs` (quorumtool) and of our node.
fn ring_ids(lab: &Interop, cs: &[usize], ours: bool) -> Vec<String> {
    let mut v: Vec<String> = cs
        .iter()
        .map(|&c| {
            field(&lab.quorumtool(c, &["-s"]).unwrap_or_default(), "Ring ID").unwrap_or_default()
        })
        .collect();
    if ours {
        v.push(lab.ours(3).ring_id().unwrap_or_default());
    }
    v
}

/// The value of the quorumtool line whose key is exactly `key` ("Quorum" but not "Quorum
/// information" or "Quorum provider").
fn value(out: &str, key: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// Node ids listed by `corosync-quorumtool -l` on corosync node `c`.
fn quorumtool_members(lab: &Interop, c: usize) -> Vec<u32> {
    let out = lab.quorumtool(c, &["-l"]).unwrap_or_default();
    let mut past_header = false;
    let mut v = Vec::new();
    for l in out.lines() {
        if l.trim_start().starts_with("Nodeid") {
            past_header = true;
        } else if past_header {
            if let Some(n) = l.split_whitespace().next().and_then(|w| w.parse().ok()) {
                v.push(n);
            }
        }
    }
    v.sort();
    v
}

/// The votequorum view, waited for (bounded): every corosync node in `cs` shows `members`,
/// `members.len()` total votes of 3 expected, quorum 2 and `quorate` (quorumtool -s/-l);
/// with `ours`, our `status --cman` (rendered as cman_tool status) and our JSON status show
/// the same numbers. Returns quorumtool -s of the first corosync node (or "").
fn votequorum_agrees(
    lab: &Interop,
    cs: &[usize],
    ours: bool,
    members: &[u32],
    quorate: bool,
) -> String {
    votequorum_agrees_n(lab, cs, ours.then_some(3), 3, members, quorate)
}

/// [`votequorum_agrees`] for a ring of `expected` nodes with our node at `ours`.
fn votequorum_agrees_n(
    lab: &Interop,
    cs: &[usize],
    ours: Option<usize>,
    expected: usize,
    members: &[u32],
    quorate: bool,
) -> String {
    let votes = members.len().to_string();
    let expected_s = expected.to_string();
    let quorum = (expected / 2 + 1).to_string();
    let exp_line = format!("Expected votes: {expected}");
    let quorum_line = format!("Quorum: {quorum}");
    let yes_no = if quorate { "Yes" } else { "No" };
    let check = || -> Result<String, String> {
        let mut first = String::new();
        for &c in cs {
            let qs = lab.quorumtool(c, &["-s"]).unwrap_or_default();
            for (k, want) in [
                ("Total votes", votes.as_str()),
                ("Expected votes", expected_s.as_str()),
                ("Quorum", quorum.as_str()),
                ("Quorate", yes_no),
            ] {
                let got = value(&qs, k);
                if got.as_deref() != Some(want) {
                    return Err(format!("corosync {c}: {k} {got:?}, want {want}:\n{qs}"));
                }
            }
            let list = quorumtool_members(lab, c);
            if list != members {
                return Err(format!("corosync {c}: quorumtool -l {list:?}"));
            }
            if first.is_empty() {
                first = qs;
            }
        }
        if let Some(o) = ours {
            let st = lab.ours(o).status().ok_or("no status")?;
            let q = &st[2]["quorum"];
            if q["quorate"].as_bool() != Some(quorate)
                || q["total_votes"].as_u64() != Some(members.len() as u64)
            {
                return Err(format!("ours: {q}"));
            }
            let cman = lab.ours(o).cman_tool_status().ok_or("no cman view")?;
            let node_id = format!("Node ID: {o}");
            let nodes = format!("Nodes: {}", members.len());
            let total = format!("Total votes: {votes}");
            for line in [
                nodes.as_str(),
                exp_line.as_str(),
                total.as_str(),
                "Node votes: 1",
                node_id.as_str(),
            ] {
                if !cman.lines().any(|l| l == line) {
                    return Err(format!("ours: no `{line}` in\n{cman}"));
                }
            }
            let q = cman
                .lines()
                .find(|l| l.starts_with("Quorum: "))
                .unwrap_or("");
            // cman_tool prints "Activity blocked" after the quorum while inquorate.
            let ok = q.starts_with(&quorum_line) && (q.contains("Activity blocked") != quorate);
            if !ok {
                return Err(format!("ours: quorum line `{q}`:\n{cman}"));
            }
        }
        Ok(first)
    };
    let mut last = String::new();
    let r = wait::until(
        Duration::from_secs(10),
        Duration::from_millis(300),
        || match check() {
            Ok(s) => Some(s),
            Err(e) => {
                last = e;
                None
            }
        },
    );
    r.unwrap_or_else(|| panic!("votequorum views disagree: {last}{}", lab.logs()))
}

/// The knet crypto counters of our node: (datagrams opened by fragments, open errors).
fn our_knet(lab: &Interop) -> serde_json::Value {
    lab.ours(3).status().expect("status")[0]["knet"].clone()
}

/// (a) + (b) with `model`: membership, sync, one ring id, votequorum agreeing on 3 votes, CPG
/// both ways (64 KiB and 1 MiB messages fragmented by knet), no datagram failing to open.
fn membership_quorum_cpg(prefix: &str, model: &'static str) {
    let t0 = Instant::now();
    let Some((mut lab, form)) = formed(prefix, model) else {
        return;
    };
    let ids = ring_ids(&lab, &[1, 2], true);
    assert!(
        ids.iter().all(|i| !i.is_empty() && *i == ids[0]),
        "ring ids {ids:?}{}",
        lab.logs()
    );
    let qs = votequorum_agrees(&lab, &[1, 2], true, &[1, 2, 3], true);
    for c in &lab.corosync {
        let log = std::fs::read_to_string(c.dir.join("corosync.log")).unwrap_or_default();
        assert!(
            log.contains("Completed service synchronization"),
            "corosync {}: sync not completed{}",
            c.index,
            lab.logs()
        );
    }
    let st = lab.ours(3).status().expect("status");
    assert_eq!(
        st[2]["sync_in_progress"].as_bool(),
        Some(false),
        "ours: {}",
        st[2]
    );
    // Capture our node's UDP traffic during the CPG run: the messages' cleartext header must
    // not appear on the wire.
    let pcap = lab.tmp.path().join("cpg.pcapng");
    let cap = lab
        .lab
        .spawn(
            3,
            &[
                "dumpcap",
                "-q",
                "-i",
                "any",
                "-f",
                "udp",
                "-a",
                "duration:60",
                "-w",
                pcap.to_str().unwrap(),
            ],
            &lab.tmp.path().join("dumpcap.log"),
        )
        .expect("dumpcap");
    wait::until(Duration::from_secs(10), Duration::from_millis(100), || {
        std::fs::metadata(&pcap).ok().filter(|m| m.len() > 0)
    })
    .expect("dumpcap writes its capture");
    std::thread::sleep(Duration::from_millis(500));
    let t_cpg = Instant::now();
    let n = run_cpg(&mut lab, prefix, &[1, 2], &[3]);
    let cpg = t_cpg.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    lab.lab.signal(cap, "TERM");
    assert!(
        lab.lab.wait_exit(cap, Duration::from_secs(10)),
        "dumpcap exits"
    );
    let wire = std::fs::read(&pcap).expect("capture");
    assert!(
        wire.len() > 2 * (1 << 20),
        "the capture must hold the 1 MiB messages: {} bytes",
        wire.len()
    );
    for nodeid in 1..=3u32 {
        let mut clear = interop::cpg::MAGIC.to_le_bytes().to_vec();
        clear.extend_from_slice(&nodeid.to_le_bytes());
        assert!(
            !wire.windows(clear.len()).any(|w| w == clear),
            "cleartext CPG header of node {nodeid} on the wire ({model})"
        );
    }
    let k = our_knet(&lab);
    assert!(
        k["stats"]["rx_fragments"].as_u64().unwrap_or(0) > 0,
        "the 64 KiB and 1 MiB messages must arrive in knet fragments: {k}"
    );
    assert_eq!(k["stats"]["rx_open_errors"].as_u64(), Some(0), "{k}");
    assert_eq!(k["stats"]["rx_malformed"].as_u64(), Some(0), "{k}");
    assert_eq!(k["stats"]["rx_defrag_invalid"].as_u64(), Some(0), "{k}");
    // The ring stayed the same through the CPG load.
    assert_eq!(ring_ids(&lab, &[1, 2], true), ids, "{}", lab.logs());
    eprintln!(
        "{prefix} ({model}): formed+synced in {:.1} s, ring {}, quorumtool:\n{qs}\n{n} CPG messages in {:.1} s; knet {}; total {:.1} s",
        form.as_secs_f64(),
        ids[0],
        cpg.as_secs_f64(),
        serde_json::to_string(&k["stats"]).unwrap_or_default(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn live_knet_crypto_nss_membership_quorum_cpg() {
    membership_quorum_cpg("xa", "nss");
}

#[test]
fn live_knet_crypto_openssl_membership_quorum_cpg() {
    membership_quorum_cpg("xb", "openssl");
}

/// (c) kill -9 of corosync 2: the ring re-forms as [1, 3] with 2 votes of 3 (still
/// quorate) on both sides; restarted, it rejoins with 3 votes and CPG works across it.
#[test]
fn live_knet_crypto_kill_corosync_rejoin() {
    let t0 = Instant::now();
    let Some((mut lab, form)) = formed("xc", "nss") else {
        return;
    };
    votequorum_agrees(&lab, &[1, 2], true, &[1, 2, 3], true);
    let pid = lab.corosync(2).pid;
    lab.lab.signal(pid, "KILL");
    lab.corosync.retain(|c| c.index != 2);
    for suffix in ["data", "header"] {
        let _ = std::fs::remove_file(format!("/dev/shm/qb-corosync-{pid}-blackbox-{suffix}"));
    }
    let t_kill = Instant::now();
    lab.wait_ring(&[1, 3], Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after kill -9: {e}"));
    let shrink = t_kill.elapsed();
    let ids = ring_ids(&lab, &[1], true);
    assert_eq!(ids[0], ids[1], "{}", lab.logs());
    votequorum_agrees(&lab, &[1], true, &[1, 3], true);
    let t_re = Instant::now();
    lab.start_corosync(2);
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("after restart: {e}"));
    lab.wait_sync(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after restart: {e}"));
    let rejoin = t_re.elapsed();
    let ids = ring_ids(&lab, &[1, 2], true);
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}{}", lab.logs());
    votequorum_agrees(&lab, &[1, 2], true, &[1, 2, 3], true);
    let n = run_cpg(&mut lab, "xc", &[1, 2], &[3]);
    let k = our_knet(&lab);
    assert_eq!(k["stats"]["rx_open_errors"].as_u64(), Some(0), "{k}");
    eprintln!(
        "xc: formed in {:.1} s, ring [1, 3] {:.1} s after kill -9, rejoined+synced in {:.1} s, {n} CPG messages after; total {:.1} s",
        form.as_secs_f64(),
        shrink.as_secs_f64(),
        rejoin.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}

/// CPG inside the corosync pair 1, 2 alone (our node cut off): cpgsend on each sends
/// 3×100 B and one 70 000 B message in group "kxsplit"; both deliver all 8, intact, in one
/// order. Returns the number delivered.
fn cpg_corosync_pair(lab: &mut Interop) -> usize {
    let bin = build_cpgsend(lab.tmp.path());
    let mut logs = Vec::new();
    for (c, plan) in [(1usize, "100*3,70000"), (2, "70000,100*3")] {
        let log = lab.tmp.path().join(format!("split{c}.log"));
        lab.lab
            .spawn(
                c,
                &[
                    bin.to_str().unwrap(),
                    "-g",
                    "kxsplit",
                    "-s",
                    plan,
                    "-r",
                    "20",
                    "-m",
                    "2",
                    "-w",
                    "8",
                    "-T",
                    "20",
                    "-v",
                ],
                &log,
            )
            .expect("cpgsend");
        logs.push((c, log));
    }
    let mut orders = Vec::new();
    for (c, log) in &logs {
        let t = wait::until(Duration::from_secs(25), Duration::from_millis(200), || {
            let t = std::fs::read_to_string(log).ok()?;
            t.contains("RESULT").then_some(t)
        })
        .unwrap_or_else(|| panic!("cpgsend on {c} did not finish{}", lab.logs()));
        let (seqs, result) = cpgsend_deliveries(&t);
        assert!(result.contains(" bad=0"), "node {c}: {result}");
        assert_eq!(seqs.len(), 8, "node {c}: {result}\n{t}");
        orders.push(seqs);
    }
    assert_eq!(orders[0], orders[1], "corosync pair delivery orders differ");
    assert_eq!(orders[0].iter().filter(|d| d.2 == 70_000).count(), 2);
    orders[0].len()
}

/// (d) with a majority: corosync 1, 2, 3 and ours as node 4 (4 votes, quorum 3). Our veth
/// goes down: ours alone 1 of 4 inquorate, the corosync trio 3 of 4 quorate; back up: one
/// ring of four, 4 votes everywhere, CPG both ways across all four.
#[test]
fn live_knet_crypto_partition_majority_of_four() {
    let t0 = Instant::now();
    let Some(mut lab) = Interop::start_crypto_model("xf", &[1, 2, 3], &[4], &key(), "nss") else {
        return;
    };
    lab.wait_ring(&[1, 2, 3, 4], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    lab.wait_sync(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    let form = t0.elapsed();
    let cs = [1, 2, 3];
    votequorum_agrees_n(&lab, &cs, Some(4), 4, &[1, 2, 3, 4], true);
    lab.lab.set_link(4, false).expect("link down");
    let t_split = Instant::now();
    let split = wait::until(Duration::from_secs(20), Duration::from_millis(250), || {
        (cs.iter()
            .all(|&c| lab.corosync(c).members(&lab.lab) == [1, 2, 3])
            && lab.ours(4).members() == [4])
        .then_some(())
    });
    assert!(
        split.is_some(),
        "no split: corosync {:?}, ours {:?}{}",
        lab.corosync(1).members(&lab.lab),
        lab.ours(4).members(),
        lab.logs()
    );
    let split_t = t_split.elapsed();
    votequorum_agrees_n(&lab, &cs, None, 4, &[1, 2, 3], true);
    votequorum_agrees_n(&lab, &[], Some(4), 4, &[4], false);
    lab.lab.set_link(4, true).expect("link up");
    let t_merge = Instant::now();
    lab.wait_ring(&[1, 2, 3, 4], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("after merge: {e}"));
    lab.wait_sync(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after merge: {e}"));
    let merge = t_merge.elapsed();
    let mut ids: Vec<String> = cs
        .iter()
        .map(|&c| {
            field(&lab.quorumtool(c, &["-s"]).unwrap_or_default(), "Ring ID").unwrap_or_default()
        })
        .collect();
    ids.push(lab.ours(4).ring_id().unwrap_or_default());
    assert!(
        ids.iter().all(|i| !i.is_empty() && *i == ids[0]),
        "{ids:?}{}",
        lab.logs()
    );
    votequorum_agrees_n(&lab, &cs, Some(4), 4, &[1, 2, 3, 4], true);
    let n = run_cpg(&mut lab, "xf", &cs, &[4]);
    let k = lab.ours(4).status().expect("status")[0]["knet"].clone();
    assert_eq!(k["stats"]["rx_open_errors"].as_u64(), Some(0), "{k}");
    eprintln!(
        "xf: ring of 4 formed in {:.1} s, split 3+1 seen in {:.1} s, merged+synced in {:.1} s (ring {}), {n} CPG messages on 4 nodes; total {:.1} s",
        form.as_secs_f64(),
        split_t.as_secs_f64(),
        merge.as_secs_f64(),
        ids[0],
        t0.elapsed().as_secs_f64()
    );
}

/// (d) our node's veth goes down: it is alone and inquorate (1 of 3), the corosync pair
/// continues quorate (2 of 3); back up: one ring of three again, quorum 3, CPG both ways.
#[test]
fn live_knet_crypto_partition_merge() {
    let t0 = Instant::now();
    let Some((mut lab, form)) = formed("xd", "nss") else {
        return;
    };
    let before = ring_ids(&lab, &[1, 2], true);
    lab.lab.set_link(3, false).expect("link down");
    let t_split = Instant::now();
    let split = wait::until(Duration::from_secs(20), Duration::from_millis(250), || {
        ([1, 2]
            .iter()
            .all(|&c| lab.corosync(c).members(&lab.lab) == [1, 2])
            && lab.ours(3).members() == [3])
        .then_some(())
    });
    assert!(
        split.is_some(),
        "no split: corosync {:?}, ours {:?}{}",
        lab.corosync(1).members(&lab.lab),
        lab.ours(3).members(),
        lab.logs()
    );
    let split_t = t_split.elapsed();
    votequorum_agrees(&lab, &[1, 2], false, &[1, 2], true);
    votequorum_agrees(&lab, &[], true, &[3], false);
    let during = ring_ids(&lab, &[1, 2], true);
    let pair = cpg_corosync_pair(&mut lab);
    assert_eq!(during[0], during[1], "{during:?}");
    assert_ne!(
        during[0], during[2],
        "two partitions, two rings: {during:?}"
    );
    assert_ne!(during[0], before[0]);
    lab.lab.set_link(3, true).expect("link up");
    let t_merge = Instant::now();
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("after merge: {e}"));
    lab.wait_sync(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after merge: {e}"));
    let merge = t_merge.elapsed();
    let after = ring_ids(&lab, &[1, 2], true);
    assert!(
        after.iter().all(|i| *i == after[0]),
        "{after:?}{}",
        lab.logs()
    );
    votequorum_agrees(&lab, &[1, 2], true, &[1, 2, 3], true);
    let n = run_cpg(&mut lab, "xd", &[1, 2], &[3]);
    let k = our_knet(&lab);
    assert_eq!(k["stats"]["rx_open_errors"].as_u64(), Some(0), "{k}");
    eprintln!(
        "xd: formed in {:.1} s, split seen in {:.1} s (rings {during:?}), {pair} CPG messages in the corosync pair while split, merged+synced in {:.1} s (ring {}), {n} CPG messages after; total {:.1} s",
        form.as_secs_f64(),
        split_t.as_secs_f64(),
        merge.as_secs_f64(),
        after[0],
        t0.elapsed().as_secs_f64()
    );
}

/// (e) kill -9 of our node: corosync drops to [1, 2] (2 of 3, quorate); our node restarted
/// with the same nodeid and key rejoins, votequorum counts it again and CPG works.
#[test]
fn live_knet_crypto_kill_ours_rejoin() {
    let t0 = Instant::now();
    let Some((mut lab, form)) = formed("xe", "nss") else {
        return;
    };
    let pid = lab.ours(3).pid;
    lab.lab.signal(pid, "KILL");
    let o = lab.ours.remove(0);
    let t_kill = Instant::now();
    lab.wait_ring(&[1, 2], Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after kill -9 of ours: {e}"));
    let shrink = t_kill.elapsed();
    votequorum_agrees(&lab, &[1, 2], false, &[1, 2], true);
    let _ = std::fs::remove_file(o.control());
    let t_re = Instant::now();
    lab.start_ours(3);
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("after restart of ours: {e}"));
    lab.wait_sync(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after restart of ours: {e}"));
    let rejoin = t_re.elapsed();
    let ids = ring_ids(&lab, &[1, 2], true);
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}{}", lab.logs());
    votequorum_agrees(&lab, &[1, 2], true, &[1, 2, 3], true);
    let n = run_cpg(&mut lab, "xe", &[1, 2], &[3]);
    let k = our_knet(&lab);
    assert_eq!(k["stats"]["rx_open_errors"].as_u64(), Some(0), "{k}");
    eprintln!(
        "xe: formed in {:.1} s, corosync saw ours gone in {:.1} s, restarted ours rejoined+synced in {:.1} s, {n} CPG messages after; total {:.1} s",
        form.as_secs_f64(),
        shrink.as_secs_f64(),
        rejoin.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}
