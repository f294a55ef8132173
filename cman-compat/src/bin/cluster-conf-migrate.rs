//! Migrates a cman cluster.conf to corosync.conf: writes the corosync.conf to stdout (or
//! `--output`) and the report of what did not carry over as is to stderr (or `--report`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use cman_compat::migrate::{migrate, MigrateOptions};

/// cluster.conf (cman XML) to corosync.conf migration.
#[derive(Parser, Debug)]
#[command(name = "cluster-conf-migrate")]
struct Args {
    /// cluster.conf to read.
    #[arg(default_value = "/etc/cluster/cluster.conf")]
    input: PathBuf,
    /// Where to write corosync.conf (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Where to write the report (default: standard error).
    #[arg(short, long)]
    report: Option<PathBuf>,
    /// corosync-qnetd server for a migrated quorum disk.
    #[arg(long)]
    qnetd_host: Option<String>,
}

fn main() -> ExitCode {
    totem_log::init("info");
    let args = Args::parse();
    let xml = match std::fs::read_to_string(&args.input) {
        Ok(x) => x,
        Err(e) => {
            eprintln!(
                "cluster-conf-migrate: cannot read {}: {e}",
                args.input.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let m = match migrate(
        &xml,
        &MigrateOptions {
            qnetd_host: args.qnetd_host,
        },
    ) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cluster-conf-migrate: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        "migrated cluster {}: {} nodes, {} report items",
        m.cluster.name,
        m.cluster.nodes.len(),
        m.report.items.len()
    );
    let write = |p: &Option<PathBuf>, text: &str, to_stderr: bool| -> bool {
        match p {
            Some(p) => match std::fs::write(p, text) {
                Ok(()) => true,
                Err(e) => {
                    eprintln!("cluster-conf-migrate: cannot write {}: {e}", p.display());
                    false
                }
            },
            None if to_stderr => {
                eprint!("{text}");
                true
            }
            None => {
                print!("{text}");
                true
            }
        }
    };
    if !write(&args.output, &m.corosync_conf, false)
        || !write(&args.report, &m.report.render(), true)
    {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
