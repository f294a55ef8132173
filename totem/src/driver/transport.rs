//! UDP sockets of a node, as corosync's udpu and udp transports lay them out.
//!
//! * udpu: one socket on own-address:mcastport receives everything and sends tokens; a
//!   second socket on own-address:0 (ephemeral port) sends "multicasts" as one unicast per
//!   configured member. The engine processes its own multicasts internally, so ours are not
//!   sent to ourselves.
//! * udp: a socket on mcastaddr:mcastport receives the multicasts, a socket on
//!   own-address:mcastport receives tokens, and one socket on own-address:mcastport−1 sends
//!   both, with IP_MULTICAST_LOOP off, the configured TTL and the own interface selected.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::UdpSocket;

use super::transport_config::TransportConfig;
use crate::node_config::TransportKind;

/// Largest datagram we read.
pub const RECV_BUF: usize = 65_536 + 512;

/// The bound sockets and address book of one node.
#[derive(Debug)]
pub struct Transport {
    kind: TransportKind,
    /// udpu: receive + token send; udp: token receive.
    pub(crate) unicast: UdpSocket,
    /// udpu: ephemeral mcast sender; udp: mcastport−1 sender of everything.
    sender: UdpSocket,
    /// udp only: the multicast group receiver.
    pub(crate) group: Option<UdpSocket>,
    group_dest: Option<SocketAddr>,
    /// Every configured member but us (udpu "multicast" targets).
    others: Vec<SocketAddr>,
    /// nodeid → address:port from the nodelist.
    book: HashMap<u32, SocketAddr>,
    /// nodeid → address:port learned from received datagrams (G1/G2 without nodeids).
    learned: HashMap<u32, SocketAddr>,
    /// IPs of configured members (block_unlisted_ips).
    listed: HashSet<IpAddr>,
    port: u16,
    own_scope: u32,
}

fn sockaddr(ip: IpAddr, port: u16, scope: u32) -> SocketAddr {
    match ip {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V4(v4), port),
        IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, scope)),
    }
}

fn raw(addr: SocketAddr, reuse: bool, bufsize: usize) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if reuse {
        s.set_reuse_address(true)?;
    }
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // The kernel may clamp these to net.core.[rw]mem_max; that is not an error.
    let _ = s.set_recv_buffer_size(bufsize);
    let _ = s.set_send_buffer_size(bufsize);
    s.set_nonblocking(true)?;
    Ok(s)
}

fn bound(addr: SocketAddr, reuse: bool, bufsize: usize) -> io::Result<UdpSocket> {
    let s = raw(addr, reuse, bufsize)?;
    s.bind(&SockAddr::from(addr))
        .map_err(|e| io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
    UdpSocket::from_std(s.into())
}

impl Transport {
    /// Binds the sockets `cfg` describes.
    pub fn bind(cfg: &TransportConfig) -> io::Result<Self> {
        let port = cfg.port;
        let own = sockaddr(cfg.bind_addr, port, cfg.scope_id);
        let buf = cfg.socket_buffer;
        let scope_of = |ip: IpAddr, s: u32| {
            if s == 0 && matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local()) {
                cfg.scope_id
            } else {
                s
            }
        };
        let mut book = HashMap::new();
        let mut others = Vec::new();
        let mut listed = HashSet::new();
        for n in &cfg.nodes {
            let a = sockaddr(n.addr, port, scope_of(n.addr, n.scope_id));
            listed.insert(n.addr);
            if n.nodeid != 0 {
                book.insert(n.nodeid, a);
            }
            if n.addr != cfg.bind_addr {
                others.push(a);
            }
        }
        let (unicast, sender, group, group_dest) = match cfg.kind {
            TransportKind::Knet => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "knet sockets are bound by driver::knet::KnetNet",
                ))
            }
            TransportKind::Udpu => {
                let unicast = bound(own, false, buf)?;
                let sender = bound(sockaddr(cfg.bind_addr, 0, cfg.scope_id), false, buf)?;
                (unicast, sender, None, None)
            }
            TransportKind::Udp => {
                let maddr = cfg.mcastaddr.ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "udp transport without mcastaddr",
                    )
                })?;
                let unicast = bound(own, true, buf)?;
                let gaddr = sockaddr(maddr, port, 0);
                let g = raw(gaddr, true, buf)?;
                g.bind(&SockAddr::from(gaddr))
                    .map_err(|e| io::Error::new(e.kind(), format!("bind {gaddr}: {e}")))?;
                let s = raw(own, true, buf)?;
                let send_addr = sockaddr(cfg.bind_addr, port - 1, cfg.scope_id);
                s.bind(&SockAddr::from(send_addr))
                    .map_err(|e| io::Error::new(e.kind(), format!("bind {send_addr}: {e}")))?;
                match (maddr, cfg.bind_addr) {
                    (IpAddr::V4(m), IpAddr::V4(me)) => {
                        g.join_multicast_v4(&m, &me)?;
                        s.set_multicast_loop_v4(false)?;
                        s.set_multicast_ttl_v4(cfg.ttl)?;
                        s.set_multicast_if_v4(&me)?;
                    }
                    (IpAddr::V6(m), IpAddr::V6(_)) => {
                        let ifindex = cfg.scope_id;
                        g.join_multicast_v6(&m, ifindex)?;
                        s.set_multicast_loop_v6(false)?;
                        s.set_multicast_hops_v6(cfg.ttl)?;
                        s.set_multicast_if_v6(ifindex)?;
                    }
                    _ => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "mcastaddr and the node address are of different families",
                        ))
                    }
                }
                let sender = UdpSocket::from_std(s.into())?;
                let group = UdpSocket::from_std(g.into())?;
                (
                    unicast,
                    sender,
                    Some(group),
                    Some(sockaddr(maddr, port, cfg.scope_id)),
                )
            }
        };
        Ok(Transport {
            kind: cfg.kind,
            unicast,
            sender,
            group,
            group_dest,
            others,
            book,
            learned: HashMap::new(),
            listed,
            port,
            own_scope: cfg.scope_id,
        })
    }

    /// The transport kind.
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// The address the unicast socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.unicast.local_addr()
    }

    /// Whether `ip` is a configured member's address.
    pub fn is_listed(&self, ip: IpAddr) -> bool {
        self.listed.contains(&ip) || self.listed.is_empty()
    }

    /// Records that `nodeid` sends from `src` (used when the nodelist has no id for it).
    pub fn learn(&mut self, nodeid: u32, src: SocketAddr) {
        if nodeid != 0 && !self.book.contains_key(&nodeid) {
            let a = sockaddr(src.ip(), self.port, self.own_scope);
            self.learned.insert(nodeid, a);
        }
    }

    /// Where datagrams for `nodeid` go.
    pub fn addr_of(&self, nodeid: u32) -> Option<SocketAddr> {
        self.book
            .get(&nodeid)
            .or_else(|| self.learned.get(&nodeid))
            .copied()
    }

    /// Sends a multicast; returns (datagrams sent, errors).
    pub async fn send_all(&self, bytes: &[u8]) -> (u64, u64) {
        let mut ok = 0;
        let mut err = 0;
        match self.group_dest {
            Some(g) => match self.sender.send_to(bytes, g).await {
                Ok(_) => ok += 1,
                Err(e) => {
                    err += 1;
                    tracing::debug!(dest = %g, error = %e, "multicast send failed");
                }
            },
            None => {
                for d in &self.others {
                    match self.sender.send_to(bytes, *d).await {
                        Ok(_) => ok += 1,
                        Err(e) => {
                            err += 1;
                            tracing::debug!(dest = %d, error = %e, "udpu send failed");
                        }
                    }
                }
            }
        }
        (ok, err)
    }

    /// Sends to one node's address.
    pub async fn send_to(&self, dest: SocketAddr, bytes: &[u8]) -> io::Result<()> {
        let sock = match self.kind {
            TransportKind::Udpu | TransportKind::Knet => &self.unicast,
            TransportKind::Udp => &self.sender,
        };
        sock.send_to(bytes, dest).await.map(|_| ())
    }
}
