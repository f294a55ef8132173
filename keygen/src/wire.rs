//! Wire format of key-agreement messages (all integers big-endian).
//!
//! ```text
//! offset size field
//!  0      2   magic "TK"
//!  2      1   version (1)
//!  3      1   kind: 1 tree announcement, 2 path update, 3 refresh
//!  4      1   flags: bit 0 = Ed25519 signature present; other bits zero
//!  5      1   reserved, zero
//!  6      2   round (path updates: round number from 1; otherwise 0)
//!  8      4   sender nodeid
//! 12      4   ring representative nodeid
//! 16      8   ring sequence
//! 24      4   key epoch (refresh: the epoch it is based on; otherwise 0)
//! 28      4   body length L
//! 32      L   body
//! 32+L   64   Ed25519 signature over bytes [0, 32+L)   (only if flag bit 0)
//!  ...   32   HMAC-SHA256 over every byte before it, keyed by the cluster MAC key
//! ```
//!
//! Tree announcement body: `count:u16` then `count` nodes in preorder, each
//! `tag:u8` (bit 0 leaf, bit 1 blinded key present), `nodeid:u32` if leaf, `bk:[u8;32]` if
//! present. Path update and refresh body: `count:u16` then `count` entries
//! `index:u16` (preorder index in the tree) and `bk:[u8;32]`, from the leaf upward.

use std::collections::BTreeSet;

use crate::error::WireError;
use crate::ids::{NodeId, RingId, MAX_MEMBERS};
use crate::tree::WireNode;

/// Magic bytes at the start of every key-agreement message.
pub const MAGIC: [u8; 2] = *b"TK";
/// Format version.
pub const VERSION: u8 = 1;
/// Fixed header length.
pub const HEADER_LEN: usize = 32;
/// Ed25519 signature length.
pub const SIG_LEN: usize = 64;
/// HMAC-SHA256 tag length.
pub const MAC_LEN: usize = 32;
/// Largest node count of a tree (full binary tree with `MAX_MEMBERS` leaves).
pub const MAX_NODES: usize = 2 * MAX_MEMBERS - 1;
/// Header flag: signature present.
pub const FLAG_SIGNED: u8 = 1;

const TAG_LEAF: u8 = 1;
const TAG_BK: u8 = 2;

/// Body of a key-agreement message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A subgroup's pruned tree, sent by its rightmost member during a merge.
    TreeAnnounce(Vec<WireNode>),
    /// Blinded keys a round sponsor computed along its path.
    PathUpdate(Vec<(u16, [u8; 32])>),
    /// A member's refreshed leaf and path, outside configuration changes.
    Refresh(Vec<(u16, [u8; 32])>),
}

impl Body {
    /// Kind byte of the body.
    pub fn kind(&self) -> u8 {
        match self {
            Body::TreeAnnounce(_) => 1,
            Body::PathUpdate(_) => 2,
            Body::Refresh(_) => 3,
        }
    }

    /// Name used in errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Body::TreeAnnounce(_) => "tree-announce",
            Body::PathUpdate(_) => "path-update",
            Body::Refresh(_) => "refresh",
        }
    }

    /// Encoded body length.
    pub fn buffer_len(&self) -> usize {
        match self {
            Body::TreeAnnounce(nodes) => {
                2 + nodes
                    .iter()
                    .map(|n| {
                        1 + if n.leaf.is_some() { 4 } else { 0 }
                            + if n.bk.is_some() { 32 } else { 0 }
                    })
                    .sum::<usize>()
            }
            Body::PathUpdate(e) | Body::Refresh(e) => 2 + e.len() * 34,
        }
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self {
            Body::TreeAnnounce(nodes) => {
                if nodes.len() > MAX_NODES {
                    return Err(WireError::TooLarge {
                        what: "tree nodes",
                        len: nodes.len(),
                        max: MAX_NODES,
                    });
                }
                out.extend_from_slice(&(nodes.len() as u16).to_be_bytes());
                for n in nodes {
                    let mut tag = 0;
                    if n.leaf.is_some() {
                        tag |= TAG_LEAF;
                    }
                    if n.bk.is_some() {
                        tag |= TAG_BK;
                    }
                    out.push(tag);
                    if let Some(id) = n.leaf {
                        out.extend_from_slice(&id.to_be_bytes());
                    }
                    if let Some(bk) = n.bk {
                        out.extend_from_slice(&bk);
                    }
                }
            }
            Body::PathUpdate(e) | Body::Refresh(e) => {
                if e.len() > MAX_NODES {
                    return Err(WireError::TooLarge {
                        what: "path entries",
                        len: e.len(),
                        max: MAX_NODES,
                    });
                }
                out.extend_from_slice(&(e.len() as u16).to_be_bytes());
                for (i, bk) in e {
                    out.extend_from_slice(&i.to_be_bytes());
                    out.extend_from_slice(bk);
                }
            }
        }
        Ok(())
    }
}

/// A decoded key-agreement message (authentication fields excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Sender nodeid.
    pub sender: NodeId,
    /// Ring the message belongs to.
    pub ring: RingId,
    /// Key epoch (see the header table).
    pub epoch: u32,
    /// Round number of a path update.
    pub round: u16,
    /// Body.
    pub body: Body,
}

/// A parsed frame: the message plus the byte ranges the authenticator covers.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    /// The decoded message.
    pub message: Message,
    /// Bytes covered by the signature (header and body).
    pub signed_part: &'a [u8],
    /// The signature, if present.
    pub signature: Option<&'a [u8]>,
    /// Bytes covered by the MAC (everything before it).
    pub mac_part: &'a [u8],
    /// The MAC.
    pub mac: &'a [u8],
}

struct Reader<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        let have = self.buf.len().saturating_sub(self.off);
        if have < n {
            return Err(WireError::Truncated {
                field,
                offset: self.off,
                need: n,
                have,
            });
        }
        let s = &self.buf[self.off..self.off + n];
        self.off += n;
        Ok(s)
    }
    fn u8(&mut self, f: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, f)?[0])
    }
    fn u16(&mut self, f: &'static str) -> Result<u16, WireError> {
        let b = self.take(2, f)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, f: &'static str) -> Result<u32, WireError> {
        let b = self.take(4, f)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, f: &'static str) -> Result<u64, WireError> {
        let b = self.take(8, f)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn bk(&mut self, f: &'static str) -> Result<[u8; 32], WireError> {
        let b = self.take(32, f)?;
        let mut a = [0u8; 32];
        a.copy_from_slice(b);
        Ok(a)
    }
}

impl Message {
    /// Length of the whole frame, with or without a signature.
    pub fn buffer_len(&self, signed: bool) -> usize {
        HEADER_LEN + self.body.buffer_len() + if signed { SIG_LEN } else { 0 } + MAC_LEN
    }

    /// Emits header and body (the part a signature covers); flags tell whether a signature
    /// will follow.
    pub fn emit_signed_part(&self, signed: bool) -> Result<Vec<u8>, WireError> {
        let body_len = self.body.buffer_len();
        let mut out = Vec::with_capacity(self.buffer_len(signed));
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.body.kind());
        out.push(if signed { FLAG_SIGNED } else { 0 });
        out.push(0);
        out.extend_from_slice(&self.round.to_be_bytes());
        out.extend_from_slice(&self.sender.to_be_bytes());
        out.extend_from_slice(&self.ring.rep.to_be_bytes());
        out.extend_from_slice(&self.ring.seq.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        let bl = u32::try_from(body_len).map_err(|_| WireError::TooLarge {
            what: "body",
            len: body_len,
            max: u32::MAX as usize,
        })?;
        out.extend_from_slice(&bl.to_be_bytes());
        self.body.emit(&mut out)?;
        Ok(out)
    }

    /// Splits and decodes a frame without checking its authenticator.
    pub fn parse_frame(buf: &[u8]) -> Result<Frame<'_>, WireError> {
        let mut r = Reader { buf, off: 0 };
        let magic = r.take(2, "magic")?;
        if magic != MAGIC {
            return Err(WireError::BadValue {
                field: "magic",
                offset: 0,
                value: u16::from_be_bytes([magic[0], magic[1]]) as u64,
            });
        }
        let version = r.u8("version")?;
        if version != VERSION {
            return Err(WireError::BadValue {
                field: "version",
                offset: 2,
                value: version as u64,
            });
        }
        let kind = r.u8("kind")?;
        if !(1..=3).contains(&kind) {
            return Err(WireError::BadValue {
                field: "kind",
                offset: 3,
                value: kind as u64,
            });
        }
        let flags = r.u8("flags")?;
        if flags & !FLAG_SIGNED != 0 {
            return Err(WireError::BadValue {
                field: "flags",
                offset: 4,
                value: flags as u64,
            });
        }
        let reserved = r.u8("reserved")?;
        if reserved != 0 {
            return Err(WireError::BadValue {
                field: "reserved",
                offset: 5,
                value: reserved as u64,
            });
        }
        let round = r.u16("round")?;
        let sender = r.u32("sender")?;
        let rep = r.u32("ring_rep")?;
        let seq = r.u64("ring_seq")?;
        let epoch = r.u32("epoch")?;
        let body_len = r.u32("body_len")? as usize;
        let body_bytes = r.take(body_len, "body")?;
        let body = parse_body(kind, body_bytes)?;
        let signed_end = r.off;
        let signature = if flags & FLAG_SIGNED != 0 {
            Some(r.take(SIG_LEN, "signature")?)
        } else {
            None
        };
        let mac_start = r.off;
        let mac = r.take(MAC_LEN, "mac")?;
        if r.off != buf.len() {
            return Err(WireError::Trailing {
                offset: r.off,
                extra: buf.len() - r.off,
            });
        }
        Ok(Frame {
            message: Message {
                sender,
                ring: RingId { rep, seq },
                epoch,
                round,
                body,
            },
            signed_part: &buf[..signed_end],
            signature,
            mac_part: &buf[..mac_start],
            mac,
        })
    }
}

fn parse_body(kind: u8, b: &[u8]) -> Result<Body, WireError> {
    // Offsets in body errors are relative to the whole frame.
    let mut r = Reader { buf: b, off: 0 };
    let rebase = |e: WireError| match e {
        WireError::Truncated {
            field,
            offset,
            need,
            have,
        } => WireError::Truncated {
            field,
            offset: offset + HEADER_LEN,
            need,
            have,
        },
        WireError::BadValue {
            field,
            offset,
            value,
        } => WireError::BadValue {
            field,
            offset: offset + HEADER_LEN,
            value,
        },
        WireError::BadTree { offset, reason } => WireError::BadTree {
            offset: offset + HEADER_LEN,
            reason,
        },
        WireError::Trailing { offset, extra } => WireError::Trailing {
            offset: offset + HEADER_LEN,
            extra,
        },
        other => other,
    };
    let body = match kind {
        1 => parse_tree(&mut r).map(Body::TreeAnnounce),
        2 => parse_entries(&mut r).map(Body::PathUpdate),
        _ => parse_entries(&mut r).map(Body::Refresh),
    }
    .map_err(rebase)?;
    if r.off != b.len() {
        return Err(rebase(WireError::Trailing {
            offset: r.off,
            extra: b.len() - r.off,
        }));
    }
    Ok(body)
}

fn parse_entries(r: &mut Reader<'_>) -> Result<Vec<(u16, [u8; 32])>, WireError> {
    let off = r.off;
    let count = r.u16("entry_count")? as usize;
    if count == 0 || count > MAX_NODES {
        return Err(WireError::BadValue {
            field: "entry_count",
            offset: off,
            value: count as u64,
        });
    }
    let mut v = Vec::with_capacity(count);
    for _ in 0..count {
        let i = r.u16("entry_index")?;
        let bk = r.bk("entry_bk")?;
        v.push((i, bk));
    }
    Ok(v)
}

fn parse_tree(r: &mut Reader<'_>) -> Result<Vec<WireNode>, WireError> {
    let off = r.off;
    let count = r.u16("node_count")? as usize;
    if count == 0 || count > MAX_NODES {
        return Err(WireError::BadValue {
            field: "node_count",
            offset: off,
            value: count as u64,
        });
    }
    let mut nodes = Vec::with_capacity(count);
    let mut ids = BTreeSet::new();
    // Number of subtree slots still to fill: a full binary tree in preorder closes exactly
    // at its last node.
    let mut need: usize = 1;
    // Per open internal node: (resolved?, children seen, all children resolved so far).
    let mut open: Vec<(bool, u8, bool)> = Vec::new();
    for _ in 0..count {
        let at = r.off;
        if need == 0 {
            return Err(WireError::BadTree {
                offset: at,
                reason: "nodes after the tree closed",
            });
        }
        let tag = r.u8("node_tag")?;
        if tag & !(TAG_LEAF | TAG_BK) != 0 {
            return Err(WireError::BadValue {
                field: "node_tag",
                offset: at,
                value: tag as u64,
            });
        }
        let leaf = if tag & TAG_LEAF != 0 {
            let id = r.u32("leaf_nodeid")?;
            if !ids.insert(id) {
                return Err(WireError::BadTree {
                    offset: at,
                    reason: "nodeid appears twice",
                });
            }
            Some(id)
        } else {
            None
        };
        let bk = if tag & TAG_BK != 0 {
            Some(r.bk("blinded_key")?)
        } else {
            None
        };
        need -= 1;
        let node_resolved = bk.is_some();
        // Record this node as a child of the innermost open internal node and close
        // every internal node whose two children are complete.
        let mut finished = if leaf.is_some() {
            Some(node_resolved)
        } else {
            need += 2;
            open.push((node_resolved, 0, true));
            None
        };
        while let Some(child_resolved) = finished.take() {
            let Some(top) = open.last_mut() else { break };
            top.1 += 1;
            top.2 &= child_resolved;
            if top.1 == 2 {
                let (res, _, kids) = *top;
                open.pop();
                if res && !kids {
                    return Err(WireError::BadTree {
                        offset: at,
                        reason: "resolved node above a stale child",
                    });
                }
                finished = Some(res);
            }
        }
        nodes.push(WireNode { leaf, bk });
    }
    if need != 0 {
        return Err(WireError::BadTree {
            offset: r.off,
            reason: "tree ends with missing children",
        });
    }
    if ids.len() > MAX_MEMBERS {
        return Err(WireError::TooLarge {
            what: "leaves",
            len: ids.len(),
            max: MAX_MEMBERS,
        });
    }
    Ok(nodes)
}
