//! `totem-keygen`: writes a cluster authkey (like `corosync-keygen`) or a node's Ed25519
//! identity key pair.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use totem_keygen::keyfile::{generate_authkey, identity_paths, write_key_file, KeyFileError};

/// Generate Totem cluster keys.
#[derive(Parser, Debug)]
#[command(name = "totem-keygen", version, about)]
struct Args {
    /// Authkey file to write (128 random bytes, mode 0400).
    #[arg(short = 'k', long = "key-file", default_value = "./authkey")]
    key_file: PathBuf,
    /// Write an Ed25519 identity key pair for this nodeid instead of an authkey.
    #[arg(long = "identity", value_name = "NODEID")]
    identity: Option<u32>,
    /// Directory for identity key files.
    #[arg(short = 'd', long = "dir", default_value = ".")]
    dir: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

fn run(args: &Args) -> Result<(), KeyFileError> {
    match args.identity {
        None => {
            let key = zeroize::Zeroizing::new(generate_authkey(&mut OsRng));
            write_key_file(&args.key_file, key.as_ref(), 0o400, args.force)?;
            tracing::info!(path = %args.key_file.display(), "wrote 128-byte cluster authkey");
        }
        Some(node) => {
            let (sec, publ) = identity_paths(&args.dir, node);
            if !args.force {
                for p in [&sec, &publ] {
                    if p.exists() {
                        return Err(KeyFileError::Exists(p.clone()));
                    }
                }
            }
            let sk = SigningKey::generate(&mut OsRng);
            write_key_file(&sec, sk.as_bytes(), 0o400, args.force)?;
            write_key_file(&publ, sk.verifying_key().as_bytes(), 0o444, args.force)?;
            tracing::info!(node, secret = %sec.display(), public = %publ.display(), "wrote identity key pair");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    totem_log::init("warn");
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("totem-keygen: {e}");
            ExitCode::FAILURE
        }
    }
}
