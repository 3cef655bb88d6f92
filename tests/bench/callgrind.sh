#!/bin/bash
# tests/bench/callgrind.sh: instructions wglbd executes per forwarded
# packet, counted by valgrind's callgrind during a fixed raw load. A
# benchmark, not a test: it never fails on a number. Needs root and
# valgrind; the topology is raw-pps.sh's:
#
#   gen ns (udpgen) --brc-- lb ns (valgrind --tool=callgrind wglbd) --brb-- sink ns (udpsink -R)
#
# Only instructions inside ev_run (wglbd's event loop: every callback,
# so the forwarding path, timers and signal handling, but not start-up or
# shutdown) are counted (--toggle-collect=ev_run). Callgrind counts
# user-space instructions only: the system calls' kernel work (recvmmsg,
# sendmmsg, epoll) is not in the figure. udpgen sends BENCH_COUNT data
# messages from BENCH_PORTS ports (after one initiation per port) at
# BENCH_RATE per second, low enough that wglbd keeps up under callgrind's
# slowdown (a lagging wglbd would read larger batches and look cheaper;
# the loss column tells). Ir per packet = Ir inside ev_run / datagrams
# wglbd forwarded to the backend (its stats, SIGUSR1); also shown: the
# part in the two socket callbacks (front_cb, upstream_cb: the forwarding
# path without timers and signals) and the top functions by own cost.
#
# Env: BENCH_COUNT  data messages (default 200000)
#      BENCH_RATE   per second (default 10000)
#      BENCH_PORTS  source ports = sessions (default 64)
#      BENCH_SIZE   bytes (default 128)
#      BENCH_BATCH  datagrams per sendmmsg (default 16)
#      BENCH_KEEP_OUT  copy callgrind.out to this path (for callgrind_annotate)
#      WGLBD        wglbd binary (default: found like the e2e tests do)
#
# Output: a table, then one line of JSON starting with {"bench":"callgrind".

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/benchlib.sh
. "$HERE/benchlib.sh"

BENCH_COUNT=${BENCH_COUNT:-200000}
BENCH_RATE=${BENCH_RATE:-10000}
BENCH_PORTS=${BENCH_PORTS:-64}
BENCH_SIZE=${BENCH_SIZE:-128}
BENCH_BATCH=${BENCH_BATCH:-16}

e2e_require_root_and_tools cc awk valgrind callgrind_annotate
e2e_find_wglbd || { echo "wglbd binary not found at $WGLBD (build it or set WGLBD)" >&2; exit 1; }
e2e_init
bench_build_tools
SINK_ADDR=10.200.1.201
GEN_ADDR=10.200.0.201
GEN_SECS=$(python3 -c "import math; print(int(math.ceil($BENCH_COUNT / $BENCH_RATE)) + 10)")
CG_OUT=$E2E_DIR/callgrind.out

e2e_log "==> callgrind: $BENCH_COUNT data messages at $BENCH_RATE/s from $BENCH_PORTS ports through wglbd under callgrind"
e2e_lb_ns
bench_raw_host gen client "$GEN_ADDR"
bench_raw_host sink backend "$SINK_ADDR"
bench_wglbd_conf "$E2E_DIR/wglb.conf" "$SINK_ADDR:$BENCH_SINK_PORT" -- "session_timeout = 300s"
BENCH_WGLBD_WAIT=60 bench_wglbd_start "$E2E_DIR/wglb.conf" valgrind --tool=callgrind \
	--callgrind-out-file="$CG_OUT" --toggle-collect=ev_run
VG_PID=$E2E_WGLBD_PID

# -R: initiations are answered, so each session gets its own socket (the
# data path of a real tunnel) with its first data message
bench_sink_start sink "0.0.0.0:$BENCH_SINK_PORT" $((GEN_SECS + 120)) -i 2000 -R
st0=$(e2e_wglbd_stats) || e2e_fail "no stats from wglbd under valgrind"
gen=$(ip netns exec "${E2E_NS[gen]}" timeout $((GEN_SECS + 30)) "$BENCH_BIN/udpgen" \
	-d "$E2E_VIP4:$E2E_PORT" -n "$BENCH_PORTS" -r "$BENCH_RATE" -c "$BENCH_COUNT" -t "$GEN_SECS" \
	-s "$BENCH_SIZE" -b "$BENCH_BATCH" -w 1000 2>"$E2E_DIR/udpgen.err")
e2e_log "    udpgen: $gen"
sink=$(bench_sink_finish 10)
e2e_log "    sink: $sink"
st1=$(e2e_wglbd_stats) || e2e_fail "no stats from wglbd under valgrind"
FWD=$(($(bench_sum_backends "$st1" tx_packets) - $(bench_sum_backends "$st0" tx_packets)))
RX=$(($(e2e_stat_global "$st1" rx_packets) - $(e2e_stat_global "$st0" rx_packets)))
DROPS=$(bench_drops_delta "$st0" "$st1")

# TERM, then give callgrind time to write its file (e2e_stop_pid would KILL after 2 s)
kill -TERM "$VG_PID" 2>/dev/null
for _ in $(seq 1 600); do
	kill -0 "$VG_PID" 2>/dev/null || break
	sleep 0.1
done
e2e_stop_pid "$VG_PID"
E2E_WGLBD_PID=
[ -s "$CG_OUT" ] || e2e_fail "callgrind wrote no output ($CG_OUT): $(tail -n 20 "$E2E_WGLBD_LOG")"
[ -n "${BENCH_KEEP_OUT:-}" ] && cp "$CG_OUT" "$BENCH_KEEP_OUT"
callgrind_annotate --inclusive=yes "$CG_OUT" >"$E2E_DIR/inclusive.txt" 2>&1
callgrind_annotate "$CG_OUT" >"$E2E_DIR/exclusive.txt" 2>&1

python3 - "$E2E_DIR/inclusive.txt" "$E2E_DIR/exclusive.txt" "$FWD" "$RX" "$BENCH_COUNT" "$BENCH_RATE" \
	"$BENCH_PORTS" "$BENCH_SIZE" "$(bench_kv "$gen" sent)" "$(bench_kv "$sink" rx_data)" "$DROPS" \
	"$(bench_machine_json)" "$(valgrind --version)" <<'EOF'
import json, re, sys
inc, exc, fwd, rx, count, rate, ports, size, sent, delivered, drops, machine, vg = sys.argv[1:14]
fwd, rx = int(fwd), int(rx)
line_re = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?)\s*$")

def parse(path):
    total, funcs = None, []
    for l in open(path):
        m = line_re.match(l)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        what = m.group(2)
        if "PROGRAM TOTALS" in what:
            total = n
        elif ":" in what:
            # "file:function [object]" -> function
            fn = what.split(" [")[0]
            fn = fn.rsplit(":", 1)[1] if ":" in fn else fn
            funcs.append((fn, n, what))
    return total, funcs

total, incl = parse(inc)
_, excl = parse(exc)
if total is None:
    print("callgrind_annotate gave no PROGRAM TOTALS; see its output")
    total = 0
per = total / fwd if fwd else None
print()
print("wglbd under callgrind: %s data messages at %s/s from %s ports (%s bytes), %s" % (count, rate, ports, size, vg))
print("  packets sent by udpgen      %s" % sent)
print("  received by wglbd           %d (datagrams on the VIP, initiations included)" % rx)
print("  forwarded to the backend    %d" % fwd)
print("  delivered to the sink       %s" % delivered)
if drops:
    print("  wglbd drops                 %s" % drops)
print("  Ir inside ev_run            %d" % total)
print("  Ir per forwarded packet     %s" % ("%.0f" % per if per else "-"))
first = {}
for fn, n, what in incl:
    first.setdefault(fn, n)
# the forwarding path alone: both socket callbacks, without timers and signals
path_ir = first.get("front_cb", 0) + first.get("upstream_cb", 0)
path_per = path_ir / fwd if fwd and path_ir else None
print("  of which front_cb + upstream_cb (forwarding path) %s per packet; sweep_cb (1 s timer) %s" % (
    "%.0f" % path_per if path_per else "-", "%.0f" % (first.get("sweep_cb", 0) / fwd) if fwd else "-"))
want = ["front_cb", "client_datagram", "flush_fwd", "send_run", "upstream_cb", "wg_classify",
        "session_find_by_endpoint", "session_touch", "sweep_cb"]
print("  inclusive Ir per forwarded packet, by function:")
seen = set()
for fn, n, what in incl:
    if fn in want and fn not in seen:
        seen.add(fn)
        print("    %-28s %10.1f" % (fn, n / fwd if fwd else 0))
print("  top 12 functions by own (exclusive) Ir per forwarded packet:")
for fn, n, what in excl[:12]:
    print("    %-40s %10.1f" % (what.split(" [")[0][-40:], n / fwd if fwd else 0))
out = {"bench": "callgrind", "count": int(count), "rate": float(rate), "ports": int(ports), "size": int(size),
       "valgrind": vg, "sent": int(sent or 0), "wglbd_rx": rx, "forwarded": fwd,
       "delivered": int(delivered or 0), "ir_ev_run": total,
       "ir_per_packet": round(per, 1) if per else None,
       "ir_per_packet_forwarding_path": round(path_per, 1) if path_per else None, "wglbd_drops": drops,
       "inclusive_ir_per_packet": {fn: round(n / fwd, 1) for fn, n, _ in incl if fn in want and fwd}}
out.update(json.loads("{" + machine + "}"))
print(json.dumps(out, separators=(",", ":")))
EOF
exit 0
