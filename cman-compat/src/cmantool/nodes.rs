//! `cman_tool nodes` (with `-a`, `-n NAME`, `-F id,name,type,addr`).

use std::fmt::Write;

use super::input::{NodeFacts, ToolInput};
use super::timefmt::format_utc;

/// cman_tool reads at most this many `-F` fields.
pub const MAX_FORMAT_OPTS: usize = 10;

/// Options of `cman_tool nodes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodesOptions {
    /// `-a`: also print each node's addresses.
    pub addresses: bool,
    /// `-n NAME` (repeatable): only these nodes.
    pub names: Vec<String>,
    /// `-F id,name,type,addr`: custom columns, no header.
    pub format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    None,
    Id,
    Name,
    Type,
    Addr,
}

fn parse_format(f: &str) -> Vec<Field> {
    // strtok skips empty tokens; unknown names print nothing.
    f.split(',')
        .filter(|s| !s.is_empty())
        .take(MAX_FORMAT_OPTS)
        .map(|s| match s {
            "id" => Field::Id,
            "name" => Field::Name,
            "type" => Field::Type,
            "addr" => Field::Addr,
            _ => Field::None,
        })
        .collect()
}

fn member_char(t: &ToolInput, n: &NodeFacts) -> char {
    if t.cluster.disallowed_nodes.iter().any(|d| d == &n.name) {
        'd'
    } else if t.is_member(n) {
        'M'
    } else {
        'X'
    }
}

/// The text `cman_tool nodes` printed for `t` with `opts`.
pub fn render_nodes(t: &ToolInput, opts: &NodesOptions) -> String {
    let mut nodes: Vec<&NodeFacts> = t.nodes.iter().collect();
    nodes.sort_by_key(|n| n.nodeid);
    let format = opts.format.as_deref().map(parse_format);
    let mut o = String::new();
    let dis = t
        .cluster
        .disallowed_nodes
        .iter()
        .filter(|d| nodes.iter().any(|n| &&n.name == d))
        .count();
    if dis > 0 {
        let _ = writeln!(o, "NOTE: There are {dis} disallowed nodes,");
        o.push_str("      members list may seem inconsistent across the cluster\n");
    }
    if format.is_none() {
        o.push_str("Node  Sts   Inc   Joined               Name\n");
    }
    for n in nodes {
        if !opts.names.is_empty() && !opts.names.iter().any(|x| x == &n.name) {
            continue;
        }
        let ty = member_char(t, n);
        match &format {
            None => {
                let joined = if n.join_time != 0 && ty != 'X' {
                    format_utc(n.join_time)
                } else {
                    " ".repeat(19)
                };
                let _ = writeln!(
                    o,
                    "{:4}   {}  {:5}   {}  {}",
                    n.nodeid, ty, n.incarnation, joined, n.name
                );
                if opts.addresses && !n.addresses.is_empty() {
                    o.push_str("       Addresses: ");
                    for a in &n.addresses {
                        let _ = write!(o, "{a} ");
                    }
                    o.push('\n');
                }
            }
            Some(fields) => {
                for f in fields {
                    match f {
                        Field::None => {}
                        Field::Id => {
                            let _ = write!(o, "{} ", n.nodeid);
                        }
                        Field::Name => {
                            let _ = write!(o, "{} ", n.name);
                        }
                        Field::Type => {
                            let _ = write!(o, "{ty} ");
                        }
                        Field::Addr => {
                            let a: Vec<String> =
                                n.addresses.iter().map(|a| a.to_string()).collect();
                            let _ = write!(o, "{} ", a.join(","));
                        }
                    }
                }
                o.push('\n');
            }
        }
    }
    o
}
