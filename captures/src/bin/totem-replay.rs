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
    /// Membership timeline, token rotation, retransmits, flow control and EVS checks of one
    /// capture, with a verdict (exit 1 when a check fails).
    Check {
        /// Capture file (pcap or pcapng).
        file: PathBuf,
        /// corosync authkey file (default: the sibling `<prefix>.authkey`).
        #[arg(long)]
        key: Option<PathBuf>,
        /// knet crypto settings MODEL:CIPHER:HASH (default: the sibling `<prefix>.conf`).
        #[arg(long, value_parser = parse_knet_crypto)]
        knet_crypto: Option<KnetCryptoConfig>,
        /// The report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Also draw membership and token rotation as an SVG file.
        #[arg(long, value_name = "OUT")]
        svg: Option<PathBuf>,
        /// Shortest gap in token circulation counted as a token loss, in ms (default: half
        /// the token timeout from the sibling corosync.conf, else corosync's default).
        #[arg(long, value_name = "MS")]
        token_gap: Option<u64>,
    },
    /// Differential replay: our engine in the place of node N, fed what reached N, its
    /// membership decisions compared with N's (exit 1 when any differs).
    Engine {
        /// Capture file (pcap or pcapng).
        file: PathBuf,
        /// The node to replay (its nodeid).
        #[arg(long)]
        node: u32,
        /// corosync authkey file (default: the sibling `<prefix>.authkey`).
        #[arg(long)]
        key: Option<PathBuf>,
        /// knet crypto settings MODEL:CIPHER:HASH (default: the sibling `<prefix>.conf`).
        #[arg(long, value_parser = parse_knet_crypto)]
        knet_crypto: Option<KnetCryptoConfig>,
    },
    /// Regression suite: every capture in DIR with a `<capture>.expect` file is checked
    /// against it; one line per capture, then `N passed, N failed` (exit 1 on a failure).
    Test {
        /// Folder of captures and expectation files.
        dir: PathBuf,
        /// Also write a JUnit XML report.
        #[arg(long, value_name = "OUT")]
        junit: Option<PathBuf>,
    },
    /// Put a capture's datagrams back on the wire (UDP), addresses rewritten, with the
    /// capture's timing scaled by --speed (0: back to back). Ends `sent=N bytes=B skipped=S`.
    Send {
        /// Capture file (pcap or pcapng).
        file: PathBuf,
        /// Address rewrite OLD=NEW (IP or IP:PORT each side, repeatable). Datagrams whose
        /// destination no map covers are skipped; a mapped source is bound to its NEW address.
        #[arg(long = "map", value_name = "OLD=NEW", required = true)]
        maps: Vec<totem_captures::send::Map>,
        /// Time scale: 2 plays twice as fast, 0 sends back to back.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Allow destinations outside loopback (127.0.0.0/8, ::1).
        #[arg(long)]
        allow_remote: bool,
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
        Command::Check {
            file,
            key,
            knet_crypto,
            json,
            svg,
            token_gap,
        } => {
            let keys = keys(&file, &key, knet_crypto)?;
            let t = totem_captures::suite::analyse(&file, &keys, &filter, token_gap)?;
            if json {
                println!("{}", t.json());
            } else {
                print!("{}", t.text());
            }
            if let Some(out) = svg {
                let title = file
                    .file_name()
                    .map(|f| f.to_string_lossy().to_string())
                    .unwrap_or_default();
                std::fs::write(&out, totem_captures::svg::render(&t, &title))
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            if !t.passed() {
                let failed: Vec<&str> = t
                    .checks
                    .iter()
                    .filter(|c| !c.passed)
                    .map(|c| c.name)
                    .collect();
                eprintln!(
                    "totem-replay: {}: checks failed: {}",
                    file.display(),
                    failed.join(", ")
                );
            }
            Ok(t.passed())
        }
        Command::Engine {
            file,
            node,
            key,
            knet_crypto,
        } => {
            let keys = keys(&file, &key, knet_crypto)?;
            let story = totem_captures::story::read_story(&file, &keys, &filter)
                .with_context(|| format!("reading {}", file.display()))?;
            let r = totem_captures::differential::replay(Some(&file), &story, node)?;
            if let Some(s) = &r.seed {
                println!(
                    "seed: ring {} members {:?} (before frame {}, not compared)",
                    s.ring,
                    s.members,
                    r.start_frame.map_or("-".into(), |f| f.to_string())
                );
            }
            for c in &r.rings {
                if c.differences.is_empty() {
                    let d = c.capture.as_ref().expect("same rings have both sides");
                    println!(
                        "same: ring {} members {:?} (frame {})",
                        d.ring, d.members, d.frame
                    );
                }
            }
            for line in r.difference_lines() {
                println!("{line}");
            }
            if !r.refused.is_empty() {
                let by: Vec<String> = r.refused.iter().map(|(k, n)| format!("{k}={n}")).collect();
                println!("refused by our engine: {}", by.join(" "));
            }
            if r.cut_off > 0 {
                println!(
                    "not fed: {} datagrams to node {node} while its link was down ({})",
                    r.cut_off,
                    file.with_extension("log").display()
                );
            }
            if r.foreign > 0 {
                println!(
                    "not fed: {} datagrams of another generation than node {node}'s (its transport rejects them)",
                    r.foreign
                );
            }
            if r.unreachable > 0 {
                println!(
                    "not fed: {} knet datagrams from hosts node {node}'s knet did not have reachable yet",
                    r.unreachable
                );
            }
            println!("{}", r.summary_line());
            Ok(r.differ() == 0)
        }
        Command::Send {
            file,
            maps,
            speed,
            allow_remote,
        } => {
            if !(speed >= 0.0 && speed.is_finite()) {
                anyhow::bail!("--speed {speed}: must be a finite number >= 0");
            }
            let (datagrams, _) =
                read_udp(&file, &filter).with_context(|| format!("reading {}", file.display()))?;
            let (plan, skipped) = totem_captures::send::plan(&datagrams, &maps, allow_remote)?;
            let sent = totem_captures::send::send(&plan, speed)?;
            println!(
                "sent={} bytes={} skipped={skipped}",
                sent.datagrams, sent.bytes
            );
            Ok(true)
        }
        Command::Test { dir, junit } => {
            use totem_captures::suite;
            let cases = suite::cases(&dir).with_context(|| format!("reading {}", dir.display()))?;
            if cases.is_empty() {
                anyhow::bail!("{}: no capture with a .expect file", dir.display());
            }
            let mut results = Vec::new();
            for c in &cases {
                let r = suite::run_case(c, &filter);
                if r.failures.is_empty() {
                    println!("ok   {} ({:.2} s)", r.name, r.seconds);
                } else {
                    println!("FAIL {}: {}", r.name, r.failures.join("; "));
                }
                results.push(r);
            }
            let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
            println!("{} passed, {} failed", results.len() - failed, failed);
            if let Some(out) = junit {
                std::fs::write(&out, suite::junit(&dir.display().to_string(), &results))
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            Ok(failed == 0)
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
