#!/bin/bash
# tests/e2e/restart.sh: wglbd restarts without breaking tunnels (see lib.sh
# for the topology: one lb namespace, backends and clients around it).
#
# 3 backends with handshake probes, 4 IPv4 clients pinging through the
# tunnel every 0.1 s (ping -D, bounded). One config for all checks:
# state_file, [metrics], [limits] learn_rate = 50. In this order:
#   b. SIGTERM (the state file is written), start again: the sessions made
#      by the clients' handshakes are restored, the gap (between a client's
#      last reply before the signal and its first one after, from the ping
#      time stamps) is < 1 s per client, not one learning copy (stats
#      learn_copies and wglb_learn_packets_total are 0), no backend saw a
#      new handshake from any client (latest-handshakes unchanged), and
#      every backend still sends to the same upstream address and port of
#      wglbd (its endpoint for the client did not move).
#   a. kill -9 wglbd and start it again (no state file is written): every
#      client pings again within 3 s, no new handshake, and wglbd learned
#      one session per client ("tunnel learned"), each bound to the backend
#      that holds the client's handshake.
#   b. again, now with the learned sessions of a. in the state file.
#   c. learning is bounded: an attacker namespace floods the VIP with data
#      messages of unknown indices (type 4, 48 bytes, random index) from 16
#      addresses x 8 ports at 1000/s for 4 s: the copies wglbd sends to
#      backends stay within learn_rate x backends per second (plus one
#      bucket of burst), the rest are dropped (reason learn_rate, or
#      rate_limited / source_limit / session_rate), and the clients keep
#      pinging through it with the same handshakes.
#
# Exit 0 pass, 1 fail, 77 skip (not root or a tool missing).
# Env: WGLBD, WGLBCTL (binaries), E2E_VERBOSE=1, E2E_KEEP=1 (keep the work
#      dir), RESTART_GAPS=FILE (append "scenario client gap_s lost_pings"
#      lines; used by tests/bench/restart-gap.sh), RESTART_SKIP_FLOOD=1
#      (skip c), RESTART_STRICT=0 (only warn, do not fail, when a backend's
#      endpoint for a client moved across the clean restart),
#      RESTART_MAX_GAP_KILL / RESTART_MAX_GAP_TERM (seconds, default 3 / 1).

E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$E2E_HERE/lib.sh"

T0=$(date +%s)
e2e_require_root_and_tools stdbuf awk curl
if ! e2e_find_wglbd; then
	echo "FAIL: wglbd binary not found at $WGLBD (build it first or set WGLBD)" >&2
	exit 1
fi
if [ -z "${WGLBCTL:-}" ]; then WGLBCTL=$(dirname "$WGLBD")/wglbctl; fi
[ -x "$WGLBCTL" ] || { echo "FAIL: wglbctl not found at $WGLBCTL (set WGLBCTL)" >&2; exit 1; }

E2E_IPERF_SERVERS=0     # no throughput here
CLIENTS=(c1 c2 c3 c4)
PING_IV=0.1             # seconds between echoes
PING_SECS=120           # bound of every background ping
LEARN_RATE=50           # [limits] learn_rate
METRICS=127.0.0.1:9586  # in the lb namespace
MAX_GAP_KILL=${RESTART_MAX_GAP_KILL:-3}   # a.
MAX_GAP_TERM=${RESTART_MAX_GAP_TERM:-1}   # b.
FLOOD_RATE=1000         # c. datagrams per second
FLOOD_SECS=4
FLOOD_IPS=16
FLOOD_PORTS=8           # per address
RESTART_STRICT=${RESTART_STRICT:-1}

# fdiff A B: A - B, 3 decimals; fle A B: A <= B (floats)
fdiff() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a - b }'; }
fle() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# rs_ctl ARGS...: wglbctl on this run's control socket
rs_ctl() { timeout 10 "$WGLBCTL" -s "$E2E_DIR/wglb.sock" "$@"; }

# rs_metrics: the /metrics exposition, fetched inside the lb namespace
rs_metrics() {
	ip netns exec "$E2E_NS_LB" curl -sS --max-time 5 "http://$METRICS/metrics"
}

# rs_metric TEXT NAME: value of sample NAME (with its labels, as rendered)
rs_metric() {
	printf '%s\n' "$1" | awk -v k="$2" '$1 == k { print $2; exit }'
}

# rs_stat KEY [STATS]: a global counter from the "stats:" lines
rs_stat() {
	local st=${2:-}
	[ -n "$st" ] || st=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
	e2e_stat_global "$st" "$1"
}

# rs_drop REASON STATS: a drop counter (0 when absent)
rs_drop() {
	local v
	v=$(e2e_stat_drop "$2" "$1")
	echo "${v:-0}"
}

# rs_endpoints: "backend client endpoint" where each backend sends each
# client's packets (wglbd's upstream socket for that client)
rs_endpoints() {
	local b c
	for b in "${E2E_BACKENDS[@]}"; do
		for c in "${CLIENTS[@]}"; do
			[ "$(e2e_handshake_of "$b" "$c")" = 0 ] && continue
			echo "$b $c $(e2e_backend_endpoint "$b" "$c")"
		done
	done
}

# rs_gaps SCENARIO T MAX: wait for every client's first reply after T
# (10 s at most), print and check its gap (<= MAX seconds); record it in
# $RESTART_GAPS when set. Sets GAPS_MAX to the largest gap.
rs_gaps() {
	local what=$1 t=$2 max=$3 c g gap lost
	GAPS_MAX=0
	for c in "${CLIENTS[@]}"; do
		e2e_wait_ping_reply "$c" "$t" 10 >/dev/null ||
			e2e_fail "$what: $c got no ping reply within 10 s"
		g=$(e2e_ping_gap "$c" "$t")
		[ -n "$g" ] || e2e_fail "$what: no reply of $c before the event to measure from"
		read -r gap lost <<<"$g"
		e2e_log "  $c: gap $gap s, $lost echo(es) lost"
		[ -n "${RESTART_GAPS:-}" ] && echo "$what $c $gap $lost" >>"$RESTART_GAPS"
		fle "$gap" "$max" || e2e_fail "$what: $c's tunnel was broken for $gap s (want <= $max s)"
		fle "$gap" "$GAPS_MAX" || GAPS_MAX=$gap
	done
}

# rs_start_again: start wglbd again with the same config (checked with -t
# at the first start) and wait until it listens; the previous log is kept
# as wglbd.N.log. Unlike e2e_start_wglbd it does not run "wglbd -t" first,
# so that the gap measures wglbd, not the harness.
RS_NLOG=0
rs_start_again() {
	RS_NLOG=$((RS_NLOG + 1))
	mv "$E2E_WGLBD_LOG" "$E2E_DIR/wglbd.$RS_NLOG.log"
	e2e_bg "$E2E_NS_LB" "$E2E_WGLBD_LOG" "$WGLBD" -c "$CONF"
	E2E_WGLBD_PID=$E2E_LAST_PID
	for _ in $(seq 1 100); do
		kill -0 "$E2E_WGLBD_PID" 2>/dev/null ||
			e2e_fail "wglbd exited at start-up: $(tail -n 20 "$E2E_WGLBD_LOG")"
		ip netns exec "$E2E_NS_LB" ss -Hlun "sport = :$E2E_PORT" 2>/dev/null | grep -q . &&
			return 0
		sleep 0.05
	done
	e2e_fail "wglbd did not bind UDP $E2E_PORT within 5 s: $(tail -n 20 "$E2E_WGLBD_LOG")"
}

# rs_stop_wglbd: SIGTERM, wait for the exit (SIGKILL after 5 s)
rs_stop_wglbd() {
	local pid=$E2E_WGLBD_PID wd
	kill -TERM "$pid" 2>/dev/null
	(sleep 5 && kill -KILL "$pid" 2>/dev/null) &
	wd=$!
	wait "$pid" 2>/dev/null
	kill "$wd" 2>/dev/null
	wait "$wd" 2>/dev/null
	return 0
}

# rs_log_ms LOG REGEX: the time stamp (epoch, ms) of the first line of LOG
# matching REGEX, or nothing
rs_log_ms() {
	local l
	l=$(grep -E -m 1 -- "$2" "$1" 2>/dev/null) || return 0
	e2e_log_epoch "$l"
}

# rs_sessions: "client-endpoint backend" of every session wglbd holds
rs_sessions() {
	rs_ctl -j sessions | python3 -c '
import json, sys
for s in json.load(sys.stdin).get("sessions", []):
    print(s["client"], s["backend"] or "-")'
}

e2e_init
e2e_log "run $E2E_RUN: building topology (3 backends, 4 clients)"
e2e_lb_ns
for b in b1 b2 b3; do e2e_add_backend "$b"; done
for c in "${CLIENTS[@]}"; do e2e_add_client "$c" v4; done
E2E_HEALTH=1
E2E_HEALTH_LINES=("check = handshake" "interval = 1s" "timeout = 500ms" "rise = 2"
	"fall = 2" "slow_start = 0")
CONF=$E2E_DIR/wglb.conf
STATE=$E2E_DIR/wglb.state
# e2e_write_conf puts its extra lines at the end of [global]: the sections
# after "state_file" are whole sections of their own
e2e_write_conf "$CONF" "state_file = $STATE" "" "[metrics]" "listen = $METRICS" \
	"" "[limits]" "learn_rate = $LEARN_RATE"
e2e_start_wglbd "$CONF"
for b in "${E2E_BACKENDS[@]}"; do
	h=$(e2e_wait_health "$b" up 10) || e2e_fail "backend $b not up 10 s after start ($h)"
done
for c in "${CLIENTS[@]}"; do
	t=$(e2e_now)
	e2e_ping_bg "$c" "$PING_SECS" "$PING_IV"
	e2e_wait_ping_reply "$c" "$t" 10 >/dev/null ||
		e2e_fail "client $c gets no ping reply through the tunnel within 10 s"
done
for c in "${CLIENTS[@]}"; do e2e_log "  $c served by $(e2e_serving_backend "$c")"; done
e2e_log "wglbd running (pid $E2E_WGLBD_PID), 4 clients pinging, in $(($(date +%s) - T0)) s"
sleep 1

# rs_clean_restart LABEL WHAT: SIGTERM (wglbd writes the state file), start
# again; check the restore, the gaps (< MAX_GAP_TERM), that nothing was
# learned, that no backend saw a new handshake and that every backend still
# sends to the same upstream address and port of wglbd.
rs_clean_restart() {
	local label=$1 what=$2 hs0 ep0 ep1 t_stop nsaved line st m copies learned mcopies d
	e2e_check "$what: SIGTERM, start again with state_file: gap < $MAX_GAP_TERM s, no learning, no new handshake"
	sleep 1
	hs0=$(e2e_handshakes "${CLIENTS[@]}")
	ep0=$(rs_endpoints)
	t_stop=$(e2e_now)
	rs_stop_wglbd
	[ -s "$STATE" ] || e2e_fail "no state file $STATE after SIGTERM"
	cp "$STATE" "$E2E_DIR/state.$label"
	nsaved=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["sessions"]))' "$STATE")
	grep -q "state: $nsaved sessions written" "$E2E_WGLBD_LOG" ||
		e2e_fail "no 'state: $nsaved sessions written' line at shutdown"
	rs_start_again
	e2e_log "  wglbd restarted $(fdiff "$(e2e_now)" "$t_stop") s after SIGTERM (pid $E2E_WGLBD_PID), state file had $nsaved sessions"
	# where the time went, from wglbd's own time stamps
	local old_log=$E2E_DIR/wglbd.$RS_NLOG.log a b c d
	a=$(rs_log_ms "$old_log" "signal 15")
	b=$(rs_log_ms "$old_log" "wglbd\\[[a-z]+\\] stopped")
	c=$(rs_log_ms "$E2E_WGLBD_LOG" "starting")
	d=$(rs_log_ms "$E2E_WGLBD_LOG" "sessions restored")
	if [ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] && [ -n "$d" ]; then
		e2e_log "  SIGTERM -> stopped $(fdiff "$b" "$a") s (state file written), -> new process $(fdiff "$c" "$b") s, -> restored $(fdiff "$d" "$c") s"
	fi
	[ "$nsaved" = "${#CLIENTS[@]}" ] || e2e_fail "the state file holds $nsaved sessions, want ${#CLIENTS[@]}"
	line=$(e2e_wait_log 0 "state: [0-9]+ sessions restored" 3) ||
		e2e_fail "no 'sessions restored' line after the restart"
	e2e_log "  log: ${line#* }"
	case $line in *"state: $nsaved sessions restored"*) ;; *) e2e_fail "not every session restored: $line" ;; esac
	[ -e "$STATE" ] && e2e_fail "the state file was not removed once read"
	rs_gaps "$label" "$t_stop" "$MAX_GAP_TERM"
	sleep 2
	if d=$(e2e_handshakes_changed "$hs0" "${CLIENTS[@]}"); then
		e2e_fail "$what: after the clean restart: a backend saw a new handshake: $d"
	fi
	st=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
	m=$(rs_metrics) || e2e_fail "cannot fetch http://$METRICS/metrics in the lb namespace"
	copies=$(rs_stat learn_copies "$st")
	learned=$(rs_stat sessions_learned "$st")
	mcopies=$(rs_metric "$m" wglb_learn_packets_total)
	e2e_log "  stats: learn_copies=$copies sessions_learned=$learned; metrics: wglb_learn_packets_total=$mcopies"
	if [ "$copies" != 0 ] || [ "$learned" != 0 ] || [ "$mcopies" != 0 ]; then
		e2e_fail "learning after a restart with the state file (learn_copies=$copies sessions_learned=$learned wglb_learn_packets_total=$mcopies)"
	fi
	e2e_pass "restored, gaps <= ${GAPS_MAX} s, no learning, latest-handshakes unchanged"

	e2e_check "$what: every backend still sends to the same upstream address and port of wglbd"
	ep1=$(rs_endpoints)
	if [ "$ep1" != "$ep0" ]; then
		d=$(diff <(printf '%s\n' "$ep0") <(printf '%s\n' "$ep1") | grep '^[<>]' | tr '\n' ' ')
		e2e_log "  state file: $(cat "$E2E_DIR/state.$label")"
		[ "$RESTART_STRICT" = 1 ] &&
			e2e_fail "$what: a backend's endpoint for a client moved across the restart (the restored upstream socket did not get its old address and port): $d"
		e2e_log "  WARNING: endpoints moved across the restart: $d"
	else
		e2e_pass "endpoints unchanged: $(printf '%s\n' "$ep1" | awk '{ printf "%s%s:%s", s, $2, $3; s = " " }')"
	fi
}

# ---- b. clean restart of sessions made by handshakes -------------------------
rs_clean_restart term "b. (sessions from handshakes)"

# ---- a. kill -9 ------------------------------------------------------------
e2e_check "a. kill -9 wglbd, start it again: every client pings again within $MAX_GAP_KILL s, no new handshake"
hs0=$(e2e_handshakes "${CLIENTS[@]}")
declare -A OWNER=()
for c in "${CLIENTS[@]}"; do OWNER[$c]=$(e2e_serving_backend "$c"); done
t_kill=$(e2e_now)
kill -KILL "$E2E_WGLBD_PID"
wait "$E2E_WGLBD_PID" 2>/dev/null
[ -e "$STATE" ] && e2e_fail "a state file exists after kill -9"
rs_start_again
e2e_log "  wglbd restarted $(fdiff "$(e2e_now)" "$t_kill") s after the kill (pid $E2E_WGLBD_PID)"
rs_gaps kill9 "$t_kill" "$MAX_GAP_KILL"
sleep 1
if d=$(e2e_handshakes_changed "$hs0" "${CLIENTS[@]}"); then
	e2e_fail "a. after kill -9: a backend saw a new handshake: $d"
fi
e2e_pass "every tunnel back within ${GAPS_MAX} s, latest-handshakes unchanged"

e2e_check "a. wglbd learned one session per client, bound to the backend holding its handshake"
st=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
learned=$(rs_stat sessions_learned "$st")
copies=$(rs_stat learn_copies "$st")
failed=$(rs_stat learn_failed "$st")
e2e_log "  stats: sessions_learned=$learned learn_copies=$copies learn_failed=$failed"
[ "$learned" = "${#CLIENTS[@]}" ] ||
	e2e_fail "sessions_learned=$learned after the restart, want ${#CLIENTS[@]}"
[ "$copies" -gt 0 ] || e2e_fail "learn_copies=0 although sessions were learned"
sess=$(rs_sessions) || e2e_fail "wglbctl sessions failed"
for c in "${CLIENTS[@]}"; do
	got=$(printf '%s\n' "$sess" | awk -v e="${E2E_ADDR4[$c]}:${E2E_PORTOF[$c]}" '$1 == e { print $2 }')
	[ "$got" = "${OWNER[$c]}" ] ||
		e2e_fail "$c's session is on '${got:-none}', its handshake is on ${OWNER[$c]}"
	e2e_log "  $c -> $got"
done
e2e_wait_log 0 "tunnel learned, backend" 1 >/dev/null ||
	e2e_fail "no 'tunnel learned' line in the log"
e2e_pass "$learned sessions learned with $copies copies"

# ---- b. again, now of learned sessions ---------------------------------------
rs_clean_restart term-learned "b. (learned sessions)"

# ---- c. learning is bounded --------------------------------------------------
if [ "${RESTART_SKIP_FLOOD:-0}" = 1 ]; then
	e2e_wglbd_alive || e2e_fail "wglbd died"
	e2e_log "PASS: a, b (c skipped) in $(($(date +%s) - T0)) s"
	exit 0
fi
e2e_check "c. a flood of unknown indices ($FLOOD_RATE/s for $FLOOD_SECS s from $FLOOD_IPS x $FLOOD_PORTS endpoints): copies <= learn_rate x backends"
ans=wglb-$E2E_RUN-attacker
e2e_netns "$ans"
e2e_veth "$ans" va1 brc
ips=()
for i in $(seq 1 "$FLOOD_IPS"); do
	ips+=("10.200.0.$((200 + i))")
	ip -n "$ans" addr add "10.200.0.$((200 + i))/24" dev eth0
done
ip -n "$ans" route add 10.200.0.0/16 via "$E2E_VIP4"
cat >"$E2E_DIR/flood.py" <<'EOF'
# flood.py VIP PORT IP,IP,... PORTS_PER_IP RATE SECONDS: WireGuard data
# messages (type 4) with random receiver indices, paced; prints the count.
import os, socket, struct, sys, time
vip, port, ips = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
ppi, rate, secs = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
socks = []
for ip in ips:
    for _ in range(ppi):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, 0))
        socks.append(s)
sent = 0
t0 = time.monotonic()
while True:
    el = time.monotonic() - t0
    if el >= secs:
        break
    while sent < min(int(el * rate) + 1, int(secs * rate)):
        pkt = struct.pack("<I4sQ", 4, os.urandom(4), sent) + os.urandom(32)
        socks[sent % len(socks)].sendto(pkt, (vip, port))
        sent += 1
    time.sleep(0.002)
print(sent)
EOF
st0=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
hs0=$(e2e_handshakes "${CLIENTS[@]}")
t0=$(e2e_now)
sent=$(ip netns exec "$ans" timeout $((FLOOD_SECS + 10)) python3 "$E2E_DIR/flood.py" \
	"$E2E_VIP4" "$E2E_PORT" "$(IFS=,; echo "${ips[*]}")" "$FLOOD_PORTS" "$FLOOD_RATE" "$FLOOD_SECS") ||
	e2e_fail "the flood generator failed"
sleep 0.3
st1=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
t1=$(e2e_now)
win=$(fdiff "$t1" "$t0")
copies=$(($(rs_stat learn_copies "$st1") - $(rs_stat learn_copies "$st0")))
declare -A DROPS=()
dropped=0
for r in learn_rate rate_limited source_limit session_rate session_limit; do
	DROPS[$r]=$(($(rs_drop "$r" "$st1") - $(rs_drop "$r" "$st0")))
	dropped=$((dropped + DROPS[$r]))
done
nb=${#E2E_BACKENDS[@]}
bound=$(awk -v r="$LEARN_RATE" -v w="$win" -v n="$nb" 'BEGIN { printf "%d\n", n * (r * w + r) + n }')
e2e_log "  sent $sent datagrams in a $win s window; learn copies $copies (bound $bound = $nb x ($LEARN_RATE x $win + $LEARN_RATE)); copies/s/backend $(awk -v c="$copies" -v w="$win" -v n="$nb" 'BEGIN { printf "%.1f", c / w / n }')"
e2e_log "  dropped: learn_rate=${DROPS[learn_rate]} rate_limited=${DROPS[rate_limited]} source_limit=${DROPS[source_limit]} session_rate=${DROPS[session_rate]} session_limit=${DROPS[session_limit]}"
[ "$sent" -ge $((FLOOD_RATE * FLOOD_SECS * 9 / 10)) ] || e2e_fail "the generator sent only $sent datagrams"
[ "$copies" -gt 0 ] || e2e_fail "no learning copy at all during the flood (is learning on?)"
[ "$copies" -le "$bound" ] || e2e_fail "$copies learning copies in $win s exceed learn_rate x backends (+ burst) = $bound"
[ "${DROPS[learn_rate]}" -gt 0 ] || e2e_fail "no drop with reason learn_rate"
# each flood datagram is either copied (to every up backend) or dropped
accounted=$((copies / nb + dropped))
[ "$accounted" -ge $((sent * 9 / 10)) ] ||
	e2e_fail "only $accounted of $sent flood datagrams are accounted for (copied or dropped)"
m=$(rs_metrics) || e2e_fail "cannot fetch /metrics"
ml=$(rs_metric "$m" 'wglb_dropped_packets_total{reason="learn_rate"}')
mc=$(rs_metric "$m" wglb_learn_packets_total)
e2e_log "  metrics: wglb_learn_packets_total=$mc wglb_dropped_packets_total{reason=\"learn_rate\"}=$ml"
[ "${ml:-0}" -gt 0 ] || e2e_fail "wglb_dropped_packets_total{reason=\"learn_rate\"} is ${ml:-missing}"
e2e_pass "$copies copies for $sent datagrams (bound $bound), $dropped dropped"

e2e_check "c. the clients kept pinging through the flood with the same handshakes"
exp=$(awk -v w="$win" -v i="$PING_IV" 'BEGIN { printf "%d\n", w / i }')
for c in "${CLIENTS[@]}"; do
	n=$(e2e_ping_replies "$c" "$t0" "$t1")
	e2e_log "  $c: $n replies in $win s (about $exp sent)"
	[ "$n" -ge $((exp * 7 / 10)) ] || e2e_fail "$c got only $n of about $exp ping replies during the flood"
done
if d=$(e2e_handshakes_changed "$hs0" "${CLIENTS[@]}"); then
	e2e_fail "c. during the flood: a backend saw a new handshake: $d"
fi
e2e_pass "every client answered during the flood"

e2e_wglbd_alive || e2e_fail "wglbd died"
e2e_log "PASS: all checks in $(($(date +%s) - T0)) s"
exit 0
