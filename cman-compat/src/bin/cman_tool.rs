//! `cman_tool` compatible views: `cman_tool status` and `cman_tool nodes [-a] [-n NAME] [-F
//! FIELDS]`, printing what cman 3.x printed, from a JSON state snapshot (`--input FILE`, `-`
//! for stdin; see `cman_compat::cmantool::ToolInput`), or from a running totem node
//! (`totem-node status --json | cman_tool --node-status status`).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cman_compat::cmantool::{
    from_node_status_json, render_nodes, render_status, NodesOptions, ToolInput,
};

/// cman_tool compatible status views over a cman-compat state snapshot.
#[derive(Parser, Debug)]
#[command(name = "cman_tool")]
struct Args {
    /// State snapshot (JSON); `-` reads standard input.
    #[arg(short = 'i', long = "input", global = true, default_value = "-")]
    input: PathBuf,
    /// The input is `totem-node status --json` of a running node, not a snapshot.
    #[arg(long, global = true)]
    node_status: bool,
    /// Cluster name shown for a `--node-status` input (corosync.conf `totem.cluster_name`).
    #[arg(long, global = true, default_value = "totem")]
    cluster_name: String,
    #[command(subcommand)]
    op: Op,
}

#[derive(Subcommand, Debug)]
enum Op {
    /// Show local record of cluster status.
    Status,
    /// Show local record of cluster nodes.
    Nodes {
        /// Also show node address(es).
        #[arg(short = 'a')]
        addresses: bool,
        /// Only show this node (repeatable).
        #[arg(short = 'n')]
        names: Vec<String>,
        /// Format: comma-separated id,name,type,addr (no header).
        #[arg(short = 'F')]
        format: Option<String>,
    },
}

fn read_input(p: &PathBuf) -> Result<String, std::io::Error> {
    if p.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(p)
    }
}

fn main() -> ExitCode {
    totem_log::init("info");
    let args = Args::parse();
    let text = match read_input(&args.input) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("cannot read {}: {e}", args.input.display());
            eprintln!("cman_tool: cannot read {}: {e}", args.input.display());
            return ExitCode::FAILURE;
        }
    };
    let parsed = if args.node_status {
        from_node_status_json(&text, &args.cluster_name)
    } else {
        ToolInput::from_json(&text)
    };
    let input = match parsed {
        Ok(i) => i,
        Err(e) => {
            eprintln!("cman_tool: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = match args.op {
        Op::Status => render_status(&input),
        Op::Nodes {
            addresses,
            names,
            format,
        } => render_nodes(
            &input,
            &NodesOptions {
                addresses,
                names,
                format,
            },
        ),
    };
    print!("{out}");
    ExitCode::SUCCESS
}
