//! Framing of the secure layer's payloads inside Totem multicasts: one leading kind byte.
//!
//! ```text
//! 0x00 ‖ application payload
//! 0x01 ‖ key-agreement message (totem_keygen::wire format, MAC'd by the authkey)
//! 0x02 ‖ ring rep (4 BE) ‖ ring seq (8 BE) ‖ key epoch (4 BE)    "Ready": sender has the key
//! 0x03 ‖ ring rep (4 BE) ‖ ring seq (8 BE) ‖ key epoch (4 BE)    "Switched": sender sends with it
//! ```

use totem_keygen::{KeyEpoch, RingId};

/// Kind byte of an application payload.
pub const APP: u8 = 0;
/// Kind byte of a key-agreement message.
pub const KEY_AGREEMENT: u8 = 1;
/// Kind byte of a Ready notice.
pub const READY: u8 = 2;
/// Kind byte of a Switched notice.
pub const SWITCHED: u8 = 3;

/// A decoded layer payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control<'a> {
    /// Application bytes.
    App(&'a [u8]),
    /// A key-agreement message.
    KeyAgreement(&'a [u8]),
    /// The sender installed this key epoch.
    Ready(KeyEpoch),
    /// The sender sends with this key epoch (and never again with an older one).
    Switched(KeyEpoch),
}

/// Why a layer payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// Empty payload.
    #[error("empty secure-layer payload")]
    Empty,
    /// Unknown kind byte.
    #[error("unknown secure-layer kind {0:#04x} at offset 0")]
    UnknownKind(u8),
    /// A Ready notice of the wrong length.
    #[error("ready or switched notice of {0} bytes (want 17)")]
    BadReady(usize),
}

/// Frames an application payload.
pub fn app(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 1);
    v.push(APP);
    v.extend_from_slice(payload);
    v
}

/// Frames a key-agreement message.
pub fn key_agreement(msg: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(msg.len() + 1);
    v.push(KEY_AGREEMENT);
    v.extend_from_slice(msg);
    v
}

/// Frames a Ready notice.
pub fn ready(e: &KeyEpoch) -> Vec<u8> {
    notice(READY, e)
}

/// Frames a Switched notice.
pub fn switched(e: &KeyEpoch) -> Vec<u8> {
    notice(SWITCHED, e)
}

fn notice(kind: u8, e: &KeyEpoch) -> Vec<u8> {
    let mut v = Vec::with_capacity(17);
    v.push(kind);
    v.extend_from_slice(&e.to_bytes());
    v
}

/// Decodes a layer payload.
pub fn parse(p: &[u8]) -> Result<Control<'_>, ControlError> {
    let (&k, rest) = p.split_first().ok_or(ControlError::Empty)?;
    match k {
        APP => Ok(Control::App(rest)),
        KEY_AGREEMENT => Ok(Control::KeyAgreement(rest)),
        READY | SWITCHED => {
            let b: &[u8; 16] = rest
                .try_into()
                .map_err(|_| ControlError::BadReady(p.len()))?;
            let u32at = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
            let mut s = [0u8; 8];
            s.copy_from_slice(&b[4..12]);
            let e = KeyEpoch {
                ring: RingId {
                    rep: u32at(0),
                    seq: u64::from_be_bytes(s),
                },
                epoch: u32at(12),
            };
            Ok(if k == READY {
                Control::Ready(e)
            } else {
                Control::Switched(e)
            })
        }
        other => Err(ControlError::UnknownKind(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_layout() {
        let e = KeyEpoch {
            ring: RingId { rep: 2, seq: 0x104 },
            epoch: 3,
        };
        let b = ready(&e);
        assert_eq!(b, [2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, 3]);
        assert_eq!(parse(&b), Ok(Control::Ready(e)));
        assert_eq!(parse(&b[..5]), Err(ControlError::BadReady(5)));
        assert_eq!(parse(&[]), Err(ControlError::Empty));
        assert_eq!(parse(&[9]), Err(ControlError::UnknownKind(9)));
        assert_eq!(parse(&app(b"x")), Ok(Control::App(b"x")));
        let sw = switched(&e);
        assert_eq!(sw[0], 3);
        assert_eq!(sw[1..], b[1..]);
        assert_eq!(parse(&sw), Ok(Control::Switched(e)));
    }
}
