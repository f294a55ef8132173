//! The SRP layer of a retarget: header, srp_addr lists, ring ids, rtr lists, commit-token
//! entries, and the mcast payload handed to the service layer.

use super::{service, Retarget, RetargetError};
use crate::generation::Generation;
use crate::header::{Header, MessageType};
use crate::ip_address::TotemIpAddress;
use crate::ring_id::{RingId, RingRep};
use crate::srp::commit_token::{CommitToken, MembEntry};
use crate::srp::mcast::Mcast;
use crate::srp::memb_join::MembJoin;
use crate::srp::merge_detect::MergeDetect;
use crate::srp::message::SrpMessage;
use crate::srp::orf_token::{OrfToken, RtrItem};
use crate::srp::token_hold_cancel::TokenHoldCancel;
use crate::srp_addr::SrpAddr;

impl Retarget<'_> {
    /// The common header: nodeids stay, the layout and the G3 target change.
    pub(super) fn header(&self, h: &Header) -> Header {
        Header {
            generation: self.to,
            target_nodeid: if self.to == Generation::G3 {
                self.target_nodeid
            } else {
                0
            },
            ..*h
        }
    }

    /// A member identity in the target generation's shape.
    pub(super) fn srp_addr(&self, a: &SrpAddr) -> Result<SrpAddr, RetargetError> {
        if self.from == self.to {
            return Ok(*a);
        }
        Ok(self.book.resolve(a)?.srp_addr(self.to))
    }

    /// A ring id with its representative in the target generation's shape. The all-zero
    /// ring id (no ring yet) maps to the all-zero ring id.
    pub(super) fn ring_id(&self, r: &RingId) -> Result<RingId, RetargetError> {
        if self.from == self.to {
            return Ok(*r);
        }
        let rep = match r.rep {
            RingRep::Node(0) => zero_rep(self.to),
            RingRep::Addr(a) if a == TotemIpAddress::default() => zero_rep(self.to),
            RingRep::Node(n) => rep_of(self.book.node(n)?, self.to),
            RingRep::Addr(a) => rep_of(self.book.by_address(&a)?, self.to),
        };
        Ok(RingId { rep, seq: r.seq })
    }
}

fn zero_rep(gen: Generation) -> RingRep {
    match gen {
        Generation::G3 => RingRep::Node(0),
        _ => RingRep::Addr(TotemIpAddress::default()),
    }
}

fn rep_of(e: &super::BookEntry, gen: Generation) -> RingRep {
    match gen {
        Generation::G3 => RingRep::Node(e.nodeid),
        g => RingRep::Addr(e.ring0(g)),
    }
}

/// Rewrites one SRP message.
pub(super) fn message(t: &Retarget<'_>, m: &SrpMessage) -> Result<SrpMessage, RetargetError> {
    Ok(match m {
        SrpMessage::OrfToken(m) => SrpMessage::OrfToken(OrfToken {
            header: t.header(&m.header),
            ring_id: t.ring_id(&m.ring_id)?,
            rtr_list: m
                .rtr_list
                .iter()
                .map(|i| {
                    Ok(RtrItem {
                        ring_id: t.ring_id(&i.ring_id)?,
                        seq: i.seq,
                    })
                })
                .collect::<Result<_, RetargetError>>()?,
            ..m.clone()
        }),
        SrpMessage::Mcast(m) => SrpMessage::Mcast(mcast(t, m)?),
        SrpMessage::MergeDetect(m) => SrpMessage::MergeDetect(MergeDetect {
            header: t.header(&m.header),
            system_from: t.srp_addr(&m.system_from)?,
            ring_id: t.ring_id(&m.ring_id)?,
        }),
        SrpMessage::MembJoin(m) => SrpMessage::MembJoin(MembJoin {
            header: t.header(&m.header),
            system_from: if m.is_leave() && t.from != t.to {
                leaver(t, &m.system_from)?
            } else {
                t.srp_addr(&m.system_from)?
            },
            ring_seq: m.ring_seq,
            proc_list: addrs(t, &m.proc_list)?,
            failed_list: addrs(t, &m.failed_list)?,
        }),
        SrpMessage::CommitToken(m) => SrpMessage::CommitToken(CommitToken {
            header: t.header(&m.header),
            ring_id: t.ring_id(&m.ring_id)?,
            addr: addrs(t, &m.addr)?,
            memb_list: m
                .memb_list
                .iter()
                .map(|e| {
                    Ok(MembEntry {
                        ring_id: t.ring_id(&e.ring_id)?,
                        ..*e
                    })
                })
                .collect::<Result<_, RetargetError>>()?,
            ..m.clone()
        }),
        SrpMessage::TokenHoldCancel(m) => SrpMessage::TokenHoldCancel(TokenHoldCancel {
            header: t.header(&m.header),
            ring_id: t.ring_id(&m.ring_id)?,
        }),
        SrpMessage::RingTest(m) => {
            if t.to == Generation::G3 {
                return Err(RetargetError::NoCounterpart {
                    what: m.msg_type.name().into(),
                    to: t.to,
                });
            }
            let mut m = *m;
            m.generation = t.to;
            SrpMessage::RingTest(m)
        }
    })
}

/// The sender of a leave: G1/G2 write it with nodeid 0 in its ring 0 address, G3 with its
/// real nodeid.
fn leaver(t: &Retarget<'_>, a: &SrpAddr) -> Result<SrpAddr, RetargetError> {
    let mut out = t.book.resolve_leaver(a)?.srp_addr(t.to);
    if let SrpAddr::Addrs { addrs, .. } = &mut out {
        addrs[0].nodeid = 0;
    }
    Ok(out)
}

fn addrs(t: &Retarget<'_>, l: &[SrpAddr]) -> Result<Vec<SrpAddr>, RetargetError> {
    l.iter().map(|a| t.srp_addr(a)).collect()
}

/// An mcast: its own fields, and either the old-ring mcast it encapsulates (rewritten the
/// same way) or its totempg packet (rewritten by the service layer).
fn mcast(t: &Retarget<'_>, m: &Mcast) -> Result<Mcast, RetargetError> {
    let payload = if m.is_encapsulated() {
        let inner = Mcast::parse(&m.payload, t.from)?;
        if inner.header.msg_type != MessageType::Mcast {
            return Err(RetargetError::NoCounterpart {
                what: "an encapsulated message that is not an mcast".into(),
                to: t.to,
            });
        }
        SrpMessage::Mcast(mcast(t, &inner)?).try_to_vec()?
    } else if t.payload == super::Payload::Opaque {
        m.payload.clone()
    } else {
        service::totempg(t, &m.payload, m.header.endian)?
    };
    Ok(Mcast {
        header: t.header(&m.header),
        system_from: t.srp_addr(&m.system_from)?,
        ring_id: t.ring_id(&m.ring_id)?,
        payload,
        ..m.clone()
    })
}
