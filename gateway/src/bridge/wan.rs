//! The WAN link between two sites' gateways: one TCP connection carrying the ports' link
//! messages (`totem_wire::mrp_link`), each frame sealed with ChaCha20-Poly1305.
//!
//! Why TCP: the ports need their messages in order and without loss, which is what a TCP
//! stream is; the kernel's congestion control shares a lossy 100 Mbit/s link fairly; and a
//! single ordered stream costs nothing the global order does not already require (a
//! message cannot be used before the ones sent ahead of it anyway), so QUIC's independent
//! streams would buy nothing here while adding a TLS stack and certificates.
//!
//! Keys: both sides send a handshake with a fresh random nonce; each direction's key is
//! HKDF-SHA256 of the cluster's authkey, salted with both nonces (listener's first) and
//! labelled with the direction. Frame nonces count up from zero, so a replayed, dropped or
//! reordered frame fails to open and ends the connection. A peer whose first frame does not
//! open holds another key: refused, counted, retried with backoff.
//!
//! Liveness: a heartbeat every `heartbeat`; no frame for `dead_after` ends the connection
//! (a cut WAN drops packets, it does not close sockets).

use std::net::SocketAddr;
use std::time::Duration;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand_core::{OsRng, RngCore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use totem_wire::mrp_link::{Handshake, LinkMsg, HANDSHAKE_LEN};

/// Largest sealed frame accepted (an element of a 1 MiB CPG message and some).
pub const MAX_FRAME: usize = 2 << 20;
const TAG_LEN: usize = 16;

/// Which end of the link this gateway is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts the peer's connection on this address.
    Listen(SocketAddr),
    /// Connects to the peer at this address.
    Connect(SocketAddr),
}

/// How the link runs.
#[derive(Debug, Clone)]
pub struct LinkConf {
    pub role: Role,
    /// The cluster authkey (both sites hold the same file).
    pub key: Vec<u8>,
    /// This side's ring number (the peer learns it in the handshake).
    pub ring: u32,
    pub heartbeat: Duration,
    pub dead_after: Duration,
    /// First and longest wait between connection attempts.
    pub backoff: (Duration, Duration),
}

/// What the link tells the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A connection is up (`epoch` tags what may be sent on it).
    Up { epoch: u64, peer_ring: u32 },
    /// A message of the peer on connection `epoch`.
    Msg { epoch: u64, msg: LinkMsg },
    /// Connection `epoch` is gone, and why.
    Down { epoch: u64, reason: String },
    /// A connection attempt was refused before it came up, and why (wrong key, a
    /// stranger, a peer of the same ring).
    Refused { reason: String },
}

/// Why a link step failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("handshake: {0}")]
    Handshake(String),
    #[error("a frame did not open (wrong authkey, or tampered with)")]
    Seal,
    #[error("frame length {0} is outside {TAG_LEN}..={MAX_FRAME} bytes")]
    TooLarge(usize),
    #[error("undecodable frame: {0}")]
    Frame(String),
    #[error("no frame from the peer for {0:?}")]
    Dead(Duration),
    #[error("the gateway stopped")]
    Stopped,
}

/// One direction's sealing state.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    counter: u64,
}

impl Sealer {
    fn nonce(&mut self) -> Nonce {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.counter.to_le_bytes());
        self.counter += 1;
        n.into()
    }
    pub fn seal(&mut self, plain: &[u8]) -> Result<Vec<u8>, LinkError> {
        let n = self.nonce();
        self.cipher.encrypt(&n, plain).map_err(|_| LinkError::Seal)
    }
    pub fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>, LinkError> {
        let n = self.nonce();
        self.cipher.decrypt(&n, sealed).map_err(|_| LinkError::Seal)
    }
}

/// The two directions' keys of a connection: (ours to seal, the peer's to open).
pub fn link_keys(
    authkey: &[u8],
    ours: &Handshake,
    theirs: &Handshake,
    listener: bool,
) -> (Sealer, Sealer) {
    let (l, c) = if listener {
        (ours, theirs)
    } else {
        (theirs, ours)
    };
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(&l.nonce);
    salt[32..].copy_from_slice(&c.nonce);
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), authkey);
    let key = |label: &[u8]| {
        let mut k = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit.
        let _ = hk.expand(label, &mut k);
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&k)),
            counter: 0,
        }
    };
    let to_connector = key(b"totem-mrp-wan v1 listener to connector");
    let to_listener = key(b"totem-mrp-wan v1 connector to listener");
    if listener {
        (to_connector, to_listener)
    } else {
        (to_listener, to_connector)
    }
}

/// Starts the link task: messages to send go in with the epoch they were meant for
/// (stale ones are dropped), events come out.
pub fn spawn(
    conf: LinkConf,
) -> (
    mpsc::Sender<(u64, LinkMsg)>,
    mpsc::UnboundedReceiver<LinkEvent>,
    tokio::task::JoinHandle<()>,
) {
    // Bounded: a slow WAN holds the gateway, whose nodes' windows then hold their senders.
    let (tx, rx) = mpsc::channel(4096);
    let (etx, erx) = mpsc::unbounded_channel();
    let task = tokio::spawn(link_task(conf, rx, etx));
    (tx, erx, task)
}

async fn link_task(
    conf: LinkConf,
    mut out: mpsc::Receiver<(u64, LinkMsg)>,
    events: mpsc::UnboundedSender<LinkEvent>,
) {
    let listener = match conf.role {
        Role::Listen(a) => match TcpListener::bind(a).await {
            Ok(l) => Some(l),
            Err(e) => {
                let _ = events.send(LinkEvent::Refused {
                    reason: format!("cannot listen on {a}: {e}"),
                });
                return;
            }
        },
        Role::Connect(_) => None,
    };
    let mut epoch = 0u64;
    let mut wait = conf.backoff.0;
    loop {
        let stream = match (&listener, conf.role) {
            (Some(l), _) => match l.accept().await {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
            (None, Role::Connect(a)) => {
                match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(a)).await {
                    Ok(Ok(s)) => s,
                    _ => {
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(conf.backoff.1);
                        continue;
                    }
                }
            }
            (None, Role::Listen(_)) => return,
        };
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().ok();
        epoch += 1;
        let mut up = false;
        match session(&conf, stream, epoch, &mut out, &events, &mut up).await {
            Err(LinkError::Stopped) => return,
            Err(e) if up => {
                let _ = events.send(LinkEvent::Down {
                    epoch,
                    reason: e.to_string(),
                });
                wait = conf.backoff.0;
            }
            Err(e) => {
                let _ = events.send(LinkEvent::Refused {
                    reason: format!("{}: {e}", peer.map_or("?".into(), |p| p.to_string())),
                });
            }
            Ok(()) => {}
        }
        // Drop what was meant for the connection that is gone.
        while out.try_recv().is_ok() {}
        if listener.is_none() {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(conf.backoff.1);
        }
    }
}

async fn read_frame(
    s: &mut tokio::net::tcp::OwnedReadHalf,
    opener: &mut Sealer,
) -> Result<LinkMsg, LinkError> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let n = u32::from_be_bytes(len) as usize;
    if !(TAG_LEN..=MAX_FRAME).contains(&n) {
        return Err(LinkError::TooLarge(n));
    }
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).await?;
    let plain = opener.open(&buf)?;
    LinkMsg::parse(&plain).map_err(|e| LinkError::Frame(e.to_string()))
}

fn frame(sealer: &mut Sealer, m: &LinkMsg) -> Result<Vec<u8>, LinkError> {
    let plain = m.to_vec().map_err(|e| LinkError::Frame(e.to_string()))?;
    let sealed = sealer.seal(&plain)?;
    let mut b = Vec::with_capacity(4 + sealed.len());
    b.extend_from_slice(&(sealed.len() as u32).to_be_bytes());
    b.extend_from_slice(&sealed);
    Ok(b)
}

/// One connection: handshake, first frames both ways, then messages until it ends.
async fn session(
    conf: &LinkConf,
    stream: TcpStream,
    epoch: u64,
    out: &mut mpsc::Receiver<(u64, LinkMsg)>,
    events: &mpsc::UnboundedSender<LinkEvent>,
    up: &mut bool,
) -> Result<(), LinkError> {
    let (mut rd, mut wr) = stream.into_split();
    let mut nonce = [0u8; 32];
    OsRng.fill_bytes(&mut nonce);
    let ours = Handshake {
        nonce,
        ring: conf.ring,
    };
    let hs_timeout = conf.dead_after;
    wr.write_all(&ours.to_bytes()).await?;
    let mut hb = [0u8; HANDSHAKE_LEN];
    tokio::time::timeout(hs_timeout, rd.read_exact(&mut hb))
        .await
        .map_err(|_| LinkError::Handshake("no handshake from the peer".into()))?
        .map_err(|e| LinkError::Handshake(e.to_string()))?;
    let theirs = Handshake::parse(&hb).map_err(|e| LinkError::Handshake(e.to_string()))?;
    if theirs.ring == conf.ring {
        return Err(LinkError::Handshake(format!(
            "the peer is ring {} too: a WAN link joins two different rings",
            theirs.ring
        )));
    }
    let listener = matches!(conf.role, Role::Listen(_));
    let (mut sealer, mut opener) = link_keys(&conf.key, &ours, &theirs, listener);
    // Both send a heartbeat first: the peer's proves it holds the key before anything of
    // ours reaches the port.
    wr.write_all(&frame(&mut sealer, &LinkMsg::Heartbeat)?)
        .await?;
    match tokio::time::timeout(hs_timeout, read_frame(&mut rd, &mut opener)).await {
        Ok(Ok(LinkMsg::Heartbeat)) => {}
        Ok(Ok(other)) => {
            return Err(LinkError::Handshake(format!(
                "first frame is not a heartbeat: {other:?}"
            )))
        }
        Ok(Err(LinkError::Seal)) => return Err(LinkError::Seal),
        Ok(Err(e)) => return Err(LinkError::Handshake(e.to_string())),
        Err(_) => return Err(LinkError::Handshake("no first frame from the peer".into())),
    }
    // Drop anything queued for an earlier connection.
    while out.try_recv().is_ok() {}
    *up = true;
    let _ = events.send(LinkEvent::Up {
        epoch,
        peer_ring: theirs.ring,
    });
    tracing::info!(epoch, peer_ring = theirs.ring, "WAN link up");
    let (ftx, mut frx) = mpsc::channel::<Result<LinkMsg, LinkError>>(1024);
    let reader = tokio::spawn(async move {
        loop {
            let r = read_frame(&mut rd, &mut opener).await;
            let end = r.is_err();
            if ftx.send(r).await.is_err() || end {
                break;
            }
        }
    });
    let mut beat = tokio::time::interval(conf.heartbeat);
    let mut last_heard = tokio::time::Instant::now();
    let result = loop {
        let dead_at = last_heard + conf.dead_after;
        tokio::select! {
            r = frx.recv() => match r {
                Some(Ok(msg)) => {
                    last_heard = tokio::time::Instant::now();
                    if msg != LinkMsg::Heartbeat {
                        let _ = events.send(LinkEvent::Msg { epoch, msg });
                    }
                }
                Some(Err(e)) => break Err(e),
                None => break Err(LinkError::Io(std::io::ErrorKind::UnexpectedEof.into())),
            },
            m = out.recv() => match m {
                Some((e, msg)) if e == epoch => {
                    let b = frame(&mut sealer, &msg)?;
                    match tokio::time::timeout(conf.dead_after, wr.write_all(&b)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => break Err(e.into()),
                        Err(_) => break Err(LinkError::Dead(conf.dead_after)),
                    }
                }
                Some(_) => {}
                None => break Err(LinkError::Stopped),
            },
            _ = beat.tick() => {
                let b = frame(&mut sealer, &LinkMsg::Heartbeat)?;
                match tokio::time::timeout(conf.dead_after, wr.write_all(&b)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => break Err(e.into()),
                    Err(_) => break Err(LinkError::Dead(conf.dead_after)),
                }
            }
            () = tokio::time::sleep_until(dead_at) => break Err(LinkError::Dead(conf.dead_after)),
        }
    };
    reader.abort();
    tracing::warn!(epoch, reason = %result.as_ref().err().map(ToString::to_string).unwrap_or_default(), "WAN link down");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs(b: u8, ring: u32) -> Handshake {
        Handshake {
            nonce: [b; 32],
            ring,
        }
    }

    #[test]
    fn both_ends_derive_each_others_keys() {
        let (l, c) = (hs(1, 0), hs(2, 1));
        let (mut l_seal, mut l_open) = link_keys(b"authkey", &l, &c, true);
        let (mut c_seal, mut c_open) = link_keys(b"authkey", &c, &l, false);
        let m = l_seal.seal(b"to connector").unwrap();
        assert_eq!(c_open.open(&m).unwrap(), b"to connector");
        let m = c_seal.seal(b"to listener").unwrap();
        assert_eq!(l_open.open(&m).unwrap(), b"to listener");
    }

    #[test]
    fn a_wrong_key_a_replay_or_a_reflection_does_not_open() {
        let (l, c) = (hs(1, 0), hs(2, 1));
        let (mut l_seal, _) = link_keys(b"authkey", &l, &c, true);
        let (_, mut c_open) = link_keys(b"other key", &c, &l, false);
        let m = l_seal.seal(b"x").unwrap();
        assert!(c_open.open(&m).is_err(), "wrong key");
        let (mut l_seal, mut l_open) = link_keys(b"authkey", &l, &c, true);
        let (_, mut c_open) = link_keys(b"authkey", &c, &l, false);
        let first = l_seal.seal(b"one").unwrap();
        assert!(c_open.open(&first).is_ok());
        assert!(c_open.open(&first).is_err(), "a replayed frame");
        let own = l_seal.seal(b"two").unwrap();
        assert!(
            l_open.open(&own).is_err(),
            "a frame reflected back at its sender"
        );
    }

    #[tokio::test]
    async fn a_link_comes_up_carries_messages_and_refuses_a_wrong_key() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let conf = |role, key: &[u8], ring| LinkConf {
            role,
            key: key.to_vec(),
            ring,
            heartbeat: Duration::from_millis(50),
            dead_after: Duration::from_millis(500),
            backoff: (Duration::from_millis(20), Duration::from_millis(100)),
        };
        let (atx, mut aev, a) = spawn(conf(Role::Listen(port), b"k", 0));
        let (_btx, mut bev, b) = spawn(conf(Role::Connect(port), b"wrong", 1));
        let ev = tokio::time::timeout(Duration::from_secs(5), bev.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(ev, LinkEvent::Refused { ref reason } if reason.contains("did not open")),
            "{ev:?}"
        );
        b.abort();
        let (ctx, mut cev, c) = spawn(conf(Role::Connect(port), b"k", 1));
        let up = |ev: Option<LinkEvent>| match ev {
            Some(LinkEvent::Up { epoch, peer_ring }) => (epoch, peer_ring),
            other => panic!("{other:?}"),
        };
        let (ce, cr) = up(tokio::time::timeout(Duration::from_secs(5), cev.recv())
            .await
            .unwrap());
        assert_eq!(cr, 0);
        // The listener saw the wrong-key attempt first.
        let mut ae = None;
        for _ in 0..4 {
            match tokio::time::timeout(Duration::from_secs(5), aev.recv())
                .await
                .unwrap()
            {
                Some(LinkEvent::Up { epoch, peer_ring }) => {
                    assert_eq!(peer_ring, 1);
                    ae = Some(epoch);
                    break;
                }
                Some(LinkEvent::Refused { .. }) => {}
                other => panic!("{other:?}"),
            }
        }
        let ae = ae.expect("listener up");
        atx.send((ae, LinkMsg::Groups(vec![b"g".to_vec()])))
            .await
            .unwrap();
        ctx.send((ce, LinkMsg::Element(vec![1, 2, 3])))
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), cev.recv())
            .await
            .unwrap();
        assert_eq!(
            got,
            Some(LinkEvent::Msg {
                epoch: ce,
                msg: LinkMsg::Groups(vec![b"g".to_vec()])
            })
        );
        let got = tokio::time::timeout(Duration::from_secs(5), aev.recv())
            .await
            .unwrap();
        assert_eq!(
            got,
            Some(LinkEvent::Msg {
                epoch: ae,
                msg: LinkMsg::Element(vec![1, 2, 3])
            })
        );
        // The connector goes away: the listener notices.
        c.abort();
        drop(ctx);
        let got = tokio::time::timeout(Duration::from_secs(5), aev.recv())
            .await
            .unwrap();
        assert!(
            matches!(got, Some(LinkEvent::Down { epoch, .. }) if epoch == ae),
            "{got:?}"
        );
        a.abort();
    }
}
