//! totem-replay: decode, dump and verify Totem traffic in packet captures.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use totem_captures::{dump, read_udp, verify, PortFilter};
use totem_wire::datagram::Keys;
use totem_wire::envelope::KnetCryptoConfig;

#[derive(Parser)]
#[command(
    name = "totem-replay",
    version,
    about = "Decode, dump and verify corosync Totem traffic in pcap/pcapng captures",
    after_help = "Keys and knet crypto: --key names the authkey; without it, a `<prefix>.authkey` \
next to a capture whose file name starts with `<prefix>` is used (longest prefix wins). \
knet crypto (corosync 3 knet transport) is on when --knet-crypto says so, or else when a \
sibling `<prefix>.conf` (a corosync.conf) sets crypto_cipher/crypto_hash/secauth; the key \
file is then read whole (128..4096 bytes), as corosync 3 hands it to libknet. \
knet-fragmented data is reassembled per sender and sequence number and decoded."
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
        /// corosync authkey file for encrypted traffic (G1 secauth, G2 crypto, knet crypto).
        /// Without it, the sibling `<prefix>.authkey` is used.
        #[arg(long)]
        key: Option<PathBuf>,
        /// knet crypto settings MODEL:CIPHER:HASH (e.g. nss:aes256:sha256); without it, the
        /// sibling `<prefix>.conf` decides.
        #[arg(long, value_parser = parse_knet_crypto)]
        knet_crypto: Option<KnetCryptoConfig>,
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
        /// knet crypto settings MODEL:CIPHER:HASH (e.g. nss:aes256:sha256); without it, the
        /// sibling `<prefix>.conf` of each capture decides.
        #[arg(long, value_parser = parse_knet_crypto)]
        knet_crypto: Option<KnetCryptoConfig>,
    },
}

fn parse_knet_crypto(s: &str) -> Result<KnetCryptoConfig, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let [model, cipher, hash] = parts[..] else {
        return Err(format!("{s:?}: expected MODEL:CIPHER:HASH"));
    };
    let c = KnetCryptoConfig::from_names(model, cipher, hash).map_err(|e| e.to_string())?;
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

fn keys(
    file: &std::path::Path,
    key: &Option<PathBuf>,
    knet: Option<KnetCryptoConfig>,
) -> anyhow::Result<Keys> {
    totem_captures::knet::keys_for_capture(file, key.as_deref(), knet)
        .map_err(|e| anyhow::anyhow!("loading keys for {}: {e}", file.display()))
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    let filter = PortFilter {
        ports: cli.ports.clone(),
    };
    match cli.command {
        Command::Dump {
            file,
            key,
            knet_crypto,
            json,
        } => {
            let keys = keys(&file, &key, knet_crypto)?;
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
            let mut decoder = dump::DumpDecoder::new();
            for d in &datagrams {
                let decoded = decoder.decode(d, &keys);
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
        Command::Verify {
            files,
            key,
            knet_crypto,
        } => {
            let mut total = verify::Report::default();
            for (i, file) in files.iter().enumerate() {
                let keys = keys(file, &key, knet_crypto)?;
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
            if total.knet_reassembled > 0 {
                println!(
                    "Totem messages reassembled from knet fragments, decoded and re-encoded identically: {}",
                    total.knet_reassembled
                );
            }
            println!("{}", total.summary_line());
            Ok(total.passed())
        }
    }
}

fn main() -> ExitCode {
    totem_log::init("error");
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("totem-replay: {e:#}");
            ExitCode::from(2)
        }
    }
}
