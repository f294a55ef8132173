//! cluster.conf (cman 3.x) → corosync.conf (votequorum, corosync 2.x syntax) migration.
//!
//! Carries over the cluster name and config_version, nodes (nodeid, votes, ring 0 name and the
//! first `<altname>` as ring 1), cman expected_votes/two_node, the totem settings, the
//! multicast address and port (derived like cman when absent), and `<quorumd>` as
//! `quorum.device`. cman's own defaults (token 10000, join 60, consensus 4800,
//! token_retransmits_before_loss_const 20, secauth on, rrp_mode active with two rings) are
//! written out explicitly. Everything else — fencing, rgmanager, daemon settings, qdisk-only
//! knobs — is listed in the [`Report`], never silently dropped.

pub mod emit;
pub mod model;
pub mod report;

use thiserror::Error;

pub use model::ClusterConf;
pub use report::{Item, Kind, Report};

/// Why cluster.conf could not be migrated.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MigrateError {
    /// Not well-formed XML.
    #[error("cluster.conf is not well-formed XML at line {line}, column {column}: {message}")]
    Xml {
        /// Parser message.
        message: String,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
    },
    /// A required element or attribute is absent.
    #[error("cluster.conf lacks {what}")]
    Missing {
        /// What is missing.
        what: &'static str,
    },
    /// A value of the wrong form.
    #[error("cluster.conf {path} = {value:?}: expected {expected}")]
    BadValue {
        /// Where.
        path: String,
        /// The value found.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// Migration choices the administrator makes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateOptions {
    /// qnetd server for `quorum.device.net.host` when cluster.conf has a `<quorumd>`.
    pub qnetd_host: Option<String>,
}

/// Placeholder written for `quorum.device.net.host` when no qnetd host was given.
pub const QNETD_HOST_PLACEHOLDER: &str = "REPLACE_WITH_QNETD_HOST";

/// The result of a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// What was read from cluster.conf.
    pub cluster: ClusterConf,
    /// The corosync.conf text.
    pub corosync_conf: String,
    /// What did not carry over as is.
    pub report: Report,
}

/// Migrates cluster.conf text.
pub fn migrate(xml: &str, opts: &MigrateOptions) -> Result<Migration, MigrateError> {
    let mut report = Report::default();
    let cluster = model::read(xml, &mut report)?;
    let corosync_conf = emit::render(&cluster, opts, &mut report)?;
    Ok(Migration {
        cluster,
        corosync_conf,
        report,
    })
}
