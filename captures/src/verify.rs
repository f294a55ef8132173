//! Verification of captures: decode every Totem datagram, re-encode it, compare bytes.

use std::collections::BTreeMap;
use std::path::Path;

use totem_wire::datagram::{decode, open_knet, DatagramError, Keys};

use crate::knet::KnetReassembly;

use crate::layers::{table_for_file, LayerStats, Layers};
use crate::{read_udp, CaptureError, PortFilter, UdpDatagram};

/// One datagram that failed to decode or to re-encode identically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Frame number in the capture (1-based, as tshark numbers frames).
    pub frame: u64,
    /// Why it failed.
    pub reason: String,
}

/// Counters of a verify run over one or more captures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Frames read.
    pub packets: u64,
    /// UDP datagrams on the Totem ports.
    pub totem: u64,
    /// Of those, decoded without error.
    pub decoded: u64,
    /// Of those, re-encoded to the same bytes.
    pub identical: u64,
    /// Decoded datagrams per generation label and envelope kind.
    pub by_kind: BTreeMap<String, u64>,
    /// What failed, per file. Failures of reassembled service messages have frame 0.
    pub failures: Vec<(String, Failure)>,
    /// The upper layers: reassembled service messages decoded and re-encoded identically.
    pub layers: LayerStats,
    /// Totem messages rebuilt from knet fragments, decoded and re-encoded identically.
    pub knet_reassembled: u64,
}

impl Report {
    /// Number of errors (failures).
    pub fn errors(&self) -> u64 {
        self.failures.len() as u64
    }
    /// Whether the run proves every datagram: all decoded, all identical.
    pub fn passed(&self) -> bool {
        self.errors() == 0 && self.decoded == self.totem && self.identical == self.decoded
    }
    /// The summary line, in exactly the documented form.
    pub fn summary_line(&self) -> String {
        format!(
            "packets={} totem={} decoded={} identical={} errors={}",
            self.packets,
            self.totem,
            self.decoded,
            self.identical,
            self.errors()
        )
    }
    /// Adds another report's counts to this one.
    pub fn absorb(&mut self, other: Report) {
        self.packets += other.packets;
        self.totem += other.totem;
        self.decoded += other.decoded;
        self.identical += other.identical;
        for (k, v) in other.by_kind {
            *self.by_kind.entry(k).or_default() += v;
        }
        self.failures.extend(other.failures);
        self.layers.absorb(other.layers);
        self.knet_reassembled += other.knet_reassembled;
    }
}

/// Checks one datagram: decode, re-encode, compare. Returns the kind label on success.
pub fn verify_datagram(d: &UdpDatagram, keys: &Keys) -> Result<String, String> {
    check_datagram(d, keys, None, None)
}

/// [`verify_datagram`], also handing the decoded datagram to `layers` (once, as decoded).
fn check_datagram(
    d: &UdpDatagram,
    keys: &Keys,
    mut layers: Option<&mut Layers>,
    knet: Option<&mut KnetReassembly>,
) -> Result<String, String> {
    let decoded = match decode(&d.payload, keys) {
        Ok(x) => x,
        // knet control frames and fragments carry no whole Totem message: the frame itself
        // (opened with knet crypto if on) must still decode and re-encode exactly; fragments
        // are reassembled and the Totem message in them checked like any other.
        Err(DatagramError::Knet(kind)) => {
            let k = open_knet(&d.payload, keys).map_err(|e| format!("decode: knet: {e}"))?;
            let again = k
                .encode(keys)
                .map_err(|e| format!("knet {kind:?}: re-encode: {e}"))?;
            if again != d.payload {
                return Err(format!("knet {kind:?}: re-encoded bytes differ"));
            }
            if let Some(done) = knet.and_then(|r| r.feed(&k)) {
                let m = done?;
                if let Some(layers) = layers.as_deref_mut() {
                    layers.record(&m.datagram);
                }
                crate::layers::verify_layers(&m.datagram)
                    .map_err(|e| format!("knet reassembled host {} seq {}: {e}", m.host, m.seq))?;
            }
            return Ok(if k.sealed {
                "G3 knet-sealed-frame"
            } else {
                "G3 knet-frame"
            }
            .into());
        }
        Err(e) => return Err(format!("decode: {e}")),
    };
    if let Some(layers) = layers {
        layers.record(&decoded);
    }
    let label = format!(
        "{} {}",
        decoded.generation,
        envelope_kind(&decoded.envelope)
    );
    let again = decoded
        .encode(keys)
        .map_err(|e| format!("{label}: re-encode: {e}"))?;
    if again != d.payload {
        let at = again
            .iter()
            .zip(&d.payload)
            .position(|(a, b)| a != b)
            .unwrap_or(again.len().min(d.payload.len()));
        return Err(format!(
            "{label} {}: re-encoded bytes differ at offset {at} (len {} vs {})",
            decoded.body.message.msg_type().name(),
            again.len(),
            d.payload.len()
        ));
    }
    crate::layers::verify_layers(&decoded).map_err(|e| format!("{label}: {e}"))?;
    Ok(label)
}

fn envelope_kind(e: &totem_wire::datagram::Envelope) -> &'static str {
    use totem_wire::datagram::Envelope;
    match e {
        Envelope::Plain => "plain",
        Envelope::Secauth(_) => "secauth",
        Envelope::Knet(_) => "knet",
        Envelope::KnetSealed { .. } => "knet-sealed",
        Envelope::TotemCrypto { config, .. } => {
            if config.cipher == totem_wire::envelope::Cipher::None
                && config.hash == totem_wire::envelope::Hash::None
            {
                "totemcrypto-none"
            } else {
                "totemcrypto-encrypted"
            }
        }
    }
}

/// Verifies every Totem datagram of one capture file.
pub fn verify_file(path: &Path, keys: &Keys, filter: &PortFilter) -> Result<Report, CaptureError> {
    let (datagrams, stats) = read_udp(path, filter)?;
    let mut report = Report {
        packets: stats.frames,
        ..Default::default()
    };
    let name = path.display().to_string();
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut layers = Layers::new(table_for_file(&file_name));
    let mut knet = KnetReassembly::new();
    for d in &datagrams {
        report.totem += 1;
        match check_datagram(d, keys, Some(&mut layers), Some(&mut knet)) {
            Ok(label) => {
                report.decoded += 1;
                report.identical += 1;
                *report.by_kind.entry(label).or_default() += 1;
            }
            Err(reason) => {
                if !reason.starts_with("decode:") {
                    report.decoded += 1;
                }
                report.failures.push((
                    name.clone(),
                    Failure {
                        frame: d.frame,
                        reason,
                    },
                ));
            }
        }
    }
    let (layer_stats, layer_errors) = layers.finish();
    for reason in layer_errors {
        report
            .failures
            .push((name.clone(), Failure { frame: 0, reason }));
    }
    report.layers.absorb(layer_stats);
    report.knet_reassembled = knet.completed;
    Ok(report)
}

/// The authkey that belongs to a capture by the bundled naming rule: a `*.authkey` file in the
/// same folder whose stem starts the capture's file name (the longest such stem wins).
pub fn sibling_authkey(capture: &Path) -> Option<std::path::PathBuf> {
    sibling_file(capture, ".authkey")
}

/// A file ending in `suffix` next to `capture` whose stem starts the capture's file name (the
/// longest such stem wins).
pub fn sibling_file(capture: &Path, suffix: &str) -> Option<std::path::PathBuf> {
    let dir = capture.parent()?;
    let name = capture.file_name()?.to_str()?;
    let mut best: Option<(usize, std::path::PathBuf)> = None;
    for entry in std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    })
    .ok()?
    {
        let path = entry.ok()?.path();
        let Some(stem) = path
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_suffix(suffix))
        else {
            continue;
        };
        if name.starts_with(stem) && best.as_ref().is_none_or(|(n, _)| stem.len() > *n) {
            best = Some((stem.len(), path));
        }
    }
    best.map(|(_, p)| p)
}
