//! Captures as a regression suite: each capture with an expectations file, checked by
//! `totem-replay test DIR`.

use std::path::Path;
use std::time::Duration;

use totem_wire::datagram::Keys;

use crate::story::read_story;
use crate::timeline::{Options, Timeline};
use crate::{CaptureError, PortFilter};

/// Reads a capture and analyses it; `token_gap_ms` overrides the token-loss gap (default:
/// half the token timeout of node 1's sibling corosync.conf, else corosync's default).
pub fn analyse(
    file: &Path,
    keys: &Keys,
    filter: &PortFilter,
    token_gap_ms: Option<u64>,
) -> Result<Timeline, CaptureError> {
    let story = read_story(file, keys, filter)?;
    let gen = story.generation();
    let nodes = story.nodes();
    let first = nodes.iter().next().copied().unwrap_or(1);
    let gap = match token_gap_ms {
        Some(ms) => Duration::from_millis(ms),
        None => crate::capture_config::token_timeout(file, gen, first, nodes.len()).mul_f64(0.5),
    };
    Ok(Timeline::build(&story, Options { token_gap: gap }))
}
