//! Batched datagram sends: `sendmmsg(2)` hands the kernel many datagrams, each with its own
//! destination, in one system call. Our knet transport cuts every 64 KiB Totem frame into ~46
//! fragments per peer; one `sendto` each was most of its per-datagram cost.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::SockAddr;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Most datagrams per `sendmmsg` call (the kernel takes up to UIO_MAXIOV = 1024).
pub const BATCH: usize = 64;

/// One `sendmmsg` over `pkts` (at most [`BATCH`] are tried): how many the kernel took, from
/// the first. An error means the first datagram was not sent.
fn sendmmsg(fd: i32, pkts: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    let pkts = &pkts[..pkts.len().min(BATCH)];
    let addrs: Vec<SockAddr> = pkts.iter().map(|(a, _)| SockAddr::from(*a)).collect();
    let mut iovs: Vec<libc::iovec> = pkts
        .iter()
        .map(|(_, b)| libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    let mut hdrs: Vec<libc::mmsghdr> = addrs
        .iter()
        .zip(iovs.iter_mut())
        .map(|(a, iov)| {
            // SAFETY: an all-zero msghdr is valid (no name, no iov, no control data).
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = a.as_ptr() as *mut libc::c_void;
            h.msg_hdr.msg_namelen = a.len();
            h.msg_hdr.msg_iov = iov as *mut libc::iovec;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    // SAFETY: every header points into `addrs` and `iovs`, and every iovec into `pkts`; all of
    // them outlive the call, and the kernel only reads them (it writes `msg_len`, in `hdrs`).
    let n = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), hdrs.len() as libc::c_uint, 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Sends every datagram of `pkts` on `s`, waiting while the socket buffer is full. A datagram
/// the kernel refuses is reported to `on_error` (with its index) and skipped. Returns how many
/// were sent.
pub async fn send_all(
    s: &UdpSocket,
    pkts: &[(SocketAddr, &[u8])],
    mut on_error: impl FnMut(usize, io::Error),
) -> u64 {
    let fd = s.as_raw_fd();
    let mut at = 0;
    let mut sent = 0u64;
    // Bounded: every turn sends or skips at least one datagram, or waits for writability.
    while at < pkts.len() {
        match s.try_io(Interest::WRITABLE, || sendmmsg(fd, &pkts[at..])) {
            Ok(n) => {
                at += n;
                sent += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if s.writable().await.is_err() {
                    break;
                }
            }
            Err(e) => {
                on_error(at, e);
                at += 1;
            }
        }
    }
    sent
}

/// Sends `pkts` on `s` without ever waiting: `sendmmsg` batches while the socket takes
/// them; once its buffer is full the rest are dropped. Returns (sent, dropped, refused by
/// the kernel with another error).
pub fn try_send_all(s: &UdpSocket, pkts: &[(SocketAddr, &[u8])]) -> (u64, u64, u64) {
    let fd = s.as_raw_fd();
    let (mut at, mut sent, mut errors) = (0, 0u64, 0u64);
    // Bounded: every turn sends at least one datagram, skips one, or stops.
    while at < pkts.len() {
        match s.try_io(Interest::WRITABLE, || sendmmsg(fd, &pkts[at..])) {
            Ok(0) => break,
            Ok(n) => {
                at += n;
                sent += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => {
                errors += 1;
                at += 1;
            }
        }
    }
    (sent, (pkts.len() - at) as u64, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_datagram_arrives_in_order_with_its_own_destination() {
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        // More than one batch, alternating destinations, distinct sizes and contents.
        let bodies: Vec<Vec<u8>> = (0..150u32)
            .map(|i| vec![i as u8; 1 + i as usize * 3])
            .collect();
        let pkts: Vec<(SocketAddr, &[u8])> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| (if i % 2 == 0 { aa } else { ba }, b.as_slice()))
            .collect();
        let mut errors = 0;
        let sent = send_all(&tx, &pkts, |_, _| errors += 1).await;
        assert_eq!((sent, errors), (150, 0));
        let mut buf = [0u8; 1024];
        for (i, body) in bodies.iter().enumerate() {
            let sock = if i % 2 == 0 { &a } else { &b };
            let (n, from) = sock.recv_from(&mut buf).await.unwrap();
            assert_eq!(from, tx.local_addr().unwrap());
            assert_eq!(&buf[..n], body.as_slice(), "datagram {i}");
        }
    }

    #[tokio::test]
    async fn a_refused_datagram_is_reported_and_the_rest_still_go() {
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = rx.local_addr().unwrap();
        // An IPv6 destination on an IPv4 socket: the kernel refuses that one.
        let v6: SocketAddr = "[fd00::1]:5405".parse().unwrap();
        let (one, two, three) = (b"one".as_slice(), b"two".as_slice(), b"three".as_slice());
        let pkts = [(to, one), (v6, two), (to, three)];
        let mut refused = Vec::new();
        let sent = send_all(&tx, &pkts, |i, _| refused.push(i)).await;
        assert_eq!((sent, refused), (2, vec![1]));
        let mut buf = [0u8; 16];
        let (n, _) = rx.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one");
        let (n, _) = rx.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"three");
    }
}
