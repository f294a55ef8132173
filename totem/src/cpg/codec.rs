//! CPG exec messages as corosync sends them in group "a": service header, cpg struct, and
//! the totempg packing around them.

use totem_wire::endian::Endian;
use totem_wire::service::cfg::CfgMessage;
use totem_wire::service::cmap::CmapMcast;
use totem_wire::service::cpg::{
    self, CpgMessage, CpgName, JoinList, JoinListEntry, Mcast, MessageSource, PartialMcast,
    ProcJoin,
};
use totem_wire::service::openais::{self, OpenaisMessage};
use totem_wire::service::sync::SyncMessage;
use totem_wire::service::votequorum::{self, VotequorumMessage};
use totem_wire::service::{ResponseHeader, ServiceHeader};
use totem_wire::totempg::{PacketView, MESSAGE_SIZE_MAX};
use totem_wire::{Fragmenter, Generation, GroupMessage, KnownGroup, Reassembler};

/// Group-header bytes in front of every service message (`01 00 01 00 61`).
pub const GROUP_A_LEN: usize = 5;
/// Largest application message sent in one MCAST (the rest goes as PARTIAL_MCAST).
pub const MCAST_DATA_MAX: usize = MESSAGE_SIZE_MAX - GROUP_A_LEN - cpg::MCAST_LEN;
/// Data bytes per PARTIAL_MCAST fragment.
pub const PARTIAL_DATA_MAX: usize = MESSAGE_SIZE_MAX - GROUP_A_LEN - cpg::PARTIAL_MCAST_LEN;
/// PARTIAL_MCAST kinds.
pub const PARTIAL_FIRST: u32 = 1;
pub const PARTIAL_CONTINUED: u32 = 2;
pub const PARTIAL_LAST: u32 = 3;
/// The CFG service id in corosync 2.x/3.x (spec §9.4).
pub const CFG_SERVICE: u16 = 1;
/// CFG exec fn `MESSAGE_REQ_EXEC_CFG_RELOAD_CONFIG`.
pub const CFG_RELOAD_CONFIG: u16 = 3;
/// `MESSAGE_REQ_EXEC_CFG_RINGREENABLE` (`corosync-cfgtool -r`: every node re-enables its
/// redundant rings).
pub const CFG_RINGREENABLE: u16 = 0;
/// CFG exec fn `MESSAGE_REQ_EXEC_CFG_CRYPTO_RECONFIG` (3.x).
pub const CFG_CRYPTO_RECONFIG: u16 = 4;

fn header(gen: Generation, fn_id: u16, size: usize) -> ServiceHeader {
    ServiceHeader::new(gen, cpg::service_id(gen), fn_id, size as u32)
}

fn emit(m: &CpgMessage) -> Vec<u8> {
    let mut b = vec![0u8; m.buffer_len()];
    // The buffer is exactly buffer_len bytes and every length was checked by the builder.
    let n = m.emit(&mut b).unwrap_or(0);
    b.truncate(n);
    b
}

/// PROCJOIN (`leave` false, reason JOIN) or PROCLEAVE (reason LEAVE).
pub fn procjoin(gen: Generation, group: &[u8], pid: u32, leave: bool) -> Vec<u8> {
    let (fn_id, reason) = if leave {
        (cpg::PROCLEAVE, 2)
    } else {
        (cpg::PROCJOIN, 1)
    };
    let m = ProcJoin {
        header: header(gen, fn_id, cpg::PROCJOIN_LEN),
        group_name: CpgName::new(group),
        pid,
        pid_pad: [0; 4],
        reason,
        reason_pad: [0; 4],
    };
    emit(&if leave {
        CpgMessage::ProcLeave(m)
    } else {
        CpgMessage::ProcJoin(m)
    })
}

/// One MCAST, or PARTIAL_MCAST fragments when `data` is longer than [`MCAST_DATA_MAX`].
pub fn mcast(gen: Generation, group: &[u8], pid: u32, nodeid: u32, data: &[u8]) -> Vec<Vec<u8>> {
    let source = MessageSource {
        nodeid,
        pad: [0; 4],
        conn: [0; 8],
    };
    if data.len() <= MCAST_DATA_MAX {
        return vec![emit(&CpgMessage::Mcast(Mcast {
            header: header(gen, cpg::MCAST, cpg::MCAST_LEN + data.len()),
            group_name: CpgName::new(group),
            msglen_pad: [0; 4],
            pid,
            pid_pad: [0; 4],
            source,
            message: data.to_vec(),
        }))];
    }
    let chunks: Vec<&[u8]> = data.chunks(PARTIAL_DATA_MAX).collect();
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let kind = match i {
                0 => PARTIAL_FIRST,
                i if i == last => PARTIAL_LAST,
                _ => PARTIAL_CONTINUED,
            };
            emit(&CpgMessage::PartialMcast(PartialMcast {
                header: header(gen, cpg::PARTIAL_MCAST, cpg::PARTIAL_MCAST_LEN + c.len()),
                group_name: CpgName::new(group),
                msglen: data.len() as u32,
                msglen_pad: [0; 4],
                fraglen_pad: [0; 4],
                pid,
                pid_pad: [0; 4],
                kind,
                kind_pad: [0; 4],
                source,
                data: c.to_vec(),
            }))
        })
        .collect()
}

/// JOINLIST of our local processes.
pub fn joinlist(gen: Generation, entries: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let size = totem_wire::service::header::RESPONSE_LEN + cpg::JOINLIST_ENTRY_LEN * entries.len();
    emit(&CpgMessage::JoinList(JoinList {
        header: ResponseHeader {
            header: header(gen, cpg::JOINLIST, size),
            error: 0,
            pad: [0; 4],
        },
        entries: entries
            .iter()
            .map(|(pid, g)| JoinListEntry {
                pid: *pid,
                pid_pad: [0; 4],
                group_name: CpgName::new(g),
            })
            .collect(),
    }))
}

/// Packs service messages of group "a" into totempg packets (each one Totem mcast payload).
#[derive(Debug)]
pub struct Packer {
    fragmenter: Fragmenter,
}

impl Packer {
    /// A packer filling packets up to `net_mtu` bytes.
    pub fn new(net_mtu: usize) -> Result<Self, totem_wire::Error> {
        Ok(Packer {
            fragmenter: Fragmenter::new(net_mtu)?,
        })
    }

    /// Adds one service message of group "a"; full packets are appended to `out`.
    pub fn push(
        &mut self,
        service_msg: Vec<u8>,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), totem_wire::Error> {
        self.push_group(KnownGroup::A, service_msg, out)
    }

    /// Adds one message of `group` ("a" or "sync"); full packets are appended to `out`.
    pub fn push_group(
        &mut self,
        group: KnownGroup,
        service_msg: Vec<u8>,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), totem_wire::Error> {
        let g = GroupMessage::new(group, service_msg);
        let mut b = vec![0u8; g.buffer_len()];
        g.emit(&mut b)?;
        let mut pkts = Vec::new();
        self.fragmenter.push(&b, &mut pkts)?;
        for p in pkts {
            out.push(packet_bytes(&p)?);
        }
        Ok(())
    }

    /// Closes the open packet.
    pub fn flush(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), totem_wire::Error> {
        let mut pkts = Vec::new();
        self.fragmenter.flush(&mut pkts);
        for p in pkts {
            out.push(packet_bytes(&p)?);
        }
        Ok(())
    }
}

fn packet_bytes(p: &totem_wire::TotempgPacket) -> Result<Vec<u8>, totem_wire::Error> {
    let mut b = vec![0u8; p.buffer_len()];
    let n = p.emit(&mut b)?;
    b.truncate(n);
    Ok(b)
}

/// One decoded message of group "a" or "sync", in delivery order.
#[derive(Debug, Clone)]
pub enum ExecMessage {
    Cpg(CpgMessage),
    /// A sync engine message and its group ("sync", or 1.x's "syncv2").
    Sync(KnownGroup, SyncMessage),
    /// G1: an EVT channel command (`chc_op`), the openais dummy's sync traffic.
    EvtChanCmd(u32),
    Votequorum(VotequorumMessage),
    Cmap(Box<CmapMcast>),
    /// CFG (2.x/3.x): reload and crypto reconfig phases matter to us.
    Cfg(Box<CfgMessage>),
    /// An element of the multiple-ring order (group "mrp", ours), undecoded: the orderer
    /// checks it.
    Mrp(Vec<u8>),
}

/// What one delivered Totem payload held for the executive.
#[derive(Debug, Default)]
pub struct Unpacked {
    /// Every message we handle, in the order the sender packed them.
    pub msgs: Vec<ExecMessage>,
    /// Messages of other groups or services (not ours to handle).
    pub other: usize,
    /// Decode failures, with the reason.
    pub errors: Vec<String>,
}

/// Reassembles totempg packets per sender and decodes the CPG messages in them.
#[derive(Debug)]
pub struct Unpacker {
    gen: Generation,
    reassembler: Reassembler,
}

impl Unpacker {
    /// An unpacker for ring generation `gen`.
    pub fn new(gen: Generation) -> Self {
        Unpacker {
            gen,
            reassembler: Reassembler::new(),
        }
    }

    /// Forgets `nodeid`'s partial message (it left).
    pub fn reset_sender(&mut self, nodeid: u32) {
        self.reassembler.reset_sender(nodeid);
    }

    /// Feeds one Totem mcast payload from `sender`.
    pub fn feed(&mut self, sender: u32, payload: &[u8]) -> Unpacked {
        let mut u = Unpacked::default();
        // corosync on x86 writes little-endian; the engine does not report the sender's order.
        let endian = Endian::Little;
        let view = match PacketView::new_checked(payload, endian) {
            Ok(v) => v,
            Err(e) => {
                u.errors.push(format!("totempg packet from {sender}: {e}"));
                return u;
            }
        };
        let mut msgs = Vec::new();
        if let Err(e) = self.reassembler.feed(sender, &view, &mut msgs) {
            u.errors
                .push(format!("totempg reassembly from {sender}: {e}"));
        }
        for m in msgs {
            let g = match GroupMessage::parse(&m, endian) {
                Ok(g) => g,
                Err(e) => {
                    u.errors.push(format!("group header from {sender}: {e}"));
                    continue;
                }
            };
            let known = g.known_group();
            let sync_group = known == Some(KnownGroup::Sync)
                || (known == Some(KnownGroup::SyncV2) && self.gen == Generation::G1);
            if let (true, Some(group)) = (sync_group, known) {
                match SyncMessage::parse(&g.payload, self.gen, endian) {
                    Ok(m) => u.msgs.push(ExecMessage::Sync(group, m)),
                    Err(e) => u.errors.push(format!("sync message from {sender}: {e}")),
                }
                continue;
            }
            if known == Some(KnownGroup::Mrp) {
                u.msgs.push(ExecMessage::Mrp(g.payload));
                continue;
            }
            if known != Some(KnownGroup::A) {
                u.other += 1;
                continue;
            }
            let service = match ServiceHeader::parse(&g.payload, self.gen, endian) {
                Ok(h) => h.service(),
                Err(e) => {
                    u.errors.push(format!("service header from {sender}: {e}"));
                    continue;
                }
            };
            if service == cpg::service_id(self.gen) {
                match CpgMessage::parse(&g.payload, self.gen, endian) {
                    Ok(c) => u.msgs.push(ExecMessage::Cpg(c)),
                    Err(e) => u.errors.push(format!("cpg message from {sender}: {e}")),
                }
            } else if service == votequorum::service_id(self.gen) {
                match VotequorumMessage::parse(&g.payload, self.gen, endian) {
                    Ok(m) => u.msgs.push(ExecMessage::Votequorum(m)),
                    Err(e) => u
                        .errors
                        .push(format!("votequorum message from {sender}: {e}")),
                }
            } else if self.gen == Generation::G1 && service == openais::EVT {
                match OpenaisMessage::parse(&g.payload, self.gen, endian) {
                    Ok(OpenaisMessage::EvtChanCmd { chc_op, .. }) => {
                        u.msgs.push(ExecMessage::EvtChanCmd(chc_op))
                    }
                    Ok(_) => u.other += 1,
                    // Other EVT functions (openais 0.80's) are not ours to handle.
                    Err(_) => u.other += 1,
                }
            } else if self.gen != Generation::G1 && service == CFG_SERVICE {
                match CfgMessage::parse(&g.payload, self.gen, endian) {
                    Ok(m) => u.msgs.push(ExecMessage::Cfg(Box::new(m))),
                    Err(e) => u.errors.push(format!("cfg message from {sender}: {e}")),
                }
            } else if self.gen != Generation::G1 && service == 0 {
                match CmapMcast::parse(&g.payload, self.gen, endian) {
                    Ok(m) => u.msgs.push(ExecMessage::Cmap(Box::new(m))),
                    Err(e) => u.errors.push(format!("cmap message from {sender}: {e}")),
                }
            } else {
                u.other += 1;
            }
        }
        u
    }
}

/// A CFG message that matters to a knet key change, seen in a delivered payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CfgSeen {
    /// `MESSAGE_REQ_EXEC_CFG_RELOAD_CONFIG`.
    Reload,
    /// `MESSAGE_REQ_EXEC_CFG_CRYPTO_RECONFIG` with this phase.
    CryptoPhase(u32),
    /// `MESSAGE_REQ_EXEC_CFG_RINGREENABLE`.
    RingReenable,
}

/// The CFG reload and crypto reconfig messages (2.x/3.x) whole in one delivered Totem
/// payload, looked at without reassembly state: pieces continued from or into another
/// packet are skipped.
pub fn scan_cfg(gen: Generation, payload: &[u8]) -> Vec<CfgSeen> {
    let mut seen = Vec::new();
    if gen == Generation::G1 {
        return seen;
    }
    let Ok(view) = PacketView::new_checked(payload, Endian::Little) else {
        return seen;
    };
    let n = view.msg_count();
    for (i, piece) in view.pieces().enumerate() {
        if (i == 0 && view.continuation() != 0) || (i + 1 == n && view.fragmented() != 0) {
            continue;
        }
        let Ok(g) = GroupMessage::parse(piece, Endian::Little) else {
            continue;
        };
        if g.known_group() != Some(KnownGroup::A) {
            continue;
        }
        let Ok(h) = ServiceHeader::parse(&g.payload, gen, Endian::Little) else {
            continue;
        };
        if h.service() != CFG_SERVICE {
            continue;
        }
        match h.fn_id() {
            CFG_RELOAD_CONFIG => seen.push(CfgSeen::Reload),
            CFG_RINGREENABLE => seen.push(CfgSeen::RingReenable),
            CFG_CRYPTO_RECONFIG => {
                if let Ok(CfgMessage::CryptoReconfig { phase, .. }) =
                    CfgMessage::parse(&g.payload, gen, Endian::Little)
                {
                    seen.push(CfgSeen::CryptoPhase(phase));
                }
            }
            _ => {}
        }
    }
    seen
}

/// A CFG ring re-enable message (fn 0, 32 bytes) from `nodeid`, as `corosync-cfgtool -r`
/// has a 2.x daemon send it.
pub fn cfg_ring_reenable(gen: Generation, nodeid: u32) -> Result<Vec<u8>, totem_wire::Error> {
    let m = CfgMessage::RingReenable {
        header: ServiceHeader::new(gen, CFG_SERVICE, CFG_RINGREENABLE, 32),
        source: totem_wire::service::cpg::MessageSource {
            nodeid,
            ..Default::default()
        },
    };
    let mut buf = vec![0u8; m.buffer_len()];
    let n = m.emit(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// A CFG crypto reconfig message (fn 4, 24 bytes) for `phase`, in group "a".
pub fn cfg_crypto_reconfig(gen: Generation, phase: u32) -> Result<Vec<u8>, totem_wire::Error> {
    let m = CfgMessage::CryptoReconfig {
        header: ServiceHeader::new(gen, CFG_SERVICE, CFG_CRYPTO_RECONFIG, 24),
        phase,
        phase_pad: [0; 4],
    };
    let mut buf = vec![0u8; m.buffer_len()];
    let n = m.emit(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// spec §8: a G3 CPG mcast of 5 bytes to group "g" is totempg header, length 194, group
    /// "a" prefix `01 00 01 00 61`, a 184-byte mcast struct and the 5 bytes.
    #[test]
    fn byte_map_of_spec_section_8() {
        let msg = mcast(Generation::G3, b"g", 77, 2, b"hello");
        assert_eq!(msg.len(), 1);
        let mut p = Packer::new(1382).unwrap();
        let mut out = Vec::new();
        p.push(msg[0].clone(), &mut out).unwrap();
        p.flush(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        let b = &out[0];
        assert_eq!(&b[..8], &[0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(&b[8..10], &194u16.to_le_bytes());
        assert_eq!(&b[10..15], &[1, 0, 1, 0, 0x61]);
        // qb header: id = (2 << 16) | 3, size = 189 at offset 8.
        assert_eq!(&b[15..19], &[3, 0, 2, 0]);
        assert_eq!(&b[23..27], &189u32.to_le_bytes());
        // group name length 1, "g" at +8.
        assert_eq!(&b[31..35], &1u32.to_le_bytes());
        assert_eq!(b[39], b'g');
        // msglen @152, pid @160, source nodeid @168 (relative to the cpg struct at 15).
        assert_eq!(&b[15 + 152..15 + 156], &5u32.to_le_bytes());
        assert_eq!(&b[15 + 160..15 + 164], &77u32.to_le_bytes());
        assert_eq!(&b[15 + 168..15 + 172], &2u32.to_le_bytes());
        assert_eq!(&b[15 + 184..], b"hello");
        assert_eq!(b.len(), 10 + 194);

        let mut u = Unpacker::new(Generation::G3);
        let got = u.feed(2, b);
        assert!(got.errors.is_empty(), "{:?}", got.errors);
        match &got.msgs[..] {
            [ExecMessage::Cpg(CpgMessage::Mcast(m))] => {
                assert_eq!(
                    (m.pid, m.source.nodeid, &m.message[..]),
                    (77, 2, &b"hello"[..])
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_mib_goes_as_partials_and_fragments() {
        let data: Vec<u8> = (0..MESSAGE_SIZE_MAX).map(|i| (i % 251) as u8).collect();
        let msgs = mcast(Generation::G3, b"big", 1, 1, &data);
        assert_eq!(msgs.len(), 2);
        let mut p = Packer::new(1382).unwrap();
        let mut out = Vec::new();
        for m in msgs {
            p.push(m, &mut out).unwrap();
        }
        p.flush(&mut out).unwrap();
        assert!(out.iter().all(|b| b.len() <= 1382));
        let mut u = Unpacker::new(Generation::G3);
        let mut parts = Vec::new();
        for b in &out {
            let r = u.feed(1, b);
            assert!(r.errors.is_empty());
            parts.extend(r.msgs);
        }
        let mut whole = Vec::new();
        let mut kinds = Vec::new();
        for m in parts {
            match m {
                ExecMessage::Cpg(CpgMessage::PartialMcast(pm)) => {
                    kinds.push(pm.kind);
                    assert_eq!(pm.msglen as usize, MESSAGE_SIZE_MAX);
                    whole.extend(pm.data);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(kinds, [PARTIAL_FIRST, PARTIAL_LAST]);
        assert!(whole == data);
    }

    #[test]
    fn garbage_is_reported_not_fatal() {
        let mut u = Unpacker::new(Generation::G3);
        assert_eq!(u.feed(1, &[1, 2, 3]).errors.len(), 1);
        let j = joinlist(Generation::G3, &[(5, b"grp".to_vec())]);
        assert_eq!(j.len(), 24 + 144);
        let mut p = Packer::new(1382).unwrap();
        let mut out = Vec::new();
        p.push(j, &mut out).unwrap();
        p.flush(&mut out).unwrap();
        let r = u.feed(1, &out[0]);
        assert!(
            matches!(&r.msgs[..], [ExecMessage::Cpg(CpgMessage::JoinList(l))] if l.entries[0].pid == 5)
        );
    }

    /// corosync 3.1.7 `struct req_exec_cfg_crypto_reconfig`: header id (1 << 16 | 4) and
    /// size 24, each in an 8-byte slot, then `phase` in an 8-byte slot (little endian).
    #[test]
    fn cfg_crypto_reconfig_layout_and_reload_detection() {
        let m = cfg_crypto_reconfig(Generation::G3, 2).unwrap();
        let want: [u8; 24] = [
            4, 0, 1, 0, 0, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(m, want);
        // A reload (fn 3, 32 bytes: header and a 16-byte mar_message_source_t) packed after
        // a CPG message in one packet is seen; the phase message is not a reload.
        let mut reload = vec![3, 0, 1, 0, 0, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0];
        reload.extend_from_slice(&[0; 16]);
        let mut p = Packer::new(1400).unwrap();
        let mut out = Vec::new();
        p.push(m.clone(), &mut out).unwrap();
        p.flush(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            scan_cfg(Generation::G3, &out[0]),
            vec![CfgSeen::CryptoPhase(2)]
        );
        let mut out = Vec::new();
        p.push(m, &mut out).unwrap();
        p.push(reload, &mut out).unwrap();
        p.flush(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            scan_cfg(Generation::G3, &out[0]),
            vec![CfgSeen::CryptoPhase(2), CfgSeen::Reload]
        );
        assert!(scan_cfg(Generation::G1, &out[0]).is_empty());
        let u = Unpacker::new(Generation::G3).feed(2, &out[0]);
        assert!(matches!(
            &u.msgs[..],
            [ExecMessage::Cfg(a), ExecMessage::Cfg(b)]
                if matches!(**a, CfgMessage::CryptoReconfig { phase: 2, .. })
                    && matches!(**b, CfgMessage::ReloadConfig { .. })
        ));
    }
}
