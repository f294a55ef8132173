//! Link cuts of a capture's scenario: while a node's link was down, what the bridge shows
//! addressed to it never reached it.
//!
//! The scenario scripts cut a node off by taking the hub side of its veth down
//! (`ip link set vnN down`, `captures/scripts/make-g3-captures.sh` and the shared lab's
//! `link_down`). The capture, taken on the bridge, still shows the others' datagrams to
//! the node (their sends go on; its port is gone), but none of them reached it. The
//! capture itself cannot tell, so the cut times come from the scenario's timeline next to
//! the capture, `<capture>.log`, in either form the labs wrote:
//!
//! ```text
//!    1.633  04:32:31.325  link vn3 (hub side of node 3) DOWN      (g3 captures)
//! [03:48:04.676] partition: link down node 3                      (shared captures' lab logs)
//! ```
//!
//! The lab's node N is nodeid N (the labs set nodeids explicitly). Times of day are UTC
//! (the timelines' clock, the capture host's); each is put on the day that brings it
//! nearest the capture's first frame. Other lines are ignored.

use std::path::Path;
use std::time::Duration;

const DAY: u64 = 86_400;

/// One node's link down from `down` until `up` (None: till the end), capture time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkCut {
    /// The node cut off.
    pub node: u32,
    /// When its link went down (since the Unix epoch).
    pub down: Duration,
    /// When it came back up, if it did.
    pub up: Option<Duration>,
}

/// The link cuts of one capture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// Cuts in timeline order.
    pub cuts: Vec<LinkCut>,
}

impl Links {
    /// The cuts a timeline names; `start` is the capture's first frame time.
    pub fn parse(text: &str, start: Duration) -> Links {
        let mut cuts: Vec<LinkCut> = Vec::new();
        for line in text.lines() {
            let Some((node, up, tod)) = link_event(line) else {
                continue;
            };
            let at = on_capture_day(tod, start);
            let open = cuts.iter_mut().find(|c| c.node == node && c.up.is_none());
            match (up, open) {
                (false, None) => cuts.push(LinkCut {
                    node,
                    down: at,
                    up: None,
                }),
                (true, Some(c)) if at >= c.down => c.up = Some(at),
                _ => {} // down while down, up while up: nothing changes
            }
        }
        Links { cuts }
    }

    /// The cuts of the timeline `<capture>.log` next to `capture` (none without one).
    pub fn for_capture(capture: &Path, start: Duration) -> Links {
        match std::fs::read_to_string(capture.with_extension("log")) {
            Ok(text) => Links::parse(&text, start),
            Err(_) => Links::default(),
        }
    }

    /// Whether `node`'s link was down at capture time `t`.
    pub fn is_down(&self, node: u32, t: Duration) -> bool {
        self.cuts
            .iter()
            .any(|c| c.node == node && t >= c.down && c.up.is_none_or(|up| t < up))
    }
}

/// A timeline line's link event: (node, up, time of day).
fn link_event(line: &str) -> Option<(u32, bool, Duration)> {
    let words: Vec<String> = line
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c| c == '[' || c == ']')
                .to_ascii_lowercase()
        })
        .collect();
    let tod = words.iter().find_map(|w| time_of_day(w))?;
    let i = words.iter().position(|w| w == "link")?;
    let state = |w: &str| match w {
        "down" => Some(false),
        "up" => Some(true),
        _ => None,
    };
    let rest = &words[i + 1..];
    // `link down node 3`
    if let [s, n, id, ..] = rest {
        if let (Some(up), "node", Ok(node)) = (state(s), n.as_str(), id.parse()) {
            return Some((node, up, tod));
        }
    }
    // `link vn3 (...) DOWN`
    let node = rest.first()?.strip_prefix("vn")?.parse().ok()?;
    let up = state(words.last()?)?;
    Some((node, up, tod))
}

/// `HH:MM:SS[.fff]` as a duration since midnight.
fn time_of_day(w: &str) -> Option<Duration> {
    let mut parts = w.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.len() != 2 || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    if h > 23 || m > 59 || whole > 60 {
        return None;
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    Some(Duration::new(h * 3600 + m * 60 + whole, nanos))
}

/// The instant of time of day `tod` on the day (before, of or after `start`'s) nearest `start`.
fn on_capture_day(tod: Duration, start: Duration) -> Duration {
    let day = start.as_secs() / DAY;
    [day.saturating_sub(1), day, day + 1]
        .into_iter()
        .map(|d| Duration::from_secs(d * DAY) + tod)
        .min_by_key(|t| t.abs_diff(start))
        .unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: u64 = 1_795_319_283; // 2026-11-22 03:48:03 UTC
    fn at(h: u64, m: u64, s: u64, ms: u32) -> Duration {
        Duration::new(START - START % DAY + h * 3600 + m * 60 + s, ms * 1_000_000)
    }

    #[test]
    fn shared_lab_form() {
        let l = Links::parse(
            "[03:48:04.676] partition: link down node 3\n\
             [03:48:11.847] partitioned: node1 members=2 node3 members=1\n\
             [03:48:12.858] merge: link up node 3\n",
            Duration::from_secs(START),
        );
        assert_eq!(
            l.cuts,
            [LinkCut {
                node: 3,
                down: at(3, 48, 4, 676),
                up: Some(at(3, 48, 12, 858)),
            }]
        );
        assert!(!l.is_down(3, at(3, 48, 4, 675)));
        assert!(l.is_down(3, at(3, 48, 4, 676)));
        assert!(l.is_down(3, at(3, 48, 12, 857)));
        assert!(!l.is_down(3, at(3, 48, 12, 858)));
        assert!(!l.is_down(2, at(3, 48, 8, 0)));
    }

    #[test]
    fn g3_timeline_form() {
        let l = Links::parse(
            "   0.616  03:48:03.315  capture x started on tcap-hub/br0 (transport udpu, ipv4)\n\
                1.633  03:48:05.325  link vn2 (hub side of node 2) DOWN\n\
               10.750  03:48:14.447  link vn2 UP\n",
            Duration::from_secs(START),
        );
        assert_eq!(l.cuts.len(), 1);
        assert_eq!(l.cuts[0].node, 2);
        assert_eq!(l.cuts[0].down, at(3, 48, 5, 325));
        assert_eq!(l.cuts[0].up, Some(at(3, 48, 14, 447)));
    }

    #[test]
    fn never_up_again_and_noise() {
        let l = Links::parse(
            "link down node 3\n[03:48:xx] link down node 3\n[03:49:00] link sideways node 1\n\
             [03:49:00] link up node 3\n[03:49:01] link down node 1\n",
            Duration::from_secs(START),
        );
        // The up of node 3 has no down before it; node 1 stays down.
        assert_eq!(
            l.cuts,
            [LinkCut {
                node: 1,
                down: at(3, 49, 1, 0),
                up: None
            }]
        );
        assert!(l.is_down(1, at(23, 0, 0, 0)));
    }

    #[test]
    fn across_midnight() {
        let start = Duration::from_secs(START - START % DAY + DAY - 2); // 23:59:58
        let l = Links::parse(
            "[23:59:59.500] link down node 3\n[00:00:03.000] link up node 3\n",
            start,
        );
        let c = l.cuts[0];
        assert_eq!(c.down, start + Duration::from_millis(1500));
        assert_eq!(c.up, Some(start + Duration::from_secs(5)));
    }

    #[test]
    fn bad_times() {
        for w in [
            "3:48:04",
            "03:48",
            "24:00:00",
            "03:61:00",
            "03:48:04.x",
            "03:48:04:1",
        ] {
            assert_eq!(time_of_day(w), None, "{w}");
        }
        assert_eq!(
            time_of_day("03:48:04.5"),
            Some(Duration::from_millis(13_684_500))
        );
    }
}
