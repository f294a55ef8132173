//! A WAN gateway's core (sans-IO): one [`Port`] on this site's ring, its link to the other
//! site's gateway coming and going, and the per-group filter of what may cross.

use std::collections::BTreeSet;

use totem::engine::Event;
use totem::mrp::{Delivery, LinkMsg, Port};

use super::SideStatus;

/// Link counters of a WAN gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub ups: u64,
    pub downs: u64,
    /// Connection attempts refused before they came up (wrong key, a stranger).
    pub refused: u64,
    /// Groups the filter kept from crossing (names announced, by either side).
    pub filtered_groups: u64,
    /// Messages this site delivered alone during the last cut (reported, never merged
    /// into the other site's order).
    pub cut_delivered: u64,
}

/// The port and its link.
#[derive(Debug)]
pub struct WanPort {
    port: Port,
    /// The connection up now.
    epoch: Option<u64>,
    /// The port is joined to the connection `epoch`.
    joined: bool,
    /// What the peer sent before the port could join (it joins once its ring is synced).
    early: Vec<LinkMsg>,
    /// Groups that may cross (`None`: every group).
    allow: Option<BTreeSet<Vec<u8>>>,
    pub stats: LinkStats,
    delivered: u64,
    /// Deliveries when the link last went down.
    down_at: Option<u64>,
}

impl WanPort {
    /// The gateway of ring `ring` (nodeid `me` there); `allow` the groups that may cross.
    pub fn new(ring: u32, me: u32, selective: bool, allow: Option<Vec<Vec<u8>>>) -> Self {
        WanPort {
            port: Port::new(ring, me, selective),
            epoch: None,
            joined: false,
            early: Vec::new(),
            allow: allow.map(|g| g.into_iter().collect()),
            stats: LinkStats::default(),
            delivered: 0,
            down_at: None,
        }
    }

    pub fn link_up(&self) -> bool {
        self.joined
    }

    fn filter(&mut self, groups: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        let Some(allow) = &self.allow else {
            return groups;
        };
        let before = groups.len();
        let kept: Vec<Vec<u8>> = groups.into_iter().filter(|g| allow.contains(g)).collect();
        self.stats.filtered_groups += (before - kept.len()) as u64;
        kept
    }

    fn try_join(&mut self) {
        if self.joined || self.epoch.is_none() || !self.port.orderer().synced() {
            return;
        }
        self.joined = true;
        self.port.connect();
        for m in std::mem::take(&mut self.early) {
            self.port.handle_link(m);
        }
    }

    /// An event of this site's ring.
    pub fn handle_event(&mut self, ev: &Event) {
        self.port.handle_event(ev);
        while let Some(d) = self.port.poll_delivery() {
            if matches!(d, Delivery::Data { .. }) {
                self.delivered += 1;
            }
        }
        self.try_join();
    }

    /// Connection `epoch` is up.
    pub fn up(&mut self, epoch: u64) {
        if let Some(old) = self.epoch {
            self.down(old);
        }
        self.stats.ups += 1;
        if let Some(at) = self.down_at.take() {
            self.stats.cut_delivered = self.delivered - at;
            tracing::warn!(
                delivered_alone = self.stats.cut_delivered,
                "WAN link back after a cut: this site delivered these messages alone; they stay out of the other site's order"
            );
        }
        self.epoch = Some(epoch);
        self.early.clear();
        self.try_join();
    }

    /// Connection `epoch` is gone: the origins behind it leave the system.
    pub fn down(&mut self, epoch: u64) {
        if self.epoch != Some(epoch) {
            return;
        }
        self.stats.downs += 1;
        self.down_at = Some(self.delivered);
        self.epoch = None;
        self.early.clear();
        if self.joined {
            self.joined = false;
            self.port.disconnect();
        }
    }

    /// A connection attempt was refused before it came up.
    pub fn refused(&mut self) {
        self.stats.refused += 1;
    }

    /// A message of the peer on connection `epoch`.
    pub fn message(&mut self, epoch: u64, msg: LinkMsg) {
        if self.epoch != Some(epoch) {
            return;
        }
        let msg = match msg {
            LinkMsg::Groups(g) => LinkMsg::Groups(self.filter(g)),
            m => m,
        };
        if self.joined {
            self.port.handle_link(msg);
        } else if self.early.len() < 1 << 20 {
            self.early.push(msg);
        }
    }

    /// Next message for the peer, with the connection it is meant for.
    pub fn poll_link(&mut self) -> Option<(u64, LinkMsg)> {
        let epoch = self.epoch?;
        let m = self.port.poll_link()?;
        let m = match m {
            LinkMsg::Groups(g) => LinkMsg::Groups(self.filter(g)),
            m => m,
        };
        Some((epoch, m))
    }

    /// Next element to submit into this site's ring.
    pub fn poll_ring(&mut self) -> Option<Vec<u8>> {
        self.port.poll_ring()
    }

    /// What status and metrics show.
    pub fn side(&self) -> SideStatus {
        super::side_status(&self.port)
    }

    pub fn delivered(&self) -> u64 {
        self.delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use totem::engine::{ConfigKind, Guarantee};
    use totem::mrp::Orderer;
    use totem_wire::{RingId, RingRep};

    fn id(rep: u32) -> RingId {
        RingId {
            rep: RingRep::Node(rep),
            seq: 4,
        }
    }

    /// A ring of one node and the WAN port, delivered in agreed order.
    struct Site {
        id: RingId,
        node: Orderer,
        port: WanPort,
        gw: u32,
        seq: u32,
        delivered: Vec<Delivery>,
    }

    impl Site {
        fn new(ring: u32, node: u32, gw: u32, allow: Option<Vec<Vec<u8>>>) -> Site {
            let mut s = Site {
                id: id(node),
                node: Orderer::new(ring, node),
                port: WanPort::new(ring, gw, true, allow),
                gw,
                seq: 0,
                delivered: Vec::new(),
            };
            let ev = Event::Config {
                kind: ConfigKind::Regular,
                ring_id: s.id,
                members: vec![node, gw],
                left: Vec::new(),
                joined: Vec::new(),
            };
            s.node.handle_event(&ev);
            s.port.handle_event(&ev);
            s
        }
        fn submit(&mut self, sender: u32, b: Vec<u8>) {
            self.seq += 1;
            let ev = Event::Deliver {
                sender,
                payload: b,
                guarantee: Guarantee::Agreed,
                ring_id: self.id,
                seq: self.seq,
            };
            self.node.handle_event(&ev);
            self.port.handle_event(&ev);
            while let Some(d) = self.node.poll_delivery() {
                self.delivered.push(d);
            }
        }
        /// Runs the ring until quiet; returns what the port sends to the peer.
        fn settle(&mut self) -> Vec<(u64, LinkMsg)> {
            let mut link = Vec::new();
            for _ in 0..10_000 {
                let mut moved = false;
                while let Some(b) = self.node.poll_send() {
                    self.submit(self.node.nodeid(), b);
                    moved = true;
                }
                while let Some(b) = self.port.poll_ring() {
                    self.submit(self.gw, b);
                    moved = true;
                }
                while let Some(m) = self.port.poll_link() {
                    link.push(m);
                    moved = true;
                }
                if !moved {
                    return link;
                }
            }
            panic!("never settled");
        }
    }

    fn exchange(a: &mut Site, b: &mut Site, epoch: u64) {
        for _ in 0..1000 {
            let la = a.settle();
            let lb = b.settle();
            if la.is_empty() && lb.is_empty() {
                return;
            }
            for (e, m) in la {
                assert_eq!(e, epoch);
                b.port.message(epoch, m);
            }
            for (e, m) in lb {
                assert_eq!(e, epoch);
                a.port.message(epoch, m);
            }
        }
        panic!("the link never went quiet");
    }

    fn data(s: &Site) -> Vec<(u32, Vec<u8>)> {
        s.delivered
            .iter()
            .filter_map(|d| match d {
                Delivery::Data { key, payload, .. } => Some((key.origin, payload.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn two_sites_order_one_stream_and_filter_by_group() {
        let allow = Some(vec![b"g".to_vec()]);
        let mut a = Site::new(0, 1, 3, allow.clone());
        let mut b = Site::new(1, 11, 13, allow);
        a.settle();
        b.settle();
        a.port.up(1);
        b.port.up(1);
        assert!(a.port.link_up() && b.port.link_up());
        exchange(&mut a, &mut b, 1);
        for s in [&mut a, &mut b] {
            for g in [&b"g"[..], b"secret"] {
                let j = s.node.join(g);
                let me = s.node.nodeid();
                s.submit(me, j);
            }
        }
        exchange(&mut a, &mut b, 1);
        let m = a.node.data(b"g", b"across").unwrap();
        a.submit(1, m);
        let m = a.node.data(b"secret", b"stays").unwrap();
        a.submit(1, m);
        let m = b.node.data(b"g", b"back").unwrap();
        b.submit(11, m);
        exchange(&mut a, &mut b, 1);
        let (da, db) = (data(&a), data(&b));
        assert_eq!(
            db.len(),
            2,
            "the secret group's message never crossed: {db:?}"
        );
        assert!(db.contains(&(0, b"across".to_vec())));
        assert!(!db.iter().any(|(_, p)| p == b"stays"));
        let shared: Vec<_> = da.iter().filter(|(_, p)| p != b"stays").cloned().collect();
        assert_eq!(shared, db, "one order for what both sites deliver");
        assert!(a.port.stats.filtered_groups > 0);
    }

    #[test]
    fn a_cut_gives_each_site_its_own_order_and_the_merge_brings_one_back() {
        let mut a = Site::new(0, 1, 3, None);
        let mut b = Site::new(1, 11, 13, None);
        a.port.up(1);
        b.port.up(1);
        exchange(&mut a, &mut b, 1);
        for s in [&mut a, &mut b] {
            let j = s.node.join(b"g");
            let me = s.node.nodeid();
            s.submit(me, j);
        }
        exchange(&mut a, &mut b, 1);
        a.port.down(1);
        b.port.down(1);
        a.settle();
        b.settle();
        // Alone: each site delivers its own messages at once, waiting for nobody.
        let m = a.node.data(b"g", b"a alone").unwrap();
        a.submit(1, m);
        let m = b.node.data(b"g", b"b alone").unwrap();
        b.submit(11, m);
        a.settle();
        b.settle();
        assert_eq!(data(&a), vec![(0, b"a alone".to_vec())]);
        assert_eq!(data(&b), vec![(1, b"b alone".to_vec())]);
        // Healed: the peer's messages of the cut are not merged in; new ones are shared.
        a.port.up(2);
        b.port.up(2);
        exchange(&mut a, &mut b, 2);
        let m = a.node.data(b"g", b"after").unwrap();
        a.submit(1, m);
        exchange(&mut a, &mut b, 2);
        assert_eq!(data(&a).last(), Some(&(0, b"after".to_vec())));
        assert_eq!(data(&b).last(), Some(&(0, b"after".to_vec())));
        assert!(!data(&b).iter().any(|(_, p)| p == b"a alone"));
        assert_eq!(
            a.port.stats.cut_delivered, 1,
            "the gateway counts what its site delivered alone"
        );
    }
}
