//! A bridge's counters in the Prometheus text format, and the summary `totem-gateway
//! status` prints from them.

use std::fmt::Write as _;

use super::SideStatus;
use crate::metrics::samples;

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The metrics page of a bridge.
pub fn render(connected: bool, sides: &[SideStatus], delivered: [u64; 2]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# HELP totem_mrp_bridge_connected Whether the two ports are joined."
    );
    let _ = writeln!(o, "# TYPE totem_mrp_bridge_connected gauge");
    let _ = writeln!(o, "totem_mrp_bridge_connected {}", u8::from(connected));
    let counters: [(&str, &str); 5] = [
        (
            "filtered",
            "Data elements not forwarded (no members on the far side): a skip instead.",
        ),
        ("injected", "Elements from the far side put into this ring."),
        (
            "nulls",
            "Nulls sent into this ring to move it past forwarded keys.",
        ),
        ("refused", "Link messages refused."),
        (
            "delivered",
            "Data the gateway delivered in the global order.",
        ),
    ];
    for (name, help) in counters {
        let _ = writeln!(o, "# HELP totem_mrp_bridge_{name}_total {help}");
        let _ = writeln!(o, "# TYPE totem_mrp_bridge_{name}_total counter");
        for (i, s) in sides.iter().enumerate() {
            let v = match name {
                "filtered" => s.stats.filtered,
                "injected" => s.stats.injected,
                "nulls" => s.stats.nulls,
                "refused" => s.stats.refused,
                _ => delivered.get(i).copied().unwrap_or(0),
            };
            let _ = writeln!(
                o,
                "totem_mrp_bridge_{name}_total{{ring=\"{}\"}} {v}",
                s.ring
            );
        }
    }
    let _ = writeln!(
        o,
        "# HELP totem_mrp_bridge_forwarded_total Elements sent to the far side, by kind."
    );
    let _ = writeln!(o, "# TYPE totem_mrp_bridge_forwarded_total counter");
    for s in sides {
        for (kind, n) in &s.stats.forwarded {
            let _ = writeln!(
                o,
                "totem_mrp_bridge_forwarded_total{{ring=\"{}\",kind=\"{kind}\"}} {n}",
                s.ring
            );
        }
    }
    let gauges: [(&str, &str); 4] = [
        (
            "synced",
            "Whether the ring's configuration has all its clocks.",
        ),
        ("members", "Members of the ring's configuration."),
        ("far_origins", "Rings reached through the far side."),
        ("waiting", "Elements waiting in the gateway's own order."),
    ];
    for (name, help) in gauges {
        let _ = writeln!(o, "# HELP totem_mrp_bridge_{name} {help}");
        let _ = writeln!(o, "# TYPE totem_mrp_bridge_{name} gauge");
        for s in sides {
            let v = match name {
                "synced" => usize::from(s.synced),
                "members" => s.members.len(),
                "far_origins" => s.far_origins.len(),
                _ => s.waiting,
            };
            let _ = writeln!(
                o,
                "totem_mrp_bridge_{name}{{ring=\"{}\",nodeid=\"{}\"}} {v}",
                s.ring, s.nodeid
            );
        }
    }
    let _ = writeln!(o, "# HELP totem_mrp_bridge_group Groups by side: forwarded from this ring (far side has members) or with members here.");
    let _ = writeln!(o, "# TYPE totem_mrp_bridge_group gauge");
    for s in sides {
        for g in &s.near_groups {
            let fwd = u8::from(s.forwarded_groups.contains(g));
            let _ = writeln!(
                o,
                "totem_mrp_bridge_group{{ring=\"{}\",group=\"{}\",members=\"here\"}} {fwd}",
                s.ring,
                esc(g)
            );
        }
        for g in s
            .forwarded_groups
            .iter()
            .filter(|g| !s.near_groups.contains(g))
        {
            let _ = writeln!(
                o,
                "totem_mrp_bridge_group{{ring=\"{}\",group=\"{}\",members=\"far\"}} 1",
                s.ring,
                esc(g)
            );
        }
    }
    o
}

/// A WAN gateway's link counters.
pub fn render_link(l: &super::wan_port::LinkStats) -> String {
    let mut o = String::new();
    for (name, help, v) in [
        ("ups", "WAN connections that came up.", l.ups),
        (
            "downs",
            "WAN connections that went down (cut, peer gone).",
            l.downs,
        ),
        (
            "refused",
            "WAN connection attempts refused (wrong key, a stranger).",
            l.refused,
        ),
        (
            "filtered_groups",
            "Group names the per-group filter kept from crossing.",
            l.filtered_groups,
        ),
    ] {
        let _ = writeln!(o, "# HELP totem_mrp_wan_{name}_total {help}");
        let _ = writeln!(o, "# TYPE totem_mrp_wan_{name}_total counter");
        let _ = writeln!(o, "totem_mrp_wan_{name}_total {v}");
    }
    let _ = writeln!(o, "# HELP totem_mrp_wan_cut_delivered Messages this site delivered alone during the last cut.");
    let _ = writeln!(o, "# TYPE totem_mrp_wan_cut_delivered gauge");
    let _ = writeln!(o, "totem_mrp_wan_cut_delivered {}", l.cut_delivered);
    o
}

/// A FIFO bridge's page: per ring and group, the real members there and the proxies the
/// gateway keeps there for the other side's members; messages forwarded by origin ring.
pub fn render_fifo(
    core: &super::fifo::FifoBridge,
    proxies: &std::collections::HashMap<(usize, Vec<u8>), usize>,
) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# HELP totem_mrp_fifo_members Processes of a bridged group on a ring (the gateway's own left out).");
    let _ = writeln!(o, "# TYPE totem_mrp_fifo_members gauge");
    let groups: Vec<Vec<u8>> = core.groups().cloned().collect();
    for side in 0..2 {
        for g in &groups {
            let _ = writeln!(
                o,
                "totem_mrp_fifo_members{{ring=\"{side}\",group=\"{}\"}} {}",
                esc(&String::from_utf8_lossy(g)),
                core.members(side, g).len()
            );
        }
    }
    let _ = writeln!(
        o,
        "# HELP totem_mrp_fifo_proxies Proxies on a ring for the other ring's members of a group."
    );
    let _ = writeln!(o, "# TYPE totem_mrp_fifo_proxies gauge");
    for side in 0..2 {
        for g in &groups {
            let _ = writeln!(
                o,
                "totem_mrp_fifo_proxies{{ring=\"{side}\",group=\"{}\"}} {}",
                esc(&String::from_utf8_lossy(g)),
                proxies.get(&(side, g.clone())).copied().unwrap_or(0)
            );
        }
    }
    let _ = writeln!(
        o,
        "# HELP totem_mrp_fifo_forwarded_total Messages forwarded, by the ring they came from."
    );
    let _ = writeln!(o, "# TYPE totem_mrp_fifo_forwarded_total counter");
    let _ = writeln!(o, "# HELP totem_mrp_fifo_unproxied_total Messages of senders not (yet) mirrored: not forwarded.");
    let _ = writeln!(o, "# TYPE totem_mrp_fifo_unproxied_total counter");
    for side in 0..2 {
        let _ = writeln!(
            o,
            "totem_mrp_fifo_forwarded_total{{ring=\"{side}\"}} {}",
            core.stats.forwarded[side]
        );
        let _ = writeln!(
            o,
            "totem_mrp_fifo_unproxied_total{{ring=\"{side}\"}} {}",
            core.stats.unproxied[side]
        );
    }
    o
}

/// What `totem-gateway status` prints for a FIFO bridge.
pub fn summary_fifo(text: &str) -> String {
    let s = samples(text);
    let label = |l: &[(String, String)], k: &str| {
        l.iter()
            .find(|(a, _)| a == k)
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    };
    let mut o = String::from("FIFO bridge (corosync rings: per-sender order, groups mirrored)\n");
    for (n, l, x) in &s {
        match n.as_str() {
            "totem_mrp_fifo_members" => {
                let proxies = s
                    .iter()
                    .find(|(m, l2, _)| m == "totem_mrp_fifo_proxies" && l2 == l)
                    .map_or(0.0, |(_, _, v)| *v);
                let _ = writeln!(
                    o,
                    "\tring {} group {}: {x} members, {proxies} proxies of the other ring's",
                    label(l, "ring"),
                    label(l, "group")
                );
            }
            "totem_mrp_fifo_forwarded_total" => {
                let _ = writeln!(o, "\tforwarded from ring {}: {x}", label(l, "ring"));
            }
            _ => {}
        }
    }
    o
}

/// Whether a metrics page is a bridge's.
pub fn is_bridge(text: &str) -> bool {
    text.contains("totem_mrp_bridge_connected") || text.contains("totem_mrp_fifo_members")
}

/// What `totem-gateway status` prints for a bridge.
pub fn summary(text: &str) -> String {
    if text.contains("totem_mrp_fifo_members") {
        return summary_fifo(text);
    }
    let s = samples(text);
    let label = |l: &[(String, String)], k: &str| {
        l.iter()
            .find(|(a, _)| a == k)
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    };
    let get = |name: &str, ring: &str| -> f64 {
        s.iter()
            .filter(|(n, l, _)| n == name && label(l, "ring") == ring)
            .map(|(_, _, x)| x)
            .sum::<f64>()
            + 0.0
    };
    let connected = s
        .iter()
        .any(|(n, _, x)| n == "totem_mrp_bridge_connected" && *x > 0.0);
    let mut rings: Vec<(String, String)> = s
        .iter()
        .filter(|(n, _, _)| n == "totem_mrp_bridge_synced")
        .map(|(_, l, _)| (label(l, "ring"), label(l, "nodeid")))
        .collect();
    rings.dedup();
    let mut o = format!(
        "Multiple-ring bridge: {}\n",
        if connected {
            "ports joined"
        } else {
            "waiting for both rings to sync"
        }
    );
    if s.iter().any(|(n, _, _)| n == "totem_mrp_wan_ups_total") {
        let one = |name: &str| {
            s.iter()
                .filter(|(n, _, _)| n == name)
                .map(|(_, _, x)| x)
                .sum::<f64>()
                + 0.0
        };
        let _ = writeln!(
            o,
            "WAN link: {} (up {} times, down {}, refused {}); delivered alone in the last cut: {}",
            if connected { "up" } else { "down" },
            one("totem_mrp_wan_ups_total"),
            one("totem_mrp_wan_downs_total"),
            one("totem_mrp_wan_refused_total"),
            one("totem_mrp_wan_cut_delivered"),
        );
    }
    for (ring, nodeid) in &rings {
        let _ = writeln!(
            o,
            "ring {ring} (gateway nodeid {nodeid}): synced={} members={} far rings={} waiting={}",
            get("totem_mrp_bridge_synced", ring),
            get("totem_mrp_bridge_members", ring),
            get("totem_mrp_bridge_far_origins", ring),
            get("totem_mrp_bridge_waiting", ring),
        );
        let _ = writeln!(
            o,
            "\tforwarded {} elements ({} data filtered), injected {}, nulls {}, refused {}",
            get("totem_mrp_bridge_forwarded_total", ring),
            get("totem_mrp_bridge_filtered_total", ring),
            get("totem_mrp_bridge_injected_total", ring),
            get("totem_mrp_bridge_nulls_total", ring),
            get("totem_mrp_bridge_refused_total", ring),
        );
        let groups: Vec<String> = s
            .iter()
            .filter(|(n, l, _)| n == "totem_mrp_bridge_group" && label(l, "ring") == *ring)
            .map(|(_, l, x)| {
                let to = if *x > 0.0 {
                    "forwarded"
                } else {
                    "not forwarded"
                };
                format!("{} ({}, {to})", label(l, "group"), label(l, "members"))
            })
            .collect();
        let _ = writeln!(
            o,
            "\tgroups: {}",
            if groups.is_empty() {
                "none".to_string()
            } else {
                groups.join(", ")
            }
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use totem::mrp::PortStats;

    #[test]
    fn the_summary_reads_back_what_was_rendered() {
        let mut stats = PortStats::default();
        stats.forwarded.insert("data", 7);
        stats.forwarded.insert("null", 2);
        stats.injected = 5;
        let sides = [
            SideStatus {
                ring: 0,
                nodeid: 4,
                members: vec![1, 2, 3, 4],
                synced: true,
                far_origins: vec![1],
                forwarded_groups: vec!["bench".into()],
                near_groups: vec!["bench".into(), "local".into()],
                stats,
                waiting: 0,
            },
            SideStatus {
                ring: 1,
                nodeid: 14,
                ..SideStatus::default()
            },
        ];
        let page = render(true, &sides, [3, 0]);
        assert!(is_bridge(&page));
        let sum = summary(&page);
        assert!(sum.contains("ports joined"), "{sum}");
        assert!(
            sum.contains("ring 0 (gateway nodeid 4): synced=1 members=4 far rings=1"),
            "{sum}"
        );
        assert!(sum.contains("forwarded 9 elements"), "{sum}");
        assert!(sum.contains("bench (here, forwarded)"), "{sum}");
        assert!(sum.contains("local (here, not forwarded)"), "{sum}");
        assert!(
            sum.contains("ring 1 (gateway nodeid 14): synced=0"),
            "{sum}"
        );
    }
}
