//! The `nodelist` section: every node's nodeid, name and address per link, with the checks
//! that make them a usable ring (unique ids and addresses, one family per link, knet's
//! 16-bit host ids).

use std::net::IpAddr;

use super::{
    checks, invalid, ip_with_scope, num, qualified, refused, v4_nodeid, IpVersion, NodeConfigError,
    NodeEntry, Result, TransportKind,
};
use crate::corosync_conf::Section;
use totem_wire::Generation;

/// The nodes of `root`'s nodelist (empty without one), in file order.
pub(super) fn nodelist(
    root: &Section,
    gen: Generation,
    transport: TransportKind,
    ip_version: IpVersion,
    ring1_refusal: Option<&str>,
) -> Result<Vec<NodeEntry>> {
    // Line of each node's section, for a node without ring1_addr.
    let mut lines: Vec<usize> = Vec::new();
    let mut nodes: Vec<NodeEntry> = Vec::new();
    // Family of each knet link's addresses, and the nodeid that set it.
    let mut link_family: std::collections::BTreeMap<u8, (bool, u32)> = Default::default();
    if let Some(nl) = root.section("nodelist") {
        if let Some(e) = nl.entries().next() {
            return Err(refused(
                &qualified("nodelist", e),
                "nodelist holds only node sections",
            ));
        }
        for n in nl.subsections() {
            if n.name != "node" {
                return Err(NodeConfigError::Refused {
                    key: format!("nodelist.{}", n.name),
                    value: String::new(),
                    line: n.line,
                    reason: "unknown section".into(),
                });
            }
            let mut nodeid = None;
            let mut addr = None;
            let mut name = None;
            let mut ring_addrs: Vec<(u8, IpAddr, u32)> = Vec::new();
            for e in n.entries() {
                let q = qualified("nodelist.node", e);
                match e.key.as_str() {
                    "nodeid" => {
                        let v: u32 = num(&q)?;
                        if v == 0 {
                            return Err(invalid(&q, "nodeid 0 is reserved (it marks a leave)"));
                        }
                        nodeid = Some(v);
                    }
                    "ring0_addr" => {
                        let a = ip_with_scope(&q)?;
                        checks::family(&q, a.0, ip_version == IpVersion::V6)?;
                        checks::duplicate_address(&nodes, &ring_addrs, &q, a.0)?;
                        ring_addrs.push((0, a.0, a.1));
                        addr = Some(a);
                    }
                    k if transport == TransportKind::Knet
                        && k.starts_with("ring")
                        && k.ends_with("_addr") =>
                    {
                        let n: u8 = k[4..k.len() - 5]
                            .parse()
                            .ok()
                            .filter(|n| *n < crate::knet::MAX_LINK)
                            .ok_or_else(|| invalid(&q, "knet links are ring0_addr..ring7_addr"))?;
                        let a = ip_with_scope(&q)?;
                        checks::duplicate_address(&nodes, &ring_addrs, &q, a.0)?;
                        if let Some((v6, id)) = link_family.get(&n) {
                            if *v6 != a.0.is_ipv6() {
                                return Err(invalid(
                                    &q,
                                    format!("link {n} of nodeid {id} has an address of the other family (the nodes of a link share one)"),
                                ));
                            }
                        }
                        ring_addrs.push((n, a.0, a.1));
                    }
                    "ring1_addr" if ring1_refusal.is_none() && transport != TransportKind::Knet => {
                        let a = ip_with_scope(&q)?;
                        checks::family(&q, a.0, ip_version == IpVersion::V6)?;
                        checks::duplicate_address(&nodes, &ring_addrs, &q, a.0)?;
                        ring_addrs.push((1, a.0, a.1));
                    }
                    "name" => name = Some(e.value.clone()),
                    // votequorum's per-node votes, read with the quorum section (quorum.rs).
                    "quorum_votes" => {
                        num::<u32>(&q)?;
                    }
                    k if k.starts_with("ring") && k.ends_with("_addr") => {
                        let why = match (gen, k, ring1_refusal) {
                            (Generation::G3, ..) => {
                                "only ring0_addr is supported (no redundant links)"
                            }
                            (_, "ring1_addr", Some(r)) => r,
                            _ => "corosync 1.x and 2.x have two rings: ring0_addr and ring1_addr",
                        };
                        return Err(refused(&q, why));
                    }
                    _ => return Err(refused(&q, "not supported by this implementation")),
                }
            }
            let Some((addr, scope_id)) = addr else {
                return Err(NodeConfigError::Missing {
                    key: format!("nodelist.node (line {}).ring0_addr", n.line),
                    reason: "every node needs an address".into(),
                });
            };
            let nodeid = match (nodeid, addr) {
                (Some(n), _) => n,
                (None, IpAddr::V4(v4)) if gen != Generation::G3 => v4_nodeid(v4),
                (None, _) => {
                    return Err(NodeConfigError::Missing {
                        key: format!("nodelist.node (line {}).nodeid", n.line),
                        reason: "nodeid is required (corosync 3, and IPv6 in every version)".into(),
                    })
                }
            };
            if nodes.iter().any(|x| x.nodeid == nodeid) {
                return Err(NodeConfigError::Invalid {
                    key: "nodelist.node.nodeid".into(),
                    value: nodeid.to_string(),
                    line: n.entry("nodeid").map_or(n.line, |e| e.line),
                    reason: if n.entry("nodeid").is_some() {
                        "duplicate nodeid: an earlier node has it".into()
                    } else {
                        "the nodeid derived from ring0_addr is an earlier node's".into()
                    },
                });
            }
            for (l, a, _) in &ring_addrs {
                link_family.entry(*l).or_insert((a.is_ipv6(), nodeid));
            }
            if transport == TransportKind::Knet && nodeid > u32::from(u16::MAX) {
                return Err(NodeConfigError::Invalid {
                    key: "nodelist.node.nodeid".into(),
                    value: nodeid.to_string(),
                    line: n.line,
                    reason: "knet host ids are 16-bit: nodeid must be below 65536".into(),
                });
            }
            ring_addrs.sort();
            lines.push(n.line);
            nodes.push(NodeEntry {
                nodeid,
                addr,
                scope_id,
                name,
                ring_addrs,
            });
        }
    }
    if transport != TransportKind::Knet && nodes.iter().any(|n| n.ring_addrs.len() > 1) {
        if let Some((n, line)) = nodes
            .iter()
            .zip(&lines)
            .find(|(n, _)| n.ring_addrs.len() < 2)
        {
            return Err(NodeConfigError::Missing {
                key: format!("nodelist.node (line {line}).ring1_addr"),
                reason: format!(
                    "nodeid {} has no ring-1 address; with two rings every node needs one",
                    n.nodeid
                ),
            });
        }
    }
    Ok(nodes)
}
