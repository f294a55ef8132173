//! totem-gateway: lets corosync 3 nodes join a corosync 2 ring during a rolling upgrade.

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Gateways: rolling upgrade between corosync 2.x and 3.x, and bridges between rings (the Totem multiple-ring protocol)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show a running gateway's counters (from its metrics port).
    Status {
        /// The gateway's metrics address.
        #[arg(long, default_value = "127.0.0.1:9405")]
        metrics: std::net::SocketAddr,
        /// Print the raw Prometheus page.
        #[arg(long)]
        raw: bool,
    },
    /// Write the files one upgrade step needs on node N (or, with --final, the direct
    /// corosync 3 configuration once no 2.x node is left), and print the runbook.
    Plan {
        /// The cluster's corosync 2.x corosync.conf.
        #[arg(long = "cluster-conf")]
        cluster_conf: std::path::PathBuf,
        /// The node being upgraded (its nodeid).
        #[arg(long)]
        node: u32,
        /// Where to write corosync.conf, gateway.conf, prepare.sh and the unit file.
        #[arg(long)]
        out: std::path::PathBuf,
        /// The direct corosync 3 configuration (knet), for after the last 2.x node.
        #[arg(long = "final")]
        final_: bool,
        /// Let corosync 3 reach its gateway over udpu instead of knet (no crypto between
        /// them: corosync 3 refuses crypto on udpu).
        #[arg(long, conflicts_with = "final_")]
        udpu: bool,
    },
    /// Run the gateway beside this node's corosync 3.
    Run {
        /// The gateway configuration.
        #[arg(short = 'c', long = "config")]
        config: std::path::PathBuf,
    },
    /// Bridge two rings of our nodes into one global order (a LAN gateway of the
    /// multiple-ring protocol: a member of both rings).
    Bridge {
        /// The bridge configuration (a `bridge { ring: FILE ... }` section).
        #[arg(short = 'c', long = "config")]
        config: std::path::PathBuf,
    },
}

fn main() {
    totem_log::init("info");
    if let Err(e) = real_main() {
        eprintln!("totem-gateway: {e:#}");
        std::process::exit(1);
    }
}

/// Resolves on SIGINT or SIGTERM (call inside the runtime).
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    })
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Status { metrics, raw } => {
            use std::io::{Read, Write};
            let mut s =
                std::net::TcpStream::connect_timeout(&metrics, std::time::Duration::from_secs(2))
                    .with_context(|| format!("no gateway answers on {metrics}"))?;
            s.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
            s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
            if raw {
                print!("{body}");
            } else if totem_gateway::bridge::metrics::is_bridge(body) {
                print!("{}", totem_gateway::bridge::metrics::summary(body));
            } else {
                print!("{}", totem_gateway::metrics::summary(body));
            }
            Ok(())
        }
        Cmd::Plan {
            cluster_conf,
            node,
            out,
            final_,
            udpu,
        } => {
            use totem_gateway::plan;
            let text = std::fs::read_to_string(&cluster_conf)
                .with_context(|| format!("reading {}", cluster_conf.display()))?;
            let c = plan::read_cluster(&text).with_context(|| {
                format!(
                    "{} cannot be upgraded through the gateway",
                    cluster_conf.display()
                )
            })?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let write = |name: &str, body: &str| {
                let p = out.join(name);
                std::fs::write(&p, body).with_context(|| format!("writing {}", p.display()))
            };
            if final_ {
                write("corosync.conf", &plan::final_conf(&c))?;
                println!(
                    "Final step: every node runs corosync 3. On each node in turn: stop corosync and its gateway,
  install {}/corosync.conf as /etc/corosync/corosync.conf, disable totem-gateway.service, start corosync.",
                    out.display()
                );
                return Ok(());
            }
            let bin = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "totem-gateway".into());
            let dir = out.display().to_string();
            let local = if udpu {
                plan::LocalTransport::Udpu
            } else {
                plan::LocalTransport::Knet
            };
            let s = plan::step(&c, node, local, &bin, &dir)?;
            write("corosync.conf", &s.corosync_conf)?;
            write("gateway.conf", &s.gateway_conf)?;
            write("prepare.sh", &s.prepare_sh)?;
            write("totem-gateway.service", &s.unit)?;
            print!("{}", s.runbook);
            Ok(())
        }
        Cmd::Bridge { config } => {
            use totem_gateway::bridge;
            let text = std::fs::read_to_string(&config)
                .with_context(|| format!("reading {}", config.display()))?;
            let base = config.parent().unwrap_or(std::path::Path::new("."));
            let conf = bridge::conf::BridgeConf::parse(&text, base)
                .with_context(|| format!("{}", config.display()))?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(async {
                let stop = stop_signal()?;
                bridge::run::run(conf, stop).await?;
                Ok::<_, anyhow::Error>(())
            })?;
            tracing::info!("bridge stopped");
            Ok(())
        }
        Cmd::Run { config } => {
            let text = std::fs::read_to_string(&config)
                .with_context(|| format!("reading {}", config.display()))?;
            let conf = totem_gateway::conf::GatewayConf::parse(&text)
                .with_context(|| format!("{}", config.display()))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stats, ds) = rt.block_on(async {
                let stop = stop_signal()?;
                Ok::<_, anyhow::Error>(totem_gateway::run::run(conf, stop).await?)
            })?;
            tracing::info!(
                refused = stats.refused_total(),
                datagrams = ds.datagrams,
                "gateway stopped"
            );
            Ok(())
        }
    }
}
