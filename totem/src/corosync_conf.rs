//! The one corosync.conf grammar of the workspace (totem-node, cman-compat, totem-replay):
//! nested `name { ... }` sections, `key: value` pairs, `#` comment lines and optionally
//! double- or single-quoted values.
//!
//! The rules follow corosync's own reader: one statement per line; a line holding `{` opens
//! a section named by the text before it; otherwise a line with `:` is a key (text before
//! the first `:`) and a value (the rest, trimmed, one pair of matching quotes removed); a
//! line holding `}` closes the innermost section. Keys may repeat: the last one wins for
//! lookups, every occurrence is kept. `#` starts a comment only as the first non-blank
//! character of a line, and `key = value` is not a pair (corosync refuses both).

use std::collections::BTreeMap;
use std::fmt;

/// Why a corosync.conf text could not be parsed; every variant names its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfError {
    /// A line that opens nothing, closes nothing and has no `key: value`.
    #[error("line {line}: not a section opening, a closing brace or a key: value pair: {text:?}")]
    Unrecognised { line: usize, text: String },
    /// A `{` with no section name before it.
    #[error("line {line}: section without a name")]
    UnnamedSection { line: usize },
    /// A `key:` line whose key is empty.
    #[error("line {line}: empty key before ':'")]
    EmptyKey { line: usize },
    /// A `}` with no open section.
    #[error("line {line}: unexpected closing brace")]
    UnexpectedClose { line: usize },
    /// End of input inside a section (the line where it was opened).
    #[error("line {line}: section {name:?} is never closed")]
    Unclosed { line: usize, name: String },
    /// Something after `{` or `}` on the same line.
    #[error("line {line}: unexpected text after brace: {text:?}")]
    TrailingText { line: usize, text: String },
    /// A line longer than corosync reads ([`LINE_MAX`] bytes).
    #[error("line {line}: {len} bytes long; corosync reads lines of at most {max} bytes")]
    LineTooLong { line: usize, len: usize, max: usize },
}

/// Longest line corosync's parser reads (a 512-byte buffer with the newline).
pub const LINE_MAX: usize = 511;

/// Characters of a bad line or value quoted in an error message.
pub const EXCERPT_MAX: usize = 80;

/// `text` for an error message: at most [`EXCERPT_MAX`] characters, `…` when cut.
fn cut(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// `text` quoted for an error message: at most [`EXCERPT_MAX`] characters, `…` after the
/// closing quote when cut.
pub fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_MAX) {
        Some((i, _)) => format!("{:?}…", &text[..i]),
        None => format!("{text:?}"),
    }
}

/// One `key: value` pair with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A section's content item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Entry(Entry),
    Section(Section),
}

/// A named section (the root section has an empty name and line 0).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub items: Vec<Item>,
}

impl Section {
    /// The last entry named `key` directly in this section.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries().filter(|e| e.key == key).last()
    }

    /// The value of the last entry named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.value.as_str())
    }

    /// Every entry directly in this section, in file order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.items.iter().filter_map(|i| match i {
            Item::Entry(e) => Some(e),
            Item::Section(_) => None,
        })
    }

    /// Every subsection named `name`, in file order.
    pub fn sections<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.items.iter().filter_map(move |i| match i {
            Item::Section(s) if s.name == name => Some(s),
            _ => None,
        })
    }

    /// Every subsection, in file order.
    pub fn subsections(&self) -> impl Iterator<Item = &Section> {
        self.items.iter().filter_map(|i| match i {
            Item::Section(s) => Some(s),
            Item::Entry(_) => None,
        })
    }

    /// The first subsection named `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.items.iter().find_map(|i| match i {
            Item::Section(s) if s.name == name => Some(s),
            _ => None,
        })
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn write(s: &Section, depth: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let pad = "    ".repeat(depth);
            for i in &s.items {
                match i {
                    Item::Entry(e) => writeln!(f, "{pad}{}: {}", e.key, e.value)?,
                    Item::Section(sub) => {
                        writeln!(f, "{pad}{} {{", sub.name)?;
                        write(sub, depth + 1, f)?;
                        writeln!(f, "{pad}}}")?;
                    }
                }
            }
            Ok(())
        }
        write(self, 0, f)
    }
}

/// Removes one pair of matching surrounding quotes.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// The grammar of one line, in nom. Tried in corosync's order: a line holding `{` opens a
/// section (so `a: b {` is a section named `a: b`), else one holding `:` is an entry, else
/// one holding `}` closes; what cannot be any of them is the caller's error.
mod grammar {
    use nom::bytes::complete::take_till;
    use nom::character::complete::char;
    use nom::combinator::rest;
    use nom::sequence::{separated_pair, terminated, tuple};
    use nom::IResult;

    /// One non-blank, non-comment line, as written (the caller trims and checks).
    #[derive(Debug, PartialEq, Eq)]
    pub(super) enum Line<'a> {
        /// `name {` and what follows the brace.
        Open { name: &'a str, after: &'a str },
        /// `key: value` (value untrimmed, quotes kept).
        Entry { key: &'a str, value: &'a str },
        /// `}` and the text around it.
        Close { before: &'a str, after: &'a str },
    }

    fn open(l: &str) -> IResult<&str, Line<'_>> {
        let (i, name) = terminated(take_till(|c| c == '{'), char('{'))(l)?;
        let (i, after) = rest(i)?;
        Ok((i, Line::Open { name, after }))
    }

    fn entry(l: &str) -> IResult<&str, Line<'_>> {
        let (i, (key, value)) = separated_pair(take_till(|c| c == ':'), char(':'), rest)(l)?;
        Ok((i, Line::Entry { key, value }))
    }

    fn close(l: &str) -> IResult<&str, Line<'_>> {
        let (i, (before, _, after)) = tuple((take_till(|c| c == '}'), char('}'), rest))(l)?;
        Ok((i, Line::Close { before, after }))
    }

    /// The statement `l` holds, or `None` for a line that is none of them.
    pub(super) fn line(l: &str) -> Option<Line<'_>> {
        nom::branch::alt((open, entry, close))(l)
            .ok()
            .map(|(_, s)| s)
    }

    /// Blank lines and lines whose first non-blank character is `#`: corosync reads `#`
    /// anywhere else as part of the text (`token: 3000 # ms` has the value `3000 # ms`).
    pub(super) fn is_skipped(trimmed: &str) -> bool {
        trimmed.is_empty() || trimmed.starts_with('#')
    }
}

/// Parses corosync.conf text into its root section.
pub fn parse(text: &str) -> Result<Section, ConfError> {
    use grammar::Line;
    let mut stack: Vec<Section> = vec![Section::default()];
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        if raw.len() > LINE_MAX {
            return Err(ConfError::LineTooLong {
                line,
                len: raw.len(),
                max: LINE_MAX,
            });
        }
        let l = raw.trim();
        if grammar::is_skipped(l) {
            continue;
        }
        match grammar::line(l) {
            Some(Line::Open { name, after }) => {
                let name = name.trim();
                if name.is_empty() {
                    return Err(ConfError::UnnamedSection { line });
                }
                let after = after.trim();
                if !after.is_empty() {
                    return Err(ConfError::TrailingText {
                        line,
                        text: cut(after),
                    });
                }
                stack.push(Section {
                    name: name.to_string(),
                    line,
                    items: Vec::new(),
                });
            }
            Some(Line::Entry { key, value }) => {
                let key = key.trim();
                if key.is_empty() {
                    return Err(ConfError::EmptyKey { line });
                }
                if let Some(top) = stack.last_mut() {
                    top.items.push(Item::Entry(Entry {
                        key: key.to_string(),
                        value: unquote(value.trim()).to_string(),
                        line,
                    }));
                }
            }
            Some(Line::Close { before, after }) => {
                let around = (before.to_string() + after).trim().to_string();
                if !around.is_empty() {
                    return Err(ConfError::TrailingText {
                        line,
                        text: cut(&around),
                    });
                }
                if stack.len() < 2 {
                    return Err(ConfError::UnexpectedClose { line });
                }
                if let Some(done) = stack.pop() {
                    if let Some(parent) = stack.last_mut() {
                        parent.items.push(Item::Section(done));
                    }
                }
            }
            None => return Err(ConfError::Unrecognised { line, text: cut(l) }),
        }
    }
    if stack.len() > 1 {
        let open = stack.pop().unwrap_or_default();
        return Err(ConfError::Unclosed {
            line: open.line,
            name: open.name,
        });
    }
    Ok(stack.pop().unwrap_or_default())
}

/// Flattens to icmap-style keys, as `corosync-cmapctl` shows them: repeated `nodelist.node`
/// sections are numbered in order (`nodelist.node.0.ring0_addr`), `totem.interface` sections
/// by their `ringnumber` (or `linknumber`, default 0); the last of repeated keys wins.
pub fn flatten(root: &Section) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, "", &mut out);
    out
}

fn walk(s: &Section, prefix: &str, out: &mut BTreeMap<String, String>) {
    for e in s.entries() {
        out.insert(format!("{prefix}{}", e.key), e.value.clone());
    }
    let mut node_index = 0usize;
    for c in s.subsections() {
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

    /// The 2.4.6 udpu config used for the captures (shared/captures/configs).
    const UDPU_246: &str = include_str!("../tests/data/2.4.6-udpu-n1.conf");

    #[test]
    fn parses_capture_config() {
        let root = parse(UDPU_246).unwrap();
        let totem = root.section("totem").unwrap();
        assert_eq!(totem.get("transport"), Some("udpu"));
        assert_eq!(totem.get("cluster_name"), Some("old246"));
        let iface = totem.section("interface").unwrap();
        assert_eq!(iface.get("bindnetaddr"), Some("198.51.100.0"));
        assert_eq!(iface.get("mcastport"), Some("5405"));
        let nodes: Vec<_> = root
            .section("nodelist")
            .unwrap()
            .sections("node")
            .map(|n| (n.get("nodeid").unwrap(), n.get("ring0_addr").unwrap()))
            .collect();
        assert_eq!(
            nodes,
            [
                ("1", "198.51.100.11"),
                ("2", "198.51.100.12"),
                ("3", "198.51.100.13")
            ]
        );
        assert_eq!(root.section("logging").unwrap().get("debug"), Some("off"));
        assert_eq!(iface.entry("mcastport").unwrap().line, 10);
    }

    #[test]
    fn ipv6_value_keeps_colons_and_quotes_are_removed() {
        let root = parse("totem {\n  bindnetaddr: fd00:51::\n  cluster_name: \"a b\"\n  x: 'q'\n  y: \"unbalanced\n}\n").unwrap();
        let t = root.section("totem").unwrap();
        assert_eq!(t.get("bindnetaddr"), Some("fd00:51::"));
        assert_eq!(t.get("cluster_name"), Some("a b"));
        assert_eq!(t.get("x"), Some("q"));
        assert_eq!(t.get("y"), Some("\"unbalanced"));
    }

    #[test]
    fn comments_blank_lines_and_repeats() {
        let root = parse("# top\n\n totem {\n   # inner\n token: 1000\n token: 2000\n}\n").unwrap();
        let t = root.section("totem").unwrap();
        assert_eq!(t.get("token"), Some("2000"));
        assert_eq!(t.entries().count(), 2);
        assert_eq!(t.line, 3);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            parse("totem {\n token 3000\n}\n"),
            Err(ConfError::Unrecognised {
                line: 2,
                text: "token 3000".into()
            })
        );
        assert_eq!(
            parse("totem {\n}\n}\n"),
            Err(ConfError::UnexpectedClose { line: 3 })
        );
        assert_eq!(
            parse("a {\n b {\n  k: v\n }\n"),
            Err(ConfError::Unclosed {
                line: 1,
                name: "a".into()
            })
        );
        assert_eq!(
            parse("\n {\n}\n"),
            Err(ConfError::UnnamedSection { line: 2 })
        );
        assert_eq!(parse(": v\n"), Err(ConfError::EmptyKey { line: 1 }));
        assert_eq!(
            parse("a { b\n}\n"),
            Err(ConfError::TrailingText {
                line: 1,
                text: "b".into()
            })
        );
        let msg = parse("x {\n").unwrap_err().to_string();
        assert!(msg.starts_with("line 1:"), "{msg}");
    }

    /// corosync reads `#` after text as part of the value, not as a comment (moved from
    /// wire's knet_conf reader, which stripped it).
    #[test]
    fn hash_after_text_is_part_of_the_value() {
        let root = parse(
            "totem {
  crypto_cipher: aes128 # c
  # whole line
}
",
        )
        .unwrap();
        let t = root.section("totem").unwrap();
        assert_eq!(t.get("crypto_cipher"), Some("aes128 # c"));
        assert_eq!(t.entries().count(), 1);
    }

    /// Moved from cman-compat's reader: sections, keys, comments and the icmap keys.
    #[test]
    fn flattens_to_icmap_keys() {
        let text = "# c\ntotem {\n  version: 2\n  interface {\n    ringnumber: 1\n    mcastaddr: 239.192.0.1\n  }\n}\nnodelist {\n node {\n  ring0_addr: a\n }\n node {\n  ring0_addr: b\n  nodeid: 2\n }\n}\n";
        let f = flatten(&parse(text).expect("parse"));
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

    /// Moved from cman-compat's reader, which also took `key = value`: corosync does not
    /// (coroparse knows `{`, `:` and `}` only), so neither do we.
    #[test]
    fn rejects_malformed_and_equals_pairs() {
        assert_eq!(
            parse("totem {\n"),
            Err(ConfError::Unclosed {
                line: 1,
                name: "totem".into()
            })
        );
        assert_eq!(parse("}\n"), Err(ConfError::UnexpectedClose { line: 1 }));
        assert!(matches!(
            parse("a {\n just words\n}\n"),
            Err(ConfError::Unrecognised { line: 2, .. })
        ));
        assert_eq!(
            parse("node {\n  nodeid = 2\n}\n"),
            Err(ConfError::Unrecognised {
                line: 2,
                text: "nodeid = 2".into()
            })
        );
    }

    #[test]
    fn one_line_grammar_in_corosync_order() {
        use grammar::{line, Line};
        assert_eq!(
            line("a: b {"),
            Some(Line::Open {
                name: "a: b ",
                after: ""
            })
        );
        assert_eq!(
            line("k: v}"),
            Some(Line::Entry {
                key: "k",
                value: " v}"
            })
        );
        assert_eq!(
            line(" } "),
            Some(Line::Close {
                before: " ",
                after: " "
            })
        );
        assert_eq!(line("just words"), None);
    }
}
