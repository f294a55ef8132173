//! The redundant ring protocol of corosync 1.x/2.x (G1/G2, udp and udpu): `totem.rrp_mode`,
//! the `rrp_*` failure-detection keys (exec/totemconfig.c defaults and minimums) and ring 1
//! (`interface { ringnumber: 1 }`, the nodes' `ring1_addr`). G3 keeps refusing them: its
//! redundancy is knet's links.

use std::net::IpAddr;
use std::time::Duration;

use super::identity::local_one;
use super::interface::RingIface;
use super::{
    invalid, ms, num, refused, Entry, Lookup, NodeConfigError, NodeEntry, Result, TransportKind,
    MINIMUM_TIMEOUT,
};
use crate::rrp::{RingInterface, RrpMode, RrpSettings};
use totem_wire::Generation;

/// The `rrp_*` keys of the totem section besides `rrp_mode`.
pub(super) const RRP_KEYS: &[&str] = &[
    "rrp_problem_count_threshold",
    "rrp_problem_count_mcast_threshold",
    "rrp_problem_count_timeout",
    "rrp_token_expired_timeout",
    "rrp_autorecovery_check_timeout",
];

/// corosync's RRP_PROBLEM_COUNT_THRESHOLD_MIN.
const PROBLEM_COUNT_THRESHOLD_MIN: u32 = 2;

/// `totem.rrp_mode` (`None`: none, the default). G3 refuses a mode other than none and
/// every `rrp_*` key, as before.
pub(super) fn mode(gen: Generation, t: &Lookup<'_>) -> Result<Option<RrpMode>> {
    if gen == Generation::G3 {
        if let Some(e) = t("rrp_mode") {
            if e.value != "none" {
                return Err(refused(
                    &e,
                    "redundant ring protocol is not implemented (one ring only)",
                ));
            }
        }
        if let Some(e) = RRP_KEYS.iter().find_map(|k| t(k)) {
            return Err(refused(
                &e,
                "an RRP key of corosync 1.x/2.x (generations G1/G2); corosync 3 has knet links",
            ));
        }
        return Ok(None);
    }
    match t("rrp_mode") {
        None => Ok(None),
        Some(e) => match e.value.as_str() {
            "none" => Ok(None),
            "passive" => Ok(Some(RrpMode::Passive)),
            "active" => Ok(Some(RrpMode::Active)),
            _ => Err(invalid(&e, "must be none, active or passive")),
        },
    }
}

/// The `rrp_*` keys with corosync's defaults and minimums (`token_retransmit`: the engine's
/// token retransmit timeout, the default of `rrp_token_expired_timeout`).
pub(super) fn settings(
    mode: RrpMode,
    t: &Lookup<'_>,
    token_retransmit: Duration,
) -> Result<RrpSettings> {
    let mut s = RrpSettings::defaults(mode, token_retransmit);
    let threshold = |key: &str| -> Result<Option<u32>> {
        let Some(e) = t(key) else { return Ok(None) };
        let v: u32 = num(&e)?;
        if v < PROBLEM_COUNT_THRESHOLD_MIN {
            return Err(invalid(
                &e,
                format!("must be at least {PROBLEM_COUNT_THRESHOLD_MIN}"),
            ));
        }
        Ok(Some(v))
    };
    let timeout = |key: &str, min: Duration| -> Result<Option<Duration>> {
        let Some(e) = t(key) else { return Ok(None) };
        let v = ms(&e)?;
        if v < min {
            return Err(invalid(
                &e,
                format!(
                    "must be at least {} ms (corosync's minimum)",
                    min.as_millis()
                ),
            ));
        }
        Ok(Some(v))
    };
    if let Some(v) = threshold("rrp_problem_count_threshold")? {
        s.problem_count_threshold = v;
    }
    s.problem_count_mcast_threshold = match threshold("rrp_problem_count_mcast_threshold")? {
        Some(v) => v,
        None => s.problem_count_threshold.saturating_mul(10),
    };
    if let Some(v) = timeout("rrp_problem_count_timeout", MINIMUM_TIMEOUT)? {
        s.problem_count_timeout = v;
    }
    if let Some(v) = timeout("rrp_token_expired_timeout", MINIMUM_TIMEOUT)? {
        s.token_expired_timeout = v;
    }
    if let Some(v) = timeout("rrp_autorecovery_check_timeout", Duration::from_millis(1))? {
        s.autorecovery_check_timeout = v;
    }
    Ok(s)
}

/// Why a nodelist `ring1_addr` is refused (`None`: it is ring 1's address).
pub(super) fn ring1_addr_refusal(
    gen: Generation,
    transport: TransportKind,
    mode: Option<RrpMode>,
) -> Option<&'static str> {
    match (gen, transport, mode) {
        (Generation::G2, TransportKind::Udp | TransportKind::Udpu, Some(_)) => None,
        (Generation::G2, _, None) => {
            Some("a second ring needs totem.rrp_mode: passive or active")
        }
        _ => Some(
            "corosync 1.x takes ring 1's addresses from interface { ringnumber: 1 } (member entries)",
        ),
    }
}

/// A ring-1 interface with rrp_mode none, refused as corosync does (checked before the
/// nodelist, so that its ring1_addr is not the first thing named).
pub(super) fn too_many_rings(
    mode: Option<RrpMode>,
    iface: Option<&(RingIface, Entry)>,
) -> Result<()> {
    match (mode, iface) {
        (None, Some((_, number))) => Err(refused(
            number,
            "2 is too many configured interfaces for the rrp_mode setting none (set totem.rrp_mode: passive or active)",
        )),
        _ => Ok(()),
    }
}

/// Ring 0's interface, as much as ring 1 is checked against.
pub(super) struct Ring0 {
    pub mcastaddr: Option<IpAddr>,
    pub mcastport: u16,
}

/// Ring 1, when there are two rings: its interface with our address and every node's.
/// `nodes` are the ring's nodes (nodelist, or ring 0's members when `from_members`),
/// `nodeid` ours. One ring with rrp_mode set runs as one ring (corosync warns and does
/// the same); two rings with rrp_mode none are refused.
#[allow(clippy::too_many_arguments)]
pub(super) fn ring1(
    mode: Option<RrpMode>,
    ring0: Ring0,
    iface: Option<(RingIface, Entry)>,
    nodes: &[NodeEntry],
    from_members: bool,
    nodeid: u32,
    default_port: u16,
    is_local: &dyn Fn(IpAddr) -> bool,
) -> Result<Option<RingInterface>> {
    let in_nodelist = !from_members && nodes.iter().any(|n| n.ring_addrs.len() > 1);
    let Some(mode) = mode else {
        too_many_rings(None, iface.as_ref())?;
        return Ok(None);
    };
    if iface.is_none() && !in_nodelist {
        tracing::warn!(
            rrp_mode = mode.name(),
            "totem.rrp_mode is set but only one ring is configured: running with one ring"
        );
        return Ok(None);
    }
    let (mcastaddr, mcastport, ttl, mcastport_line, members, bindnetaddr, number) = match iface {
        Some((r, number)) => (
            r.mcastaddr,
            r.mcastport,
            r.ttl,
            r.mcastport_line,
            r.members,
            r.bindnetaddr,
            Some(number),
        ),
        None => (None, default_port, 1, 0, Vec::new(), None, None),
    };
    if ring0.mcastaddr.is_some() && mcastaddr.is_none() {
        return Err(NodeConfigError::Missing {
            key: "totem.interface.mcastaddr".into(),
            reason: "transport udp needs a multicast group for ring 1 (interface { ringnumber: 1 mcastaddr })".into(),
        });
    }
    if let (Some(a0), Some(a1)) = (ring0.mcastaddr, mcastaddr) {
        if a0 == a1 && ring0.mcastport.abs_diff(mcastport) < 2 {
            return Err(refused(
                &Entry {
                    key: "totem.interface.mcastport".into(),
                    value: mcastport.to_string(),
                    line: mcastport_line,
                },
                format!(
                    "rings 0 and 1 share the multicast group {a1}: their ports must differ by at least 2 (each ring also uses port − 1; ring 0 has {})",
                    ring0.mcastport
                ),
            ));
        }
    }
    let (bind, ring_nodes) = if from_members || (nodes.is_empty() && !members.is_empty()) {
        if members.is_empty() {
            return Err(NodeConfigError::Missing {
                key: "totem.interface.member".into(),
                reason: "ring 1 needs its member addresses as ring 0 has them (interface { ringnumber: 1 member { memberaddr } })".into(),
            });
        }
        let bind = local_one(
            members.iter().map(|n| (n.addr, n.scope_id)).collect(),
            1,
            is_local,
        )?;
        let ring_nodes = members
            .into_iter()
            .map(|mut n| {
                if n.addr == bind.0 {
                    n.nodeid = nodeid;
                }
                n
            })
            .collect();
        (bind, ring_nodes)
    } else if !nodes.is_empty() {
        if let Some(m) = members.first() {
            return Err(NodeConfigError::Refused {
                key: "totem.interface.member".into(),
                value: m.addr.to_string(),
                line: number.as_ref().map_or(0, |e| e.line),
                reason: "give either a nodelist or interface members, not both".into(),
            });
        }
        if !in_nodelist {
            let number = number.expect("a ring-1 interface without ring1_addr");
            return Err(refused(
                &number,
                "with a nodelist, ring 1's addresses are the nodes' ring1_addr, and no node has one",
            ));
        }
        let ring1_of = |n: &NodeEntry| {
            n.ring_addrs
                .iter()
                .find(|(l, _, _)| *l == 1)
                .map(|(_, a, s)| (*a, *s))
                .expect("nodelist: every node has its ring1_addr")
        };
        let me = nodes
            .iter()
            .find(|n| n.nodeid == nodeid)
            .expect("own node is in the nodelist");
        let ring_nodes = nodes
            .iter()
            .map(|n| {
                let (addr, scope_id) = ring1_of(n);
                NodeEntry {
                    addr,
                    scope_id,
                    ..n.clone()
                }
            })
            .collect();
        (ring1_of(me), ring_nodes)
    } else {
        // Multicast without a nodelist: our address is ring 1's bindnetaddr.
        let bind = local_one(
            bindnetaddr.map(|(a, _)| a).into_iter().collect(),
            1,
            is_local,
        )?;
        (bind, Vec::new())
    };
    Ok(Some(RingInterface {
        bind_addr: bind.0,
        scope_id: bind.1,
        mcastaddr,
        mcastport,
        ttl,
        nodes: ring_nodes,
    }))
}
