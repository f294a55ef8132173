//! One ring, one member order: corosync 2 orders members (and picks the representative)
//! by address, corosync 3 by nodeid, so a mixed ring is only one ring when both orders agree.

use std::net::IpAddr;

use totem_wire::ip_address::TotemIpAddress;
use totem_wire::retarget::AddressBook;

/// Two nodes the generations would order differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "node {low_id} ({low_addr}) has a lower nodeid but a higher address than node {high_id} \
     ({high_addr}): corosync 2 orders the ring by address and corosync 3 by nodeid, so they \
     would not agree on the ring order; renumber the nodes so that nodeids rise with addresses"
)]
pub struct OrderMismatch {
    pub low_id: u32,
    pub low_addr: String,
    pub high_id: u32,
    pub high_addr: String,
}

/// corosync 2's address order (`totemip_compare`): family first, IPv4 numerically, IPv6
/// bytewise.
fn addr_key(a: &TotemIpAddress) -> (u16, [u8; 16]) {
    let mut k = [0u8; 16];
    match a.ip() {
        Some(IpAddr::V4(v)) => k[..4].copy_from_slice(&v.octets()),
        Some(IpAddr::V6(v)) => k = v.octets(),
        None => k = a.addr,
    }
    (a.family, k)
}

/// Checks that ring 0 addresses rise with nodeids over the whole book.
pub fn check(book: &AddressBook) -> Result<(), OrderMismatch> {
    let e = book.entries();
    for (i, a) in e.iter().enumerate() {
        for b in &e[i + 1..] {
            // Entries are by nodeid: a.nodeid < b.nodeid.
            if addr_key(&a.g2[0]) > addr_key(&b.g2[0]) {
                return Err(OrderMismatch {
                    low_id: a.nodeid,
                    low_addr: a.g2[0].to_string(),
                    high_id: b.nodeid,
                    high_addr: b.g2[0].to_string(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use totem_wire::retarget::BookEntry;

    fn book(nodes: &[(u32, &str)]) -> AddressBook {
        let mut b = AddressBook::new();
        for (id, ip) in nodes {
            b.insert(BookEntry::new(*id, ip.parse().unwrap(), None))
                .unwrap();
        }
        b
    }

    #[test]
    fn rising_addresses_pass_and_a_swap_is_named() {
        assert!(check(&book(&[
            (1, "192.0.2.9"),
            (2, "192.0.2.10"),
            (5, "192.0.2.200")
        ]))
        .is_ok());
        let e = check(&book(&[(1, "192.0.2.20"), (2, "192.0.2.3")])).unwrap_err();
        assert_eq!((e.low_id, e.high_id), (1, 2));
        assert!(e.to_string().contains("192.0.2.20"));
        // Numeric, not textual: .9 < .10.
        assert!(check(&book(&[(1, "192.0.2.9"), (2, "192.0.2.10")])).is_ok());
        assert!(check(&book(&[(1, "fd00::2"), (2, "fd00::10")])).is_ok());
    }
}
