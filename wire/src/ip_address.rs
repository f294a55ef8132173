//! `totem_ip_address`: a member address as G1 and G2 put it on the wire (22 bytes).

use crate::endian::{Reader, Writer};
use crate::error::Result;

/// Linux's AF_INET value, as corosync on Linux writes it.
pub const AF_INET: u16 = 2;
/// Linux's AF_INET6 value. Other systems use other numbers; we keep whatever was received.
pub const AF_INET6: u16 = 10;

/// One totem_ip_address: nodeid, the sender's OS address family and 16 raw address bytes.
///
/// The 16 bytes are kept verbatim: G1 senders leave non-zero bytes after an IPv4 address and
/// ring ids are compared bytewise, so normalising them would break interop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TotemIpAddress {
    pub nodeid: u32,
    pub family: u16,
    pub addr: [u8; 16],
}

impl TotemIpAddress {
    /// Encoded size.
    pub const LEN: usize = 22;

    /// An IPv4 address with zeroed padding, as G2 writes it.
    pub fn v4(nodeid: u32, ip: std::net::Ipv4Addr) -> Self {
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&ip.octets());
        TotemIpAddress {
            nodeid,
            family: AF_INET,
            addr,
        }
    }
    /// An IPv6 address.
    pub fn v6(nodeid: u32, ip: std::net::Ipv6Addr) -> Self {
        TotemIpAddress {
            nodeid,
            family: AF_INET6,
            addr: ip.octets(),
        }
    }
    /// The address as a std IP address, if the family is Linux AF_INET or AF_INET6.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        match self.family {
            AF_INET => {
                let mut o = [0u8; 4];
                o.copy_from_slice(&self.addr[..4]);
                Some(std::net::IpAddr::from(o))
            }
            AF_INET6 => Some(std::net::IpAddr::from(self.addr)),
            _ => None,
        }
    }
    /// Whether this slot is empty (family 0), as the unused second ring address is.
    pub fn is_empty(&self) -> bool {
        self.family == 0
    }

    pub(crate) fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self> {
        let nodeid = r.u32(field)?;
        let family = r.u16(field)?;
        let addr = r.array::<16>(field)?;
        Ok(TotemIpAddress {
            nodeid,
            family,
            addr,
        })
    }
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.nodeid);
        w.u16(self.family);
        w.bytes(&self.addr);
    }
}

impl core::fmt::Display for TotemIpAddress {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.ip() {
            Some(ip) => write!(f, "{ip}"),
            None if self.is_empty() => f.write_str("-"),
            None => write!(f, "family{}:{:02x?}", self.family, self.addr),
        }
    }
}
