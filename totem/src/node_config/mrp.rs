//! The `mrp` section (ours): this ring's place in a multiple-ring system.
//!
//! ```text
//! mrp {
//!     ring: 0            # this ring's number, the same on all its nodes
//!     groups: bench ops  # CPG groups in the global order (absent: every group)
//! }
//! ```

use super::*;
use crate::cpg::MrpOptions;

pub(super) fn mrp_section(s: &Section) -> Result<MrpOptions> {
    let mut ring = None;
    let mut groups = Vec::new();
    for e in s.entries() {
        let q = qualified("mrp", e);
        match e.key.as_str() {
            "ring" => {
                ring = Some(
                    e.value
                        .parse::<u32>()
                        .map_err(|_| refused(&q, "not a ring number (0 to 4294967295)"))?,
                )
            }
            "groups" => {
                for g in e.value.split_whitespace() {
                    if g.len() > totem_wire::mrp::MAX_GROUP {
                        return Err(refused(&q, format!("group name {g:?} is over 128 bytes")));
                    }
                    groups.push(g.as_bytes().to_vec());
                }
            }
            _ => return Err(refused(&q, "unknown key (mrp has ring and groups)")),
        }
    }
    if let Some(sub) = s.subsections().next() {
        return Err(NodeConfigError::Refused {
            key: format!("mrp.{}", sub.name),
            value: String::new(),
            line: sub.line,
            reason: "unknown section".into(),
        });
    }
    let ring = ring.ok_or_else(|| NodeConfigError::Refused {
        key: "mrp.ring".into(),
        value: String::new(),
        line: s.line,
        reason: "missing: which ring of the system this is".into(),
    })?;
    Ok(MrpOptions { ring, groups })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Result<MrpOptions> {
        let root = crate::corosync_conf::parse(text).expect("syntax");
        mrp_section(root.section("mrp").expect("an mrp section"))
    }

    #[test]
    fn the_ring_and_its_groups() {
        let m = section("mrp {\n ring: 3\n groups: app ops\n}\n").unwrap();
        assert_eq!(m.ring, 3);
        assert_eq!(m.groups, vec![b"app".to_vec(), b"ops".to_vec()]);
        assert!(section("mrp {\n ring: 0\n}\n").unwrap().groups.is_empty());
    }

    #[test]
    fn what_is_wrong_is_named() {
        let e = section("mrp {\n groups: a\n}\n").unwrap_err().to_string();
        assert!(e.contains("mrp.ring") && e.contains("missing"), "{e}");
        let e = section("mrp {\n ring: -1\n}\n").unwrap_err().to_string();
        assert!(e.contains("not a ring number"), "{e}");
        let e = section("mrp {\n ring: 1\n gateway: yes\n}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key"), "{e}");
        let long = format!("mrp {{\n ring: 1\n groups: {}\n}}\n", "x".repeat(129));
        assert!(section(&long).unwrap_err().to_string().contains("over 128"));
    }
}
