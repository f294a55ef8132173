//! Reads pcap/pcapng captures and extracts the Totem UDP datagrams in them.
