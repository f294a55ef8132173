//! Verification and display of the layers above SRP: the totempg packet in every mcast, and
//! the group and service messages that totempg reassembles from a sender's packets.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use totem_wire::datagram::Datagram;
use totem_wire::srp::mcast::Mcast;
use totem_wire::{
    AppMessage, Endian, Generation, Reassembler, RingId, ServiceTable, SrpMessage, TotempgPacket,
    TotempgPacketView,
};

/// The mcast whose payload is a totempg packet: the message itself, or the old-ring mcast
/// inside a recovery re-send.
fn data_mcast(d: &Datagram) -> Option<Result<Mcast, String>> {
    let SrpMessage::Mcast(m) = &d.body.message else {
        return None;
    };
    if m.is_encapsulated() {
        Some(Mcast::parse(&m.payload, d.generation).map_err(|e| format!("encapsulated mcast: {e}")))
    } else {
        Some(Ok(m.clone()))
    }
}

/// Checks that the totempg packet of an mcast decodes and re-encodes exactly.
pub fn verify_layers(d: &Datagram) -> Result<(), String> {
    let Some(m) = data_mcast(d) else {
        return Ok(());
    };
    let m = m?;
    totempg_roundtrip(&m.payload, m.header.endian).map(|_| ())
}

fn totempg_roundtrip(payload: &[u8], endian: Endian) -> Result<TotempgPacket, String> {
    let p = TotempgPacket::parse(payload, endian).map_err(|e| format!("totempg: {e}"))?;
    let mut out = vec![0u8; p.buffer_len()];
    let n = p.emit(&mut out).map_err(|e| format!("totempg emit: {e}"))?;
    if out[..n] != *payload {
        return Err("totempg: re-encoded bytes differ".into());
    }
    Ok(p)
}

/// Counters of the upper-layer pass over one capture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// Distinct mcasts (by ring and seq) fed to reassembly.
    pub mcasts: u64,
    /// Group messages reassembled, decoded and re-encoded identically.
    pub messages: u64,
    /// Per service/function name, how many.
    pub by_kind: BTreeMap<String, u64>,
    /// Places where a sender's fragment chain was broken in the capture (it started
    /// mid-message, or packets were missing): not errors of the codec.
    pub discontinuities: u64,
}

impl LayerStats {
    /// Adds another pass's counts to this one.
    pub fn absorb(&mut self, other: LayerStats) {
        self.mcasts += other.mcasts;
        self.messages += other.messages;
        self.discontinuities += other.discontinuities;
        for (k, v) in other.by_kind {
            *self.by_kind.entry(k).or_default() += v;
        }
    }
}

struct Pending {
    ring: (u64, u32),
    seq: u32,
    sender: u32,
    endian: Endian,
    generation: Generation,
    payload: Vec<u8>,
}

/// Collects a capture's mcasts, then reassembles them in Totem order and checks every
/// service message.
pub struct Layers {
    table: Option<ServiceTable>,
    seen: HashSet<(RingId, u32)>,
    pending: Vec<Pending>,
}

impl Layers {
    /// `table` overrides the service numbering (openais 0.80 captures need
    /// [`ServiceTable::Openais`]); `None` uses each generation's own.
    pub fn new(table: Option<ServiceTable>) -> Self {
        Layers {
            table,
            seen: HashSet::new(),
            pending: Vec::new(),
        }
    }

    /// Records a decoded datagram's mcast (once per ring and seq: udpu sends each mcast to
    /// every member, and retransmissions repeat it).
    pub fn record(&mut self, d: &Datagram) {
        let Some(Ok(m)) = data_mcast(d) else { return };
        if !self.seen.insert((m.ring_id, m.seq)) {
            return;
        }
        self.pending.push(Pending {
            ring: (m.ring_id.seq, m.ring_id.rep_nodeid()),
            seq: m.seq,
            sender: m.system_from.nodeid(),
            endian: m.header.endian,
            generation: d.generation,
            payload: m.payload,
        });
    }

    /// Reassembles in (ring, seq) order, decodes every message, re-encodes and compares.
    /// Returns the counters and the failures (a description each).
    pub fn finish(mut self) -> (LayerStats, Vec<String>) {
        self.pending.sort_by_key(|p| (p.ring, p.seq));
        let mut stats = LayerStats {
            mcasts: self.pending.len() as u64,
            ..Default::default()
        };
        let mut errors = Vec::new();
        let mut reasm = Reassembler::new();
        let mut done = Vec::new();
        for p in &self.pending {
            let Ok(view) = TotempgPacketView::new_checked(&p.payload, p.endian) else {
                errors.push(format!(
                    "ring {:?} seq {}: totempg does not decode",
                    p.ring, p.seq
                ));
                continue;
            };
            done.clear();
            if let Err(e) = reasm.feed(p.sender, &view, &mut done) {
                errors.push(format!(
                    "ring {:?} seq {} from {}: reassembly: {e}",
                    p.ring, p.seq, p.sender
                ));
            }
            let table = self
                .table
                .unwrap_or(ServiceTable::for_generation(p.generation));
            for msg in &done {
                match app_roundtrip(msg, p.generation, p.endian, table) {
                    Ok(a) => {
                        stats.messages += 1;
                        *stats.by_kind.entry(kind_of(&a)).or_default() += 1;
                    }
                    Err(e) => errors.push(format!(
                        "ring {:?} seq {} from {}: {} message of {} bytes: {e}",
                        p.ring,
                        p.seq,
                        p.sender,
                        p.generation,
                        msg.len()
                    )),
                }
            }
        }
        stats.discontinuities = reasm.stats().discontinuities;
        (stats, errors)
    }
}

fn app_roundtrip(
    msg: &[u8],
    gen: Generation,
    endian: Endian,
    table: ServiceTable,
) -> Result<AppMessage, String> {
    let a = AppMessage::decode_with(msg, gen, endian, table).map_err(|e| e.to_string())?;
    let mut out = vec![0u8; a.buffer_len()];
    let n = a.emit(&mut out).map_err(|e| format!("emit: {e}"))?;
    if out[..n] != *msg {
        let at = out
            .iter()
            .zip(msg)
            .position(|(x, y)| x != y)
            .unwrap_or(n.min(msg.len()));
        return Err(format!("{a}: re-encoded bytes differ at offset {at}"));
    }
    Ok(a)
}

/// "cpg.mcast"-style label: the summary up to its first space.
fn kind_of(a: &AppMessage) -> String {
    let s = a.message.to_string();
    s.split_whitespace().next().unwrap_or("?").to_string()
}

/// Per-capture state for dumps: reassembly in capture order, deduplicated.
pub struct DumpLayers {
    table: Option<ServiceTable>,
    seen: HashSet<(RingId, u32)>,
    reasm: Reassembler,
}

impl DumpLayers {
    /// A dump state; `table` as for [`Layers::new`].
    pub fn new(table: Option<ServiceTable>) -> Self {
        DumpLayers {
            table,
            seen: HashSet::new(),
            reasm: Reassembler::new(),
        }
    }

    /// Lines describing the totempg packet and any service messages it completes.
    pub fn lines(&mut self, d: &Datagram) -> Vec<String> {
        let mut out = String::new();
        self.describe(d, &mut out);
        out.lines().map(|l| l.trim_start().to_string()).collect()
    }

    /// Appends the totempg packet and any completed service messages to a dump.
    pub fn describe(&mut self, d: &Datagram, out: &mut String) {
        let Some(m) = data_mcast(d) else { return };
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                let _ = writeln!(out, "    {e}");
                return;
            }
        };
        if let SrpMessage::Mcast(outer) = &d.body.message {
            if outer.is_encapsulated() {
                let _ = writeln!(
                    out,
                    "    encapsulated: seq {} of ring {} from {}",
                    m.seq, m.ring_id, m.system_from
                );
            }
        }
        let p = match TotempgPacket::parse(&m.payload, m.header.endian) {
            Ok(p) => p,
            Err(e) => {
                let _ = writeln!(out, "    totempg: {e}");
                return;
            }
        };
        let lens: Vec<String> = p.pieces.iter().map(|x| x.len().to_string()).collect();
        let _ = writeln!(
            out,
            "    totempg: fragmented={} continuation={} pieces=[{}]",
            p.fragmented,
            p.continuation,
            lens.join(", ")
        );
        if !self.seen.insert((m.ring_id, m.seq)) {
            let _ = writeln!(out, "      (a copy of seq {} already shown)", m.seq);
            return;
        }
        let Ok(view) = TotempgPacketView::new_checked(&m.payload, m.header.endian) else {
            return;
        };
        let mut done = Vec::new();
        if let Err(e) = self.reasm.feed(m.system_from.nodeid(), &view, &mut done) {
            let _ = writeln!(out, "      reassembly: {e}");
        }
        let table = self
            .table
            .unwrap_or(ServiceTable::for_generation(d.generation));
        for msg in &done {
            match AppMessage::decode_with(msg, d.generation, m.header.endian, table) {
                Ok(a) => {
                    let _ = writeln!(out, "      {a}");
                }
                Err(e) => {
                    let _ = writeln!(out, "      message of {} bytes: {e}", msg.len());
                }
            }
        }
        if p.fragmented != 0 {
            let _ = writeln!(
                out,
                "      (last piece continues in the sender's next packet)"
            );
        }
    }
}

/// The service table a bundled capture needs, from its file name (openais 0.80 numbers its
/// services differently from corosync 1.x).
pub fn table_for_file(name: &str) -> Option<ServiceTable> {
    name.starts_with("openais").then_some(ServiceTable::Openais)
}
