//! What the sockets of a node need to know, and nothing else: built from a [`NodeConfig`]
//! in one place ([`TransportConfig::from_node_config`]), so that a transport can be set up
//! for something that is not a corosync member (a gateway) without a whole node config.

use std::net::IpAddr;

use crate::knet::LinkPolicy;
use crate::node_config::{KnetLinkConfig, NodeConfig, NodeEntry, TransportKind};

/// Addresses, ports, interfaces, MTU and TTL of one node's transport.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    pub kind: TransportKind,
    /// Our nodeid (knet host id; the entry of ours in `nodes`).
    pub nodeid: u32,
    /// Our address on ring/link 0.
    pub bind_addr: IpAddr,
    /// Interface index for IPv6 link-local addresses (0: none).
    pub scope_id: u32,
    /// udp: the multicast group.
    pub mcastaddr: Option<IpAddr>,
    /// udp/udpu: the port (`mcastport`).
    pub port: u16,
    /// udp: multicast TTL / hop limit.
    pub ttl: u32,
    /// Socket receive/send buffer bytes.
    pub socket_buffer: usize,
    /// Every node of the nodelist, ours included: nodeid and addresses per link.
    pub nodes: Vec<NodeEntry>,
    /// knet: the links (number, port, parameters).
    pub knet_links: Vec<KnetLinkConfig>,
    /// knet: the link MTU (`knet_mtu`; 0: 1500).
    pub knet_mtu: u32,
    /// knet: how the link to send on is chosen.
    pub link_mode: LinkPolicy,
}

impl TransportConfig {
    /// The transport part of a node's configuration.
    pub fn from_node_config(cfg: &NodeConfig) -> Self {
        TransportConfig {
            kind: cfg.transport,
            nodeid: cfg.nodeid,
            bind_addr: cfg.bind_addr,
            scope_id: cfg.scope_id,
            mcastaddr: cfg.mcastaddr,
            port: cfg.mcastport,
            ttl: cfg.ttl,
            socket_buffer: cfg.socket_buffer,
            nodes: cfg.nodes.clone(),
            knet_links: cfg.knet.links.clone(),
            knet_mtu: cfg.knet.knet_mtu,
            link_mode: cfg.knet.link_mode,
        }
    }

    /// Ring 1's transport (the redundant ring protocol's second ring), if configured: the
    /// same kind, ring 1's addresses, group and port.
    pub fn for_ring1(cfg: &NodeConfig) -> Option<Self> {
        let r1 = cfg.ring1.as_ref()?;
        cfg.rrp?;
        Some(TransportConfig {
            bind_addr: r1.bind_addr,
            scope_id: r1.scope_id,
            mcastaddr: r1.mcastaddr,
            port: r1.mcastport,
            ttl: r1.ttl,
            nodes: r1.nodes.clone(),
            knet_links: Vec::new(),
            ..Self::from_node_config(cfg)
        })
    }

    /// Our nodelist entry (nodeid 0 is never one).
    pub fn node(&self, nodeid: u32) -> Option<&NodeEntry> {
        self.nodes
            .iter()
            .find(|n| n.nodeid == nodeid && nodeid != 0)
    }
}
