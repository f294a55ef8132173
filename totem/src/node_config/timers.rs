//! Engine timers and flow control from the `totem` section, with each generation's defaults
//! (token 1000 ms before G3; no token_coefficient in G1).

use std::time::Duration;

use super::{invalid, ms, num, Lookup, Result};
use crate::config::Config;
use totem_wire::Generation;

/// The engine configuration `totem` sets (nodeid and nodelist are filled in later).
pub(super) fn engine_timers(gen: Generation, t: &Lookup<'_>) -> Result<Config> {
    let mut engine = Config::new(gen, 1);
    if gen != Generation::G3 {
        engine.token = Duration::from_millis(1000);
    }
    if gen == Generation::G1 {
        engine.token_coefficient = Duration::ZERO;
    }
    if let Some(e) = t("token") {
        engine.token = ms(&e)?;
    }
    if let Some(e) = t("token_coefficient") {
        engine.token_coefficient = ms(&e)?;
    }
    if let Some(e) = t("token_retransmit") {
        engine.token_retransmit = Some(ms(&e)?);
    }
    if let Some(e) = t("token_retransmits_before_loss_const") {
        engine.token_retransmits_before_loss_const = num(&e)?;
    }
    if let Some(e) = t("hold") {
        engine.hold = Some(ms(&e)?);
    }
    if let Some(e) = t("consensus") {
        engine.consensus = Some(ms(&e)?);
    }
    if let Some(e) = t("join") {
        engine.join = ms(&e)?;
    }
    if let Some(e) = t("merge") {
        engine.merge = ms(&e)?;
    }
    if let Some(e) = t("downcheck") {
        engine.downcheck = ms(&e)?;
    }
    for (k, f) in [
        ("fail_recv_const", &mut engine.fail_recv_const as &mut u32),
        ("seqno_unchanged_const", &mut engine.seqno_unchanged_const),
        ("miss_count_const", &mut engine.miss_count_const),
        ("max_messages", &mut engine.max_messages),
        ("window_size", &mut engine.window_size),
    ] {
        if let Some(e) = t(k) {
            *f = num(&e)?;
            if *f == 0 {
                return Err(invalid(&e, "must be at least 1"));
            }
        }
    }
    Ok(engine)
}
