//! G1 cross-check: tshark's own corosync dissectors and our codec must read the same field
//! values from every G1 packet of every bundled G1 capture.
//!
//! tshark (`corosync_totemnet`/`corosync_totemsrp`, Debian 4.0) is an independent decoder of
//! the openais 0.80 / corosync 1.x format, including SOBER-128 decryption with a key string.
//! It does not decode NSS mode or the RRP ring-test messages, so those are left out; ICMP
//! errors quoting a Totem datagram are not datagrams and are left out too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use totem_captures::{read_udp, PortFilter};
use totem_wire::datagram::{decode, Keys};
use totem_wire::envelope::AuthKey;
use totem_wire::ip_address::{TotemIpAddress, AF_INET};
use totem_wire::srp::message::SrpMessage;
use totem_wire::{Generation, RingId, RingRep, SrpAddr};

const FIELDS: &[&str] = &[
    "frame.number",
    "corosync_totemsrp.message_header.type",
    "corosync_totemsrp.message_header.encapsulated",
    "corosync_totemsrp.message_header.nodeid",
    "corosync_totemsrp.orf_token.seq",
    "corosync_totemsrp.orf_token.aru",
    "corosync_totemsrp.orf_token.aru_addr",
    "corosync_totemsrp.orf_token.backlog",
    "corosync_totemsrp.orf_token.fcc",
    "corosync_totemsrp.orf_token.retrans_flg",
    "corosync_totemsrp.orf_token.rtr_list_entries",
    "corosync_totemsrp.rtr_item.seq",
    "corosync_totemsrp.memb_ring_id.seq",
    "corosync_totemsrp.ip_address.nodeid",
    "corosync_totemsrp.ip_address.family",
    "corosync_totemsrp.ip_address.addr4",
    "corosync_totemsrp.mcast.seq",
    "corosync_totemsrp.mcast.this_seqno",
    "corosync_totemsrp.mcast.node_id",
    "corosync_totemsrp.mcast.guarantee",
    "corosync_totemsrp.memb_join.proc_list_entries",
    "corosync_totemsrp.memb_join.failed_list_entries",
    "corosync_totemsrp.memb_join.ring_seq",
    "corosync_totemsrp.memb_commit_token.token_seq",
    "corosync_totemsrp.memb_commit_token.retrans_flg",
    "corosync_totemsrp.memb_commit_token.memb_index",
    "corosync_totemsrp.memb_commit_token.addr_entries",
    "corosync_totemsrp.memb_commit_token_memb_entry.aru",
    "corosync_totemsrp.memb_commit_token_memb_entry.high_delivered",
    "corosync_totemsrp.memb_commit_token_memb_entry.received_flg",
];

fn real_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../captures/real")
}

fn tshark_present() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// tshark's rows, keyed by frame number: one `|`-joined string of all FIELDS.
fn tshark_rows(file: &Path, key: Option<&str>) -> BTreeMap<u64, String> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file);
    for port in ["5405", "5404", "5149"] {
        cmd.args(["-d", &format!("udp.port=={port},corosync_totemnet")]);
    }
    if let Some(k) = key {
        cmd.args(["-o", &format!("corosync_totemnet.private_keys:{k}")]);
    }
    cmd.args([
        "-Y",
        "corosync_totemsrp && !icmp && !icmpv6",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (frame, rest) = l.split_once('|')?;
            Some((frame.parse().ok()?, rest.to_string()))
        })
        .collect()
}

#[derive(Default)]
struct Row {
    cols: Vec<String>,
    rtr_seq: Vec<String>,
    ring_seq: Vec<String>,
    ip_nodeid: Vec<String>,
    ip_family: Vec<String>,
    ip_addr4: Vec<String>,
    me: [Vec<String>; 3],
}

impl Row {
    fn ip(&mut self, a: &TotemIpAddress) {
        self.ip_nodeid.push(a.nodeid.to_string());
        self.ip_family.push(a.family.to_string());
        if a.family == AF_INET {
            self.ip_addr4.push(format!(
                "{}.{}.{}.{}",
                a.addr[0], a.addr[1], a.addr[2], a.addr[3]
            ));
        }
    }
    fn srp(&mut self, s: &SrpAddr) {
        if let SrpAddr::Addrs { addrs, .. } = s {
            self.ip(&addrs[0]);
            self.ip(&addrs[1]);
        }
    }
    fn ring(&mut self, r: &RingId) {
        if let RingRep::Addr(a) = &r.rep {
            self.ip(a);
        }
        self.ring_seq.push(r.seq.to_string());
    }
}

/// Our decode, laid out as tshark lays out the same fields.
fn our_row(m: &SrpMessage) -> String {
    let mut r = Row::default();
    let mut c: BTreeMap<&str, String> = BTreeMap::new();
    let mut set = |k: &'static str, v: String| {
        c.insert(k, v);
    };
    match m {
        SrpMessage::OrfToken(t) => {
            set(
                "h",
                format!("0|{}|{}", t.header.encapsulated, t.header.nodeid),
            );
            set(
                "orf",
                format!(
                    "{},{}|{}|{}|{}|{}|{}|{}",
                    t.seq,
                    t.token_seq,
                    t.aru,
                    t.aru_addr,
                    t.backlog,
                    t.fcc,
                    t.retrans_flg,
                    t.rtr_list.len()
                ),
            );
            r.ring(&t.ring_id);
            for i in &t.rtr_list {
                r.ring(&i.ring_id);
                r.rtr_seq.push(i.seq.to_string());
            }
        }
        SrpMessage::Mcast(x) => {
            set(
                "h",
                format!("1|{}|{}", x.header.encapsulated, x.header.nodeid),
            );
            r.srp(&x.system_from);
            r.ring(&x.ring_id);
            set(
                "mcast",
                format!("{}|{}|{}|{}", x.seq, x.this_seqno, x.node_id, x.guarantee),
            );
        }
        SrpMessage::MergeDetect(x) => {
            set(
                "h",
                format!("2|{}|{}", x.header.encapsulated, x.header.nodeid),
            );
            r.srp(&x.system_from);
            r.ring(&x.ring_id);
        }
        SrpMessage::MembJoin(x) => {
            set(
                "h",
                format!("3|{}|{}", x.header.encapsulated, x.header.nodeid),
            );
            r.srp(&x.system_from);
            for a in x.proc_list.iter().chain(&x.failed_list) {
                r.srp(a);
            }
            set(
                "join",
                format!(
                    "{}|{}|{}",
                    x.proc_list.len(),
                    x.failed_list.len(),
                    x.ring_seq
                ),
            );
        }
        SrpMessage::CommitToken(x) => {
            set(
                "h",
                format!("4|{}|{}", x.header.encapsulated, x.header.nodeid),
            );
            r.ring(&x.ring_id);
            for a in &x.addr {
                r.srp(a);
            }
            for e in &x.memb_list {
                r.ring(&e.ring_id);
                r.me[0].push(e.aru.to_string());
                r.me[1].push(e.high_delivered.to_string());
                r.me[2].push(e.received_flg.to_string());
            }
            set(
                "ct",
                format!(
                    "{}|{}|{}|{}",
                    x.token_seq,
                    x.retrans_flg,
                    x.memb_index,
                    x.addr.len()
                ),
            );
        }
        SrpMessage::TokenHoldCancel(x) => {
            set(
                "h",
                format!("5|{}|{}", x.header.encapsulated, x.header.nodeid),
            );
            r.ring(&x.ring_id);
        }
        SrpMessage::RingTest(_) => unreachable!("filtered out"),
    }
    let get = |k: &str, n: usize| c.get(k).cloned().unwrap_or_else(|| vec![""; n].join("|"));
    r.cols = vec![
        get("h", 3),
        get("orf", 7),
        r.rtr_seq.join(","),
        r.ring_seq.join(","),
        r.ip_nodeid.join(","),
        r.ip_family.join(","),
        r.ip_addr4.join(","),
        get("mcast", 4),
        get("join", 3),
        get("ct", 4),
        r.me[0].join(","),
        r.me[1].join(","),
        r.me[2].join(","),
    ];
    r.cols.join("|")
}

fn g1_captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(real_dir())
        .expect("captures/real exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.ends_with(".pcapng")
                && (n.starts_with("1.4.10")
                    || n.starts_with("openais")
                    || n.starts_with("mixed-openais")
                    || n.starts_with("mixed-2.4.6x2+1.4.10"))
                && !n.contains("secauth-nss")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn tshark_and_we_read_the_same_g1_fields() {
    if !tshark_present() {
        eprintln!("SKIP: tshark missing");
        return;
    }
    let files = g1_captures();
    assert!(files.len() >= 17, "G1 captures: {}", files.len());
    let key_string =
        std::fs::read_to_string(real_dir().join("1.4.10-udpu-secauth.authkey.wireshark-key.txt"))
            .unwrap();
    let (mut packets, mut mismatches) = (0u64, Vec::new());
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let secauth = name.contains("secauth");
        let theirs = tshark_rows(file, secauth.then_some(key_string.trim_end()));
        let keys = if secauth {
            Keys::with_authkey(
                AuthKey::from_file(real_dir().join("1.4.10-udpu-secauth.authkey"))
                    .unwrap()
                    .as_bytes(),
            )
        } else {
            Keys::none()
        };
        let filter = PortFilter {
            ports: vec![5405, 5404, 5149],
        };
        let (datagrams, _) = read_udp(file, &filter).unwrap();
        let mut ours = BTreeMap::new();
        for d in &datagrams {
            let Ok(g) = decode(&d.payload, &keys) else {
                continue;
            };
            if g.generation != Generation::G1 || matches!(g.body.message, SrpMessage::RingTest(_)) {
                continue;
            }
            ours.insert(d.frame, our_row(&g.body.message));
        }
        assert!(!theirs.is_empty(), "{name}: tshark decoded nothing");
        let frames: Vec<_> = theirs
            .keys()
            .chain(ours.keys())
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for f in frames {
            packets += 1;
            let (a, b) = (theirs.get(&f), ours.get(&f));
            if a != b {
                mismatches.push(format!(
                    "{name} frame {f}:\n  tshark: {a:?}\n  ours:   {b:?}"
                ));
            }
        }
    }
    for m in mismatches.iter().take(10) {
        eprintln!("{m}");
    }
    println!(
        "G1 packets cross-checked with tshark: {packets}, mismatches: {}",
        mismatches.len()
    );
    assert!(packets > 20_000, "only {packets} packets compared");
    assert!(
        mismatches.is_empty(),
        "{} of {packets} packets differ",
        mismatches.len()
    );
}
