//! Three nodes in one process on 127.0.0.1/2/3 (Linux routes all of 127/8 on lo), udpu,
//! forming a ring and delivering CPG messages in the same order everywhere.

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::{sleep, timeout, Instant};
use totem::cpg::{Cpg, CpgEvent, CpgHandle, Process, Reason};
use totem::driver::{self, NodeHandle};
use totem::node_config::{self, Overrides};
use totem_wire::Generation;

fn conf(gen: Generation, port: u16) -> String {
    // G1 has secauth on by default and no crypto_* keys; G2/G3 use none/none.
    let crypto = match gen {
        Generation::G1 => "secauth: off",
        _ => "crypto_cipher: none\n    crypto_hash: none",
    };
    format!(
        "totem {{
    version: 2
    cluster_name: loop
    transport: udpu
    token: 1000
    {crypto}
    interface {{
        linknumber: 0
        mcastport: {port}
    }}
}}
nodelist {{
    node {{
        nodeid: 1
        ring0_addr: 127.0.0.1
    }}
    node {{
        nodeid: 2
        ring0_addr: 127.0.0.2
    }}
    node {{
        nodeid: 3
        ring0_addr: 127.0.0.3
    }}
}}
logging {{
    to_stderr: yes
}}
"
    )
}

struct TestNode {
    node: NodeHandle,
    cpg: Cpg,
    cfg: node_config::NodeConfig,
    task: tokio::task::JoinHandle<()>,
}

fn start(gen: Generation, port: u16) -> Vec<TestNode> {
    (1..=3).map(|id| start_one(gen, port, id)).collect()
}

fn start_one(gen: Generation, port: u16, id: u32) -> TestNode {
    let root = totem::corosync_conf::parse(&conf(gen, port)).unwrap();
    Some(id)
        .map(|id| {
            let cfg = node_config::map(
                &root,
                Overrides {
                    generation: Some(gen),
                    nodeid: Some(id),
                },
                &node_config::is_local_address,
            )
            .unwrap();
            let (node, events, task) = driver::spawn(cfg.clone()).unwrap();
            let cpg = Cpg::start(node.clone(), events, gen, cfg.nodeid, cfg.net_mtu()).unwrap();
            TestNode {
                node,
                cpg,
                cfg,
                task,
            }
        })
        .unwrap()
}

async fn wait_ring(nodes: &[TestNode], want: &[u32]) {
    loop {
        let mut ok = true;
        for n in nodes {
            let s = n.node.status().await.unwrap();
            ok &= s.state == "operational"
                && s.members.iter().map(|m| m.nodeid).collect::<Vec<_>>() == want;
        }
        if ok {
            return;
        }
        sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_members(h: &mut CpgHandle, n: usize) -> Vec<Process> {
    loop {
        if let Some(CpgEvent::ConfChg { members, .. }) = h.recv().await {
            if members.len() == n {
                return members;
            }
        }
    }
}

/// Deterministic message `i` of node `id`: varied sizes, one 100 KiB message that must be
/// fragmented over ~75 Totem mcasts.
fn message(id: u32, i: usize) -> Vec<u8> {
    let len = if i == 37 {
        100 * 1024
    } else {
        (i * 53 + id as usize * 7) % 1500 + 1
    };
    (0..len)
        .map(|j| (j as u32 ^ id.wrapping_mul(31) ^ i as u32) as u8)
        .collect()
}

const PER_NODE: usize = 150;

async fn run_ring(gen: Generation, port: u16) {
    let nodes = start(gen, port);
    let t0 = Instant::now();
    wait_ring(&nodes, &[1, 2, 3]).await;
    eprintln!("{gen}: ring of 3 formed in {:?}", t0.elapsed());

    let mut handles = Vec::new();
    for n in &nodes {
        handles.push(n.cpg.join(b"loopback-test").await.unwrap());
    }
    for h in handles.iter_mut() {
        let members = wait_members(h, 3).await;
        assert_eq!(
            members.iter().map(|p| p.nodeid).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    // Every node sends concurrently.
    let t1 = Instant::now();
    let mut receivers = Vec::new();
    for (k, h) in handles.into_iter().enumerate() {
        let id = k as u32 + 1;
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut h = h;
            let mut got: Vec<(u32, u32, Vec<u8>)> = Vec::new();
            let mut sent = 0;
            while got.len() < 3 * PER_NODE {
                if sent < PER_NODE {
                    h.mcast(message(id, sent)).await.unwrap();
                    sent += 1;
                }
                let wait = if sent < PER_NODE {
                    Duration::ZERO
                } else {
                    Duration::from_secs(20)
                };
                match timeout(wait, h.recv()).await {
                    Ok(Some(CpgEvent::Deliver { nodeid, pid, data })) => {
                        got.push((nodeid, pid, data))
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) if sent < PER_NODE => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send((got, h));
        });
        receivers.push(rx);
    }
    let mut results = Vec::new();
    for r in receivers {
        results.push(r.await.unwrap());
    }
    let elapsed = t1.elapsed();
    let total_bytes: usize = results[0].0.iter().map(|(_, _, d)| d.len()).sum();
    eprintln!(
        "{gen}: {} messages ({} bytes) delivered on each node in {:?}",
        results[0].0.len(),
        total_bytes,
        elapsed
    );

    // Same order everywhere, complete, and each sender's messages intact and in FIFO order.
    let mut hashes = Vec::new();
    for (got, _) in &results {
        assert_eq!(got.len(), 3 * PER_NODE);
        let mut h = Sha256::new();
        let mut next: HashMap<u32, usize> = HashMap::new();
        for (nodeid, pid, data) in got {
            h.update(nodeid.to_le_bytes());
            h.update(pid.to_le_bytes());
            h.update(Sha256::digest(data));
            let i = next.entry(*nodeid).or_default();
            assert_eq!(data, &message(*nodeid, *i), "node {nodeid} message {i}");
            *i += 1;
        }
        hashes.push(h.finalize());
    }
    assert_eq!(hashes[0], hashes[1]);
    assert_eq!(hashes[1], hashes[2]);

    // Robustness: garbage from a listed address is counted as malformed, anything from an
    // unlisted one as unlisted; neither stops the node.
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let listed = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    listed.send_to(&[0x70, 0xc0, 3, 9, 0, 0], target).unwrap();
    let unlisted = std::net::UdpSocket::bind("127.0.0.9:0").unwrap();
    unlisted.send_to(b"not totem", target).unwrap();
    let mut counted = false;
    for _ in 0..100 {
        let s = nodes[0].node.status().await.unwrap();
        // G2 checks the FE FE 00 00 envelope first; G1 (secauth off) and G3 have none.
        let bad = match gen {
            Generation::G2 => s.driver.rx_envelope_errors,
            _ => s.driver.rx_malformed,
        };
        if bad >= 1 && s.driver.rx_unlisted >= 1 {
            counted = true;
            break;
        }
        sleep(Duration::from_millis(20)).await;
    }
    assert!(counted, "garbage datagrams were not counted");

    // Node 3's process leaves the group, then node 3 leaves the ring.
    let mut handles: Vec<CpgHandle> = results.into_iter().map(|(_, h)| h).collect();
    let h3 = handles.pop().unwrap();
    let pid3 = h3.pid();
    h3.leave().await.unwrap();
    for h in handles.iter_mut() {
        loop {
            if let Some(CpgEvent::ConfChg { left, members, .. }) = h.recv().await {
                if !left.is_empty() {
                    assert_eq!(
                        left,
                        [(
                            Process {
                                nodeid: 3,
                                pid: pid3
                            },
                            Reason::Leave
                        )]
                    );
                    assert_eq!(members.len(), 2);
                    break;
                }
            }
        }
    }
    let t2 = Instant::now();
    nodes[2].node.leave().await.unwrap();
    wait_ring(&nodes[..2], &[1, 2]).await;
    eprintln!("{gen}: ring of 2 after a leave in {:?}", t2.elapsed());
    let s = nodes[0].node.status().await.unwrap();
    assert_eq!(s.generation, gen.to_string());
    assert!(nodes[0].cfg.net_mtu() > 1000);
    for n in &nodes[..2] {
        n.node.leave().await.unwrap();
    }
}

fn port(base: u16) -> u16 {
    base + (std::process::id() % 2000) as u16 * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g3_udpu_three_nodes_same_order() {
    timeout(
        Duration::from_secs(30),
        run_ring(Generation::G3, port(30_000)),
    )
    .await
    .expect("G3 loopback ring did not finish within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g2_udpu_three_nodes_same_order() {
    timeout(
        Duration::from_secs(30),
        run_ring(Generation::G2, port(40_000)),
    )
    .await
    .expect("G2 loopback ring did not finish within 30 s");
}

/// A node that stops without leaving (its task aborted, sockets closed) is detected by token
/// loss; its process leaves the group as NODEDOWN. Restarted, it learns the group from the
/// survivors' JOINLIST (NODEUP) and they see its new process join.
async fn crash_and_restart(gen: Generation, port: u16) {
    let mut nodes = start(gen, port);
    wait_ring(&nodes, &[1, 2, 3]).await;
    let mut handles = Vec::new();
    for n in &nodes {
        handles.push(n.cpg.join(b"crash").await.unwrap());
    }
    for h in handles.iter_mut() {
        wait_members(h, 3).await;
    }
    let pid3 = handles[2].pid();
    let dead = nodes.pop().unwrap();
    dead.task.abort();
    let _ = dead.task.await;
    drop(handles.pop());
    let t = Instant::now();
    for h in handles.iter_mut() {
        loop {
            if let Some(CpgEvent::ConfChg { left, members, .. }) = h.recv().await {
                if !left.is_empty() {
                    assert_eq!(
                        left,
                        [(
                            Process {
                                nodeid: 3,
                                pid: pid3
                            },
                            Reason::NodeDown
                        )]
                    );
                    assert_eq!(members.iter().map(|p| p.nodeid).collect::<Vec<_>>(), [1, 2]);
                    break;
                }
            }
        }
    }
    eprintln!("{gen}: crash of node 3 seen by CPG after {:?}", t.elapsed());
    wait_ring(&nodes, &[1, 2]).await;

    nodes.push(start_one(gen, port, 3));
    wait_ring(&nodes, &[1, 2, 3]).await;
    let mut h3 = nodes[2].cpg.join(b"crash").await.unwrap();
    let members = wait_members(&mut h3, 3).await;
    assert_eq!(
        members.iter().map(|p| p.nodeid).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    for h in handles.iter_mut() {
        let m = wait_members(h, 3).await;
        assert!(m.contains(&Process {
            nodeid: 3,
            pid: h3.pid()
        }));
        assert!(
            !m.contains(&Process {
                nodeid: 3,
                pid: pid3
            }) || h3.pid() == pid3
        );
    }
    eprintln!("{gen}: node 3 back in the group after {:?}", t.elapsed());

    // A restart faster than token loss: node 3 comes back before anyone noticed, so it shows
    // up as joined; its old processes (two of them) must go, its new one stays.
    let h3b = nodes[2].cpg.join(b"crash").await.unwrap();
    let old = [h3.pid(), h3b.pid()];
    assert_ne!(old[0], old[1]);
    for h in handles.iter_mut() {
        wait_members(h, 4).await;
    }
    let dead = nodes.pop().unwrap();
    dead.task.abort();
    let _ = dead.task.await;
    drop((h3, h3b));
    let t = Instant::now();
    nodes.push(start_one(gen, port, 3));
    let h3 = nodes[2].cpg.join(b"crash").await.unwrap();
    for h in handles.iter_mut() {
        let mut removed = Vec::new();
        loop {
            if let Some(CpgEvent::ConfChg { left, members, .. }) = h.recv().await {
                removed.extend(left.iter().map(|(p, r)| (p.pid, *r)));
                if members.contains(&Process {
                    nodeid: 3,
                    pid: h3.pid(),
                }) && members.len() == 3
                {
                    break;
                }
            }
        }
        removed.sort_by_key(|(pid, _)| *pid);
        assert_eq!(
            removed,
            [(old[0], Reason::NodeDown), (old[1], Reason::NodeDown)]
        );
    }
    eprintln!(
        "{gen}: fast restart of node 3 cleaned up after {:?}",
        t.elapsed()
    );
    for n in &nodes {
        n.node.leave().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g3_udpu_crash_and_restart() {
    timeout(
        Duration::from_secs(30),
        crash_and_restart(Generation::G3, port(34_000)),
    )
    .await
    .expect("crash/restart did not finish within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g1_udpu_three_nodes_same_order() {
    timeout(
        Duration::from_secs(30),
        run_ring(Generation::G1, port(44_000)),
    )
    .await
    .expect("G1 loopback ring did not finish within 30 s");
}

/// Flow control: more than the node queues (`driver::QUEUE_BYTES`) submitted before the
/// ring has formed. The submits past it are held (the CPG service, and with it every
/// sender, waits) instead of refused or dropped; once node 1's own ring forms, everything
/// is delivered, in order and intact.
async fn flow_control_holds_submitters(port: u16) {
    let n = start_one(Generation::G3, port, 1);
    let mut h = n.cpg.join(b"flow").await.unwrap();
    const BIG: usize = 60 * 1024;
    let count = 3 * driver::QUEUE_BYTES / BIG;
    let body = |i: usize| -> Vec<u8> { (0..BIG).map(|j| (i * 7 + j) as u8).collect() };
    // A burst of 3 x QUEUE_BYTES. Whether the one-node ring drains it as fast as it comes
    // depends on how the submitting task and the node loop are scheduled (a loaded
    // machine can interleave them perfectly), so up to three bursts are sent; the node
    // must hold back a submitter in one of them, and deliver every message in order.
    let mut held = 0;
    for burst in 0..3 {
        let mut acks = Vec::new();
        for i in 0..count {
            acks.push(h.mcast_queued(body(i)).await.unwrap());
        }
        for a in acks {
            a.await.unwrap().unwrap();
        }
        let mut got = 0;
        while got < count {
            match h.recv().await {
                Some(CpgEvent::Deliver { data, .. }) => {
                    assert_eq!(
                        data.len(),
                        BIG,
                        "burst {burst}: message {got} has the wrong size"
                    );
                    assert!(
                        data == body(got),
                        "burst {burst}: message {got} out of order or corrupted"
                    );
                    got += 1;
                }
                Some(_) => {}
                None => panic!("the CPG service stopped after {got} of {count} deliveries"),
            }
        }
        let s = n.node.status().await.unwrap();
        assert_eq!(s.driver.submit_too_large, 0);
        held = s.driver.submit_held;
        if held > 0 {
            break;
        }
    }
    assert!(
        held > 0,
        "three bursts of {count} x {BIG} bytes, yet no submit was held back"
    );
    n.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_control_holds_submitters_until_the_ring_drains() {
    timeout(
        Duration::from_secs(30),
        flow_control_holds_submitters(port(48_000)),
    )
    .await
    .expect("flow control test did not finish within 30 s");
}
