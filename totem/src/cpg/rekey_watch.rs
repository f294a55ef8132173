//! The CFG service's part of a run-time knet key change that cannot wait for the service
//! task: load a changed key as soon as the reload is delivered (peers seal with it a few ms
//! later), and seal with it as soon as any node's phase-1 message is delivered (that node
//! seals with it from then on, and drops the old key at its phase 2, which may be ordered
//! before ours). The node loop runs these steps at delivery time ([`DeliveryWatch`]).

use totem_wire::Generation;

use super::codec::{scan_cfg, CfgSeen};
use crate::driver::{DeliveryWatch, RekeyStep};
use crate::knet::rekey::PHASE_ACTIVATE;

/// Watches deliveries for CFG reload and crypto reconfig messages of one generation.
#[derive(Debug, Clone, Copy)]
pub struct CfgRekeyWatch {
    gen: Generation,
}

impl CfgRekeyWatch {
    pub fn new(gen: Generation) -> Self {
        CfgRekeyWatch { gen }
    }
}

impl DeliveryWatch for CfgRekeyWatch {
    fn on_deliver(&mut self, payload: &[u8], steps: &mut Vec<RekeyStep>) {
        for seen in scan_cfg(self.gen, payload) {
            match seen {
                CfgSeen::Reload => steps.push(RekeyStep::Load),
                CfgSeen::CryptoPhase(p) if p == PHASE_ACTIVATE => steps.push(RekeyStep::Phase(p)),
                CfgSeen::CryptoPhase(_) | CfgSeen::RingReenable => {}
            }
        }
    }

    fn ring_reenable(&mut self, payload: &[u8]) -> bool {
        scan_cfg(self.gen, payload).contains(&CfgSeen::RingReenable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpg::codec::{cfg_crypto_reconfig, cfg_ring_reenable, Packer};
    use crate::knet::rekey::PHASE_CLEANUP;

    fn packed(msgs: Vec<Vec<u8>>) -> Vec<u8> {
        let mut p = Packer::new(1400).unwrap();
        let mut out = Vec::new();
        for m in msgs {
            p.push(m, &mut out).unwrap();
        }
        p.flush(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        out.remove(0)
    }

    /// A reload asks for a load, any node's phase 1 for activation; phase 2 (each node's
    /// own cleanup, run by the service for its own message) and other generations nothing.
    #[test]
    fn reload_and_phase_one_are_steps_cleanup_is_not() {
        let mut reload = vec![3, 0, 1, 0, 0, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0];
        reload.extend_from_slice(&[0; 16]);
        let g3 = Generation::G3;
        let p = packed(vec![
            reload,
            cfg_crypto_reconfig(g3, PHASE_ACTIVATE).unwrap(),
            cfg_crypto_reconfig(g3, PHASE_CLEANUP).unwrap(),
        ]);
        let mut steps = Vec::new();
        CfgRekeyWatch::new(g3).on_deliver(&p, &mut steps);
        assert_eq!(
            steps,
            vec![RekeyStep::Load, RekeyStep::Phase(PHASE_ACTIVATE)]
        );
        let mut steps = Vec::new();
        CfgRekeyWatch::new(Generation::G1).on_deliver(&p, &mut steps);
        assert!(steps.is_empty());
    }

    /// `corosync-cfgtool -r` on a 2.x daemon: its CFG ring re-enable asks for no key step,
    /// and is seen as a ring re-enable (and nothing else is).
    #[test]
    fn ring_reenable_is_seen() {
        let g2 = Generation::G2;
        let p = packed(vec![cfg_ring_reenable(g2, 1).unwrap()]);
        let mut w = CfgRekeyWatch::new(g2);
        let mut steps = Vec::new();
        w.on_deliver(&p, &mut steps);
        assert!(steps.is_empty());
        assert!(w.ring_reenable(&p));
        let other = packed(vec![cfg_crypto_reconfig(g2, PHASE_ACTIVATE).unwrap()]);
        assert!(!w.ring_reenable(&other));
    }
}
