#!/usr/bin/env bash
# udp multicast transport check in network namespaces: two totem-node (G3) and one real
# corosync 3.1.7 on a bridge, 192.0.2.1-3, group 233.252.0.1 (MCAST-TEST-NET). Checks that
# the three form one ring, then that CPG load between the two totem-nodes is delivered in
# the same order on both. Run as root after `cargo build -p totem --bins`; BIN overrides the
# binary directory. Bounded: every wait has a timeout; namespaces and processes are removed
# on exit.
set -euo pipefail
# TRANSPORT=udpu runs the same check over unicast.
TRANSPORT=${TRANSPORT:-udp}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/debug}
W=$(mktemp -d /tmp/driver-netns.XXXXXX)
P=drvt$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for n in "$P-1" "$P-2" "$P-3" "$P-br"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT

ip netns add "$P-br"
ip -n "$P-br" link add br0 type bridge
ip -n "$P-br" link set br0 up
for i in 1 2 3; do
  ip netns add "$P-$i"
  ip link add "v$P$i" netns "$P-$i" type veth peer name "p$i" netns "$P-br"
  ip -n "$P-br" link set "p$i" master br0
  ip -n "$P-br" link set "p$i" up
  ip -n "$P-$i" addr add "192.0.2.$i/24" dev "v$P$i"
  ip -n "$P-$i" link set "v$P$i" up
  ip -n "$P-$i" link set lo up
  ip -n "$P-$i" route add 224.0.0.0/4 dev "v$P$i"
done

cat >"$W/corosync.conf" <<EOF
totem {
    version: 2
    cluster_name: drvt
    transport: $TRANSPORT
    token: 1000
    crypto_cipher: none
    crypto_hash: none
    interface {
        linknumber: 0
        bindnetaddr: 192.0.2.0
        mcastaddr: 233.252.0.1
        mcastport: 5405
    }
}
nodelist {
    node {
        nodeid: 1
        ring0_addr: 192.0.2.1
    }
    node {
        nodeid: 2
        ring0_addr: 192.0.2.2
    }
    node {
        nodeid: 3
        ring0_addr: 192.0.2.3
    }
}
system {
    state_dir: $W
}
logging {
    to_stderr: no
    to_logfile: yes
    logfile: $W/corosync.log
}
EOF

for i in 1 2; do
  ip netns exec "$P-$i" "$BIN/totem-node" -c "$W/corosync.conf" --control "$W/n$i.sock" >"$W/n$i.log" 2>&1 &
  pids+=($!)
done
ip netns exec "$P-3" corosync -f -c "$W/corosync.conf" >"$W/corosync.out" 2>&1 &
pids+=($!)

ok=0
for _ in $(seq 1 100); do
  if "$BIN/totem-node" status --control "$W/n1.sock" 2>/dev/null | grep -q '^ *3 *192.0.2.3'; then ok=1; break; fi
  sleep 0.1
done
"$BIN/totem-node" status --control "$W/n1.sock" | sed -n 1,14p
[ "$ok" = 1 ] || { echo "FAIL: no ring of 3 with corosync"; tail -20 "$W/corosync.log"; exit 1; }
grep "new membership" "$W/corosync.log" | tail -1

for i in 1 2; do
  timeout 30 "$BIN/totem-cpg" --control "$W/n$i.sock" -g drvt --count 500 --size 700 --wait-members 2 \
    >"$W/cpg$i.out" 2>"$W/cpg$i.err" &
  cpg[$i]=$!
done
wait "${cpg[1]}" "${cpg[2]}"
cat "$W"/cpg*.err
n=$(grep -vc '^confchg\|^ring' "$W/cpg1.out")
m=$(grep -vc '^confchg\|^ring' "$W/cpg2.out")
k=$((n < m ? n : m))
h1=$(grep -v '^confchg\|^ring' "$W/cpg1.out" | head -"$k" | sha256sum)
h2=$(grep -v '^confchg\|^ring' "$W/cpg2.out" | head -"$k" | sha256sum)
[ "$h1" = "$h2" ] || { echo "FAIL: delivery order differs"; exit 1; }
echo "PASS: ring of 3 with corosync 3.1.7 over $TRANSPORT; $k deliveries in the same order"
