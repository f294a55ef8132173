//! cman's own protocols: cman 3.x on openais/corosync 1.x ([`openais`]: the 16-byte
//! `cl_protheader` and the 11 `CLUSTER_MSG_*` messages carried in totempg group "CMAN" of the
//! cman service, id 9) and the RHEL4 kernel cman ([`kernel`]: UDP port 6809, its own packet
//! header and the membership messages of port 1). Layouts follow the C structs of cluster.git
//! (`cman/daemon/cnxman-private.h`, `ais.c`, `commands.c`; `cman-kernel/src/cnxman-private.h`,
//! `membership.c`), natural alignment, no packing.

pub mod kernel;
pub mod openais;

use crate::endian::Reader;
use crate::error::{Error, Result};

/// Reads a NUL-terminated string that must end exactly at the end of the buffer; returns its
/// bytes without the NUL.
pub(crate) fn cstring_to_end<'a>(
    r: &mut Reader<'a>,
    message: &'static str,
    field: &'static str,
) -> Result<&'a [u8]> {
    let at = r.pos();
    let rest = r.rest();
    match rest.iter().position(|&b| b == 0) {
        Some(n) if n + 1 == rest.len() => Ok(&rest[..n]),
        Some(n) => Err(Error::Invalid {
            message,
            field,
            offset: at + n + 1,
            value: (rest.len() - n - 1) as u64,
        }),
        None => Err(Error::Truncated {
            message,
            field,
            offset: at + rest.len(),
            need: 1,
            have: 0,
        }),
    }
}

/// Text of a fixed-size, NUL-padded C char array (up to the first NUL, lossy UTF-8).
pub fn c_array_text(a: &[u8]) -> String {
    let end = a.iter().position(|&b| b == 0).unwrap_or(a.len());
    String::from_utf8_lossy(&a[..end]).into_owned()
}
