//! `totem-gateway plan`: from a corosync 2.x cluster's corosync.conf, the files one step of
//! the rolling upgrade needs on node N, or a refusal with the reason and the way out.
//!
//! During the upgrade the corosync 3 daemon on N talks only to its gateway, over loopback:
//! every other node at a *shadow* loopback address, N itself at its own. By default over
//! knet, with the 2.x crypto mapped to knet's (the same cipher, sha1 becomes sha256, the same
//! authkey) and `netmtu` held at the 2.x value so that no Totem message outgrows what 2.x
//! takes; on request over udpu (no crypto, which corosync 3 refuses on udpu). The ring side
//! is sealed by the gateway with the cluster's authkey and the 2.x crypto settings; the
//! gateway is N on the 2.x ring (N's ring0 address, the 2.x port). When no 2.x node is left,
//! `--final` writes the direct corosync 3 configuration (knet, one link per 2.x ring) for
//! one more rolling restart, after which no gateway runs.

use std::fmt::Write as _;
use std::net::IpAddr;

use totem::corosync_conf::{parse, Section};
use totem_wire::retarget::{AddressBook, BookEntry};

/// Why a cluster cannot be upgraded through the gateway (yet), with the way out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Syntax(String),
    #[error("{what}: {why}; {way_out}")]
    Refused {
        what: String,
        why: String,
        way_out: String,
    },
}

fn refuse(
    what: impl Into<String>,
    why: impl Into<String>,
    way_out: impl Into<String>,
) -> PlanError {
    PlanError::Refused {
        what: what.into(),
        why: why.into(),
        way_out: way_out.into(),
    }
}

/// One node of the 2.x cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanNode {
    pub nodeid: u32,
    pub ring0: IpAddr,
    pub ring1: Option<IpAddr>,
    /// `name` (corosync 3 needs one per node with more than one knet link).
    pub name: String,
}

/// What the 2.x configuration says that the plan uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub cluster_name: String,
    pub port: u16,
    pub nodes: Vec<PlanNode>,
    /// totem timers and options carried over as they are (token, consensus, …).
    pub totem_keys: Vec<(String, String)>,
    /// The quorum section, carried over as it is.
    pub quorum: Vec<(String, String)>,
    /// The ring's crypto, if any.
    pub crypto: Option<Crypto>,
    /// `rrp_mode` (passive or active) of a redundant 2.x ring.
    pub rrp_mode: Option<String>,
    /// The port of ring 1 (its interface's mcastport; ring 0's when absent).
    pub port1: u16,
    /// `totem.netmtu` of the 2.x ring (1500 when absent).
    pub netmtu: u32,
    /// `totem.token` in ms (1000 when absent).
    pub token: u32,
}

/// How the upgraded node's corosync 3 talks to its gateway during the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LocalTransport {
    /// knet (corosync 3's own transport; what the final configuration uses too).
    #[default]
    Knet,
    /// udpu (`plan --udpu`).
    Udpu,
}

/// corosync 2's crypto settings and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    pub cipher: String,
    pub hash: String,
    pub keyfile: String,
}

/// Totem keys with the same meaning in 2.x and 3.x that a plan carries over.
const CARRIED: [&str; 10] = [
    "token",
    "token_coefficient",
    "token_retransmits_before_loss_const",
    "join",
    "consensus",
    "merge",
    "downcheck",
    "fail_recv_const",
    "seqno_unchanged_const",
    "max_messages",
];

fn node_of(n: &Section, i: usize) -> Result<PlanNode, PlanError> {
    let what = format!("nodelist node {}", i + 1);
    let id = n.get("nodeid").ok_or_else(|| {
        refuse(
            &what,
            "has no nodeid",
            "give every node an explicit nodeid (corosync 3 needs one for knet)",
        )
    })?;
    let nodeid: u32 = id.trim().parse().map_err(|_| {
        refuse(
            &what,
            format!("nodeid {id:?} is not a number"),
            "fix the nodeid",
        )
    })?;
    let addr = |k: &str| -> Result<Option<IpAddr>, PlanError> {
        n.get(k)
            .map(|v| {
                v.trim().parse().map_err(|_| {
                    refuse(
                        format!("node {nodeid} {k}"),
                        format!("{v:?} is not an IP address"),
                        "use addresses, not host names, in the nodelist the plan reads",
                    )
                })
            })
            .transpose()
    };
    let ring0 =
        addr("ring0_addr")?.ok_or_else(|| refuse(&what, "has no ring0_addr", "add ring0_addr"))?;
    Ok(PlanNode {
        nodeid,
        ring0,
        ring1: addr("ring1_addr")?,
        name: n
            .get("name")
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| format!("node{nodeid}")),
    })
}

/// Reads a 2.x corosync.conf and refuses what the gateway cannot bridge.
pub fn read_cluster(text: &str) -> Result<Cluster, PlanError> {
    let root = parse(text).map_err(|e| PlanError::Syntax(e.to_string()))?;
    let totem = root
        .section("totem")
        .ok_or_else(|| refuse("totem section", "missing", "this is not a corosync.conf"))?;
    let transport = totem.get("transport").unwrap_or("udp").trim().to_string();
    if transport != "udpu" {
        return Err(refuse(
            format!("transport: {transport}"),
            "the gateway joins the 2.x ring as a udpu member",
            "run the 2.x cluster on udpu (transport: udpu with a nodelist) before the upgrade",
        ));
    }
    let rrp_mode = match totem.get("rrp_mode").map(str::trim) {
        None | Some("none") => None,
        Some(m @ ("passive" | "active")) => Some(m.to_string()),
        Some(m) => {
            return Err(refuse(
                format!("rrp_mode: {m}"),
                "is not a corosync 2 value (none, passive, active)",
                "fix the 2.x configuration",
            ))
        }
    };
    // corosync 2: `secauth: on` without crypto_* keys means aes256 + sha1.
    let secauth = totem
        .get("secauth")
        .map(|s| s.trim() == "on")
        .unwrap_or(false);
    let default = if secauth {
        ("aes256", "sha1")
    } else {
        ("none", "none")
    };
    let cipher = totem
        .get("crypto_cipher")
        .unwrap_or(default.0)
        .trim()
        .to_string();
    let hash = totem
        .get("crypto_hash")
        .unwrap_or(default.1)
        .trim()
        .to_string();
    if totem_wire::envelope::Cipher::from_config_name(&cipher).is_err() {
        return Err(refuse(
            format!("crypto_cipher: {cipher}"),
            "is not a corosync 2 value",
            "fix the 2.x configuration",
        ));
    }
    if totem_wire::envelope::Hash::from_config_name(&hash).is_err() {
        return Err(refuse(
            format!("crypto_hash: {hash}"),
            "is not a corosync 2 value",
            "fix the 2.x configuration",
        ));
    }
    let crypto = (cipher != "none" || hash != "none").then(|| Crypto {
        cipher: cipher.clone(),
        hash: hash.clone(),
        keyfile: totem
            .get("keyfile")
            .unwrap_or("/etc/corosync/authkey")
            .trim()
            .to_string(),
    });
    let nl = root.section("nodelist").ok_or_else(|| {
        refuse(
            "nodelist",
            "missing",
            "list every node with nodeid and ring0_addr (udpu needs it anyway)",
        )
    })?;
    let mut nodes = Vec::new();
    for (i, n) in nl.sections("node").enumerate() {
        nodes.push(node_of(n, i)?);
    }
    if nodes.is_empty() {
        return Err(refuse("nodelist", "has no node", "list every node"));
    }
    let mut book = AddressBook::new();
    for n in &nodes {
        book.insert(BookEntry::new(n.nodeid, n.ring0, None))
            .map_err(|e| {
                refuse(
                    "nodelist",
                    e.to_string(),
                    "give every node its own nodeid and address",
                )
            })?;
    }
    crate::order::check(&book).map_err(|e| {
        refuse(
            "nodelist order",
            e.to_string(),
            "renumber before the upgrade (a full restart of the 2.x cluster)",
        )
    })?;
    // The interface section of ring N (ringnumber N; the first one is ring 0).
    let iface = |ring: &str| {
        totem
            .sections("interface")
            .find(|i| i.get("ringnumber").map(str::trim).unwrap_or("0") == ring)
    };
    let port_of = |ring: &str, default: u16| -> Result<u16, PlanError> {
        match iface(ring).and_then(|i| i.get("mcastport")) {
            Some(p) => p.trim().parse().map_err(|_| {
                refuse(
                    format!("ring {ring} mcastport"),
                    format!("{p:?} is not a port"),
                    "fix it",
                )
            }),
            None => Ok(default),
        }
    };
    let port = port_of("0", 5405)?;
    let port1 = port_of("1", port)?;
    if rrp_mode.is_some() {
        if let Some(n) = nodes.iter().find(|n| n.ring1.is_none()) {
            return Err(refuse(
                format!("node {}", n.nodeid),
                "has no ring1_addr on a redundant ring",
                "give every node its ring1_addr (2.x needs it too)",
            ));
        }
    } else if nodes.iter().any(|n| n.ring1.is_some()) {
        return Err(refuse(
            "ring1_addr",
            "is set but rrp_mode is none, so corosync 2 runs one ring",
            "remove ring1_addr or set rrp_mode",
        ));
    }
    let num = |k: &str, default: u32| -> Result<u32, PlanError> {
        match totem.get(k) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                refuse(
                    format!("totem.{k}"),
                    format!("{v:?} is not a number"),
                    "fix the 2.x configuration",
                )
            }),
        }
    };
    let netmtu = num("netmtu", 1500)?;
    let token = num("token", 1000)?;
    let totem_keys = CARRIED
        .iter()
        .filter_map(|k| totem.get(k).map(|v| (k.to_string(), v.trim().to_string())))
        .collect();
    let quorum = root
        .section("quorum")
        .map(|q| {
            q.entries()
                .map(|e| (e.key.clone(), e.value.trim().to_string()))
                .collect()
        })
        .unwrap_or_else(|| vec![("provider".into(), "corosync_votequorum".into())]);
    Ok(Cluster {
        cluster_name: totem
            .get("cluster_name")
            .unwrap_or("cluster")
            .trim()
            .to_string(),
        port,
        nodes,
        totem_keys,
        quorum,
        crypto,
        netmtu,
        token,
        rrp_mode,
        port1,
    })
}

/// The knet crypto lines for corosync 3 (crmsh's 2 -> 3 mapping: the same cipher, sha1
/// becomes sha256, the same key), or none/none.
fn knet_crypto_lines(c: &Cluster) -> String {
    match &c.crypto {
        Some(k) => format!(
            "    crypto_model: nss\n    crypto_cipher: {}\n    crypto_hash: {}\n    keyfile: {}\n",
            k.cipher,
            knet_hash(&k.hash),
            k.keyfile
        ),
        None => "    crypto_cipher: none\n    crypto_hash: none\n".into(),
    }
}

fn knet_hash(h: &str) -> &str {
    if h == "sha1" {
        "sha256"
    } else {
        h
    }
}

/// The shadow address of node `k` (on loopback, on every upgraded node).
pub fn shadow(k: u32) -> String {
    format!(
        "127.{}.{}.{}",
        1 + (k >> 16) % 254,
        (k >> 8) & 0xff,
        k & 0xff
    )
}

/// One step's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub corosync_conf: String,
    pub gateway_conf: String,
    pub prepare_sh: String,
    pub unit: String,
    pub runbook: String,
}

fn sections(c: &Cluster, transport: &str, nodelist: &str, extra_totem: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Written by totem-gateway plan.");
    let _ = writeln!(
        s,
        "totem {{\n    version: 2\n    cluster_name: {}\n    transport: {transport}",
        c.cluster_name
    );
    for (k, v) in &c.totem_keys {
        let _ = writeln!(s, "    {k}: {v}");
    }
    s.push_str(extra_totem);
    let _ = writeln!(s, "}}\n\nnodelist {{\n{nodelist}}}\n\nquorum {{");
    for (k, v) in &c.quorum {
        let _ = writeln!(s, "    {k}: {v}");
    }
    let _ = writeln!(
        s,
        "}}\n\nlogging {{\n    to_syslog: yes\n    to_logfile: yes\n    logfile: /var/log/corosync/corosync.log\n    timestamp: on\n}}"
    );
    s
}

/// The files for upgrading node `n`.
pub fn step(
    c: &Cluster,
    n: u32,
    local: LocalTransport,
    bin: &str,
    dir: &str,
) -> Result<Step, PlanError> {
    let me = c.nodes.iter().find(|x| x.nodeid == n).ok_or_else(|| {
        refuse(
            format!("node {n}"),
            "is not in the nodelist",
            "give the nodeid the 2.x nodelist has for this host",
        )
    })?;
    let mut nl = String::new();
    let mut gnl = String::new();
    for x in &c.nodes {
        let _ = writeln!(
            nl,
            "    node {{\n        nodeid: {}\n        ring0_addr: {}\n    }}",
            x.nodeid,
            shadow(x.nodeid)
        );
        let ring1 = x
            .ring1
            .map(|r| format!("        ring1_addr: {r}\n"))
            .unwrap_or_default();
        let _ = writeln!(
            gnl,
            "    node {{\n        nodeid: {}\n        ring0_addr: {}\n{ring1}        shadow_addr: {}\n    }}",
            x.nodeid,
            x.ring0,
            shadow(x.nodeid)
        );
    }
    let corosync_conf = match local {
        LocalTransport::Udpu => sections(
            c,
            "udpu",
            &nl,
            "    crypto_cipher: none\n    crypto_hash: none\n",
        ),
        LocalTransport::Knet => sections(
            c,
            "knet",
            &nl,
            &format!(
                "    netmtu: {}\n{}    interface {{\n        linknumber: 0\n        mcastport: {}\n    }}\n",
                c.netmtu,
                knet_crypto_lines(c),
                c.port
            ),
        ),
    };
    let mut crypto = match &c.crypto {
        Some(k) => format!(
            "    crypto_cipher: {}\n    crypto_hash: {}\n    keyfile: {}\n",
            k.cipher, k.hash, k.keyfile
        ),
        None => String::new(),
    };
    if c.rrp_mode.is_some() {
        let _ = writeln!(crypto, "    ring1_port: {}", c.port1);
    }
    if local == LocalTransport::Knet {
        let _ = writeln!(
            crypto,
            "    daemon_transport: knet\n    daemon_token: {}",
            c.token
        );
        if let Some(k) = &c.crypto {
            let _ = writeln!(
                crypto,
                "    daemon_crypto_model: nss\n    daemon_crypto_cipher: {}\n    daemon_crypto_hash: {}",
                k.cipher,
                knet_hash(&k.hash)
            );
        }
    }
    let gateway_conf = format!(
        "# Written by totem-gateway plan.\ngateway {{\n    nodeid: {n}\n    ring_port: {}\n    daemon_addr: {}\n    daemon_port: {}\n{crypto}}}\n\nnodelist {{\n{gnl}}}\n",
        c.port,
        shadow(n),
        c.port
    );
    let prepare_sh = format!(
        "#!/bin/sh\n# Written by totem-gateway plan: node {n}'s own shadow address, where its corosync 3\n# listens for its gateway (the other nodes' shadow addresses are local through lo's /8).\nset -e\nip addr replace {}/32 dev lo\n",
        shadow(n)
    );
    let unit = format!(
        "# Written by totem-gateway plan.\n[Unit]\nDescription=totem-gateway: node {n}'s corosync 3 on the corosync 2 ring\nBefore=corosync.service\n\n[Service]\nExecStartPre=/bin/sh {dir}/prepare.sh\nExecStart={bin} run -c {dir}/gateway.conf\nRestart=always\nRestartSec=1\n\n[Install]\nWantedBy=corosync.service\n"
    );
    let runbook = format!(
        "Upgrade step for node {n} ({}):\n  1. corosync 2.x on node {n} is stopped (the others keep quorum: {} of {} nodes stay).\n  2. Install corosync 3 on node {n}; do not start it yet.\n  3. sh {dir}/prepare.sh\n  4. Start the gateway: {bin} run -c {dir}/gateway.conf  (or install {dir}/totem-gateway.service)\n  5. Start corosync 3 with {dir}/corosync.conf (copy it to /etc/corosync/corosync.conf).\n  6. Check: corosync-quorumtool -s on node {n} and on a 2.x node lists all {} nodes.\nThe 2.x nodes' configuration is never touched. When every node runs corosync 3, run\n`plan --final` for the direct configuration and restart the nodes one by one with it.\n",
        me.ring0,
        c.nodes.len() - 1,
        c.nodes.len(),
        c.nodes.len()
    );
    Ok(Step {
        corosync_conf,
        gateway_conf,
        prepare_sh,
        unit,
        runbook,
    })
}

/// The direct corosync 3 configuration once no 2.x node is left: knet, one link per ring
/// the 2.x cluster had (ring0_addr, ring1_addr), the 2.x timers and quorum settings.
pub fn final_conf(c: &Cluster) -> String {
    let mut nl = String::new();
    for x in &c.nodes {
        // corosync 3 refuses a multi-link nodelist without a name on every node.
        let _ = write!(
            nl,
            "    node {{\n        name: {}\n        nodeid: {}\n        ring0_addr: {}\n",
            x.name, x.nodeid, x.ring0
        );
        if let Some(r1) = x.ring1 {
            let _ = writeln!(nl, "        ring1_addr: {r1}");
        }
        nl.push_str("    }\n");
    }
    let crypto = knet_crypto_lines(c);
    // RRP rings become knet links 0 and 1; rrp_mode becomes link_mode.
    let mut links = format!(
        "    interface {{\n        linknumber: 0\n        mcastport: {}\n    }}\n",
        c.port
    );
    if let Some(mode) = &c.rrp_mode {
        links = format!(
            "    link_mode: {mode}\n{links}    interface {{\n        linknumber: 1\n        mcastport: {}\n    }}\n",
            c.port1
        );
    }
    sections(c, "knet", &nl, &format!("{crypto}{links}"))
}

#[cfg(test)]
mod tests;
