//! The CPG load message and `RESULT` line shared by our two load clients: `totem-cpgload`
//! (Rust, over a `totem-node` control socket) and `bench/cpgload.c` (C, over corosync's
//! libcpg). Both must agree byte for byte, so the layout is written down here once:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `TLD1` |
//! | 4 | 4 | kind, little-endian: 1 data, 2 end |
//! | 8 | 8 | seq (data: 0, 1, 2, ...; end: number of data messages sent) |
//! | 16 | 8 | send time, CLOCK_MONOTONIC nanoseconds |
//! | 24 | 8 | reserved, 0 |
//! | 32 | .. | filler up to the message size |
//!
//! The sender is identified by the (nodeid, pid) of the delivery. The order hash is 64-bit
//! FNV-1a over `nodeid u32 LE, pid u32 LE, seq u64 LE` of every delivered data message, in
//! delivery order: equal hashes on every node mean the same messages in the same order.

use std::collections::BTreeMap;

/// Bytes before the filler.
pub const HEADER_LEN: usize = 32;
/// First four bytes of every load message.
pub const MAGIC: [u8; 4] = *b"TLD1";
/// Kind of a data message.
pub const KIND_DATA: u32 = 1;
/// Kind of the message that ends one sender's run.
pub const KIND_END: u32 = 2;

/// A decoded load message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: u32,
    pub seq: u64,
    pub t_send_ns: u64,
}

/// Builds a message of `size` bytes (at least [`HEADER_LEN`]).
pub fn encode(kind: u32, seq: u64, t_send_ns: u64, size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size.max(HEADER_LEN));
    v.extend_from_slice(&MAGIC);
    v.extend_from_slice(&kind.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&t_send_ns.to_le_bytes());
    v.extend_from_slice(&0u64.to_le_bytes());
    v.extend((HEADER_LEN..size).map(|i| (i as u8) ^ (seq as u8)));
    v
}

/// Decodes the header; `None` for anything that is not a load message.
pub fn decode(data: &[u8]) -> Option<Header> {
    let field = |at: usize, n: usize| data.get(at..at + n);
    if field(0, 4)? != MAGIC {
        return None;
    }
    let u32_at = |at| field(at, 4)?.try_into().ok().map(u32::from_le_bytes);
    let u64_at = |at| field(at, 8)?.try_into().ok().map(u64::from_le_bytes);
    Some(Header {
        kind: u32_at(4)?,
        seq: u64_at(8)?,
        t_send_ns: u64_at(16)?,
    })
}

/// CLOCK_MONOTONIC in nanoseconds: shared by every namespace of one host, so a send time
/// taken on one node and a delivery time taken on another give a one-way latency.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// 64-bit FNV-1a over the delivery sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderHash(pub u64);

impl Default for OrderHash {
    fn default() -> Self {
        OrderHash(0xcbf2_9ce4_8422_2325)
    }
}

impl OrderHash {
    /// Folds one delivered data message in.
    pub fn add(&mut self, nodeid: u32, pid: u32, seq: u64) {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&nodeid.to_le_bytes());
        bytes[4..8].copy_from_slice(&pid.to_le_bytes());
        bytes[8..].copy_from_slice(&seq.to_le_bytes());
        for b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// One client's `RESULT` line, as both load clients print it:
/// `RESULT node=N sent=N tx_s=F recv=N rx_s=F rx_msgs_s=F rx_MBps=F gaps=N dups=N
/// lat_us_p50=N lat_us_p99=N lat_us_max=N order=HEX ended=N/N`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadResult {
    pub fields: BTreeMap<String, String>,
}

/// Why a `RESULT` line could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResultError {
    #[error("no RESULT line in the output")]
    Missing,
    #[error("RESULT field {0:?} is missing")]
    Field(String),
    #[error("RESULT field {field:?} is not a number: {value:?}")]
    Number { field: String, value: String },
}

impl LoadResult {
    /// Finds the last `RESULT` line in a client's output.
    pub fn find(output: &str) -> Result<LoadResult, ResultError> {
        let line = output
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("RESULT "))
            .ok_or(ResultError::Missing)?;
        let fields = line
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(LoadResult { fields })
    }

    /// A field as text.
    pub fn text(&self, field: &str) -> Result<&str, ResultError> {
        self.fields
            .get(field)
            .map(String::as_str)
            .ok_or_else(|| ResultError::Field(field.to_string()))
    }

    /// A field as a number.
    pub fn num(&self, field: &str) -> Result<f64, ResultError> {
        let v = self.text(field)?;
        v.parse().map_err(|_| ResultError::Number {
            field: field.to_string(),
            value: v.to_string(),
        })
    }

    /// Whether every expected sender's end message arrived (`ended=K/K`).
    pub fn all_ended(&self) -> bool {
        match self.text("ended").ok().and_then(|e| e.split_once('/')) {
            Some((a, b)) => a == b,
            None => false,
        }
    }
}

/// Checks one load phase: every client in `results` (node, RESULT) got every end message and
/// `expect` data messages without gaps or duplicates, in the same order as the first.
pub fn assert_one_order(group: &str, results: &[(usize, LoadResult)], expect: u64) {
    let order = results[0].1.text("order").unwrap().to_string();
    for (i, r) in results {
        assert!(
            r.all_ended(),
            "{group}: node {i} missed end messages: {r:?}"
        );
        assert_eq!(
            r.num("recv").unwrap() as u64,
            expect,
            "{group}: node {i}: {r:?}"
        );
        assert_eq!(r.num("gaps").unwrap(), 0.0, "{group}: node {i}: {r:?}");
        assert_eq!(r.num("dups").unwrap(), 0.0, "{group}: node {i}: {r:?}");
        assert_eq!(
            r.text("order").unwrap(),
            order,
            "{group}: node {i} delivered in another order than node {}",
            results[0].0
        );
    }
}

/// The `q`-quantile (0..=1) of sorted samples, nearest rank; 0 when empty.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_matches_the_table() {
        let m = encode(KIND_DATA, 0x0102_0304_0506_0708, 0x1112_1314_1516_1718, 40);
        assert_eq!(m.len(), 40);
        assert_eq!(&m[..4], b"TLD1");
        assert_eq!(&m[4..8], &[1, 0, 0, 0]);
        assert_eq!(&m[8..16], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(
            &m[16..24],
            &[0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11]
        );
        assert_eq!(&m[24..32], &[0; 8]);
        assert_eq!(
            decode(&m),
            Some(Header {
                kind: 1,
                seq: 0x0102_0304_0506_0708,
                t_send_ns: 0x1112_1314_1516_1718
            })
        );
        assert_eq!(decode(&m[..20]), None);
        assert_eq!(decode(b"hello world, not a load message!"), None);
    }

    #[test]
    fn fnv1a_known_answers() {
        // FNV-1a 64 of the empty input is the offset basis; of "a" it is af63dc4c8601ec8c
        // (the published FNV test vectors).
        assert_eq!(OrderHash::default().0, 0xcbf29ce484222325);
        let mut h = OrderHash::default();
        h.0 ^= u64::from(b'a');
        h.0 = h.0.wrapping_mul(0x100000001b3);
        assert_eq!(h.0, 0xaf63dc4c8601ec8c);
        // Order matters.
        let (mut x, mut y) = (OrderHash::default(), OrderHash::default());
        x.add(1, 10, 0);
        x.add(2, 20, 0);
        y.add(2, 20, 0);
        y.add(1, 10, 0);
        assert_ne!(x, y);
    }

    #[test]
    fn result_line_parses() {
        let out = "joined\nRESULT node=2 sent=0 recv=300 rx_msgs_s=99.5 order=00ff ended=1/1\n";
        let r = LoadResult::find(out).unwrap();
        assert_eq!(r.num("recv").unwrap(), 300.0);
        assert_eq!(r.text("order").unwrap(), "00ff");
        assert!(r.all_ended());
        assert_eq!(r.num("nope"), Err(ResultError::Field("nope".to_string())));
        assert_eq!(LoadResult::find("x"), Err(ResultError::Missing));
    }

    #[test]
    fn quantiles_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
