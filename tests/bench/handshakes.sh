#!/bin/bash
# tests/bench/handshakes.sh: handshake initiations per second wglbd
# admits and steers with mac1 checking on. A benchmark, not a test: it
# never fails on a number. Needs root; uses the netns topology of
# tests/e2e/lib.sh with plain hosts (no WireGuard):
#
#   gen ns (hsgen, raw socket) --brc-- lb ns (wglbd, public_key set) --brb-- sink ns (udpsink -R)
#
# hsgen sends 148-byte initiations with a valid mac1 (BLAKE2s keyed with
# BLAKE2s-256("mac1----" || public key)), each with a fresh random body,
# from BENCH_ADDRS source addresses (10.200.0.64 and up, assigned to the
# gen ns so replies resolve) and any source port. udpsink answers each with
# a 92-byte response for the initiation's sender index, so wglbd sees the
# handshake complete. Two kinds of run, each on a fresh wglbd:
#   flood  like new, but the sink never answers: a handshake flood from
#          peers the backends do not know, where steering is all the work
#   new    every initiation from a new endpoint: each opens a session,
#          steered to a backend and sent through its relay socket (no
#          socket of its own until the tunnel carries data); bounded by
#          max_sessions
#   rekey  BENCH_ENDPOINTS endpoints open their sessions first (not
#          measured: a handshake, then a keepalive, so each has its own
#          socket like an established tunnel), then initiations cycle
#          over them: rekeys, one send per session
# Measured: initiations wglbd forwarded (its stats, SIGUSR1:
# handshakes_forwarded; the [metrics] endpoint is read as a cross-check)
# per second of the time it took (the sink's first-to-last initiation, at
# least the generator's run: a saturated wglbd still drains its socket
# queue after the generator stopped), sessions created, wglbd's CPU time
# until its queue was drained (cpu% over that time, and CPU microseconds
# per forwarded initiation), drops by reason, and initiations dropped at
# wglbd's socket (RcvbufErrors in the lb ns). [limits] are relaxed
# (per-source and global rates 10M/s, under_load = 0) so admission does
# not throttle; the session table counts as under load from 90 % full, so
# a "new" run opens at most 85 % of max_sessions.
#
# max_sessions is BENCH_MAX_SESSIONS: sessions that only handshake hold
# no descriptor and no local port.
#
# Env: BENCH_TIME       seconds per measured run (default 5)
#      BENCH_RATES      offered initiations/s, "max" = as fast as hsgen can
#                       (default "5000 20000 max")
#      BENCH_KINDS      subset of "flood new rekey" (default all three)
#      BENCH_ADDRS      source addresses, 1..128 (default 64)
#      BENCH_ENDPOINTS  endpoints (sessions) of the rekey runs (default 1024)
#      BENCH_MAX_SESSIONS  upper bound of max_sessions (default 1000000)
#      BENCH_PORT_RANGE ip_local_port_range in the lb ns (default "1024 65535"),
#                       for the rekey runs' sockets
#      WGLBD            wglbd binary (default: found like the e2e tests do)
#
# Output: a table, then one line of JSON starting with {"bench":"handshakes".

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/benchlib.sh
. "$HERE/benchlib.sh"

BENCH_TIME=${BENCH_TIME:-5}
BENCH_RATES=${BENCH_RATES:-5000 20000 max}
BENCH_KINDS=${BENCH_KINDS:-flood new rekey}
BENCH_ADDRS=${BENCH_ADDRS:-64}
BENCH_ENDPOINTS=${BENCH_ENDPOINTS:-1024}
BENCH_MAX_SESSIONS=${BENCH_MAX_SESSIONS:-1000000}
BENCH_PORT_RANGE=${BENCH_PORT_RANGE:-1024 65535}

[ "$BENCH_ADDRS" -ge 1 ] && [ "$BENCH_ADDRS" -le 128 ] || { echo "BENCH_ADDRS: 1..128" >&2; exit 2; }
e2e_require_root_and_tools cc awk
e2e_find_wglbd || { echo "wglbd binary not found at $WGLBD (build it or set WGLBD)" >&2; exit 1; }
e2e_init
bench_build_tools
[ -x "$BENCH_BIN/hsgen" ] || e2e_fail "cannot build hsgen (needs libb2-dev): $(cat "$BENCH_BIN/hsgen.err")"
SINK_ADDR=10.200.1.201
GEN_ADDR=10.200.0.201
SRC0=10.200.0.64

e2e_lb_ns
bench_raw_host gen client "$GEN_ADDR"
bench_raw_host sink backend "$SINK_ADDR"
for i in $(seq 0 $((BENCH_ADDRS - 1))); do
	ip -n "${E2E_NS[gen]}" addr add "10.200.0.$((64 + i))/24" dev eth0 || e2e_fail "address $i"
done
ip netns exec "$E2E_NS_LB" sh -c "echo '$BENCH_PORT_RANGE' >/proc/sys/net/ipv4/ip_local_port_range" ||
	e2e_fail "ip_local_port_range"
PORTS_LB=$(ip netns exec "$E2E_NS_LB" cat /proc/sys/net/ipv4/ip_local_port_range | tr -s "\t " "  ")
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
MAX_SESSIONS=$BENCH_MAX_SESSIONS
NEW_CAP=$((MAX_SESSIONS * 85 / 100))
[ "$BENCH_ENDPOINTS" -lt $((NOFILE - 100)) ] ||
	e2e_fail "BENCH_ENDPOINTS ($BENCH_ENDPOINTS) needs a socket each: descriptor limit $NOFILE"
e2e_log "==> handshakes: rates [$BENCH_RATES], kinds [$BENCH_KINDS], ${BENCH_TIME}s each, $BENCH_ADDRS source addresses"
e2e_log "    descriptor limit $NOFILE, lb ephemeral ports $PORTS_LB: max_sessions $MAX_SESSIONS, a new-session run opens at most $NEW_CAP"

BENCH_WGLBD_EXTRA="
[metrics]
listen = 127.0.0.1:9586"
bench_wglbd_conf "$E2E_DIR/wglb.conf" "$SINK_ADDR:$BENCH_SINK_PORT" -- \
	"public_key = $E2E_SRV_PUB" "session_timeout = 300s" "max_sessions = $MAX_SESSIONS"

# metric NAME: sum of a metric's samples from wglbd's /metrics (lb ns)
metric() {
	ip netns exec "$E2E_NS_LB" python3 - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
try:
    body = urllib.request.urlopen("http://127.0.0.1:9586/metrics", timeout=3).read().decode()
except Exception:
    sys.exit(0)
s, found = 0.0, False
for l in body.splitlines():
    if l.startswith(sys.argv[1] + " ") or l.startswith(sys.argv[1] + "{"):
        s += float(l.rsplit(" ", 1)[1]); found = True
print(("%.2f" % s) if found else "")
EOF
}

# settle KEY: wait (3 s at most) until wglbd's backend counter KEY stops
# moving (its socket queue is drained); print the last stats
settle() {
	local prev=-1 st v
	for _ in $(seq 1 15); do
		st=$(e2e_wglbd_stats) || break
		v=$(bench_sum_backends "$st" "$1")
		[ "$v" = "$prev" ] && break
		prev=$v
		sleep 0.2
	done
	printf '%s\n' "$st"
}

RESULTS=$E2E_DIR/results.tsv
: >"$RESULTS"
NOTES=

# run KIND RATE
run() {
	local kind=$1 rate=$2 r count st0 st1 gen ticks0 ticks1 cpu_s lb0 lb1 sink args m0 m1
	r=$rate
	[ "$rate" = max ] && r=0
	bench_wglbd_start "$E2E_DIR/wglb.conf"
	if [ "$kind" != rekey ]; then
		count=$NEW_CAP
		[ "$r" != 0 ] && count=$(python3 -c "print(min($NEW_CAP, int($r * $BENCH_TIME)))")
		args=(-E 0 -c "$count")
	else
		e2e_log "    opening $BENCH_ENDPOINTS sessions"
		bench_sink_start sink "0.0.0.0:$BENCH_SINK_PORT" 60 -R
		ip netns exec "${E2E_NS[gen]}" timeout 60 "$BENCH_BIN/hsgen" -d "$E2E_VIP4:$E2E_PORT" \
			-k "$E2E_SRV_PUB" -S "$SRC0" -N "$BENCH_ADDRS" -P 1024 -E "$BENCH_ENDPOINTS" \
			-c "$BENCH_ENDPOINTS" -r 20000 -t 30 >/dev/null
		settle handshakes_completed >/dev/null
		# the tunnels' first data: each session gets its own socket
		ip netns exec "${E2E_NS[gen]}" timeout 60 "$BENCH_BIN/hsgen" -d "$E2E_VIP4:$E2E_PORT" \
			-k "$E2E_SRV_PUB" -S "$SRC0" -N "$BENCH_ADDRS" -P 1024 -E "$BENCH_ENDPOINTS" \
			-c "$BENCH_ENDPOINTS" -r 20000 -t 30 -K >/dev/null
		settle tx_packets >/dev/null
		bench_sink_finish 0 >/dev/null
		count=10000000
		[ "$r" != 0 ] && count=$(python3 -c "print(int($r * $BENCH_TIME))")
		args=(-E "$BENCH_ENDPOINTS" -c "$count")
	fi
	# a fresh sink: its first-to-last initiation time is the span wglbd
	# took to forward this run's initiations (its queue drained included)
	local answer=-R
	[ "$kind" = flood ] && answer=
	# shellcheck disable=SC2086 # no answers: no argument
	bench_sink_start sink "0.0.0.0:$BENCH_SINK_PORT" $((BENCH_TIME * 3 + 60)) $answer
	st0=$(settle handshakes_completed)
	m0=$(metric wglb_backend_handshakes_forwarded_total)
	lb0=$(bench_snmp "$E2E_NS_LB" RcvbufErrors)
	ticks0=$(bench_cpu_ns "$E2E_WGLBD_PID")
	gen=$(ip netns exec "${E2E_NS[gen]}" timeout $((BENCH_TIME + 30)) "$BENCH_BIN/hsgen" \
		-d "$E2E_VIP4:$E2E_PORT" -k "$E2E_SRV_PUB" -S "$SRC0" -N "$BENCH_ADDRS" -P 1024 \
		-r "$r" -t "$BENCH_TIME" "${args[@]}" 2>"$E2E_DIR/hsgen.err")
	st1=$(settle handshakes_forwarded)
	# wglbd's CPU until its queue was drained (idle time adds nothing)
	ticks1=$(bench_cpu_ns "$E2E_WGLBD_PID")
	cpu_s=$(python3 -c "print(($ticks1 - $ticks0) / 1e9)")
	m1=$(metric wglb_backend_handshakes_forwarded_total)
	lb1=$(bench_snmp "$E2E_NS_LB" RcvbufErrors)
	sink=$(bench_sink_finish 0)
	if [ -z "$(bench_kv "$gen" sent)" ]; then
		e2e_log "warning: $kind @ $rate: no result from hsgen ($gen $(cat "$E2E_DIR/hsgen.err"))"
	else
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$rate" \
			"$(bench_kv "$gen" sent)" "$(bench_kv "$gen" elapsed)" \
			"$(($(bench_sum_backends "$st1" handshakes_forwarded) - $(bench_sum_backends "$st0" handshakes_forwarded)))" \
			"$(($(bench_sum_backends "$st1" handshakes_completed) - $(bench_sum_backends "$st0" handshakes_completed)))" \
			"$(($(e2e_stat_global "$st1" sessions_created) - $(e2e_stat_global "$st0" sessions_created)))" \
			"$(e2e_stat_global "$st1" sessions)" "$cpu_s" "$((lb1 - lb0))" \
			"$(bench_drops_delta "$st0" "$st1")" "$(bench_kv "$sink" rx_init)" \
			"$(bench_kv "$sink" init_span)" "${m0:-}" "${m1:-}" >>"$RESULTS"
		e2e_log "    $gen | wglbd cpu ${cpu_s}s | sink $sink"
	fi
	if grep -q 'file descriptor limit' "$E2E_WGLBD_LOG"; then
		NOTES=$(grep -h -o 'file descriptor limit.*' "$E2E_WGLBD_LOG" | head -n 1)
	fi
	bench_wglbd_stop
}

for rate in $BENCH_RATES; do
	for kind in $BENCH_KINDS; do
		case $kind in flood | new | rekey) ;; *) e2e_log "unknown kind $kind"; continue ;; esac
		e2e_log "==> $kind sessions, offered $rate initiations/s"
		run "$kind" "$rate"
	done
done

python3 - "$RESULTS" "$BENCH_TIME" "$BENCH_ADDRS" "$BENCH_ENDPOINTS" "$MAX_SESSIONS" "$NOFILE" \
	"$PORTS_LB" "$NOTES" "$(bench_machine_json)" <<'EOF'
import json, sys
res, T, addrs, endpoints, max_sessions, nofile, ports, notes, machine = sys.argv[1:10]
rows = []
for line in open(res):
    (kind, rate, sent, elapsed, fwd, done, created, sessions, cpu_s, lbdrop, drops, sink_rx,
     sink_span, m0, m1) = line.rstrip("\n").split("\t")
    elapsed, cpu_s = float(elapsed), float(cpu_s)
    # the time wglbd took: the generator's run, or longer when its queue
    # still held initiations at the end (the sink saw the last one later)
    span = max(elapsed, float(sink_span or 0))
    r = {"kind": kind, "rate": rate, "sent": int(sent), "elapsed_s": round(elapsed, 3),
         "span_s": round(span, 3),
         "offered_per_s": round(int(sent) / elapsed) if elapsed else 0,
         "forwarded": int(fwd), "forwarded_per_s": round(int(fwd) / span) if span else 0,
         "completed": int(done), "sessions_created": int(created), "sessions_at_end": int(sessions or 0),
         "cpu_s": round(cpu_s, 3), "cpu_pct": round(100 * cpu_s / span, 1) if span else 0,
         "lb_rcvbuf_errors": int(lbdrop), "drops": drops,
         "sink_initiations": int(sink_rx or 0)}
    if m0 and m1:
        r["metrics_forwarded"] = round(float(m1) - float(m0))
    if r["forwarded"] and cpu_s:
        r["cpu_us_per_handshake"] = round(cpu_s / r["forwarded"] * 1e6, 2)
    rows.append(r)
print()
print("wglb handshakes (mac1 checked; %s source addresses; rekey runs over %s sessions; %s s per run)" % (addrs, endpoints, T))
print("%-6s %8s %9s %11s %10s %10s %9s %6s %7s %10s  %s" % ("kind", "offered", "sent/s", "forwarded/s", "forwarded", "completed", "sessions", "cpu%", "us/hs", "lb rcvbuf", "drops"))
for r in rows:
    print("%-6s %8s %9d %11d %10d %10d %9d %6.0f %7s %10d  %s" % (
        r["kind"], r["rate"], r["offered_per_s"], r["forwarded_per_s"], r["forwarded"], r["completed"],
        r["sessions_created"], r["cpu_pct"], r.get("cpu_us_per_handshake", "-"),
        r["lb_rcvbuf_errors"], r["drops"] or "-"))
print("forwarded, completed (answered initiations) and sessions are totals of each run; "
      "a new-session run stops at %d initiations" % int(int(max_sessions) * 85 / 100))
print("max_sessions %s; rekey sessions hold a socket each (descriptor limit %s, lb ephemeral ports %s)%s" % (
    max_sessions, nofile, ports, ("; wglbd: " + notes) if notes else ""))
mism = [r for r in rows if "metrics_forwarded" in r and r["metrics_forwarded"] != r["forwarded"]]
if mism:
    print("note: /metrics and SIGUSR1 stats disagree: " + ", ".join(
        "%s@%s %d vs %d" % (r["kind"], r["rate"], r["metrics_forwarded"], r["forwarded"]) for r in mism))
out = {"bench": "handshakes", "duration_s": float(T), "addrs": int(addrs), "rekey_endpoints": int(endpoints),
       "max_sessions": int(max_sessions), "nofile": int(nofile), "lb_port_range": ports}
out.update(json.loads("{" + machine + "}"))
out["results"] = rows
print(json.dumps(out, separators=(",", ":")))
EOF
exit 0
