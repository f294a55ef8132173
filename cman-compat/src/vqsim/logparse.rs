//! Reads votequorum's own debug log (as printed by the vqlog shim) to recover, per simulated
//! node, the numbers vqsim does not print: total votes, expected votes and quorum.
//!
//! votequorum logs `total_votes=T, expected_votes=E` when it starts a recalculation and then
//! one `node N state=S, votes=V, expected=X` line per known node inside its quorum
//! calculation. Quorum itself is not logged; it is rebuilt here from those logged inputs with
//! the calculation's context (which handler called it: last_man_standing timer, reconfigure,
//! or a nodeinfo from a quorate node), taken from the ENTERING/LEAVING trace lines.

use std::collections::BTreeMap;

/// What the log says about one node after its last recalculation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedState {
    /// Node id.
    pub nodeid: u32,
    /// Votes of present members (plus device), as logged.
    pub total_votes: u32,
    /// Expected votes after the recalculation (max of logged expected and total).
    pub expected_votes: u32,
    /// Quorum rebuilt from the logged calculation inputs.
    pub quorum: u32,
    /// Quorate per the "quorum regained/lost" log lines.
    pub quorate: bool,
}

#[derive(Debug, Default, Clone)]
struct Calc {
    total: u32,
    expected: u32,
    allow_decrease: bool,
    by_current: bool,
    lines: Vec<(u32, u32, u32, u32)>,
    qdevice: Option<u32>,
}

#[derive(Debug, Default, Clone)]
struct PidState {
    node: u32,
    stack: Vec<String>,
    cur: Option<Calc>,
    quorum: u32,
    quorate: bool,
    last_nodeinfo_flags: u32,
    total: u32,
    expected: u32,
    seen_calc: bool,
}

fn split_line(line: &str) -> Option<(u32, u32, &str)> {
    let rest = line.strip_prefix("VQLOG ")?;
    let mut it = rest.splitn(3, ' ');
    let pid = it.next()?.parse().ok()?;
    let node = it.next()?.parse().ok()?;
    Some((pid, node, it.next().unwrap_or("")))
}

/// Process ids that logged anything (vqsim node processes).
pub fn pids(log: &[String]) -> Vec<u32> {
    let mut v: Vec<u32> = log
        .iter()
        .filter_map(|l| split_line(l).map(|x| x.0))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn num_after(s: &str, key: &str) -> Option<u32> {
    let i = s.find(key)? + key.len();
    let digits: String = s[i..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

fn finish(st: &mut PidState, two_node: bool) {
    let Some(c) = st.cur.take() else { return };
    let members: Vec<_> = c.lines.iter().filter(|l| l.1 == 1).collect();
    let mut highest = members.iter().map(|l| l.3).max().unwrap_or(0);
    let mut tv: u32 = members.iter().map(|l| l.2).sum();
    let mut nodes = u32::try_from(members.len()).unwrap_or(u32::MAX);
    if let Some(q) = c.qdevice {
        tv += q;
        nodes += 1;
    }
    if c.by_current && nodes > 0 {
        highest = nodes;
    }
    let mut q = (highest / 2 + 1).max(tv / 2 + 1);
    if !c.allow_decrease {
        q = q.max(st.quorum);
    }
    if two_node && nodes <= 2 {
        q = 1;
    }
    st.quorum = q;
    st.total = c.total;
    st.expected = c.expected.max(c.total);
    if c.by_current && nodes > 0 {
        // update_node_expected_votes() then sets every member's (and our) expected votes.
        st.expected = nodes;
    }
    st.seen_calc = true;
}

/// Rebuilds the per-node state from the whole log; `two_node` is the effective two_node
/// setting. Only processes whose node id is known are reported; later processes of the same
/// node id (restarts) replace earlier ones.
pub fn node_states(log: &[String], two_node: bool) -> BTreeMap<u32, LoggedState> {
    let mut by_pid: BTreeMap<u32, PidState> = BTreeMap::new();
    let mut order: Vec<u32> = Vec::new();
    for line in log {
        let Some((pid, node, msg)) = split_line(line) else {
            continue;
        };
        let st = by_pid.entry(pid).or_insert_with(|| {
            order.push(pid);
            PidState::default()
        });
        if node != 0 {
            st.node = node;
        }
        if let Some(f) = msg.strip_prefix("ENTERING ") {
            st.stack.push(f.trim_end_matches("()").to_string());
            continue;
        }
        if let Some(f) = msg.strip_prefix("LEAVING ") {
            let f = f.trim_end_matches("()");
            if let Some(pos) = st.stack.iter().rposition(|x| x == f) {
                st.stack.truncate(pos);
            }
            if f == "calculate_quorum" {
                finish(st, two_node);
            }
            continue;
        }
        if msg.starts_with("nodeinfo message[") {
            st.last_nodeinfo_flags = num_after(msg, "flags: ").unwrap_or(0);
            continue;
        }
        if let (Some(t), Some(e)) = (
            num_after(msg, "total_votes="),
            num_after(msg, "expected_votes="),
        ) {
            if msg.starts_with("total_votes=") {
                finish(st, two_node);
                let in_fn = |name: &str| st.stack.iter().any(|f| f == name);
                let (allow_decrease, by_current) = if in_fn("votequorum_last_man_standing_timer_fn")
                {
                    (true, true)
                } else if in_fn("message_handler_req_exec_votequorum_reconfigure") {
                    (true, false)
                } else if in_fn("message_handler_req_exec_votequorum_nodeinfo") {
                    let f = st.last_nodeinfo_flags;
                    let leaving = f & 2 != 0;
                    (leaving || (!st.quorate && f & 1 != 0), leaving)
                } else {
                    (false, false)
                };
                st.cur = Some(Calc {
                    total: t,
                    expected: e,
                    allow_decrease,
                    by_current,
                    ..Calc::default()
                });
                continue;
            }
        }
        if let Some(rest) = msg.strip_prefix("node ") {
            if let Some(c) = st.cur.as_mut() {
                let id = rest
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u32>().ok());
                let state = num_after(msg, "state=");
                let votes = num_after(msg, "votes=");
                match (id, state, votes, num_after(msg, "expected=")) {
                    (Some(0), Some(_), Some(v), None) => c.qdevice = Some(v),
                    (Some(id), Some(s), Some(v), Some(x)) => c.lines.push((id, s, v, x)),
                    _ => {}
                }
            }
            continue;
        }
        if msg.starts_with("quorum regained") {
            st.quorate = true;
        } else if msg.starts_with("quorum lost") {
            st.quorate = false;
        }
    }
    let mut out = BTreeMap::new();
    for pid in order {
        if let Some(st) = by_pid.get_mut(&pid) {
            finish(st, two_node);
            if st.node != 0 && st.seen_calc {
                out.insert(
                    st.node,
                    LoggedState {
                        nodeid: st.node,
                        total_votes: st.total,
                        expected_votes: st.expected,
                        quorum: st.quorum,
                        quorate: st.quorate,
                    },
                );
            }
        }
    }
    out
}
