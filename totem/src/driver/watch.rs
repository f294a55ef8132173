//! What a service above the driver asks of the transport when the ring delivers: the node
//! loop hands every delivered payload to a [`DeliveryWatch`] before the event goes up, and
//! runs the [`RekeyStep`]s it answers at once. The driver decodes no service messages
//! itself; the watch (e.g. `crate::cpg::CfgRekeyWatch`) decides.

use super::node::RekeyStep;

/// Reads delivered payloads at delivery time and answers the transport steps to run now.
///
/// Called in the node loop for every delivery, in delivery order: keep it cheap. A
/// [`RekeyStep::Load`] answered here is remembered, and the service's own later
/// `NodeHandle::rekey(RekeyStep::Load)` gets its outcome instead of loading again.
pub trait DeliveryWatch: Send {
    /// The steps `payload` (one delivered Totem message) calls for, in order.
    fn on_deliver(&mut self, payload: &[u8], steps: &mut Vec<RekeyStep>);

    /// Whether `payload` asks every node to re-enable its redundant rings (CFG ring
    /// re-enable, `corosync-cfgtool -r`); asked only of nodes that run the RRP.
    fn ring_reenable(&mut self, _payload: &[u8]) -> bool {
        false
    }
}
