//! Our sync participant against corosync 1.4.10's real sync round: the last ring of
//! `1.4.10-udpu-01-formation.pcapng` (three 1.4.10 daemons, whitetank) is delivered message
//! by message, in ring order, to a participant standing in for node 3 (decoded with the
//! node's own Unpacker). Whatever it sends must be what node 3 sent — the same sync and
//! dummy-service messages in the same order — and each before the ring delivered node 3's
//! own copy; the round must complete.

use std::collections::BTreeMap;
use std::path::Path;

use totem::cpg::codec::{ExecMessage, Unpacker};
use totem::sync::compat::ClmIdentity;
use totem::sync::{Flavor, Output, Sync};
use totem_captures::{read_udp, PortFilter};
use totem_wire::datagram::{decode, Keys};
use totem_wire::endian::Endian;
use totem_wire::service::openais::OpenaisMessage;
use totem_wire::service::sync::SyncMessage;
use totem_wire::srp::message::SrpMessage;
use totem_wire::totempg::PacketView;
use totem_wire::{Generation, GroupMessage, KnownGroup, Reassembler, RingId};

const G1: Generation = Generation::G1;

/// Group and kind of a sync-engine or openais dummy message; None for everything else.
fn kind(group: Option<KnownGroup>, payload: &[u8]) -> Option<String> {
    match group? {
        KnownGroup::A => match OpenaisMessage::parse(payload, G1, Endian::Little).ok()? {
            OpenaisMessage::ClmNodeJoin(_) => Some("a:clm".into()),
            OpenaisMessage::EvtChanCmd { chc_op, .. } => Some(format!("a:evt{chc_op}")),
        },
        g @ (KnownGroup::Sync | KnownGroup::SyncV2) => {
            let k = match SyncMessage::parse(payload, G1, Endian::Little).ok()? {
                SyncMessage::Barrier(_) => "barrier",
                SyncMessage::ServiceBuild(_) => "build",
                SyncMessage::MembDetermine(_) => "determine",
            };
            Some(format!("{}:{k}", String::from_utf8_lossy(g.name())))
        }
        KnownGroup::Ykd | KnownGroup::Mrp => None,
    }
}

/// (ring, sender, totempg payload) of every mcast of the capture, one per ring seq.
fn mcasts(file: &Path) -> BTreeMap<(u64, u32), (RingId, u32, Vec<u8>)> {
    let (datagrams, _) = read_udp(file, &PortFilter { ports: vec![5405] }).expect("capture");
    let mut out = BTreeMap::new();
    for d in &datagrams {
        let Ok(g) = decode(&d.payload, &Keys::none()) else {
            continue;
        };
        if let SrpMessage::Mcast(m) = g.body.message {
            // 1 = an old ring's message carried through recovery.
            if m.header.encapsulated != 1 {
                out.entry((m.ring_id.seq, m.seq)).or_insert((
                    m.ring_id,
                    m.system_from.nodeid(),
                    m.payload,
                ));
            }
        }
    }
    out
}

#[test]
fn participant_as_node_3_sends_what_1_4_10_sent() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../captures/real/1.4.10-udpu-01-formation.pcapng");
    let all = mcasts(&file);
    let last = all.keys().map(|k| k.0).max().expect("mcasts");
    let ring_msgs: Vec<(RingId, u32, Vec<u8>)> = all
        .into_iter()
        .filter(|(k, _)| k.0 == last)
        .map(|(_, v)| v)
        .collect();
    let ring = ring_msgs[0].0;
    assert_eq!((ring.rep_nodeid(), ring.seq), (1, 12), "the ring of three");

    let mut ours = Sync::g1(
        Flavor::Whitetank,
        ClmIdentity::new(3, "198.51.100.13".parse().unwrap()),
    );
    let mut sent: Vec<String> = Vec::new();
    let mut completed = 0;
    let take = |out: Vec<Output>, sent: &mut Vec<String>, completed: &mut usize| {
        for o in out {
            match o {
                Output::Send(g, b) => sent.extend(kind(Some(g), &b)),
                Output::Completed => *completed += 1,
                _ => {}
            }
        }
    };
    ours.transitional(&[3]);
    let out = ours.regular(ring, &[1, 2, 3]);
    take(out, &mut sent, &mut completed);

    let mut unpacker = Unpacker::new(G1);
    let mut raw = Reassembler::new();
    let mut theirs: Vec<String> = Vec::new();
    for (_, sender, payload) in &ring_msgs {
        // What node 3 itself sent, read straight from the packets.
        if *sender == 3 {
            let view = PacketView::new_checked(payload, Endian::Little).unwrap();
            let mut msgs = Vec::new();
            raw.feed(3, &view, &mut msgs).unwrap();
            for m in msgs {
                let g = GroupMessage::parse(&m, Endian::Little).unwrap();
                if let Some(k) = kind(g.known_group(), &g.payload) {
                    assert!(
                        sent.len() > theirs.len(),
                        "node 3 sent {k} (#{}) before we did: ours {sent:?}",
                        theirs.len() + 1
                    );
                    theirs.push(k);
                }
            }
        }
        let u = unpacker.feed(*sender, payload);
        assert!(u.errors.is_empty(), "{:?}", u.errors);
        for m in u.msgs {
            let out = match m {
                ExecMessage::Sync(g, sm) => ours.deliver(*sender, g, &sm),
                ExecMessage::EvtChanCmd(op) => ours.evt_chancmd(*sender, op),
                _ => Vec::new(),
            };
            take(out, &mut sent, &mut completed);
        }
    }
    assert_eq!(
        theirs,
        [
            "syncv2:determine",
            "sync:barrier",
            "a:clm",
            "sync:barrier",
            "sync:barrier",
            "sync:barrier",
            "a:evt7",
            "a:evt5",
            "sync:barrier",
            "sync:barrier",
            "syncv2:build",
        ],
        "node 3's round in the capture"
    );
    assert_eq!(sent, theirs);
    assert_eq!(completed, 1);
    assert!(!ours.in_progress());
}
