//! The `totem.interface` sections: link 0's port, TTL, bind and multicast addresses and its
//! `member` entries (G1 udpu), and every knet link's section.

use std::net::IpAddr;

use super::{
    checks, invalid, ip_with_scope, num, qualified, refused, yes_no, Entry, IpVersion,
    NodeConfigError, NodeEntry, Result, TransportKind, KNET_IFACE_KEYS,
};
use crate::corosync_conf::Section;
use totem_wire::Generation;

/// What the interface sections say.
#[derive(Debug)]
pub(super) struct Interfaces<'a> {
    /// Line of link 0's section (0: none).
    pub line: usize,
    /// knet: each link's section, by link number.
    pub knet: Vec<(u8, &'a Section)>,
    /// `member { memberaddr }` entries of link 0 (nodeid 0: not yet known).
    pub members: Vec<NodeEntry>,
    pub mcastport: u16,
    pub ttl: u32,
    /// `bindnetaddr` with its entry.
    pub bindnetaddr: Option<((IpAddr, u32), Entry)>,
    /// udp: the multicast group.
    pub mcastaddr: Option<IpAddr>,
    /// G1/G2 udp/udpu: the `ringnumber: 1` section, with its ringnumber entry.
    pub ring1: Option<(RingIface, Entry)>,
}

/// Reads the interface sections of `totem`.
pub(super) fn interfaces(
    totem: &Section,
    gen: Generation,
    transport: TransportKind,
    ip_version: IpVersion,
) -> Result<Interfaces<'_>> {
    let empty = Section::default();
    let mut iface: Option<&Section> = None;
    let mut knet_ifaces: Vec<(u8, &Section)> = Vec::new();
    let mut ring1_iface: Option<&Section> = None;
    for s in totem.subsections() {
        if s.name != "interface" {
            return Err(NodeConfigError::Refused {
                key: format!("totem.{}", s.name),
                value: String::new(),
                line: s.line,
                reason: "unknown section".into(),
            });
        }
        let link = s
            .entry("linknumber")
            .or_else(|| s.entry("ringnumber"))
            .map(|e| num::<u32>(&qualified("totem.interface", e)))
            .transpose()?
            .unwrap_or(0);
        // The entry to name when the link number is refused.
        let link_entry = || {
            let fallback = Entry {
                key: "linknumber".into(),
                value: link.to_string(),
                line: s.line,
            };
            let e = s.entry("linknumber").or_else(|| s.entry("ringnumber"));
            qualified("totem.interface", e.unwrap_or(&fallback))
        };
        if transport == TransportKind::Knet {
            if link >= u32::from(crate::knet::MAX_LINK) {
                return Err(invalid(&link_entry(), "knet links are numbered 0..7"));
            }
            knet_ifaces.push((link as u8, s));
            if link != 0 {
                continue;
            }
        } else if link == 1 && gen != Generation::G3 {
            if let Some(first) = ring1_iface {
                return Err(refused(
                    &link_entry(),
                    format!(
                        "a second interface with ringnumber 1 (the first is at line {})",
                        first.line
                    ),
                ));
            }
            ring1_iface = Some(s);
            continue;
        } else if link != 0 {
            let why = if gen == Generation::G3 {
                "only link/ring 0 is supported (no redundant links)"
            } else {
                "corosync supports two rings (ringnumber 0 and 1)"
            };
            return Err(refused(&link_entry(), why));
        }
        iface = Some(s);
    }
    let iface = iface.unwrap_or(&empty);
    let ring0 = ring(iface, 0, gen, transport, ip_version)?;
    let ring1 = ring1_iface
        .map(|s| {
            let number = s
                .entry("ringnumber")
                .or_else(|| s.entry("linknumber"))
                .map(|e| qualified("totem.interface", e))
                .expect("a ring-1 section has its ringnumber");
            ring(s, 1, gen, transport, ip_version).map(|r| (r, number))
        })
        .transpose()?;
    Ok(Interfaces {
        line: iface.line,
        knet: knet_ifaces,
        members: ring0.members,
        mcastport: ring0.mcastport,
        ttl: ring0.ttl,
        bindnetaddr: ring0.bindnetaddr,
        mcastaddr: ring0.mcastaddr,
        ring1,
    })
}

/// One ring's interface section (G1/G2 udp/udpu ring 0 or 1, or knet link 0's).
#[derive(Debug)]
pub(super) struct RingIface {
    /// `member { memberaddr }` entries (nodeid 0: not yet known).
    pub members: Vec<NodeEntry>,
    pub mcastport: u16,
    /// The line `mcastport` was given at (the section's when defaulted).
    pub mcastport_line: usize,
    pub ttl: u32,
    /// `bindnetaddr` with its entry.
    pub bindnetaddr: Option<((IpAddr, u32), Entry)>,
    /// udp: the multicast group.
    pub mcastaddr: Option<IpAddr>,
}

/// Reads one interface section as ring `number`'s.
fn ring(
    iface: &Section,
    number: u8,
    gen: Generation,
    transport: TransportKind,
    ip_version: IpVersion,
) -> Result<RingIface> {
    let mut members: Vec<NodeEntry> = Vec::new();
    for s in iface.subsections() {
        if s.name != "member" {
            return Err(NodeConfigError::Refused {
                key: format!("totem.interface.{}", s.name),
                value: String::new(),
                line: s.line,
                reason: "unknown section".into(),
            });
        }
        for e in s.entries() {
            let q = qualified("totem.interface.member", e);
            if e.key != "memberaddr" {
                return Err(refused(&q, "not supported by this implementation"));
            }
            let (addr, scope_id) = ip_with_scope(&q)?;
            checks::family(&q, addr, ip_version == IpVersion::V6)?;
            members.push(NodeEntry {
                nodeid: 0,
                addr,
                scope_id,
                name: None,
                ring_addrs: vec![(number, addr, scope_id)],
            });
        }
    }
    let i = |k: &str| iface.entry(k).map(|e| qualified("totem.interface", e));
    for e in iface.entries() {
        let known = [
            "linknumber",
            "ringnumber",
            "bindnetaddr",
            "mcastaddr",
            "mcastport",
            "ttl",
            "broadcast",
        ];
        let knet_ok = transport == TransportKind::Knet && KNET_IFACE_KEYS.contains(&e.key.as_str());
        if !known.contains(&e.key.as_str()) && !knet_ok {
            let q = qualified("totem.interface", e);
            let why = if e.key.starts_with("knet_") {
                "knet link options need transport: knet"
            } else {
                "not supported by this implementation"
            };
            return Err(refused(&q, why));
        }
    }
    if let Some(e) = i("broadcast") {
        if yes_no(&e)? {
            return Err(refused(
                &e,
                "broadcast mode is not implemented (use udpu or multicast)",
            ));
        }
    }
    let mcastport = match i("mcastport") {
        Some(e) => {
            let p: u16 = num(&e)?;
            if p < 2 {
                return Err(invalid(
                    &e,
                    "must be at least 2 (mcastport − 1 is the send port)",
                ));
            }
            p
        }
        None if gen == Generation::G1 => {
            return Err(NodeConfigError::Missing {
                key: "totem.interface.mcastport".into(),
                reason: "openais 0.80 and corosync 1.x have no default port".into(),
            })
        }
        None => 5405,
    };
    let ttl = match i("ttl") {
        Some(e) => {
            let v: u32 = num(&e)?;
            if !(1..=255).contains(&v) {
                return Err(invalid(&e, "must be between 1 and 255"));
            }
            v
        }
        None => 1,
    };
    checks::ttl(transport, i("ttl").map(|e| (ttl, e)))?;
    let bindnetaddr = i("bindnetaddr")
        .map(|e| ip_with_scope(&e).map(|a| (a, e)))
        .transpose()?;
    let mcastaddr = match (transport, i("mcastaddr")) {
        (TransportKind::Udp, Some(e)) => {
            let (a, _) = ip_with_scope(&e)?;
            if !a.is_multicast() {
                return Err(invalid(&e, "not a multicast address"));
            }
            Some(a)
        }
        (TransportKind::Udp, None) => {
            return Err(NodeConfigError::Missing {
                key: "totem.interface.mcastaddr".into(),
                reason: format!("transport udp needs a multicast group for ring {number} (deriving one from cluster_name is not implemented)"),
            })
        }
        (TransportKind::Udpu | TransportKind::Knet, _) => None,
    };
    Ok(RingIface {
        members,
        mcastport,
        mcastport_line: iface.entry("mcastport").map_or(iface.line, |e| e.line),
        ttl,
        bindnetaddr,
        mcastaddr,
    })
}
