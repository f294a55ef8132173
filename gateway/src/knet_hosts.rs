//! The knet hosts a gateway plays, built on totem's sans-IO [`KnetLayer`]:
//!
//! - towards the local corosync 3 (`daemon_transport: knet`): one host per other node k,
//!   host id k, on k's shadow address, with one link to the daemon;
//! - towards a *direct* peer: a node that already restarted on the final corosync 3
//!   configuration (`plan --final`) and speaks knet on the ring addresses instead of G2.
//!   The gateway answers it as the local node (host id = our nodeid) on our ring sockets
//!   and carries its Totem messages to and from the local daemon unchanged (both are G3),
//!   so the final rolling restart is a rolling one too.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use totem::knet::{KnetConfig, KnetLayer, KnetSeal, LinkParams, LinkPolicy};
use totem_wire::envelope::knet::{key_from_file_contents, KnetCrypto, KnetCryptoConfig};

use crate::conf::{GatewayConf, Node};

/// Why a knet host could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnetHostError {
    #[error("knet crypto: {0}")]
    Crypto(String),
    #[error("nodeid {0} is above knet's 65535")]
    HostId(u32),
}

fn seal(crypto: &KnetCryptoConfig, key: &[u8]) -> Result<KnetSeal, KnetHostError> {
    let bad = |e: String| KnetHostError::Crypto(e);
    if !crypto.is_enabled() {
        return Ok(KnetSeal::clear());
    }
    let key = key_from_file_contents(key).map_err(|e| bad(e.to_string()))?;
    Ok(KnetSeal::crypto(
        KnetCrypto::new(*crypto, key).map_err(|e| bad(e.to_string()))?,
    ))
}

fn host(n: u32) -> Result<u16, KnetHostError> {
    u16::try_from(n).map_err(|_| KnetHostError::HostId(n))
}

/// A knet handle of host `me` with one remote host `peer` on `links`, sealed with `crypto`.
fn one_peer(
    me: u32,
    peer: u32,
    links: totem::knet::layer::HostLinks,
    crypto: &KnetCryptoConfig,
    key: &[u8],
    now: Instant,
) -> Result<KnetLayer, KnetHostError> {
    let seal = seal(crypto, key)?;
    let ipv6 = links.first().is_some_and(|(_, a, _)| a.is_ipv6());
    let data_mtu = seal.data_mtu(1500, ipv6);
    Ok(KnetLayer::new(
        KnetConfig {
            host_id: host(me)?,
            policy: LinkPolicy::Passive,
            hosts: vec![(host(peer)?, links)],
            data_mtu,
        },
        seal,
        now,
    ))
}

/// Knet host `k` facing the local daemon (host `conf.nodeid`) on one link.
pub fn towards_daemon(
    conf: &GatewayConf,
    k: u32,
    crypto: &KnetCryptoConfig,
    token: Duration,
    key: &[u8],
    now: Instant,
) -> Result<KnetLayer, KnetHostError> {
    let links = vec![(0, conf.daemon(), LinkParams::corosync_defaults(token))];
    one_peer(k, conf.nodeid, links, crypto, key, now)
}

/// Our node as a knet host facing direct peer `peer`: link 0 on its ring 0 address, link 1
/// on its ring 1 address (a redundant ring became two knet links), the final crypto.
pub fn towards_direct_peer(
    conf: &GatewayConf,
    peer: &Node,
    crypto: &KnetCryptoConfig,
    token: Duration,
    key: &[u8],
    now: Instant,
) -> Result<KnetLayer, KnetHostError> {
    let params = LinkParams::corosync_defaults(token);
    let mut links = vec![(0, SocketAddr::new(peer.ring0, conf.ring_port), params)];
    if let Some(r1) = peer.ring1 {
        links.push((1, SocketAddr::new(r1, conf.ring1_port), params));
    }
    one_peer(conf.nodeid, peer.nodeid, links, crypto, key, now)
}

/// Whether `layer` took `dgram` as a knet datagram of its host (it opened and parsed:
/// no refusal was counted for it).
pub fn accepted(layer: &KnetLayer, before: &totem::knet::KnetStats) -> bool {
    let s = layer.stats();
    s.rx_open_errors == before.rx_open_errors
        && s.rx_malformed == before.rx_malformed
        && s.rx_unknown_host == before.rx_unknown_host
        && s.rx_wrong_link == before.rx_wrong_link
}
