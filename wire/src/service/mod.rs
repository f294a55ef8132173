//! The service layer above totempg: the service header, service ids and each service's
//! exec messages (spec §6, §7, §9).
//!
//! Service structs are `aligned(8)` C structs whose holes and tails are uninitialised in the
//! senders; every pad is kept as raw bytes so that decode → emit gives back the same bytes.

pub mod cfg;
pub mod cmap;
pub mod cpg;
pub mod header;
pub mod ids;
pub mod message;
pub mod openais;
pub mod pload;
pub mod sync;
pub mod votequorum;

pub use header::{ResponseHeader, ServiceHeader, ServiceHeaderView};
pub use ids::{Service, ServiceTable};
pub use message::{AppMessage, ServiceMessage};

use crate::endian::{Endian, Reader};
use crate::error::{Error, Result};
use crate::generation::Generation;

/// Reads the service header of a message named `message` and returns a reader after it.
pub(crate) fn open<'a>(
    buf: &'a [u8],
    gen: Generation,
    endian: Endian,
    message: &'static str,
) -> Result<(ServiceHeader, Reader<'a>)> {
    let mut r = Reader::new(buf, endian, message);
    let h = ServiceHeader::read(&mut r, gen)?;
    Ok((h, r))
}

/// Checks that a fixed-size message has at least `need` bytes, so later reads cannot fail
/// half way with a misleading field name.
pub(crate) fn need(buf: &[u8], message: &'static str, need: usize) -> Result<()> {
    if buf.len() < need {
        return Err(Error::Truncated {
            message,
            field: "body",
            offset: 0,
            need,
            have: buf.len(),
        });
    }
    Ok(())
}

/// Byte strings in dumps: printable ASCII as is, the rest escaped.
pub(crate) fn show_bytes(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}
