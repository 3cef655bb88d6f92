#!/bin/bash
# tests/e2e/ops.sh: operating a running wglbd: metrics, Prometheus,
# wglbctl drain/enable, reloads (good and bad) under traffic, and the
# GitHub Actions runner script, between real WireGuard peers in network
# namespaces (see lib.sh).
#
# 4 backends: b1 b2 b3 in the file from the start, b4 running but only added
# by a reload. 10 IPv4 clients, used as the checks need them; policy
# least-sessions (deterministic: a backend with the fewest sessions gets the
# next client). Probes: interval 1s, rise 2, fall 2, no slow start.
#   1. GET /metrics while clients ping and iperf3 runs: HTTP 200, passes
#      "promtool check metrics", counters move; 404 for another path, 405
#      for POST
#   2. a real Prometheus (own config and storage, loopback of the lb ns,
#      scrape_interval 1s) reports wglb_backend_up 1 for every backend
#   3. "wglbctl drain B": "backends" shows drain, new clients land
#      elsewhere, B's handshakes_forwarded stays flat, the client on B keeps
#      pinging with no new handshake; "enable B" and the next client lands
#      on B; "drain nosuch" exits 1 with an error, "wglbctl bogus" exits 2
#   4. "wglbctl reload" with b4 added and one backend R removed, while the
#      clients of the untouched backends ping every 0.1 s: none of those
#      pings is lost; b4 shows up, comes up and takes the next client (and
#      Prometheus sees it up); R shows "(removed)", its client keeps
#      working, new clients do not go to R
#   5. a line of garbage appended: "wglbctl reload" exits 1 with
#      FILE:LINE: message, clients still ping, "status" counts the failure
#      (and so do the metrics); the file restored, the reload succeeds
#   6. contrib/github-actions/wglb-connect.sh up, wait, check, down in a
#      new namespace with WG_USERSPACE=1 (wireguard-go): its key is a peer
#      on every backend, "check" pings and fetches a private HTTP service
#      (python3 http.server on each backend's tunnel address), "down"
#      removes the interface and wireguard-go
#
# Exit 0 pass, 1 fail, 77 skip (not root or a tool missing).
# Env: WGLBD, WGLBCTL (binaries), E2E_VERBOSE=1, E2E_KEEP=1 (keep the work dir).

E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$E2E_HERE/lib.sh"

T0=$(date +%s)
e2e_require_root_and_tools stdbuf awk curl promtool prometheus
if ! e2e_find_wglbd; then
	echo "FAIL: wglbd binary not found at $WGLBD (build it first or set WGLBD)" >&2
	exit 1
fi
if ! e2e_find_wglbctl; then
	echo "FAIL: wglbctl binary not found at $WGLBCTL (build it first or set WGLBCTL)" >&2
	exit 1
fi
CONNECT=${top_srcdir:-$E2E_HERE/../..}/contrib/github-actions/wglb-connect.sh
[ -f "$CONNECT" ] || { echo "FAIL: $CONNECT not found" >&2; exit 1; }

E2E_IPERF_SERVERS=1
PING_SECS=150                   # bound of every background ping
PROM_ADDR=127.0.0.1:9090        # Prometheus, on the lb namespace's loopback
SVC_PORT=8080                   # the "private service" on every backend
RUNNER_ADDR=10.77.0.200         # the GitHub runner's tunnel address
INITIAL=(b1 b2 b3)
ADDED=b4

start_pinging() {  # start_pinging CLIENT: background ping, first reply within 10 s
	local c=$1 t
	t=$(e2e_now)
	e2e_ping_bg "$c" "$PING_SECS" 0.2
	e2e_wait_ping_reply "$c" "$t" 10 >/dev/null ||
		e2e_fail "client $c gets no ping reply through the tunnel within 10 s"
}

# new_client CLIENT: first pings through the tunnel; prints the backend
new_client() {
	e2e_ping_retry "$1" 3 || e2e_fail "client $1 cannot ping through the tunnel"
	e2e_serving_backend "$1"
}

# ctl_state NAME: the STATE column of "wglbctl backends" (with "(removed)")
ctl_state() {
	e2e_ctl backends | awk -v n="$1" '$1 == n { s = $3; if ($4 == "(removed)") s = s " " $4; print s }'
}

hs_fwd() { e2e_ctl_backend "$1" handshakes_forwarded; }

# wait_since T SECS: sleep until SECS seconds after unix time T
wait_since() {
	local d
	d=$(awk -v t="$1" -v s="$2" -v n="$(e2e_now)" 'BEGIN { d = t + s - n; printf "%.2f\n", (d > 0 ? d : 0) }')
	sleep "$d"
}

# wait_ctl_health NAME up SECONDS: poll "wglbctl -j backends"
wait_ctl_health() {
	local h
	for _ in $(seq 1 $(($3 * 5))); do
		h=$(e2e_ctl_backend "$1" health)
		[ "$h" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}

# prom_query EXPR: "LABEL=VALUE ..." for each series of an instant query
# (LABEL: the backend label, else the job), sorted
prom_query() {
	ip netns exec "$E2E_NS_LB" curl -sS --max-time 3 -G "http://$PROM_ADDR/api/v1/query" \
		--data-urlencode "query=$1" 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(1)
if d.get("status") != "success":
    sys.exit(1)
out = []
for r in d["data"]["result"]:
    m = r["metric"]
    out.append("%s=%s" % (m.get("backend", m.get("job", "?")), r["value"][1]))
print(" ".join(sorted(out)))
'
}

# prom_all_up NAMES...: every NAME has wglb_backend_up 1 in Prometheus
prom_all_up() {
	local got b
	got=$(prom_query wglb_backend_up) || return 1
	PROM_LAST=$got
	for b in "$@"; do
		case " $got " in *" $b=1 "*) ;; *) return 1 ;; esac
	done
	return 0
}

# http_code [CURL-ARGS...] PATH: status code of a request to wglbd's metrics
http_code() {
	local path=${*: -1}
	e2e_metrics_get "$path" -o /dev/null -w '%{http_code}' "${@:1:$#-1}"
}

e2e_init
e2e_log "run $E2E_RUN: building topology (4 backends, 10 clients)"
e2e_lb_ns
for b in "${INITIAL[@]}" "$ADDED"; do e2e_add_backend "$b"; done
for i in $(seq 1 10); do e2e_add_client "c$i" v4; done

# the private service of check 6, on every backend's tunnel address
mkdir -p "$E2E_DIR/www" && echo ok >"$E2E_DIR/www/healthz"
declare -A SVC_LOG=()
for b in "${E2E_BACKENDS[@]}"; do
	SVC_LOG[$b]=$E2E_DIR/http-$b.log
	e2e_bg "${E2E_NS[$b]}" "${SVC_LOG[$b]}" python3 -u -m http.server "$SVC_PORT" \
		--bind "$E2E_TUN4" --directory "$E2E_DIR/www"
done

E2E_HEALTH=1
E2E_HEALTH_LINES=("check = handshake" "interval = 1s" "timeout = 500ms" "rise = 2"
	"fall = 2" "slow_start = 0")
E2E_METRICS=1
E2E_CONF_SKIP=$ADDED
CONF=$E2E_DIR/wglb.conf
GLOBAL=("policy = least-sessions")
e2e_write_conf "$CONF" "${GLOBAL[@]}"
e2e_start_wglbd "$CONF"
e2e_log "wglbd $WGLBD running (pid $E2E_WGLBD_PID), topology up in $(($(date +%s) - T0)) s"
for b in "${INITIAL[@]}"; do
	wait_ctl_health "$b" up 10 || e2e_fail "backend $b not up 10 s after start: $(e2e_ctl backends)"
done
e2e_log "wglbctl backends:"
e2e_ctl backends | sed 's/^/    /'

# ---- 1. /metrics during traffic --------------------------------------------------
e2e_check "1. c1 c2 c3 reach the tunnel, one per backend (least-sessions)"
declare -A SERVED=()
for c in c1 c2 c3; do
	SERVED[$c]=$(new_client "$c") || exit 1
	e2e_log "  $c served by ${SERVED[$c]}"
done
[ "$(printf '%s\n' "${SERVED[c1]}" "${SERVED[c2]}" "${SERVED[c3]}" | sort -u | wc -l)" = 3 ] ||
	e2e_fail "c1 c2 c3 not on three different backends: ${SERVED[*]}"
e2e_pass "c1 -> ${SERVED[c1]}, c2 -> ${SERVED[c2]}, c3 -> ${SERVED[c3]}"

e2e_check "1. scrape /metrics during traffic (iperf3 from c1, pings from c2 c3): promtool check metrics"
start_pinging c2
start_pinging c3
e2e_iperf c1 -t 4 >"$E2E_DIR/iperf-c1.json" 2>&1 &
IPERF_PID=$!
E2E_PIDS+=("$IPERF_PID")
sleep 1
M1=$E2E_DIR/metrics-1.txt
code=$(e2e_metrics_get /metrics -o "$M1" -w '%{http_code}') || e2e_fail "GET /metrics failed (code $code)"
[ "$code" = 200 ] || e2e_fail "GET /metrics: HTTP $code"
if ! promtool check metrics <"$M1" >"$E2E_DIR/promtool.out" 2>&1; then
	e2e_fail "promtool check metrics rejects /metrics: $(head -n 20 "$E2E_DIR/promtool.out")"
fi
e2e_pass "HTTP 200, $(wc -l <"$M1") lines, promtool check metrics: ok"

e2e_check "1. the samples follow the traffic"
sleep 2
M2=$E2E_DIR/metrics-2.txt
e2e_metrics_get /metrics -o "$M2" || e2e_fail "second GET /metrics failed"
promtool check metrics <"$M2" >/dev/null 2>&1 || e2e_fail "promtool check metrics rejects the second scrape"
m1=$(cat "$M1") m2=$(cat "$M2")
for b in "${INITIAL[@]}"; do
	v=$(e2e_metric "$m2" wglb_backend_up "backend=\"$b\"")
	[ "$v" = 1 ] || e2e_fail "wglb_backend_up{backend=\"$b\"} is '$v', want 1"
done
[ -z "$(e2e_metric "$m2" wglb_backend_up "backend=\"$ADDED\"")" ] ||
	e2e_fail "$ADDED (not in the file yet) has a wglb_backend_up sample"
s=$(e2e_metric "$m2" wglb_sessions)
[ "${s:-0}" -ge 3 ] || e2e_fail "wglb_sessions is '$s', want >= 3"
b=${SERVED[c1]}
p1=$(e2e_metric "$m1" wglb_backend_bytes_total "backend=\"$b\",direction=\"to_backend\"")
p2=$(e2e_metric "$m2" wglb_backend_bytes_total "backend=\"$b\",direction=\"to_backend\"")
if [ -z "$p1" ] || [ -z "$p2" ] || [ "$p2" -le "$p1" ]; then
	e2e_fail "wglb_backend_bytes_total{backend=\"$b\",direction=\"to_backend\"} did not grow: '$p1' -> '$p2'"
fi
e2e_pass "every initial backend up, wglb_sessions $s, $b to_backend bytes $p1 -> $p2"

e2e_check "1. 404 for another path, 405 for POST"
code=$(http_code /nosuch)
[ "$code" = 404 ] || e2e_fail "GET /nosuch: HTTP $code, want 404"
code=$(http_code -X POST --data x=1 /metrics)
[ "$code" = 405 ] || e2e_fail "POST /metrics: HTTP $code, want 405"
e2e_pass "GET /nosuch 404, POST /metrics 405"

wait "$IPERF_PID" || e2e_fail "iperf3 from c1 failed: $(tail -n 5 "$E2E_DIR/iperf-c1.json")"
bytes=$(e2e_iperf_field "$E2E_DIR/iperf-c1.json" bytes)
[ "$bytes" -gt 0 ] || e2e_fail "iperf3 from c1 moved no data"
e2e_log "  iperf3 c1: $bytes bytes"

# ---- 2. Prometheus ---------------------------------------------------------------
e2e_check "2. a real Prometheus in the lb ns scrapes wglbd: wglb_backend_up 1 for every backend"
PROM_DIR=$E2E_DIR/prometheus
mkdir -p "$PROM_DIR/data"
cat >"$PROM_DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: wglb
    static_configs:
      - targets: ['$E2E_METRICS_ADDR']
EOF
promtool check config "$PROM_DIR/prometheus.yml" >"$PROM_DIR/check.out" 2>&1 ||
	e2e_fail "promtool check config: $(cat "$PROM_DIR/check.out")"
t=$(date +%s)
e2e_bg "$E2E_NS_LB" "$PROM_DIR/prometheus.log" prometheus \
	--config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
	--web.listen-address="$PROM_ADDR" --log.level=warn
PROM_PID=$E2E_LAST_PID
PROM_LAST=
ok=0
for _ in $(seq 1 60); do
	kill -0 "$PROM_PID" 2>/dev/null ||
		e2e_fail "prometheus exited: $(tail -n 10 "$PROM_DIR/prometheus.log")"
	if prom_all_up "${INITIAL[@]}"; then ok=1; break; fi
	sleep 0.5
done
[ "$ok" = 1 ] || e2e_fail "Prometheus did not report wglb_backend_up 1 for ${INITIAL[*]} within 30 s (last: '$PROM_LAST'; up: '$(prom_query 'up')')"
e2e_pass "Prometheus (pid $PROM_PID) after $(($(date +%s) - t)) s: wglb_backend_up $PROM_LAST; up{job} $(prom_query up)"

# ---- 3. drain / enable -----------------------------------------------------------
B=${SERVED[c1]}
e2e_check "3. wglbctl drain $B (serves c1): backends shows drain"
start_pinging c1
hsB=$(e2e_handshake_of "$B" c1)
hfB0=$(hs_fwd "$B")
t_drain=$(e2e_now)
out=$(e2e_ctl drain "$B") || e2e_fail "wglbctl drain $B exited $?: $out"
[ "$out" = "backend $B: drain" ] || e2e_fail "wglbctl drain $B printed '$out'"
st=$(ctl_state "$B")
[ "$st" = drain ] || e2e_fail "wglbctl backends shows $B as '$st', want drain"
v=$(e2e_metric "$(e2e_metrics_get)" wglb_backend_admin_state "backend=\"$B\",state=\"drain\"")
[ "$v" = 1 ] || e2e_fail "wglb_backend_admin_state{backend=\"$B\",state=\"drain\"} is '$v'"
e2e_pass "'$out'; backends: $st; metric admin_state drain 1"

e2e_check "3. new clients c4 c5 c6 land elsewhere; $B's handshakes_forwarded stays flat"
for c in c4 c5 c6; do
	SERVED[$c]=$(new_client "$c") || exit 1
	e2e_log "  new client $c served by ${SERVED[$c]}"
	[ "${SERVED[$c]}" != "$B" ] || e2e_fail "new client $c was steered to the drained $B"
done
hfB1=$(hs_fwd "$B")
[ "$hfB1" = "$hfB0" ] || e2e_fail "$B handshakes_forwarded grew while drained ($hfB0 -> $hfB1)"
e2e_pass "$B handshakes_forwarded flat at $hfB1"

e2e_check "3. c1 keeps pinging through the drained $B with no new handshake"
wait_since "$t_drain" 3
t=$(e2e_now)
n=$(e2e_ping_replies c1 "$t_drain" "$t")
e2e_log "  c1: $n ping replies in the $(awk -v a="$t" -v b="$t_drain" 'BEGIN { printf "%.1f", a - b }') s since the drain"
[ "$n" -ge 10 ] || e2e_fail "c1 got only $n ping replies in the 3 s after $B was drained"
[ "$(e2e_serving_backend c1)" = "$B" ] || e2e_fail "c1 moved away from $B"
[ "$(e2e_handshake_of "$B" c1)" = "$hsB" ] || e2e_fail "c1 handshook again with $B after the drain"
e2e_pass "c1 still on $B, same handshake, $n replies"

e2e_check "3. wglbctl enable $B: backends shows enabled, the next client (c7) lands on $B"
out=$(e2e_ctl enable "$B") || e2e_fail "wglbctl enable $B exited $?: $out"
[ "$out" = "backend $B: enabled" ] || e2e_fail "wglbctl enable $B printed '$out'"
st=$(ctl_state "$B")
[ "$st" = enabled ] || e2e_fail "wglbctl backends shows $B as '$st', want enabled"
SERVED[c7]=$(new_client c7) || exit 1
[ "${SERVED[c7]}" = "$B" ] ||
	e2e_fail "c7 went to ${SERVED[c7]}, not to $B (fewest sessions after the enable): $(e2e_ctl backends)"
e2e_pass "'$out'; c7 served by $B"

e2e_check "3. wglbctl drain nosuch exits 1 with an error; wglbctl bogus exits 2"
err=$(e2e_ctl drain nosuch 2>&1 >/dev/null)
rc=$?
[ "$rc" = 1 ] || e2e_fail "wglbctl drain nosuch exited $rc, want 1 ($err)"
case $err in *'no backend "nosuch"'*) ;; *) e2e_fail "wglbctl drain nosuch said '$err'" ;; esac
err2=$(e2e_ctl bogus 2>&1 >/dev/null)
rc=$?
[ "$rc" = 2 ] || e2e_fail "wglbctl bogus exited $rc, want 2 ($err2)"
case $err2 in *'unknown command'*) ;; *) e2e_fail "wglbctl bogus said '$err2'" ;; esac
e2e_pass "drain nosuch: 1, '$err'; bogus: 2, '${err2%%(*}...'"

# ---- 4. reload: one backend added, one removed ----------------------------------
# R: an initial backend other than B; the clients of the other two ping
# every 0.1 s through the reload.
R=
for b in "${INITIAL[@]}"; do [ "$b" != "$B" ] && { R=$b; break; }; done
UNTOUCHED=() RCLIENT=
for c in c1 c2 c3 c4 c5 c6 c7; do
	sb=$(e2e_serving_backend "$c")
	SERVED[$c]=$sb
	if [ "$sb" = "$R" ]; then
		[ -n "$RCLIENT" ] || RCLIENT=$c
	else
		UNTOUCHED+=("$c")
	fi
done
[ -n "$RCLIENT" ] || e2e_fail "no client on $R"
e2e_check "4. reload: + $ADDED, - $R; ${UNTOUCHED[*]} (on untouched backends) ping every 0.1 s, 150 each"
for c in c1 c2 c3; do
	[ -n "${E2E_PINGPID[$c]:-}" ] && e2e_stop_pid "${E2E_PINGPID[$c]}"
done
declare -A FASTPID=() FASTLOG=()
for c in "${UNTOUCHED[@]}"; do
	FASTLOG[$c]=$E2E_DIR/fastping-$c.log
	e2e_bg "${E2E_NS[$c]}" "${FASTLOG[$c]}" ping -n -q -i 0.1 -c 150 -W 2 -w 30 "$E2E_TUN4"
	FASTPID[$c]=$E2E_LAST_PID
done
start_pinging "$RCLIENT"
hsR=$(e2e_handshake_of "$R" "$RCLIENT")
sleep 2
cp "$CONF" "$CONF.before"
E2E_CONF_SKIP=$R
e2e_write_conf "$CONF" "${GLOBAL[@]}"
t_reload=$(e2e_now)
mark=$(e2e_log_mark)
out=$(e2e_ctl reload 2>&1) || e2e_fail "wglbctl reload exited $?: $out"
[ "$out" = reloaded ] || e2e_fail "wglbctl reload printed '$out'"
hfR0=$(hs_fwd "$R")
e2e_log "  wglbctl backends after the reload:"
e2e_ctl backends | sed 's/^/    /'
[ -n "$(ctl_state "$ADDED")" ] || e2e_fail "$ADDED not listed by wglbctl backends after the reload"
st=$(ctl_state "$R")
[ "$st" = "enabled (removed)" ] || e2e_fail "wglbctl backends shows $R as '$st', want 'enabled (removed)'"
[ "$(e2e_ctl_backend "$R" removed)" = true ] || e2e_fail "wglbctl -j backends: $R not removed"
e2e_pass "'$out'; $ADDED listed, $R '$st'"

e2e_check "4. $ADDED comes up (probed) within 10 s and takes the next client (c8)"
wait_ctl_health "$ADDED" up 10 ||
	e2e_fail "$ADDED not up 10 s after the reload: $(e2e_ctl backends)"
e2e_log_grep "$mark" "backend $ADDED: added, probing before use" >/dev/null ||
	e2e_fail "no 'backend $ADDED: added, probing before use' line after the reload"
line=$(e2e_log_grep "$mark" "backend $ADDED: down -> up" | head -n 1)
case $line in
*"probe answered"*) e2e_log "  log: ${line#* }" ;;
*) e2e_fail "$ADDED came up without an answered probe: '$line'" ;;
esac
SERVED[c8]=$(new_client c8) || exit 1
[ "${SERVED[c8]}" = "$ADDED" ] ||
	e2e_fail "c8 went to ${SERVED[c8]}, not to the new $ADDED: $(e2e_ctl backends)"
e2e_pass "$ADDED up, c8 served by $ADDED"

e2e_check "4. $RCLIENT keeps working through the removed $R; new clients (c9) do not go to $R"
SERVED[c9]=$(new_client c9) || exit 1
[ "${SERVED[c9]}" != "$R" ] || e2e_fail "new client c9 was steered to the removed $R"
hfR1=$(hs_fwd "$R")
[ "$hfR1" = "$hfR0" ] || e2e_fail "$R handshakes_forwarded grew after its removal ($hfR0 -> $hfR1)"
wait_since "$t_reload" 3
t=$(e2e_now)
n=$(e2e_ping_replies "$RCLIENT" "$t_reload" "$t")
[ "$n" -ge 10 ] || e2e_fail "$RCLIENT got only $n ping replies in the 3 s after $R was removed"
[ "$(e2e_handshake_of "$R" "$RCLIENT")" = "$hsR" ] || e2e_fail "$RCLIENT handshook again after the reload"
[ "$(e2e_ctl_backend "$R" removed)" = true ] || e2e_fail "$R no longer listed as removed"
e2e_pass "c9 -> ${SERVED[c9]}; $R handshakes_forwarded flat at $hfR1; $RCLIENT: $n replies since the reload, same handshake"

e2e_check "4. Prometheus sees $ADDED up"
ok=0
for _ in $(seq 1 20); do
	if prom_all_up "$ADDED"; then ok=1; break; fi
	sleep 0.5
done
[ "$ok" = 1 ] || e2e_fail "Prometheus has no wglb_backend_up 1 for $ADDED within 10 s (last: '$PROM_LAST')"
e2e_pass "wglb_backend_up $PROM_LAST"

e2e_check "4. no ping of ${UNTOUCHED[*]} was lost across the reload"
for c in "${UNTOUCHED[@]}"; do
	wait "${FASTPID[$c]}"
	sum=$(grep 'packets transmitted' "${FASTLOG[$c]}")
	e2e_log "  $c: $sum"
	case $sum in
	"150 packets transmitted, 150 received,"*) ;;
	*) e2e_fail "$c (on ${SERVED[$c]}, untouched) lost pings across the reload: $sum" ;;
	esac
done
e2e_pass "${#UNTOUCHED[@]} clients x 150 pings at 0.1 s, none lost"

# ---- 5. a broken file --------------------------------------------------------------
e2e_check "5. a bad line appended: wglbctl reload exits 1 with FILE:LINE: message"
cp "$CONF" "$CONF.good"
echo "this line is not valid" >>"$CONF"
badline=$(wc -l <"$CONF")
err=$(e2e_ctl reload 2>&1 >/dev/null)
rc=$?
[ "$rc" = 1 ] || e2e_fail "wglbctl reload of a broken file exited $rc, want 1 ($err)"
e2e_log "  stderr: $err"
case $err in
*"$CONF:$badline: "?*) ;;
*) e2e_fail "wglbctl reload did not print '$CONF:$badline: message': '$err'" ;;
esac
e2e_pass "exit 1, error names $(basename "$CONF"):$badline"

e2e_check "5. the old configuration still serves; status shows 1 failed reload"
for c in c1 c8 c9; do
	e2e_ping "$c" 3 2 || e2e_fail "$c cannot ping after the failed reload"
done
sts=$(e2e_ctl status) || e2e_fail "wglbctl status failed"
rl=$(printf '%s\n' "$sts" | grep '^reloads')
e2e_log "  status: $rl"
case $rl in
*"1 succeeded, 1 failed (the last one failed)"*) ;;
*) e2e_fail "wglbctl status says '$rl', want '1 succeeded, 1 failed (the last one failed)'" ;;
esac
if [ "$(ctl_state "$ADDED")" != enabled ] || [ "$(ctl_state "$R")" != "enabled (removed)" ]; then
	e2e_fail "the backends changed after a failed reload: $(e2e_ctl backends)"
fi
m=$(e2e_metrics_get)
v1=$(e2e_metric "$m" wglb_config_last_reload_successful)
v2=$(e2e_metric "$m" wglb_config_reloads_total 'result="failure"')
if [ "$v1" != 0 ] || [ "$v2" != 1 ]; then
	e2e_fail "metrics after the failed reload: last_reload_successful=$v1 reloads_total{failure}=$v2"
fi
e2e_pass "clients ping; status '$rl'; metrics last_reload_successful 0, failures 1"

e2e_check "5. the file restored: wglbctl reload succeeds"
cp "$CONF.good" "$CONF"
out=$(e2e_ctl reload 2>&1) || e2e_fail "wglbctl reload of the restored file exited $?: $out"
[ "$out" = reloaded ] || e2e_fail "wglbctl reload printed '$out'"
rl=$(e2e_ctl status | grep '^reloads')
case $rl in
*"2 succeeded, 1 failed") ;;
*) e2e_fail "wglbctl status says '$rl' after the good reload, want '2 succeeded, 1 failed'" ;;
esac
e2e_pass "'$out'; status '$rl'"

# ---- 6. the GitHub Actions runner script ------------------------------------------
e2e_check "6. wglb-connect.sh up/wait/check/down in a new namespace (WG_USERSPACE=1)"
e2e_add_host gh
GHNS=${E2E_NS[gh]}
GHIF=w${E2E_RUN}g
E2E_IFACES+=("$GHIF")
(umask 077 && wg genkey >"$E2E_DIR/runner.key") || e2e_fail "wg genkey (runner)"
RUNNER_PUB=$(wg pubkey <"$E2E_DIR/runner.key")
# README step 3: the runner is a peer on EVERY backend
e2e_backends_add_peer "$RUNNER_PUB" "$RUNNER_ADDR/32"
for b in "${E2E_BACKENDS[@]}"; do
	for _ in $(seq 1 50); do
		ip netns exec "${E2E_NS[$b]}" ss -Hltn "sport = :$SVC_PORT" | grep -q . && break
		sleep 0.1
	done
	ip netns exec "${E2E_NS[$b]}" ss -Hltn "sport = :$SVC_PORT" | grep -q . ||
		e2e_fail "the http.server on $b does not listen: $(tail -n 5 "${SVC_LOG[$b]}")"
done
# connect STEP: the workflow's shell step, with the variables it sets
connect() {
	(
		unset LOG_LEVEL  # wireguard-go would keep "up"'s output pipe open
		WG_PRIVATE_KEY=$(cat "$E2E_DIR/runner.key")
		export WG_PRIVATE_KEY WGLB_PUBLIC_KEY=$E2E_SRV_PUB
		export WGLB_ENDPOINT=$E2E_VIP4:$E2E_PORT WG_ADDRESS=$RUNNER_ADDR/32
		export WG_ALLOWED_IPS=$E2E_TUN4/32 WG_INTERFACE=$GHIF WG_USERSPACE=1
		export PRIVATE_SERVICE_URL=http://$E2E_TUN4:$SVC_PORT/healthz
		export PRIVATE_PING_HOST=$E2E_TUN4 WG_HANDSHAKE_TIMEOUT=20 WG_CHECK_TIMEOUT=10
		ip netns exec "$GHNS" timeout 90 bash "$CONNECT" "$1"
	) </dev/null >"$E2E_DIR/connect-$1.log" 2>&1
}
for step in up wait check; do
	connect "$step" || e2e_fail "wglb-connect.sh $step exited $?: $(cat "$E2E_DIR/connect-$step.log")"
	sed 's/^/    /' "$E2E_DIR/connect-$step.log" | grep -v '^    [0-9]* bytes from\|^    $'
done
grep -q "GET http://$E2E_TUN4:$SVC_PORT/healthz: HTTP 200" "$E2E_DIR/connect-check.log" ||
	e2e_fail "check did not report HTTP 200: $(cat "$E2E_DIR/connect-check.log")"
GB=
for b in "${E2E_BACKENDS[@]}"; do
	t=$(e2e_wg "$b" show "${E2E_IF[$b]}" latest-handshakes | awk -v k="$RUNNER_PUB" '$1 == k { print $2 }')
	[ "${t:-0}" != 0 ] && GB=$b
done
[ -n "$GB" ] || e2e_fail "no backend shows a handshake with the runner"
[ "$GB" != "$R" ] || e2e_fail "the runner was steered to the removed $R"
grep -q "^$RUNNER_ADDR .*GET /healthz" "${SVC_LOG[$GB]}" ||
	e2e_fail "the http.server on $GB did not log the runner's GET: $(tail -n 3 "${SVC_LOG[$GB]}")"
e2e_pass "up, wait, check ok; the runner went through wglbd to $GB, whose http.server served it"

e2e_check "6. wglb-connect.sh down removes the interface and wireguard-go"
connect down || e2e_fail "wglb-connect.sh down exited $?: $(cat "$E2E_DIR/connect-down.log")"
sed 's/^/    /' "$E2E_DIR/connect-down.log"
ip -n "$GHNS" link show "$GHIF" >/dev/null 2>&1 && e2e_fail "$GHIF still exists after down"
for _ in $(seq 1 30); do
	[ -z "$(ip netns pids "$GHNS")" ] && break
	sleep 0.1
done
[ -z "$(ip netns pids "$GHNS")" ] ||
	e2e_fail "processes left in the runner namespace after down: $(ip netns pids "$GHNS" | xargs -r ps -o pid=,comm= -p)"
[ -e "/var/run/wireguard/$GHIF.sock" ] && e2e_fail "/var/run/wireguard/$GHIF.sock left behind"
e2e_pass "$GHIF gone, no process left in the namespace, no socket"

# ---- end ---------------------------------------------------------------------------
e2e_check "Prometheus (pid $PROM_PID) stops on TERM"
kill -TERM "$PROM_PID" 2>/dev/null
for _ in $(seq 1 50); do
	kill -0 "$PROM_PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$PROM_PID" 2>/dev/null && { e2e_stop_pid "$PROM_PID"; e2e_fail "Prometheus ignored TERM for 5 s"; }
wait "$PROM_PID" 2>/dev/null
e2e_pass "Prometheus gone"

e2e_wglbd_alive || e2e_fail "wglbd died"
e2e_log "PASS: all checks in $(($(date +%s) - T0)) s"
exit 0
