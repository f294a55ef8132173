//! The UDP header: ports and the length field, checked against the bytes the IP layer delivered.

use crate::malformed::{be16, Malformed};

const UDP_HEADER: usize = 8;

/// A UDP datagram split into ports and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Udp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

/// Parses the UDP header at the start of `data` (the whole IP payload).
pub(crate) fn parse(data: &[u8]) -> Result<Udp<'_>, Malformed> {
    const L: &str = "udp";
    let src_port = be16(data, 0, L)?;
    let dst_port = be16(data, 2, L)?;
    let length = usize::from(be16(data, 4, L)?);
    if length < UDP_HEADER {
        return Err(Malformed::new(
            L,
            4,
            format!("length {length} is below the 8-byte header"),
        ));
    }
    let payload = data.get(UDP_HEADER..length).ok_or_else(|| {
        Malformed::new(
            L,
            4,
            format!(
                "length {length} exceeds the {} bytes the IP layer carries",
                data.len()
            ),
        )
    })?;
    Ok(Udp {
        src_port,
        dst_port,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_payload() {
        let d = [0x14, 0x1d, 0x15, 0x1d, 0, 10, 0, 0, 0xAA, 0xBB, 0xCC];
        let u = parse(&d).unwrap();
        assert_eq!((u.src_port, u.dst_port), (5149, 5405));
        assert_eq!(u.payload, &[0xAA, 0xBB]);
    }

    #[test]
    fn bad_lengths() {
        assert!(parse(&[0, 1, 0, 2, 0, 7, 0, 0]).is_err());
        assert!(parse(&[0, 1, 0, 2, 0, 9, 0, 0]).is_err());
        assert!(parse(&[0, 1, 0, 2, 0]).is_err());
    }
}
