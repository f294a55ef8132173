//! Maps a parsed corosync.conf onto the configuration of one node: engine timers, transport,
//! addresses, envelope and logging.
//!
//! Keys of the `totem`, `interface`, `nodelist` and `logging` sections are checked strictly:
//! anything this implementation cannot honour is refused with the key and the reason. The
//! `quorum` section (G2/G3) becomes votequorum's settings ([`NodeConfig::quorum`], see
//! `quorum.rs`). Other top-level sections (system, amf, ...) are not ours and are listed
//! in [`NodeConfig::ignored`].
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
mod crypto;
mod identity;
mod interface;
mod keygen;
mod knet;
mod logging;
mod mrp;
mod nodelist;
mod quorum;
mod rrp;
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
    /// Votequorum's settings (`quorum` with `provider: corosync_votequorum`, nodelist
    /// `quorum_votes`); `None`: no votequorum, as corosync without a quorum provider.
    pub quorum: Option<crate::quorum::QuorumOptions>,
    /// `quorum.*` keys given but not used (with their lines), for one warning at start.
    pub quorum_ignored: Vec<String>,
    /// `rrp_mode: passive | active` (G1/G2 udp/udpu): the redundant ring protocol's
    /// settings; `None`: one ring.
    pub rrp: Option<crate::rrp::RrpSettings>,
    /// Ring 1's interface when `rrp` is set.
    pub ring1: Option<crate::rrp::RingInterface>,
    /// The multiple-ring system this ring is part of (`mrp` section, ours).
    pub mrp: Option<crate::cpg::MrpOptions>,
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
    knet::knet_crypto(&t)
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
    "rrp_problem_count_threshold",
    "rrp_problem_count_mcast_threshold",
    "rrp_problem_count_timeout",
    "rrp_token_expired_timeout",
    "rrp_autorecovery_check_timeout",
    "block_unlisted_ips",
    "config_version",
];

/// Keys of `totem` that only the knet transport takes (also known, see [`TOTEM_KEYS`]).
const KNET_TOTEM_KEYS: &[&str] = &[
    "link_mode",
    "knet_pmtud_interval",
    "knet_mtu",
    "knet_compression_model",
    "knet_compression_threshold",
    "knet_compression_level",
    "crypto_model",
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
    let rrp_mode = rrp::mode(gen, &t)?;
    let transport = totem_section::transport(gen, &t)?;
    let mut engine = timers::engine_timers(gen, &t)?;
    let totem_section::TotemOptions {
        netmtu,
        block_unlisted_ips,
        ip_version,
    } = totem_section::options(transport, &t)?;

    // Our secure layer (checked first: it refuses corosync crypto with its own reason).
    let secure = match root.section("keygen") {
        Some(k) => keygen::secure_settings(k, gen, &t)?,
        None => None,
    };

    // Crypto.
    let crypto = crypto::crypto_setting(gen, transport, &t)?;

    let interface::Interfaces {
        line: iface_line,
        knet: knet_ifaces,
        members,
        mcastport,
        ttl,
        bindnetaddr,
        mcastaddr,
        ring1: ring1_iface,
    } = interface::interfaces(totem, gen, transport, ip_version)?;

    rrp::too_many_rings(rrp_mode, ring1_iface.as_ref())?;
    let mut nodes = nodelist::nodelist(
        root,
        gen,
        transport,
        ip_version,
        rrp::ring1_addr_refusal(gen, transport, rrp_mode),
    )?;

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
    let (nodeid, bind_addr, scope_id) = identity::own_node(
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

    // Ring 1 (G1/G2 rrp_mode passive/active): our address on it and every node's.
    let ring1 = rrp::ring1(
        rrp_mode,
        rrp::Ring0 {
            mcastaddr,
            mcastport,
        },
        ring1_iface,
        &nodes,
        from_members,
        nodeid,
        5405,
        is_local,
    )?;
    if let (Some(r1), true) = (&ring1, from_members) {
        if let Some(me) = nodes.iter_mut().find(|n| n.nodeid == nodeid) {
            me.ring_addrs.push((1, r1.bind_addr, r1.scope_id));
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
        let totem_ip = |a: IpAddr| match a {
            IpAddr::V4(v4) => TotemIpAddress::v4(nodeid, v4),
            IpAddr::V6(v6) => TotemIpAddress::v6(nodeid, v6),
        };
        engine.address = Some(totem_ip(bind_addr));
        engine.address1 = ring1.as_ref().map(|r| totem_ip(r.bind_addr));
    }
    // Checked whenever rrp_mode is set; used with two rings only.
    let rrp = rrp_mode
        .map(|mode| rrp::settings(mode, &t, engine.token_retransmit_timeout()))
        .transpose()?
        .filter(|_| ring1.is_some());

    let logging = logging::logging_config(root.section("logging").unwrap_or(&empty))?;
    // G1 (openais/corosync 1.x) runs no votequorum here: its quorum section is not ours.
    let quorum = if gen == Generation::G1 || from_members {
        quorum::QuorumSection::default()
    } else {
        quorum::quorum_section(root, &nodes, nodeid)?
    };
    let ours = |n: &str| {
        matches!(n, "totem" | "nodelist" | "logging" | "keygen" | "mrp")
            || (n == "quorum" && gen != Generation::G1 && !from_members)
    };
    let ignored = root
        .subsections()
        .filter(|s| !ours(s.name.as_str()))
        .map(|s| s.name.clone())
        .collect();
    for e in root.entries() {
        if e.key != "compatibility" {
            return Err(refused(e, "unknown top-level key"));
        }
    }

    let knet = if transport == TransportKind::Knet {
        knet::knet_settings(&t, &knet_ifaces, &nodes, nodeid, &engine)?
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
        quorum: quorum.options,
        quorum_ignored: quorum.ignored,
        rrp,
        ring1,
        mrp: root.section("mrp").map(mrp::mrp_section).transpose()?,
    };
    let budget = cfg.net_mtu();
    // The secure layer frames each application payload with one more byte.
    let framed = budget + usize::from(cfg.secure.is_some());
    cfg.engine.max_payload = cfg.engine.max_payload.max(framed);
    Ok(cfg)
}

/// An absent entry as an empty one at line 0 (for errors about a default value).
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

/// The nodeid corosync 1.x derives from an IPv4 address (its `s_addr` read as a host-order
/// u32 on a little-endian machine).
pub fn v4_nodeid(ip: Ipv4Addr) -> u32 {
    u32::from_le_bytes(ip.octets())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_rrp;
