//! totem-bench: CPG throughput and latency of our ring against corosync 3.1.7 on one testbed.
//!
//! Builds three lab namespaces on a bridge (`totem_tests::netns::Lab`) and runs, one stack
//! after the other on the same namespaces: the raw UDP datagram rate between two of them
//! (the ceiling), our `lab-totem-node` ring (G3 udpu) with `totem-cpgload` clients, and
//! corosync 3.1.7 over udpu and over knet with our libcpg client `tests/bench/cpgload.c`
//! (compiled here with gcc). Workload (as /work/shared/lab/bench.sh): 1 KB messages,
//! A one sender flat out, B three senders flat out, D one sender at 1000 msg/s; latency is
//! one-way on the shared CLOCK_MONOTONIC. Prints one table. Needs root; not a test.
//!
//! `cargo build --release -p totem-tests --bins && sudo target/release/totem-bench`

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use totem_tests::corosync::{write_conf, Corosync, Transport};
use totem_tests::load::LoadResult;
use totem_tests::netns::Lab;
use totem_tests::ring::{collect, Bins, Ring, Timers};

/// The C client, compiled at run time against the installed libcpg.
const CPGLOAD_C: &str = include_str!("../../bench/cpgload.c");

#[derive(Parser, Debug)]
#[command(
    name = "totem-bench",
    about = "CPG throughput/latency: our ring vs corosync 3.1.7 (udpu, knet) in namespaces"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Seconds each test sends for.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Message size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Rate of the latency test D, messages/s.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Most own messages in flight per flat-out sender, both clients (0: none, as bench.sh's
    /// cpgload: flat out until the stack's flow control pushes back, TRY_AGAIN for libcpg,
    /// a control socket the node stops reading for ours).
    #[arg(long, default_value_t = 0)]
    window: u64,
    /// Stacks to run (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<Stack>,
    /// Append every RESULT line here too.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Our ring's `netmtu` (default: corosync's 1500). Larger values let totempg pack many
    /// messages per Totem mcast and leave fragmentation to the kernel's IP layer.
    #[arg(long)]
    ours_netmtu: Option<u32>,
    /// More `key=value` totem options for our ring (e.g. `window_size=100`), repeatable.
    #[arg(long = "ours-option", value_name = "KEY=VALUE")]
    ours_options: Vec<String>,
    /// Messages a flat-out client (ours and the C one alike) sends per turn before reading
    /// deliveries again; the window (if any) still bounds what is in flight.
    #[arg(long, default_value_t = 2048)]
    burst: u64,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Send datagrams flat out (the UDP ceiling's sender).
    #[command(hide = true)]
    UdpSend {
        #[arg(long)]
        to: SocketAddr,
        #[arg(long)]
        bind: SocketAddr,
        #[arg(long)]
        size: usize,
        #[arg(long)]
        secs: f64,
    },
    /// Count datagrams (the UDP ceiling's receiver).
    #[command(hide = true)]
    UdpRecv {
        #[arg(long)]
        bind: SocketAddr,
        #[arg(long)]
        secs: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Stack {
    /// Raw UDP between two namespaces.
    Udp,
    /// Our totem-node ring, G3 udpu.
    Ours,
    /// corosync 3.1.7, transport udpu.
    Udpu,
    /// corosync 3.1.7, transport knet.
    Knet,
    /// Mixed udpu ring: corosync 3.1.7 on nodes 1 and 2 (C libcpg clients), our
    /// totem-node on node 3 (`totem-cpgload`).
    Mixed,
    /// Our totem-node ring over our knet transport (Totem net_mtu 65446 as on corosync's).
    OursKnet,
    /// Mixed knet ring: corosync 3.1.7 on nodes 1 and 2, our totem-node on node 3.
    MixedKnet,
}

impl Stack {
    fn label(self) -> &'static str {
        match self {
            Stack::Udp => "udp ceiling",
            Stack::Ours => "totem-rs udpu",
            Stack::Udpu => "corosync udpu",
            Stack::Knet => "corosync knet",
            Stack::Mixed => "mixed 2cs+1ours",
            Stack::OursKnet => "totem-rs knet",
            Stack::MixedKnet => "mixed knet",
        }
    }
}

/// One workload of bench.sh.
#[derive(Debug, Clone, Copy)]
struct Test {
    name: &'static str,
    senders: &'static [usize],
    rate: bool,
}

const TESTS: [Test; 3] = [
    Test {
        name: "A 1 sender flat",
        senders: &[1],
        rate: false,
    },
    Test {
        name: "B 3 senders flat",
        senders: &[1, 2, 3],
        rate: false,
    },
    Test {
        name: "D 1 sender rate",
        senders: &[1],
        rate: true,
    },
];

/// What one test gave on one stack.
#[derive(Debug, Clone, Default)]
struct Row {
    msgs_s: f64,
    mb_s: f64,
    p50_us: f64,
    p99_us: f64,
    order_ok: bool,
    note: String,
}

fn row_of(results: &[(usize, Result<LoadResult, String>)], want_ends: usize) -> Row {
    let ok: Vec<&LoadResult> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();
    if ok.len() != results.len() {
        let errs: Vec<String> = results
            .iter()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| format!("n{i}: {e}")))
            .collect();
        return Row {
            note: format!("client failed: {}", errs.join(" | ")),
            ..Row::default()
        };
    }
    let nums = |f: &str| -> Vec<f64> { ok.iter().filter_map(|r| r.num(f).ok()).collect() };
    let min = |v: Vec<f64>| v.into_iter().fold(f64::INFINITY, f64::min);
    let max = |v: Vec<f64>| v.into_iter().fold(0.0, f64::max);
    let mut p50 = nums("lat_us_p50");
    p50.sort_by(f64::total_cmp);
    let orders: std::collections::BTreeSet<&str> =
        ok.iter().filter_map(|r| r.text("order").ok()).collect();
    let recvs: std::collections::BTreeSet<u64> =
        nums("recv").into_iter().map(|v| v as u64).collect();
    let clean = max(nums("gaps")) == 0.0 && max(nums("dups")) == 0.0;
    let ended = ok.iter().all(|r| r.all_ended()) && want_ends > 0;
    Row {
        msgs_s: min(nums("rx_msgs_s")),
        mb_s: min(nums("rx_MBps")),
        p50_us: p50.get(p50.len() / 2).copied().unwrap_or(0.0),
        p99_us: max(nums("lat_us_p99")),
        order_ok: orders.len() == 1 && recvs.len() == 1 && clean && ended,
        note: if orders.len() == 1 && recvs.len() == 1 && clean && ended {
            String::new()
        } else {
            format!(
                "orders={} recv={recvs:?} gaps/dups={} ended={ended}",
                orders.len(),
                !clean
            )
        },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Some(Cmd::UdpSend {
            to,
            bind,
            size,
            secs,
        }) => return udp_send(to, bind, size, secs),
        Some(Cmd::UdpRecv { bind, secs }) => return udp_recv(bind, secs),
        None => {}
    }
    if !totem_tests::netns::is_root() {
        eprintln!("totem-bench: needs root (network namespaces)");
        return ExitCode::from(2);
    }
    let stacks = if cli.only.is_empty() {
        vec![
            Stack::Udp,
            Stack::Ours,
            Stack::Udpu,
            Stack::Knet,
            Stack::OursKnet,
            Stack::Mixed,
            Stack::MixedKnet,
        ]
    } else {
        cli.only.clone()
    };
    let bins = Bins::beside_current_exe();
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("totem-bench: temp dir: {e}");
            return ExitCode::from(1);
        }
    };
    let cpgload = if stacks.iter().any(|s| {
        matches!(
            s,
            Stack::Udpu | Stack::Knet | Stack::Mixed | Stack::MixedKnet
        )
    }) {
        match compile_cpgload(tmp.path()) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("totem-bench: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    let mut lab = match Lab::new("tb", 3) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("totem-bench: lab: {e}");
            return ExitCode::from(1);
        }
    };
    let header = format!(
        "# totem-bench size={} secs={} rate={} window={} burst={} ours_netmtu={} ours_options={:?} corosync={} nproc={} kernel={} loadavg={}",
        cli.size,
        cli.secs,
        cli.rate,
        cli.window,
        cli.burst,
        cli.ours_netmtu.map_or("1500 (default)".to_string(), |m| m.to_string()),
        cli.ours_options,
        sh("corosync -v | sed -n 's/.*version .\\(.*\\).$/\\1/p'"),
        sh("nproc"),
        sh("uname -r"),
        sh("cut -d' ' -f1-3 /proc/loadavg"),
    );
    eprintln!("{header}");
    let mut log = vec![header.clone()];
    let mut ceiling: Option<(f64, f64)> = None;
    let mut table: Vec<(Stack, usize, Row)> = Vec::new();
    for &stack in &stacks {
        let t0 = Instant::now();
        match stack {
            Stack::Udp => {
                ceiling = udp_ceiling(&mut lab, &bins, tmp.path(), cli.size, cli.secs.min(5.0));
            }
            Stack::Ours | Stack::OursKnet => {
                let dir = tmp.path().join(format!("{stack:?}"));
                let addrs: Vec<_> = (1..=3).map(|i| Ring::lab_addr(&lab, i, false)).collect();
                // corosync 3.1.7's defaults: token 3000 + 650 per node above two.
                let timers = Timers {
                    token_ms: 3000,
                    token_coefficient_ms: None,
                };
                let mut ring = Ring::new(bins.clone(), &addrs, None, timers, &dir);
                let mut options = Vec::new();
                if stack == Stack::OursKnet {
                    options.push(("transport", "knet".to_string()));
                } else if let Some(mtu) = cli.ours_netmtu {
                    options.push(("netmtu", mtu.to_string()));
                }
                for kv in &cli.ours_options {
                    match kv.split_once('=') {
                        Some((k, v)) => options.push((k, v.to_string())),
                        None => {
                            eprintln!("totem-bench: --ours-option {kv}: expected KEY=VALUE");
                            return ExitCode::from(2);
                        }
                    }
                }
                for (k, v) in options {
                    if let Err(e) = ring.totem_option(k, &v) {
                        eprintln!("totem-bench: {k}: {e}");
                        return ExitCode::from(1);
                    }
                }
                for i in 1..=3 {
                    if let Err(e) = ring.start(&mut lab, i) {
                        eprintln!("totem-bench: start totem-node {i}: {e}");
                        return ExitCode::from(1);
                    }
                }
                if let Err(e) = ring.wait_ring(&[1, 2, 3], Duration::from_secs(30)) {
                    eprintln!("totem-bench: our ring: {e}");
                    return ExitCode::from(1);
                }
                std::thread::sleep(Duration::from_secs(1));
                for (k, t) in TESTS.iter().enumerate() {
                    let results = run_test(&mut lab, &cli, t, k, &dir, |i, name, args| {
                        ring.load_command(i, name, args)
                    });
                    record(&mut log, stack, t, &results);
                    table.push((stack, k, row_of(&results, t.senders.len())));
                }
                for (_, pid) in std::mem::take(&mut ring.pids) {
                    lab.signal(pid, "TERM");
                    lab.wait_exit(pid, Duration::from_secs(10));
                }
            }
            Stack::Mixed | Stack::MixedKnet => {
                let Some(cpgload) = cpgload.as_ref() else {
                    continue;
                };
                let transport = if stack == Stack::Mixed {
                    Transport::Udpu
                } else {
                    Transport::Knet
                };
                let dir = tmp.path().join(format!("{stack:?}"));
                let _ = std::fs::create_dir_all(&dir);
                let mut daemons = Vec::new();
                for i in 1..=2 {
                    let cdir = dir.join(format!("n{i}"));
                    let _ = std::fs::create_dir_all(&cdir);
                    write_conf(&lab, &[1, 2, 3], i, transport, false, &cdir);
                    match Corosync::start(&mut lab, i, &cdir) {
                        Ok(d) => daemons.push(d),
                        Err(e) => {
                            eprintln!("totem-bench: corosync {i}: {e}");
                            return ExitCode::from(1);
                        }
                    }
                }
                let control = dir.join("totem.sock");
                let conf = mixed_conf(&lab, &dir, transport.name());
                let ours = match lab.spawn(
                    3,
                    &[
                        &bins.node.display().to_string(),
                        "-c",
                        &conf.display().to_string(),
                        "--control",
                        &control.display().to_string(),
                    ],
                    &dir.join("totem-node.out"),
                ) {
                    Ok(pid) => pid,
                    Err(e) => {
                        eprintln!("totem-bench: totem-node 3: {e}");
                        return ExitCode::from(1);
                    }
                };
                for d in &daemons {
                    if let Err(e) = d.wait_members(&lab, &[1, 2, 3], Duration::from_secs(30)) {
                        eprintln!("totem-bench: mixed ring: {e}");
                        return ExitCode::from(1);
                    }
                }
                std::thread::sleep(Duration::from_secs(2));
                for (k, t) in TESTS.iter().enumerate() {
                    let results = run_test(&mut lab, &cli, t, k, &dir, |i, name, args| {
                        let mut v = if i == 3 {
                            vec![
                                bins.load.display().to_string(),
                                "--control".into(),
                                control.display().to_string(),
                            ]
                        } else {
                            vec![cpgload.display().to_string()]
                        };
                        v.extend(args.iter().map(|a| a.to_string()));
                        (v, dir.join(format!("{name}.out")))
                    });
                    record(&mut log, stack, t, &results);
                    table.push((stack, k, row_of(&results, t.senders.len())));
                }
                lab.signal(ours, "TERM");
                lab.wait_exit(ours, Duration::from_secs(10));
                for d in &daemons {
                    lab.signal(d.pid, "TERM");
                    lab.wait_exit(d.pid, Duration::from_secs(15));
                }
            }
            Stack::Udpu | Stack::Knet => {
                let Some(cpgload) = cpgload.as_ref() else {
                    continue;
                };
                let transport = if stack == Stack::Udpu {
                    Transport::Udpu
                } else {
                    Transport::Knet
                };
                let mut daemons = Vec::new();
                for i in 1..=3 {
                    let dir = tmp.path().join(format!("{stack:?}-n{i}"));
                    let _ = std::fs::create_dir_all(&dir);
                    write_conf(&lab, &[1, 2, 3], i, transport, false, &dir);
                    match Corosync::start(&mut lab, i, &dir) {
                        Ok(d) => daemons.push(d),
                        Err(e) => {
                            eprintln!("totem-bench: corosync {i}: {e}");
                            return ExitCode::from(1);
                        }
                    }
                }
                for d in &daemons {
                    if let Err(e) = d.wait_members(&lab, &[1, 2, 3], Duration::from_secs(30)) {
                        eprintln!("totem-bench: corosync {}: {e}", stack.label());
                        return ExitCode::from(1);
                    }
                }
                std::thread::sleep(Duration::from_secs(2));
                let dir = tmp.path().join(format!("{stack:?}"));
                let _ = std::fs::create_dir_all(&dir);
                for (k, t) in TESTS.iter().enumerate() {
                    let results = run_test(&mut lab, &cli, t, k, &dir, |_, name, args| {
                        let mut v = vec![cpgload.display().to_string()];
                        v.extend(args.iter().map(|a| a.to_string()));
                        (v, dir.join(format!("{name}.out")))
                    });
                    record(&mut log, stack, t, &results);
                    table.push((stack, k, row_of(&results, t.senders.len())));
                }
                for d in &daemons {
                    lab.signal(d.pid, "TERM");
                    lab.wait_exit(d.pid, Duration::from_secs(15));
                }
            }
        }
        eprintln!("[{}] done in {:.0?}", stack.label(), t0.elapsed());
    }
    drop(lab);
    if let Some(path) = &cli.out {
        let mut text = log.join("\n");
        text.push('\n');
        let r = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
        if let Err(e) = r {
            eprintln!("totem-bench: {}: {e}", path.display());
        }
    }
    print_table(&cli, &header, &table, ceiling);
    ExitCode::SUCCESS
}

/// Runs one test: a client on every node (senders per the test), waits, reads RESULTs.
fn run_test(
    lab: &mut Lab,
    cli: &Cli,
    t: &Test,
    k: usize,
    dir: &Path,
    command: impl Fn(usize, &str, &[&str]) -> (Vec<String>, PathBuf),
) -> Vec<(usize, Result<LoadResult, String>)> {
    let group = format!("bench{k}");
    let e = t.senders.len().to_string();
    let secs = cli.secs.to_string();
    let size = cli.size.to_string();
    let rate = if t.rate { cli.rate } else { 0 }.to_string();
    let window = cli.window.to_string();
    let burst = cli.burst.to_string();
    let hard = (cli.secs + 40.0).to_string();
    let mut clients = Vec::new();
    for i in 1..=3 {
        let mut args = vec![
            "-g", &group, "-s", &size, "-m", "3", "-e", &e, "-T", &hard, "-w", &window, "-b",
            &burst,
        ];
        if t.senders.contains(&i) {
            args.extend_from_slice(&["-S", "-t", &secs, "-r", &rate]);
        }
        let (cmd, out) = command(i, &format!("{group}-n{i}"), &args);
        let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
        match lab.spawn(i, &argv, &out) {
            Ok(pid) => clients.push((i, pid, out)),
            Err(e) => eprintln!("totem-bench: client on n{i}: {e}"),
        }
    }
    let _ = dir;
    let r = collect(lab, &clients, Duration::from_secs_f64(cli.secs + 45.0));
    std::thread::sleep(Duration::from_secs(1));
    r
}

fn record(
    log: &mut Vec<String>,
    stack: Stack,
    t: &Test,
    r: &[(usize, Result<LoadResult, String>)],
) {
    for (i, res) in r {
        let line = match res {
            Ok(l) => {
                let f: Vec<String> = l.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "{} | {} | n{i} RESULT {}",
                    stack.label(),
                    t.name,
                    f.join(" ")
                )
            }
            Err(e) => format!(
                "{} | {} | n{i} ERROR {}",
                stack.label(),
                t.name,
                e.lines().next().unwrap_or("")
            ),
        };
        eprintln!("{line}");
        log.push(line);
    }
}

fn print_table(
    cli: &Cli,
    header: &str,
    table: &[(Stack, usize, Row)],
    ceiling: Option<(f64, f64)>,
) {
    println!("{header}");
    println!(
        "{:<18} {:<15} {:>9} {:>7} {:>9} {:>9} {:>6} {:>9} {:>9}",
        "test", "stack", "msgs/s", "MB/s", "p50 ms", "p99 ms", "order", "/udpu", "/knet"
    );
    let find = |s: Stack, k: usize| {
        table
            .iter()
            .find(|(st, kk, _)| *st == s && *kk == k)
            .map(|x| &x.2)
    };
    for (k, t) in TESTS.iter().enumerate() {
        let name = if t.rate {
            format!("D 1 sender {}/s", cli.rate)
        } else {
            t.name.to_string()
        };
        for (stack, _, row) in table.iter().filter(|(_, kk, _)| *kk == k) {
            // Throughput tests compare msgs/s (higher is better); the rate test compares
            // p99 latency (ours / theirs, lower is better).
            let ratio = |other: Stack| -> String {
                match find(other, k) {
                    Some(o) if t.rate && o.p99_us > 0.0 => {
                        format!("{:.2}x p99", row.p99_us / o.p99_us)
                    }
                    Some(o) if !t.rate && o.msgs_s > 0.0 && o.msgs_s.is_finite() => {
                        format!("{:.2}x", row.msgs_s / o.msgs_s)
                    }
                    _ => "-".into(),
                }
            };
            println!(
                "{:<18} {:<15} {:>9.0} {:>7.2} {:>9.2} {:>9.2} {:>6} {:>9} {:>9}{}",
                name,
                stack.label(),
                if row.msgs_s.is_finite() {
                    row.msgs_s
                } else {
                    0.0
                },
                if row.mb_s.is_finite() { row.mb_s } else { 0.0 },
                row.p50_us / 1000.0,
                row.p99_us / 1000.0,
                if row.order_ok { "ok" } else { "BAD" },
                ratio(Stack::Udpu),
                ratio(Stack::Knet),
                if row.note.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", row.note)
                },
            );
        }
    }
    if let Some((d, mb)) = ceiling {
        println!(
            "{:<18} {:<15} {:>9.0} {:>7.2}   (raw {}-byte datagrams n1 -> n2, one sender flat out)",
            "ceiling", "udp", d, mb, cli.size
        );
    }
    println!("msgs/s and MB/s: delivered per node (slowest node); latency: one-way send -> deliver, p50 = median node, p99 = worst node; order ok = same order hash, count, no gaps on all nodes");
}

/// Raw datagram rate n1 -> n2 on the lab bridge: (datagrams/s, MB/s) at the receiver.
fn udp_ceiling(
    lab: &mut Lab,
    _bins: &Bins,
    dir: &Path,
    size: usize,
    secs: f64,
) -> Option<(f64, f64)> {
    let me = std::env::current_exe().ok()?.display().to_string();
    let (a1, a2) = (lab.node(1).ipv4, lab.node(2).ipv4);
    let rx_out = dir.join("udp-recv.out");
    let tx_out = dir.join("udp-send.out");
    let bind_rx = format!("{a2}:5600");
    let rpid = lab
        .spawn(
            2,
            &[
                &me,
                "udp-recv",
                "--bind",
                &bind_rx,
                "--secs",
                &(secs + 5.0).to_string(),
            ],
            &rx_out,
        )
        .ok()?;
    std::thread::sleep(Duration::from_millis(300));
    let spid = lab
        .spawn(
            1,
            &[
                &me,
                "udp-send",
                "--to",
                &bind_rx,
                "--bind",
                &format!("{a1}:5601"),
                "--size",
                &size.to_string(),
                "--secs",
                &secs.to_string(),
            ],
            &tx_out,
        )
        .ok()?;
    lab.wait_exit(spid, Duration::from_secs_f64(secs + 10.0));
    lab.wait_exit(rpid, Duration::from_secs_f64(secs + 10.0));
    let text = std::fs::read_to_string(&rx_out).ok()?;
    let r = LoadResult::find(&text).ok()?;
    let tx = std::fs::read_to_string(&tx_out).unwrap_or_default();
    eprintln!("udp ceiling: {} | {}", text.trim(), tx.trim());
    Some((r.num("rx_msgs_s").ok()?, r.num("rx_MBps").ok()?))
}

fn udp_send(to: SocketAddr, bind: SocketAddr, size: usize, secs: f64) -> ExitCode {
    let s = match UdpSocket::bind(bind) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("udp-send: bind {bind}: {e}");
            return ExitCode::from(1);
        }
    };
    let buf = vec![0x5au8; size];
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let (mut sent, mut errors) = (0u64, 0u64);
    let t0 = Instant::now();
    while Instant::now() < end {
        for _ in 0..256 {
            match s.send_to(&buf, to) {
                Ok(_) => sent += 1,
                Err(_) => errors += 1,
            }
        }
    }
    let el = t0.elapsed().as_secs_f64();
    println!(
        "RESULT sent={sent} errors={errors} tx_s={el:.3} tx_msgs_s={:.0}",
        sent as f64 / el
    );
    ExitCode::SUCCESS
}

fn udp_recv(bind: SocketAddr, secs: f64) -> ExitCode {
    let sock = match socket2::Socket::new(
        socket2::Domain::for_address(bind),
        socket2::Type::DGRAM,
        None,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("udp-recv: socket: {e}");
            return ExitCode::from(1);
        }
    };
    let _ = sock.set_recv_buffer_size(4 << 20);
    if let Err(e) = sock.bind(&bind.into()) {
        eprintln!("udp-recv: bind {bind}: {e}");
        return ExitCode::from(1);
    }
    let s: UdpSocket = sock.into();
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = vec![0u8; 65536];
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let (mut n, mut bytes) = (0u64, 0u64);
    let (mut first, mut last) = (None, None);
    while Instant::now() < end {
        match s.recv_from(&mut buf) {
            Ok((len, _)) => {
                let now = Instant::now();
                first.get_or_insert(now);
                last = Some(now);
                n += 1;
                bytes += len as u64;
            }
            Err(_) if first.is_some() => break,
            Err(_) => {}
        }
    }
    let el = match (first, last) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => 0.0,
    };
    let per = |x: f64| if el > 0.0 { x / el } else { 0.0 };
    println!(
        "RESULT recv={n} rx_s={el:.3} rx_msgs_s={:.0} rx_MBps={:.2}",
        per(n as f64),
        per(bytes as f64) / 1e6
    );
    ExitCode::SUCCESS
}

fn compile_cpgload(dir: &Path) -> Result<PathBuf, String> {
    let src = dir.join("cpgload.c");
    let bin = dir.join("cpgload");
    std::fs::write(&src, CPGLOAD_C).map_err(|e| format!("{}: {e}", src.display()))?;
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "libcpg"])
        .output()
        .map_err(|e| format!("pkg-config: {e} (install pkg-config and libcpg-dev)"))?;
    if !flags.status.success() {
        return Err("pkg-config does not know libcpg: install libcpg-dev".into());
    }
    let flags = String::from_utf8_lossy(&flags.stdout).to_string();
    let out = Command::new("gcc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&bin)
        .arg(&src)
        .args(flags.split_whitespace())
        .output()
        .map_err(|e| format!("gcc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "gcc cpgload.c failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(bin)
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// corosync.conf for our node 3 of the mixed ring: the same udpu nodelist (and default
/// timers) as the corosync nodes' configuration.
fn mixed_conf(lab: &Lab, dir: &Path, transport: &str) -> PathBuf {
    let mut nodes = String::new();
    for i in 1..=3 {
        nodes += &format!(
            "    node {{\n        name: n{i}\n        nodeid: {i}\n        ring0_addr: {}\n    }}\n",
            lab.node(i).ipv4
        );
    }
    let conf = format!(
        "totem {{\n    version: 2\n    cluster_name: lab\n    transport: {transport}\n    ip_version: ipv4\n}}\n\nnodelist {{\n{nodes}}}\n\nquorum {{\n    provider: corosync_votequorum\n}}\n\nlogging {{\n    to_stderr: no\n    to_logfile: yes\n    logfile: {}\n    debug: off\n}}\n",
        dir.join("totem.log").display()
    );
    let path = dir.join("corosync.conf");
    let _ = std::fs::write(&path, conf);
    path
}
