//! The sync-time messages we send, encoded with `totem_wire`: service_build and barrier
//! (group "sync"), the cmap config_version item, the CPG downlist and votequorum nodeinfo
//! (group "a").

use totem_wire::service::cmap::{self, ByteSlot, CmapItem, CmapMcast};
use totem_wire::service::cpg::{self, CpgMessage, Downlist};
use totem_wire::service::sync::{self, RingMessage, ServiceBuild, SyncMessage};
use totem_wire::service::votequorum::{self, NodeInfo, VotequorumMessage};
use totem_wire::service::ServiceHeader;
use totem_wire::{Generation, RingId};

/// The cmap key whose value every node sends in its CMAP sync message.
pub const CONFIG_VERSION_KEY: &[u8] = b"totem.config_version";

fn bytes(len: usize, emit: impl FnOnce(&mut [u8]) -> totem_wire::Result<usize>) -> Vec<u8> {
    let mut b = vec![0u8; len];
    // The buffers are sized by the codec's own buffer_len and every field is in range.
    let n = emit(&mut b).unwrap_or(0);
    b.truncate(n);
    b
}

/// service_build for `ring` listing `services` (552 bytes in G3).
pub fn service_build(gen: Generation, ring: RingId, services: &[u32]) -> Vec<u8> {
    let m = SyncMessage::ServiceBuild(Box::new(ServiceBuild::new(gen, ring, services)));
    bytes(m.buffer_len(), |b| m.emit(b))
}

/// barrier for `ring` (32 bytes in G3).
pub fn barrier(gen: Generation, ring: RingId) -> Vec<u8> {
    let m = SyncMessage::Barrier(RingMessage::new(gen, sync::BARRIER, ring));
    bytes(m.buffer_len(), |b| m.emit(b))
}

/// memb_determine for `ring` (1.x sync v2, 48 bytes): sent at every configuration change
/// in whitetank mode; the senders make up sync v2's member list.
pub fn memb_determine(gen: Generation, ring: RingId) -> Vec<u8> {
    let m = SyncMessage::MembDetermine(RingMessage::new(gen, sync::MEMB_DETERMINE, ring));
    bytes(m.buffer_len(), |b| m.emit(b))
}

/// The CMAP sync message: reason SYNC, one item totem.config_version (UINT64 when the
/// configuration sets it, NOT_EXIST otherwise). The header id is 0, as corosync sends it.
pub fn cmap_sync(gen: Generation, config_version: Option<u64>) -> Vec<u8> {
    let mut key_name = [0u8; cmap::KEY_NAME_LEN];
    key_name[..CONFIG_VERSION_KEY.len()].copy_from_slice(CONFIG_VERSION_KEY);
    let (value_type, value) = match config_version {
        Some(v) => (cmap::TYPE_UINT64, v.to_le_bytes().to_vec()),
        None => (cmap::TYPE_NOT_EXIST, Vec::new()),
    };
    let item = CmapItem {
        key_len: CONFIG_VERSION_KEY.len() as u16,
        key_len_pad: [0; 6],
        key_name,
        value_type: ByteSlot {
            value: value_type,
            pad: [0; 7],
        },
        value,
        align_pad: Vec::new(),
    };
    let size = cmap::MCAST_LEN + item.buffer_len();
    let m = CmapMcast {
        header: ServiceHeader::new(gen, 0, 0, size as u32),
        reason: ByteSlot::default(),
        no_items: ByteSlot {
            value: 1,
            pad: [0; 7],
        },
        reserved1: ByteSlot::default(),
        reserved2: ByteSlot::default(),
        items: vec![item],
    };
    bytes(m.buffer_len(), |b| m.emit(b))
}

/// CPG DOWNLIST: `old_members` and the nodes of the old ring that did not come with us.
pub fn cpg_downlist(gen: Generation, old_members: u32, left: &[u32]) -> Vec<u8> {
    let mut nodeids = Box::new([0u32; cpg::DOWNLIST_SLOTS]);
    let n = left.len().min(cpg::DOWNLIST_SLOTS);
    nodeids[..n].copy_from_slice(&left[..n]);
    let m = CpgMessage::Downlist(Downlist {
        header: ServiceHeader::new(
            gen,
            cpg::service_id(gen),
            cpg::DOWNLIST,
            cpg::DOWNLIST_LEN as u32,
        ),
        old_members,
        old_pad: [0; 4],
        left_nodes: n as u32,
        left_pad: [0; 4],
        nodeids,
    });
    bytes(m.buffer_len(), |b| m.emit(b))
}

/// votequorum NODEINFO (32 bytes); nodeid 0 describes the quorum device.
pub fn nodeinfo(gen: Generation, nodeid: u32, votes: u32, expected: u32, flags: u32) -> Vec<u8> {
    let m = VotequorumMessage::NodeInfo(NodeInfo {
        header: ServiceHeader::new(gen, votequorum::service_id(gen), 0, 32),
        nodeid,
        votes,
        expected_votes: expected,
        flags,
    });
    bytes(m.buffer_len(), |b| m.emit(b))
}
