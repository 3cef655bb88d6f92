#!/bin/bash
# tests/bench/failover.sh: how long clients lose their tunnel when the
# backend serving them dies. A benchmark, not a test: it never fails on a
# number (only when the setup itself breaks). Needs root; uses the netns
# topology of tests/e2e/lib.sh.
#
# BENCH_BACKENDS backends with health probes, BENCH_CLIENTS clients pinging
# through the tunnel (ping -i BENCH_PING_INTERVAL -D, bounded). The
# backend serving the most clients has its wireguard-go killed. Printed:
#   detection  kill -> wglbd's "backend X: up -> down" line (log time stamp)
#   per affected client: kill -> first ping answer afterwards (through the
#   backend it was moved to), and the gap between its last answer before
#   and its first answer after the kill
#   unaffected clients: answers lost during the failover window
# then one line of JSON starting with {"bench":"failover".
#
# Env: BENCH_BACKENDS       (default 3)
#      BENCH_CLIENTS        (default 6)
#      BENCH_PING_INTERVAL  seconds between echoes (default 0.1)
#      BENCH_SIGNAL         KILL (crash, default) or TERM (clean stop)
#      BENCH_HEALTH         [health] lines, ';'-separated (default: none,
#                           i.e. wglbd's defaults: interval 2s, timeout 1s,
#                           rise 2, fall 2), e.g. "interval = 1s; timeout = 500ms"
#      BENCH_POLICY         [global] policy (default: wglbd's, least-load)
#      BENCH_MAX_WAIT       seconds to wait for every client to recover (60)
#      WGLBD                wglbd binary (default: found like the e2e tests do)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/../e2e/lib.sh"

BENCH_BACKENDS=${BENCH_BACKENDS:-3}
BENCH_CLIENTS=${BENCH_CLIENTS:-6}
BENCH_PING_INTERVAL=${BENCH_PING_INTERVAL:-0.1}
BENCH_SIGNAL=${BENCH_SIGNAL:-KILL}
BENCH_HEALTH=${BENCH_HEALTH:-}
BENCH_POLICY=${BENCH_POLICY:-}
BENCH_MAX_WAIT=${BENCH_MAX_WAIT:-60}
E2E_IPERF_SERVERS=0

case $BENCH_SIGNAL in KILL | TERM) ;; *) echo "BENCH_SIGNAL must be KILL or TERM" >&2; exit 2 ;; esac
[ "$BENCH_BACKENDS" -ge 2 ] || { echo "BENCH_BACKENDS must be >= 2" >&2; exit 2; }

e2e_require_root_and_tools stdbuf awk
e2e_find_wglbd || { echo "wglbd binary not found at $WGLBD (build it or set WGLBD)" >&2; exit 1; }
e2e_init

fdiff() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a - b }'; }

T0=$(date +%s)
e2e_log "run $E2E_RUN: $BENCH_BACKENDS backends, $BENCH_CLIENTS clients, ping every ${BENCH_PING_INTERVAL}s, kill -$BENCH_SIGNAL"
e2e_lb_ns
for i in $(seq 1 "$BENCH_BACKENDS"); do e2e_add_backend "b$i"; done
CLIENTS=()
for i in $(seq 1 "$BENCH_CLIENTS"); do
	e2e_add_client "c$i" v4
	CLIENTS+=("c$i")
done
E2E_HEALTH=1
E2E_HEALTH_LINES=()
IFS=';' read -r -a hl <<<"$BENCH_HEALTH"
for l in "${hl[@]}"; do
	l=$(echo "$l" | sed 's/^ *//; s/ *$//')
	[ -n "$l" ] && E2E_HEALTH_LINES+=("$l")
done
glines=()
[ -n "$BENCH_POLICY" ] && glines+=("policy = $BENCH_POLICY")
e2e_write_conf "$E2E_DIR/wglb.conf" "${glines[@]}"
e2e_start_wglbd "$E2E_DIR/wglb.conf"
for b in "${E2E_BACKENDS[@]}"; do
	h=$(e2e_wait_health "$b" up 10) || e2e_fail "backend $b not up 10 s after start ($h)"
done
e2e_log "topology up, every backend healthy, in $(($(date +%s) - T0)) s"

# every client pings; bounded well past the longest wait
for c in "${CLIENTS[@]}"; do
	t=$(e2e_now)
	e2e_ping_bg "$c" $((BENCH_MAX_WAIT + 60)) "$BENCH_PING_INTERVAL"
	e2e_wait_ping_reply "$c" "$t" 10 >/dev/null || e2e_fail "client $c gets no ping reply"
done
sleep 2

declare -A OLD=() NEW=()
declare -A COUNT=()
for c in "${CLIENTS[@]}"; do
	OLD[$c]=$(e2e_serving_backend "$c")
	COUNT[${OLD[$c]}]=$((${COUNT[${OLD[$c]}]:-0} + 1))
done
victim='' most=0
for b in "${E2E_BACKENDS[@]}"; do
	e2e_log "  backend $b serves ${COUNT[$b]:-0} client(s): $(e2e_clients_of "$b")"
	if [ "${COUNT[$b]:-0}" -gt "$most" ]; then victim=$b most=${COUNT[$b]}; fi
done
affected=() others=()
for c in "${CLIENTS[@]}"; do
	if [ "${OLD[$c]}" = "$victim" ]; then affected+=("$c"); else others+=("$c"); fi
done

e2e_log "killing $victim's wireguard-go (-$BENCH_SIGNAL), it serves: ${affected[*]}"
mark=$(e2e_log_mark)
t_kill=$(e2e_now)
e2e_kill_backend_wg "$victim" "$BENCH_SIGNAL"

detect=null reason=null
if line=$(e2e_wait_log "$mark" "backend $victim: up -> down \\(" 30); then
	detect=$(fdiff "$(e2e_log_epoch "$line")" "$t_kill")
	reason=$(echo "$line" | sed -n 's/.*up -> down (\([a-z_]*\).*/\1/p')
	e2e_log "  ${line#* }"
else
	e2e_log "  no down line for $victim within 30 s"
fi

declare -A REC=() GAP=()
for c in "${affected[@]}"; do
	left=$(awk -v t="$t_kill" -v n="$(e2e_now)" -v m="$BENCH_MAX_WAIT" \
		'BEGIN { x = int(m - (n - t)) + 1; print (x > 0 ? x : 1) }')
	# an answer already on its way at the kill is no recovery: 0.3 s margin
	if t=$(e2e_wait_ping_reply "$c" "$(fdiff "$t_kill" -0.3)" "$left"); then
		REC[$c]=$(fdiff "$t" "$t_kill")
		last=$(awk -v k="$t_kill" '/ bytes from / { x = substr($1, 2, length($1) - 2) + 0
			if (x <= k) l = x } END { printf "%.3f\n", l }' "${E2E_PINGLOG[$c]}")
		GAP[$c]=$(fdiff "$t" "$last")
	else
		REC[$c]=null
		GAP[$c]=null
	fi
	NEW[$c]=$(e2e_serving_backend "$c")
done
t_end=$(e2e_now)

# clients on the surviving backends: echoes lost from the last answer
# before the kill to the last answer by the end of the failover (icmp_seq
# numbers missing among the answers)
lost_total=0 sent_total=0
for c in "${others[@]}"; do
	read -r sent lost < <(awk -v a="$t_kill" -v b="$t_end" '/ bytes from / {
		x = substr($1, 2, length($1) - 2) + 0
		q = $0; sub(/.*icmp_seq=/, "", q); q += 0
		if (x <= a) first = q
		else if (x <= b) { last = q; n++ } }
		END { s = last - first; if (s < 0) s = 0; l = s - n; if (l < 0) l = 0; print s, l }' \
		"${E2E_PINGLOG[$c]}")
	lost_total=$((lost_total + lost))
	sent_total=$((sent_total + sent))
done
loss_pct=$(awk -v l="$lost_total" -v s="$sent_total" 'BEGIN { printf "%.1f\n", s ? 100 * l / s : 0 }')

st=$(e2e_wglbd_stats)
echo
echo "failover: $BENCH_BACKENDS backends, $BENCH_CLIENTS clients, ping -i $BENCH_PING_INTERVAL," \
	"kill -$BENCH_SIGNAL $victim, health: ${BENCH_HEALTH:-wglbd defaults}"
printf '  detection (kill -> "%s: up -> down" log line): %s s, reason %s\n' "$victim" "$detect" "$reason"
printf '  %-8s %-8s %-8s %14s %14s\n' client from to "recovery (s)" "ping gap (s)"
for c in "${affected[@]}"; do
	printf '  %-8s %-8s %-8s %14s %14s\n' "$c" "$victim" "${NEW[$c]:-?}" "${REC[$c]}" "${GAP[$c]}"
done
printf '  unaffected clients (%s): %d of %d echoes lost during the failover (%s %%)\n' \
	"${others[*]:-none}" "$lost_total" "$sent_total" "$loss_pct"
printf '  %s after: %s handshakes_forwarded=%s\n' "$victim" \
	"$(e2e_backend_health "$victim" "$st")" "$(e2e_stat_backend "$st" "$victim" handshakes_forwarded)"
echo

json_clients=
vals=()
for c in "${affected[@]}"; do
	[ -n "$json_clients" ] && json_clients+=","
	json_clients+="{\"client\":\"$c\",\"to\":\"${NEW[$c]:-}\",\"recovery_s\":${REC[$c]},\"gap_s\":${GAP[$c]}}"
	[ "${REC[$c]}" != null ] && vals+=("${REC[$c]}")
done
summary=$(printf '%s\n' "${vals[@]}" | awk 'NF { n++; s += $1; if (n == 1 || $1 < mn) mn = $1; if ($1 > mx) mx = $1 }
	END { if (n) printf "\"recovery_min_s\":%.3f,\"recovery_mean_s\":%.3f,\"recovery_max_s\":%.3f", mn, s / n, mx
	      else printf "\"recovery_min_s\":null,\"recovery_mean_s\":null,\"recovery_max_s\":null" }')
[ "$reason" = null ] || reason="\"$reason\""
printf '{"bench":"failover","backends":%d,"clients":%d,"ping_interval_s":%s,"signal":"%s","health":"%s","killed":"%s","affected":%d,"detect_s":%s,"down_reason":%s,%s,"recovered":%d,"per_client":[%s],"unaffected_lost":%d,"unaffected_sent":%d}\n' \
	"$BENCH_BACKENDS" "$BENCH_CLIENTS" "$BENCH_PING_INTERVAL" "$BENCH_SIGNAL" \
	"${BENCH_HEALTH:-default}" "$victim" "${#affected[@]}" "$detect" "$reason" "$summary" \
	"${#vals[@]}" "$json_clients" "$lost_total" "$sent_total"
exit 0
