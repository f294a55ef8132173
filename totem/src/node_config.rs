//! Maps a parsed corosync.conf onto the configuration of one node: engine timers, transport,
//! addresses, envelope and logging.
//!
//! Keys of the `totem`, `interface`, `nodelist` and `logging` sections are checked strictly:
//! anything this implementation cannot honour is refused with the key and the reason. Other
//! top-level sections (quorum, system, amf, ...) are not ours and are listed in
//! [`NodeConfig::ignored`].
//!
//! # Our encrypted rings: the `keygen` section
//! A top-level section of our own (corosync has no `keygen` section, so no key collides
//! with one of corosync's) turns on the secure layer ([`crate::secure`]: every datagram
//! sealed in the native envelope, TGDH group keys agreed on every configuration change,
//! rekeying by time and volume):
//!
//! ```text
//! keygen {
//!     enable: yes               # required in the section: yes/no (on/off)
//!     keyfile: /etc/totem/authkey   # authkey from `totem-keygen`; default totem.keyfile,
//!                               # else /etc/corosync/authkey (at least 16 bytes)
//!     rekey_interval: 1000      # ms after a key became active; 0 (default): no timer;
//!                               # else 100..=86400000
//!     rekey_packets: 5000       # datagrams sealed + opened under one key; 0 (default):
//!                               # no volume limit; else at least 100
//!     retire_grace: 2000        # ms the previous key still opens after the switch
//!                               # (default 2000; 1..=86400000)
//! }
//! ```
//!
//! With `enable: yes` the ring is one of ours only: generation G3 (`--generation g1/g2`
//! is refused at `keygen.enable`), `totem.transport: udpu` or `udp` (knet refused at
//! `totem.transport`; an absent transport, which means knet in G3, at `keygen.enable`), and
//! no corosync crypto (`totem.crypto_cipher`, `crypto_hash`, `secauth` other than
//! none/off, `crypto_model`, `crypto_type`, `crypto_accept` refused at their key). Unknown
//! keys, out-of-range and malformed values are refused with key, line and reason like the
//! rest of this module; `enable: no` leaves the ring exactly as without the section.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use totem_wire::envelope::{Cipher, Hash, SecauthMode};
use totem_wire::ip_address::TotemIpAddress;
use totem_wire::Generation;

use crate::config::Config;
use crate::corosync_conf::{self, ConfError, Entry, Section};

mod checks;
mod interface;
mod nodelist;
mod timers;
mod totem_section;
pub use checks::{MINIMUM_HOLD, MINIMUM_TIMEOUT};

/// Why a corosync.conf cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    /// The text is not corosync.conf syntax.
    #[error(transparent)]
    Syntax(#[from] ConfError),
    /// A key this implementation cannot honour.
    #[error("line {line}: {}: {} refused: {reason}", bounded(.key), excerpt(.value))]
    Refused {
        key: String,
        value: String,
        line: usize,
        reason: String,
    },
    /// A value that does not parse or is out of range.
    #[error("line {line}: {}: invalid value {}: {reason}", bounded(.key), excerpt(.value))]
    Invalid {
        key: String,
        value: String,
        line: usize,
        reason: String,
    },
    /// A required key is absent.
    #[error("{key} missing: {reason}")]
    Missing { key: String, reason: String },
    /// Our own node cannot be identified.
    #[error("own node: {0}")]
    OwnNode(String),
    /// A top-level section given twice.
    #[error("line {line}: a second {section} section (the first is at line {first}); give each section once")]
    Repeated {
        section: String,
        line: usize,
        first: usize,
    },
    /// A key file that group or others may read.
    #[error("line {line}: {key}: key file {path} has mode {mode:04o}, readable by group or others; chmod 600 {path} (corosync-keygen writes 0400)")]
    KeyFileMode {
        key: String,
        line: usize,
        path: String,
        mode: u32,
    },
}

/// A key or other config text for an error message, at most [`EXCERPT_MAX`] characters.
fn bounded(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A value for an error message: quoted, at most [`EXCERPT_MAX`] characters.
fn excerpt(s: &str) -> String {
    corosync_conf::excerpt(s)
}

pub use corosync_conf::EXCERPT_MAX;

type Result<T> = std::result::Result<T, NodeConfigError>;

/// Looks a key up in one section, the entry named with its section path.
type Lookup<'a> = dyn Fn(&str) -> Option<Entry> + 'a;

/// Which UDP transport carries the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TransportKind {
    /// Unicast: "multicasts" are one datagram per configured member.
    Udpu,
    /// IP multicast.
    Udp,
    /// kronosnet: per-link UDP flows with heartbeats (the corosync 3 default).
    Knet,
}

/// One knet link number's settings (`totem.interface` with that `linknumber`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnetLinkConfig {
    pub linknumber: u8,
    /// UDP port on both ends (`mcastport`, default 5405 + linknumber).
    pub port: u16,
    pub params: crate::knet::LinkParams,
}

/// knet settings of a node (used with [`TransportKind::Knet`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KnetSettings {
    /// `link_mode`.
    pub link_mode: crate::knet::LinkPolicy,
    /// Links with an address for our node, by link number.
    pub links: Vec<KnetLinkConfig>,
    /// `knet_mtu` (0 = path MTU discovery; we then assume 1500).
    pub knet_mtu: u32,
    /// `knet_pmtud_interval` in seconds (accepted; we only answer probes).
    pub pmtud_interval: u32,
    /// knet crypto (crypto_model/crypto_cipher/crypto_hash) and the key file; `None` when
    /// cipher and hash are none.
    pub crypto: Option<KnetCryptoSetting>,
}

/// knet crypto settings: the algorithms and where the key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnetCryptoSetting {
    pub config: totem_wire::envelope::knet::KnetCryptoConfig,
    pub keyfile: PathBuf,
}

/// Address family of the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum IpVersion {
    V4,
    V6,
}

/// The envelope around every datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoSetting {
    /// Bare Totem messages (G1 secauth off, every G3 udp/udpu ring).
    None,
    /// G2 totemcrypto (2.3+ format) with these algorithms; `none/none` is the 4-byte header.
    TotemCrypto {
        cipher: Cipher,
        hash: Hash,
        /// Key file; `None` with none/none.
        keyfile: Option<PathBuf>,
    },
    /// G1 secauth with this mode and trailer byte.
    Secauth {
        mode: SecauthMode,
        trailer: Option<u8>,
        keyfile: PathBuf,
    },
}

/// One nodelist entry (or a G1 `interface.member`, which has no nodeid: 0).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeEntry {
    pub nodeid: u32,
    pub addr: IpAddr,
    /// IPv6 scope (interface index) for link-local addresses, else 0.
    pub scope_id: u32,
    pub name: Option<String>,
    /// knet: every `ringN_addr` of the node (link number, address, scope), ring 0 included.
    pub ring_addrs: Vec<(u8, IpAddr, u32)>,
}

/// `logging` settings we honour.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoggingConfig {
    pub to_stderr: bool,
    pub logfile: Option<PathBuf>,
    pub debug: bool,
}

/// Everything one node needs to run.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub generation: Generation,
    pub cluster_name: Option<String>,
    pub transport: TransportKind,
    pub ip_version: IpVersion,
    /// Engine settings (timers, flow control, identity).
    pub engine: Config,
    /// Own nodeid.
    pub nodeid: u32,
    /// Own ring-0 address (bound with `mcastport`).
    pub bind_addr: IpAddr,
    /// IPv6 scope id of `bind_addr` (0 unless link-local).
    pub scope_id: u32,
    /// Multicast group (udp only).
    pub mcastaddr: Option<IpAddr>,
    pub mcastport: u16,
    /// Multicast TTL / hop limit.
    pub ttl: u32,
    /// `netmtu`: the largest IP datagram we send.
    pub netmtu: usize,
    /// Configured members (including ourselves).
    pub nodes: Vec<NodeEntry>,
    pub crypto: CryptoSetting,
    /// knet link settings (empty links unless the transport is knet).
    pub knet: KnetSettings,
    pub logging: LoggingConfig,
    /// Drop datagrams from IPs outside `nodes` (`block_unlisted_ips`, default yes).
    pub block_unlisted_ips: bool,
    /// SO_RCVBUF / SO_SNDBUF requested for every socket.
    pub socket_buffer: usize,
    /// Top-level sections that are not ours and were not looked at.
    pub ignored: Vec<String>,
    /// The secure layer (`keygen { enable: yes }`): sealed datagrams, group keys, rekeying.
    pub secure: Option<SecureSettings>,
    /// The corosync.conf this was read from (re-read on a CFG reload).
    pub source: Option<PathBuf>,
}

/// Settings of the `keygen` section: our encrypted, rekeying rings ([`crate::secure`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecureSettings {
    /// The cluster authkey (`keygen.keyfile`, else `totem.keyfile`, else
    /// `/etc/corosync/authkey`), as `totem-keygen` writes it.
    pub keyfile: PathBuf,
    /// `keygen.rekey_interval` in ms (`None`: 0, rekey only on membership changes).
    pub rekey_interval: Option<Duration>,
    /// `keygen.rekey_packets` (`None`: 0, no rekey by volume).
    pub rekey_packets: Option<u64>,
    /// `keygen.retire_grace` in ms (default 2000).
    pub retire_grace: Duration,
}

/// Bytes the secure layer adds to every datagram: the 32-byte envelope header, the 16-byte
/// tag and the one-byte layer frame of application messages.
pub const SECURE_OVERHEAD: usize = 32 + 16 + 1;

impl NodeConfig {
    /// The totempg data budget per Totem mcast: netmtu minus IP/UDP headers, the envelope and
    /// twice the mcast header (corosync 2.4.6+/3.0.3+ accounting, spec §5.1).
    pub fn net_mtu(&self) -> usize {
        if self.transport == TransportKind::Knet {
            // corosync over knet: netmtu (default KNET_MAX_PACKET_SIZE 65536) minus two mcast
            // headers; knet itself fragments to the link MTU.
            let mcast = totem_wire::srp::mcast::header_len(self.generation);
            return self
                .netmtu
                .saturating_sub(2 * mcast)
                .max(totem_wire::totempg::fragmenter::NET_MTU_MIN);
        }
        let ip = match self.ip_version {
            IpVersion::V4 => 28,
            IpVersion::V6 => 48,
        };
        let envelope = match &self.crypto {
            CryptoSetting::None => 0,
            CryptoSetting::TotemCrypto { cipher, hash, .. } => {
                4 + hash.len()
                    + if *cipher == Cipher::None {
                        0
                    } else {
                        16 + 2 * cipher.block_len()
                    }
            }
            CryptoSetting::Secauth { .. } => 37,
        } + if self.secure.is_some() {
            SECURE_OVERHEAD
        } else {
            0
        };
        let mcast = totem_wire::srp::mcast::header_len(self.generation);
        self.netmtu
            .saturating_sub(ip + envelope + 2 * mcast)
            .max(totem_wire::totempg::fragmenter::NET_MTU_MIN)
    }

    /// The nodelist entry of `nodeid`.
    pub fn node(&self, nodeid: u32) -> Option<&NodeEntry> {
        self.nodes
            .iter()
            .find(|n| n.nodeid == nodeid && nodeid != 0)
    }
}

/// Command-line overrides applied while mapping.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    /// `--generation`: G3 when absent.
    pub generation: Option<Generation>,
    /// `--nodeid`: pick our nodelist entry by id instead of by local address.
    pub nodeid: Option<u32>,
}

/// Parses a `--generation` value (`g1`, `g2`, `g3`, case-insensitive).
pub fn parse_generation(s: &str) -> std::result::Result<Generation, String> {
    match s.to_ascii_lowercase().as_str() {
        "g1" | "1" => Ok(Generation::G1),
        "g2" | "2" => Ok(Generation::G2),
        "g3" | "3" => Ok(Generation::G3),
        _ => Err(format!("unknown generation {s:?}: expected g1, g2 or g3")),
    }
}

/// Reads, parses and maps `path`, finding our own node among the local addresses.
pub fn load(path: &std::path::Path, ov: Overrides) -> Result<NodeConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| NodeConfigError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let root = corosync_conf::parse(&text)?;
    let mut cfg = map(&root, ov, &is_local_address)?;
    key_file_modes(&cfg, &root)?;
    cfg.source = Some(path.to_path_buf());
    Ok(cfg)
}

/// Refuses the key files `cfg` will read if group or others may read them (see
/// [`checks`]); the error names the key and line that set the path (or the section that
/// implies the default).
pub fn key_file_modes(cfg: &NodeConfig, root: &Section) -> Result<()> {
    let empty = Section::default();
    let totem = root.section("totem").unwrap_or(&empty);
    let at = |sec: &str, s: &Section| {
        s.entry("keyfile")
            .map(|e| (format!("{sec}.keyfile"), e.line))
            .unwrap_or_else(|| (format!("{sec}.keyfile (default)"), s.line))
    };
    let mut files = Vec::new();
    match &cfg.crypto {
        CryptoSetting::TotemCrypto {
            keyfile: Some(k), ..
        }
        | CryptoSetting::Secauth { keyfile: k, .. } => files.push((k.clone(), at("totem", totem))),
        _ => {}
    }
    if let Some(c) = &cfg.knet.crypto {
        files.push((c.keyfile.clone(), at("totem", totem)));
    }
    if let Some(s) = &cfg.secure {
        let k = root.section("keygen").unwrap_or(&empty);
        let where_ = if k.entry("keyfile").is_some() {
            at("keygen", k)
        } else {
            at("totem", totem)
        };
        files.push((s.keyfile.clone(), where_));
    }
    for (path, (key, line)) in files {
        checks::key_file_mode(&path, &key, line)?;
    }
    Ok(())
}

/// Re-reads the knet crypto settings (`totem.crypto_*`, `secauth`, `keyfile`) of the
/// corosync.conf at `path`, as corosync's `totem_reread_crypto_config` does on a reload.
pub fn reread_knet_crypto(path: &std::path::Path) -> Result<Option<KnetCryptoSetting>> {
    let text = std::fs::read_to_string(path).map_err(|e| NodeConfigError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let root = corosync_conf::parse(&text)?;
    let empty = Section::default();
    let totem = root.section("totem").unwrap_or(&empty);
    let t = |k: &str| totem.entry(k).map(|e| qualified("totem", e));
    knet_crypto(&t)
}

/// Whether `ip` is an address of this host (binding a UDP socket to it succeeds).
pub fn is_local_address(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind((ip, 0)).is_ok()
}

fn refused(e: &Entry, reason: impl Into<String>) -> NodeConfigError {
    NodeConfigError::Refused {
        key: e.key.clone(),
        value: e.value.clone(),
        line: e.line,
        reason: reason.into(),
    }
}

fn invalid(e: &Entry, reason: impl Into<String>) -> NodeConfigError {
    NodeConfigError::Invalid {
        key: e.key.clone(),
        value: e.value.clone(),
        line: e.line,
        reason: reason.into(),
    }
}

/// An entry with its key qualified by section path (`totem.token`).
fn qualified(prefix: &str, e: &Entry) -> Entry {
    Entry {
        key: format!("{prefix}.{}", e.key),
        value: e.value.clone(),
        line: e.line,
    }
}

fn num<T: std::str::FromStr>(e: &Entry) -> Result<T> {
    e.value
        .parse::<T>()
        .map_err(|_| invalid(e, "not an unsigned integer in range"))
}

fn ms(e: &Entry) -> Result<Duration> {
    Ok(Duration::from_millis(num::<u64>(e)?))
}

fn yes_no(e: &Entry) -> Result<bool> {
    match e.value.as_str() {
        "yes" | "on" | "true" | "1" => Ok(true),
        "no" | "off" | "false" | "0" => Ok(false),
        _ => Err(invalid(e, "expected yes/no or on/off")),
    }
}

/// Parses an IP literal with an optional `%scope` (a number or an interface name).
fn ip_with_scope(e: &Entry) -> Result<(IpAddr, u32)> {
    let (ip, scope) = match e.value.split_once('%') {
        Some((ip, s)) => (ip, Some(s)),
        None => (e.value.as_str(), None),
    };
    let ip: IpAddr = ip.parse().map_err(|_| {
        refused(
            e,
            "not an IP address literal (host names are not resolved; write the address)",
        )
    })?;
    let scope = match scope {
        None => 0,
        Some(s) if ip.is_ipv4() => {
            return Err(invalid(e, format!("scope {s:?} on an IPv4 address")))
        }
        Some(s) => match s.parse::<u32>() {
            Ok(n) => n,
            Err(_) => if_index(s).ok_or_else(|| invalid(e, format!("no interface named {s:?}")))?,
        },
    };
    Ok((ip, scope))
}

/// Interface index of `name`, read from sysfs.
fn if_index(name: &str) -> Option<u32> {
    if name.contains('/') || name.is_empty() {
        return None;
    }
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Keys of `totem` we read (the rest are refused).
const TOTEM_KEYS: &[&str] = &[
    "version",
    "cluster_name",
    "transport",
    "token",
    "token_coefficient",
    "token_retransmit",
    "token_retransmits_before_loss_const",
    "hold",
    "consensus",
    "join",
    "merge",
    "downcheck",
    "fail_recv_const",
    "seqno_unchanged_const",
    "miss_count_const",
    "max_messages",
    "window_size",
    "netmtu",
    "ip_version",
    "crypto_cipher",
    "crypto_hash",
    "crypto_type",
    "crypto_accept",
    "secauth",
    "keyfile",
    "nodeid",
    "threads",
    "rrp_mode",
    "block_unlisted_ips",
    "config_version",
    "crypto_model",
    "link_mode",
    "knet_pmtud_interval",
    "knet_mtu",
    "knet_compression_model",
    "knet_compression_threshold",
    "knet_compression_level",
];

/// knet keys of a `totem.interface` section.
const KNET_IFACE_KEYS: &[&str] = &[
    "knet_link_priority",
    "knet_ping_interval",
    "knet_ping_timeout",
    "knet_ping_precision",
    "knet_pong_count",
    "knet_transport",
];

/// Maps `root` with `is_local` telling which addresses are ours.
pub fn map(root: &Section, ov: Overrides, is_local: &dyn Fn(IpAddr) -> bool) -> Result<NodeConfig> {
    let gen = ov.generation.unwrap_or(Generation::G3);
    let empty = Section::default();
    let totem = root.section("totem").unwrap_or(&empty);
    let t = |k: &str| totem.entry(k).map(|e| qualified("totem", e));
    checks::repeated_sections(root)?;

    totem_section::check_keys(totem, &t)?;
    let transport = totem_section::transport(gen, &t)?;
    let mut engine = timers::engine_timers(gen, &t)?;
    let totem_section::TotemOptions {
        netmtu,
        block_unlisted_ips,
        ip_version,
    } = totem_section::options(transport, &t)?;

    // Our secure layer (checked first: it refuses corosync crypto with its own reason).
    let secure = match root.section("keygen") {
        Some(k) => secure_settings(k, gen, &t)?,
        None => None,
    };

    // Crypto.
    let crypto = crypto_setting(gen, transport, &t)?;

    let interface::Interfaces {
        line: iface_line,
        knet: knet_ifaces,
        members,
        mcastport,
        ttl,
        bindnetaddr,
        mcastaddr,
    } = interface::interfaces(totem, gen, transport, ip_version)?;

    let mut nodes = nodelist::nodelist(root, gen, transport, ip_version)?;

    if !nodes.is_empty() && !members.is_empty() {
        return Err(NodeConfigError::Refused {
            key: "totem.interface.member".into(),
            value: String::new(),
            line: iface_line,
            reason: "give either a nodelist or interface members, not both".into(),
        });
    }
    let from_members = nodes.is_empty() && !members.is_empty();
    if from_members {
        nodes = members;
    }
    if matches!(transport, TransportKind::Udpu | TransportKind::Knet) && nodes.is_empty() {
        return Err(NodeConfigError::Missing {
            key: "nodelist".into(),
            reason: "transport udpu needs the member addresses".into(),
        });
    }

    // Own node.
    let totem_nodeid = t("nodeid").map(|e| num::<u32>(&e)).transpose()?;
    let (nodeid, bind_addr, scope_id) = own_node(
        &nodes,
        from_members,
        ov.nodeid.or(if from_members || nodes.is_empty() {
            None
        } else {
            totem_nodeid
        }),
        totem_nodeid,
        bindnetaddr.as_ref().map(|((a, s), _)| (*a, *s)),
        gen,
        is_local,
    )?;
    if from_members {
        if let Some(me) = nodes.iter_mut().find(|n| n.addr == bind_addr) {
            me.nodeid = nodeid;
        }
    }

    engine.nodeid = nodeid;
    engine.nodelist_size = nodes.len();
    // The engine refuses joins, commit tokens and merge detects naming anyone else.
    engine.nodelist = nodes
        .iter()
        .map(|n| crate::config::Peer {
            nodeid: n.nodeid,
            address: (gen != Generation::G3).then(|| match n.addr {
                IpAddr::V4(v4) => TotemIpAddress::v4(n.nodeid, v4),
                IpAddr::V6(v6) => TotemIpAddress::v6(n.nodeid, v6),
            }),
        })
        .collect();
    checks::timers(&engine, &t)?;
    if gen != Generation::G3 {
        engine.address = Some(match bind_addr {
            IpAddr::V4(v4) => TotemIpAddress::v4(nodeid, v4),
            IpAddr::V6(v6) => TotemIpAddress::v6(nodeid, v6),
        });
    }

    let logging = logging_config(root.section("logging").unwrap_or(&empty))?;
    let ignored = root
        .subsections()
        .filter(|s| !matches!(s.name.as_str(), "totem" | "nodelist" | "logging" | "keygen"))
        .map(|s| s.name.clone())
        .collect();
    for e in root.entries() {
        if e.key != "compatibility" {
            return Err(refused(e, "unknown top-level key"));
        }
    }

    let knet = if transport == TransportKind::Knet {
        knet_settings(&t, &knet_ifaces, &nodes, nodeid, &engine)?
    } else {
        KnetSettings::default()
    };

    let mut cfg = NodeConfig {
        generation: gen,
        cluster_name: totem.get("cluster_name").map(str::to_string),
        transport,
        ip_version,
        engine,
        nodeid,
        bind_addr,
        scope_id,
        mcastaddr,
        mcastport,
        ttl,
        netmtu,
        nodes,
        crypto,
        knet,
        logging,
        block_unlisted_ips,
        socket_buffer: 4 * 1024 * 1024,
        ignored,
        secure,
        source: None,
    };
    let budget = cfg.net_mtu();
    // The secure layer frames each application payload with one more byte.
    let framed = budget + usize::from(cfg.secure.is_some());
    cfg.engine.max_payload = cfg.engine.max_payload.max(framed);
    Ok(cfg)
}

/// The nodeid corosync 1.x derives from an IPv4 address (its `s_addr` read as a host-order
/// u32 on a little-endian machine).
pub fn v4_nodeid(ip: Ipv4Addr) -> u32 {
    u32::from_le_bytes(ip.octets())
}

fn own_node(
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
    let local: Vec<(IpAddr, u32)> = candidates
        .into_iter()
        .filter(|(a, _)| is_local(*a))
        .collect();
    let (addr, scope) = match local.as_slice() {
        [one] => *one,
        [] => {
            return Err(NodeConfigError::OwnNode(
                "without a nodelist, totem.interface.bindnetaddr (or one interface member) must be an exact address of this host; network addresses are not matched against interfaces".into(),
            ))
        }
        _ => {
            return Err(NodeConfigError::OwnNode(
                "several interface members are local addresses".into(),
            ))
        }
    };
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

/// The knet part of the configuration: link mode, compression (none only), per-link
/// heartbeat settings with corosync 3.1.7's defaults (totemconfig.c).
fn knet_settings(
    t: &dyn Fn(&str) -> Option<Entry>,
    ifaces: &[(u8, &Section)],
    nodes: &[NodeEntry],
    nodeid: u32,
    engine: &Config,
) -> Result<KnetSettings> {
    use crate::knet::{LinkParams, LinkPolicy};
    let link_mode = match t("link_mode") {
        None => LinkPolicy::Passive,
        Some(e) => match e.value.as_str() {
            "passive" => LinkPolicy::Passive,
            "active" => LinkPolicy::Active,
            "rr" => LinkPolicy::Rr,
            _ => return Err(invalid(&e, "expected passive, active or rr")),
        },
    };
    if let Some(e) = t("knet_compression_model") {
        if e.value != "none" {
            return Err(refused(
                &e,
                "knet compression is not built in; set knet_compression_model: none (and on every node)",
            ));
        }
    }
    for k in ["knet_compression_threshold", "knet_compression_level"] {
        if let Some(e) = t(k) {
            e.value
                .parse::<i64>()
                .map_err(|_| invalid(&e, "not an integer"))?;
        }
    }
    let knet_mtu = t("knet_mtu")
        .map(|e| num::<u32>(&e))
        .transpose()?
        .unwrap_or(0);
    if knet_mtu != 0 && knet_mtu < 576 {
        let e = t("knet_mtu").unwrap_or_default_entry();
        return Err(invalid(&e, "must be 0 (discover) or at least 576"));
    }
    let pmtud_interval = t("knet_pmtud_interval")
        .map(|e| num::<u32>(&e))
        .transpose()?
        .unwrap_or(30);
    let crypto = knet_crypto(t)?;
    let me = nodes.iter().find(|n| n.nodeid == nodeid);
    let token_ms = engine.token_timeout().as_millis() as u64;
    let whole_ms = std::time::Duration::from_millis;
    let mut links = Vec::new();
    for (lid, _, _) in me.map(|n| n.ring_addrs.as_slice()).unwrap_or(&[]) {
        let sec = ifaces.iter().find(|(l, _)| l == lid).map(|(_, s)| *s);
        let g = |k: &str| {
            sec.and_then(|s| s.entry(k))
                .map(|e| qualified("totem.interface", e))
        };
        let port = match g("mcastport") {
            Some(e) => num::<u16>(&e)?,
            None => 5405 + u16::from(*lid),
        };
        if let Some(e) = g("knet_transport") {
            match e.value.as_str() {
                "udp" => {}
                "sctp" => {
                    return Err(refused(
                        &e,
                        "the knet SCTP transport is not implemented; use knet_transport: udp",
                    ))
                }
                _ => return Err(invalid(&e, "expected udp or sctp")),
            }
        }
        let pong_count = match g("knet_pong_count") {
            Some(e) => num::<u32>(&e)?,
            None => 2,
        };
        let pc = pong_count.max(1);
        let ms = |k: &str, dflt: std::time::Duration| -> Result<std::time::Duration> {
            match g(k) {
                Some(e) => {
                    let v: u64 = num(&e)?;
                    Ok(if v == 0 {
                        dflt
                    } else {
                        std::time::Duration::from_millis(v)
                    })
                }
                None => Ok(dflt),
            }
        };
        let params = LinkParams {
            // corosync computes these in whole milliseconds.
            ping_interval: ms("knet_ping_interval", whole_ms(token_ms / u64::from(pc * 2)))?,
            ping_timeout: ms("knet_ping_timeout", whole_ms(token_ms / u64::from(pc)))?,
            ping_precision: match g("knet_ping_precision") {
                Some(e) => num::<u32>(&e)?,
                None => 2048,
            },
            pong_count,
            priority: match g("knet_link_priority") {
                Some(e) => num::<u8>(&e)?,
                None => 1,
            },
        };
        links.push(KnetLinkConfig {
            linknumber: *lid,
            port,
            params,
        });
    }
    if links.is_empty() {
        return Err(NodeConfigError::OwnNode(
            "our nodelist entry has no ringN_addr for knet".into(),
        ));
    }
    Ok(KnetSettings {
        link_mode,
        links,
        knet_mtu,
        pmtud_interval,
        crypto,
    })
}

/// corosync 3.1.7 totem_get_crypto: model nss unless set; `secauth: on` means aes256/sha256;
/// crypto_cipher/crypto_hash override; a cipher needs a hash. The key file is
/// `totem.keyfile`, else /etc/corosync/authkey.
fn knet_crypto(t: &dyn Fn(&str) -> Option<Entry>) -> Result<Option<KnetCryptoSetting>> {
    use totem_wire::envelope::knet::{KnetCryptoConfig, KnetCryptoError};
    let pick = |k: &str, dflt: &str| t(k).map(|e| e.value).unwrap_or_else(|| dflt.to_string());
    let secauth = t("secauth")
        .map(|e| yes_no(&e))
        .transpose()?
        .unwrap_or(false);
    let (dc, dh) = if secauth {
        ("aes256", "sha256")
    } else {
        ("none", "none")
    };
    let model = pick("crypto_model", "nss");
    let cipher = pick("crypto_cipher", dc);
    let hash = pick("crypto_hash", dh);
    let config = KnetCryptoConfig::from_names(&model, &cipher, &hash)
        .and_then(|c| c.validate().map(|_| c))
        .map_err(|e| {
            let key = match &e {
                KnetCryptoError::Config { field, .. } => format!("totem.{field}"),
                _ => "totem.crypto_cipher".into(),
            };
            // The key at fault, else whichever crypto key is set (one is: the defaults
            // are valid).
            let line = [
                key.trim_start_matches("totem."),
                "crypto_cipher",
                "crypto_hash",
                "crypto_model",
                "secauth",
            ]
            .into_iter()
            .find_map(|k| t(k).map(|e| e.line))
            .unwrap_or(0);
            NodeConfigError::Invalid {
                key,
                value: format!("{model}/{cipher}/{hash}"),
                line,
                reason: e.to_string(),
            }
        })?;
    if !config.is_enabled() {
        return Ok(None);
    }
    let keyfile = t("keyfile")
        .map(|e| PathBuf::from(e.value))
        .unwrap_or_else(|| PathBuf::from("/etc/corosync/authkey"));
    Ok(Some(KnetCryptoSetting { config, keyfile }))
}

fn crypto_setting(
    gen: Generation,
    transport: TransportKind,
    t: &dyn Fn(&str) -> Option<Entry>,
) -> Result<CryptoSetting> {
    let cipher = t("crypto_cipher");
    let hash = t("crypto_hash");
    let secauth = t("secauth")
        .map(|e| yes_no(&e).map(|v| (v, e)))
        .transpose()?;
    let keyfile = t("keyfile").map(|e| PathBuf::from(e.value));
    match gen {
        Generation::G3 => {
            if transport == TransportKind::Knet {
                // Checked and kept in KnetSettings (knet_crypto); the datagram envelope of
                // the engine stays bare.
                return Ok(CryptoSetting::None);
            }
            for e in [&cipher, &hash].into_iter().flatten() {
                if e.value != "none" {
                    return Err(refused(
                        e,
                        "crypto_cipher & crypto_hash are only valid for the Knet transport",
                    ));
                }
            }
            if let Some((true, e)) = secauth {
                return Err(refused(
                    &e,
                    "crypto_cipher & crypto_hash are only valid for the Knet transport",
                ));
            }
            for k in ["crypto_type", "crypto_accept"] {
                if let Some(e) = t(k) {
                    return Err(refused(
                        &e,
                        "a corosync 1.x option; not valid in generation G3",
                    ));
                }
            }
            Ok(CryptoSetting::None)
        }
        Generation::G2 => {
            for k in ["crypto_type", "crypto_accept"] {
                if let Some(e) = t(k) {
                    return Err(refused(
                        &e,
                        "a corosync 1.x option; not valid in generation G2",
                    ));
                }
            }
            let secauth_off = matches!(secauth, Some((false, _)));
            let c = match &cipher {
                Some(e) => {
                    Cipher::from_config_name(&e.value).map_err(|x| invalid(e, x.to_string()))?
                }
                None if secauth_off => Cipher::None,
                None => Cipher::Aes256,
            };
            let h = match &hash {
                Some(e) => {
                    Hash::from_config_name(&e.value).map_err(|x| invalid(e, x.to_string()))?
                }
                None if secauth_off => Hash::None,
                None => Hash::Sha1,
            };
            if c != Cipher::None && h == Hash::None {
                let e = hash.or(cipher).unwrap_or(Entry {
                    key: "totem.crypto_hash".into(),
                    value: "none".into(),
                    line: 0,
                });
                return Err(invalid(
                    &e,
                    "crypto_cipher requires crypto_hash with value other than none",
                ));
            }
            let needs_key = c != Cipher::None || h != Hash::None;
            Ok(CryptoSetting::TotemCrypto {
                cipher: c,
                hash: h,
                keyfile: needs_key
                    .then(|| keyfile.unwrap_or_else(|| PathBuf::from("/etc/corosync/authkey"))),
            })
        }
        Generation::G1 => {
            if let Some(e) = cipher.as_ref().or(hash.as_ref()) {
                return Err(refused(e, "a corosync 2.x option; G1 uses secauth"));
            }
            // secauth defaults to on in openais 0.80 and corosync 1.x.
            if matches!(secauth, Some((false, _))) {
                return Ok(CryptoSetting::None);
            }
            let nss = match t("crypto_type") {
                None => false,
                Some(e) => match e.value.as_str() {
                    "sober" => false,
                    "nss" | "aes256" => true,
                    _ => return Err(invalid(&e, "expected sober or nss")),
                },
            };
            let accept_new = match t("crypto_accept") {
                None => false,
                Some(e) => match e.value.as_str() {
                    "old" => false,
                    "new" => true,
                    _ => return Err(invalid(&e, "expected old or new")),
                },
            };
            let (mode, trailer) = match (nss, accept_new) {
                (true, true) => (SecauthMode::Nss, Some(1)),
                (false, true) => (SecauthMode::Sober, Some(0)),
                (false, false) => (SecauthMode::Sober, Some(0)),
                (true, false) => {
                    let e = t("crypto_type").unwrap_or_default_entry();
                    return Err(refused(&e, "nss is only sent with crypto_accept: new"));
                }
            };
            Ok(CryptoSetting::Secauth {
                mode,
                trailer,
                keyfile: keyfile.unwrap_or_else(|| PathBuf::from("/etc/corosync/authkey")),
            })
        }
    }
}

trait EntryDefault {
    fn unwrap_or_default_entry(self) -> Entry;
}
impl EntryDefault for Option<Entry> {
    fn unwrap_or_default_entry(self) -> Entry {
        self.unwrap_or(Entry {
            key: String::new(),
            value: String::new(),
            line: 0,
        })
    }
}

/// Keys of the `keygen` section.
const KEYGEN_KEYS: &[&str] = &[
    "enable",
    "keyfile",
    "rekey_interval",
    "rekey_packets",
    "retire_grace",
];

/// Corosync crypto keys of `totem` that cannot be combined with the secure layer.
const COROSYNC_CRYPTO_KEYS: &[&str] = &[
    "crypto_cipher",
    "crypto_hash",
    "crypto_model",
    "crypto_type",
    "crypto_accept",
    "secauth",
];

/// Longest `rekey_interval` / `retire_grace` accepted (one day, in ms).
const KEYGEN_MAX_MS: u64 = 86_400_000;

/// Maps the `keygen` section; `None` unless `enable: yes`.
fn secure_settings(
    k: &Section,
    gen: Generation,
    t: &dyn Fn(&str) -> Option<Entry>,
) -> Result<Option<SecureSettings>> {
    let q = |e: &Entry| qualified("keygen", e);
    for e in k.entries() {
        if !KEYGEN_KEYS.contains(&e.key.as_str()) {
            return Err(refused(&q(e), "not a keygen option"));
        }
    }
    if let Some(s) = k.subsections().next() {
        return Err(NodeConfigError::Refused {
            key: format!("keygen.{}", s.name),
            value: String::new(),
            line: s.line,
            reason: "unknown section".into(),
        });
    }
    let enable = match k.entry("enable").map(q) {
        Some(e) => (yes_no(&e)?, e),
        None => {
            return Err(NodeConfigError::Missing {
                key: "keygen.enable".into(),
                reason: "a keygen section must say enable: yes or enable: no".into(),
            })
        }
    };
    let (true, enable) = enable else {
        return Ok(None);
    };
    if gen != Generation::G3 {
        return Err(refused(
            &enable,
            format!(
                "the secure layer runs only on our native rings (generation G3); {gen} rings are corosync-compatible and use corosync's own crypto"
            ),
        ));
    }
    match t("transport") {
        Some(e) if e.value == "knet" => {
            return Err(refused(
                &e,
                "keygen.enable: yes seals the Totem datagrams itself; use transport udpu or udp (knet has its own envelope)",
            ))
        }
        None => {
            return Err(refused(
                &enable,
                "the G3 default transport is knet; set totem.transport: udpu or udp for a keygen ring",
            ))
        }
        Some(_) => {}
    }
    for key in COROSYNC_CRYPTO_KEYS {
        if let Some(e) = t(key) {
            let off = matches!(e.value.as_str(), "none" | "off" | "no");
            if !off || *key == "crypto_model" {
                return Err(refused(
                    &e,
                    "corosync crypto cannot be combined with keygen.enable: yes (the secure layer seals every datagram)",
                ));
            }
        }
    }
    let keyfile = k
        .entry("keyfile")
        .map(|e| PathBuf::from(&e.value))
        .or_else(|| t("keyfile").map(|e| PathBuf::from(e.value)))
        .unwrap_or_else(|| PathBuf::from("/etc/corosync/authkey"));
    if let Some(e) = k.entry("keyfile").map(q) {
        if e.value.is_empty() {
            return Err(invalid(&e, "empty path"));
        }
    }
    let rekey_interval = match k.entry("rekey_interval").map(q) {
        Some(e) => match num::<u64>(&e)? {
            0 => None,
            v if v < 100 => {
                return Err(invalid(
                    &e,
                    "below 100 ms (0 turns rekeying by time off); a refresh needs a few token rotations",
                ))
            }
            v if v > KEYGEN_MAX_MS => return Err(invalid(&e, "above one day (86400000 ms)")),
            v => Some(Duration::from_millis(v)),
        },
        None => None,
    };
    let rekey_packets = match k.entry("rekey_packets").map(q) {
        Some(e) => match num::<u64>(&e)? {
            0 => None,
            v if v < 100 => {
                return Err(invalid(
                    &e,
                    "below 100 datagrams (0 turns rekeying by volume off); a refresh itself takes dozens",
                ))
            }
            v => Some(v),
        },
        None => None,
    };
    let retire_grace = match k.entry("retire_grace").map(q) {
        Some(e) => match num::<u64>(&e)? {
            0 => return Err(invalid(
                &e,
                "must be at least 1 ms: datagrams sealed just before a switch are still in flight",
            )),
            v if v > KEYGEN_MAX_MS => return Err(invalid(&e, "above one day (86400000 ms)")),
            v => Duration::from_millis(v),
        },
        None => Duration::from_secs(2),
    };
    Ok(Some(SecureSettings {
        keyfile,
        rekey_interval,
        rekey_packets,
        retire_grace,
    }))
}

fn logging_config(s: &Section) -> Result<LoggingConfig> {
    let mut l = LoggingConfig::default();
    let mut to_logfile = true;
    for e in s.entries() {
        let q = qualified("logging", e);
        match e.key.as_str() {
            "to_stderr" => l.to_stderr = yes_no(&q)?,
            "logfile" => l.logfile = Some(PathBuf::from(&e.value)),
            "to_logfile" | "to_file" => to_logfile = yes_no(&q)?,
            "debug" => {
                l.debug = match e.value.as_str() {
                    "trace" => true,
                    _ => yes_no(&q)?,
                }
            }
            // Cosmetic: accepted, no effect on what we log.
            "to_syslog" | "timestamp" | "fileline" | "function_name" | "syslog_facility"
            | "syslog_priority" | "logfile_priority" | "tags" => {}
            _ => return Err(refused(&q, "not supported by this implementation")),
        }
    }
    for sub in s.subsections() {
        if sub.name != "logger_subsys" {
            return Err(NodeConfigError::Refused {
                key: format!("logging.{}", sub.name),
                value: String::new(),
                line: sub.line,
                reason: "unknown section".into(),
            });
        }
    }
    if !to_logfile {
        l.logfile = None;
    }
    Ok(l)
}

#[cfg(test)]
mod tests;
