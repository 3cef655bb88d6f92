#!/bin/bash
# tests/bench/latency.sh: the latency wglbd adds, under light load. A
# benchmark, not a test: it never fails on a number. Needs root; uses the
# netns topology of tests/e2e/lib.sh with plain hosts (no WireGuard):
#
#   gen ns (udpping) --brc-- lb ns (wglbd :51820, nginx :51821) --brb-- sink ns (udpsink -e -R :51820)
#
# udpping sends one 148-byte initiation (so wglbd opens a session), then
# BENCH_COUNT data messages (type 4, BENCH_SIZE bytes) at BENCH_RATE per
# second on a fixed schedule; the echo server sends each back and udpping
# measures the round trip with CLOCK_MONOTONIC. Paths: direct (the lb ns
# only routes), wglbd, nginx. Added latency = percentile through the
# proxy minus the same percentile direct. With BENCH_LOAD_PPS > 0, udpgen
# sends that many 128-byte data messages per second (16 ports) along the
# same path during each measurement (echoed too), as background load.
#
# Env: BENCH_COUNT    samples per path (default 10000)
#      BENCH_RATE     pings per second (default 1000)
#      BENCH_SIZE     ping bytes (default 64)
#      BENCH_LOAD_PPS background load on the measured path (default 0)
#      BENCH_PATHS    subset of "direct wglbd nginx" (default all three)
#      BENCH_NGINX_WORKERS  nginx worker processes (default 1)
#      WGLBD          wglbd binary (default: found like the e2e tests do)
#
# Output: a table, then one line of JSON starting with {"bench":"latency".

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/benchlib.sh
. "$HERE/benchlib.sh"

BENCH_COUNT=${BENCH_COUNT:-10000}
BENCH_RATE=${BENCH_RATE:-1000}
BENCH_SIZE=${BENCH_SIZE:-64}
BENCH_LOAD_PPS=${BENCH_LOAD_PPS:-0}
BENCH_PATHS=${BENCH_PATHS:-direct wglbd nginx}

e2e_require_root_and_tools cc awk
e2e_init
bench_build_tools
SINK_ADDR=10.200.1.201
GEN_ADDR=10.200.0.201
# the longest a run may take: the pings, plus slack for start and stragglers
RUN_SECS=$(python3 -c "import math; print(int(math.ceil($BENCH_COUNT / $BENCH_RATE)) + 10)")

e2e_log "==> latency: $BENCH_COUNT pings of $BENCH_SIZE bytes at $BENCH_RATE/s per path, background load $BENCH_LOAD_PPS pps, paths [$BENCH_PATHS]"
bench_raw_paths "$GEN_ADDR" "$SINK_ADDR"

RESULTS=$E2E_DIR/results.tsv
: >"$RESULTS"
# the echo server lives for the whole run (bounded); every path ends there
# -R: the initiation is answered, as a backend would, so wglbd gives the
# session its own socket with the first data message
bench_sink_start sink "0.0.0.0:$BENCH_SINK_PORT" $((RUN_SECS * 4 + 60)) -e -R

for path in $BENCH_PATHS; do
	case $path in
	direct) dst=$SINK_ADDR:$BENCH_SINK_PORT ;;
	wglbd) [ "$have_wglbd" = 1 ] || continue; dst=$E2E_VIP4:$E2E_PORT ;;
	nginx) [ "$have_nginx" = 1 ] || continue; dst=$E2E_VIP4:$BENCH_NGINX_PORT ;;
	*) e2e_log "unknown path $path"; continue ;;
	esac
	e2e_log "==> $path ($dst)"
	loadpid=
	if [ "$BENCH_LOAD_PPS" != 0 ]; then
		e2e_bg "${E2E_NS[gen]}" "$E2E_DIR/load-$path.out" "$BENCH_BIN/udpgen" -d "$dst" -n 16 \
			-r "$BENCH_LOAD_PPS" -t "$RUN_SECS" -s 128 -b 4
		loadpid=$E2E_LAST_PID
		sleep 0.5
	fi
	out=$(ip netns exec "${E2E_NS[gen]}" timeout $((RUN_SECS + 10)) "$BENCH_BIN/udpping" \
		-d "$dst" -c "$BENCH_COUNT" -r "$BENCH_RATE" -s "$BENCH_SIZE" 2>"$E2E_DIR/udpping.err")
	[ -n "$loadpid" ] && e2e_stop_pid "$loadpid"
	if [ -z "$(bench_kv "$out" received)" ]; then
		e2e_log "warning: $path: no result ($out $(cat "$E2E_DIR/udpping.err"))"
		continue
	fi
	e2e_log "    $out"
	printf '%s\t%s\n' "$path" "$out" >>"$RESULTS"
done
e2e_stop_pid "$BENCH_SINK_PID"
WGLBD_DROPS=
if [ "$have_wglbd" = 1 ]; then
	WGLBD_DROPS=$(bench_drops "$(e2e_wglbd_stats)")
fi

python3 - "$RESULTS" "$BENCH_COUNT" "$BENCH_RATE" "$BENCH_SIZE" "$BENCH_LOAD_PPS" "$NGINX_NOTE" \
	"$WGLBD_DROPS" "$(bench_machine_json)" "${BENCH_NGINX_WORKERS:-1}" <<'EOF'
import json, sys
res, count, rate, size, load, nginx_note, drops, machine, workers = sys.argv[1:10]
rows = {}
for line in open(res):
    path, kv = line.rstrip("\n").split("\t", 1)
    d = dict(x.split("=", 1) for x in kv.split())
    rows[path] = {k: (int(v) if k in ("sent", "received", "lost") else float(v)) for k, v in d.items()}
keys = ["min", "p50", "p90", "p99", "p999", "max", "mean"]
print()
print("wglb added latency (udpping -> [proxy] -> echo, %s x %s bytes at %s/s, background load %s pps; microseconds)" % (count, size, rate, load))
print("%-8s %8s %8s %8s %8s %8s %9s %8s %6s | %10s %10s" % ("path", "min", "p50", "p90", "p99", "p99.9", "max", "mean", "lost", "+p50", "+p99"))
added = {}
d = rows.get("direct")
for path in ("direct", "wglbd", "nginx"):
    r = rows.get(path)
    if not r:
        continue
    a50 = a99 = "-"
    if d and path != "direct":
        added[path] = {"p50_us": round(r["p50"] - d["p50"], 1), "p99_us": round(r["p99"] - d["p99"], 1)}
        a50, a99 = "%+.1f" % added[path]["p50_us"], "%+.1f" % added[path]["p99_us"]
    print("%-8s %8.1f %8.1f %8.1f %8.1f %8.1f %9.1f %8.1f %6d | %10s %10s" % (
        (path,) + tuple(r[k] for k in keys) + (r["lost"], a50, a99)))
if nginx_note:
    print("nginx: " + nginx_note)
if drops:
    print("wglbd drops: " + drops)
out = {"bench": "latency", "count": int(count), "rate": float(rate), "size": int(size),
       "load_pps": float(load), "nginx_workers": int(workers)}
out.update(json.loads("{" + machine + "}"))
out["nginx"] = nginx_note or "ok"
out["wglbd_drops"] = drops
out["results_us"] = rows
out["added_us"] = added
print(json.dumps(out, separators=(",", ":")))
EOF
exit 0
