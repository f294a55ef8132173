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
