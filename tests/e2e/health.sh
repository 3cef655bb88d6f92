#!/bin/bash
# tests/e2e/health.sh: wglbd's health checks and steering around failures,
# between real WireGuard peers in network namespaces (see lib.sh).
#
# 5 backends: b1 b2 b3 on the backend bridge, b4 on a link of its own
# (so that taking that link down removes the route to it), b5 without the
# probe key as a peer. 10 IPv4 clients, started as the checks need them.
# Probes: interval 1s, timeout 500ms, rise 2, fall 2, no slow start.
#   0. every backend with the probe peer comes up; wglbd logs the probe key
#   3. b5 (probe key not a peer there) is down, reason no_response, and the
#      detail says why (its "never gets sessions" half is checked at the end)
#   2. the lb-side link to b4 goes down: b4 is down within 1 s, reason
#      route; link back up: b4 is up again within 5 s
#   1. the wireguard-go of the backend serving a pinging client is killed:
#      it is marked down, the client pings again through another backend
#      within 30 s (that backend's "wg show" has the new handshake), and
#      wglbd forwards no handshake to the dead backend once it is down
#   4. the killed wireguard-go is restarted: the backend comes back up and
#      new clients are steered to it again
#   5. a backend is set to "state = drain" and wglbd gets SIGHUP: the client
#      on it keeps pinging through it, new clients land elsewhere and its
#      handshakes_forwarded stays flat
#   3. (end) b5 never got a session or a handshake
#
# Exit 0 pass, 1 fail, 77 skip (not root or a tool missing).
# Env: WGLBD (binary), E2E_VERBOSE=1, E2E_KEEP=1 (keep the work dir).

E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$E2E_HERE/lib.sh"

T0=$(date +%s)
e2e_require_root_and_tools stdbuf awk
if ! e2e_find_wglbd; then
	echo "FAIL: wglbd binary not found at $WGLBD (build it first or set WGLBD)" >&2
	exit 1
fi

E2E_IPERF_SERVERS=0             # no throughput here
PING_SECS=170                   # bound of every background ping
BACKENDS=(b1 b2 b3 b4)          # those with the probe peer
NOPROBE=b5
ROUTED=b4

# fdiff A B: A - B, 3 decimals; fle A B: A <= B (floats)
fdiff() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a - b }'; }
fle() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# hs_forwarded BACKEND [STATS]
hs_forwarded() {
	local st=${2:-}
	[ -n "$st" ] || st=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
	e2e_stat_backend "$st" "$1" handshakes_forwarded
}

# start_pinging CLIENT: background ping, wait for its first reply (10 s)
start_pinging() {
	local c=$1 t
	t=$(e2e_now)
	e2e_ping_bg "$c" "$PING_SECS" 0.2
	e2e_wait_ping_reply "$c" "$t" 10 >/dev/null ||
		e2e_fail "client $c gets no ping reply through the tunnel within 10 s"
}

e2e_init
e2e_log "run $E2E_RUN: building topology (5 backends, 10 clients)"
e2e_lb_ns
e2e_add_backend b1
e2e_add_backend b2
e2e_add_backend b3
e2e_add_backend "$ROUTED" ownlink
e2e_add_backend "$NOPROBE" noprobe
for i in $(seq 1 10); do e2e_add_client "c$i" v4; done
E2E_HEALTH=1
E2E_HEALTH_LINES=("check = handshake" "interval = 1s" "timeout = 500ms" "rise = 2"
	"fall = 2" "slow_start = 0")
CONF=$E2E_DIR/wglb.conf
e2e_write_conf "$CONF"
e2e_start_wglbd "$CONF"
e2e_log "wglbd $WGLBD running (pid $E2E_WGLBD_PID), topology up in $(($(date +%s) - T0)) s"

# ---- 0. start-up --------------------------------------------------------------
e2e_check "0. wglbd logs the probe public key $E2E_PROBE_PUB"
e2e_wait_log 0 "health probes use public key $(e2e_re_escape "$E2E_PROBE_PUB")" 3 >/dev/null ||
	e2e_fail "no 'health probes use public key $E2E_PROBE_PUB' line in the log"
e2e_pass "probe key logged"
for b in "${BACKENDS[@]}"; do
	e2e_check "0. backend $b (probe key is a peer) is up within 5 s"
	h=$(e2e_wait_health "$b" up 5) || e2e_fail "backend $b is not up 5 s after start (health: $h)"
	e2e_pass "$b: $h"
done

# ---- 3. probe key not a peer ---------------------------------------------------
b=$NOPROBE
e2e_check "3. backend $b (probe key not a peer) is down, reason no_response, within 5 s"
line=$(e2e_wait_log 0 "backend $b: .*no_response" 5) ||
	e2e_fail "no no_response line for $b within 5 s (its health: $(e2e_backend_health "$b"))"
e2e_log "  log: ${line#* }"
h=$(e2e_backend_health "$b")
case "$h " in "down no_response "*) ;; *) e2e_fail "stats say $b is '$h', want 'down no_response'" ;; esac
e2e_check "3. the detail says the probe key may not be a peer on $b"
case $line in
*"probe public key is not one of its peers"*) ;;
*) e2e_fail "the no_response line for $b does not mention the probe key: $line" ;;
esac
e2e_pass "$b: $h, detail names the probe key"

# ---- 2. route down / up --------------------------------------------------------
b=$ROUTED
dev=$(e2e_backend_link "$b")
e2e_check "2. link $dev (lb ns, to $b) down: $b is down with reason route within 1 s"
mark=$(e2e_log_mark)
t_down=$(e2e_now)
ip -n "$E2E_NS_LB" link set "$dev" down || e2e_fail "ip link set $dev down"
line=$(e2e_wait_log "$mark" "backend $b: up -> down \\(route" 3) ||
	e2e_fail "$b not marked down (route) within 3 s of 'ip link set $dev down' (health: $(e2e_backend_health "$b"))"
dt=$(fdiff "$(e2e_log_epoch "$line")" "$t_down")
e2e_log "  log: ${line#* }"
e2e_log "  down ${dt} s after the link went down"
fle "$dt" 1.0 || e2e_fail "$b marked down ${dt} s after its link went down (want <= 1 s)"
h=$(e2e_backend_health "$b")
case "$h " in "down route "*) ;; *) e2e_fail "stats say $b is '$h', want 'down route'" ;; esac
e2e_pass "$b down (route) in ${dt} s; stats: $h"

e2e_check "2. link $dev up again: $b is up within 5 s (after rise = 2 probes)"
mark=$(e2e_log_mark)
t_up=$(e2e_now)
ip -n "$E2E_NS_LB" link set "$dev" up || e2e_fail "ip link set $dev up"
line=$(e2e_wait_log "$mark" "backend $b: down -> up" 6) ||
	e2e_fail "$b not up within 6 s of 'ip link set $dev up' (health: $(e2e_backend_health "$b"))"
dt=$(fdiff "$(e2e_log_epoch "$line")" "$t_up")
rb=$(e2e_log_grep "$mark" "backend $b: route back" | head -n 1)
[ -n "$rb" ] || e2e_fail "no 'backend $b: route back' line after the link came up"
e2e_log "  log: ${rb#* }"
e2e_log "  log: ${line#* }"
fle "$dt" 5.0 || e2e_fail "$b up ${dt} s after its link came back (want <= 5 s)"
e2e_pass "$b up again ${dt} s after the link came back"

# ---- 1. kill the serving backend ----------------------------------------------
e2e_check "1. clients c1 c2 c3 ping through the tunnel (ping -i 0.2 in the background)"
for c in c1 c2 c3; do
	start_pinging "$c"
	e2e_log "  $c served by $(e2e_serving_backend "$c")"
done
e2e_pass "c1 c2 c3 pinging"
X=$(e2e_serving_backend c1)
[ -n "$X" ] || e2e_fail "no backend shows a handshake with c1"
[ "$X" != "$NOPROBE" ] || e2e_fail "c1 was steered to $NOPROBE, which is down"
victims=()
for c in c1 c2 c3; do [ "$(e2e_serving_backend "$c")" = "$X" ] && victims+=("$c"); done

e2e_check "1. kill $X's wireguard-go (pid ${E2E_WGPID[$X]}, serves: ${victims[*]}): $X is marked down"
mark=$(e2e_log_mark)
t_kill=$(e2e_now)
e2e_kill_backend_wg "$X" KILL
line=$(e2e_wait_log "$mark" "backend $X: up -> down \\(" 10) ||
	e2e_fail "$X not marked down within 10 s of killing its wireguard-go (health: $(e2e_backend_health "$X"))"
st_down=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
hf_down=$(hs_forwarded "$X" "$st_down")
e2e_log "  log: ${line#* }"
e2e_log "  detected $(fdiff "$(e2e_log_epoch "$line")" "$t_kill") s after the kill; stats: $(e2e_backend_health "$X" "$st_down") handshakes_forwarded=$hf_down"
e2e_pass "$X down"

for c in "${victims[@]}"; do
	e2e_check "1. $c pings again through another backend within 30 s of the kill"
	left=$(awk -v t="$t_kill" -v n="$(e2e_now)" 'BEGIN { printf "%d\n", 31 - (n - t) }')
	[ "$left" -gt 0 ] || left=1
	t=$(e2e_wait_ping_reply "$c" "$(fdiff "$t_kill" -0.5)" "$left") ||
		e2e_fail "$c got no ping reply within 30 s of killing $X"
	dt=$(fdiff "$t" "$t_kill")
	fle "$dt" 30 || e2e_fail "$c first reply ${dt} s after the kill (want <= 30 s)"
	nb=$(e2e_serving_backend "$c")
	if [ -z "$nb" ] || [ "$nb" = "$X" ]; then
		e2e_fail "$c answers, but no other backend shows a handshake with it"
	fi
	hs=$(e2e_handshake_of "$nb" "$c")
	[ "$hs" -ge "${t_kill%.*}" ] ||
		e2e_fail "$c: newest handshake on $nb is from $hs, before the kill (${t_kill%.*})"
	e2e_log "  wg show on $nb: handshake with $c at $(date -d "@$hs" +%T)"
	e2e_pass "$c: first reply ${dt} s after the kill, now served by $nb"
done

e2e_check "1. no handshake was forwarded to $X after it was marked down"
st=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
hf_now=$(hs_forwarded "$X" "$st")
e2e_log "  $X handshakes_forwarded: $hf_down at the down line, $hf_now now;" \
	"handshakes_unanswered=$(e2e_stat_backend "$st" "$X" handshakes_unanswered)"
[ "$hf_now" = "$hf_down" ] ||
	e2e_fail "wglbd forwarded $((hf_now - hf_down)) handshake(s) to $X after marking it down"
h=$(e2e_backend_health "$X" "$st")
case $h in down*) ;; *) e2e_fail "$X is '$h' while its wireguard-go is dead" ;; esac
e2e_pass "$X: handshakes_forwarded flat at $hf_now, still $h"

# ---- 4. restart ----------------------------------------------------------------
e2e_check "4. restart $X's wireguard-go: it comes back up within 10 s"
mark=$(e2e_log_mark)
t_re=$(e2e_now)
e2e_restart_backend_wg "$X"
line=$(e2e_wait_log "$mark" "backend $X: down -> up" 10) ||
	e2e_fail "$X not up within 10 s of restarting its wireguard-go (health: $(e2e_backend_health "$X"))"
e2e_log "  log: ${line#* }"
e2e_pass "$X up $(fdiff "$(e2e_log_epoch "$line")" "$t_re") s after the restart"

e2e_check "4. new clients are steered to $X again"
hf0=$(hs_forwarded "$X")
served=
for c in c4 c5 c6; do
	start_pinging "$c"
	sb=$(e2e_serving_backend "$c")
	e2e_log "  new client $c served by $sb"
	if [ "$sb" = "$X" ]; then served=$c; break; fi
done
[ -n "$served" ] || e2e_fail "none of the new clients c4 c5 c6 was steered to the restarted $X"
hf1=$(hs_forwarded "$X")
[ "$hf1" -gt "$hf0" ] || e2e_fail "$X handshakes_forwarded did not grow ($hf0 -> $hf1)"
e2e_pass "$served served by $X; its handshakes_forwarded $hf0 -> $hf1"

# ---- 5. drain ------------------------------------------------------------------
# Drain the backend with the fewest sessions among those serving a pinging
# client: without the drain it is where least-load would put new clients.
st=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
Y="" D="" best=""
for c in c1 c2 c3 c4 c5 c6; do
	[ -n "${E2E_PINGLOG[$c]:-}" ] || continue
	sb=$(e2e_serving_backend "$c")
	[ -n "$sb" ] || continue
	n=$(e2e_stat_backend "$st" "$sb" sessions)
	if [ -z "$best" ] || [ "$n" -lt "$best" ]; then Y=$sb D=$c best=$n; fi
done
[ -n "$Y" ] || e2e_fail "no pinging client to drain a backend under"
e2e_check "5. set $Y (serves $D, $best session(s)) to state = drain and SIGHUP wglbd"
E2E_BACKEND_LINES[$Y]="state = drain"
e2e_write_conf "$CONF"
hs_d=$(e2e_handshake_of "$Y" "$D")
mark=$(e2e_log_mark)
t_drain=$(e2e_now)
e2e_wglbd_reload ||
	e2e_fail "the reload after SIGHUP failed or was not logged: $(e2e_log_grep "$mark" . | tail -n 5)"
line=$(e2e_wait_log "$mark" "backend $Y: .*state enabled -> drain" 3) ||
	e2e_fail "no 'backend $Y: ... state enabled -> drain' line after SIGHUP"
e2e_log "  log: ${line#* }"
st=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
h=$(e2e_backend_health "$Y" "$st")
[ "$(e2e_stat_backend "$st" "$Y" admin)" = drain ] || e2e_fail "stats say $Y is '$h' after the drain"
hfY0=$(e2e_stat_backend "$st" "$Y" handshakes_forwarded)
e2e_pass "$Y: $h"

e2e_check "5. $D keeps pinging through the drained $Y"
sleep 3
t=$(e2e_now)
n=$(e2e_ping_replies "$D" "$t_drain" "$t")
e2e_log "  $D: $n ping replies in the $(fdiff "$t" "$t_drain") s after the drain (one echo per 0.2 s)"
[ "$n" -ge 10 ] || e2e_fail "$D got only $n ping replies in the 3 s after $Y was drained"
if [ "$(e2e_serving_backend "$D")" != "$Y" ] || [ "$(e2e_handshake_of "$Y" "$D")" != "$hs_d" ]; then
	e2e_fail "$D moved away from $Y (or handshook again) right after the drain"
fi
e2e_pass "$D still on $Y, same handshake, $n replies"

e2e_check "5. new clients c7..c10 land on other backends; $Y's handshakes_forwarded stays flat"
for c in c7 c8 c9 c10; do
	e2e_ping_retry "$c" 3 || e2e_fail "new client $c cannot ping through the tunnel"
	sb=$(e2e_serving_backend "$c")
	e2e_log "  new client $c served by $sb"
	[ "$sb" != "$Y" ] || e2e_fail "new client $c was steered to the drained backend $Y"
done
st=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
hfY1=$(e2e_stat_backend "$st" "$Y" handshakes_forwarded)
[ "$hfY1" = "$hfY0" ] || e2e_fail "$Y handshakes_forwarded grew after the drain ($hfY0 -> $hfY1)"
n=$(e2e_ping_replies "$D" "$t_drain" "$(e2e_now)")
e2e_pass "$Y handshakes_forwarded flat at $hfY1; $D has $n replies since the drain"

# ---- 3. (end) b5 never served --------------------------------------------------
b=$NOPROBE
e2e_check "3. $b never got a session or a handshake"
s5=$(e2e_stat_backend "$st" "$b" sessions)
f5=$(e2e_stat_backend "$st" "$b" handshakes_forwarded)
c5=$(e2e_clients_of "$b")
e2e_log "  $b: $(e2e_backend_health "$b" "$st") sessions=$s5 handshakes_forwarded=$f5 clients=${c5:-none}"
if [ "$s5" != 0 ] || [ "$f5" != 0 ] || [ -n "$c5" ]; then
	e2e_fail "$b (never up) got sessions=$s5 handshakes_forwarded=$f5 clients='$c5'"
fi
e2e_pass "$b: no session, no handshake"

e2e_wglbd_alive || e2e_fail "wglbd died"
e2e_log "PASS: all checks in $(($(date +%s) - T0)) s"
exit 0
