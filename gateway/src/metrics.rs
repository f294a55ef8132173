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

/// Renders the counters of gateway `nodeid`.
pub fn render(nodeid: u32, s: &Stats, d: &DriverStats) -> String {
    let mut o = String::new();
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
            "datagrams",
            "Datagrams received on every socket.",
            d.datagrams,
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
            .sum()
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
        let page = render(3, &s, &d);
        assert!(page.contains(
            "totem_gateway_refused_total{node=\"3\",direction=\"to_ring\",reason=\"oversize\"} 0"
        ));
        let sm = summary(&page);
        assert!(sm.contains("node 3"), "{sm}");
        assert!(sm.contains("refused:  none"), "{sm}");
        assert!(sm.contains("5.0 us"), "{sm}");
    }
}
