//! A deterministic partitioned cluster of [`VoteQuorum`] instances: node up/down, network
//! splits and joins, clean leaves, admin operations. Every membership change resyncs the
//! affected partitions in one fixed order, the one corosync-vqsim (votequorum's own code)
//! produces with its sync timers staggered by membership position: every member starts the
//! sync, then in partition order each member composes its nodeinfo, activates (recalculates)
//! and its nodeinfo is delivered to all members. A started node first forms a ring of its own,
//! then merges into its partition.

use std::collections::BTreeMap;

use super::engine::VoteQuorum;
use super::error::QuorumError;
use super::events::Message;
use super::options::QuorumOptions;
use super::state::QuorumSnapshot;

/// Number of partitions (as in corosync-vqsim).
pub const MAX_PARTITIONS: usize = 16;

/// A simulated cluster sharing one configuration.
#[derive(Debug, Clone)]
pub struct Cluster {
    opts: QuorumOptions,
    nodes: BTreeMap<u32, VoteQuorum>,
    partitions: Vec<Vec<u32>>,
    /// The expected-votes barrier on disk (`ev_tracking` file), read by every starting node.
    /// votequorum 3.1.7 closes the file right after loading it, so its later writes fail and
    /// the stored value never changes from what was there at start-up (0 for a new state_dir).
    ev_store: u32,
    /// New nodes outside the nodelist take the first nodelist entry's votes (vqsim behaviour).
    unlisted_take_first_votes: bool,
}

impl Cluster {
    /// An empty cluster with configuration `opts`; no node is up.
    pub fn new(opts: QuorumOptions) -> Self {
        Cluster {
            opts,
            nodes: BTreeMap::new(),
            partitions: vec![Vec::new(); MAX_PARTITIONS],
            ev_store: 0,
            unlisted_take_first_votes: true,
        }
    }

    /// Starts every nodelist node in partition 0, one after another, as vqsim does at start-up.
    pub fn start_all(opts: QuorumOptions) -> Result<Self, QuorumError> {
        let mut c = Cluster::new(opts);
        let ids: Vec<u32> = c.opts.nodelist.iter().map(|n| n.nodeid).collect();
        for id in ids {
            c.up(id, 0)?;
        }
        Ok(c)
    }

    /// Sets the expected-votes barrier found on disk by nodes starting from now on.
    pub fn set_stored_ev_barrier(&mut self, barrier: u32) {
        self.ev_store = barrier;
    }

    /// Sets whether nodes not in the nodelist take the first entry's votes (default true).
    pub fn set_unlisted_take_first_votes(&mut self, on: bool) {
        self.unlisted_take_first_votes = on;
    }

    /// The configuration.
    pub fn options(&self) -> &QuorumOptions {
        &self.opts
    }

    fn check_partition(p: usize) -> Result<(), QuorumError> {
        if p >= MAX_PARTITIONS {
            return Err(QuorumError::BadPartition {
                partition: p,
                max: MAX_PARTITIONS - 1,
            });
        }
        Ok(())
    }

    /// Partition holding `nodeid`, if it is up.
    pub fn partition_of(&self, nodeid: u32) -> Option<usize> {
        self.partitions.iter().position(|p| p.contains(&nodeid))
    }

    /// Members of partition `p` in join order.
    pub fn partition(&self, p: usize) -> &[u32] {
        self.partitions.get(p).map_or(&[], |v| v.as_slice())
    }

    /// Brings `nodeid` up in partition `p` and resyncs that partition.
    pub fn up(&mut self, nodeid: u32, p: usize) -> Result<(), QuorumError> {
        Self::check_partition(p)?;
        if let Some(part) = self.partition_of(nodeid) {
            return Err(QuorumError::NodeAlreadyUp {
                nodeid,
                partition: part,
            });
        }
        let listed = self.opts.nodelist.iter().any(|n| n.nodeid == nodeid);
        let over = if !listed && self.unlisted_take_first_votes {
            self.opts.nodelist.first().map(|n| n.votes)
        } else {
            None
        };
        let mut vq = VoteQuorum::new(nodeid, &self.opts, over, self.ev_store)?;
        // A starting corosync node first forms a ring of its own: votequorum's exec_init
        // nodeinfo and the first sync reach only the node itself.
        let init_msg = vq.init_message();
        vq.sync_init(&[nodeid]);
        vq.deliver(nodeid, &init_msg);
        let msgs = vq.sync_messages();
        vq.sync_activate();
        for m in &msgs {
            vq.deliver(nodeid, m);
        }
        self.nodes.insert(nodeid, vq);
        let alone = self.partition(p).is_empty();
        if let Some(part) = self.partitions.get_mut(p) {
            part.push(nodeid);
        }
        if !alone {
            self.sync_partition(p);
        }
        self.settle_timers();
        Ok(())
    }

    /// Kills `nodeid` (no clean leave) and resyncs its partition.
    pub fn down(&mut self, nodeid: u32) -> Result<(), QuorumError> {
        let p = self
            .partition_of(nodeid)
            .ok_or(QuorumError::NodeNotUp { nodeid })?;
        self.remove(nodeid, p);
        self.sync_partition(p);
        self.settle_timers();
        Ok(())
    }

    /// Clean shutdown of `nodeid`: its leave message (allow_downscale) reaches its partition first.
    pub fn leave(&mut self, nodeid: u32) -> Result<(), QuorumError> {
        let p = self
            .partition_of(nodeid)
            .ok_or(QuorumError::NodeNotUp { nodeid })?;
        let msg = self.nodes.get_mut(&nodeid).and_then(|n| n.leave());
        if let Some(m) = msg {
            self.multicast(p, nodeid, &m);
        }
        self.remove(nodeid, p);
        self.sync_partition(p);
        self.settle_timers();
        Ok(())
    }

    fn remove(&mut self, nodeid: u32, p: usize) {
        if let Some(part) = self.partitions.get_mut(p) {
            part.retain(|&n| n != nodeid);
        }
        self.nodes.remove(&nodeid);
    }

    /// Moves `nodes` into partition `p` (a network split) and resyncs every partition.
    pub fn split(&mut self, p: usize, nodes: &[u32]) -> Result<(), QuorumError> {
        Self::check_partition(p)?;
        for &n in nodes {
            let from = self
                .partition_of(n)
                .ok_or(QuorumError::NodeNotUp { nodeid: n })?;
            if let Some(part) = self.partitions.get_mut(from) {
                part.retain(|&x| x != n);
            }
            if let Some(part) = self.partitions.get_mut(p) {
                part.push(n);
            }
        }
        self.sync_all();
        Ok(())
    }

    /// Merges partition `from` into `into` (heals a split) and resyncs every partition.
    pub fn join(&mut self, into: usize, from: usize) -> Result<(), QuorumError> {
        Self::check_partition(into)?;
        Self::check_partition(from)?;
        if into != from {
            let moved = std::mem::take(&mut self.partitions[from]);
            self.partitions[into].extend(moved);
        }
        self.sync_all();
        Ok(())
    }

    fn sync_all(&mut self) {
        for p in 0..MAX_PARTITIONS {
            self.sync_partition(p);
        }
        self.settle_timers();
    }

    fn multicast(&mut self, p: usize, sender: u32, msg: &Message) {
        let members = self.partition(p).to_vec();
        for m in members {
            if let Some(n) = self.nodes.get_mut(&m) {
                n.deliver(sender, msg);
            }
        }
    }

    /// Resyncs partition `p` (a new ring with its current members).
    fn sync_partition(&mut self, p: usize) {
        let members = self.partition(p).to_vec();
        if members.is_empty() {
            return;
        }
        for m in &members {
            if let Some(n) = self.nodes.get_mut(m) {
                n.sync_init(&members);
            }
        }
        // Members take their turn in partition order: each composes its nodeinfo (having
        // received those of every member before it), activates at once, and its nodeinfo
        // reaches every member before the next one's turn.
        for m in &members {
            let msgs = match self.nodes.get_mut(m) {
                Some(n) => {
                    let msgs = n.sync_messages();
                    n.sync_activate();
                    msgs
                }
                None => continue,
            };
            for msg in msgs {
                self.multicast(p, *m, &msg);
            }
        }
    }

    /// Lets every armed last_man_standing window expire (time passes beyond the window).
    pub fn settle_timers(&mut self) {
        for n in self.nodes.values_mut() {
            n.fire_lms_timer();
        }
    }

    /// Admin: set expected votes from node `via`; the change reaches `via`'s partition.
    pub fn set_expected_votes(&mut self, via: u32, expected: u32) -> Result<(), QuorumError> {
        let p = self
            .partition_of(via)
            .ok_or(QuorumError::NodeNotUp { nodeid: via })?;
        let msg = self
            .nodes
            .get_mut(&via)
            .ok_or(QuorumError::NodeNotUp { nodeid: via })?
            .set_expected_votes(expected)?;
        self.multicast(p, via, &msg);
        Ok(())
    }

    /// Admin: set `nodeid`'s votes from node `via`.
    pub fn set_node_votes(&mut self, via: u32, nodeid: u32, votes: u32) -> Result<(), QuorumError> {
        let p = self
            .partition_of(via)
            .ok_or(QuorumError::NodeNotUp { nodeid: via })?;
        let msg = self
            .nodes
            .get_mut(&via)
            .ok_or(QuorumError::NodeNotUp { nodeid: via })?
            .set_node_votes(nodeid, votes)?;
        self.multicast(p, via, &msg);
        Ok(())
    }

    /// Admin: cancel wait_for_all from node `via`.
    pub fn cancel_wait_for_all(&mut self, via: u32) -> Result<(), QuorumError> {
        let p = self
            .partition_of(via)
            .ok_or(QuorumError::NodeNotUp { nodeid: via })?;
        let msg = self
            .nodes
            .get(&via)
            .ok_or(QuorumError::NodeNotUp { nodeid: via })?
            .cancel_wait_for_all();
        self.multicast(p, via, &msg);
        Ok(())
    }

    /// The instance of node `nodeid`, if up.
    pub fn node(&self, nodeid: u32) -> Option<&VoteQuorum> {
        self.nodes.get(&nodeid)
    }

    /// Mutable instance of node `nodeid` (for device operations), if up.
    pub fn node_mut(&mut self, nodeid: u32) -> Option<&mut VoteQuorum> {
        self.nodes.get_mut(&nodeid)
    }

    /// Multicasts `msg` from `sender` to its partition (for device operations' nodeinfo).
    pub fn send_from(&mut self, sender: u32, msg: &Message) -> Result<(), QuorumError> {
        let p = self
            .partition_of(sender)
            .ok_or(QuorumError::NodeNotUp { nodeid: sender })?;
        self.multicast(p, sender, msg);
        Ok(())
    }

    /// Snapshot of node `nodeid`, if up.
    pub fn snapshot(&self, nodeid: u32) -> Option<QuorumSnapshot> {
        self.nodes.get(&nodeid).map(|n| n.snapshot())
    }

    /// Snapshots of all up nodes, ascending node id.
    pub fn snapshots(&self) -> Vec<QuorumSnapshot> {
        self.nodes.values().map(|n| n.snapshot()).collect()
    }
}
