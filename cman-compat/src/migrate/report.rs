//! The migration report: everything in cluster.conf that did not carry over as is.

use std::fmt;

/// How a cluster.conf item fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Has no corosync.conf equivalent; dropped (needs another tool, e.g. pacemaker).
    NotMigrated,
    /// Migrated, but corosync's behaviour differs from cman's.
    Changed,
    /// Not written in cluster.conf; cman's effective default was written out.
    Derived,
    /// The output needs a value only the administrator knows.
    ActionRequired,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::NotMigrated => "not migrated",
            Kind::Changed => "changed",
            Kind::Derived => "derived",
            Kind::ActionRequired => "action required",
        })
    }
}

/// One report line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What happened.
    pub kind: Kind,
    /// Where in cluster.conf (XPath-like, e.g. `cluster/fencedevices/fencedevice[@name='x']`).
    pub path: String,
    /// Explanation.
    pub message: String,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.kind, self.path, self.message)
    }
}

/// The report of one migration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Items in discovery order.
    pub items: Vec<Item>,
}

impl Report {
    /// Adds an item.
    pub fn push(&mut self, kind: Kind, path: impl Into<String>, message: impl Into<String>) {
        self.items.push(Item {
            kind,
            path: path.into(),
            message: message.into(),
        });
    }

    /// Items of one kind.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(move |i| i.kind == kind)
    }

    /// Whether some item's path starts with `prefix` (and is of `kind`).
    pub fn mentions(&self, kind: Kind, prefix: &str) -> bool {
        self.of_kind(kind).any(|i| i.path.starts_with(prefix))
    }

    /// Whether an item of `kind` has exactly `path`.
    pub fn has(&self, kind: Kind, path: &str) -> bool {
        self.of_kind(kind).any(|i| i.path == path)
    }

    /// The report as text, one item per line, grouped by kind.
    pub fn render(&self) -> String {
        let mut items: Vec<&Item> = self.items.iter().collect();
        items.sort_by_key(|i| i.kind);
        items.iter().map(|i| format!("{i}\n")).collect()
    }
}
