//! The gateway core as a box on simulated links (`totem::sim::middlebox`), so mixed rings
//! of engines and gateways run under the simulator's faults and its EVS checker.

use std::time::Duration;

use totem::sim::middlebox::{BoxStats, Hop, Middlebox};
use totem::sim::Sim;
use totem_wire::Generation;

use crate::upgrade::{Direction, Gateway, GatewayConfig, Refusal};

/// A [`Gateway`] beside node `local`: it sits on every link to and from that node.
#[derive(Debug)]
pub struct GatewayBox {
    gw: Gateway,
    /// One-way delay the gateway adds.
    pub delay: Duration,
    passed: u64,
}

impl GatewayBox {
    pub fn new(gw: Gateway, delay: Duration) -> Self {
        GatewayBox {
            gw,
            delay,
            passed: 0,
        }
    }
    /// The core.
    pub fn gateway(&self) -> &Gateway {
        &self.gw
    }
}

impl Middlebox for GatewayBox {
    fn on_datagram(&mut self, from: Hop, to: Hop, bytes: &[u8]) -> Vec<(Vec<u8>, Duration)> {
        let local = self.gw.config().local;
        let out = if from.nodeid == local {
            self.gw.from_local(bytes, Some(to.nodeid))
        } else if to.nodeid == local {
            self.gw.from_ring(bytes, from.nodeid)
        } else {
            self.passed += 1;
            return vec![(bytes.to_vec(), Duration::ZERO)];
        };
        match out {
            Ok(v) => vec![(v, self.delay)],
            Err(_) => Vec::new(),
        }
    }

    fn stats(&self) -> BoxStats {
        let s = self.gw.stats();
        let mut b = BoxStats {
            passed: self.passed,
            rewritten: s.translated_total(Direction::ToRing)
                + s.translated_total(Direction::ToLocal),
            ..Default::default()
        };
        for dir in [Direction::ToRing, Direction::ToLocal] {
            for r in Refusal::ALL {
                let n = s.refused_of(dir, r);
                if n > 0 {
                    *b.dropped.entry(format!("{dir:?} {r}")).or_default() += n;
                }
            }
        }
        b
    }
}

/// Rolling upgrades in the simulator: which nodes run corosync 3 behind a gateway.
#[derive(Debug, Default)]
pub struct Upgrade {
    /// Box handle of node `i`'s gateway, once it has one.
    pub gateways: Vec<Option<usize>>,
}

impl Upgrade {
    /// Moves node `i` to G3 behind a new gateway (the node must be stopped; it starts as
    /// G3 at its next restart), and rebuilds every link chain: a datagram leaves through
    /// its sender's gateway and arrives through its receiver's.
    pub fn upgrade(
        &mut self,
        sim: &mut Sim,
        i: usize,
        delay: Duration,
    ) -> Result<usize, crate::upgrade::GatewayError> {
        let n = sim.len();
        self.gateways.resize(n, None);
        let gw = Gateway::new(GatewayConfig {
            book: sim.address_book(),
            local: i as u32 + 1,
            ring: Generation::G2,
            daemon: Generation::G3,
            // The simulator's payloads are its own message ids.
            payload: totem_wire::retarget::Payload::Opaque,
        })?;
        let id = sim.add_middlebox(Box::new(GatewayBox::new(gw, delay)), &[]);
        self.gateways[i] = Some(id);
        sim.set_generation(i, Generation::G3);
        self.rechain(sim);
        Ok(id)
    }

    fn rechain(&self, sim: &mut Sim) {
        let n = sim.len();
        for a in 0..n {
            for b in 0..n {
                if a == b {
                    continue;
                }
                let chain: Vec<usize> = [self.gateways[a], self.gateways[b]]
                    .into_iter()
                    .flatten()
                    .collect();
                sim.set_link_chain(a, b, &chain);
            }
        }
    }
}
