//! Runs one Totem node from a corosync.conf, or prints a running node's status.
//!
//! `totem-node -c corosync.conf [--generation g3] [--nodeid N] [--control PATH]`
//! `totem-node status [--control PATH] [--json]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use totem::control;
use totem::cpg::Cpg;
use totem::node_config::{self, LoggingConfig, Overrides};

#[derive(Parser, Debug)]
#[command(
    name = "totem-node",
    about = "Run a Totem node (udpu/udp) from a corosync.conf"
)]
struct Cli {
    /// corosync.conf to run.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Wire generation: g1 (openais/corosync 1.x), g2 (corosync 2.x) or g3 (corosync 3.x).
    #[arg(long, value_parser = node_config::parse_generation)]
    generation: Option<totem_wire::Generation>,
    /// Our nodelist entry, instead of matching a local address.
    #[arg(long)]
    nodeid: Option<u32>,
    /// Control socket.
    #[arg(long, default_value = control::DEFAULT_PATH)]
    control: PathBuf,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print members, ring id, generation, state and counters of a running node.
    Status {
        #[arg(long, default_value = control::DEFAULT_PATH)]
        control: PathBuf,
        /// Print the raw JSON reply (also what `cman_tool --node-status` reads).
        #[arg(long)]
        json: bool,
    },
}

fn init_logging(l: &LoggingConfig) -> Result<(), String> {
    let level = if l.debug { "debug" } else { "info" };
    let b = tracing_subscriber::fmt().with_env_filter(totem_log::env_filter(level));
    match (&l.logfile, l.to_stderr) {
        (Some(path), false) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("logging.logfile {}: {e}", path.display()))?;
            b.with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .init();
        }
        // Colour only on a terminal: journald, files and test captures get plain text.
        _ => b
            .with_ansi(totem_log::ansi())
            .with_writer(std::io::stderr)
            .init(),
    }
    Ok(())
}

/// Printing into a closed pipe (`totem-node status | head`) ends the process quietly, as
/// for any Unix tool, instead of panicking in `println!`.
fn default_sigpipe() {
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    default_sigpipe();
    let cli = Cli::parse();
    // Two worker threads by default. TOTEM_NODE_THREADS=1 selects a current-thread runtime:
    // the engine, CPG service and control sessions hand work to each other constantly and
    // cross-thread wakeups cost more than they parallelize (totem-bench, perf: ~5 % more
    // throughput), but it is not the default until the live interop tests have been run
    // under load with it (one steady-ring test failed once with it on a loaded machine).
    let threads = std::env::var("TOTEM_NODE_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(2);
    let built = if threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let rt = match built {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("totem-node: cannot start runtime: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(Cmd::Status { control, json }) = cli.cmd {
        return rt.block_on(status(control, json));
    }
    let Some(path) = cli.config else {
        eprintln!("totem-node: -c corosync.conf is required (or use `totem-node status`)");
        return ExitCode::from(2);
    };
    let cfg = match node_config::load(
        &path,
        Overrides {
            generation: cli.generation,
            nodeid: cli.nodeid,
        },
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("totem-node: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    if let Err(e) = init_logging(&cfg.logging) {
        eprintln!("totem-node: {e}");
        return ExitCode::from(2);
    }
    rt.block_on(run(cfg, cli.control))
}

async fn run(cfg: node_config::NodeConfig, control_path: PathBuf) -> ExitCode {
    for s in &cfg.ignored {
        tracing::info!(section = %s, "section not used by totem-node");
    }
    if !cfg.quorum_ignored.is_empty() {
        tracing::warn!(
            keys = %cfg.quorum_ignored.join(", "),
            "quorum keys not used by totem-node (ignored, as corosync ignores keys it does not know)"
        );
    }
    match &cfg.quorum {
        Some(q) => tracing::info!(options = ?q, "votequorum configured"),
        None if cfg.generation != totem_wire::Generation::G1 => tracing::info!(
            "no quorum provider configured: no votequorum (the node counts as quorate, as corosync)"
        ),
        None => {}
    }
    let opts = totem::cpg::ExecOptions::from_config(&cfg);
    let allow_downscale = cfg.quorum.as_ref().is_some_and(|q| q.allow_downscale);
    let watch = Box::new(totem::cpg::CfgRekeyWatch::new(cfg.generation));
    let (node, events, task) = match totem::driver::spawn_watched(cfg, Some(watch)) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("totem-node: {e}");
            return ExitCode::from(1);
        }
    };
    let cpg = match Cpg::start_with(node.clone(), events, opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("totem-node: {e}");
            return ExitCode::from(1);
        }
    };
    let exec = cpg.clone();
    let server = match control::serve(&control_path, node.clone(), cpg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("totem-node: control socket {}: {e}", control_path.display());
            let _ = node.leave().await;
            return ExitCode::from(1);
        }
    };
    tracing::info!(control = %control_path.display(), "control socket ready");
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("totem-node: signal handler: {e}");
            return ExitCode::from(1);
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt: leaving"),
        _ = term.recv() => tracing::info!("terminate: leaving"),
        _ = task => {
            tracing::error!("node task ended");
            return ExitCode::from(1);
        }
    }
    if allow_downscale {
        let delivered = exec.quorum_leave(std::time::Duration::from_secs(2)).await;
        tracing::info!(delivered, "votequorum: leaving announced (allow_downscale)");
    }
    let _ = node.leave().await;
    server.abort();
    let _ = std::fs::remove_file(&control_path);
    ExitCode::SUCCESS
}

/// An optional address, or `-`.
fn addr_or_dash(a: Option<std::net::IpAddr>) -> String {
    a.map_or_else(|| "-".to_string(), |a| a.to_string())
}

async fn status(path: PathBuf, json: bool) -> ExitCode {
    let (s, groups, exec) = match control::status_full(&path).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("totem-node: cannot query node: {e}");
            return ExitCode::from(1);
        }
    };
    if json {
        match serde_json::to_string_pretty(&(s, groups, exec)) {
            Ok(t) => println!("{t}"),
            Err(e) => {
                eprintln!("totem-node: {e}");
                return ExitCode::from(1);
            }
        }
        return ExitCode::SUCCESS;
    }
    println!(
        "Local node ID {}, transport {}, generation {}",
        s.nodeid, s.transport, s.generation
    );
    match &s.knet {
        // Like corosync-cfgtool -s: every local link and each host's state on it.
        Some(k) => {
            for (lid, a) in &k.local {
                println!("LINK ID {lid} udp\n\taddr\t= {}\n\tstatus:", a.ip());
                println!("\t\tnodeid: {:>10}:\tlocalhost", s.nodeid);
                for l in k.links.iter().filter(|l| l.link == *lid) {
                    println!(
                        "\t\tnodeid: {:>10}:\t{} (latency {} us, pings {}/{} pongs {}/{}, data {}/{}, tx errors {})",
                        l.host,
                        if l.connected { "connected" } else { "disconnected" },
                        l.latency_us,
                        l.tx_ping,
                        l.rx_ping,
                        l.tx_pong,
                        l.rx_pong,
                        l.tx_data,
                        l.rx_data,
                        l.tx_errors,
                    );
                }
            }
            println!(
                "knet: crypto {}, data MTU {}, tx seq {}, delivered {}, duplicates {}, unreachable rx/tx {}/{}, not for us {}, seal errors {}, compressed refused {}",
                k.crypto,
                k.data_mtu,
                k.tx_seq,
                k.stats.rx_delivered,
                k.stats.rx_duplicate,
                k.stats.rx_unreachable,
                k.stats.tx_unreachable,
                k.rx_not_for_us,
                k.stats.rx_open_errors,
                k.stats.rx_compressed,
            );
            if k.crypto_slots.iter().any(|c| c.loaded) || k.rekey.loads > 0 {
                for (i, c) in k.crypto_slots.iter().enumerate() {
                    println!(
                        "knet crypto config {}: {}{}, sealed {}, opened {}",
                        i + 1,
                        if c.loaded { "loaded" } else { "empty" },
                        if usize::from(k.crypto_in_use) == i + 1 {
                            ", in use"
                        } else {
                            ""
                        },
                        c.sealed,
                        c.opened,
                    );
                }
                println!(
                    "knet key changes: index {}, loads {}, activations {}, cleanups {}, unchanged {}, errors {}",
                    k.rekey.index, k.rekey.loads, k.rekey.activations, k.rekey.cleanups, k.rekey.unchanged, k.rekey.errors,
                );
            }
        }
        None => match &s.rrp {
            // Like corosync 2.x's `corosync-cfgtool -s`: every ring with its status line.
            Some(r) => {
                println!("rrp_mode {}", r.mode);
                for ring in &r.rings {
                    println!(
                        "RING ID {}\n\tid\t= {}\n\tstatus\t= {}",
                        ring.ring,
                        addr_or_dash(ring.id),
                        ring.status
                    );
                }
                let st = &r.stats;
                println!(
                    "rrp: tokens rx {}/{}, other rx {}/{}, problems {}/{}, marked faulty {}/{}, recovered {}/{}, tokens by expiry {}, ring tests sent {} forwarded {} refused {} untargeted {}",
                    st.token_rx[0], st.token_rx[1], st.mcast_rx[0], st.mcast_rx[1],
                    st.problems[0], st.problems[1], st.marked_faulty[0], st.marked_faulty[1],
                    st.recovered[0], st.recovered[1], st.tokens_expired,
                    st.ring_tests_sent, st.ring_tests_forwarded, st.ring_tests_refused,
                    st.ring_tests_untargeted,
                );
            }
            None => {
                if let Some(a) = s.local_addr {
                    println!("LINK ID 0\n\taddr\t= {}", a.ip());
                }
            }
        },
    }
    println!("Ring ID:          {}.{:x}", s.ring_rep, s.ring_seq);
    match &s.secure {
        None => println!("Secure layer:     off"),
        Some(sec) => {
            let st = &sec.stats;
            let slot = |k: &Option<totem::driver::KeySlotStatus>| {
                k.as_ref()
                    .map(|k| format!("{} ({})", k.key_id(), k.role))
                    .unwrap_or_else(|| "-".into())
            };
            println!(
                "Secure layer:     on, epoch {}, key {}, fingerprint {}",
                sec.active
                    .as_ref()
                    .map(|k| k.epoch.to_string())
                    .unwrap_or_else(|| "-".into()),
                slot(&sec.active),
                sec.fingerprint
            );
            println!(
                "    second slot {}, pending {}, superseded {}",
                slot(&sec.other),
                slot(&sec.pending),
                sec.superseded
            );
            println!(
                "    rekeys: agreements {}, activations {}, refreshes started {}",
                st.agreements, st.activations, st.refreshes_started
            );
            println!(
                "    rejections: stale_epoch {}, unknown_key {}, auth_failed {}, replay {}, malformed {}, switch_rejections {}",
                st.stale_epoch, st.unknown_key, st.auth_failed, st.replay, st.malformed, st.switch_rejections
            );
            println!(
                "    sealed cluster/group {}/{}, opened cluster/group {}/{}, key-agreement errors {}",
                st.sealed_cluster, st.sealed_group, st.opened_cluster, st.opened_group, st.ka_errors
            );
        }
    }
    println!("State:            {}", s.state);
    println!(
        "Backlog:          {} (driver) + {} (engine)",
        s.backlog, s.pending
    );
    println!();
    println!("Membership information");
    println!("----------------------");
    println!("    Nodeid      Name");
    for m in &s.members {
        let addr = m
            .addr
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "?".into());
        println!(
            "{:>10}      {}{}",
            m.nodeid,
            addr,
            if m.local { " (local)" } else { "" }
        );
    }
    if let Some(x) = &exec {
        println!();
        println!("Synchronization");
        println!("---------------");
        println!(
            "    in progress: {}, services {:?}, held requests {}",
            x.sync_in_progress, x.sync_services, x.held_requests
        );
        if let Some(st) = &x.sync {
            println!(
                "    rounds started {} completed {} aborted {}, stale messages {}",
                st.rounds_started, st.rounds_completed, st.rounds_aborted, st.stale_messages
            );
        }
        if let Some(m) = &x.mrp {
            println!();
            println!("Multiple-ring order (ring {})", m.ring);
            println!("---------------------------");
            println!(
                "    synced: {}, delivered {}, waiting {}, own in flight {}",
                m.synced, m.delivered, m.waiting, m.in_flight
            );
            for (origin, path) in &m.origins {
                let via: Vec<String> = path.iter().map(|(r, n)| format!("{r}:{n}")).collect();
                println!(
                    "    ring {origin}{}",
                    if via.is_empty() {
                        " (this ring)".to_string()
                    } else {
                        format!(" via gateway {}", via.join(" -> "))
                    }
                );
            }
            let refused: Vec<String> = m.refused.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!(
                "    refused: {}",
                if refused.is_empty() {
                    "none".into()
                } else {
                    refused.join(" ")
                }
            );
        }
        if x.quorum.is_none() && s.generation != "G1" {
            println!();
            println!(
                "Quorum provider:  not configured (no votequorum; quorate as corosync without one)"
            );
        }
        if let Some(q) = &x.quorum {
            println!();
            println!("Votequorum information");
            println!("----------------------");
            println!("Expected votes:   {}", q.expected_votes);
            println!("Highest expected: {}", q.highest_expected);
            println!("Total votes:      {}", q.total_votes);
            println!(
                "Quorum:           {}{}",
                q.quorum,
                if q.quorate { "" } else { " Activity blocked" }
            );
            println!("Quorate:          {}", if q.quorate { "Yes" } else { "No" });
            println!("Flags:            {}", q.flag_words().join(" "));
            println!();
            println!("    Nodeid      Votes    Expected  State");
            for (id, votes, exp, state) in &q.nodes {
                let st = match state {
                    1 => "member",
                    2 => "dead",
                    3 => "leaving",
                    _ => "?",
                };
                println!(
                    "{id:>10} {votes:>10} {exp:>11}  {st}{}",
                    if *id == s.nodeid { " (local)" } else { "" }
                );
            }
        }
    }
    if !groups.is_empty() {
        println!();
        println!("CPG groups");
        println!("----------");
        for g in &groups {
            let m: Vec<String> = g
                .members
                .iter()
                .map(|p| format!("{}:{}", p.nodeid, p.pid))
                .collect();
            println!("    {} [{}]", g.group, m.join(", "));
        }
    }
    println!();
    println!("Counters");
    println!("--------");
    let d = &s.driver;
    for (k, v) in [
        ("rx_datagrams", d.rx_datagrams),
        ("tx_datagrams", d.tx_datagrams),
        ("rx_unlisted", d.rx_unlisted),
        ("rx_envelope_errors", d.rx_envelope_errors),
        ("rx_malformed", d.rx_malformed),
        ("rx_errors", d.rx_errors),
        ("tx_errors", d.tx_errors),
        ("tx_unroutable", d.tx_unroutable),
        ("submit_too_large", d.submit_too_large),
        ("submit_held", d.submit_held),
        ("log_suppressed", d.log_suppressed),
    ] {
        println!("    {k:<24}{v}");
    }
    if let Some(k) = &s.knet {
        for (key, v) in [
            ("knet_rx_open_errors", k.stats.rx_open_errors),
            ("knet_rx_malformed", k.stats.rx_malformed),
            ("knet_rx_unknown_host", k.stats.rx_unknown_host),
            ("knet_rx_wrong_link", k.stats.rx_wrong_link),
            ("knet_rx_defrag_invalid", k.stats.rx_defrag_invalid),
            ("knet_rx_compressed", k.stats.rx_compressed),
            ("knet_log_suppressed", k.stats.log_suppressed),
        ] {
            println!("    {key:<24}{v}");
        }
    }
    if let Some(c) = &s.control {
        for (k, v) in [
            ("control_connections", c.connections),
            ("control_sessions_open", c.sessions_open),
            ("requests_too_long", c.requests_too_long),
            ("bad_requests", c.bad_requests),
            ("slow_client_disconnects", c.slow_client_disconnects),
            ("queued_bytes", c.queued_bytes),
        ] {
            println!("    {k:<24}{v}");
        }
    }
    for (k, v) in &s.engine {
        println!("    {k:<24}{v}");
    }
    ExitCode::SUCCESS
}
