//! CPG load and latency client of a running `totem-node` (over its control socket): the
//! counterpart of `tests/bench/cpgload.c` for corosync, with the same message layout and
//! `RESULT` line (see `totem_tests::load`).
//!
//! Joins a group, optionally sends (flat out or at `--rate`, for `--secs` or `--count`),
//! records the one-way latency and the delivery order of every load message, and prints
//! one `RESULT` line once every expected sender's end message arrived (or at the deadline).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tokio::time::Instant;
use totem::control::{CpgClient, Encoding};
use totem::cpg::CpgEvent;
use totem_tests::load::{self, OrderHash, KIND_DATA, KIND_END};

#[derive(Parser, Debug)]
#[command(
    name = "totem-cpgload",
    about = "CPG load/latency client of a totem-node"
)]
struct Cli {
    /// Control socket of the node.
    #[arg(long)]
    control: PathBuf,
    /// Carry data as hex (for nodes older than base64 sessions) instead of binary frames.
    #[arg(long, conflicts_with = "base64")]
    hex: bool,
    /// Carry data as base64 in JSON lines (nodes without binary sessions) instead of binary
    /// frames.
    #[arg(long)]
    base64: bool,
    /// Group to join.
    #[arg(short, long, default_value = "bench")]
    group: String,
    /// Send load (otherwise only receive).
    #[arg(short = 'S', long)]
    send: bool,
    /// Send at most this many data messages (0: no limit, then --secs bounds it).
    #[arg(short = 'n', long, default_value_t = 0)]
    count: u64,
    /// Send for at most this many seconds (0: until --count).
    #[arg(short = 't', long, default_value_t = 0.0)]
    secs: f64,
    /// Message size in bytes, header included (at least 32).
    #[arg(short, long, default_value_t = 1024)]
    size: usize,
    /// Messages per second (0: flat out, bounded by the node's flow control and --window).
    #[arg(short, long, default_value_t = 0)]
    rate: u64,
    /// Most own messages sent but not yet delivered back (0: no window; the node's flow
    /// control, which stops reading the control socket while its queues are full, as
    /// corosync answers TRY_AGAIN, still bounds what is in flight).
    #[arg(short, long, default_value_t = 2048)]
    window: u64,
    /// Flat out: messages written per turn before deliveries are read again.
    #[arg(short = 'b', long, default_value_t = 64)]
    burst: u64,
    /// Wait until the group has this many members before sending.
    #[arg(short, long, default_value_t = 1)]
    members: usize,
    /// End messages to wait for before exiting (0: run until the deadline).
    #[arg(short = 'e', long, default_value_t = 1)]
    senders: usize,
    /// Hard deadline for the whole run, seconds.
    #[arg(short = 'T', long, default_value_t = 60.0)]
    deadline: f64,
}

/// What a receiver accumulates.
#[derive(Default)]
struct Rx {
    recv: u64,
    bytes: u64,
    gaps: u64,
    dups: u64,
    next_seq: HashMap<(u32, u32), u64>,
    ended: HashSet<(u32, u32)>,
    lat_us: Vec<u64>,
    order: OrderHash,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Rx {
    fn deliver(&mut self, nodeid: u32, pid: u32, data: &[u8]) {
        let Some(h) = load::decode(data) else {
            return;
        };
        match h.kind {
            KIND_DATA => {
                let now_ns = load::monotonic_ns();
                let now = Instant::now();
                self.first.get_or_insert(now);
                self.last = Some(now);
                self.recv += 1;
                self.bytes += data.len() as u64;
                self.order.add(nodeid, pid, h.seq);
                if self.lat_us.len() < 8 << 20 {
                    self.lat_us.push(now_ns.saturating_sub(h.t_send_ns) / 1000);
                }
                let want = self.next_seq.entry((nodeid, pid)).or_insert(0);
                if h.seq < *want {
                    self.dups += 1;
                } else {
                    self.gaps += h.seq - *want;
                    *want = h.seq + 1;
                }
            }
            KIND_END => {
                self.ended.insert((nodeid, pid));
            }
            _ => {}
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    totem_log::init("error");
    if cli.size < load::HEADER_LEN {
        eprintln!(
            "totem-cpgload: --size {} is below the {}-byte header",
            cli.size,
            load::HEADER_LEN
        );
        return ExitCode::from(2);
    }
    let encoding = if cli.hex {
        Encoding::Hex
    } else if cli.base64 {
        Encoding::Base64
    } else {
        Encoding::Binary
    };
    let deadline = Instant::now() + Duration::from_secs_f64(cli.deadline.max(0.1));
    let mut c = match tokio::time::timeout_at(
        deadline,
        CpgClient::join_with(&cli.control, &cli.group, encoding),
    )
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            eprintln!("totem-cpgload: join {:?}: {e}", cli.group);
            return ExitCode::from(1);
        }
        Err(_) => {
            eprintln!("totem-cpgload: join timed out");
            return ExitCode::from(1);
        }
    };
    let me = (c.nodeid, c.pid);
    let mut rx = Rx::default();
    let mut members = 0usize;
    let mut sent: u64 = 0;
    let mut own_back: u64 = 0;
    let mut end_sent = !cli.send;
    let mut tx_start: Option<Instant> = None;
    let mut tx_end: Option<Instant> = None;
    let count = if cli.count == 0 { u64::MAX } else { cli.count };
    let secs = (cli.secs > 0.0).then(|| Duration::from_secs_f64(cli.secs));
    if cli.send && count == u64::MAX && secs.is_none() {
        eprintln!("totem-cpgload: a sender needs --count or --secs");
        return ExitCode::from(2);
    }
    let mut timed_out = false;

    loop {
        let done_rx = cli.senders > 0 && rx.ended.len() >= cli.senders;
        if end_sent && done_rx && (!cli.send || rx.ended.contains(&me)) {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            break;
        }
        // --members gates the start only: members leaving later do not stop the load.
        let sending = cli.send && !end_sent && (tx_start.is_some() || members >= cli.members);
        if sending {
            let t0 = *tx_start.get_or_insert(now);
            if sent >= count || secs.is_some_and(|s| now >= t0 + s) {
                // Data is over: the end message carries how many were sent.
                let end = load::encode(KIND_END, sent, load::monotonic_ns(), load::HEADER_LEN);
                if let Err(e) = c.mcast(&end).await {
                    eprintln!("totem-cpgload: {e}");
                    return ExitCode::from(1);
                }
                tx_end = Some(Instant::now());
                end_sent = true;
                continue;
            }
        }
        // When the next data message may go: now (flat out, window open), at the rate's
        // schedule, or never (window closed / not sending).
        let next_send = if !sending || window_closed(sent, own_back, cli.window) {
            None
        } else if cli.rate > 0 {
            tx_start.map(|t0| t0 + Duration::from_secs_f64(sent as f64 / cli.rate as f64))
        } else {
            Some(now)
        };
        tokio::select! {
            biased;
            ev = c.next() => match ev {
                Ok(Some(ev)) => on_event(ev, me, &mut rx, &mut own_back, &mut members),
                Ok(None) => {
                    eprintln!("totem-cpgload: the node closed the session");
                    break;
                }
                Err(e) => {
                    eprintln!("totem-cpgload: {e}");
                    break;
                }
            },
            _ = tokio::time::sleep_until(next_send.unwrap_or(deadline)), if next_send.is_some() => {
                // Flat out: a small burst per turn so deliveries are still read in between.
                let burst = if cli.rate > 0 { 1 } else { cli.burst.max(1) };
                for _ in 0..burst {
                    if sent >= count || window_closed(sent, own_back, cli.window) {
                        break;
                    }
                    let m = load::encode(KIND_DATA, sent, load::monotonic_ns(), cli.size);
                    if let Err(e) = c.mcast_buffered(&m) {
                        eprintln!("totem-cpgload: {e}");
                        return ExitCode::from(1);
                    }
                    sent += 1;
                }
                let r = c
                    .flush_while_reading(|ev| on_event(ev, me, &mut rx, &mut own_back, &mut members))
                    .await;
                if let Err(e) = r {
                    eprintln!("totem-cpgload: {e}");
                    return ExitCode::from(1);
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }

    let tx_s = match (tx_start, tx_end) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => 0.0,
    };
    let rx_s = match (rx.first, rx.last) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => 0.0,
    };
    let per_s = |x: f64| if rx_s > 0.0 { x / rx_s } else { 0.0 };
    rx.lat_us.sort_unstable();
    println!(
        "RESULT node={} pid={} size={} sent={sent} tx_s={tx_s:.3} tx_msgs_s={:.0} recv={} rx_s={rx_s:.3} rx_msgs_s={:.0} rx_MBps={:.2} gaps={} dups={} lat_us_p50={} lat_us_p99={} lat_us_max={} order={:016x} ended={}/{}{}",
        me.0,
        me.1,
        cli.size,
        if tx_s > 0.0 { sent as f64 / tx_s } else { 0.0 },
        rx.recv,
        per_s(rx.recv as f64),
        per_s(rx.bytes as f64) / 1e6,
        rx.gaps,
        rx.dups,
        load::quantile(&rx.lat_us, 0.5),
        load::quantile(&rx.lat_us, 0.99),
        rx.lat_us.last().copied().unwrap_or(0),
        rx.order.0,
        rx.ended.len(),
        cli.senders,
        if timed_out { " timeout=1" } else { "" },
    );
    let _ = c.leave().await;
    if timed_out {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// Takes one event: counts own data messages back, checks and records deliveries, tracks
/// the group size.
fn on_event(ev: CpgEvent, me: (u32, u32), rx: &mut Rx, own_back: &mut u64, members: &mut usize) {
    match ev {
        CpgEvent::Deliver { nodeid, pid, data } => {
            if (nodeid, pid) == me && load::decode(&data).is_some_and(|h| h.kind == KIND_DATA) {
                *own_back += 1;
            }
            rx.deliver(nodeid, pid, &data);
        }
        CpgEvent::ConfChg { members: m, .. } => *members = m.len(),
        CpgEvent::Ring { .. } => {}
    }
}

/// Whether the window (0: none) allows no more own messages in flight.
fn window_closed(sent: u64, own_back: u64, window: u64) -> bool {
    window > 0 && sent.saturating_sub(own_back) >= window
}
