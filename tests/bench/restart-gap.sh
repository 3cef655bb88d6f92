#!/bin/bash
# tests/bench/restart-gap.sh: how long clients lose their tunnel when wglbd
# itself goes away. A benchmark, not a test: it never fails on a number
# (only when a setup breaks). Needs root; runs the e2e scripts
# tests/e2e/restart.sh (without its flood check) and tests/e2e/nodes.sh
# with relaxed bounds and collects the gaps they measure. 4 clients ping
# through the tunnel every 0.1 s; per client, the gap is the time between
# its last echo reply before the event and its first one after, "lost" the
# echoes missing in between times the interval (the seconds of lost pings).
#
# Scenarios:
#   kill9            kill -9 wglbd, start it again at once: the tunnels are
#                    learned again (no state file)
#   term             SIGTERM, start again with state_file (sessions from
#                    handshakes)
#   term-learned     the same, with the sessions learned after kill9
#   failover-static  two wglbd nodes behind an ECMP route; the node with
#                    most clients is killed and its nexthop removed at once
#                    (the failover itself, without detection time)
#   failover-bgp     the same with BIRD (contrib/bird): only wglbd dies,
#                    wglb-bird-check (0.5 s, fall 2) withdraws the route
#   failover-vrrp    a keepalived pair (contrib/keepalived): only wglbd
#                    dies, the track script (1 s, fall 2) moves the VIP
#   failover-bgp-node, failover-vrrp-node
#                    the whole node dies (link down, every process killed):
#                    BFD (3 x 100 ms) ends the BGP session, or the backup
#                    misses 3 VRRP adverts (advert_int 1)
# bgp and vrrp run when bird2 / keepalived are installed; "detect" is the
# time from the failure to the router's route / the VIP changing.
#
# Output: a line per scenario and client, then one JSON line starting with
# {"bench":"restart-gap".
# Env: BENCH_RUNS      repetitions of every scenario (default 1); per client
#                      the largest gap is kept
#      BENCH_NODES     node failover modes (default: static, and bgp,
#                      bgp-node / vrrp, vrrp-node when installed), e.g.
#                      "static vrrp-node"
#      WGLBD, WGLBCTL  binaries (default: found like the e2e tests do)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E=$HERE/../e2e
BENCH_RUNS=${BENCH_RUNS:-1}
PING_IV=0.1             # what restart.sh and nodes.sh use

[ "$(id -u)" = 0 ] || { echo "restart-gap: needs root (network namespaces)" >&2; exit 77; }
if [ -z "${BENCH_NODES:-}" ]; then
	BENCH_NODES=static
	command -v bird >/dev/null 2>&1 && command -v birdc >/dev/null 2>&1 &&
		BENCH_NODES="$BENCH_NODES bgp bgp-node"
	command -v keepalived >/dev/null 2>&1 && BENCH_NODES="$BENCH_NODES vrrp vrrp-node"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/restart-gap.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
gaps=$tmp/gaps
: >"$gaps"

# run NAME CMD...: one e2e script with the gaps file; its log on failure
run() {
	local name=$1 rc
	shift
	echo "restart-gap: $name ..." >&2
	env RESTART_GAPS="$gaps" "$@" >"$tmp/$name.log" 2>&1
	rc=$?
	if [ "$rc" = 77 ]; then
		echo "restart-gap: $name skipped: $(grep SKIP "$tmp/$name.log" | tail -n 1)" >&2
		return 0
	fi
	if [ "$rc" != 0 ]; then
		echo "restart-gap: $name failed (status $rc):" >&2
		grep -E 'FAIL|CHECK' "$tmp/$name.log" | tail -n 5 >&2
		exit 1
	fi
}

for r in $(seq 1 "$BENCH_RUNS"); do
	run "restart-$r" RESTART_SKIP_FLOOD=1 RESTART_STRICT=0 RESTART_MAX_GAP_KILL=60 \
		RESTART_MAX_GAP_TERM=60 "$E2E/restart.sh"
	for m in $BENCH_NODES; do
		kill=wglbd
		case $m in *-node) kill=node ;; esac
		run "nodes-$m-$r" NODES_ROUTING="${m%-node}" NODES_KILL="$kill" NODES_MAX_GAP=60 \
			"$E2E/nodes.sh"
	done
done

version=$("${WGLBD:-$HERE/../../wglbd}" -V 2>/dev/null | head -n 1)
python3 - "$gaps" "$PING_IV" "$BENCH_RUNS" "$version" <<'EOF'
import json, statistics, sys

path, iv, runs, version = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
order = ["kill9", "term", "term-learned", "failover-static", "failover-bgp",
         "failover-bgp-node", "failover-vrrp", "failover-vrrp-node"]
gap, lost, detect = {}, {}, {}
for line in open(path):
    f = line.split()
    if len(f) != 4:
        continue
    scen, client, g, n = f[0], f[1], float(f[2]), int(f[3])
    if scen.startswith("detect-"):
        detect.setdefault(scen[7:], []).append(g)
        continue
    gap.setdefault(scen, {}).setdefault(client, []).append(g)
    lost.setdefault(scen, {}).setdefault(client, []).append(n * iv)

out = {"bench": "restart-gap", "wglbd": version, "ping_interval_s": iv, "runs": runs,
       "scenarios": {}}
print("%-18s %-7s %8s %8s" % ("scenario", "client", "gap_s", "lost_s"))
for scen in order + sorted(set(gap) - set(order)):
    if scen not in gap:
        continue
    d = {"gap_s": {}, "lost_s": {}}
    allg = []
    for c in sorted(gap[scen]):
        g, l = max(gap[scen][c]), max(lost[scen][c])
        allg += gap[scen][c]
        d["gap_s"][c] = round(g, 3)
        d["lost_s"][c] = round(l, 3)
        print("%-18s %-7s %8.3f %8.3f" % (scen, c, g, l))
    d["max_gap_s"] = round(max(allg), 3)
    d["median_gap_s"] = round(statistics.median(allg), 3)
    mode = scen.split("-", 1)[1] if scen.startswith("failover-") else None
    if mode in detect:
        d["detect_s"] = round(max(detect[mode]), 3)
        print("%-18s %-7s %8.3f %8s" % (scen, "detect", d["detect_s"], "-"))
    out["scenarios"][scen] = d
print(json.dumps(out, separators=(",", ":")))
EOF
