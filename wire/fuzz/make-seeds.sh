#!/usr/bin/env bash
# Seeds the fuzz corpora with real datagrams from the bundled captures: the first datagram of
# each distinct first-4-bytes pattern per capture (so every message type and envelope).
set -euo pipefail
cd "$(dirname "$0")"
caps=../../captures
seed() { # target capture-glob strip-bytes
  local target=$1 glob=$2 strip=${3:-0} n=0
  mkdir -p corpus/$target
  for f in $caps/$glob; do
    tshark -r "$f" -Y 'udp && !icmp && !icmpv6' -T fields -e udp.payload 2>/dev/null |
      awk '!seen[substr($1,1,10)]++' | head -20 | while read -r hex; do
        printf '%s' "${hex:$((strip*2))}" | xxd -r -p > corpus/$target/seed-$(basename "$f" .pcapng)-$n
        n=$((n+1))
      done || true # head closes the pipe early
  done
}
seed srp_g1 'real/1.4.10-udpu-0[1-5]*.pcapng'
seed srp_g1 'real/openais-*.pcapng'
seed srp_g2 'real/2.4.6-udpu-0[1-5]*.pcapng' 4
seed srp_g3 'g3/3.1.7-udpu-0*.pcapng'
seed datagram_plain 'real/*-0[12]-*.pcapng'
seed datagram_plain 'g3/3.1.7-udp*-0[12]-*.pcapng'
seed datagram_keyed 'real/*secauth-01*.pcapng'
seed datagram_keyed 'real/2.4.6-udpu-aes256*.pcapng'
seed knet 'g3/3.1.7-knet-*.pcapng'
