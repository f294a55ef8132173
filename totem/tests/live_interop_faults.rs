//! Live (e) and (f): crashes, restarts and a partition of our node in a mixed corosync
//! 3.1.7 + totem-node udpu cluster converge, and corosync's sync completes after each;
//! garbage sent to our node is counted, logged and dropped without disturbing the ring.
//! Needs root.

mod interop;

use std::time::{Duration, Instant};

use interop::{field, Interop};

fn counter(lab: &Interop, i: usize, name: &str) -> u64 {
    lab.ours(i)
        .status()
        .and_then(|s| s[0]["driver"][name].as_u64())
        .unwrap_or(0)
}

/// Corosync 1 and 2, ours 3: kill -9 and restart of corosync 2, of our node, then our
/// node partitioned (veth down) and healed.
#[test]
fn crash_restart_and_partition_converge() {
    let t0 = Instant::now();
    let Some(mut lab) = Interop::start("ka", &[1, 2], &[3]) else {
        return;
    };
    let all = [1, 2, 3];
    lab.wait_ring(&all, Duration::from_secs(25))
        .unwrap_or_else(|e| panic!("{e}"));
    lab.wait_sync(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));

    // kill -9 corosync 2: token loss + consensus (~8 s), then [1, 3].
    let pid = lab.corosync(2).pid;
    lab.lab.signal(pid, "KILL");
    let c2 = lab.corosync.iter().position(|c| c.index == 2).unwrap();
    let dead = lab.corosync.remove(c2);
    // A SIGKILLed corosync leaves its 8 MB blackbox in /dev/shm.
    for suffix in ["data", "header"] {
        let _ = std::fs::remove_file(format!("/dev/shm/qb-corosync-{pid}-blackbox-{suffix}"));
    }
    lab.wait_ring(&[1, 3], Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after kill -9 of corosync 2: {e}"));
    lab.corosync.push(dead);
    lab.start_corosync(2);
    lab.wait_ring(&all, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after restart of corosync 2: {e}"));
    lab.wait_sync(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));

    // kill -9 our node, then restart it.
    let pid = lab.ours(3).pid;
    lab.lab.signal(pid, "KILL");
    let o = lab.ours.remove(0);
    let c1_members = || lab.corosync(1).members(&lab.lab);
    let gone =
        totem_tests::wait::until(Duration::from_secs(20), Duration::from_millis(250), || {
            (c1_members() == [1, 2]).then_some(())
        });
    assert!(
        gone.is_some(),
        "corosync kept our killed node: {:?}{}",
        c1_members(),
        lab.logs()
    );
    let _ = std::fs::remove_file(o.control());
    lab.start_ours(3);
    lab.wait_ring(&all, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after restart of our node: {e}"));
    lab.wait_sync(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));

    // Partition our node, then heal: [1, 2] + [3], then [1, 2, 3] again.
    lab.lab.set_link(3, false).unwrap();
    let split =
        totem_tests::wait::until(Duration::from_secs(20), Duration::from_millis(250), || {
            (lab.corosync(1).members(&lab.lab) == [1, 2] && lab.ours(3).members() == [3])
                .then_some(())
        });
    assert!(
        split.is_some(),
        "no split: corosync {:?}, ours {:?}{}",
        lab.corosync(1).members(&lab.lab),
        lab.ours(3).members(),
        lab.logs()
    );
    // Alone, our node has 1 vote of 3: not quorate.
    let q = lab
        .ours(3)
        .status()
        .map(|s| s[2]["quorum"]["quorate"].clone());
    assert_eq!(q, Some(serde_json::Value::Bool(false)), "{}", lab.logs());
    lab.lab.set_link(3, true).unwrap();
    lab.wait_ring(&all, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after heal: {e}"));
    lab.wait_sync(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    // votequorum activates at the end of the sync round: allow it a moment.
    let votes =
        totem_tests::wait::until(Duration::from_secs(10), Duration::from_millis(250), || {
            let qs = lab.quorumtool(1, &["-s"]).unwrap_or_default();
            (field(&qs, "Total votes").as_deref() == Some("3")).then_some(())
        });
    let qs = lab.quorumtool(1, &["-s"]).unwrap_or_default();
    assert!(votes.is_some(), "votes after heal:\n{qs}{}", lab.logs());
    eprintln!(
        "crash/restart/partition: passed in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

/// (f) garbage, a truncated Totem header and foreign-generation datagrams (a corosync 2.x
/// token_hold_cancel and a corosync 1.x one) from a listed address are counted and dropped.
#[test]
fn garbage_to_our_node_is_counted_and_dropped() {
    let Some(lab) = Interop::start("kb", &[1, 2], &[3]) else {
        return;
    };
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(25))
        .unwrap_or_else(|e| panic!("{e}"));
    lab.wait_sync(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let ring = lab.ours(3).ring_id();
    let before = counter(&lab, 3, "rx_malformed") + counter(&lab, 3, "rx_envelope_errors");
    let dst = lab.lab.node(3).ipv4.to_string();
    // Plain garbage, a G3 magic/version with a truncated body, a G2 (2.4.6) token_hold_cancel
    // (corosync-wire.md §3.6) and the same message in G1 layout, 10 of each.
    let g2 = "\\xfe\\xfe\\x00\\x00\\x05\\x00\\x22\\xff\\x01\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x02\\x00\\xc0\\xa8\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x08\\x00\\x00\\x00\\x00\\x00\\x00\\x00";
    let g1 = &g2[4 * 4..];
    let script = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'garbage-not-totem' > /dev/udp/{dst}/5405; printf '\\x70\\xc0\\x03\\x01\\x02' > /dev/udp/{dst}/5405; printf '{g2}' > /dev/udp/{dst}/5405; printf '{g1}' > /dev/udp/{dst}/5405; done"
    );
    lab.lab
        .exec(1, &["bash", "-c", &script])
        .expect("send garbage");
    let counted =
        totem_tests::wait::until(Duration::from_secs(5), Duration::from_millis(100), || {
            let now = counter(&lab, 3, "rx_malformed") + counter(&lab, 3, "rx_envelope_errors");
            (now >= before + 40).then_some(now)
        });
    assert!(counted.is_some(), "garbage not counted{}", lab.logs());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(lab.ours(3).ring_id(), ring, "ring changed{}", lab.logs());
    let log = std::fs::read_to_string(lab.ours(3).dir.join("totem.log")).unwrap_or_default();
    assert!(
        log.contains("not a Totem message") || log.contains("refused"),
        "no log line for the dropped datagrams:\n{}",
        lab.ours(3).log()
    );
    let qs = lab.quorumtool(1, &["-s"]).unwrap_or_default();
    assert_eq!(field(&qs, "Total votes").as_deref(), Some("3"), "{qs}");
}
