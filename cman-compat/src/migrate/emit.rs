//! Writes corosync.conf for a [`ClusterConf`], adding report items for every cman default
//! made explicit and every behaviour that changes.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::model::ClusterConf;
use super::report::{Kind, Report};
use super::{MigrateError, MigrateOptions, QNETD_HOST_PLACEHOLDER};
use crate::cmantool::input::cluster_id_from_name;

/// cman's default UDP port (cman.h DEFAULT_PORT).
pub const CMAN_DEFAULT_PORT: u16 = 5405;

/// Totem values cman set when cluster.conf did not (cman-preconfig add_cman_overrides).
pub const CMAN_TOTEM_DEFAULTS: &[(&str, &str)] = &[
    ("token", "10000"),
    ("token_retransmits_before_loss_const", "20"),
    ("join", "60"),
    ("consensus", "4800"),
];

struct Out {
    text: String,
    depth: usize,
}

impl Out {
    fn open(&mut self, name: &str) {
        self.line(&format!("{name} {{"));
        self.depth += 1;
    }
    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.line("}");
    }
    fn kv(&mut self, k: &str, v: impl std::fmt::Display) {
        self.line(&format!("{k}: {v}"));
    }
    fn line(&mut self, s: &str) {
        for _ in 0..self.depth {
            self.text.push_str("    ");
        }
        self.text.push_str(s);
        self.text.push('\n');
    }
}

/// cman's default multicast address for cluster id `id`: `239.192.(id>>8).(id%255)` for IPv4
/// (note `% 0xFF`, as cman wrote it) or `ff15::<id hex>` for IPv6.
pub fn cman_default_mcast(id: u16, ipv6: bool) -> String {
    if ipv6 {
        format!("ff15::{id:x}")
    } else {
        format!("239.192.{}.{}", id >> 8, id % 0xFF)
    }
}

fn on_off(v: &str) -> Option<&'static str> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some("on"),
        "0" | "off" | "no" | "false" => Some("off"),
        _ => None,
    }
}

/// Renders corosync.conf; `report` receives derived values and behaviour changes.
pub fn render(
    c: &ClusterConf,
    opts: &MigrateOptions,
    report: &mut Report,
) -> Result<String, MigrateError> {
    let mut seen = BTreeSet::new();
    for n in &c.nodes {
        if !seen.insert(n.nodeid) {
            return Err(MigrateError::BadValue {
                path: format!(
                    "cluster/clusternodes/clusternode[@name='{}']/@nodeid",
                    n.name
                ),
                value: n.nodeid.to_string(),
                expected: "a node id used by no other clusternode",
            });
        }
    }
    let two_rings = c.nodes.iter().any(|n| !n.altnames.is_empty());
    if two_rings {
        for n in c.nodes.iter().filter(|n| n.altnames.is_empty()) {
            report.push(
                Kind::ActionRequired,
                format!("cluster/clusternodes/clusternode[@name='{}']", n.name),
                "other nodes have an altname (ring 1) but this one has none: corosync needs a ring1_addr for every node",
            );
        }
    }
    for n in &c.nodes {
        for a in n.altnames.iter().skip(1) {
            report.push(
                Kind::NotMigrated,
                format!(
                    "cluster/clusternodes/clusternode[@name='{}']/altname[@name='{}']",
                    n.name, a.name
                ),
                "only one altname (ring 1) is supported by corosync's redundant ring protocol",
            );
        }
        if let Some(a) = n.altnames.first() {
            if a.port
                .is_some_and(|p| Some(p) != c.port && p != CMAN_DEFAULT_PORT)
            {
                report.push(
                    Kind::Changed,
                    format!(
                        "cluster/clusternodes/clusternode[@name='{}']/altname/@port",
                        n.name
                    ),
                    "cman read but ignored altname ports (every ring used cman/@port); kept cman's effective port",
                );
            }
        }
    }
    let mut o = Out {
        text: String::new(),
        depth: 0,
    };
    o.line(&format!(
        "# Migrated from cluster.conf (cman) for cluster {} by cluster-conf-migrate.",
        c.name
    ));
    o.open("totem");
    o.kv("version", 2);
    o.kv("cluster_name", &c.name);
    if let Some(v) = c.config_version {
        o.kv("config_version", v);
    }
    // totem values from cluster.conf, then cman's defaults for what it did not set.
    let mut totem: Vec<(String, String)> = Vec::new();
    for (k, v) in &c.totem {
        match k.as_str() {
            "secauth" => match on_off(v) {
                Some(s) => totem.push((k.clone(), s.to_string())),
                None => {
                    return Err(MigrateError::BadValue {
                        path: "cluster/totem/@secauth".into(),
                        value: v.clone(),
                        expected: "on/off/1/0",
                    })
                }
            },
            "keyfile" => {}
            _ => totem.push((k.clone(), v.clone())),
        }
    }
    let has = |t: &Vec<(String, String)>, k: &str| t.iter().any(|(x, _)| x == k);
    for (k, v) in CMAN_TOTEM_DEFAULTS {
        if !has(&totem, k) {
            totem.push(((*k).to_string(), (*v).to_string()));
            report.push(
                Kind::Derived,
                format!("cluster/totem/@{k}"),
                format!("not set; written as cman's default {v} (corosync's own default differs)"),
            );
        }
    }
    if !has(&totem, "rrp_mode") {
        let mode = if two_rings { "active" } else { "none" };
        totem.push(("rrp_mode".into(), mode.into()));
        report.push(
            Kind::Derived,
            "cluster/totem/@rrp_mode",
            format!("not set; written as cman's default for this ring count: {mode}"),
        );
    }
    if !has(&totem, "secauth") {
        totem.push(("secauth".into(), "on".into()));
        report.push(
            Kind::Derived,
            "cluster/totem/@secauth",
            "not set; cman always authenticated and encrypted: secauth on",
        );
    }
    let secauth_on = totem.iter().any(|(k, v)| k == "secauth" && v == "on");
    for (k, v) in &totem {
        o.kv(k, v);
    }
    let keyfile = c.cman_keyfile.clone().or_else(|| {
        c.totem
            .iter()
            .find(|(k, _)| k == "keyfile")
            .map(|(_, v)| v.clone())
    });
    if c.cman_keyfile.is_some() && c.totem.iter().any(|(k, _)| k == "keyfile") {
        report.push(
            Kind::Changed,
            "cluster/totem/@keyfile",
            "ignored: cman/@keyfile takes precedence (as in cman)",
        );
    }
    if let Some(k) = &keyfile {
        o.kv("keyfile", k);
    } else if secauth_on {
        report.push(
            Kind::ActionRequired,
            "cluster/cman/@keyfile",
            "no keyfile: cman keyed the cluster with its name; corosync reads /etc/corosync/authkey — create one (corosync-keygen) and copy it to every node; old and new nodes cannot talk to each other",
        );
    }
    let transport = c.transport.as_deref().unwrap_or("udp");
    let port = c.port.unwrap_or(CMAN_DEFAULT_PORT);
    let udpu = match transport {
        "udpu" => true,
        "udp" | "udpb" => false,
        other => {
            return Err(MigrateError::BadValue {
                path: "cluster/cman/@transport".into(),
                value: other.to_string(),
                expected: "udp, udpb or udpu",
            })
        }
    };
    let broadcast = transport == "udpb" || c.broadcast;
    if udpu {
        o.kv("transport", "udpu");
    } else {
        o.kv("transport", "udp");
    }
    let id = c
        .cluster_id
        .unwrap_or_else(|| cluster_id_from_name(&c.name));
    let ipv6 = c
        .nodes
        .first()
        .and_then(|n| n.name.parse::<IpAddr>().ok())
        .is_some_and(|a| a.is_ipv6());
    let mcast0 = match &c.mcast_addr {
        Some(a) => a.clone(),
        None => {
            let a = cman_default_mcast(id, ipv6);
            if !udpu && !broadcast {
                report.push(
                    Kind::Derived,
                    "cluster/cman/multicast/@addr",
                    format!("not set; written as cman derived it from cluster id {id}: {a}"),
                );
            }
            a
        }
    };
    let rings = if two_rings { 2 } else { 1 };
    for ring in 0..rings {
        o.open("interface");
        o.kv("ringnumber", ring);
        if broadcast {
            o.kv("broadcast", "yes");
        } else if !udpu {
            let addr = if ring == 0 {
                mcast0.clone()
            } else {
                c.nodes
                    .iter()
                    .find_map(|n| n.altnames.first().and_then(|a| a.mcast.clone()))
                    .unwrap_or_else(|| mcast0.clone())
            };
            o.kv("mcastaddr", addr);
        }
        o.kv("mcastport", port);
        if let Some(t) = c.mcast_ttl {
            if !udpu && !broadcast {
                o.kv("ttl", t);
            }
        }
        o.close();
    }
    o.close();

    o.open("nodelist");
    for n in &c.nodes {
        o.open("node");
        o.kv("ring0_addr", &n.name);
        if let Some(a) = n.altnames.first() {
            o.kv("ring1_addr", &a.name);
        }
        o.kv("nodeid", n.nodeid);
        o.kv("quorum_votes", n.votes);
        o.kv("name", &n.name);
        o.close();
    }
    o.close();

    o.open("quorum");
    o.kv("provider", "corosync_votequorum");
    let mut two_node = c.two_node;
    if two_node && c.quorumd.is_some() {
        two_node = false;
        report.push(
            Kind::Changed,
            "cluster/cman/@two_node",
            "two_node is dropped: votequorum refuses two_node together with a quorum device",
        );
    }
    match c.expected_votes {
        Some(1) if two_node => report.push(
            Kind::Changed,
            "cluster/cman/@expected_votes",
            "expected_votes=\"1\" (required by cman's two_node) is dropped: votequorum takes 2 from the nodelist and two_node makes quorum 1",
        ),
        Some(e) => o.kv("expected_votes", e),
        None => {}
    }
    if two_node {
        o.kv("two_node", 1);
        report.push(
            Kind::Changed,
            "cluster/cman/@two_node",
            "votequorum's two_node also turns on wait_for_all: after a full cluster stop both nodes must be up once before the cluster is quorate",
        );
    }
    if let Some(q) = &c.quorumd {
        o.open("device");
        o.kv("model", "net");
        let votes = match q.votes {
            Some(v) => v,
            None => {
                let v = u32::try_from(c.nodes.len().saturating_sub(1)).unwrap_or(u32::MAX);
                report.push(
                    Kind::Derived,
                    "cluster/quorumd/@votes",
                    format!("not set; written as qdiskd's default, nodes - 1 = {v}"),
                );
                v
            }
        };
        o.kv("votes", votes);
        let interval = q.interval.unwrap_or(1);
        let tko = q.tko.unwrap_or(10);
        if q.interval.is_none() || q.tko.is_none() {
            report.push(
                Kind::Derived,
                "cluster/quorumd",
                "interval/tko not set: qdiskd defaults 1 s and 10 used for the device timeout",
            );
        }
        o.kv(
            "timeout",
            u64::from(interval)
                .saturating_mul(u64::from(tko))
                .saturating_mul(1000),
        );
        o.open("net");
        match &opts.qnetd_host {
            Some(h) => o.kv("host", h),
            None => {
                o.kv("host", QNETD_HOST_PLACEHOLDER);
                report.push(
                    Kind::ActionRequired,
                    "cluster/quorumd",
                    "the quorum disk becomes a corosync-qdevice 'net' device: set quorum.device.net.host to a corosync-qnetd server (--qnetd-host)",
                );
            }
        }
        o.kv("algorithm", "ffsplit");
        o.close();
        if !q.heuristics.is_empty() {
            o.open("heuristics");
            o.kv("mode", "sync");
            if let Some(i) = q.heuristics.iter().find_map(|h| h.interval) {
                o.kv("interval", u64::from(i).saturating_mul(1000));
            }
            for (i, h) in q.heuristics.iter().enumerate() {
                o.kv(&format!("exec_heuristic{}", i + 1), &h.program);
            }
            o.close();
        }
        o.close();
    }
    o.close();
    Ok(o.text)
}
