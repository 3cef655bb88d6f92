#!/bin/bash
# tests/bench/raw-pps.sh: packets per second wglbd forwards, without
# WireGuard's own cost in the way. A benchmark, not a test: it never fails
# on a number. Needs root; uses the netns topology of tests/e2e/lib.sh
# with plain hosts instead of wireguard-go:
#
#   gen ns (udpgen) --brc-- lb ns (wglbd :51820, nginx :51821) --brb-- sink ns (udpsink -R :51820)
#
# udpgen sends from BENCH_PORTS source ports: each first one 148-byte
# handshake initiation (wglbd runs without public_key, so any body passes
# and opens a session), then BENCH_SIZE-byte data messages (type 4) at a
# fixed offered rate for BENCH_TIME seconds, in sendmmsg batches of
# BENCH_BATCH per port, paced every 1 ms. udpsink counts what arrives.
# Paths: direct (the lb ns only routes), wglbd, nginx (stream UDP proxy).
# loss = 1 - delivered/offered. wglbd's [limits] are relaxed so admission
# never throttles the set-up.
#
# Env: BENCH_TIME     seconds per run (default 5)
#      BENCH_RATES    offered pps, "max" = as fast as udpgen can
#                     (default "50000 100000 200000 max")
#      BENCH_PORTS    source ports = sessions (default 64)
#      BENCH_SIZE     datagram bytes (default 128)
#      BENCH_BATCH    datagrams per sendmmsg (default 16)
#      BENCH_PATHS    subset of "direct wglbd nginx" (default all three)
#      BENCH_NGINX_WORKERS  nginx worker processes (default 1)
#      WGLBD          wglbd binary (default: found like the e2e tests do)
#
# Output: a table, then one line of JSON starting with {"bench":"raw_pps".

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/benchlib.sh
. "$HERE/benchlib.sh"

BENCH_TIME=${BENCH_TIME:-5}
BENCH_RATES=${BENCH_RATES:-50000 100000 200000 max}
BENCH_PORTS=${BENCH_PORTS:-64}
BENCH_SIZE=${BENCH_SIZE:-128}
BENCH_BATCH=${BENCH_BATCH:-16}
BENCH_PATHS=${BENCH_PATHS:-direct wglbd nginx}

e2e_require_root_and_tools cc stdbuf awk
e2e_init
bench_build_tools
SINK_ADDR=10.200.1.201
GEN_ADDR=10.200.0.201

e2e_log "==> raw pps: rates [$BENCH_RATES], ${BENCH_TIME}s each, $BENCH_PORTS ports, ${BENCH_SIZE}-byte datagrams, paths [$BENCH_PATHS]"
bench_raw_paths "$GEN_ADDR" "$SINK_ADDR"

RESULTS=$E2E_DIR/results.tsv
: >"$RESULTS"
stats0=
[ "$have_wglbd" = 1 ] && stats0=$(e2e_wglbd_stats)

# run_one RATE PATH: one bounded udpgen run against one path
run_one() {
	local rate=$1 path=$2 dst pids=() r gen sink ticks0=0 ticks1=0 cpu=null
	local sb0 sb1 lb0 lb1 sent elapsed rx
	case $path in
	direct) dst=$SINK_ADDR:$BENCH_SINK_PORT ;;
	wglbd) dst=$E2E_VIP4:$E2E_PORT; pids=("$E2E_WGLBD_PID") ;;
	nginx) dst=$E2E_VIP4:$BENCH_NGINX_PORT; pids=("$BENCH_NGINX_PID") ;;
	esac
	r=$rate
	[ "$rate" = max ] && r=0
	# -R: initiations are answered, as a backend would, so wglbd gives each
	# session its own socket with its first data message
	bench_sink_start sink "0.0.0.0:$BENCH_SINK_PORT" $((BENCH_TIME + 60)) -i 500 -R
	sb0=$(bench_snmp "${E2E_NS[sink]}" RcvbufErrors)
	lb0=$(bench_snmp "$E2E_NS_LB" RcvbufErrors)
	[ ${#pids[@]} -gt 0 ] && ticks0=$(bench_cpu_ns "${pids[@]}")
	gen=$(ip netns exec "${E2E_NS[gen]}" timeout $((BENCH_TIME + 30)) "$BENCH_BIN/udpgen" \
		-d "$dst" -n "$BENCH_PORTS" -r "$r" -t "$BENCH_TIME" -s "$BENCH_SIZE" -b "$BENCH_BATCH" \
		2>"$E2E_DIR/udpgen.err")
	sink=$(bench_sink_finish 2)
	# the proxy's CPU until the sink went idle: a saturated proxy still
	# drains its socket queue after the generator stopped
	[ ${#pids[@]} -gt 0 ] && ticks1=$(bench_cpu_ns "${pids[@]}") && cpu=$((ticks1 - ticks0))
	sb1=$(bench_snmp "${E2E_NS[sink]}" RcvbufErrors)
	lb1=$(bench_snmp "$E2E_NS_LB" RcvbufErrors)
	sent=$(bench_kv "$gen" sent)
	elapsed=$(bench_kv "$gen" elapsed)
	rx=$(bench_kv "$sink" rx_data)
	if [ -z "$sent" ] || [ -z "$rx" ]; then
		e2e_log "warning: $path at $rate: no result (udpgen: $gen $(cat "$E2E_DIR/udpgen.err"); sink: $sink)"
		return
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rate" "$path" "$sent" "$(bench_kv "$gen" failed)" \
		"$elapsed" "$rx" "$cpu" "$((sb1 - sb0))" "$((lb1 - lb0))" "$(bench_kv "$sink" span)" >>"$RESULTS"
	e2e_log "    $path @ $rate: $gen | sink $sink | proxy cpu ${cpu} ns"
}

for rate in $BENCH_RATES; do
	for path in $BENCH_PATHS; do
		case $path in
		wglbd) [ "$have_wglbd" = 1 ] || continue ;;
		nginx) [ "$have_nginx" = 1 ] || continue ;;
		direct) ;;
		*) e2e_log "unknown path $path"; continue ;;
		esac
		e2e_log "==> $path, offered $rate pps"
		run_one "$rate" "$path"
	done
done

if [ "$have_wglbd" = 1 ]; then
	stats1=$(e2e_wglbd_stats)
	WGLBD_DROPS=$(bench_drops_delta "$stats0" "$stats1")
fi

python3 - "$RESULTS" "$BENCH_TIME" "$BENCH_PORTS" "$BENCH_SIZE" "$BENCH_BATCH" \
	"$NGINX_NOTE" "${WGLBD_DROPS:-}" "$(bench_machine_json)" "${BENCH_NGINX_WORKERS:-1}" <<'EOF'
import json, sys
res, T, ports, size, batch, nginx_note, drops, machine, workers = sys.argv[1:10]
rows = {}
order = []
for line in open(res):
    rate, path, sent, failed, elapsed, rx, cpu, sink_rcvbuf, lb_rcvbuf, span = line.rstrip("\n").split("\t")
    sent, rx, failed = int(sent), int(rx), int(failed)
    elapsed = float(elapsed)
    # delivered over the sender's time: a proxy that lags behind and
    # drains its queue afterwards does not look faster than the offer
    r = {"rate": rate, "path": path, "sent": sent, "gen_failed": failed,
         "elapsed_s": round(elapsed, 3),
         "offered_pps": round(sent / elapsed) if elapsed else 0,
         "delivered_pps": round(rx / elapsed) if elapsed else 0,
         "loss": round(1 - rx / sent, 4) if sent else None,
         "cpu_pct": None, "sink_rcvbuf_errors": int(sink_rcvbuf), "lb_rcvbuf_errors": int(lb_rcvbuf)}
    if cpu != "null":
        # the proxy's CPU (user + system) over the time it forwarded, and per packet
        busy = max(elapsed, float(span or 0))
        r["cpu_s"] = round(int(cpu) / 1e9, 4)
        r["cpu_pct"] = round(100 * r["cpu_s"] / busy, 1) if busy else None
        if rx:
            r["cpu_us_per_pkt"] = round(int(cpu) / 1e3 / rx, 3)
    # the generator itself fell short of a fixed offered rate (by 5 % or more)
    if rate != "max" and r["offered_pps"] < 0.95 * float(rate):
        r["gen_short"] = True
    rows[(rate, path)] = r
    if rate not in order:
        order.append(rate)

def cell(rate, path, k, fmt):
    r = rows.get((rate, path))
    if not r or r.get(k) is None:
        return "-"
    return fmt % r[k]

print()
print("wglb raw forwarding (udpgen -> [proxy] -> udpsink, %s ports, %s-byte datagrams, %s s per run)" % (ports, size, T))
hdr = ("offered", "direct pps", "loss", "wglbd pps", "loss", "cpu%", "us/pkt", "nginx pps", "loss", "cpu%", "us/pkt", "wglbd/direct", "wglbd/nginx")
print("%-9s %11s %6s | %11s %6s %6s %6s | %11s %6s %6s %6s | %12s %11s" % hdr)
ratios = []
for rate in order:
    d, w, n = rows.get((rate, "direct")), rows.get((rate, "wglbd")), rows.get((rate, "nginx"))
    wd = "%.2f" % (w["delivered_pps"] / d["delivered_pps"]) if w and d and d["delivered_pps"] else "-"
    wn = "%.2f" % (w["delivered_pps"] / n["delivered_pps"]) if w and n and n["delivered_pps"] else "-"
    ratios.append({"rate": rate, "wglbd_over_direct": None if wd == "-" else float(wd),
                   "wglbd_over_nginx": None if wn == "-" else float(wn)})
    print("%-9s %11s %6s | %11s %6s %6s %6s | %11s %6s %6s %6s | %12s %11s" % (
        rate,
        cell(rate, "direct", "delivered_pps", "%d"), cell(rate, "direct", "loss", "%.3f"),
        cell(rate, "wglbd", "delivered_pps", "%d"), cell(rate, "wglbd", "loss", "%.3f"),
        cell(rate, "wglbd", "cpu_pct", "%.0f"), cell(rate, "wglbd", "cpu_us_per_pkt", "%.2f"),
        cell(rate, "nginx", "delivered_pps", "%d"), cell(rate, "nginx", "loss", "%.3f"),
        cell(rate, "nginx", "cpu_pct", "%.0f"), cell(rate, "nginx", "cpu_us_per_pkt", "%.2f"),
        wd, wn))
print("offered pps actually sent per run (udpgen):", ", ".join(
    "%s/%s=%d" % (r["rate"], r["path"], r["offered_pps"]) for r in rows.values()))
lost_at = [("%s/%s: sink socket %d, lb socket %d" % (r["rate"], r["path"], r["sink_rcvbuf_errors"], r["lb_rcvbuf_errors"]))
           for r in rows.values() if r["sink_rcvbuf_errors"] or r["lb_rcvbuf_errors"]]
if lost_at:
    print("UDP receive-buffer drops (RcvbufErrors):", "; ".join(lost_at))
short = ["%s/%s sent %d/s" % (r["rate"], r["path"], r["offered_pps"]) for r in rows.values() if r.get("gen_short")]
if short:
    print("generator short of the offered rate (compare loss, not pps): " + ", ".join(short))
if nginx_note:
    print("nginx: " + nginx_note)
if drops:
    print("wglbd drops during the runs: " + drops)
out = {"bench": "raw_pps", "duration_s": float(T), "ports": int(ports), "size": int(size),
       "batch": int(batch), "nginx_workers": int(workers)}
out.update(json.loads("{" + machine + "}"))
out["nginx"] = nginx_note or "ok"
out["wglbd_drops"] = drops
out["results"] = list(rows.values())
out["ratios"] = ratios
print(json.dumps(out, separators=(",", ":")))
EOF
exit 0
