#!/usr/bin/env bash
# The project's test command (README "Test"). Run as root on Debian 12: installs what the
# tests need when it is missing, then runs the whole suite, live interop tests included.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[test.sh %(%H:%M:%S)T] %s\n' -1 "$*"; }

# Debian packages the suite uses: real corosync 3.1.7 peers and its tools, tshark as the
# independent G1 decoder, iproute2/nftables for namespaces and loss, a C compiler and the
# libcpg headers for the CPG client the captures script builds, vqsim for quorum checks;
# the runtime libraries of the corosync 2.4.6 build in ../shared/old-corosync (the tests
# unpack it into /opt/oldcs themselves).
packages=(corosync corosync-vqsim tshark tcpdump iproute2 nftables gcc libc6-dev pkg-config
  libcpg-dev libcorosync-common-dev libquorum-dev libvotequorum-dev libcmap-dev
  libqb100 libnss3 libnspr4 xz-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: missing Debian packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  log "installing: ${missing[*]}"
  apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's corosync package may start a daemon in the root namespace; the tests run their
# own daemons in namespaces and must not meet it.
if command -v systemctl >/dev/null 2>&1; then systemctl stop corosync >/dev/null 2>&1 || true; fi

export CARGO_TERM_COLOR=never
log "building"
cargo build --workspace --all-targets --locked 2>&1 | tail -n 3
if cargo nextest --version >/dev/null 2>&1; then
  log "running the suite (cargo nextest)"
  cargo nextest run --workspace --locked --no-fail-fast --failure-output final
else
  log "running the suite (cargo test)"
  cargo test --workspace --locked --no-fail-fast
fi
cargo test --workspace --doc --locked -q
# The simulator and EVS checker over many seeded fault scenarios (each violation is printed
# with the seed that replays it).
log "totem-sim: 1000 seeds x 5 nodes, 100 seeds x 16 nodes"
cargo run -q --locked -p totem --bin totem-sim -- --seeds 1000 --nodes 5
cargo run -q --locked -p totem --bin totem-sim -- --seeds 100 --nodes 16 --start 100000
# An attacker on the network (forged joins, tokens, commit tokens and merge detects,
# replays and mutations from members' addresses) mixed with the same faults: EVS holds and
# one ring forms within the bound after the attacker stops.
log "totem-sim --hostile: 1000 seeds x 5 nodes, 60 seeds x 16 nodes"
cargo run -q --locked -p totem --bin totem-sim -- --seeds 1000 --nodes 5 --hostile --start 300000
cargo run -q --locked -p totem --bin totem-sim -- --seeds 60 --nodes 16 --hostile --start 310000
# The same with the secure layer (group key agreement, sealed datagrams, rekey on every
# configuration change, on a timer and on volume): keys agree, nothing leaves unsealed.
log "totem-sim --secure: 300 seeds x 5 nodes, 50 seeds x 12 nodes"
cargo run -q --locked -p totem --bin totem-sim -- --seeds 300 --nodes 5 --secure --start 200000
cargo run -q --locked -p totem --bin totem-sim -- --seeds 50 --nodes 12 --secure --start 210000
cargo run -q --locked -p totem --bin totem-sim -- --seeds 100 --nodes 5 --secure --hostile --start 220000
# Rings of G2 and G3 engines with relays (decode, retarget to the receiver's generation
# through the address book, re-encode) on every link between the generations and on some
# others, under the same faults: EVS holds over the mixed ring, no relay drops anything.
log "totem-sim --mixed: 500 seeds x 5 nodes, 40 seeds x 12 nodes"
cargo run -q --locked -p totem --bin totem-sim -- --seeds 500 --nodes 5 --mixed --start 400000
cargo run -q --locked -p totem --bin totem-sim -- --seeds 40 --nodes 12 --mixed --start 410000

log "totem-sim --rings: multiple-ring protocol, LAN and WAN gateways under faults"
cargo run -q --locked -p totem --bin totem-sim -- --rings 2 --seeds 300 --nodes 3 --start 500000
cargo run -q --locked -p totem --bin totem-sim -- --rings 3 --seeds 150 --nodes 3 --start 510000
cargo run -q --locked -p totem --bin totem-sim -- --rings 2 --seeds 150 --nodes 3 --wan-ms 25 --start 520000
cargo run -q --locked -p totem --bin totem-sim -- --rings 3 --seeds 80 --nodes 3 --wan-ms 25 --start 530000
cargo run -q --locked -p totem --bin totem-sim -- --rings 4 --seeds 40 --nodes 5 --start 540000
# Rolling upgrades in the simulator: G2 nodes moved one by one to G3 engines behind
# gateways, with loss, partitions and crashes beside each step.
log "gateway: 300 rolling-upgrade seeds"
TOTEM_GATEWAY_SEEDS=300 cargo test -q --locked -p totem-gateway --test sim_upgrade rolling
log "done"
