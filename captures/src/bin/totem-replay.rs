//! totem-replay: decode, dump and verify Totem traffic in packet captures.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use totem_captures::{dump, read_udp, verify, PortFilter};
use totem_wire::datagram::Keys;
use totem_wire::envelope::AuthKey;

#[derive(Parser)]
#[command(
    name = "totem-replay",
    version,
    about = "Decode, dump and verify corosync Totem traffic in pcap/pcapng captures"
)]
struct Cli {
    /// UDP ports that carry Totem (matched as source or destination).
    #[arg(long, value_delimiter = ',', default_values_t = [5405u16, 5404u16], global = true)]
    ports: Vec<u16>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print one decoded message per packet, down to the service messages.
    Dump {
        /// Capture file (pcap or pcapng).
        file: PathBuf,
        /// corosync authkey file for encrypted traffic (G1 secauth, G2 crypto).
        #[arg(long)]
        key: Option<PathBuf>,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Decode every Totem packet, re-encode it and compare byte for byte.
    Verify {
        /// Capture files (pcap or pcapng).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// corosync authkey file for encrypted traffic. Without it, a `<prefix>.authkey`
        /// next to a capture whose name starts with `<prefix>` is used for that capture.
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

fn keys(key: &Option<PathBuf>) -> anyhow::Result<Keys> {
    Ok(match key {
        None => Keys::none(),
        Some(path) => {
            let k = AuthKey::from_file(path)
                .with_context(|| format!("loading key {}", path.display()))?;
            Keys::with_authkey(k.as_bytes())
        }
    })
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    let filter = PortFilter {
        ports: cli.ports.clone(),
    };
    match cli.command {
        Command::Dump { file, key, json } => {
            let keys = keys(&key)?;
            let (datagrams, _) =
                read_udp(&file, &filter).with_context(|| format!("reading {}", file.display()))?;
            let name = file
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default();
            let mut layers = totem_captures::layers::DumpLayers::new(
                totem_captures::layers::table_for_file(&name),
            );
            let mut stdout = std::io::stdout().lock();
            use std::io::Write;
            for d in &datagrams {
                let decoded = dump::decode_for_dump(d, &keys);
                let line = if json {
                    format!("{}\n", dump::datagram_json(d, &decoded, &mut layers))
                } else {
                    format!("{}\n", dump::datagram_text(d, &decoded, &mut layers))
                };
                if stdout.write_all(line.as_bytes()).is_err() {
                    break; // reader went away (e.g. `| head`)
                }
            }
            Ok(true)
        }
        Command::Verify { files, key } => {
            let mut total = verify::Report::default();
            for (i, file) in files.iter().enumerate() {
                let key = key.clone().or_else(|| verify::sibling_authkey(file));
                let keys = keys(&key)?;
                let r = verify::verify_file(file, &keys, &filter)
                    .with_context(|| format!("reading {}", file.display()))?;
                eprintln!(
                    "[{}/{}] {}: {} {}",
                    i + 1,
                    files.len(),
                    file.display(),
                    r.summary_line(),
                    if r.passed() { "ok" } else { "FAILED" }
                );
                total.absorb(r);
            }
            for (file, f) in &total.failures {
                println!("error: {file}: frame {}: {}", f.frame, f.reason);
            }
            for (kind, n) in &total.by_kind {
                println!("verified {kind}: {n}");
            }
            println!(
                "service messages reassembled, decoded and re-encoded identically: {} from {} distinct mcasts ({} fragment chains broken by the capture's edges)",
                total.layers.messages, total.layers.mcasts, total.layers.discontinuities
            );
            for (kind, n) in &total.layers.by_kind {
                println!("  {kind}: {n}");
            }
            println!("{}", total.summary_line());
            Ok(total.passed())
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("totem-replay: {e:#}");
            ExitCode::from(2)
        }
    }
}
