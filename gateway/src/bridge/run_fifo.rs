//! Runs a FIFO bridge between two rings of corosync daemons: our node in each ring, a
//! listener per bridged group on each side, and the proxies the [`FifoBridge`] asks for.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;
use totem::cpg::{Cpg, CpgError, CpgEvent, CpgSender, Process};
use totem::driver::{NodeError, NodeHandle};
use totem::node_config::Overrides;

use super::conf::BridgeConf;
use super::fifo::{Action, FifoBridge};
use super::run::{load_ring, ring_error, serve_page, spawn_node, BridgeError};

struct Plain {
    node: NodeHandle,
    cpg: Cpg,
    task: tokio::task::JoinHandle<()>,
}

fn start_plain(path: &std::path::Path, conf: &BridgeConf) -> Result<Plain, BridgeError> {
    let ov = Overrides {
        generation: conf.generation,
        nodeid: conf.nodeid,
    };
    let (opts, (node, events, task)) = spawn_node(path, load_ring(path, ov)?)?;
    let cpg = Cpg::start_with(node.clone(), events, opts).map_err(|e| ring_error(path, e))?;
    Ok(Plain { node, cpg, task })
}

/// Multicasts through a proxy, waiting while the node's queues are full (bounded).
async fn send(s: &CpgSender, data: Vec<u8>) -> Result<(), CpgError> {
    let mut tries = 0;
    loop {
        match s.mcast(data.clone()).await {
            Err(CpgError::Node(NodeError::BacklogFull(_))) if tries < 2000 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            r => return r,
        }
    }
}

type Proxies = HashMap<(usize, Vec<u8>, Process), CpgSender>;

async fn apply(sides: &[Plain; 2], proxies: &mut Proxies, a: Action) {
    match a {
        Action::Join { side, group, far } => match sides[side].cpg.join(&group).await {
            Ok(h) => {
                // A proxy only sends: its events are not kept.
                let (sender, _events) = h.split();
                tracing::info!(side, group = %String::from_utf8_lossy(&group), far = ?far, pid = sender.pid(), "proxy joined");
                proxies.insert((side, group, far), sender);
            }
            Err(e) => tracing::warn!(side, error = %e, "proxy could not join"),
        },
        Action::Leave { side, group, far } => {
            if let Some(s) = proxies.remove(&(side, group, far)) {
                if let Err(e) = s.leave().await {
                    tracing::warn!(side, error = %e, "proxy could not leave");
                }
            }
        }
        Action::Mcast {
            side,
            group,
            far,
            data,
        } => match proxies.get(&(side, group, far)) {
            Some(s) => {
                if let Err(e) = send(s, data).await {
                    tracing::warn!(side, error = %e, "message not forwarded");
                }
            }
            None => tracing::warn!(side, far = ?far, "no proxy for a forwarded message's sender"),
        },
    }
}

pub(super) async fn run_fifo(
    conf: BridgeConf,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), BridgeError> {
    let sides = [
        start_plain(&conf.rings[0], &conf)?,
        start_plain(&conf.rings[1], &conf)?,
    ];
    let (page, server) = serve_page(conf.metrics).await?;
    let gw = [sides[0].cpg.nodeid(), sides[1].cpg.nodeid()];
    let mut core = FifoBridge::new(gw, &conf.groups);
    let (etx, mut erx) = mpsc::unbounded_channel::<(usize, Vec<u8>, CpgEvent)>();
    let mut listeners = Vec::new();
    for (side, s) in sides.iter().enumerate() {
        for g in &conf.groups {
            let h = s.cpg.join(g).await.map_err(|e| {
                ring_error(
                    &conf.rings[side],
                    format!("joining {}: {e}", String::from_utf8_lossy(g)),
                )
            })?;
            let (sender, mut rx) = h.split();
            let etx = etx.clone();
            let group = g.clone();
            tokio::spawn(async move {
                while let Some(ev) = rx.recv().await {
                    if etx.send((side, group.clone(), ev)).is_err() {
                        break;
                    }
                }
            });
            listeners.push(sender);
        }
    }
    tracing::info!(
        nodeids = ?gw,
        groups = ?conf.groups.iter().map(|g| String::from_utf8_lossy(g).into_owned()).collect::<Vec<_>>(),
        metrics = %conf.metrics,
        "FIFO bridge running (per-sender order, groups mirrored)"
    );
    let mut proxies: Proxies = HashMap::new();
    let mut refresh = tokio::time::interval(Duration::from_millis(250));
    tokio::pin!(stop);
    let result = loop {
        tokio::select! {
            () = &mut stop => break Ok(()),
            ev = erx.recv() => {
                let Some((side, group, ev)) = ev else { break Err(BridgeError::NodeStopped(0)) };
                let actions = match ev {
                    CpgEvent::ConfChg { members, .. } => core.conf_chg(side, &group, &members),
                    CpgEvent::Deliver { nodeid, pid, data } => {
                        core.deliver(side, &group, Process { nodeid, pid }, data).into_iter().collect()
                    }
                    CpgEvent::Ring { .. } => Vec::new(),
                };
                for act in actions {
                    apply(&sides, &mut proxies, act).await;
                }
            }
            _ = refresh.tick() => {
                if sides.iter().any(|s| s.task.is_finished()) {
                    break Err(BridgeError::NodeStopped(u32::from(sides[1].task.is_finished())));
                }
                let text = super::metrics::render_fifo(&core, &proxies_per_group(&proxies));
                if let Ok(mut p) = page.lock() {
                    *p = text;
                }
            }
        }
    };
    server.abort();
    for s in &sides {
        let _ = s.node.leave().await;
    }
    result
}

/// Proxies per (side, group).
fn proxies_per_group(p: &Proxies) -> HashMap<(usize, Vec<u8>), usize> {
    let mut m = HashMap::new();
    for (side, g, _) in p.keys() {
        *m.entry((*side, g.clone())).or_insert(0) += 1;
    }
    m
}
