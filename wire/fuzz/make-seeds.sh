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
seed knet 'g3/3.1.7-knet-0*.pcapng'

# knet crypto: every encrypted knet capture, opened with its own authkey (python3-cryptography,
# independent of our code). The plaintext frames seed `knet`; re-sealed with the fuzz key
# (nss/aes256/sha256, key bytes 00..7f, the frame's own salt) they seed `knet_crypto`.
mkdir -p corpus/knet corpus/knet_crypto
for f in $caps/g3/3.1.7-knet-*-*-*-0*.pcapng; do
  b=$(basename "$f" .pcapng); v=${b%-0*}
  tshark -r "$f" -Y 'udp.port==5405' -T fields -e udp.payload 2>/dev/null |
    python3 -c '
import sys, hmac, hashlib
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives import padding
key = open(sys.argv[1], "rb").read()[:4096]
_, model, cipher, hashname = sys.argv[2].split("-")[-4:]
hl = {"md5": 16, "sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}[hashname]
kl = {"none": 0, "aes128": 16, "aes192": 24, "aes256": 32}[cipher]
fk = bytes(range(128))
seen = set()
for line in sys.stdin:
    d = bytes.fromhex(line.strip().replace(":", ""))
    body, mac = d[:-hl], d[-hl:]
    assert hmac.new(key, body, hashname).digest() == mac, "hmac"
    if kl:
        salt, ct = body[:16], body[16:]
        dec = Cipher(algorithms.AES(key[:kl]), modes.CBC(salt)).decryptor()
        u = padding.PKCS7(128).unpadder()
        frame = u.update(dec.update(ct) + dec.finalize()) + u.finalize()
    else:
        salt, frame = bytes(16), body
    k = (frame[1], frame[11] if frame[1] == 0 else 0, len(frame) > 200)
    if k in seen: continue
    seen.add(k)
    tag = "%s-%02x-%d" % (sys.argv[3], frame[1], len(seen))
    open("corpus/knet/seed-%s" % tag, "wb").write(frame)
    p = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(fk[:32]), modes.CBC(salt)).encryptor()
    sealed = salt + enc.update(p.update(frame) + p.finalize()) + enc.finalize()
    sealed += hmac.new(fk, sealed, "sha256").digest()
    open("corpus/knet_crypto/seed-%s" % tag, "wb").write(sealed)
' "$caps/g3/$v.authkey" "$v" "$b"
done

# totempg packets (mcast payloads) and the group messages packed in them (unfragmented only).
upper() { # capture-glob mcast-header-offset
  for f in $caps/$1; do
    tshark -r "$f" -Y 'udp && !icmp && !icmpv6' -T fields -e udp.payload 2>/dev/null |
      python3 -c '
import sys, struct, os, hashlib
off = int(sys.argv[1]); base = sys.argv[2]; n = 0
for line in sys.stdin:
    b = bytes.fromhex(line.strip())
    kind = b[3] if b[:2] == b"\x70\xc0" else (b[4] if b[:2] == b"\xfe\xfe" else b[0])
    if kind != 1 or len(b) <= off + 8: continue
    p = b[off:]
    frag, count = p[4], struct.unpack_from("<H", p, 6)[0]
    lens = struct.unpack_from("<%dH" % count, p, 8) if 8 + 2 * count <= len(p) else ()
    h = hashlib.sha1(p[:64]).hexdigest()[:10]
    open("corpus/totempg/seed-%s-%s" % (base, h), "wb").write(p)
    at = 8 + 2 * count
    for i, l in enumerate(lens):
        if frag and i == len(lens) - 1: break
        if p[5] and i == 0: at += l; continue
        m = p[at:at + l]; at += l
        open("corpus/app_message/seed-%s-%s" % (base, hashlib.sha1(m).hexdigest()[:10]), "wb").write(m)
' "$2" "$(basename "$f" .pcapng)"
  done
}
mkdir -p corpus/totempg corpus/app_message
upper 'real/1.4.10-udpu-0[12]*.pcapng' 98
upper 'real/openais-0.80.6-udp-01-formation.pcapng' 98
upper 'real/2.4.6-udpu-0[12]*.pcapng' 103
upper 'g3/3.1.7-udpu-0[12]*.pcapng' 45

# knet_defrag: records `len (1) ‖ knet data frame` (see roundtrip::knet_defrag). The two
# committed seeds are built by hand, not from captures: seed-interleaved (two hosts' messages
# cut into 4 and 3 fragments, interleaved, out of order, one duplicate, one whole frame) and
# seed-eviction (40 messages from one host in flight: more than the 32 buffers).
