#!/usr/bin/env bash
# make-g3-captures.sh [VARIANT...]
#
# Records real corosync 3.1.7 (Debian) Totem traffic between three daemons,
# each in its own network namespace, on a bridge in a fourth namespace, and
# writes pcapng files, configs, timelines and a MANIFEST to captures/g3/.
#
# VARIANT (default: all of them, in this order):
#   udpu       transport udpu, IPv4, scenarios 01-06
#   udp        transport udp (multicast 233.252.0.1), IPv4, scenarios 01-06
#   udpu-ipv6  transport udpu, IPv6 (fd00:db8::/64), scenarios 01-06
#   knet       transport knet, crypto none, IPv4, scenario 01 only
#   knet-MODEL-CIPHER-HASH  transport knet with knet crypto (crypto_model MODEL,
#              crypto_cipher CIPHER, crypto_hash HASH), IPv4, scenarios 01 and 02;
#              a fresh 256-byte authkey per variant. Not in the default list; the
#              four recorded ones are in KNET_CRYPTO_VARIANTS (variant `knet-crypto`).
# Scenarios: 01 formation, 02 steady CPG (small, 64 KiB and 300 KiB messages),
#   03 node 3 SIGKILLed, 04 node 3 restarted, 05 partition of node 3 and
#   merge, 06 clean leave of node 3 (SIGTERM).
#
# Topology (namespaces tcap-*; the root namespace gets nothing):
#   tcap-n1 eth0 192.0.2.11 / fd00:db8::11 --veth-- vn1 \
#   tcap-n2 eth0 192.0.2.12 / fd00:db8::12 --veth-- vn2  > br0 in tcap-hub (capture here)
#   tcap-n3 eth0 192.0.2.13 / fd00:db8::13 --veth-- vn3 /
#
# Run as root.  Every wait is bounded; the EXIT trap kills the processes this
# script started (by pid), deletes its namespaces and its /dev/shm files.
# Environment: G3_OUT (output dir, default ../g3 next to this script),
# G3_RUN (runtime dir, default /tmp/tcap-run; it is deleted and re-created).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${G3_OUT:-$(cd "$SCRIPT_DIR/.." && pwd)/g3}
RUN=${G3_RUN:-/tmp/tcap-run}
VERSION=3.1.7
NODES=3
HUB=tcap-hub
BR=br0
NET4=192.0.2
NET6=fd00:db8:
MCAST4=233.252.0.1
PORT=5405
SNAPLEN=262144
CLUSTER=g3cap

# pids this script started (corosync daemons, dumpcap, cpgsend)
declare -a OUR_PIDS=()
declare -A NODE_PID=()
CAP_PID=
CAP_NAME=
TL=/dev/null
T0=$(date +%s.%N)

log() { printf '[g3cap %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# elapsed seconds since the start of the current capture, for the timeline
mark() {
    local now; now=$(date +%s.%N)
    log "$*"
    printf '%8.3f  %s  %s\n' "$(awk -v a="$now" -v b="$T0" 'BEGIN { print a - b }')" \
        "$(date -u +%H:%M:%S.%3N)" "$*" >>"$TL"
}

ns_of() { echo "tcap-n$1"; }
ip4_of() { echo "$NET4.$((10 + $1))"; }
ip6_of() { echo "$NET6:$((10 + $1))"; }
nsx() { local n=$1; shift; ip netns exec "$(ns_of "$n")" "$@"; }
hubx() { ip netns exec "$HUB" "$@"; }
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }
pid_is() { [ -n "$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]; }

# ------------------------------------------------------------ dependencies
install_deps() {
    local missing=()
    command -v corosync >/dev/null || missing+=(corosync)
    command -v corosync-quorumtool >/dev/null || missing+=(corosync)
    command -v dumpcap >/dev/null || missing+=(tshark)
    command -v tshark >/dev/null || missing+=(tshark)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v gcc >/dev/null || missing+=(gcc libc6-dev)
    command -v sha256sum >/dev/null || missing+=(coreutils)
    [ -f /usr/include/corosync/cpg.h ] || missing+=(libcpg-dev libcorosync-common-dev)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing: ${missing[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
    local v; v=$(corosync -v | sed -n "s/.*version '\([^']*\)'.*/\1/p")
    [ "$v" = "$VERSION" ] || log "WARNING: corosync is version '$v', file names say $VERSION"
}

# ------------------------------------------------------------ network
net_down() {
    local i
    for i in $(seq 1 "$NODES"); do
        if ns_exists "$(ns_of "$i")"; then ip netns del "$(ns_of "$i")"; fi
    done
    if ns_exists "$HUB"; then ip netns del "$HUB"; fi
    return 0
}

# net_up FAMILY(ipv4|ipv6)
net_up() {
    local fam=$1 i ns v6off
    net_down
    ip netns add "$HUB"
    hubx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    hubx ip link set lo up
    hubx ip link add "$BR" type bridge
    # no IGMP/MLD querier here: flood multicast instead of snooping
    hubx ip link set "$BR" type bridge mcast_snooping 0 stp_state 0 forward_delay 0
    hubx ip link set "$BR" up
    v6off=$([ "$fam" = ipv6 ] && echo 0 || echo 1)
    for i in $(seq 1 "$NODES"); do
        ns=$(ns_of "$i")
        ip netns add "$ns"
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=$v6off net.ipv6.conf.default.disable_ipv6=$v6off
        if [ "$fam" = ipv6 ]; then
            # keep the bridge quiet: no DAD delay, no router solicitations
            ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
                net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.default.accept_ra=0
        fi
        ip netns exec "$ns" ip link set lo up
        ip netns exec "$ns" ip link add eth0 type veth peer name "vn$i" netns "$HUB"
        if [ "$fam" = ipv6 ]; then
            ip netns exec "$ns" ip -6 addr add "$(ip6_of "$i")/64" dev eth0 nodad
        else
            ip netns exec "$ns" ip addr add "$(ip4_of "$i")/24" dev eth0
        fi
        ip netns exec "$ns" ip link set eth0 up
        # transport udp: route the multicast group out of eth0
        [ "$fam" = ipv6 ] || ip netns exec "$ns" ip route add 224.0.0.0/4 dev eth0
        hubx ip link set "vn$i" master "$BR"
        hubx ip link set "vn$i" up
    done
}

# ------------------------------------------------------------ corosync
# gen_conf DIR NODE TRANSPORT FAMILY
gen_conf() {
    local base=$1 n=$2 tr=$3 fam=$4 d="$1/n$2" i addr iface=""
    mkdir -p "$d/run" "$d/state"
    case $tr in
    udp) iface="
    interface {
        linknumber: 0
        bindnetaddr: $NET4.0
        mcastaddr: $MCAST4
        mcastport: $PORT
    }" ;;
    udpu | knet) iface="" ;;
    *) die "unknown transport $tr" ;;
    esac
    local crypto="
    crypto_cipher: none
    crypto_hash: none"
    if [ -n "${CRYPTO_MODEL:-}" ]; then
        crypto="
    crypto_model: $CRYPTO_MODEL
    crypto_cipher: $CRYPTO_CIPHER
    crypto_hash: $CRYPTO_HASH
    keyfile: $base/authkey"
    fi
    {
        cat <<EOF
# generated by captures/scripts/make-g3-captures.sh (transport $tr, $fam, node $n)
totem {
    version: 2
    cluster_name: $CLUSTER
    transport: $tr$crypto
    ip_version: $fam$iface
}

nodelist {
EOF
        for i in $(seq 1 "$NODES"); do
            if [ "$fam" = ipv6 ]; then addr=$(ip6_of "$i"); else addr=$(ip4_of "$i"); fi
            printf '    node {\n        name: n%s\n        nodeid: %s\n        ring0_addr: %s\n    }\n' "$i" "$i" "$addr"
        done
        cat <<EOF
}

quorum {
    provider: corosync_votequorum
}

system {
    sched_rr: no
    move_to_root_cgroup: no
    state_dir: $d/state
}

logging {
    fileline: off
    to_stderr: no
    to_syslog: no
    to_logfile: yes
    logfile: $d/corosync.log
    timestamp: hires
    debug: off
}
EOF
    } >"$d/corosync.conf"
}

node_running() { pid_is "${NODE_PID[$1]:-}" corosync; }

# start_node N: corosync -f in node N's netns with a private /run.
# corosync 3.1.7 flocks /run/corosync.pid; `ip netns exec` gives the command
# its own mount namespace and execs it, so the bind mount stays private and $!
# is the daemon itself.
start_node() {
    local n=$1 d="$VDIR/n$1"
    ip netns exec "$(ns_of "$n")" sh -c 'mount --bind "$1" /run && exec corosync -f -c "$2"' \
        sh "$d/run" "$d/corosync.conf" >>"$d/stdout.log" 2>&1 </dev/null &
    NODE_PID[$n]=$!
    OUR_PIDS+=("$!")
    # no job bookkeeping (and no "Killed" notice); stop_node polls /proc instead
    disown "$!"
    mark "start node $n (corosync pid ${NODE_PID[$n]})"
}

shm_clean() { # remove libqb files in /dev/shm that name one of our dead pids
    local p f
    for p in "$@"; do
        [ -d "/proc/$p" ] && continue
        for f in /dev/shm/qb-corosync-"$p"-* /dev/shm/qb-*-"$p"-*; do
            if [ -e "$f" ]; then rm -f -- "$f"; fi
        done
    done
}

# stop_node N SIGNAL: signal our daemon, wait at most 10 s, then SIGKILL
stop_node() {
    local n=$1 sig=$2 pid=${NODE_PID[$1]:-} t
    [ -n "$pid" ] || return 0
    if node_running "$n"; then
        kill "-$sig" "$pid" 2>/dev/null || true
        for t in $(seq 1 100); do node_running "$n" || break; sleep 0.1; done
        if node_running "$n"; then
            log "node $n (pid $pid) ignored SIG$sig, sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.3
        fi
    fi
    shm_clean "$pid"
    NODE_PID[$n]=
}

members_of() { # prints the member count node N sees, or ?
    nsx "$1" timeout 5 corosync-quorumtool -s 2>/dev/null | awk -F: '/^Nodes:/{gsub(/ /,"",$2); print $2; f=1} END{if(!f) print "?"}' || true
}

# wait_members N COUNT MAX_S: bounded wait until node N sees COUNT members
wait_members() {
    local n=$1 want=$2 max=$3 end got
    end=$(($(date +%s) + max))
    while :; do
        got=$(members_of "$n")
        [ "$got" = "$want" ] && return 0
        [ "$(date +%s)" -lt "$end" ] || break
        sleep 0.2
    done
    mark "TIMEOUT: node $n sees ${got} members, wanted $want after ${max}s"
    return 1
}

wait_all() { # wait_all COUNT NODE...
    local want=$1 n; shift
    for n in "$@"; do wait_members "$n" "$want" 30; done
}

# ------------------------------------------------------------ capture
cap_begin() { # cap_begin NAME
    CAP_NAME=$1
    local f="$OUT/$VERSION-$VARIANT-$1"
    TL="$f.log"
    : >"$TL"
    T0=$(date +%s.%N)
    rm -f "$f.pcapng"
    # whole frames (snaplen 262144), no capture filter; dumpcap stops by itself after 60 s
    ip netns exec "$HUB" dumpcap -q -i "$BR" -s "$SNAPLEN" -a duration:60 -w "$f.pcapng" \
        >"$RUN/dumpcap.log" 2>&1 </dev/null &
    CAP_PID=$!
    OUR_PIDS+=("$CAP_PID")
    local t
    for t in $(seq 1 50); do [ -s "$f.pcapng" ] && break; sleep 0.1; done
    sleep 0.5
    mark "capture $VERSION-$VARIANT-$1 started on $HUB/$BR (transport $TRANSPORT, $FAMILY)"
}

cap_end() {
    local t
    if pid_is "$CAP_PID" dumpcap; then kill -INT "$CAP_PID" 2>/dev/null || true; fi
    for t in $(seq 1 50); do pid_is "$CAP_PID" dumpcap || break; sleep 0.1; done
    if pid_is "$CAP_PID" dumpcap; then kill -KILL "$CAP_PID" 2>/dev/null || true; fi
    { wait "$CAP_PID"; } 2>/dev/null || true
    chmod 644 "$OUT/$VERSION-$VARIANT-$CAP_NAME.pcapng"
    mark "capture stopped"
    CAP_PID=
    TL=/dev/null
}

# ------------------------------------------------------------ scenarios
scen_formation() {
    cap_begin 01-formation
    sleep 0.5
    local i
    for i in $(seq 1 "$NODES"); do start_node "$i"; sleep 1; done
    wait_all 3 1 2 3
    mark "all nodes see 3 members"
    sleep 1.5
    cap_end
}

scen_steady() {
    local r1 r2 r3 rc=0 total
    # node 1: 10 x 200 B, 64 KiB, 2 x 200 B, 300 KiB, 2 x 200 B (16 messages)
    # node 2: 5 x 1000 B ; node 3 only receives; everyone waits for all 21 deliveries
    total=21
    cap_begin 02-steady-cpg
    mark "idle ring for 1.5 s"
    sleep 1.5
    mark "cpgsend: n3 receives; n2 sends 1000*5 at 10/s; n1 sends 200*10,64k,200*2,300k,200*2 at 10/s"
    ip netns exec "$(ns_of 3)" "$RUN/cpgsend" -m 3 -w $total -T 30 -v >"$TL.n3" 2>&1 &
    r3=$!; OUR_PIDS+=("$r3")
    sleep 0.3
    ip netns exec "$(ns_of 2)" "$RUN/cpgsend" -m 3 -s '1000*5' -r 10 -w $total -T 30 -v >"$TL.n2" 2>&1 &
    r2=$!; OUR_PIDS+=("$r2")
    sleep 0.3
    ip netns exec "$(ns_of 1)" "$RUN/cpgsend" -m 3 -s '200*10,64k,200*2,300k,200*2' -r 10 -w $total -T 30 -v >"$TL.n1" 2>&1 &
    r1=$!; OUR_PIDS+=("$r1")
    wait "$r1" || rc=1
    wait "$r2" || rc=1
    wait "$r3" || rc=1
    local n
    for n in 1 2 3; do
        sed "s/^/    n$n: /" "$TL.n$n" >>"$TL"
        rm -f "$TL.n$n"
    done
    [ $rc = 0 ] || { mark "cpgsend FAILED"; return 1; }
    mark "cpgsend done: every node delivered $total messages with intact contents"
    sleep 1
    cap_end
}

scen_killed() {
    cap_begin 03-node3-killed
    sleep 1
    mark "SIGKILL node 3 (pid ${NODE_PID[3]})"
    stop_node 3 KILL
    wait_all 2 1 2
    mark "nodes 1,2 see 2 members"
    sleep 1
    cap_end
}

scen_rejoin() {
    node_running 3 && stop_node 3 KILL
    cap_begin 04-node3-rejoin
    sleep 1
    start_node 3
    wait_all 3 1 2 3
    mark "all nodes see 3 members"
    sleep 1
    cap_end
}

scen_partition() {
    cap_begin 05-partition-merge
    sleep 1
    mark "link vn3 (hub side of node 3) DOWN"
    hubx ip link set vn3 down
    wait_all 2 1 2
    wait_members 3 1 30
    mark "partitioned: nodes 1,2 see 2 members, node 3 sees 1"
    sleep 1
    mark "link vn3 UP"
    hubx ip link set vn3 up
    wait_all 3 1 2 3
    mark "merged: all nodes see 3 members"
    sleep 1
    cap_end
}

scen_leave() {
    cap_begin 06-node3-leave
    sleep 1
    mark "SIGTERM node 3 (pid ${NODE_PID[3]})"
    stop_node 3 TERM
    mark "node 3 exited"
    wait_all 2 1 2
    mark "nodes 1,2 see 2 members"
    sleep 1
    cap_end
}

# run_variant VARIANT
run_variant() {
    VARIANT=$1
    case $VARIANT in
    udpu) TRANSPORT=udpu FAMILY=ipv4 SCEN="formation steady killed rejoin partition leave" ;;
    udp) TRANSPORT=udp FAMILY=ipv4 SCEN="formation steady killed rejoin partition leave" ;;
    udpu-ipv6) TRANSPORT=udpu FAMILY=ipv6 SCEN="formation steady killed rejoin partition leave" ;;
    knet) TRANSPORT=knet FAMILY=ipv4 SCEN="formation" ;;
    knet-*-*-*)
        TRANSPORT=knet FAMILY=ipv4 SCEN="formation steady"
        IFS=- read -r _ CRYPTO_MODEL CRYPTO_CIPHER CRYPTO_HASH <<<"$VARIANT"
        ;;
    *) die "unknown variant $VARIANT" ;;
    esac
    log "=== $VARIANT: transport $TRANSPORT, $FAMILY, scenarios: $SCEN"
    VDIR="$RUN/$VARIANT"
    rm -rf "$VDIR"
    mkdir -p "$VDIR" "$OUT/configs" "$OUT/logs"
    net_up "$FAMILY"
    local i s
    if [ -n "${CRYPTO_MODEL:-}" ]; then
        # corosync 3 reads the whole key file (128..4096 bytes); corosync-keygen writes 256
        head -c 256 /dev/urandom >"$VDIR/authkey"
        chmod 400 "$VDIR/authkey"
        cp "$VDIR/authkey" "$OUT/$VERSION-$VARIANT.authkey"
        chmod 644 "$OUT/$VERSION-$VARIANT.authkey"
    fi
    for i in $(seq 1 "$NODES"); do
        gen_conf "$VDIR" "$i" "$TRANSPORT" "$FAMILY"
        cp "$VDIR/n$i/corosync.conf" "$OUT/configs/$VERSION-$VARIANT-n$i.conf"
    done
    # encrypted variants: the node 1 config next to the captures, for totem-replay
    [ -z "${CRYPTO_MODEL:-}" ] || cp "$VDIR/n1/corosync.conf" "$OUT/$VERSION-$VARIANT.conf"
    for s in $SCEN; do "scen_$s"; done
    for i in $(seq 1 "$NODES"); do stop_node "$i" TERM; done
    for i in $(seq 1 "$NODES"); do
        cp "$VDIR/n$i/corosync.log" "$OUT/logs/$VERSION-$VARIANT-n$i.log" 2>/dev/null || true
    done
    net_down
    CRYPTO_MODEL= CRYPTO_CIPHER= CRYPTO_HASH=
}

# ------------------------------------------------------------ verification
# summarize FILE TRANSPORT -> one MANIFEST line (key=value); fails if a
# udp/udpu capture has no Totem v3 payloads on port 5405
summarize() {
    local f=$1 tr=$2 base packets sum stats frags
    base=$(basename "$f")
    packets=$(tshark -r "$f" 2>/dev/null | wc -l)
    sum=$(sha256sum "$f" | awk '{print $1}')
    stats=$(tshark -r "$f" -Y "udp.port==$PORT" -T fields -e udp.payload 2>/dev/null | awk -v tr="$tr" -v port="$PORT" '
        function hex(s) { return (index("0123456789abcdef", substr(s, 1, 1)) - 1) * 16 + index("0123456789abcdef", substr(s, 2, 1)) - 1 }
        BEGIN { split("token mcast merge_detect join commit_token hold_cancel", nm, " ") }
        { n++; p = tolower($0); gsub(/:/, "", p)
          if (tr == "knet-crypto") { next }
          if (tr == "knet") {
              if (substr(p, 1, 2) != "01") { other++; next }
              kt = substr(p, 3, 2); knet[kt]++
              if (kt == "00" && substr(p, 23, 2) != "01") kfrag++
              # data packet, not fragmented (frag_num 1): Totem v3 starts at byte 14
              if (kt == "00" && substr(p, 23, 2) == "01" && substr(p, 29, 6) == "70c003") {
                  t = hex(substr(p, 35, 2)); totem++; ty[t]++
              }
              next
          }
          if (substr(p, 1, 6) == "70c003") { totem++; ty[hex(substr(p, 7, 2))]++ } else other++ }
        END {
          printf "udp%s=%d totem_v3=%d other=%d", port, n, totem, other
          for (t = 0; t <= 5; t++) printf " %s=%d", nm[t + 1], ty[t]
          for (t in ty) if (t + 0 > 5) printf " type%d=%d", t, ty[t]
          if (tr == "knet") printf " knet_data=%d knet_data_fragments=%d knet_ping=%d knet_pong=%d knet_pmtud=%d knet_pmtud_reply=%d",
              knet["00"], kfrag, knet["81"], knet["82"], knet["83"], knet["84"]
        }')
    # frames that are IP fragments (tshark reassembles them; the counts above are per datagram)
    frags=$(tshark -r "$f" -Y 'ipv6.fraghdr or ip.flags.mf == 1 or ip.frag_offset > 0' 2>/dev/null | wc -l)
    printf '%s sha256=%s packets=%s ip_fragment_frames=%s %s\n' "$base" "$sum" "$packets" "$frags" "$stats"
}

write_manifest() {
    local m="$OUT/MANIFEST.txt" f base tr fam scen rest line bad=0
    {
        echo "# corosync $(corosync -v | sed -n "s/.*version '\([^']*\)'.*/\1/p") ($(dpkg-query -W -f='${Version}' corosync 2>/dev/null || echo '?')) captures, made $(date -u +%Y-%m-%dT%H:%MZ) by captures/scripts/make-g3-captures.sh"
        echo "# one line per capture: file sha256 transport family scenario packets (tshark -r F | wc -l),"
        echo "# UDP port $PORT datagrams, how many start 70 c0 03 (Totem v3; for knet: unfragmented knet data"
        echo "# packets whose payload at byte 14 starts 70 c0 03), others, and Totem types by byte 3:"
        echo "# token=0 mcast=1 merge_detect=2 join=3 commit_token=4 hold_cancel=5."
        echo "# ip_fragment_frames: frames that are IP fragments; tshark reassembles them, so udp$PORT counts datagrams."
    } >"$m"
    for f in "$OUT"/"$VERSION"-*.pcapng; do
        base=$(basename "$f" .pcapng)
        rest=${base#"$VERSION"-}
        case $rest in
        udpu-ipv6-*) tr=udpu fam=ipv6 scen=${rest#udpu-ipv6-} ;;
        udpu-*) tr=udpu fam=ipv4 scen=${rest#udpu-} ;;
        udp-*) tr=udp fam=ipv4 scen=${rest#udp-} ;;
        knet-*-*-*-[0-9][0-9]-*) tr=knet-crypto fam=ipv4 scen=$(echo "$rest" | sed 's/^knet-[^-]*-[^-]*-[^-]*-//') ;;
        knet-*) tr=knet fam=ipv4 scen=${rest#knet-} ;;
        *) continue ;;
        esac
        line=$(summarize "$f" "$tr")
        line=$(echo "$line" | awk -v tr="$tr" -v fam="$fam" -v sc="$scen" '{ $2 = $2 " transport=" tr " family=" fam " scenario=" sc; print }')
        echo "$line" >>"$m"
        case $tr in knet-crypto) continue ;; esac
        case $line in *" totem_v3=0 "*) log "VERIFY FAILED: $base has no Totem v3 payloads"; bad=1 ;; esac
    done
    # keys and configs of the encrypted knet variants (what totem-replay reads as siblings)
    for f in "$OUT"/"$VERSION"-*.authkey "$OUT"/"$VERSION"-*.conf; do
        [ -e "$f" ] || continue
        printf '%s sha256=%s bytes=%s\n' "$(basename "$f")" "$(sha256sum "$f" | awk '{print $1}')" "$(stat -c %s "$f")" >>"$m"
    done
    log "wrote $m"
    return $bad
}

# ------------------------------------------------------------ cleanup
cleanup() {
    local rc=$? p i
    set +e
    trap - EXIT INT TERM
    if [ -n "$CAP_PID" ] && pid_is "$CAP_PID" dumpcap; then kill -INT "$CAP_PID"; sleep 0.5; fi
    for p in "${OUR_PIDS[@]}"; do
        if pid_is "$p" corosync || pid_is "$p" cpgsend || pid_is "$p" dumpcap; then kill -TERM "$p" 2>/dev/null; fi
    done
    for i in $(seq 1 50); do
        local alive=0
        for p in "${OUR_PIDS[@]}"; do [ -d "/proc/$p" ] && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${OUR_PIDS[@]}"; do
        if pid_is "$p" corosync || pid_is "$p" cpgsend || pid_is "$p" dumpcap; then kill -KILL "$p" 2>/dev/null; fi
    done
    sleep 0.2
    shm_clean "${OUR_PIDS[@]}"
    net_down
    log "cleaned up (exit status $rc)"
    exit $rc
}

# ------------------------------------------------------------ main
[ "$(id -u)" = 0 ] || die "run as root (network namespaces, mount)"
KNET_CRYPTO_VARIANTS="knet-nss-aes256-sha256 knet-openssl-aes256-sha256 knet-nss-aes128-sha1 knet-openssl-none-sha512"
VARIANTS=${*:-udpu udp udpu-ipv6 knet}
VARIANTS=${VARIANTS//knet-crypto/$KNET_CRYPTO_VARIANTS}
START=$(date +%s)
install_deps
trap cleanup EXIT
trap 'exit 130' INT TERM
if ns_exists "$HUB" || ns_exists "$(ns_of 1)"; then log "removing tcap-* namespaces left by an earlier run"; net_down; fi
rm -rf "$RUN"
mkdir -p "$RUN" "$OUT"
gcc -O2 -Wall -o "$RUN/cpgsend" "$SCRIPT_DIR/cpgsend.c" -lcpg
for v in $VARIANTS; do run_variant "$v"; done
write_manifest
log "done in $(($(date +%s) - START)) s"
