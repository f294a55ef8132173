//! Consistency checks of a corosync.conf beyond single keys: what corosync 3 refuses
//! (timer minimums and relations, TTL outside multicast) and what would silently run a
//! different cluster than written (a repeated section, two nodes with one address, a key
//! file others can read).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::{invalid, refused, NodeConfigError, NodeEntry, Result, TransportKind};
use crate::config::Config;
use crate::corosync_conf::{Entry, Section};

/// corosync's smallest timeout: 3 × (1000 / HZ) ms with HZ = 100.
pub const MINIMUM_TIMEOUT: Duration = Duration::from_millis(30);

/// corosync's smallest hold timeout: MINIMUM_TIMEOUT × 0.8 − 1000 / HZ.
pub const MINIMUM_HOLD: Duration = Duration::from_millis(14);

/// Top-level sections that may appear once (a second one would be merged by corosync and
/// ignored or half-read by a naive reader: refused instead).
const SINGLE_SECTIONS: &[&str] = &[
    "totem",
    "nodelist",
    "logging",
    "quorum",
    "keygen",
    "system",
    "resources",
    "nozzle",
];

/// A second `totem {}` (or nodelist, logging, ...) at the top level.
pub(super) fn repeated_sections(root: &Section) -> Result<()> {
    for name in SINGLE_SECTIONS {
        let mut found = root.sections(name);
        if let (Some(first), Some(second)) = (found.next(), found.next()) {
            return Err(NodeConfigError::Repeated {
                section: (*name).to_string(),
                line: second.line,
                first: first.line,
            });
        }
    }
    Ok(())
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// corosync 3's timer validation (totemconfig.c `totem_volatile_config_validate`): every
/// timeout at least 30 ms (hold 14 ms), consensus not below join. A value derived from
/// others (retransmit and hold from token) is refused at the key it derives from.
/// Consensus below 1.2 × token is only warned about: corosync documents it as the minimum
/// but accepts it (and calls it safe in two-node clusters).
pub(super) fn timers(engine: &Config, t: &dyn Fn(&str) -> Option<Entry>) -> Result<()> {
    let below = |what: &str, v: Duration, min: Duration| {
        format!(
            "{what} of {} ms is below corosync's minimum of {} ms",
            ms(v),
            ms(min)
        )
    };
    let explicit = |key: &str, v: Duration, min: Duration| -> Result<()> {
        match t(key) {
            Some(e) if v < min => Err(invalid(&e, below("the timeout", v, min))),
            _ => Ok(()),
        }
    };
    explicit("token", engine.token, MINIMUM_TIMEOUT)?;
    // Derived from token and token_retransmits_before_loss_const unless set.
    let retransmit = engine.token_retransmit_timeout();
    if retransmit < MINIMUM_TIMEOUT {
        let e = t("token_retransmit")
            .or_else(|| t("token_retransmits_before_loss_const"))
            .or_else(|| t("token"));
        if let Some(e) = e {
            let what = if engine.token_retransmit.is_some() {
                "the timeout"
            } else {
                "the token retransmit timeout it gives (token / (token_retransmits_before_loss_const + 0.2))"
            };
            return Err(invalid(&e, below(what, retransmit, MINIMUM_TIMEOUT)));
        }
    }
    let hold = engine.hold_timeout();
    if hold < MINIMUM_HOLD {
        let e = t("hold")
            .or_else(|| t("token_retransmit"))
            .or_else(|| t("token"));
        if let Some(e) = e {
            let what = if engine.hold.is_some() {
                "the timeout"
            } else {
                "the hold timeout it gives (token retransmit × 0.8 − 10 ms)"
            };
            return Err(invalid(&e, below(what, hold, MINIMUM_HOLD)));
        }
    }
    explicit("join", engine.join, MINIMUM_TIMEOUT)?;
    let consensus = engine.consensus_timeout();
    if consensus < MINIMUM_TIMEOUT {
        if let Some(e) = t("consensus").or_else(|| t("token")) {
            return Err(invalid(&e, below("consensus", consensus, MINIMUM_TIMEOUT)));
        }
    }
    if consensus < engine.join {
        if let Some(e) = t("consensus").or_else(|| t("join")) {
            return Err(invalid(
                &e,
                format!(
                    "consensus ({} ms) may not be below join ({} ms)",
                    ms(consensus),
                    ms(engine.join)
                ),
            ));
        }
    }
    explicit("merge", engine.merge, MINIMUM_TIMEOUT)?;
    explicit("downcheck", engine.downcheck, MINIMUM_TIMEOUT)?;
    if let (Some(c), Some(e)) = (engine.consensus, t("consensus")) {
        let min = engine.token_timeout().mul_f64(1.2);
        if c < min {
            tracing::warn!(
                line = e.line,
                consensus_ms = ms(c) as u64,
                recommended_ms = ms(min) as u64,
                "totem.consensus is below 1.2 × token (corosync's documented minimum)"
            );
        }
    }
    Ok(())
}

/// `ttl` is for multicast only (corosync: "Can only set ttl on multicast transport types").
pub(super) fn ttl(transport: TransportKind, ttl: Option<(u32, Entry)>) -> Result<()> {
    match ttl {
        Some((v, e)) if v != 1 && transport != TransportKind::Udp => {
            Err(refused(&e, "ttl applies to multicast (transport udp) only"))
        }
        _ => Ok(()),
    }
}

/// An address already given to an earlier node (or, for the same node, to another link).
pub(super) fn duplicate_address(
    nodes: &[NodeEntry],
    mine: &[(u8, IpAddr, u32)],
    e: &Entry,
    ip: IpAddr,
) -> Result<()> {
    if let Some(n) = nodes
        .iter()
        .find(|n| n.ring_addrs.iter().any(|(_, a, _)| *a == ip))
    {
        return Err(invalid(
            e,
            format!("address already in the nodelist for nodeid {}", n.nodeid),
        ));
    }
    if mine.iter().any(|(_, a, _)| *a == ip) {
        return Err(invalid(
            e,
            "address already used by another link of this node",
        ));
    }
    Ok(())
}

/// The address family of every node's address must be the ring's (`totem.ip_version`).
pub(super) fn family(e: &Entry, ip: IpAddr, v6: bool) -> Result<()> {
    if ip.is_ipv6() == v6 {
        return Ok(());
    }
    Err(invalid(
        e,
        format!(
            "an {} address, but totem.ip_version is {} (all nodes of a ring share one family)",
            if ip.is_ipv6() { "IPv6" } else { "IPv4" },
            if v6 { "ipv6" } else { "ipv4" },
        ),
    ))
}

/// A key file readable or writable by group or others is refused, as OpenSSH refuses such
/// private keys (`corosync-keygen` writes 0400). A missing file is left to the reader,
/// which names it when the node starts.
pub(super) fn key_file_mode(path: &Path, key: &str, line: usize) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(NodeConfigError::KeyFileMode {
            key: key.to_string(),
            line,
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}
