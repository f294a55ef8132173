//! Human-readable and JSON decodes of captured datagrams, one message per packet.

use std::fmt::Write as _;

use serde_json::{json, Value};
use totem_wire::datagram::{decode, open_knet, Datagram, DatagramError, Keys, KnetDatagram};
use totem_wire::ip_address::TotemIpAddress;
use totem_wire::knet::KnetBody;
use totem_wire::srp::message::SrpMessage;
use totem_wire::{RingId, RingRep, SrpAddr};

use crate::knet::KnetReassembly;
use crate::layers::DumpLayers;
use crate::UdpDatagram;

fn addr_json(a: &TotemIpAddress) -> Value {
    json!({
        "nodeid": a.nodeid,
        "family": a.family,
        "addr": a.to_string(),
        "raw": hex_of(&a.addr),
    })
}

fn srp_addr_json(a: &SrpAddr) -> Value {
    match a {
        SrpAddr::Node(n) => json!({ "nodeid": n }),
        SrpAddr::Addrs { no_addrs, addrs } => {
            json!({ "no_addrs": no_addrs, "ring0": addr_json(&addrs[0]), "ring1": addr_json(&addrs[1]) })
        }
    }
}

fn ring_json(r: &RingId) -> Value {
    match r.rep {
        RingRep::Node(n) => json!({ "rep": n, "seq": r.seq }),
        RingRep::Addr(a) => json!({ "rep": addr_json(&a), "seq": r.seq }),
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// The decoded SRP message as a JSON object.
pub fn message_json(m: &SrpMessage) -> Value {
    match m {
        SrpMessage::OrfToken(t) => json!({
            "type": "orf_token", "nodeid": t.header.nodeid, "seq": t.seq, "token_seq": t.token_seq,
            "aru": t.aru, "aru_addr": t.aru_addr, "ring_id": ring_json(&t.ring_id),
            "backlog": t.backlog, "fcc": t.fcc, "retrans_flg": t.retrans_flg,
            "rtr_list": t.rtr_list.iter().map(|r| json!({"ring_id": ring_json(&r.ring_id), "seq": r.seq})).collect::<Vec<_>>(),
        }),
        SrpMessage::Mcast(x) => json!({
            "type": "mcast", "nodeid": x.header.nodeid, "encapsulated": x.header.encapsulated,
            "system_from": srp_addr_json(&x.system_from), "seq": x.seq, "this_seqno": x.this_seqno,
            "ring_id": ring_json(&x.ring_id), "node_id": x.node_id, "guarantee": x.guarantee,
            "payload_len": x.payload.len(),
        }),
        SrpMessage::MergeDetect(x) => json!({
            "type": "memb_merge_detect", "nodeid": x.header.nodeid,
            "system_from": srp_addr_json(&x.system_from), "ring_id": ring_json(&x.ring_id),
        }),
        SrpMessage::MembJoin(x) => json!({
            "type": "memb_join", "nodeid": x.header.nodeid, "leave": x.is_leave(),
            "system_from": srp_addr_json(&x.system_from), "ring_seq": x.ring_seq,
            "proc_list": x.proc_list.iter().map(srp_addr_json).collect::<Vec<_>>(),
            "failed_list": x.failed_list.iter().map(srp_addr_json).collect::<Vec<_>>(),
        }),
        SrpMessage::CommitToken(x) => json!({
            "type": "memb_commit_token", "nodeid": x.header.nodeid, "token_seq": x.token_seq,
            "ring_id": ring_json(&x.ring_id), "retrans_flg": x.retrans_flg, "memb_index": x.memb_index,
            "members": x.addr.iter().zip(&x.memb_list).map(|(a, m)| json!({
                "addr": srp_addr_json(a), "ring_id": ring_json(&m.ring_id), "aru": m.aru,
                "high_delivered": m.high_delivered, "received_flg": m.received_flg,
            })).collect::<Vec<_>>(),
        }),
        SrpMessage::TokenHoldCancel(x) => json!({
            "type": "token_hold_cancel", "nodeid": x.header.nodeid, "ring_id": ring_json(&x.ring_id),
        }),
        SrpMessage::RingTest(x) => json!({
            "type": x.msg_type.name(), "ring_number": x.ring_number, "nodeid_activator": x.nodeid_activator,
        }),
    }
}

/// A `tshark -V`-like tree of one decoded message.
pub fn message_text(m: &SrpMessage, out: &mut String) {
    let srp = |a: &SrpAddr| a.to_string();
    let _ = match m {
        SrpMessage::OrfToken(t) => {
            let _ = writeln!(out, "    orf_token from node {}", t.header.nodeid);
            let _ = writeln!(
                out,
                "        seq: {}  token_seq: {}  aru: {}  aru_addr: {}",
                t.seq, t.token_seq, t.aru, t.aru_addr
            );
            let _ = writeln!(out, "        ring_id: {}", t.ring_id);
            let _ = writeln!(
                out,
                "        backlog: {}  fcc: {}  retrans_flg: {}",
                t.backlog, t.fcc, t.retrans_flg
            );
            let _ = writeln!(out, "        rtr_list ({} entries)", t.rtr_list.len());
            for r in &t.rtr_list {
                let _ = writeln!(out, "            seq {} of ring {}", r.seq, r.ring_id);
            }
            Ok(())
        }
        SrpMessage::Mcast(x) => {
            let enc = if x.is_encapsulated() {
                "encapsulated (recovery)"
            } else {
                "not encapsulated"
            };
            let _ = writeln!(out, "    mcast from {}, {enc}", srp(&x.system_from));
            let _ = writeln!(
                out,
                "        seq: {}  this_seqno: {}  ring_id: {}",
                x.seq, x.this_seqno, x.ring_id
            );
            let _ = writeln!(
                out,
                "        node_id: {}  guarantee: {}",
                x.node_id,
                if x.guarantee == 1 { "safe" } else { "agreed" }
            );
            writeln!(out, "        payload: {} bytes", x.payload.len())
        }
        SrpMessage::MergeDetect(x) => {
            writeln!(
                out,
                "    memb_merge_detect from {}\n        ring_id: {}",
                srp(&x.system_from),
                x.ring_id
            )
        }
        SrpMessage::MembJoin(x) => {
            let what = if x.is_leave() {
                "memb_join (LEAVE)"
            } else {
                "memb_join"
            };
            let _ = writeln!(
                out,
                "    {what} from {}  ring_seq: {}",
                srp(&x.system_from),
                x.ring_seq
            );
            let list = |l: &[SrpAddr]| {
                l.iter()
                    .map(|a| a.nodeid().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                out,
                "        proc_list ({}): [{}]",
                x.proc_list.len(),
                list(&x.proc_list)
            );
            writeln!(
                out,
                "        failed_list ({}): [{}]",
                x.failed_list.len(),
                list(&x.failed_list)
            )
        }
        SrpMessage::CommitToken(x) => {
            let _ = writeln!(
                out,
                "    memb_commit_token from node {}  token_seq: {}",
                x.header.nodeid, x.token_seq
            );
            let _ = writeln!(
                out,
                "        ring_id: {}  retrans_flg: {}  memb_index: {}",
                x.ring_id, x.retrans_flg, x.memb_index
            );
            for (a, m) in x.addr.iter().zip(&x.memb_list) {
                let _ =
                    writeln!(
                    out,
                    "        member {}: old ring {}  aru {}  high_delivered {}  received_flg {}",
                    srp(a), m.ring_id, m.aru, m.high_delivered, m.received_flg
                );
            }
            Ok(())
        }
        SrpMessage::TokenHoldCancel(x) => {
            writeln!(
                out,
                "    token_hold_cancel from node {}\n        ring_id: {}",
                x.header.nodeid, x.ring_id
            )
        }
        SrpMessage::RingTest(x) => writeln!(
            out,
            "    {} ring {} activator node {}",
            x.msg_type.name(),
            x.ring_number,
            x.nodeid_activator
        ),
    };
}

/// Text for one datagram: a frame line, the envelope, the message tree, upper layers.
pub fn datagram_text(
    d: &UdpDatagram,
    decoded: &Result<Datagram, String>,
    layers: &mut DumpLayers,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Frame {}  {}.{:06}  {} -> {}  {} bytes{}",
        d.frame,
        d.timestamp.as_secs(),
        d.timestamp.subsec_micros(),
        d.src,
        d.dst,
        d.payload.len(),
        if d.fragments > 1 {
            format!(" ({} IP fragments)", d.fragments)
        } else {
            String::new()
        }
    );
    match decoded {
        Ok(g) => {
            let _ = writeln!(
                out,
                "  Totem {} {:?}-endian, envelope {}",
                g.generation,
                g.body.message.endian(),
                g.envelope.describe()
            );
            message_text(&g.body.message, &mut out);
            if !g.body.trailing.is_empty() {
                let _ = writeln!(out, "    trailing bytes: {}", hex_of(&g.body.trailing));
            }
            layers.describe(g, &mut out);
        }
        Err(e) => {
            let _ = writeln!(out, "  {e}");
        }
    }
    out
}

/// JSON for one datagram.
pub fn datagram_json(
    d: &UdpDatagram,
    decoded: &Result<Datagram, String>,
    layers: &mut DumpLayers,
) -> Value {
    let mut v = json!({
        "frame": d.frame,
        "time": d.timestamp.as_secs_f64(),
        "src": d.src.to_string(),
        "dst": d.dst.to_string(),
        "len": d.payload.len(),
    });
    match decoded {
        Ok(g) => {
            v["generation"] = json!(g.generation.label());
            v["envelope"] = json!(g.envelope.describe());
            v["message"] = message_json(&g.body.message);
            let lines = layers.lines(g);
            if !lines.is_empty() {
                v["layers"] = json!(lines);
            }
        }
        Err(e) => v["error"] = json!(e),
    }
    v
}

/// Decodes a datagram for display, turning the error into text.
///
/// kronosnet control frames and fragments, which carry no whole Totem message, come back as
/// a one-line description of the frame (opened first when the keys carry knet crypto).
pub fn decode_for_dump(d: &UdpDatagram, keys: &Keys) -> Result<Datagram, String> {
    decode(&d.payload, keys).map_err(|e| match (&e, open_knet(&d.payload, keys)) {
        (DatagramError::Knet(_), Ok(k)) => knet_text(&k),
        _ => e.to_string(),
    })
}

/// Stateful decoding for dumps: like [`decode_for_dump`], and the knet fragment that completes
/// a fragmented message comes back as that message, decoded.
#[derive(Debug, Default)]
pub struct DumpDecoder {
    knet: KnetReassembly,
}

impl DumpDecoder {
    /// A decoder with no pending fragments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes the next datagram of the capture.
    pub fn decode(&mut self, d: &UdpDatagram, keys: &Keys) -> Result<Datagram, String> {
        match decode(&d.payload, keys) {
            Ok(g) => Ok(g),
            Err(DatagramError::Knet(_)) => {
                let k = open_knet(&d.payload, keys).map_err(|e| e.to_string())?;
                match self.knet.feed(&k) {
                    Some(Ok(m)) => Ok(m.datagram),
                    Some(Err(e)) => Err(format!("{}; {e}", knet_text(&k))),
                    None => Err(knet_text(&k)),
                }
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

fn knet_text(k: &KnetDatagram) -> String {
    let f = &k.frame;
    let sealed = if k.sealed { "sealed " } else { "" };
    match &f.body {
        KnetBody::Data { seq, bcast, frag_num, frag_seq, channel, payload, .. } => format!(
            "{sealed}knet data from host {} seq={seq} bcast={bcast} channel={channel}: fragment {frag_seq} of {frag_num} ({} bytes)",
            f.src_host,
            payload.len()
        ),
        KnetBody::Ping(p) => format!(
            "{sealed}knet {:?} from host {} link {} seq={} timed={}",
            f.kind, f.src_host, p.link, p.seq, p.timed
        ),
        KnetBody::Pmtud(p) => format!(
            "{sealed}knet {:?} from host {} link {} size={} ({} padding bytes)",
            f.kind,
            f.src_host,
            p.link,
            p.size(totem_wire::Endian::Little),
            p.padding.len()
        ),
    }
}
