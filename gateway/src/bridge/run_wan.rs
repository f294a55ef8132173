//! Runs a WAN gateway: one node of this site's ring, the [`WanPort`] over it, and the link
//! to the other site's gateway.

use std::time::Duration;

use super::conf::BridgeConf;
use super::run::{serve_page, start, BridgeError};
use super::wan::{self, LinkConf, LinkEvent};
use super::wan_port::WanPort;

pub(super) async fn run_wan(
    conf: BridgeConf,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), BridgeError> {
    let Some(w) = conf.wan.clone() else {
        return Err(BridgeError::Link("no wan section".into()));
    };
    let key = std::fs::read(&w.key).map_err(|e| BridgeError::Key {
        path: w.key.display().to_string(),
        reason: e.to_string(),
    })?;
    if key.len() < 16 {
        return Err(BridgeError::Key {
            path: w.key.display().to_string(),
            reason: format!("{} bytes; an authkey has at least 16", key.len()),
        });
    }
    let mut side = start(&conf.rings[0], conf.nodeid)?;
    let (page, server) = serve_page(conf.metrics).await?;
    let (link_tx, mut link_rx, link_task) = wan::spawn(LinkConf {
        role: w.role,
        key,
        ring: side.ring,
        heartbeat: Duration::from_millis(w.heartbeat_ms),
        dead_after: Duration::from_millis(w.dead_ms),
        backoff: (Duration::from_millis(100), Duration::from_secs(5)),
    });
    let mut port = WanPort::new(
        side.ring,
        side.cpg.nodeid(),
        conf.selective,
        w.groups.clone(),
    );
    tracing::info!(
        ring = side.ring,
        nodeid = side.cpg.nodeid(),
        link = ?w.role,
        metrics = %conf.metrics,
        "multiple-ring WAN gateway running"
    );
    let mut refresh = tokio::time::interval(Duration::from_millis(250));
    let mut refused_logged = false;
    let mut quiet = tokio::time::interval(Duration::from_secs(10));
    tokio::pin!(stop);
    let result = loop {
        tokio::select! {
            () = &mut stop => break Ok(()),
            _ = &mut side.task => break Err(BridgeError::NodeStopped(side.ring)),
            e = side.tap.recv() => {
                let Some(e) = e else { break Err(BridgeError::NodeStopped(side.ring)) };
                port.handle_event(&e);
                for _ in 0..4096 {
                    match side.tap.try_recv() {
                        Ok(e) => port.handle_event(&e),
                        Err(_) => break,
                    }
                }
            }
            ev = link_rx.recv() => {
                let Some(ev) = ev else { break Err(BridgeError::Link("the link task ended".into())) };
                match ev {
                    LinkEvent::Up { epoch, peer_ring } => {
                        tracing::info!(epoch, peer_ring, "WAN link to the other site up");
                        port.up(epoch);
                    }
                    LinkEvent::Down { epoch, reason } => {
                        tracing::warn!(epoch, %reason, "WAN link to the other site down: each site goes on alone");
                        port.down(epoch);
                    }
                    LinkEvent::Msg { epoch, msg } => port.message(epoch, msg),
                    LinkEvent::Refused { reason } => {
                        port.refused();
                        // One line per interval, not one per attempt.
                        if !refused_logged {
                            refused_logged = true;
                            tracing::warn!(%reason, "WAN connection refused (further ones this interval only counted)");
                        }
                    }
                }
            }
            _ = quiet.tick() => refused_logged = false,
            _ = refresh.tick() => {
                let st = [port.side()];
                let mut text = super::metrics::render(port.link_up(), &st, [port.delivered(), 0]);
                text += &super::metrics::render_link(&port.stats);
                if let Ok(mut p) = page.lock() {
                    *p = text;
                }
            }
        }
        while let Some(m) = port.poll_link() {
            // Bounded: a slow WAN holds the gateway here.
            if link_tx.send(m).await.is_err() {
                break;
            }
        }
        let batch: Vec<Vec<u8>> = std::iter::from_fn(|| port.poll_ring()).collect();
        if !batch.is_empty() {
            if let Err(e) = side.cpg.mrp_submit(batch).await {
                tracing::warn!(ring = side.ring, error = %e, "elements not submitted into the ring");
            }
        }
    };
    link_task.abort();
    server.abort();
    let _ = side.node.leave().await;
    result
}
