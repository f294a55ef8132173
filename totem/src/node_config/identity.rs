//! Which node of the nodelist (or of the interface members) we are: by `--nodeid`,
//! `totem.nodeid`, `bindnetaddr` or the one local address, and our nodeid when derived.

use super::*;

pub(super) fn own_node(
    nodes: &[NodeEntry],
    from_members: bool,
    want: Option<u32>,
    totem_nodeid: Option<u32>,
    bindnetaddr: Option<(IpAddr, u32)>,
    gen: Generation,
    is_local: &dyn Fn(IpAddr) -> bool,
) -> Result<(u32, IpAddr, u32)> {
    if !nodes.is_empty() && !from_members {
        if let Some(id) = want {
            let n = nodes.iter().find(|n| n.nodeid == id).ok_or_else(|| {
                NodeConfigError::OwnNode(format!("nodeid {id} is not in the nodelist"))
            })?;
            return Ok((n.nodeid, n.addr, n.scope_id));
        }
        let local: Vec<&NodeEntry> = nodes.iter().filter(|n| is_local(n.addr)).collect();
        return match local.as_slice() {
            [n] => Ok((n.nodeid, n.addr, n.scope_id)),
            [] => Err(NodeConfigError::OwnNode(format!(
                "no nodelist ring0_addr is an address of this host (checked {}); pass --nodeid",
                nodes
                    .iter()
                    .map(|n| n.addr.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            many => Err(NodeConfigError::OwnNode(format!(
                "several nodelist addresses are local ({}); pass --nodeid",
                many.iter()
                    .map(|n| n.addr.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        };
    }
    // No nodelist: interface members (G1 udpu) or plain multicast.
    let candidates: Vec<(IpAddr, u32)> = if from_members {
        nodes.iter().map(|n| (n.addr, n.scope_id)).collect()
    } else {
        bindnetaddr.into_iter().collect()
    };
    let (addr, scope) = local_one(candidates, 0, is_local)?;
    let nodeid = match (want.or(totem_nodeid), addr) {
        (Some(n), _) => n,
        (None, IpAddr::V4(v4)) if gen != Generation::G3 => v4_nodeid(v4),
        (None, _) => {
            return Err(NodeConfigError::Missing {
                key: "totem.nodeid".into(),
                reason: "needed without a nodelist (corosync 3, and IPv6)".into(),
            })
        }
    };
    if nodeid == 0 {
        return Err(NodeConfigError::OwnNode("nodeid 0 is reserved".into()));
    }
    Ok((nodeid, addr, scope))
}

/// The one local address among ring `ring`'s interface members or its bindnetaddr (how
/// our address is found without a nodelist).
pub(super) fn local_one(
    candidates: Vec<(IpAddr, u32)>,
    ring: u8,
    is_local: &dyn Fn(IpAddr) -> bool,
) -> Result<(IpAddr, u32)> {
    let local: Vec<(IpAddr, u32)> = candidates
        .into_iter()
        .filter(|(a, _)| is_local(*a))
        .collect();
    let prefix = if ring == 0 {
        String::new()
    } else {
        format!("ring {ring}: ")
    };
    match local.as_slice() {
        [one] => Ok(*one),
        [] => Err(NodeConfigError::OwnNode(format!(
            "{prefix}without a nodelist, totem.interface.bindnetaddr (or one interface member) must be an exact address of this host; network addresses are not matched against interfaces"
        ))),
        _ => Err(NodeConfigError::OwnNode(format!(
            "{prefix}several interface members are local addresses"
        ))),
    }
}
