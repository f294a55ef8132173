//! The error a whole capture can fail with.

use std::path::PathBuf;

/// Why a capture file as a whole could not be read; malformed single frames are never errors.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be read from disk.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file that was being read.
        file: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes do not start with a pcap or pcapng header.
    #[error("{file}: not a pcap or pcapng capture: {reason}")]
    NotACapture {
        /// The file (or `<bytes>` for in-memory input).
        file: PathBuf,
        /// What was wrong with the header.
        reason: String,
    },
    /// A file-level structure (section or interface description) is broken, so later frames cannot be read.
    #[error("{file}: at frame {frame}: {reason}")]
    Structure {
        /// The file (or `<bytes>` for in-memory input).
        file: PathBuf,
        /// The 1-based number of the next frame that would have been read.
        frame: u64,
        /// What was wrong.
        reason: String,
    },
}
