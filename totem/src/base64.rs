//! Standard base64 (RFC 4648 §4, padded) through lookup tables, for bulk data on the
//! control socket; not constant-time, which the control socket's public data does not need.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const INVALID: u8 = 0xff;

const fn decode_table() -> [u8; 256] {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
}
static DECODE: [u8; 256] = decode_table();

/// A base64 text that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    /// The length is not a multiple of four.
    #[error("length {0} is not a multiple of 4")]
    Length(usize),
    /// A character outside the alphabet, or padding not at the end.
    #[error("invalid character {byte:#04x} at offset {offset}")]
    Character { byte: u8, offset: usize },
}

/// Appends the base64 of `data` to `out`.
pub fn encode_into(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len().div_ceil(3).saturating_mul(4));
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                ALPHABET[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

/// The base64 of `data` as a String.
pub fn encode(data: &[u8]) -> String {
    let mut out = Vec::new();
    encode_into(data, &mut out);
    // The alphabet and '=' are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes padded standard base64.
pub fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    let b = text.as_bytes();
    if !b.len().is_multiple_of(4) {
        return Err(Base64Error::Length(b.len()));
    }
    let pad = b.iter().rev().take(2).take_while(|&&c| c == b'=').count();
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    let body_end = b.len() - pad;
    for (q, quad) in b.chunks_exact(4).enumerate() {
        let mut n = 0u32;
        for (i, &c) in quad.iter().enumerate() {
            let offset = q * 4 + i;
            let v = if offset >= body_end {
                0
            } else {
                match DECODE[usize::from(c)] {
                    INVALID => return Err(Base64Error::Character { byte: c, offset }),
                    v => v,
                }
            };
            n = (n << 6) | u32::from(v);
        }
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out.truncate(out.len().saturating_sub(pad));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10 test vectors.
    const RFC4648: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn rfc4648_vectors() {
        for (plain, b64) in RFC4648 {
            assert_eq!(encode(plain.as_bytes()), b64, "encode {plain:?}");
            assert_eq!(decode(b64).unwrap(), plain.as_bytes(), "decode {b64:?}");
        }
    }

    #[test]
    fn high_bytes_and_last_alphabet_chars() {
        // 0xfb 0xff 0xbf -> 111110 111111 111110 111111 = "+/+/"
        assert_eq!(encode(&[0xfb, 0xff, 0xbf]), "+/+/");
        assert_eq!(decode("+/+/").unwrap(), vec![0xfb, 0xff, 0xbf]);
    }

    #[test]
    fn errors_name_what_was_wrong() {
        assert_eq!(decode("Zm9"), Err(Base64Error::Length(3)));
        assert_eq!(
            decode("Zm!v"),
            Err(Base64Error::Character {
                byte: b'!',
                offset: 2
            })
        );
        assert_eq!(
            decode("Zg==Zg=="),
            Err(Base64Error::Character {
                byte: b'=',
                offset: 2
            })
        );
    }
}
