//! The rolling-upgrade gateway's cost, in one run on one testbed: CPG throughput and
//! latency of a pure corosync 2.4.6 ring of three, of the mixed ring (two 2.4.6 + one 3.1.7
//! behind its `totem-gateway`) and of a pure corosync 3.1.7 udpu ring, with the same libcpg
//! load client (`tests/bench/cpgload.c`, built against each daemon's libcpg). Needs root.
//!
//!   cargo build --release -p totem-tests --bins && sudo target/release/totem-gateway-bench

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use totem_tests::corosync::{write_conf, Corosync, Transport};
use totem_tests::netns::is_root;
use totem_tests::oldcs;
use totem_tests::upgrade::{build_clients, field, Cluster, Daemon};

#[derive(Parser)]
#[command(about = "CPG throughput/latency: pure 2.4.6, mixed through the gateway, pure 3.1.7")]
struct Cli {
    /// Seconds each test sends for.
    #[arg(long, default_value_t = 8)]
    secs: u32,
    /// Message size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: u32,
    /// Rate of the latency test, messages/s.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
}

/// One test: node `sender` sends (flat out when `rate` is 0), every node receives; returns
/// the receivers' RESULT lines (the sender's included).
fn run(
    c: &mut Cluster,
    clients: &(PathBuf, PathBuf),
    sender: usize,
    rate: u32,
    cli: &Cli,
    tag: &str,
) -> anyhow::Result<Vec<String>> {
    let n = c.nodes.len();
    let mut pids = Vec::new();
    let mut outs = Vec::new();
    for i in 1..=n {
        let bin = totem_tests::upgrade::client_for(c, clients, i);
        let out = c.root.join(format!("n{i}/bench-{tag}.out"));
        let mut args: Vec<String> = vec![bin.display().to_string(), "-g".into(), tag.into()];
        if i == sender {
            args.extend(["-S", "-n", "0", "-t"].map(String::from));
            args.push(cli.secs.to_string());
            args.extend(["-r".to_string(), rate.to_string()]);
        }
        args.extend([
            "-s".to_string(),
            cli.size.to_string(),
            "-m".into(),
            n.to_string(),
            "-e".into(),
            "1".into(),
        ]);
        args.extend(["-T".to_string(), (cli.secs + 30).to_string()]);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        pids.push(c.lab.spawn(i, &a, &out)?);
        outs.push(out);
    }
    for pid in pids {
        if !c
            .lab
            .wait_exit(pid, Duration::from_secs(u64::from(cli.secs) + 40))
        {
            bail!("{tag}: a load client did not finish");
        }
    }
    Ok(outs
        .iter()
        .map(|o| {
            std::fs::read_to_string(o)
                .unwrap_or_default()
                .lines()
                .find(|l| l.starts_with("RESULT"))
                .unwrap_or("no RESULT")
                .to_string()
        })
        .collect())
}

struct Row {
    stack: String,
    flat: f64,
    flat_p50: f64,
    rate_p50: f64,
    rate_p99: f64,
    order: bool,
}

fn num(l: &str, k: &str) -> f64 {
    field(l, k).parse().unwrap_or(f64::NAN)
}

fn measure(
    c: &mut Cluster,
    clients: &(PathBuf, PathBuf),
    stack: &str,
    sender: usize,
    cli: &Cli,
    tag: &str,
) -> anyhow::Result<Row> {
    let flat = run(c, clients, sender, 0, cli, &format!("{tag}-flat"))?;
    let rate = run(c, clients, sender, cli.rate, cli, &format!("{tag}-rate"))?;
    let order = |r: &[String]| {
        r.iter().all(|l| {
            field(l, "order") == field(&r[0], "order")
                && field(l, "gaps") == "0"
                && field(l, "dups") == "0"
        })
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    Ok(Row {
        stack: stack.into(),
        flat: flat
            .iter()
            .map(|l| num(l, "rx_msgs_s"))
            .fold(f64::INFINITY, f64::min),
        flat_p50: median(flat.iter().map(|l| num(l, "lat_us_p50")).collect()),
        rate_p50: median(rate.iter().map(|l| num(l, "lat_us_p50")).collect()),
        rate_p99: rate
            .iter()
            .map(|l| num(l, "lat_us_p99"))
            .fold(0.0, f64::max),
        order: order(&flat) && order(&rate),
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !is_root() {
        bail!("needs root (network namespaces)");
    }
    let gateway_bin = std::env::current_exe()?
        .parent()
        .context("no folder beside the binary")?
        .join("lab-totem-gateway");
    if !gateway_bin.exists() {
        bail!(
            "{} is missing: cargo build -p totem-tests --bins",
            gateway_bin.display()
        );
    }
    oldcs::install()?;
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().to_path_buf();
    let clients = build_clients(&root);
    let mut c =
        Cluster::start_old("gb", 3, &root, gateway_bin, None).map_err(anyhow::Error::msg)?;
    let mut rows = Vec::new();
    eprintln!("[pure 2.4.6]");
    rows.push(measure(
        &mut c,
        &clients,
        "corosync 2.4.6 x3",
        1,
        &cli,
        "old",
    )?);
    c.upgrade(3);
    c.wait_view(&[1, 2, 3], &[1, 2, 3])
        .map_err(anyhow::Error::msg)?;
    eprintln!("[mixed]");
    rows.push(measure(
        &mut c,
        &clients,
        "2.4.6 x2 + 3.1.7 gw, sender 2.4.6",
        1,
        &cli,
        "mix1",
    )?);
    rows.push(measure(
        &mut c,
        &clients,
        "2.4.6 x2 + 3.1.7 gw, sender 3.1.7",
        3,
        &cli,
        "mix3",
    )?);
    // A pure corosync 3.1.7 udpu ring on the same namespaces.
    let old: Vec<u32> = c
        .nodes
        .iter()
        .flat_map(|d| match d {
            Daemon::Old(o) => vec![o.pid],
            Daemon::New { cs, gateway } => vec![cs.pid, *gateway],
            Daemon::Direct(cs) => vec![cs.pid],
        })
        .collect();
    for pid in old {
        c.lab.signal(pid, "TERM");
        c.lab.wait_exit(pid, Duration::from_secs(15));
    }
    let mut fresh = Vec::new();
    for i in 1..=3 {
        let dir = root.join(format!("p{i}"));
        std::fs::create_dir_all(dir.join("run"))?;
        write_conf(&c.lab, &[1, 2, 3], i, Transport::Udpu, false, &dir);
        fresh.push(Daemon::New {
            cs: Corosync::start(&mut c.lab, i, &dir)?,
            gateway: 0,
        });
    }
    c.nodes = fresh;
    c.wait_view(&[1, 2, 3], &[1, 2, 3])
        .map_err(anyhow::Error::msg)?;
    eprintln!("[pure 3.1.7]");
    rows.push(measure(
        &mut c,
        &clients,
        "corosync 3.1.7 x3 udpu",
        1,
        &cli,
        "new",
    )?);

    println!(
        "# totem-gateway-bench size={} secs={} rate={} nproc={}",
        cli.size,
        cli.secs,
        cli.rate,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!(
        "{:<36} {:>10} {:>12} {:>14} {:>14} {:>6} {:>9}",
        "stack", "msgs/s", "flat p50 us", "rate p50 us", "rate p99 us", "order", "/2.4.6"
    );
    let base = rows[0].flat;
    for r in &rows {
        println!(
            "{:<36} {:>10.0} {:>12.0} {:>14.0} {:>14.0} {:>6} {:>8.2}x",
            r.stack,
            r.flat,
            r.flat_p50,
            r.rate_p50,
            r.rate_p99,
            if r.order { "ok" } else { "BAD" },
            r.flat / base
        );
    }
    println!("msgs/s: flat out, one sender, slowest receiver; latency: one-way send -> deliver (median node; p99 worst node)");
    Ok(())
}
