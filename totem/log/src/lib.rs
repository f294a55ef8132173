//! The logging set-up every binary of the workspace shares: events on stderr, the filter
//! from `RUST_LOG` (else a per-binary default), and ANSI colour only when stderr is a
//! terminal, so that logs redirected to a file or captured by a test carry no escape codes.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Whether log output on stderr may be coloured (stderr is a terminal).
pub fn ansi() -> bool {
    std::io::stderr().is_terminal()
}

/// `RUST_LOG` if it is set and valid, else `default` (e.g. `"warn"`, `"info"`).
pub fn env_filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// Installs the global subscriber: stderr, [`env_filter`]`(default)`, colour per [`ansi`].
/// A second call (a subscriber is already set) does nothing.
pub fn init(default: &str) {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi())
        .with_env_filter(env_filter(default))
        .try_init();
}
