//! The live harness itself: three real corosync 3.1.7 daemons form a ring in network
//! namespaces, a partition splits it and healing merges it again. Everything the interop
//! tests build on.

use std::time::Duration;

use totem_tests::corosync::{write_conf, Corosync, Transport};
use totem_tests::netns::Lab;

#[test]
fn three_corosync_daemons_form_split_and_merge() {
    let mut lab = Lab::new("th", 3).expect("lab");
    let tmp = tempfile::tempdir().unwrap();
    let mut daemons = Vec::new();
    for i in 1..=3 {
        let dir = tmp.path().join(format!("n{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        write_conf(&lab, &[1, 2, 3], i, Transport::Udpu, false, &dir);
        daemons.push(Corosync::start(&mut lab, i, &dir).expect("corosync starts"));
    }
    for d in &daemons {
        d.wait_members(&lab, &[1, 2, 3], Duration::from_secs(30))
            .unwrap();
    }
    lab.set_link(3, false).unwrap();
    // token 3650 ms + consensus 4380 ms for three nodes, with margin.
    daemons[0]
        .wait_members(&lab, &[1, 2], Duration::from_secs(25))
        .unwrap();
    daemons[2]
        .wait_members(&lab, &[3], Duration::from_secs(25))
        .unwrap();
    lab.set_link(3, true).unwrap();
    for d in &daemons {
        d.wait_members(&lab, &[1, 2, 3], Duration::from_secs(30))
            .unwrap();
    }
}
