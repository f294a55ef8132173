#!/usr/bin/env python3
"""Writes the `<capture>.expect` files of the bundled captures from independent sources.

Sources (none of them is totem-replay's analysis):
  * the corosync daemons' own logs: which rings they formed, with ring ids (2.x/3.x) and
    members, inside the capture's time window (g3/logs/, shared/captures/logs/);
  * the scenario (file name and the scenario logs): killed -> one token loss, partition-merge
    -> one token loss, one partition, one merge, leave -> one leave, others none;
  * message counts by type from g3/MANIFEST.txt (tshark / byte 3 counts) and
    real/capture-summaries.txt (an independent parser written from the wire spec).
The capture's time window is its first and last packet time (read with `totem-replay dump`,
timestamps only). Singleton rings are left out: a one-node ring's token never reaches the
wire. Rings the daemons never logged (recovery that did not complete) are not listed, so
captures that have them get no ring lines.

Usage: expect-from-logs.py TOTEM_REPLAY [CAPTURE...]   (default: every bundled capture)
"""
import ast
import datetime
import glob
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CAPS = os.path.dirname(HERE)
SHARED_LOGS = os.path.join(CAPS, "..", "..", "shared", "captures", "logs")
if not os.path.isdir(SHARED_LOGS):
    SHARED_LOGS = "/work/shared/captures/logs"
YEAR = 2026


def window(tool, cap):
    out = subprocess.run([tool, "dump", "--json", cap], capture_output=True, text=True, check=True)
    lines = [l for l in out.stdout.splitlines() if l.strip()]
    first, last = json.loads(lines[0])["time"], json.loads(lines[-1])["time"]
    return first, last


def ts(month_day_time):
    # "Nov 22 04:32:25.055" or "Nov 22 04:09:17" or "Nov 22  4:03:31.996033"
    m = re.match(r"(\w{3})\s+(\d+)\s+(\d+):(\d+):(\d+)(?:\.(\d+))?", month_day_time)
    if not m:
        return None
    mon, day, hh, mm, ss, frac = m.groups()
    month = datetime.datetime.strptime(mon, "%b").month
    t = datetime.datetime(YEAR, month, int(day), int(hh), int(mm), int(ss),
                          tzinfo=datetime.timezone.utc).timestamp()
    if frac:
        t += float("0." + frac)
    return t, frac is not None


def ip_nodeid_g1(ip):
    a = [int(x) for x in ip.split(".")]
    return a[0] | a[1] << 8 | a[2] << 16 | a[3] << 24


def rings_of_log(path):
    """[(time, precise, ring_id or '*', [members])] in log order."""
    out = []
    lines = open(path, errors="replace").read().splitlines()
    pending_sync = None
    for i, line in enumerate(lines):
        t = ts(line)
        if t is None:
            continue
        m = re.search(r"Sync members\[\d+\]: ([\d ]+)", line)
        if m:
            pending_sync = [int(x) for x in m.group(1).split()]
        m = re.search(r"A new membership \(([^)]*)\) was formed", line)
        if m:
            rid = m.group(1)
            if ":" in rid:  # 2.x: ip:seq -> ip/seq (3.x ids are nodeid.seq)
                ip, seq = rid.rsplit(":", 1)
                rid = f"{ip}/{int(seq)}"
            members = pending_sync
            if members is None:  # 2.x: the QUORUM Members line after it
                for nxt in lines[i + 1:i + 6]:
                    if "A new membership" in nxt:
                        break
                    q = re.search(r"\[QUORUM\] Members\[\d+\]: ([\d ]+)", nxt)
                    if q:
                        members = [int(x) for x in q.group(1).split()]
                        break
            if members is not None:
                out.append((t[0], t[1], rid, members))
            pending_sync = None
            continue
        if "a new membership was formed" in line:  # 1.4.10
            # Its QUORUM Members line: the first after it (before the next membership), else
            # the closest before it (after the previous membership); 1.4.10 logs either order.
            def members_in(rng):
                for k in rng:
                    if "a new membership was formed" in lines[k]:
                        return None
                    q = re.search(r"\[QUORUM\] Members\[\d+\]: ([\d ]+)", lines[k])
                    if q:
                        return [int(x) for x in q.group(1).split()]
                return None
            members = members_in(range(i + 1, min(len(lines), i + 8)))
            if members is None:
                members = members_in(range(i - 1, max(-1, i - 8), -1))
            if members is not None:
                out.append((t[0], t[1], "*", members))
            continue
        if "CLM CONFIGURATION CHANGE" in line:  # openais: regular = the second of a pair
            members = []
            j = i + 1
            if j < len(lines) and "New Configuration" in lines[j]:
                j += 1
                while j < len(lines) and "ip(" in lines[j]:
                    members.append(ip_nodeid_g1(re.search(r"ip\(([\d.]+)\)", lines[j]).group(1)))
                    j += 1
            nxt = lines[j + 2] if j + 2 < len(lines) else ""
            is_transitional = j + 3 < len(lines) and "CLM CONFIGURATION CHANGE" in "".join(
                lines[j:j + 6]) and "Members Joined" in lines[j + 1] and "CLM CONFIGURATION CHANGE" in nxt
            if not is_transitional and members:
                out.append((t[0], t[1], "*", sorted(members)))
    return out


def node_logs(cap):
    name = os.path.basename(cap)
    m = re.match(r"(.*)-\d\d-[a-z0-9-]+\.pcapng$", name)
    if name.startswith("3.1.7-"):
        variant = m.group(1)
        return sorted(glob.glob(os.path.join(CAPS, "g3", "logs", f"{variant}-n[0-9].log")))
    if m is None:  # mixed-*.pcapng
        variant = name[:-len(".pcapng")]
    else:
        variant = m.group(1)
    logs = sorted(glob.glob(os.path.join(SHARED_LOGS, f"{variant}-corosync-n[0-9].log")))
    logs += sorted(glob.glob(os.path.join(SHARED_LOGS, f"{variant}-run[0-9]-corosync-n[0-9].log")))
    return logs


def scenario(name):
    for s in ["formation", "steady-cpg", "node3-killed", "node3-rejoin", "partition-merge",
              "node3-leave", "ring1-fault-recover"]:
        if s in name:
            return s
    return "mixed"


EVENTS = {
    "formation": dict(token_losses=0, partitions=0, leaves=0),
    "steady-cpg": dict(token_losses=0, partitions=0, merges=0, leaves=0),
    "node3-killed": dict(token_losses=1, partitions=0, merges=0, leaves=0),
    "node3-rejoin": dict(token_losses=0, partitions=0, merges=0, leaves=0),
    "partition-merge": dict(token_losses=1, partitions=1, merges=1, leaves=0),
    "node3-leave": dict(token_losses=0, partitions=0, merges=0, leaves=1),
    "mixed": dict(token_losses=0, partitions=0, merges=0, leaves=0),
    "ring1-fault-recover": dict(partitions=0, merges=0, leaves=0),
}

G3_TYPES = {"token": "orf_token", "mcast": "mcast", "merge_detect": "memb_merge_detect",
            "join": "memb_join", "commit_token": "memb_commit_token",
            "hold_cancel": "token_hold_cancel"}
REAL_TYPES = {"orf_token": "orf_token", "mcast": "mcast", "merge_detect": "memb_merge_detect",
              "memb_join": "memb_join", "commit_token": "memb_commit_token",
              "token_hold_cancel": "token_hold_cancel"}


TYPES = ["orf_token", "mcast", "memb_merge_detect", "memb_join", "memb_commit_token",
         "token_hold_cancel"]


def icmp_quoted(cap):
    """Totem datagrams quoted in ICMP errors (port unreachable), by type, counted with tshark:
    MANIFEST.txt and capture-summaries.txt count them with the datagrams, totem-replay (like
    corosync) does not take them as traffic."""
    out = subprocess.run(["tshark", "-r", cap, "-Y", "icmp || icmpv6", "-T", "fields", "-e",
                          "udp.dstport", "-e", "udp.payload"], capture_output=True, text=True,
                         check=True).stdout
    n = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or not parts[1] or "5405" not in parts[0] and "5404" not in parts[0]:
            continue
        b = bytes.fromhex(parts[1].split(",")[0])
        if b[:3] == b"\x70\xc0\x03":
            t = b[3]
        elif b[:4] == b"\xfe\xfe\x00\x00":
            t = b[4]
        else:
            t = b[0]
        if t < len(TYPES):
            n[TYPES[t]] = n.get(TYPES[t], 0) + 1
    return n


def counts(cap):
    c = raw_counts(cap)
    for k, v in icmp_quoted(cap).items():
        if k in c:
            c[k] -= v
    return c


def raw_counts(cap):
    name = os.path.basename(cap)
    if name.startswith("3.1.7-"):
        for line in open(os.path.join(CAPS, "g3", "MANIFEST.txt")):
            if line.startswith(name + " "):
                f = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
                if f["transport"] == "knet-crypto":
                    return {}  # MANIFEST could not look inside
                keep = G3_TYPES if f["transport"] != "knet" else {
                    k: v for k, v in G3_TYPES.items() if k != "mcast"}  # knet: unfragmented only
                return {v: int(f[k]) for k, v in keep.items()}
        return {}
    text = open(os.path.join(CAPS, "real", "capture-summaries.txt")).read()
    m = re.search(r"== " + re.escape(name) + r"\n(.*?)(?:\n== |\Z)", text, re.S)
    if not m:
        return {}
    c = re.search(r"counts: (\{.*\})", m.group(1))
    if not c or "opaque" in m.group(1) or "G1secauth" in m.group(1):
        return {}
    d = ast.literal_eval(c.group(1))  # a Python dict literal written by the summary parser
    out = {REAL_TYPES[k]: v for k, v in d.items() if k in REAL_TYPES}
    for k in REAL_TYPES.values():
        out.setdefault(k, 0)
    return out


# Differential replay (`totem-replay engine`): our engine must take every node's membership
# decisions; captures where it is known not to would be listed here (none now: link cuts,
# knet reachability, other generations, stale openais nodeids and recoveries that never
# completed are modelled by the replay; see captures/README.md).
ENGINE_KNOWN_DIFFER: set[str] = set()


def expectations(tool, cap):
    name = os.path.basename(cap)
    first, last = window(tool, cap)
    logs = node_logs(cap)
    per_node = [rings_of_log(p) for p in logs]
    lines = [f"# {name}: written by scripts/expect-from-logs.py from the daemons' logs",
             f"# ({', '.join(os.path.basename(p) for p in logs) or 'none'}), the scenario and the",
             "# message counts of MANIFEST.txt / capture-summaries.txt.", "verdict = pass"]
    sc = scenario(name)
    rings = []
    if per_node:
        slack = 1.0  # logs of 1.x/2.x have second resolution
        before = []
        inside = {}
        for events in per_node:
            last_before = None
            for t, precise, rid, members in events:
                # A 1.x/2.x time is a truncated second: the event lies in [t, t + 1).
                lo = first - (0.05 if precise else slack)
                hi = last + 0.05
                if t < lo:
                    last_before = (t, rid, members)
                elif t <= hi and len(members) >= 2:
                    key = rid if rid != "*" else (tuple(members), round(t))
                    inside.setdefault(key, (t, rid, members))
            if last_before:
                before.append(last_before)
        restarted = sc in ("formation",) or name.startswith("mixed") or name.startswith("openais")
        pre = None
        if before and not restarted:
            pre = max(before, key=lambda x: x[0])
            if len(pre[2]) < 2:
                pre = None
        # 1.x logs without ring ids: one ring per distinct member set and second.
        seen = sorted(inside.values(), key=lambda x: x[0])
        dedup = []
        for t, rid, members in seen:
            if rid == "*" and dedup and dedup[-1][1] == "*" and dedup[-1][2] == members \
                    and abs(dedup[-1][0] - t) <= 1.5:
                continue
            dedup.append((t, rid, members))
        rings = ([("pre", pre[1], pre[2])] if pre else []) + [("in", r, m) for _, r, m in dedup]
    if rings and sc != "ring1-fault-recover":
        lines.append(f"rings = {len(rings)}")
        lines.append(f"formed = {sum(1 for k, _, _ in rings if k == 'in')}")
        for i, (_, rid, members) in enumerate(rings, 1):
            lines.append(f"ring.{i} = {rid} : {','.join(map(str, members))}")
    for k, v in EVENTS[sc].items():
        lines.append(f"{k} = {v}")
    for k, v in sorted(counts(cap).items()):
        lines.append(f"count.{k} = {v}")
    if name in ENGINE_KNOWN_DIFFER:
        lines.append("# engine_differ: known differences of our engine, not expected to be 0")
    else:
        lines.append("engine_differ = 0")
    return "\n".join(lines) + "\n"


def main():
    tool = sys.argv[1]
    caps = sys.argv[2:] or sorted(glob.glob(os.path.join(CAPS, "g3", "*.pcapng")) +
                                  glob.glob(os.path.join(CAPS, "real", "*.pcapng")))
    for cap in caps:
        text = expectations(tool, cap)
        with open(cap[:-len(".pcapng")] + ".expect", "w") as f:
            f.write(text)
        print(f"wrote {os.path.basename(cap)[:-7]}.expect")


if __name__ == "__main__":
    main()
