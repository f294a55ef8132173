//! The node loop drives something that is not a Totem member: a relay core that echoes every
//! datagram to its sender, over real loopback sockets, through `totem::driver::drive` (the
//! loop `totem-node` runs its member in). What a gateway core needs from the loop:
//! datagrams in with their source, datagrams out to an address, events up, commands in,
//! timers, and a clean stop.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use totem::driver::{
    drive, Core, Dest, DriveOptions, Flow, Net, NetControl, Outgoing, Transport, TransportConfig,
};
use totem::node_config::TransportKind;

/// Echoes datagrams; one event per datagram; a timer that fires once, `tick` after start.
struct Echo {
    out: VecDeque<Outgoing>,
    events: VecDeque<String>,
    tick: Option<Instant>,
}

enum EchoCommand {
    /// Answers with the relay's bound address.
    Addr(oneshot::Sender<Option<SocketAddr>>),
    Stop,
}

impl Core for Echo {
    type Event = String;
    type Command = EchoCommand;

    fn handle_datagram(&mut self, _now: Instant, src: SocketAddr, bytes: &[u8]) {
        self.events
            .push_back(format!("from {src}: {}", String::from_utf8_lossy(bytes)));
        self.out
            .push_back(Outgoing::new(Dest::Addr(src), bytes.to_vec()));
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.tick.is_some_and(|t| t <= now) {
            self.tick = None;
            self.events.push_back("tick".into());
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.tick
    }

    fn poll_transmit(&mut self) -> Option<Outgoing> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<String> {
        self.events.pop_front()
    }

    fn handle_command(
        &mut self,
        _now: Instant,
        cmd: EchoCommand,
        net: &mut dyn NetControl,
    ) -> Flow {
        match cmd {
            EchoCommand::Addr(reply) => {
                let _ = reply.send(net.local_addr());
                Flow::Continue
            }
            EchoCommand::Stop => Flow::Stop,
        }
    }
}

fn relay_transport() -> TransportConfig {
    TransportConfig {
        kind: TransportKind::Udpu,
        nodeid: 0,
        bind_addr: "127.0.0.1".parse().unwrap(),
        scope_id: 0,
        mcastaddr: None,
        port: 0,
        ttl: 1,
        socket_buffer: 1 << 20,
        nodes: Vec::new(),
        knet_links: Vec::new(),
        knet_mtu: 0,
        link_mode: Default::default(),
    }
}

#[tokio::test]
async fn the_node_loop_drives_an_echo_relay_over_loopback() {
    let net = Net::Udp(Transport::bind(&relay_transport()).unwrap());
    let core = Echo {
        out: VecDeque::new(),
        events: VecDeque::new(),
        tick: Some(Instant::now() + Duration::from_millis(50)),
    };
    let (cmd_tx, cmd_rx) = mpsc::channel(8);
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(drive(net, DriveOptions::default(), core, cmd_rx, ev_tx));

    let (reply, addr) = oneshot::channel();
    cmd_tx.send(EchoCommand::Addr(reply)).await.unwrap();
    let relay = addr.await.unwrap().expect("relay bound");
    assert_ne!(relay.port(), 0);

    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = client.local_addr().unwrap();
    let mut buf = [0u8; 64];
    for msg in ["one", "two"] {
        client.send_to(msg.as_bytes(), relay).await.unwrap();
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
            .await
            .expect("echo within 5 s")
            .unwrap();
        assert_eq!((&buf[..n], from), (msg.as_bytes(), relay));
    }

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let e = tokio::time::timeout(Duration::from_secs(5), ev_rx.recv())
            .await
            .expect("events within 5 s")
            .expect("loop running");
        seen.push(e);
    }
    let data: Vec<&String> = seen.iter().filter(|e| *e != "tick").collect();
    assert_eq!(
        data,
        [&format!("from {me}: one"), &format!("from {me}: two")]
    );
    assert!(seen.iter().any(|e| e == "tick"), "{seen:?}");

    cmd_tx.send(EchoCommand::Stop).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the loop stops on Flow::Stop")
        .unwrap();
}
