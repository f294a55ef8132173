//! cluster.conf (cman 3.x XML) read into the pieces the migration maps; every element or
//! attribute not mapped is recorded in the [`Report`].

use roxmltree::{Document, Node};

use super::report::{Kind, Report};
use super::MigrateError;

/// One `<altname>` of a clusternode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AltName {
    /// Second-ring address or host name.
    pub name: String,
    /// `port` (ring 1 multicast port).
    pub port: Option<u16>,
    /// `mcast` (ring 1 multicast address).
    pub mcast: Option<String>,
}

/// One `<clusternode>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// `name`: the ring 0 address or host name.
    pub name: String,
    /// `nodeid`.
    pub nodeid: u32,
    /// `votes` (default 1).
    pub votes: u32,
    /// `<altname>` children (the first one becomes ring 1).
    pub altnames: Vec<AltName>,
}

/// One quorumd `<heuristic>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heuristic {
    /// `program`.
    pub program: String,
    /// `interval` in seconds.
    pub interval: Option<u32>,
}

/// `<quorumd>` (qdiskd).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Quorumd {
    /// `votes`.
    pub votes: Option<u32>,
    /// `interval` in seconds (default 1).
    pub interval: Option<u32>,
    /// `tko` cycles (default 10).
    pub tko: Option<u32>,
    /// Heuristics.
    pub heuristics: Vec<Heuristic>,
}

/// What the migration uses from cluster.conf.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterConf {
    /// `cluster/@name`.
    pub name: String,
    /// `cluster/@config_version`.
    pub config_version: Option<u64>,
    /// `cman/@two_node`.
    pub two_node: bool,
    /// `cman/@expected_votes`.
    pub expected_votes: Option<u32>,
    /// `cman/@port`.
    pub port: Option<u16>,
    /// `cman/@keyfile` (overrides totem's).
    pub cman_keyfile: Option<String>,
    /// `cman/@cluster_id`.
    pub cluster_id: Option<u16>,
    /// `cman/@transport` (udp, udpb, udpu).
    pub transport: Option<String>,
    /// `cman/@broadcast` = yes.
    pub broadcast: bool,
    /// `cman/multicast/@addr`.
    pub mcast_addr: Option<String>,
    /// `cman/multicast/@ttl`.
    pub mcast_ttl: Option<u32>,
    /// `totem` attributes copied to corosync's totem section, in document order.
    pub totem: Vec<(String, String)>,
    /// `quorumd`.
    pub quorumd: Option<Quorumd>,
    /// Cluster nodes in document order.
    pub nodes: Vec<ClusterNode>,
}

/// totem attributes cluster.conf may carry that corosync's totem section understands.
pub const TOTEM_KEYS: &[&str] = &[
    "token",
    "token_retransmit",
    "hold",
    "token_retransmits_before_loss_const",
    "join",
    "send_join",
    "consensus",
    "merge",
    "downcheck",
    "fail_recv_const",
    "seqno_unchanged_const",
    "heartbeat_failures_allowed",
    "max_network_delay",
    "window_size",
    "max_messages",
    "miss_count_const",
    "rrp_problem_count_timeout",
    "rrp_problem_count_threshold",
    "rrp_token_expired_timeout",
    "rrp_mode",
    "netmtu",
    "secauth",
    "keyfile",
];

fn attr_path(el: &Node, attr: &str) -> String {
    format!("{}/@{attr}", el_path(el))
}

fn el_path(el: &Node) -> String {
    let mut parts = Vec::new();
    let mut cur = Some(*el);
    while let Some(n) = cur {
        if n.is_element() {
            let name = n.tag_name().name();
            let same: Vec<Node> = n
                .parent()
                .map(|p| {
                    p.children()
                        .filter(|c| c.is_element() && c.tag_name().name() == name)
                        .collect()
                })
                .unwrap_or_default();
            parts.push(match n.attribute("name") {
                Some(v) if name != "cluster" => format!("{name}[@name='{v}']"),
                _ if same.len() > 1 => {
                    let pos = same.iter().position(|c| *c == n).map_or(0, |p| p + 1);
                    format!("{name}[{pos}]")
                }
                _ => name.to_string(),
            });
        }
        cur = n.parent();
    }
    parts.reverse();
    parts.join("/")
}

fn parse_num<T: std::str::FromStr>(el: &Node, attr: &str) -> Result<Option<T>, MigrateError> {
    match el.attribute(attr) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<T>()
            .map(Some)
            .map_err(|_| MigrateError::BadValue {
                path: attr_path(el, attr),
                value: v.to_string(),
                expected: "an unsigned integer in range",
            }),
    }
}

fn yes(v: Option<&str>) -> bool {
    matches!(
        v.map(|s| s.trim().to_ascii_lowercase()).as_deref(),
        Some("1" | "yes" | "on" | "true")
    )
}

/// Reports every attribute of `el` not in `known`.
fn other_attrs(el: &Node, known: &[&str], report: &mut Report, why: &str) {
    for a in el.attributes() {
        if !known.contains(&a.name()) {
            report.push(
                Kind::NotMigrated,
                attr_path(el, a.name()),
                format!("{why} (value {:?})", a.value()),
            );
        }
    }
}

/// Reads cluster.conf `xml`, recording what is not carried over in `report`.
pub fn read(xml: &str, report: &mut Report) -> Result<ClusterConf, MigrateError> {
    let doc = Document::parse(xml).map_err(|e| MigrateError::Xml {
        message: e.to_string(),
        line: e.pos().row,
        column: e.pos().col,
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "cluster" {
        return Err(MigrateError::Missing {
            what: "root element <cluster>",
        });
    }
    let mut c = ClusterConf {
        name: root
            .attribute("name")
            .ok_or(MigrateError::Missing {
                what: "cluster/@name",
            })?
            .to_string(),
        config_version: parse_num(&root, "config_version")?,
        ..ClusterConf::default()
    };
    other_attrs(
        &root,
        &["name", "config_version"],
        report,
        "no corosync.conf equivalent",
    );
    for el in root.children().filter(Node::is_element) {
        match el.tag_name().name() {
            "cman" => read_cman(&el, &mut c, report)?,
            "totem" => read_totem(&el, &mut c, report),
            "quorumd" => c.quorumd = Some(read_quorumd(&el, report)?),
            "clusternodes" => {
                for n in el.children().filter(Node::is_element) {
                    if n.tag_name().name() == "clusternode" {
                        c.nodes.push(read_node(&n, report)?);
                    } else {
                        report.push(
                            Kind::NotMigrated,
                            el_path(&n),
                            "unknown element in clusternodes",
                        );
                    }
                }
            }
            "fencedevices" => {
                for d in el.children().filter(Node::is_element) {
                    report.push(
                        Kind::NotMigrated,
                        el_path(&d),
                        format!(
                            "fence device (agent {}): configure fencing in the resource manager (e.g. pacemaker stonith)",
                            d.attribute("agent").unwrap_or("?")
                        ),
                    );
                }
            }
            "rm" => report.push(
                Kind::NotMigrated,
                el_path(&el),
                "rgmanager resources and services have no corosync equivalent",
            ),
            "fence_daemon" | "fence_xvmd" => report.push(
                Kind::NotMigrated,
                el_path(&el),
                "fenced settings have no corosync equivalent",
            ),
            "dlm" | "gfs_controld" | "group" => report.push(
                Kind::NotMigrated,
                el_path(&el),
                "cluster daemon settings (dlm_controld/gfs_controld/groupd) are not corosync settings",
            ),
            "logging" => report.push(
                Kind::NotMigrated,
                el_path(&el),
                "cman logging settings are not migrated; set corosync's logging {} by hand",
            ),
            _ => report.push(
                Kind::NotMigrated,
                el_path(&el),
                "unknown element; not migrated",
            ),
        }
    }
    if c.nodes.is_empty() {
        return Err(MigrateError::Missing {
            what: "cluster/clusternodes/clusternode",
        });
    }
    Ok(c)
}

fn read_cman(el: &Node, c: &mut ClusterConf, report: &mut Report) -> Result<(), MigrateError> {
    c.two_node = yes(el.attribute("two_node"));
    c.expected_votes = parse_num(el, "expected_votes")?;
    c.port = parse_num(el, "port")?;
    c.cluster_id = parse_num(el, "cluster_id")?;
    c.cman_keyfile = el.attribute("keyfile").map(str::to_string);
    c.transport = el.attribute("transport").map(str::to_string);
    c.broadcast = yes(el.attribute("broadcast"));
    other_attrs(
        el,
        &[
            "two_node",
            "expected_votes",
            "port",
            "cluster_id",
            "keyfile",
            "transport",
            "broadcast",
        ],
        report,
        "cman setting with no corosync.conf equivalent",
    );
    for m in el.children().filter(Node::is_element) {
        if m.tag_name().name() == "multicast" {
            c.mcast_addr = m.attribute("addr").map(str::to_string);
            c.mcast_ttl = parse_num(&m, "ttl")?;
            other_attrs(&m, &["addr", "ttl"], report, "no corosync.conf equivalent");
        } else {
            report.push(Kind::NotMigrated, el_path(&m), "unknown cman element");
        }
    }
    Ok(())
}

fn read_totem(el: &Node, c: &mut ClusterConf, report: &mut Report) {
    for a in el.attributes() {
        if TOTEM_KEYS.contains(&a.name()) {
            c.totem.push((a.name().to_string(), a.value().to_string()));
        } else {
            report.push(
                Kind::NotMigrated,
                attr_path(el, a.name()),
                format!("not a corosync totem setting (value {:?})", a.value()),
            );
        }
    }
    for ch in el.children().filter(Node::is_element) {
        report.push(
            Kind::NotMigrated,
            el_path(&ch),
            "totem child elements are not migrated",
        );
    }
}

fn read_quorumd(el: &Node, report: &mut Report) -> Result<Quorumd, MigrateError> {
    let mut q = Quorumd {
        votes: parse_num(el, "votes")?,
        interval: parse_num(el, "interval")?,
        tko: parse_num(el, "tko")?,
        heuristics: Vec::new(),
    };
    for a in el.attributes() {
        let why = match a.name() {
            "votes" | "interval" | "tko" => continue,
            "label" | "device" => "the shared quorum disk has no corosync equivalent (corosync-qdevice uses a qnetd server)",
            "min_score" => "heuristic scores have no corosync-qdevice equivalent (every heuristic must pass)",
            "master_wins" => "qdisk master_wins has no direct equivalent (see quorum.device.net.algorithm)",
            _ => "qdiskd setting with no corosync-qdevice equivalent",
        };
        report.push(
            Kind::NotMigrated,
            attr_path(el, a.name()),
            format!("{why} (value {:?})", a.value()),
        );
    }
    for h in el.children().filter(Node::is_element) {
        if h.tag_name().name() != "heuristic" {
            report.push(Kind::NotMigrated, el_path(&h), "unknown quorumd element");
            continue;
        }
        let Some(program) = h.attribute("program") else {
            report.push(Kind::NotMigrated, el_path(&h), "heuristic without program");
            continue;
        };
        q.heuristics.push(Heuristic {
            program: program.to_string(),
            interval: parse_num(&h, "interval")?,
        });
        other_attrs(
            &h,
            &["program", "interval"],
            report,
            "heuristic setting with no corosync-qdevice equivalent",
        );
    }
    Ok(q)
}

fn read_node(el: &Node, report: &mut Report) -> Result<ClusterNode, MigrateError> {
    let name = el
        .attribute("name")
        .ok_or(MigrateError::Missing {
            what: "clusternode/@name",
        })?
        .to_string();
    let nodeid = parse_num::<u32>(el, "nodeid")?.ok_or(MigrateError::Missing {
        what: "clusternode/@nodeid",
    })?;
    if nodeid == 0 {
        return Err(MigrateError::BadValue {
            path: attr_path(el, "nodeid"),
            value: "0".into(),
            expected: "a node id of 1 or more",
        });
    }
    let votes = parse_num(el, "votes")?.unwrap_or(1);
    other_attrs(
        el,
        &["name", "nodeid", "votes"],
        report,
        "clusternode setting with no corosync.conf equivalent",
    );
    let mut altnames = Vec::new();
    for ch in el.children().filter(Node::is_element) {
        match ch.tag_name().name() {
            "altname" => {
                let Some(n) = ch.attribute("name") else {
                    report.push(Kind::NotMigrated, el_path(&ch), "altname without name");
                    continue;
                };
                altnames.push(AltName {
                    name: n.to_string(),
                    port: parse_num(&ch, "port")?,
                    mcast: ch.attribute("mcast").map(str::to_string),
                });
            }
            "fence" | "unfence" => report.push(
                Kind::NotMigrated,
                el_path(&ch),
                "per-node fencing methods: configure fencing in the resource manager",
            ),
            _ => report.push(
                Kind::NotMigrated,
                el_path(&ch),
                "unknown clusternode element",
            ),
        }
    }
    Ok(ClusterNode {
        name,
        nodeid,
        votes,
        altnames,
    })
}
