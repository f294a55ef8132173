//! Joins a CPG group on a running `totem-node` through its control socket, sends lines from
//! stdin or generated load, and prints deliveries and membership changes.
//!
//! Deliveries print as `nodeid pid len sha256-prefix`; membership changes as
//! `confchg members=... joined=... left=...`; ring changes as `ring seq=... members=...`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::{Instant, MissedTickBehavior};
use totem::control::{self, CpgClient};
use totem::cpg::{CpgEvent, Process, Reason};

#[derive(Parser, Debug)]
#[command(name = "totem-cpg", about = "CPG client of a running totem-node")]
struct Cli {
    /// Control socket of the node.
    #[arg(long, default_value = control::DEFAULT_PATH)]
    control: PathBuf,
    /// Group to join.
    #[arg(short, long, default_value = "totem-cpg")]
    group: String,
    /// Send this many generated messages instead of reading stdin.
    #[arg(long)]
    count: Option<u64>,
    /// Size of each generated message in bytes (at least 8).
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Generated messages per second (0: as fast as the node takes them).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Wait until the group has this many members before sending.
    #[arg(long, default_value_t = 1)]
    wait_members: usize,
    /// Seconds to wait for our own messages to come back after sending.
    #[arg(long, default_value_t = 30)]
    linger: u64,
    /// Do not print each delivery.
    #[arg(short, long)]
    quiet: bool,
}

fn procs(v: &[Process]) -> String {
    v.iter()
        .map(|p| format!("{}:{}", p.nodeid, p.pid))
        .collect::<Vec<_>>()
        .join(",")
}
fn changes(v: &[(Process, Reason)]) -> String {
    v.iter()
        .map(|(p, r)| format!("{}:{}({})", p.nodeid, p.pid, r.name()))
        .collect::<Vec<_>>()
        .join(",")
}

fn generated(seq: u64, size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size.max(8));
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend((8..size).map(|i| (i as u64 ^ seq) as u8));
    v
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    totem_log::init("warn");
    let mut c = match CpgClient::join(&cli.control, &cli.group).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("totem-cpg: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!("joined {:?} as {}:{}", cli.group, c.nodeid, c.pid);
    let (me_node, me_pid) = (c.nodeid, c.pid);

    let mut members = 0usize;
    let mut sent: u64 = 0;
    let mut own_delivered: u64 = 0;
    let mut delivered: u64 = 0;
    let mut stdin_done = cli.count.is_some();
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let target = cli.count.unwrap_or(u64::MAX);
    let period = if cli.rate > 0 {
        Duration::from_secs_f64(1.0 / cli.rate as f64)
    } else {
        Duration::from_micros(1)
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut started: Option<Instant> = None;
    let mut finished_sending: Option<Instant> = None;

    loop {
        let ready = members >= cli.wait_members;
        let load = ready && cli.count.is_some() && sent < target;
        let all_sent = if cli.count.is_some() {
            sent >= target
        } else {
            stdin_done
        };
        if all_sent && finished_sending.is_none() {
            finished_sending = Some(Instant::now());
        }
        if all_sent && own_delivered >= sent {
            break;
        }
        if let Some(t) = finished_sending {
            if t.elapsed() > Duration::from_secs(cli.linger) {
                eprintln!(
                    "totem-cpg: {} of {sent} own messages came back within {}s",
                    own_delivered, cli.linger
                );
                break;
            }
        }
        tokio::select! {
            ev = c.next() => match ev {
                Ok(Some(CpgEvent::Deliver { nodeid, pid, data })) => {
                    delivered += 1;
                    if (nodeid, pid) == (me_node, me_pid) {
                        own_delivered += 1;
                    }
                    if !cli.quiet {
                        let h = Sha256::digest(&data);
                        println!("{nodeid} {pid} {} {}", data.len(), hex::encode(&h[..8]));
                    }
                }
                Ok(Some(CpgEvent::ConfChg { members: m, joined, left })) => {
                    members = m.len();
                    println!("confchg members={} joined={} left={}", procs(&m), changes(&joined), changes(&left));
                }
                Ok(Some(CpgEvent::Ring { ring_seq, members: m })) => {
                    println!("ring seq={ring_seq:x} members={m:?}");
                }
                Ok(None) => {
                    eprintln!("totem-cpg: the node closed the session");
                    return ExitCode::from(1);
                }
                Err(e) => {
                    eprintln!("totem-cpg: {e}");
                    return ExitCode::from(1);
                }
            },
            _ = tick.tick(), if load => {
                started.get_or_insert_with(Instant::now);
                if let Err(e) = c.mcast(&generated(sent, cli.size)).await {
                    eprintln!("totem-cpg: {e}");
                    return ExitCode::from(1);
                }
                sent += 1;
            }
            line = stdin.next_line(), if ready && !stdin_done => match line {
                Ok(Some(l)) => {
                    started.get_or_insert_with(Instant::now);
                    if let Err(e) = c.mcast(l.as_bytes()).await {
                        eprintln!("totem-cpg: {e}");
                        return ExitCode::from(1);
                    }
                    sent += 1;
                }
                _ => stdin_done = true,
            },
            _ = tokio::time::sleep(Duration::from_millis(200)), if all_sent => {}
        }
    }
    if let Some(t0) = started {
        let secs = t0.elapsed().as_secs_f64();
        eprintln!(
            "sent {sent}, own delivered {own_delivered}, delivered {delivered} in {secs:.3}s ({:.0} own msg/s)",
            own_delivered as f64 / secs.max(1e-9)
        );
    }
    let _ = c.leave().await;
    if own_delivered >= sent {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}
