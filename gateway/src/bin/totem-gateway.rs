//! totem-gateway: lets corosync 3 nodes join a corosync 2 ring during a rolling upgrade.

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Rolling-upgrade gateway between corosync 2.x and 3.x"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway beside this node's corosync 3.
    Run {
        /// The gateway configuration.
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

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run { config } => {
            let text = std::fs::read_to_string(&config)
                .with_context(|| format!("reading {}", config.display()))?;
            let conf = totem_gateway::conf::GatewayConf::parse(&text)
                .with_context(|| format!("{}", config.display()))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stats, ds) = rt.block_on(async {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                let stop = async move {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                };
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
