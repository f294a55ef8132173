//! CPG both ways between libcpg clients on corosync nodes (`captures/scripts/cpgsend.c`)
//! and our CPG API on our nodes, for any lab transport.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use totem::control::CpgClient;
use totem::cpg::CpgEvent;

use super::Interop;

pub const GROUP: &str = "g3cap";
pub const MAGIC: u32 = 0x5043_3347;

/// cpgsend's message layout: magic, nodeid, pid, seq, length, 0, then byte i = seq*7+i.
pub fn message(nodeid: u32, pid: u32, seq: u32, len: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(len);
    for v in [MAGIC, nodeid, pid, seq, len as u32, 0] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    for i in 24..len {
        m.push((seq.wrapping_mul(7) as usize + i) as u8);
    }
    m
}

pub fn check(m: &[u8], nodeid: u32) -> bool {
    let get = |o: usize| u32::from_le_bytes(m[o..o + 4].try_into().unwrap());
    m.len() >= 24
        && get(0) == MAGIC
        && get(4) == nodeid
        && get(16) as usize == m.len()
        && (24..m.len()).all(|i| m[i] == (get(12).wrapping_mul(7) as usize + i) as u8)
}

pub fn build_cpgsend(dir: &std::path::Path) -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../captures/scripts/cpgsend.c");
    let out = dir.join("cpgsend");
    let st = Command::new("cc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-lcpg")
        .status()
        .expect("cc");
    assert!(st.success(), "building cpgsend failed");
    out
}

/// (from, seq, len) of each delivery in a cpgsend -v log, and its RESULT line.
pub fn cpgsend_deliveries(log: &str) -> (Vec<(u32, u32, usize)>, String) {
    let mut v = Vec::new();
    for l in log.lines().filter(|l| l.starts_with("deliver ")) {
        let get = |k: &str| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .and_then(|x| x.parse::<u64>().ok())
                .unwrap_or(0)
        };
        assert!(l.ends_with(" ok"), "cpgsend saw a corrupt message: {l}");
        v.push((
            get("from=") as u32,
            get("seq=") as u32,
            get("len=") as usize,
        ));
    }
    let result = log
        .lines()
        .find(|l| l.starts_with("RESULT"))
        .unwrap_or("")
        .to_string();
    (v, result)
}

/// One of our CPG clients: joins, waits for `want_members`, sends 3×300 B, 64 KiB and
/// 1 MiB, and collects (from, seq, len) until `total` deliveries; `netns` set: also returns
/// `corosync-cpgtool -e` run there while the group is complete.
pub async fn our_client(
    control: PathBuf,
    nodeid: u32,
    want_members: usize,
    total: usize,
    netns: Option<String>,
) -> (Vec<(u32, u32, usize)>, String) {
    let mut cl = tokio::time::timeout(Duration::from_secs(10), CpgClient::join(&control, GROUP))
        .await
        .expect("join in time")
        .expect("join");
    let mut deliveries = Vec::new();
    let mut members = 0;
    let mut cpgtool = String::new();
    let mut sent = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while deliveries.len() < total {
        let ev = match tokio::time::timeout_at(deadline, cl.next()).await {
            Ok(Ok(Some(ev))) => ev,
            other => panic!(
                "our client on {nodeid}: {other:?} after {} deliveries",
                deliveries.len()
            ),
        };
        match ev {
            CpgEvent::ConfChg { members: m, .. } => members = m.len(),
            CpgEvent::Deliver { nodeid, data, .. } => {
                assert!(check(&data, nodeid), "corrupt message from {nodeid}");
                let seq = u32::from_le_bytes(data[12..16].try_into().unwrap());
                deliveries.push((nodeid, seq, data.len()));
            }
            CpgEvent::Ring { .. } => {}
        }
        if members == want_members && !sent {
            sent = true;
            if let Some(ns) = &netns {
                cpgtool = String::from_utf8_lossy(
                    &Command::new("ip")
                        .args(["netns", "exec", ns])
                        .args(["timeout", "5", "corosync-cpgtool", "-e"])
                        .output()
                        .map(|o| o.stdout)
                        .unwrap_or_default(),
                )
                .to_string();
            }
            let sizes = [300, 300, 300, 65_536, 1 << 20];
            for (i, len) in sizes.iter().enumerate() {
                let m = message(nodeid, cl.pid, i as u32 + 1, *len);
                cl.mcast(&m).await.expect("mcast");
            }
        }
    }
    (deliveries, cpgtool)
}

/// Runs cpgsend on every corosync node and our client on every one of ours (ring formed and
/// synchronised already); asserts every message arrives everywhere intact and in one order.
/// Returns the number of messages each node delivered.
pub fn run_cpg(lab: &mut Interop, prefix: &str, corosync_at: &[usize], ours_at: &[usize]) -> usize {
    let t0 = Instant::now();
    let bin = build_cpgsend(lab.tmp.path());
    // Sends: corosync A: 5×200 B, 64 KiB, 1 MiB; corosync B: 5×1000 B; corosync C (if
    // any): 3×500 B; each of ours:
    // 3×300 B, 64 KiB, 1 MiB. Everyone waits for all deliveries.
    let plans = ["200*5,64k,1024k", "1000*5", "500*3"];
    let plan_counts = [7, 5, 3];
    let total: usize = plan_counts[..corosync_at.len()].iter().sum::<usize>() + 5 * ours_at.len();
    let want_members = corosync_at.len() + ours_at.len();
    let mut logs = Vec::new();
    for (k, &c) in corosync_at.iter().enumerate() {
        let log = lab.tmp.path().join(format!("cpgsend{c}.log"));
        let w = total.to_string();
        let m = want_members.to_string();
        lab.lab
            .spawn(
                c,
                &[
                    bin.to_str().unwrap(),
                    "-g",
                    GROUP,
                    "-s",
                    plans[k],
                    "-r",
                    "20",
                    "-m",
                    &m,
                    "-w",
                    &w,
                    "-T",
                    "40",
                    "-v",
                ],
                &log,
            )
            .expect("cpgsend");
        logs.push((c, log));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ns = lab.lab.node(corosync_at[0]).netns.clone();
    let runs: Vec<_> = ours_at
        .iter()
        .enumerate()
        .map(|(k, &o)| {
            our_client(
                lab.ours(o).control(),
                o as u32,
                want_members,
                total,
                (k == 0).then(|| ns.clone()),
            )
        })
        .collect();
    let results = rt.block_on(futures_join_all(runs));
    let ours = results[0].0.clone();
    let cpgtool = results[0].1.clone();
    for (k, (d, _)) in results.iter().enumerate() {
        assert_eq!(
            d, &ours,
            "delivery order of our node {} differs from our node {}",
            ours_at[k], ours_at[0]
        );
    }
    assert!(
        cpgtool.lines().any(|l| l.contains(GROUP)),
        "cpgtool:\n{cpgtool}{}",
        lab.logs()
    );
    eprintln!("corosync-cpgtool -e on node {}:\n{cpgtool}", corosync_at[0]);
    for &o in ours_at {
        let our_line = cpgtool
            .lines()
            .any(|l| l.split_whitespace().any(|w| w == o.to_string()));
        assert!(our_line, "cpgtool lacks node {o}:\n{cpgtool}{}", lab.logs());
    }
    for (c, log) in &logs {
        let ok =
            totem_tests::wait::until(Duration::from_secs(30), Duration::from_millis(200), || {
                let t = std::fs::read_to_string(log).ok()?;
                t.contains("RESULT").then_some(t)
            });
        let t = ok.unwrap_or_else(|| {
            panic!(
                "cpgsend on {c} did not finish:\n{}{}",
                std::fs::read_to_string(log).unwrap_or_default(),
                lab.logs()
            )
        });
        let (seqs, result) = cpgsend_deliveries(&t);
        eprintln!("cpgsend on node {c}: {result}");
        assert!(result.contains(" bad=0"), "node {c}: {result}");
        assert_eq!(seqs.len(), total, "node {c}: {result}\n{t}");
        assert_eq!(
            seqs, ours,
            "delivery order of corosync node {c} differs from ours"
        );
    }
    let big = ours.iter().filter(|d| d.2 >= 65_536).count();
    assert_eq!(
        big,
        2 * ours_at.len() + usize::from(!corosync_at.is_empty()) * 2,
        "64 KiB and 1 MiB messages from both sides: {ours:?}"
    );
    eprintln!(
        "{prefix}: {} messages in the same order on {} nodes (every receiver), {:.1} s",
        ours.len(),
        corosync_at.len() + ours_at.len(),
        t0.elapsed().as_secs_f64()
    );
    ours.len()
}

/// Runs the futures concurrently on the current-thread runtime and returns their outputs
/// in order.
pub async fn futures_join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in fs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (k, f) in set.iter_mut().enumerate() {
            if out[k].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[k] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}
