//! One remote host: its links, the link policy's choice of active links, its receive window
//! and reassembly buffers (host.c `_host_dstcache_update_sync`).

use serde::{Deserialize, Serialize};
use totem_wire::knet::{DataHeader, DefragEvent, HostDefrag, MAX_LINK};

use super::link::Link;
use super::seqwin::{Map, SeqWindow};

/// How data is spread over a host's up links (corosync `link_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LinkPolicy {
    /// The up link with the highest priority (the lowest link number on a tie).
    #[default]
    Passive,
    /// Every up link (the receiver drops the copies by sequence number).
    Active,
    /// One up link per message, rotating.
    Rr,
}

/// What reassembly made of one data frame of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reassembly {
    /// A whole message: the frame's own payload, or the fragments it completed.
    Message(Vec<u8>),
    /// A fragment stored until the rest of its message arrives.
    Pending,
    /// A fragment of a message already reassembled (or given up), or one already held.
    Duplicate,
    /// Impossible fragment numbering or sizes (see [`DefragEvent::Invalid`]).
    Invalid(&'static str),
}

/// A remote host.
#[derive(Debug, Clone)]
pub struct Host {
    pub id: u16,
    pub links: Vec<Option<Link>>,
    pub policy: LinkPolicy,
    pub win: SeqWindow,
    pub defrag: HostDefrag,
    pub timed_rx_seq: u16,
    pub untimed_rx_seq: u16,
    pub got_data: bool,
    /// Link ids data goes over, in order (policy applied).
    pub active: Vec<u8>,
    pub reachable: bool,
}

impl Host {
    /// A host with no links yet.
    pub fn new(id: u16, policy: LinkPolicy) -> Self {
        Host {
            id,
            links: vec![None; usize::from(MAX_LINK)],
            policy,
            win: SeqWindow::default(),
            defrag: HostDefrag::default(),
            timed_rx_seq: 0,
            untimed_rx_seq: 0,
            got_data: false,
            active: Vec::new(),
            reachable: false,
        }
    }

    /// The link with id `id`.
    pub fn link_mut(&mut self, id: u8) -> Option<&mut Link> {
        self.links.get_mut(usize::from(id)).and_then(|l| l.as_mut())
    }

    /// The link a received control frame names (its id taken modulo [`super::MAX_LINK`]),
    /// if the frame came from that link's address.
    pub fn link_from(&mut self, id: u8, from: std::net::IpAddr) -> Option<&mut Link> {
        self.link_mut(id % MAX_LINK).filter(|l| l.addr.ip() == from)
    }

    /// Recomputes the active links after a link went up or down; returns whether
    /// reachability changed. An unreachable host's window and buffers are wiped.
    pub fn update_active(&mut self) -> bool {
        self.active.clear();
        let up = self.links.iter().flatten().filter(|l| l.connected);
        match self.policy {
            LinkPolicy::Passive => {
                let mut best: Option<&Link> = None;
                for l in up {
                    if best.is_none_or(|b| l.params.priority > b.params.priority) {
                        best = Some(l);
                    }
                }
                self.active.extend(best.map(|l| l.id));
            }
            LinkPolicy::Active | LinkPolicy::Rr => self.active.extend(up.map(|l| l.id)),
        }
        let reachable = !self.active.is_empty();
        if !reachable {
            self.win.clear(0);
            self.defrag.clear();
        }
        let changed = reachable != self.reachable;
        self.reachable = reachable;
        changed
    }

    /// Takes one data frame's header and payload through the receive window and reassembly
    /// (threads_rx.c: a sequence number whose reassembly already started, or finished, gets
    /// no new buffer; buffers behind the window are reclaimed first).
    pub fn reassemble(&mut self, dh: &DataHeader, payload: &[u8]) -> Reassembly {
        if dh.is_whole() {
            return Reassembly::Message(payload.to_vec());
        }
        if let Some(why) = dh.fragment_error() {
            return Reassembly::Invalid(why);
        }
        if !self.defrag.holds(dh.seq) {
            self.defrag.reclaim(self.win.rx_seq);
            if !self.win.lookup(dh.seq, Map::Defrag, false) {
                return Reassembly::Duplicate;
            }
            self.win.set(dh.seq, Map::Defrag);
        }
        match self.defrag.push(dh, payload) {
            DefragEvent::Complete(m) => Reassembly::Message(m.to_vec()),
            DefragEvent::Whole => Reassembly::Message(payload.to_vec()),
            DefragEvent::Pending => Reassembly::Pending,
            DefragEvent::Duplicate => Reassembly::Duplicate,
            DefragEvent::Invalid(why) => Reassembly::Invalid(why),
        }
    }

    /// The links one message goes over (rotating the list in rr mode).
    pub fn links_for_send(&mut self) -> Vec<u8> {
        match self.policy {
            LinkPolicy::Passive | LinkPolicy::Active => self.active.clone(),
            LinkPolicy::Rr => {
                let first = self.active.first().copied();
                if self.active.len() > 1 {
                    self.active.rotate_left(1);
                }
                first.into_iter().collect()
            }
        }
    }
}
