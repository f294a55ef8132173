//! The gateway's counters in the Prometheus text format, served on a local HTTP port, and
//! read back by `totem-gateway status`.

use std::fmt::Write as _;

use totem_wire::MessageType;

use crate::run::DriverStats;
use crate::upgrade::{Direction, Refusal, Stats};

const TYPES: [MessageType; 8] = [
    MessageType::OrfToken,
    MessageType::Mcast,
    MessageType::MembMergeDetect,
    MessageType::MembJoin,
    MessageType::MembCommitToken,
    MessageType::TokenHoldCancel,
    MessageType::RingTestActive,
    MessageType::RingTestActivate,
];

fn dir_name(d: Direction) -> &'static str {
    match d {
        Direction::ToRing => "to_ring",
        Direction::ToLocal => "to_local",
    }
}

/// What the gateway knows of one other node.
#[derive(Debug, Clone, Default)]
pub struct PeerStatus {
    pub nodeid: u32,
    /// Since its last datagram on the ring (None: never heard).
    pub last_heard: Option<std::time::Duration>,
    /// Over knet: whether the local daemon's link to this node's knet host is up, and the
    /// knet counters of that host.
    pub knet: Option<(bool, totem::knet::KnetStats)>,
    /// It runs the final configuration and speaks knet to us directly.
    pub direct: bool,
    /// What its service_build said runs there (2: corosync 2.x, 3: corosync 3 behind a
    /// gateway).
    pub generation: Option<u8>,
}

/// Renders the counters of gateway `nodeid`.
pub fn render(nodeid: u32, s: &Stats, d: &DriverStats, peers: &[PeerStatus]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# HELP totem_gateway_peer_last_heard_seconds Since the node's last datagram on the corosync 2 ring.");
    let _ = writeln!(o, "# TYPE totem_gateway_peer_last_heard_seconds gauge");
    for p in peers {
        if let Some(t) = p.last_heard {
            let _ = writeln!(
                o,
                "totem_gateway_peer_last_heard_seconds{{node=\"{nodeid}\",peer=\"{}\"}} {:.3}",
                p.nodeid,
                t.as_secs_f64()
            );
        }
    }
    let _ = writeln!(o, "# HELP totem_gateway_peer_direct Whether the node runs the final corosync 3 configuration (knet straight to us, no translation).");
    let _ = writeln!(o, "# TYPE totem_gateway_peer_direct gauge");
    for p in peers {
        let _ = writeln!(
            o,
            "totem_gateway_peer_direct{{node=\"{nodeid}\",peer=\"{}\"}} {}",
            p.nodeid,
            u8::from(p.direct)
        );
    }
    let _ = writeln!(o, "# HELP totem_gateway_peer_generation The corosync major version behind the node on the 2.x ring, from its sync service_build (3: behind its gateway).");
    let _ = writeln!(o, "# TYPE totem_gateway_peer_generation gauge");
    for p in peers {
        if let Some(g) = p.generation {
            let _ = writeln!(
                o,
                "totem_gateway_peer_generation{{node=\"{nodeid}\",peer=\"{}\"}} {g}",
                p.nodeid
            );
        }
    }
    let _ = writeln!(o, "# HELP totem_gateway_knet_link_up Whether the local corosync 3 has its knet link to this node's host in the gateway up.");
    let _ = writeln!(o, "# TYPE totem_gateway_knet_link_up gauge");
    for p in peers {
        if let Some((up, _)) = &p.knet {
            let _ = writeln!(
                o,
                "totem_gateway_knet_link_up{{node=\"{nodeid}\",peer=\"{}\"}} {}",
                p.nodeid,
                u8::from(*up)
            );
        }
    }
    let _ = writeln!(o, "# HELP totem_gateway_knet_refused_total knet datagrams from the local daemon refused (seal, malformed, wrong host or link), by peer host.");
    let _ = writeln!(o, "# TYPE totem_gateway_knet_refused_total counter");
    for p in peers {
        if let Some((_, k)) = &p.knet {
            let _ = writeln!(
                o,
                "totem_gateway_knet_refused_total{{node=\"{nodeid}\",peer=\"{}\"}} {}",
                p.nodeid,
                k.rx_open_errors + k.rx_malformed + k.rx_unknown_host + k.rx_wrong_link
            );
        }
    }
    let _ = writeln!(o, "# HELP totem_gateway_translated_total Datagrams translated, by direction and Totem message type.");
    let _ = writeln!(o, "# TYPE totem_gateway_translated_total counter");
    for dir in [Direction::ToRing, Direction::ToLocal] {
        for t in TYPES {
            let n = s.translated_of(dir, t);
            if n > 0 {
                let _ = writeln!(
                    o,
                    "totem_gateway_translated_total{{node=\"{nodeid}\",direction=\"{}\",type=\"{}\"}} {n}",
                    dir_name(dir),
                    t.name()
                );
            }
        }
    }
    let _ = writeln!(o, "# HELP totem_gateway_refused_total Datagrams refused (dropped, never forwarded), by direction and reason.");
    let _ = writeln!(o, "# TYPE totem_gateway_refused_total counter");
    for dir in [Direction::ToRing, Direction::ToLocal] {
        for r in Refusal::ALL {
            let _ = writeln!(
                o,
                "totem_gateway_refused_total{{node=\"{nodeid}\",direction=\"{}\",reason=\"{}\"}} {}",
                dir_name(dir),
                r.name(),
                s.refused_of(dir, r)
            );
        }
    }
    for (name, help, v) in [
        (
            "unknown_source",
            "Ring datagrams from an address that is no node's ring 0 address.",
            d.unknown_source,
        ),
        (
            "not_daemon",
            "Datagrams on a shadow socket not from the local corosync.",
            d.not_daemon,
        ),
        (
            "envelope_refused",
            "Ring datagrams whose envelope did not open, or not G2.",
            d.envelope_refused,
        ),
        (
            "send_errors",
            "Datagrams that could not be sent.",
            d.send_errors,
        ),
        (
            "datagrams_sent",
            "Datagrams sent.",
            d.datagrams_sent,
        ),
        (
            "send_calls",
            "sendmmsg calls that sent them (one per socket per burst).",
            d.send_calls,
        ),
        (
            "send_dropped",
            "Datagrams dropped because a socket's send buffer was full (never waited for).",
            d.send_dropped,
        ),
        (
            "direct_rx",
            "knet datagrams taken from nodes on the final configuration.",
            d.direct_rx,
        ),
        (
            "direct_tx",
            "Totem messages sent over knet to nodes on the final configuration.",
            d.direct_tx,
        ),
        (
            "datagrams",
            "Datagrams received on every socket.",
            d.datagrams,
        ),
        (
            "ring_tests",
            "RRP ring test messages passed on to the local daemon's successor.",
            d.ring_tests,
        ),
        (
            "ring_tests_ended",
            "RRP ring test messages not passed on (back at their sender, unparsable, no successor yet).",
            d.ring_tests_ended,
        ),
    ] {
        let _ = writeln!(o, "# HELP totem_gateway_{name}_total {help}");
        let _ = writeln!(o, "# TYPE totem_gateway_{name}_total counter");
        let _ = writeln!(o, "totem_gateway_{name}_total{{node=\"{nodeid}\"}} {v}");
    }
    let _ = writeln!(o, "# HELP totem_gateway_translate_seconds_total Time spent translating (the latency the gateway adds, summed).");
    let _ = writeln!(o, "# TYPE totem_gateway_translate_seconds_total counter");
    let _ = writeln!(
        o,
        "totem_gateway_translate_seconds_total{{node=\"{nodeid}\"}} {:.6}",
        d.busy.as_secs_f64()
    );
    o
}

/// One sample line parsed back: name, labels, value.
pub type Sample = (String, Vec<(String, String)>, f64);

/// The sample lines of a metrics page.
pub fn samples(text: &str) -> Vec<Sample> {
    let mut v = Vec::new();
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let Some((head, val)) = l.rsplit_once(' ') else {
            continue;
        };
        let Ok(val) = val.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => {
                let rest = rest.trim_end_matches('}');
                let labels = rest
                    .split(',')
                    .filter_map(|kv| {
                        let (k, v) = kv.split_once('=')?;
                        Some((k.to_string(), v.trim_matches('"').to_string()))
                    })
                    .collect();
                (n.to_string(), labels)
            }
            None => (head.to_string(), Vec::new()),
        };
        v.push((name, labels, val));
    }
    v
}

/// The status summary `totem-gateway status` prints from a metrics page.
pub fn summary(text: &str) -> String {
    let s = samples(text);
    let sum = |name: &str, label: Option<(&str, &str)>| -> f64 {
        s.iter()
            .filter(|(n, l, _)| {
                n == name && label.is_none_or(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
            })
            .map(|(_, _, x)| x)
            .sum::<f64>()
            + 0.0 // an empty sum is -0.0
    };
    let node = s
        .iter()
        .find_map(|(_, l, _)| l.iter().find(|(k, _)| k == "node").map(|(_, v)| v.clone()))
        .unwrap_or_else(|| "?".into());
    let mut o = format!("Gateway for node {node} (corosync 3 daemon <-> corosync 2 ring)\n");
    let _ = writeln!(
        o,
        "\tto ring:  {} datagrams translated",
        sum(
            "totem_gateway_translated_total",
            Some(("direction", "to_ring"))
        )
    );
    let _ = writeln!(
        o,
        "\tto local: {} datagrams translated",
        sum(
            "totem_gateway_translated_total",
            Some(("direction", "to_local"))
        )
    );
    let mut refused: Vec<String> = s
        .iter()
        .filter(|(n, _, x)| n == "totem_gateway_refused_total" && *x > 0.0)
        .map(|(_, l, x)| {
            let get = |k: &str| {
                l.iter()
                    .find(|(a, _)| a == k)
                    .map(|(_, b)| b.as_str())
                    .unwrap_or("?")
            };
            format!("{}/{}={x}", get("direction"), get("reason"))
        })
        .collect();
    if refused.is_empty() {
        refused.push("none".into());
    }
    let _ = writeln!(o, "\trefused:  {}", refused.join(" "));
    // Peers: when last heard on the ring, and over knet the local daemon's link to them.
    let mut peers: Vec<(String, String)> = Vec::new();
    for (n, l, x) in &s {
        let Some(peer) = l.iter().find(|(k, _)| k == "peer").map(|(_, v)| v.clone()) else {
            continue;
        };
        let what = match n.as_str() {
            "totem_gateway_peer_last_heard_seconds" => format!("heard {x:.1} s ago"),
            "totem_gateway_knet_link_up" if *x > 0.0 => "knet link up".to_string(),
            "totem_gateway_knet_link_up" => "knet link DOWN".to_string(),
            "totem_gateway_peer_direct" if *x > 0.0 => {
                "corosync 3 on the final configuration (direct knet)".to_string()
            }
            "totem_gateway_peer_direct" => {
                let g = s.iter().find(|(m, l2, _)| {
                    m == "totem_gateway_peer_generation"
                        && l2.iter().any(|(k, v)| k == "peer" && *v == peer)
                });
                match g.map(|(_, _, g)| *g as u8) {
                    Some(2) => "corosync 2.x on the ring".to_string(),
                    Some(3) => "corosync 3 behind its gateway".to_string(),
                    _ => "on the corosync 2 ring (generation not seen yet)".to_string(),
                }
            }
            _ => continue,
        };
        match peers.iter_mut().find(|(p, _)| *p == peer) {
            Some((_, w)) => {
                w.push_str(", ");
                w.push_str(&what);
            }
            None => peers.push((peer, what)),
        }
    }
    for (p, w) in peers {
        let _ = writeln!(o, "\tnode {p}: {w}");
    }
    let d = sum("totem_gateway_datagrams_total", None);
    let busy = sum("totem_gateway_translate_seconds_total", None);
    if d > 0.0 {
        let _ = writeln!(
            o,
            "\tlatency added: {:.1} us per datagram (mean)",
            busy / d * 1e6
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_parses_back_into_the_summary() {
        let s = Stats::default();
        let d = DriverStats {
            datagrams: 10,
            busy: std::time::Duration::from_micros(50),
            ..Default::default()
        };
        let peers = [
            PeerStatus {
                nodeid: 1,
                last_heard: Some(std::time::Duration::from_millis(200)),
                knet: Some((true, Default::default())),
                direct: false,
                generation: Some(2),
            },
            PeerStatus {
                nodeid: 2,
                last_heard: None,
                knet: Some((false, Default::default())),
                direct: true,
                generation: None,
            },
        ];
        let page = render(3, &s, &d, &peers);
        assert!(page.contains(
            "totem_gateway_refused_total{node=\"3\",direction=\"to_ring\",reason=\"oversize\"} 0"
        ));
        let sm = summary(&page);
        assert!(sm.contains("node 3"), "{sm}");
        assert!(sm.contains("refused:  none"), "{sm}");
        assert!(sm.contains("5.0 us"), "{sm}");
        assert!(
            sm.contains("node 1: heard 0.2 s ago, corosync 2.x on the ring, knet link up"),
            "{sm}"
        );
        assert!(sm.contains("to ring:  0 datagrams"), "{sm}");
        assert!(
            sm.contains("node 2: corosync 3 on the final configuration"),
            "{sm}"
        );
        assert!(sm.contains("knet link DOWN"), "{sm}");
    }
}
