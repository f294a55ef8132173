//! Verification of captures: decode every Totem datagram, re-encode it, compare bytes.

use std::collections::BTreeMap;
use std::path::Path;

use totem_wire::datagram::{decode, DatagramError, Keys};
use totem_wire::knet::KnetFrame;

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
    }
}

/// Checks one datagram: decode, re-encode, compare. Returns the kind label on success.
pub fn verify_datagram(d: &UdpDatagram, keys: &Keys) -> Result<String, String> {
    check_datagram(d, keys, None)
}

/// [`verify_datagram`], also handing the decoded datagram to `layers` (once, as decoded).
fn check_datagram(
    d: &UdpDatagram,
    keys: &Keys,
    layers: Option<&mut Layers>,
) -> Result<String, String> {
    let decoded = match decode(&d.payload, keys) {
        Ok(x) => x,
        // knet control frames and fragments carry no whole Totem message: the frame itself
        // must still decode and re-encode exactly.
        Err(DatagramError::Knet(kind)) => {
            let f = KnetFrame::parse(&d.payload).map_err(|e| format!("decode: knet: {e}"))?;
            if f.to_vec() != d.payload {
                return Err(format!("knet {kind:?}: re-encoded bytes differ"));
            }
            return Ok("G3 knet-frame".into());
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
    for d in &datagrams {
        report.totem += 1;
        match check_datagram(d, keys, Some(&mut layers)) {
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
    Ok(report)
}

/// The authkey that belongs to a capture by the bundled naming rule: a `*.authkey` file in the
/// same folder whose stem starts the capture's file name (the longest such stem wins).
pub fn sibling_authkey(capture: &Path) -> Option<std::path::PathBuf> {
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
            .and_then(|f| f.strip_suffix(".authkey"))
        else {
            continue;
        };
        if name.starts_with(stem) && best.as_ref().is_none_or(|(n, _)| stem.len() > *n) {
            best = Some((stem.len(), path));
        }
    }
    best.map(|(_, p)| p)
}
