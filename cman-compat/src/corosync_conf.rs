//! A minimal corosync.conf parser: `name {` ... `}` sections, `key: value` (or `key = value`)
//! lines, `#` comment lines. Flattens to icmap-style keys (`totem.token`,
//! `nodelist.node.0.ring0_addr`, `totem.interface.1.mcastaddr` by ringnumber/linknumber).

use std::collections::BTreeMap;

use thiserror::Error;

/// Why a corosync.conf did not parse.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("corosync.conf line {line}: {message}")]
pub struct ConfError {
    /// What was wrong.
    pub message: String,
    /// 1-based line number.
    pub line: usize,
}

/// One section: its keys in file order and its subsections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// Section name (empty for the top level).
    pub name: String,
    /// `key: value` entries in file order.
    pub entries: Vec<(String, String)>,
    /// Subsections in file order.
    pub sections: Vec<Section>,
}

impl Section {
    /// Value of `key` in this section (last one wins, like corosync).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Subsections named `name`.
    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| s.name == name)
    }
}

/// Parses corosync.conf text into its top-level section.
pub fn parse(text: &str) -> Result<Section, ConfError> {
    let mut stack: Vec<Section> = vec![Section::default()];
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |m: &str| ConfError {
            message: m.to_string(),
            line: line_no,
        };
        if let Some(name) = line.strip_suffix('{') {
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(err("bad section name"));
            }
            stack.push(Section {
                name: name.to_string(),
                ..Section::default()
            });
        } else if line == "}" {
            if stack.len() < 2 {
                return Err(err("unexpected }"));
            }
            let done = stack.pop().ok_or_else(|| err("unexpected }"))?;
            stack
                .last_mut()
                .ok_or_else(|| err("unexpected }"))?
                .sections
                .push(done);
        } else {
            let pos = line
                .find([':', '='])
                .ok_or_else(|| err("expected `key: value`, `name {` or `}`"))?;
            let key = line[..pos].trim();
            let value = line[pos + 1..].trim();
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(err("bad key"));
            }
            stack
                .last_mut()
                .ok_or_else(|| err("internal: no section"))?
                .entries
                .push((key.to_string(), value.to_string()));
        }
    }
    if stack.len() != 1 {
        return Err(ConfError {
            message: "missing }".into(),
            line: text.lines().count(),
        });
    }
    stack.pop().ok_or(ConfError {
        message: "empty".into(),
        line: 0,
    })
}

/// Flattens to icmap-style keys. Repeated `nodelist.node` sections are numbered in order;
/// `totem.interface` sections by their `ringnumber` (or `linknumber`, default 0).
pub fn flatten(top: &Section) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(top, "", &mut out);
    out
}

fn walk(s: &Section, prefix: &str, out: &mut BTreeMap<String, String>) {
    for (k, v) in &s.entries {
        out.insert(format!("{prefix}{k}"), v.clone());
    }
    let mut node_index = 0usize;
    for c in &s.sections {
        let p = if prefix == "nodelist." && c.name == "node" {
            let p = format!("{prefix}node.{node_index}.");
            node_index += 1;
            p
        } else if prefix == "totem." && c.name == "interface" {
            let n = c
                .get("ringnumber")
                .or_else(|| c.get("linknumber"))
                .unwrap_or("0");
            format!("{prefix}interface.{n}.")
        } else {
            format!("{prefix}{}.", c.name)
        };
        walk(c, &p, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_keys_comments() {
        let text = "# c\ntotem {\n  version: 2\n  interface {\n    ringnumber: 1\n    mcastaddr: 239.192.0.1\n  }\n}\nnodelist {\n node {\n  ring0_addr: a\n }\n node {\n  ring0_addr: b\n  nodeid = 2\n }\n}\n";
        let top = parse(text).expect("parse");
        let f = flatten(&top);
        assert_eq!(f.get("totem.version").map(String::as_str), Some("2"));
        assert_eq!(
            f.get("totem.interface.1.mcastaddr").map(String::as_str),
            Some("239.192.0.1")
        );
        assert_eq!(
            f.get("nodelist.node.0.ring0_addr").map(String::as_str),
            Some("a")
        );
        assert_eq!(
            f.get("nodelist.node.1.nodeid").map(String::as_str),
            Some("2")
        );
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(
            parse("totem {\n").map_err(|e| e.message),
            Err("missing }".into())
        );
        assert_eq!(parse("}\n").map_err(|e| e.line), Err(1));
        assert_eq!(parse("a {\n just words\n}\n").map_err(|e| e.line), Err(2));
        assert!(parse("a b {\n}\n").is_err());
    }
}
