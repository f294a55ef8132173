//! One link to one host: its address, heartbeat timers and up/down state (links.c,
//! threads_heartbeat.c, the pong branch of threads_rx.c).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// `KNET_LINK_PONG_TIMEOUT_BACKOFF`: the pong timeout starts ×10 and shrinks by one step a
/// second.
pub const PONG_TIMEOUT_BACKOFF: u32 = 10;
/// `KNET_LINK_PONG_TIMEOUT_LAT_MUL`: measured latency added twice to the pong timeout.
pub const PONG_TIMEOUT_LAT_MUL: u32 = 2;

/// Heartbeat settings of one link number (corosync `knet_*` interface keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkParams {
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// Latency samples averaged (`knet_ping_precision`).
    pub ping_precision: u32,
    /// Pongs needed before the link comes up.
    pub pong_count: u32,
    /// `knet_link_priority` (passive mode prefers the highest).
    pub priority: u8,
}

impl LinkParams {
    /// corosync 3.1.7's values for a token timeout (token + coefficient for the nodelist):
    /// interval = token / (2 × pong_count), timeout = token / pong_count, precision 2048,
    /// pong_count 2, priority 1.
    pub fn corosync_defaults(token_timeout: Duration) -> Self {
        LinkParams {
            ping_interval: token_timeout / 4,
            ping_timeout: token_timeout / 2,
            ping_precision: 2048,
            pong_count: 2,
            priority: 1,
        }
    }
}

/// Per-link counters and state as `totem-node status` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStatus {
    pub host: u16,
    pub link: u8,
    pub addr: Option<SocketAddr>,
    pub connected: bool,
    /// Average pong latency in microseconds.
    pub latency_us: u64,
    pub tx_ping: u64,
    pub rx_ping: u64,
    pub tx_pong: u64,
    pub rx_pong: u64,
    pub rx_pmtud: u64,
    pub tx_pmtud_reply: u64,
    pub tx_data: u64,
    pub rx_data: u64,
    pub tx_errors: u64,
    /// Pongs dropped because their latency exceeded the pong timeout.
    pub rx_late_pongs: u64,
    pub up_count: u64,
    pub down_count: u64,
}

/// One configured link.
#[derive(Debug, Clone)]
pub struct Link {
    pub id: u8,
    pub addr: SocketAddr,
    pub params: LinkParams,
    pub connected: bool,
    pub received_pong: u32,
    pub ping_last: Option<Instant>,
    pub pong_last: Option<Instant>,
    pub latency: Duration,
    pub latency_samples: u32,
    pub backoff: u32,
    pub stats: LinkStatus,
}

impl Link {
    /// A configured, enabled, down link.
    pub fn new(host: u16, id: u8, addr: SocketAddr, params: LinkParams) -> Self {
        Link {
            id,
            addr,
            params,
            connected: false,
            received_pong: 0,
            ping_last: None,
            pong_last: None,
            latency: Duration::ZERO,
            latency_samples: 0,
            backoff: PONG_TIMEOUT_BACKOFF,
            stats: LinkStatus {
                host,
                link: id,
                addr: Some(addr),
                ..LinkStatus::default()
            },
        }
    }

    /// The pong timeout in force (`pong_timeout_adj`).
    pub fn pong_timeout_adj(&self) -> Duration {
        self.params.ping_timeout * self.backoff + self.latency * PONG_TIMEOUT_LAT_MUL
    }

    /// When the next timed ping is due.
    pub fn next_ping(&self) -> Option<Instant> {
        self.ping_last.map(|t| t + self.params.ping_interval)
    }

    /// When the link goes down if no pong arrives.
    pub fn down_at(&self) -> Option<Instant> {
        self.pong_last.map(|t| t + self.pong_timeout_adj())
    }

    /// Takes the link down (`_link_down`); true when it was up.
    pub fn set_down(&mut self) -> bool {
        self.received_pong = 0;
        self.pong_last = None;
        self.backoff = PONG_TIMEOUT_BACKOFF;
        let was = self.connected;
        if was {
            self.connected = false;
            self.stats.down_count += 1;
        }
        self.stats.connected = false;
        was
    }

    /// Records a pong with round-trip `rtt`; true when this pong brought the link up.
    pub fn on_pong(&mut self, now: Instant, rtt: Duration) -> bool {
        self.stats.rx_pong += 1;
        self.pong_last = Some(now);
        if rtt > self.params.ping_timeout {
            self.stats.rx_late_pongs += 1;
            return false;
        }
        let max = self.params.ping_precision.max(1);
        self.latency_samples = (self.latency_samples + 1).min(max);
        let n = self.latency_samples;
        self.latency = (self.latency * (n - 1) + rtt) / n;
        self.stats.latency_us = self.latency.as_micros() as u64;
        if self.latency < self.pong_timeout_adj() && !self.connected {
            if self.received_pong >= self.params.pong_count {
                self.connected = true;
                self.stats.connected = true;
                self.stats.up_count += 1;
                return true;
            }
            self.received_pong += 1;
        }
        false
    }

    /// The once-a-second backoff step (`_adjust_pong_timeouts`).
    pub fn adjust_backoff(&mut self) {
        if self.backoff > 1 {
            self.backoff -= 1;
        }
    }
}
