//! Runs a bridge over two real nodes: one Totem node and gateway executive per ring, the
//! [`Bridge`] between them, metrics on a local HTTP port.

use std::sync::Arc;
use std::time::Duration;

use totem::cpg::{CfgRekeyWatch, Cpg, ExecOptions};
use totem::driver::node::Spawned;
use totem::driver::NodeHandle;
use totem::node_config::{self, NodeConfig, Overrides};

use super::conf::BridgeConf;
use super::Bridge;

/// Why a bridge could not run.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("{path}: {reason}")]
    Ring { path: String, reason: String },
    #[error("{path}: no mrp section: the ring's nodes and the bridge must agree on its ring number (mrp {{ ring: N }})")]
    NoMrp { path: String },
    #[error(
        "both ring configurations say mrp ring {0}; every ring of the system needs its own number"
    )]
    SameRing(u32),
    #[error("metrics address {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("the node of ring {0} stopped")]
    NodeStopped(u32),
    #[error("WAN key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("WAN link: {0}")]
    Link(String),
}

pub(super) struct Side {
    pub(super) node: NodeHandle,
    pub(super) cpg: Cpg,
    pub(super) tap: totem::cpg::MrpTap,
    pub(super) task: tokio::task::JoinHandle<()>,
    pub(super) ring: u32,
}

/// A ring's error, naming its configuration file.
pub(super) fn ring_error(path: &std::path::Path, e: impl std::fmt::Display) -> BridgeError {
    BridgeError::Ring {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Reads a ring's corosync.conf.
pub(super) fn load_ring(path: &std::path::Path, ov: Overrides) -> Result<NodeConfig, BridgeError> {
    node_config::load(path, ov).map_err(|e| ring_error(path, e))
}

/// Starts our node in the ring of `cfg` (Totem and its driver): the executive's options
/// and the node, for the caller to start the executive over.
pub(super) fn spawn_node(
    path: &std::path::Path,
    cfg: NodeConfig,
) -> Result<(ExecOptions, Spawned), BridgeError> {
    let opts = ExecOptions::from_config(&cfg);
    let watch = Box::new(CfgRekeyWatch::new(cfg.generation));
    let spawned =
        totem::driver::spawn_watched(cfg, Some(watch)).map_err(|e| ring_error(path, e))?;
    Ok((opts, spawned))
}

/// Serves the metrics page on `addr`: the page to refresh, and the server task.
pub(super) async fn serve_page(
    addr: std::net::SocketAddr,
) -> Result<(Arc<std::sync::Mutex<String>>, tokio::task::JoinHandle<()>), BridgeError> {
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| BridgeError::Bind { addr, source })?;
    let page = Arc::new(std::sync::Mutex::new(String::new()));
    let server = tokio::spawn(crate::run::serve_metrics(l, page.clone()));
    Ok((page, server))
}

pub(super) fn start(path: &std::path::Path, nodeid: Option<u32>) -> Result<Side, BridgeError> {
    let ov = Overrides {
        generation: None,
        nodeid,
    };
    let cfg = load_ring(path, ov)?;
    let mrp = cfg.mrp.clone().ok_or(BridgeError::NoMrp {
        path: path.display().to_string(),
    })?;
    let (mut opts, (node, events, task)) = spawn_node(path, cfg)?;
    opts.mrp = None;
    let (cpg, tap) =
        Cpg::start_gateway(node.clone(), events, opts, &mrp).map_err(|e| ring_error(path, e))?;
    Ok(Side {
        node,
        cpg,
        tap,
        task,
        ring: mrp.ring,
    })
}

/// Hands side `side` its event `first` and what else its tap already holds (bounded).
fn feed(
    bridge: &mut Bridge,
    side: usize,
    tap: &mut totem::cpg::MrpTap,
    first: &totem::engine::Event,
) {
    bridge.handle_event(side, first);
    for _ in 0..4096 {
        match tap.try_recv() {
            Ok(e) => bridge.handle_event(side, &e),
            Err(_) => break,
        }
    }
}

/// Runs the bridge until `stop` resolves (then both nodes leave their rings).
pub async fn run(
    conf: BridgeConf,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), BridgeError> {
    if conf.wan.is_some() {
        return super::run_wan::run_wan(conf, stop).await;
    }
    if conf.mode == super::conf::Mode::Fifo {
        return super::run_fifo::run_fifo(conf, stop).await;
    }
    let a = start(&conf.rings[0], conf.nodeid)?;
    let b = start(&conf.rings[1], conf.nodeid)?;
    if a.ring == b.ring {
        return Err(BridgeError::SameRing(a.ring));
    }
    let (page, server) = serve_page(conf.metrics).await?;
    let mut bridge = Bridge::new(
        (a.ring, a.cpg.nodeid()),
        (b.ring, b.cpg.nodeid()),
        conf.selective,
    );
    tracing::info!(
        rings = ?[a.ring, b.ring],
        nodeids = ?[a.cpg.nodeid(), b.cpg.nodeid()],
        selective = conf.selective,
        metrics = %conf.metrics,
        "multiple-ring bridge running"
    );
    let mut sides = [a, b];
    let mut refresh = tokio::time::interval(Duration::from_millis(250));
    tokio::pin!(stop);
    let result = loop {
        let [sa, sb] = &mut sides;
        tokio::select! {
            () = &mut stop => break Ok(()),
            _ = &mut sa.task => break Err(BridgeError::NodeStopped(sa.ring)),
            _ = &mut sb.task => break Err(BridgeError::NodeStopped(sb.ring)),
            e = sa.tap.recv() => {
                let Some(e) = e else { break Err(BridgeError::NodeStopped(sa.ring)) };
                feed(&mut bridge, 0, &mut sa.tap, &e);
            }
            e = sb.tap.recv() => {
                let Some(e) = e else { break Err(BridgeError::NodeStopped(sb.ring)) };
                feed(&mut bridge, 1, &mut sb.tap, &e);
            }
            _ = refresh.tick() => {
                let st = [bridge.side(0), bridge.side(1)];
                let text = super::metrics::render(bridge.connected(), &st, bridge.delivered());
                if let Ok(mut p) = page.lock() {
                    *p = text;
                }
            }
        }
        for (i, s) in sides.iter().enumerate() {
            let batch: Vec<Vec<u8>> = std::iter::from_fn(|| bridge.poll_ring(i)).collect();
            if !batch.is_empty() {
                if let Err(e) = s.cpg.mrp_submit(batch).await {
                    tracing::warn!(ring = s.ring, error = %e, "elements not submitted into the ring");
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
