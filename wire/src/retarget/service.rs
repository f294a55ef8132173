//! The service layer of a retarget: an mcast's totempg packet taken apart into its pieces,
//! each service message rewritten for the target generation, and the packet packed again.
//!
//! G2 and G3 lay out every service message alike except the sync engine's, whose ring ids
//! (30 or 12 bytes) and pads change size. G1 writes the service header with `size` and `id`
//! swapped and numbers services differently (corosync 1.x or openais tables); of its
//! services, CPG has the same bodies in G2 and is rewritten, the sync engine is rebuilt, and
//! the others (1.x votequorum, openais CLM/EVT, sync v2) have no G2 counterpart.
//!
//! Without state, a piece that continues a message from the previous mcast is carried as it
//! is. That is right because every rewrite that changes a message's length or any byte past
//! its first fragment's service header is refused on that first fragment.

use super::{Retarget, RetargetError};
use crate::endian::Endian;
use crate::generation::Generation;
use crate::group::{GroupMessage, GroupMessageView, KnownGroup};
use crate::service::header::LEN as SERVICE_HEADER_LEN;
use crate::service::ids::{Service, ServiceTable};
use crate::service::message::{AppMessage, ServiceMessage};
use crate::service::sync::{ring_message_len, service_build_len, ServiceBuild, SyncMessage};
use crate::service::ServiceHeader;
use crate::totempg::{Packet, PacketView};

/// Whether G1 is on exactly one side: service headers and ids change.
fn crosses_g1(t: &Retarget<'_>) -> bool {
    (t.from == Generation::G1) != (t.to == Generation::G1)
}

/// Rewrites the totempg packet of an mcast.
pub(super) fn totempg(
    t: &Retarget<'_>,
    payload: &[u8],
    endian: Endian,
) -> Result<Vec<u8>, RetargetError> {
    if t.from == t.to || (!crosses_g1(t) && !has_sync(payload, endian)?) {
        // G2 <-> G3 change nothing outside the sync engine's messages.
        return Ok(payload.to_vec());
    }
    let mut p = Packet::parse(payload, endian)?;
    let last = p.pieces.len().saturating_sub(1);
    for (i, piece) in p.pieces.iter_mut().enumerate() {
        if i == 0 && p.continuation != 0 {
            continue;
        }
        *piece = if i == last && p.fragmented != 0 {
            first_fragment(t, piece, endian)?
        } else {
            whole(t, piece, endian)?
        };
    }
    let mut out = vec![0u8; p.buffer_len()];
    let n = p.emit(&mut out)?;
    out.truncate(n);
    Ok(out)
}

/// The services listed by the first sync service_build in an mcast's totempg packet, if it
/// holds one (zero-copy check first; the common packet has none). corosync 3.1 lists the
/// QUORUM service (id 3) there and 2.x does not, which tells the generation of the node
/// behind a G2 mcast.
pub fn built_services(payload: &[u8], gen: Generation, endian: Endian) -> Option<Vec<u32>> {
    if !has_sync(payload, endian).ok()? {
        return None;
    }
    let p = Packet::parse(payload, endian).ok()?;
    let last = p.pieces.len().saturating_sub(1);
    p.pieces.iter().enumerate().find_map(|(i, piece)| {
        if (i == 0 && p.continuation != 0) || (i == last && p.fragmented != 0) {
            return None;
        }
        let a = AppMessage::decode(piece, gen, endian).ok()?;
        match a.message {
            ServiceMessage::Sync(SyncMessage::ServiceBuild(b)) => {
                let n = usize::try_from(b.service_list_entries)
                    .unwrap_or(0)
                    .min(b.service_list.len());
                Some(b.service_list[..n].to_vec())
            }
            _ => None,
        }
    })
}

/// Whether a piece of the packet (other than a continuation, which is carried as it is)
/// starts a message to group "sync" or "syncv2" (zero-copy; the common case has none).
fn has_sync(payload: &[u8], endian: Endian) -> Result<bool, RetargetError> {
    let v = PacketView::new_checked(payload, endian)?;
    let cont = v.continuation() != 0;
    let found = v.pieces().enumerate().any(|(i, piece)| {
        !(i == 0 && cont)
            && GroupMessageView::new_checked(piece, endian).is_ok_and(|g| {
                matches!(g.known_group(), Some(KnownGroup::Sync | KnownGroup::SyncV2))
            })
    });
    Ok(found)
}

/// A complete group message.
fn whole(t: &Retarget<'_>, piece: &[u8], endian: Endian) -> Result<Vec<u8>, RetargetError> {
    let a = AppMessage::decode_with(piece, t.from, endian, t.from_table)?;
    let message = match (&a.message, a.group()) {
        (ServiceMessage::Opaque(_), _) => return Ok(piece.to_vec()),
        (ServiceMessage::Sync(s), g) => {
            if g == Some(KnownGroup::SyncV2) && t.to != Generation::G1 {
                return Err(no_counterpart("sync v2 (group syncv2)", t));
            }
            ServiceMessage::Sync(sync(t, s)?)
        }
        // G2 ↔ G3: the same layout; only the generation tag of the header changes.
        _ if !crosses_g1(t) => return Ok(piece.to_vec()),
        (m, _) => {
            let h = m
                .header()
                .ok_or_else(|| no_counterpart("a group message without a service header", t))?;
            let mut bytes = piece.to_vec();
            let at = a.groups_len();
            let nh = cross_g1_header(t, h)?;
            nh.emit(&mut bytes[at..at + SERVICE_HEADER_LEN])?;
            return Ok(bytes);
        }
    };
    let out = AppMessage { message, ..a };
    let mut v = vec![0u8; out.buffer_len()];
    let n = out.emit(&mut v)?;
    v.truncate(n);
    Ok(v)
}

/// The first fragment of a message that continues in the next mcast.
fn first_fragment(
    t: &Retarget<'_>,
    piece: &[u8],
    endian: Endian,
) -> Result<Vec<u8>, RetargetError> {
    let Ok(g) = GroupMessage::parse(piece, endian) else {
        // Not even the group header is complete: only G2 ↔ G3, where nothing in group "a"
        // changes, may carry it; a sync message is never that long.
        return if crosses_g1(t) {
            Err(fragmented("a message whose group header", t))
        } else {
            Ok(piece.to_vec())
        };
    };
    match g.known_group() {
        Some(KnownGroup::A) => {}
        Some(KnownGroup::Sync | KnownGroup::SyncV2) => {
            return Err(fragmented("a sync message", t));
        }
        _ => return Ok(piece.to_vec()),
    }
    if !crosses_g1(t) {
        return Ok(piece.to_vec());
    }
    if g.payload.len() < SERVICE_HEADER_LEN {
        return Err(fragmented("a service header", t));
    }
    let h = ServiceHeader::parse(&g.payload, t.from, endian)?;
    let nh = cross_g1_header(t, &h)?;
    let mut bytes = piece.to_vec();
    let at = g.header_len();
    nh.emit(&mut bytes[at..at + SERVICE_HEADER_LEN])?;
    Ok(bytes)
}

/// A G1 ↔ G2/G3 service header: layout, service id and function id. Only CPG's messages
/// whose bodies the two tables share are rewritten.
fn cross_g1_header(t: &Retarget<'_>, h: &ServiceHeader) -> Result<ServiceHeader, RetargetError> {
    let name = |h: &ServiceHeader| format!("service {} fn {}", h.service(), h.fn_id());
    let s =
        Service::from_id(t.from_table, h.service()).ok_or_else(|| no_counterpart(&name(h), t))?;
    let fname = s
        .fn_name(t.from_table, h.fn_id())
        .ok_or_else(|| no_counterpart(&name(h), t))?;
    let what = || format!("{}.{fname}", s.name());
    if s != Service::Cpg || !same_cpg_body(t, fname) {
        return Err(no_counterpart(&what(), t));
    }
    let sid = s.id(t.to_table).ok_or_else(|| no_counterpart(&what(), t))?;
    let fid = (0..16u16)
        .find(|f| s.fn_name(t.to_table, *f) == Some(fname))
        .ok_or_else(|| no_counterpart(&what(), t))?;
    Ok(ServiceHeader {
        generation: t.to,
        id: (u32::from(sid) << 16) | u32::from(fid),
        ..*h
    })
}

/// CPG messages laid out alike in both tables: openais 0.80's downlist is its own shape.
fn same_cpg_body(t: &Retarget<'_>, fname: &str) -> bool {
    let openais = t.from_table == ServiceTable::Openais || t.to_table == ServiceTable::Openais;
    matches!(fname, "procjoin" | "procleave" | "joinlist" | "mcast")
        || (!openais && matches!(fname, "downlist_old" | "downlist"))
}

/// A sync-engine message: header layout and size, ring id, pads, and across G1 the
/// service ids of a service_build.
fn sync(t: &Retarget<'_>, s: &SyncMessage) -> Result<SyncMessage, RetargetError> {
    let header = |h: &ServiceHeader, from_len: usize, to_len: usize| {
        let size = if h.size as usize == from_len {
            to_len as u32
        } else {
            h.size
        };
        ServiceHeader {
            generation: t.to,
            size,
            ..*h
        }
    };
    Ok(match s {
        SyncMessage::Barrier(m) | SyncMessage::MembDetermine(m) => {
            let mut n = m.clone();
            n.header = header(&m.header, ring_message_len(t.from), ring_message_len(t.to));
            n.ring_id = t.ring_id(&m.ring_id)?;
            if matches!(s, SyncMessage::Barrier(_)) {
                SyncMessage::Barrier(n)
            } else {
                SyncMessage::MembDetermine(n)
            }
        }
        SyncMessage::ServiceBuild(m) => {
            let mut n: ServiceBuild = (**m).clone();
            n.header = header(
                &m.header,
                service_build_len(t.from),
                service_build_len(t.to),
            );
            n.ring_id = t.ring_id(&m.ring_id)?;
            if crosses_g1(t) {
                let count = m.services().len();
                for id in n.service_list[..count].iter_mut() {
                    let s = u16::try_from(*id)
                        .ok()
                        .and_then(|i| Service::from_id(t.from_table, i))
                        .ok_or_else(|| no_counterpart(&format!("sync of service {id}"), t))?;
                    *id = s
                        .id(t.to_table)
                        .map(u32::from)
                        .ok_or_else(|| no_counterpart(&format!("sync of {}", s.name()), t))?;
                }
            }
            SyncMessage::ServiceBuild(Box::new(n))
        }
    })
}

fn no_counterpart(what: &str, t: &Retarget<'_>) -> RetargetError {
    RetargetError::NoCounterpart {
        what: what.into(),
        to: t.to,
    }
}

fn fragmented(what: &str, t: &Retarget<'_>) -> RetargetError {
    RetargetError::Fragmented {
        what: what.into(),
        to: t.to,
    }
}
