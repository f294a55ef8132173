//! Log field formatting as corosync prints things, not Rust `Debug`: ring ids `rep.seq`
//! (seq in hex), node lists `1 2 3`, absent values `none`, key ids `rep.seq:epoch`.

use std::fmt;

/// An optional value: the value's `Display`, or `none` (never `Some(..)`).
pub struct Opt<'a, T>(pub &'a Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("none"),
        }
    }
}

/// Node ids separated by spaces, as corosync's "Members joined: 1 2"; `none` when empty.
pub struct Ids<'a>(pub &'a [u32]);

impl fmt::Display for Ids<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{id}")?;
        }
        Ok(())
    }
}

/// A group key epoch as the envelope names it: `rep.seq:epoch` (seq in hex, like ring ids).
#[derive(Clone, Copy)]
pub struct Epoch(pub totem_keygen::KeyEpoch);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:x}:{}",
            self.0.ring.rep, self.0.ring.seq, self.0.epoch
        )
    }
}

/// An optional key epoch (`none` when absent).
pub fn epoch(e: Option<totem_keygen::KeyEpoch>) -> Option<Epoch> {
    e.map(Epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use totem_wire::RingId;

    #[test]
    fn formats_like_corosync() {
        assert_eq!(Opt(&Some(RingId::node(1, 0x18))).to_string(), "1.18");
        assert_eq!(Opt::<RingId>(&None).to_string(), "none");
        assert_eq!(Ids(&[1, 2, 3]).to_string(), "1 2 3");
        assert_eq!(Ids(&[]).to_string(), "none");
        let e = totem_keygen::KeyEpoch {
            ring: totem_keygen::RingId { rep: 2, seq: 0x1f },
            epoch: 3,
        };
        assert_eq!(Epoch(e).to_string(), "2.1f:3");
        assert_eq!(Opt(&epoch(None)).to_string(), "none");
    }
}
