//! Live: our totem-node as a full member of a corosync 3.1.7 udpu cluster (needs root).
//! (a) membership on both sides with the same ring id, steady; (b) corosync finishes its
//! service synchronisation (its quorum and CPG IPC answer); (d) votequorum counts our vote
//! and the cluster stays quorate when one corosync node stops.

mod interop;

use std::time::{Duration, Instant};

use interop::{field, Interop};

fn membership_sync_quorum(prefix: &str, corosync_at: &[usize], ours_at: &[usize], steady: u64) {
    let t0 = Instant::now();
    let Some(mut lab) = Interop::start(prefix, corosync_at, ours_at) else {
        return;
    };
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(25))
        .unwrap_or_else(|e| panic!("{e}"));
    // (b) sync completes on the corosync nodes: their quorum and CPG IPC answer.
    lab.wait_sync(Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{e}"));
    let c = corosync_at[0];
    // (a) corosync lists our nodes in runtime.members and quorumtool -l.
    let list = lab.quorumtool(c, &["-l"]).unwrap_or_default();
    for o in ours_at {
        let has = list
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&o.to_string()));
        assert!(
            has,
            "quorumtool -l on {c} lacks node {o}:\n{list}{}",
            lab.logs()
        );
    }
    let cfg = lab
        .corosync(c)
        .tool(&lab.lab, &["corosync-cfgtool", "-s"])
        .unwrap_or_default();
    assert!(
        cfg.contains("LINK ID 0"),
        "cfgtool -s:\n{cfg}{}",
        lab.logs()
    );
    // Same ring id: corosync-quorumtool's "Ring ID" and our status.
    let qs = lab.quorumtool(c, &["-s"]).unwrap_or_default();
    let ring = field(&qs, "Ring ID").unwrap_or_default();
    for o in ours_at {
        let ours = lab.ours(*o).ring_id().unwrap_or_default();
        assert_eq!(
            ours,
            ring,
            "ring id of our node {o} vs corosync:\n{qs}{}",
            lab.logs()
        );
    }
    // (d) every node's vote counts: 3 of expected 3, quorate everywhere.
    for &c in corosync_at {
        let qs = lab.quorumtool(c, &["-s"]).unwrap_or_default();
        assert_eq!(
            field(&qs, "Total votes").as_deref(),
            Some("3"),
            "node {c}:\n{qs}{}",
            lab.logs()
        );
        assert_eq!(
            field(&qs, "Quorate").as_deref(),
            Some("Yes"),
            "node {c}:\n{qs}"
        );
    }
    for &o in ours_at {
        let st = lab.ours(o).status().expect("status");
        let q = &st[2]["quorum"];
        assert_eq!(
            q["quorate"].as_bool(),
            Some(true),
            "ours {o}: {q}\n{}",
            lab.logs()
        );
        assert_eq!(q["total_votes"].as_u64(), Some(3), "ours {o}: {q}");
        assert_eq!(st[2]["sync_in_progress"].as_bool(), Some(false), "ours {o}");
        // The cman view of our live node (cman_tool status fed by totem-node status --cman).
        let cman = lab
            .ours(o)
            .cman_tool_status()
            .expect("cman_tool input from our node");
        for line in [
            "Nodes: 3",
            "Expected votes: 3",
            "Total votes: 3",
            "Node votes: 1",
            "Cluster Name: lab",
        ] {
            assert!(
                cman.lines().any(|l| l == line),
                "ours {o}: no `{line}` in\n{cman}"
            );
        }
        assert!(
            cman.lines().any(|l| l.starts_with("Quorum: 2")),
            "ours {o}:\n{cman}"
        );
        assert!(
            cman.contains(&format!("Node ID: {o}\n")),
            "ours {o}:\n{cman}"
        );
    }
    // (a) steady: no reconfiguration for `steady` seconds.
    std::thread::sleep(Duration::from_secs(steady));
    let qs2 = lab.quorumtool(c, &["-s"]).unwrap_or_default();
    assert_eq!(
        field(&qs2, "Ring ID").unwrap_or_default(),
        ring,
        "ring changed while steady{}",
        lab.logs()
    );
    for c in &lab.corosync {
        let log = std::fs::read_to_string(c.dir.join("corosync.log")).unwrap_or_default();
        let completed = log.matches("Completed service synchronization").count();
        assert!(
            completed >= 1,
            "node {}: no completed sync{}",
            c.index,
            lab.logs()
        );
    }
    // (d) stop one corosync node (SIGTERM): 2 votes of 3 stay quorate.
    let stop = *corosync_at.last().unwrap();
    let pid = lab.corosync(stop).pid;
    lab.lab.signal(pid, "TERM");
    assert!(lab.lab.wait_exit(pid, Duration::from_secs(10)));
    lab.corosync.retain(|x| x.index != stop);
    let mut rest: Vec<u32> = lab.all.iter().map(|&i| i as u32).collect();
    rest.retain(|&n| n != stop as u32);
    lab.wait_ring(&rest, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("after stopping {stop}: {e}"));
    lab.wait_sync(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    for c in &lab.corosync {
        let qs = lab.quorumtool(c.index, &["-s"]).unwrap_or_default();
        assert_eq!(
            field(&qs, "Total votes").as_deref(),
            Some("2"),
            "{qs}{}",
            lab.logs()
        );
        assert_eq!(field(&qs, "Quorate").as_deref(), Some("Yes"), "{qs}");
    }
    for o in &lab.ours {
        let ok =
            totem_tests::wait::until(Duration::from_secs(5), Duration::from_millis(200), || {
                let st = o.status()?;
                (st[2]["quorum"]["quorate"].as_bool() == Some(true)
                    && st[2]["quorum"]["total_votes"].as_u64() == Some(2))
                .then_some(())
            });
        assert!(
            ok.is_some(),
            "ours {}: {:?}{}",
            o.index,
            o.status().map(|s| s[2].clone()),
            lab.logs()
        );
    }
    eprintln!("{prefix}: passed in {:.1} s", t0.elapsed().as_secs_f64());
}

/// Two corosync nodes (1, 2) and ours as node 3; 60 s steady.
#[test]
fn ours_last_two_corosync() {
    membership_sync_quorum("ia", &[1, 2], &[3], 60);
}

/// Ours in the middle (nodeid 2) between corosync 1 and 3.
#[test]
fn ours_in_the_middle() {
    membership_sync_quorum("ib", &[1, 3], &[2], 10);
}

/// Two of ours (1, 2) and one corosync (3).
#[test]
fn two_ours_one_corosync() {
    membership_sync_quorum("ic", &[3], &[1, 2], 10);
}
