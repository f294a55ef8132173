//! A TCP relay that delays every byte by a fixed time in each direction: the propagation
//! delay of an emulated WAN for the live multiple-ring tests (the lab's kernel has no
//! netem; loss and rate limits are the kernel's, with nftables and tbf, on the link the
//! relay's upstream connection crosses).
//!
//! `totem-wan-emu --listen ADDR --upstream ADDR --delay-ms N`: every connection accepted on
//! ADDR gets its own upstream connection; closing either side closes both.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "totem-wan-emu",
    about = "TCP relay adding a fixed one-way delay"
)]
struct Cli {
    #[arg(long)]
    listen: SocketAddr,
    #[arg(long)]
    upstream: SocketAddr,
    /// One-way delay in milliseconds (each direction).
    #[arg(long, default_value_t = 25)]
    delay_ms: u64,
}

/// Copies `from` to `to`, each chunk released `delay` after it was read.
async fn delayed(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    // Bounded: at 100 Mbit/s and 25 ms, about 300 KiB are in flight; 4096 chunks of up to
    // 64 KiB is far more than a window.
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(4096);
    let writer = tokio::spawn(async move {
        while let Some((due, b)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let l = match TcpListener::bind(cli.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("totem-wan-emu: cannot listen on {}: {e}", cli.listen);
            return ExitCode::from(1);
        }
    };
    let delay = Duration::from_millis(cli.delay_ms);
    loop {
        let Ok((down, _)) = l.accept().await else {
            continue;
        };
        let upstream = cli.upstream;
        tokio::spawn(async move {
            let up =
                match tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(upstream))
                    .await
                {
                    Ok(Ok(s)) => s,
                    _ => return,
                };
            let _ = (down.set_nodelay(true), up.set_nodelay(true));
            let (dr, dw) = down.into_split();
            let (ur, uw) = up.into_split();
            let mut a = tokio::spawn(delayed(dr, uw, delay));
            let mut b = tokio::spawn(delayed(ur, dw, delay));
            // Either direction ending ends the connection.
            tokio::select! {
                _ = &mut a => {}
                _ = &mut b => {}
            }
            a.abort();
            b.abort();
        });
    }
}
