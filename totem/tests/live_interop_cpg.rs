//! Live (c): CPG both ways between libcpg clients on corosync 3.1.7 nodes
//! (`captures/scripts/cpgsend.c`) and our CPG API on our totem-node: the group membership is
//! seen everywhere (`corosync-cpgtool` lists our member), every message arrives intact
//! everywhere, in the same order, 64 KiB and 1 MiB messages included. Needs root.

mod interop;

use std::time::Duration;

use interop::cpg::run_cpg;
use interop::Interop;

fn cpg_both_ways(prefix: &str, corosync_at: &[usize], ours_at: &[usize]) {
    let Some(lab) = Interop::start(prefix, corosync_at, ours_at) else {
        return;
    };
    let mut lab = lab;
    lab.wait_ring(&[1, 2, 3], Duration::from_secs(25))
        .unwrap_or_else(|e| panic!("{e}"));
    lab.wait_sync(Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{e}"));
    run_cpg(&mut lab, prefix, corosync_at, ours_at);
    drop(lab);
}
/// corosync 1, 2 and ours as node 3.
#[test]
fn cpg_two_corosync_and_ours() {
    cpg_both_ways("ja", &[1, 2], &[3]);
}

/// Our node in the middle: corosync 1 and 3, ours as node 2 (token passes through ours
/// between the two corosync nodes in both directions of the nodeid order).
#[test]
fn cpg_ours_in_the_middle() {
    cpg_both_ways("jc", &[1, 3], &[2]);
}

/// Two of ours (1 and 2) and one corosync (3): same order on all three, big messages too.
#[test]
fn cpg_two_ours_and_corosync() {
    cpg_both_ways("jd", &[3], &[1, 2]);
}
