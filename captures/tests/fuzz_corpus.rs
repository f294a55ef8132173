//! Replays the pcap fuzz target's seeds (heads of real captures), with truncations and
//! mutations, so CI exercises the capture reader's fuzz target on every run.

use std::path::Path;

use totem_captures::{read_udp_from_bytes, PortFilter};

#[test]
fn pcap_target() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/pcap");
    let mut runs = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let check = |b: &[u8]| {
            if let Ok((datagrams, stats)) = read_udp_from_bytes(b, &PortFilter::any()) {
                assert_eq!(stats.matched as usize, datagrams.len());
            }
        };
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("seed-")
        {
            // The head of a real capture: a valid file with datagrams before the cut.
            let (datagrams, _) =
                read_udp_from_bytes(&data, &PortFilter::any()).expect("seed reads");
            assert!(!datagrams.is_empty(), "{}", path.display());
        }
        for n in (0..data.len()).step_by(97) {
            check(&data[..n]);
            runs += 1;
        }
        let mut m = data.clone();
        for i in (0..m.len()).step_by(31) {
            m[i] ^= 0xFF;
            check(&m);
            m[i] ^= 0xFF;
            runs += 1;
        }
    }
    assert!(runs > 500);
}
