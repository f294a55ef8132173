//! The multiple-ring protocol's cost, in one run on one testbed (loopback; the WAN part
//! needs root for its namespaces): CPG throughput and latency of one ring of six of our
//! nodes (plain CPG, and with the global order on), against two rings of three joined by
//! a LAN gateway with the group bridged; then the WAN link's goodput against the emulated
//! link's capacity (100 Mbit/s, 50 ms RTT, 0 % and 1 % loss).
//!
//!   cargo build --release -p totem-tests --bins && target/release/totem-mrp-bench [--wan]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use totem_tests::load::LoadResult;
use totem_tests::mrp_lab::{metrics_here, mrp_ring, wait_members, Sites};
use totem_tests::ring::{Bins, Ring};
use totem_tests::wait;

#[derive(Parser)]
#[command(about = "Multiple-ring bridge cost: one ring against two bridged rings; WAN goodput")]
struct Cli {
    /// Seconds each test sends for.
    #[arg(long, default_value_t = 6)]
    secs: u32,
    /// Message size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: u32,
    /// Rate of the latency test, messages/s.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Also measure the WAN link's goodput (needs root: namespaces).
    #[arg(long)]
    wan: bool,
}

/// Child processes killed on drop.
#[derive(Default)]
struct Procs(Vec<Child>);

impl Procs {
    fn spawn(&mut self, argv: &[String], out: &Path) -> anyhow::Result<u32> {
        let f = std::fs::File::create(out)?;
        let c = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(f.try_clone()?)
            .stderr(f)
            .spawn()
            .with_context(|| format!("starting {}", argv[0]))?;
        let pid = c.id();
        self.0.push(c);
        Ok(pid)
    }
    fn wait(&mut self, pid: u32, timeout: Duration) -> bool {
        let Some(i) = self.0.iter().position(|c| c.id() == pid) else {
            return true;
        };
        let done = wait::until(timeout, Duration::from_millis(50), || {
            matches!(self.0[i].try_wait(), Ok(Some(_))).then_some(())
        });
        let mut c = self.0.remove(i);
        if done.is_none() {
            let _ = c.kill();
        }
        let _ = c.wait();
        done.is_some()
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn bins() -> Bins {
    Bins::beside_current_exe()
}

fn gateway_bin() -> PathBuf {
    bins().node.with_file_name("lab-totem-gateway")
}

/// Where a load client runs: a ring and a node of it.
type At<'a> = (&'a Ring, usize);

/// One measurement: `receivers` join first; once `ready` holds, `senders` send (flat out
/// for `secs` when `rate` is 0, else at `rate` for `secs`); returns the receivers' results.
#[allow(clippy::too_many_arguments)]
fn measure(
    procs: &mut Procs,
    receivers: &[At],
    senders: &[At],
    group: &str,
    rate: u32,
    cli: &Cli,
    ready: &dyn Fn() -> bool,
) -> anyhow::Result<Vec<LoadResult>> {
    let e = senders.len().to_string();
    let (s, t) = (cli.size.to_string(), (cli.secs + 60).to_string());
    let mut rx = Vec::new();
    for (k, (ring, i)) in receivers.iter().enumerate() {
        let (argv, out) = ring.load_command(
            *i,
            &format!("{group}-rx{k}"),
            &["-g", group, "-e", &e, "-T", &t, "-s", &s],
        );
        rx.push((procs.spawn(&argv, &out)?, out));
    }
    if wait::until(Duration::from_secs(30), Duration::from_millis(200), || {
        ready().then_some(())
    })
    .is_none()
    {
        bail!("{group}: the group was not forwarded both ways in time");
    }
    let (secs, r) = (cli.secs.to_string(), rate.to_string());
    let mut tx = Vec::new();
    for (k, (ring, i)) in senders.iter().enumerate() {
        let args = [
            "-g", group, "-S", "-n", "0", "-t", &secs, "-r", &r, "-s", &s, "-e", "1", "-T", &t,
        ];
        let (argv, out) = ring.load_command(*i, &format!("{group}-tx{k}"), &args);
        tx.push(procs.spawn(&argv, &out)?);
    }
    let limit = Duration::from_secs(u64::from(cli.secs) + 70);
    for pid in tx {
        if !procs.wait(pid, limit) {
            bail!("{group}: a sender did not finish");
        }
    }
    let mut res = Vec::new();
    for (pid, out) in rx {
        let done = procs.wait(pid, limit);
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if !done {
            bail!("{group}: a receiver did not finish:\n{text}");
        }
        res.push(LoadResult::find(&text).with_context(|| format!("{group}: {text}"))?);
    }
    Ok(res)
}

/// (msgs/s averaged over receivers, MB/s, p50 max, p99 max).
fn figures(r: &[LoadResult]) -> (f64, f64, f64, f64) {
    let n = r.len().max(1) as f64;
    let avg = |f: &str| r.iter().filter_map(|x| x.num(f).ok()).sum::<f64>() / n;
    let max = |f: &str| r.iter().filter_map(|x| x.num(f).ok()).fold(0.0, f64::max);
    (
        avg("rx_msgs_s"),
        avg("rx_MBps"),
        max("lat_us_p50"),
        max("lat_us_p99"),
    )
}

struct Row {
    name: String,
    tput: (f64, f64),
    lat: (f64, f64),
}

/// A setup: its rings' nodes started, and the (ring, node) of each of six clients.
fn lan_setups(cli: &Cli, root: &Path) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let plain = |mrp: bool, name: &str, port: u16| -> anyhow::Result<Row> {
        let mut procs = Procs::default();
        let dir = root.join(name.replace(' ', "-"));
        let mut r = mrp_ring(bins(), 9, &[1, 2, 3, 4, 5, 6], None, port, mrp, &dir);
        for i in 1..=6 {
            let (argv, log) = r.node_command(i);
            procs.spawn(&argv, &log)?;
        }
        r.wait_ring(&[1, 2, 3, 4, 5, 6], Duration::from_secs(30))
            .map_err(anyhow::Error::msg)?;
        let rx: Vec<At> = [2, 3, 5, 6].iter().map(|&i| (&r, i)).collect();
        let t = measure(&mut procs, &rx, &[(&r, 1), (&r, 4)], "t", 0, cli, &|| true)?;
        let l = measure(&mut procs, &rx, &[(&r, 1)], "l", cli.rate, cli, &|| true)?;
        let (m, mb, _, _) = figures(&t);
        let (_, _, p50, p99) = figures(&l);
        Ok(Row {
            name: name.into(),
            tput: (m, mb),
            lat: (p50, p99),
        })
    };
    rows.push(plain(false, "one ring of 6 (plain CPG)", 5981)?);
    eprintln!("[mrp-bench] {}", rows[0].name);
    rows.push(plain(true, "one ring of 6 (global order on)", 5983)?);
    eprintln!("[mrp-bench] {}", rows[1].name);
    // Two rings of three and a LAN gateway (node 7 of both).
    let mut procs = Procs::default();
    let dir = root.join("bridged");
    let mut r0 = mrp_ring(bins(), 0, &[1, 2, 3], Some(7), 5991, true, &dir.join("r0"));
    let mut r1 = mrp_ring(bins(), 1, &[4, 5, 6], Some(7), 5993, true, &dir.join("r1"));
    for i in [1, 2, 3] {
        let (argv, log) = r0.node_command(i);
        procs.spawn(&argv, &log)?;
    }
    for i in [4, 5, 6] {
        let (argv, log) = r1.node_command(i);
        procs.spawn(&argv, &log)?;
    }
    let addr = "127.0.0.1:9519";
    std::fs::write(
        dir.join("bridge.conf"),
        format!("bridge {{\n    ring: r0/corosync.conf\n    ring: r1/corosync.conf\n    nodeid: 7\n    metrics: {addr}\n}}\n"),
    )?;
    let gw = vec![
        gateway_bin().display().to_string(),
        "bridge".into(),
        "-c".into(),
        dir.join("bridge.conf").display().to_string(),
    ];
    procs.spawn(&gw, &dir.join("gateway.log"))?;
    wait_members(&r0, &[1, 2, 3], &[1, 2, 3, 7], Duration::from_secs(30))
        .map_err(anyhow::Error::msg)?;
    wait_members(&r1, &[4, 5, 6], &[4, 5, 6, 7], Duration::from_secs(30))
        .map_err(anyhow::Error::msg)?;
    let fwd = |g: &'static str| {
        move || {
            metrics_here(addr).is_some_and(|m| {
                (0..2).all(|r| {
                    m.contains(&format!(
                        "totem_mrp_bridge_group{{ring=\"{r}\",group=\"{g}\",members=\"here\"}} 1"
                    ))
                })
            })
        }
    };
    let rx: Vec<At> = vec![(&r0, 2), (&r0, 3), (&r1, 5), (&r1, 6)];
    let t = measure(
        &mut procs,
        &rx,
        &[(&r0, 1), (&r1, 4)],
        "t",
        0,
        cli,
        &fwd("t"),
    )?;
    let l = measure(&mut procs, &rx, &[(&r0, 1)], "l", cli.rate, cli, &fwd("l"))?;
    let (m, mb, _, _) = figures(&t);
    let (_, _, p50, p99) = figures(&l);
    rows.push(Row {
        name: "two rings of 3 + LAN gateway".into(),
        tput: (m, mb),
        lat: (p50, p99),
    });
    // The latency test's sender is on ring 0: its ring's receivers wait for ring 1 to move
    // past the stamp (ring 0, ring 1, ring 0 again), the far ring's for ring 1 to order it.
    for (name, part) in [
        ("  latency seen on the sender's ring", &l[..2]),
        ("  latency seen on the far ring", &l[2..]),
    ] {
        let (_, _, p50, p99) = figures(part);
        rows.push(Row {
            name: name.into(),
            tput: (f64::NAN, f64::NAN),
            lat: (p50, p99),
        });
    }
    eprintln!("[mrp-bench] {}", rows[2].name);
    Ok(rows)
}

/// Goodput across the emulated WAN: site A's node 1 sends flat out, site B's nodes 5 and 6
/// receive.
fn wan_goodput(cli: &Cli, root: &Path, loss: u32) -> anyhow::Result<f64> {
    let sites = Sites::new("mrpb", "100mbit", loss).map_err(anyhow::Error::msg)?;
    let mut procs = Procs::default();
    let dir = root.join(format!("wan{loss}"));
    let mut r0 = mrp_ring(bins(), 0, &[1, 2, 3], Some(7), 5951, true, &dir.join("a"));
    let mut r1 = mrp_ring(bins(), 1, &[4, 5, 6], Some(8), 5961, true, &dir.join("b"));
    let key = dir.join("authkey");
    std::fs::write(
        &key,
        (0..128u8).map(|b| b.wrapping_mul(29)).collect::<Vec<_>>(),
    )?;
    let addr = "127.0.0.1:9520";
    for (site, wan, nodeid, d) in [
        (0, "listen: 203.0.113.1:7700", 7, "a"),
        (1, "peer: 127.0.0.1:7701", 8, "b"),
    ] {
        std::fs::write(
            dir.join(format!("bridge{site}.conf")),
            format!("bridge {{\n    ring: {d}/corosync.conf\n    nodeid: {nodeid}\n    metrics: {addr}\n    wan {{\n        {wan}\n        key: authkey\n    }}\n}}\n"),
        )?;
    }
    for i in [1, 2, 3] {
        let (argv, log) = r0.node_command(i);
        procs.spawn(&sites.argv(0, argv), &log)?;
    }
    for i in [4, 5, 6] {
        let (argv, log) = r1.node_command(i);
        procs.spawn(&sites.argv(1, argv), &log)?;
    }
    let emu = bins()
        .node
        .with_file_name("totem-wan-emu")
        .display()
        .to_string();
    let emu = vec![
        emu,
        "--listen".into(),
        "127.0.0.1:7701".into(),
        "--upstream".into(),
        "203.0.113.1:7700".into(),
        "--delay-ms".into(),
        "25".into(),
    ];
    procs.spawn(&sites.argv(1, emu), &dir.join("emu.log"))?;
    for site in 0..2 {
        let gw = vec![
            gateway_bin().display().to_string(),
            "bridge".into(),
            "-c".into(),
            dir.join(format!("bridge{site}.conf")).display().to_string(),
        ];
        procs.spawn(&sites.argv(site, gw), &dir.join(format!("gw{site}.log")))?;
    }
    wait_members(&r0, &[1, 2, 3], &[1, 2, 3, 7], Duration::from_secs(30))
        .map_err(anyhow::Error::msg)?;
    wait_members(&r1, &[4, 5, 6], &[4, 5, 6, 8], Duration::from_secs(30))
        .map_err(anyhow::Error::msg)?;
    let gwb = gateway_bin().display().to_string();
    let ready = || {
        (0..2).all(|s| {
            sites
                .metrics(s, &gwb, addr)
                .contains("group=\"g\",members=\"here\"} 1")
        })
    };
    let big = Cli {
        secs: cli.secs,
        size: 8192,
        rate: 0,
        wan: true,
    };
    // Receivers on both sites (the group needs members on both to be forwarded).
    let rx: Vec<At> = vec![(&r1, 5), (&r1, 6), (&r0, 2)];
    let r = measure(&mut procs, &rx, &[(&r0, 1)], "g", 0, &big, &ready)?;
    let far: Vec<LoadResult> = r.into_iter().take(2).collect();
    drop(procs);
    Ok(figures(&far).1)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let tmp = tempfile::tempdir()?;
    let t0 = Instant::now();
    let rows = lan_setups(&cli, tmp.path())?;
    println!(
        "# multiple-ring bridge cost ({} s per test, {} B messages; latency at {} msg/s)",
        cli.secs, cli.size, cli.rate
    );
    println!(
        "{:<36} {:>10} {:>8} {:>9} {:>9}",
        "setup", "msgs/s", "MB/s", "p50_us", "p99_us"
    );
    for r in &rows {
        if r.tput.0.is_nan() {
            println!(
                "{:<36} {:>10} {:>8} {:>9.0} {:>9.0}",
                r.name, "", "", r.lat.0, r.lat.1
            );
            continue;
        }
        println!(
            "{:<36} {:>10.0} {:>8.2} {:>9.0} {:>9.0}",
            r.name, r.tput.0, r.tput.1, r.lat.0, r.lat.1
        );
    }
    let (base, hop) = (&rows[0], &rows[2]);
    println!(
        "gateway hop: {:.0} % of one ring's throughput (target >= 90 %), p50 {:+.0} us (target <= +100 us)",
        100.0 * hop.tput.0 / base.tput.0.max(1.0),
        hop.lat.0 - base.lat.0
    );
    if cli.wan {
        for loss in [0, 1] {
            let g = wan_goodput(&cli, tmp.path(), loss)?;
            println!(
                "WAN 100 Mbit/s, 50 ms RTT, {loss} % loss: goodput {g:.2} MB/s of 12.50 ({:.0} %)",
                100.0 * g / 12.5
            );
        }
    }
    eprintln!("[mrp-bench] done in {:?}", t0.elapsed());
    Ok(())
}
