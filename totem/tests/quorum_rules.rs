//! Rules from votequorum(5), with expected values computed by hand from the man page.

use totem::quorum::{AtbMode, Cluster, NodeEntry, QuorumError, QuorumOptions};

fn nodes(n: u32) -> Vec<NodeEntry> {
    (1..=n)
        .map(|i| NodeEntry {
            nodeid: i,
            votes: 1,
        })
        .collect()
}

fn opts(n: u32) -> QuorumOptions {
    QuorumOptions {
        nodelist: nodes(n),
        ..QuorumOptions::default()
    }
}

#[test]
fn five_nodes_quorum_three() {
    let c = Cluster::start_all(opts(5)).unwrap();
    let s = c.snapshot(1).unwrap();
    assert_eq!(
        (s.quorate, s.quorum, s.total_votes, s.expected_votes),
        (true, 3, 5, 5)
    );
}

#[test]
fn eight_nodes_quorum_five_survives_three_failures_not_four() {
    let mut c = Cluster::start_all(opts(8)).unwrap();
    assert_eq!(c.snapshot(1).unwrap().quorum, 5);
    for id in [8, 7, 6] {
        c.down(id).unwrap();
    }
    let s = c.snapshot(1).unwrap();
    assert_eq!(
        (s.quorate, s.quorum, s.total_votes, s.expected_votes),
        (true, 5, 5, 8)
    );
    c.down(5).unwrap();
    let s = c.snapshot(1).unwrap();
    // quorum never drops on its own: still 5 with 4 votes present
    assert_eq!((s.quorate, s.quorum, s.total_votes), (false, 5, 4));
}

#[test]
fn expected_votes_rises_with_seen_votes() {
    // expected_votes 3 configured but 5 nodes join: expected becomes 5, quorum 3.
    let mut o = opts(5);
    o.expected_votes = Some(3);
    let c = Cluster::start_all(o).unwrap();
    let s = c.snapshot(2).unwrap();
    assert_eq!((s.expected_votes, s.quorum), (5, 3));
}

#[test]
fn weighted_votes() {
    // votes 3+1+1 = 5 → quorum 3; node 1 alone has 3 votes and is quorate after the others fail.
    let mut o = opts(3);
    o.nodelist[0].votes = 3;
    let mut c = Cluster::start_all(o).unwrap();
    assert_eq!(c.snapshot(1).unwrap().quorum, 3);
    c.split(1, &[2, 3]).unwrap();
    let a = c.snapshot(1).unwrap();
    let b = c.snapshot(2).unwrap();
    assert_eq!((a.quorate, a.total_votes), (true, 3));
    assert_eq!((b.quorate, b.total_votes), (false, 2));
}

#[test]
fn two_node_quorum_one_and_implies_wait_for_all() {
    let mut o = opts(2);
    o.two_node = true;
    // Only node 1 starts: wait_for_all (implied) keeps it inquorate.
    let mut c = Cluster::new(o.clone());
    c.up(1, 0).unwrap();
    let s = c.snapshot(1).unwrap();
    assert_eq!(
        (s.quorate, s.quorum, s.wait_for_all_status),
        (false, 1, true)
    );
    c.up(2, 0).unwrap();
    assert!(c.snapshot(1).unwrap().quorate);
    // After both were seen once, either survives the other's failure.
    c.down(2).unwrap();
    let s = c.snapshot(1).unwrap();
    assert_eq!((s.quorate, s.quorum, s.total_votes), (true, 1, 1));

    // Explicit wait_for_all: 0 overrides: a lone node is quorate at once.
    o.wait_for_all = Some(false);
    let mut c = Cluster::new(o);
    c.up(1, 0).unwrap();
    assert!(c.snapshot(1).unwrap().quorate);
}

#[test]
fn two_node_disabled_with_more_than_two_nodes() {
    let mut o = opts(2);
    o.two_node = true;
    let mut c = Cluster::start_all(o).unwrap();
    c.up(3, 0).unwrap();
    let s = c.snapshot(1).unwrap();
    assert_eq!((s.quorum, s.total_votes, s.expected_votes), (2, 3, 3));
}

#[test]
fn wait_for_all_needs_everyone_once() {
    let mut o = opts(8);
    o.wait_for_all = Some(true);
    let mut c = Cluster::new(o);
    for id in 1..=5 {
        c.up(id, 0).unwrap();
    }
    // 5 of 8 would be quorate normally (quorum 5) but WFA waits for all 8.
    let s = c.snapshot(1).unwrap();
    assert_eq!(
        (s.quorate, s.quorum, s.wait_for_all_status),
        (false, 5, true)
    );
    for id in 6..=8 {
        c.up(id, 0).unwrap();
    }
    assert!(c.snapshot(1).unwrap().quorate);
    for id in [8, 7, 6] {
        c.down(id).unwrap();
    }
    let s = c.snapshot(1).unwrap();
    assert_eq!((s.quorate, s.wait_for_all_status), (true, false));
}

#[test]
fn cancel_wait_for_all() {
    let mut o = opts(3);
    o.wait_for_all = Some(true);
    let mut c = Cluster::new(o);
    c.up(1, 0).unwrap();
    c.up(2, 0).unwrap();
    assert!(!c.snapshot(1).unwrap().quorate);
    c.cancel_wait_for_all(1).unwrap();
    let s = c.snapshot(2).unwrap();
    assert_eq!(
        (s.quorate, s.quorum, s.wait_for_all_status),
        (true, 2, false)
    );
}

#[test]
fn last_man_standing_cascade_from_man_page() {
    // 8 nodes, LMS: 8 (q5) → 5 alive: after the window expected 5, q3 → 3 alive: expected 3, q2
    // → 2 alive: expected 2, q2.
    let mut o = opts(8);
    o.last_man_standing = true;
    o.wait_for_all = Some(true);
    let mut c = Cluster::start_all(o).unwrap();
    for id in [8, 7, 6] {
        c.down(id).unwrap();
    }
    let s = c.snapshot(1).unwrap();
    assert_eq!((s.quorate, s.expected_votes, s.quorum), (true, 5, 3));
    c.down(5).unwrap();
    c.down(4).unwrap();
    let s = c.snapshot(1).unwrap();
    assert_eq!((s.quorate, s.expected_votes, s.quorum), (true, 3, 2));
    c.down(3).unwrap();
    let s = c.snapshot(1).unwrap();
    assert_eq!((s.quorate, s.expected_votes, s.quorum), (true, 2, 2));
    // without ATB the last node cannot keep quorum
    c.down(2).unwrap();
    assert!(!c.snapshot(1).unwrap().quorate);
}

#[test]
fn lms_not_before_window_expires() {
    // The window is modelled by the LMS timer: a node shows the timer armed and the old
    // expected value until it fires. Drive one instance directly.
    use totem::quorum::VoteQuorum;
    let mut o = opts(5);
    o.last_man_standing = true;
    let mut n1 = VoteQuorum::new(1, &o, None, 0).unwrap();
    n1.sync_init(&[1, 2, 3, 4, 5]);
    for id in 1..=5 {
        n1.deliver(
            id,
            &totem::quorum::events::Message::NodeInfo(totem::quorum::NodeInfo {
                nodeid: id,
                votes: 1,
                expected_votes: 5,
                flags: totem::quorum::NodeFlags(0),
            }),
        );
    }
    n1.sync_activate();
    assert!(n1.snapshot().quorate);
    n1.sync_init(&[1, 2, 3]);
    n1.sync_activate();
    assert!(n1.lms_timer_armed());
    let s = n1.snapshot();
    assert_eq!((s.expected_votes, s.quorum), (5, 3));
    n1.fire_lms_timer();
    let s = n1.snapshot();
    assert_eq!((s.expected_votes, s.quorum, s.quorate), (3, 2, true));
}

#[test]
fn atb_lowest_even_split() {
    let mut o = opts(4);
    o.auto_tie_breaker = true;
    let mut c = Cluster::start_all(o).unwrap();
    c.split(1, &[3, 4]).unwrap();
    let low = c.snapshot(1).unwrap();
    let high = c.snapshot(3).unwrap();
    assert_eq!((low.quorate, low.total_votes, low.quorum), (true, 2, 3));
    assert!(!high.quorate);
}

#[test]
fn atb_highest_even_split() {
    let mut o = opts(4);
    o.auto_tie_breaker = true;
    o.auto_tie_breaker_node = Some("highest".into());
    let mut c = Cluster::start_all(o).unwrap();
    c.split(1, &[3, 4]).unwrap();
    assert!(!c.snapshot(1).unwrap().quorate);
    assert!(c.snapshot(4).unwrap().quorate);
}

#[test]
fn atb_list_first_listed_node_decides() {
    let mut o = opts(4);
    o.auto_tie_breaker = true;
    o.auto_tie_breaker_node = Some("3 1".into());
    let mut c = Cluster::start_all(o).unwrap();
    c.split(1, &[3, 4]).unwrap();
    assert!(!c.snapshot(1).unwrap().quorate);
    assert!(c.snapshot(3).unwrap().quorate);
    assert_eq!(AtbMode::parse("3 1"), AtbMode::List(vec![3, 1]));
    assert_eq!(AtbMode::parse("bogus"), AtbMode::None);
}

#[test]
fn atb_odd_cluster_without_wfa_is_disabled() {
    let mut o = opts(5);
    o.auto_tie_breaker = true;
    let cfg = o.resolve(1, None).unwrap();
    assert_eq!(cfg.atb, AtbMode::None);
    o.wait_for_all = Some(true);
    assert_eq!(o.resolve(1, None).unwrap().atb, AtbMode::Lowest);
    o.wait_for_all = None;
    o.last_man_standing = true;
    assert_eq!(o.resolve(1, None), Err(QuorumError::AtbLmsOddCluster));
}

#[test]
fn atb_disables_two_node() {
    let mut o = opts(2);
    o.two_node = true;
    o.auto_tie_breaker = true;
    let cfg = o.resolve(1, None).unwrap();
    assert!(!cfg.two_node);
    assert!(
        cfg.wait_for_all,
        "wait_for_all still follows the configured two_node"
    );
}

#[test]
fn admin_set_expected_votes_lowers_quorum() {
    let mut c = Cluster::start_all(opts(5)).unwrap();
    c.down(5).unwrap();
    c.down(4).unwrap();
    // 3 present, expected 5, quorum 3; admin sets expected 3 → quorum 2
    c.set_expected_votes(1, 3).unwrap();
    let s = c.snapshot(2).unwrap();
    assert_eq!((s.expected_votes, s.quorum, s.quorate), (3, 2, true));
    // below the votes present is refused
    assert!(matches!(
        c.set_expected_votes(1, 2),
        Err(QuorumError::InvalidValue { .. })
    ));
}

#[test]
fn admin_set_node_votes() {
    let mut c = Cluster::start_all(opts(3)).unwrap();
    c.set_node_votes(1, 1, 3).unwrap();
    let s = c.snapshot(2).unwrap();
    // votes 3+1+1 = 5 → expected raised to 5, quorum 3
    assert_eq!((s.total_votes, s.expected_votes, s.quorum), (5, 5, 3));
}

#[test]
fn allow_downscale_leave_lowers_expected_and_quorum() {
    // Man page example (no nodelist, expected_votes 3): 5 nodes join (expected 5, quorum 3);
    // two clean leaves bring expected to 3 and quorum to 2.
    let o = QuorumOptions {
        expected_votes: Some(3),
        allow_downscale: true,
        ..QuorumOptions::default()
    };
    let mut c = Cluster::new(o);
    for id in 1..=5 {
        c.up(id, 0).unwrap();
    }
    let s = c.snapshot(1).unwrap();
    assert_eq!((s.expected_votes, s.quorum), (5, 3));
    c.leave(5).unwrap();
    c.leave(4).unwrap();
    let s = c.snapshot(1).unwrap();
    assert_eq!(
        (s.total_votes, s.expected_votes, s.quorum, s.quorate),
        (3, 3, 2, true)
    );

    // votequorum quirk kept: with a nodelist, tracking replaces quorum.expected_votes by the
    // stored barrier (0 on a fresh node), so the floor is the nodelist total and quorum stays 3.
    let mut o = opts(5);
    o.expected_votes = Some(3);
    o.allow_downscale = true;
    let mut c = Cluster::start_all(o).unwrap();
    c.leave(5).unwrap();
    c.leave(4).unwrap();
    let s = c.snapshot(1).unwrap();
    assert_eq!((s.total_votes, s.quorum), (3, 3));
}

#[test]
fn quorum_device_votes() {
    // 2 nodes + device: device votes derived as nodes-1 = 1, expected 3, quorum 2.
    let mut o = opts(2);
    o.device = Some(None);
    let cfg = o.resolve(1, None).unwrap();
    assert_eq!((cfg.qdevice_votes, cfg.expected_votes), (1, 3));
    let mut c = Cluster::start_all(o).unwrap();
    assert_eq!(c.snapshot(1).unwrap().quorum, 2);
    for id in [1, 2] {
        c.node_mut(id).unwrap().qdevice_register().unwrap();
        let m = c.node_mut(id).unwrap().qdevice_poll(true).unwrap();
        c.send_from(id, &m).unwrap();
    }
    c.down(2).unwrap();
    let s = c.snapshot(1).unwrap();
    assert_eq!((s.total_votes, s.quorum, s.quorate), (2, 2, true));
}

#[test]
fn config_errors() {
    assert_eq!(
        QuorumOptions::default().resolve(1, None),
        Err(QuorumError::NoExpectedVotes)
    );
    let mut o = opts(2);
    o.two_node = true;
    o.device = Some(Some(1));
    assert_eq!(o.resolve(1, None), Err(QuorumError::TwoNodeWithQdevice));
    let mut o = opts(3);
    o.device = Some(Some(2));
    o.expected_votes = Some(3);
    assert!(matches!(
        o.resolve(1, None),
        Err(QuorumError::QdeviceVotesTooHigh { .. })
    ));
}
