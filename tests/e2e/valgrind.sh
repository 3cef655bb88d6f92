#!/bin/bash
# tests/e2e/valgrind.sh: wglbd under valgrind memcheck through a busy life.
#
# Topology (lib.sh): backends b1 b2 b3, clients c1 c2, an attacker namespace
# on the client bridge. wglbd runs under
#   valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible
#            --errors-for-leak-kinds=definite,indirect,possible
#            --error-exitcode=99 --track-fds=no
# with health probes, metrics, a state file and a short session timeout.
# Run 1 drives it through:
#   pings and a short iperf3 per client, a roam (c1 changes its port),
#   garbage and forged initiations (bad mac1; valid mac1 from 20 sources
#   above [limits] under_load, so cookie replies go out; forged clients that
#   answer the cookies), session expiry, a metrics scrape, wglbctl status /
#   backends / sessions / drain / enable, a reload through wglbctl (b1 gets
#   weight 2, b2 is removed and drains, b3 is added), SIGHUP, SIGUSR1, SIGTERM
#   (which writes the state file).
# Run 2 starts again from that state file, the clients ping on, SIGTERM.
# Each run must end with exit status 0, "ERROR SUMMARY: 0 errors" and no
# bytes definitely, indirectly or possibly lost ("still reachable" blocks,
# e.g. libgomp's pulled in by libb2, are fine).
#
# Exit 0 pass, 1 fail, 77 skip (not root, or valgrind or another tool missing).
# Env: WGLBD, WGLBCTL, CC, VALGRIND_EXTRA (more valgrind options),
#      E2E_VERBOSE=1, E2E_KEEP=1 (keep the work dir).

E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$E2E_HERE/lib.sh"

T0=$(date +%s)
e2e_require_root_and_tools valgrind
if ! e2e_find_wglbd; then
	echo "FAIL: wglbd binary not found at $WGLBD (build it first or set WGLBD)" >&2
	exit 1
fi
: "${WGLBCTL:=$(dirname "$WGLBD")/wglbctl}"
[ -x "$WGLBCTL" ] || { echo "FAIL: wglbctl not found at $WGLBCTL (set WGLBCTL)" >&2; exit 1; }

e2e_init

# The forging tool of protect.sh; without a compiler or its libraries the
# forged-handshake part is left out (the rest still runs).
: "${CC:=cc}"
FORGE=$E2E_DIR/wgforge
if ! "$CC" -O2 -o "$FORGE" "$E2E_HERE/tools/wgforge.c" -lsodium -lb2 >"$E2E_DIR/cc.log" 2>&1; then
	e2e_log "note: cannot build tools/wgforge.c, forged handshakes left out: $(head -n 3 "$E2E_DIR/cc.log")"
	FORGE=
fi

VG_RUN=0
ATK_IP=10.200.0.250
METRICS=127.0.0.1:9586

# ---- helpers (this script's own) --------------------------------------------

ctl() { "$WGLBCTL" -s "$E2E_DIR/wglb.sock" "$@"; }

# vg_start_wglbd CONF: as e2e_start_wglbd, with wglbd under valgrind and
# generous waits (valgrind makes start-up slow). valgrind runs the program
# in its own process, so E2E_WGLBD_PID is wglbd and gets the signals.
vg_start_wglbd() {
	local conf=$1 args=()
	VG_RUN=$((VG_RUN + 1))
	VG_LOG=$E2E_DIR/valgrind-$VG_RUN.log
	"$WGLBD" -t -c "$conf" >"$E2E_DIR/wglbd-t.log" 2>&1 ||
		e2e_fail "wglbd -t rejects the config: $(cat "$E2E_DIR/wglbd-t.log")"
	# shellcheck disable=SC2206
	[ -n "${VALGRIND_EXTRA:-}" ] && args+=($VALGRIND_EXTRA)
	E2E_WGLBD_LOG=$E2E_DIR/wglbd-$VG_RUN.log
	e2e_bg "$E2E_NS_LB" "$E2E_WGLBD_LOG" valgrind --leak-check=full \
		--show-leak-kinds=definite,indirect,possible \
		--errors-for-leak-kinds=definite,indirect,possible \
		--error-exitcode=99 --track-fds=no --num-callers=30 \
		--log-file="$VG_LOG" "${args[@]}" "$WGLBD" -c "$conf"
	E2E_WGLBD_PID=$E2E_LAST_PID
	for _ in $(seq 1 600); do
		kill -0 "$E2E_WGLBD_PID" 2>/dev/null ||
			e2e_fail "wglbd under valgrind exited at start-up: $(tail -n 20 "$E2E_WGLBD_LOG"; tail -n 30 "$VG_LOG")"
		if ip netns exec "$E2E_NS_LB" ss -Hlun "sport = :$E2E_PORT" 2>/dev/null | grep -q . &&
			[ -S "$E2E_DIR/wglb.sock" ]; then
			return 0
		fi
		sleep 0.1
	done
	e2e_fail "wglbd under valgrind did not bind UDP $E2E_PORT within 60 s"
}

# vg_stop_wglbd: SIGTERM, wait (120 s at most) and check valgrind's verdict.
vg_stop_wglbd() {
	local rc=0 pid=$E2E_WGLBD_PID ok=0 f
	kill -TERM "$pid" || e2e_fail "wglbd is gone before SIGTERM"
	for _ in $(seq 1 1200); do
		kill -0 "$pid" 2>/dev/null || { ok=1; break; }
		sleep 0.1
	done
	[ "$ok" = 1 ] || e2e_fail "wglbd under valgrind did not exit within 120 s of SIGTERM"
	wait "$pid"
	rc=$?
	E2E_WGLBD_PID=
	e2e_log "  valgrind run $VG_RUN: exit status $rc; $(grep -E 'ERROR SUMMARY' "$VG_LOG" | sed 's/^==[0-9]*== //')"
	grep -E 'definitely lost:|indirectly lost:|possibly lost:|still reachable:|no leaks are possible' \
		"$VG_LOG" | sed 's/^==[0-9]*== /    /'
	grep -q 'ERROR SUMMARY: 0 errors' "$VG_LOG" || {
		sed 's/^/    /' "$VG_LOG" | head -n 200
		e2e_fail "valgrind run $VG_RUN found errors (full log: $VG_LOG)"
	}
	if ! grep -q 'All heap blocks were freed -- no leaks are possible' "$VG_LOG"; then
		for f in 'definitely lost' 'indirectly lost' 'possibly lost'; do
			grep -Eq "$f: 0 bytes in 0 blocks" "$VG_LOG" || {
				sed 's/^/    /' "$VG_LOG" | head -n 200
				e2e_fail "valgrind run $VG_RUN: $f is not 0 (full log: $VG_LOG)"
			}
		done
	fi
	[ "$rc" = 0 ] || e2e_fail "wglbd under valgrind exited with status $rc (99: valgrind errors)"
	grep -q 'ERROR SUMMARY' "$VG_LOG" || e2e_fail "no valgrind summary in $VG_LOG"
}

# vg_stats: SIGUSR1, wait (30 s at most) for the last backend's stats line.
vg_stats() {
	local mark
	mark=$(e2e_log_mark)
	kill -USR1 "$E2E_WGLBD_PID" || return 1
	e2e_wait_log "$mark" 'stats: backend ' 30 >/dev/null || return 1
	sleep 0.5
	e2e_log_grep "$mark" 'stats: ' | sed -n 's/^.*\(stats: \)/\1/p'
}

# wait_up NAME SECONDS: until wglbd reports backend NAME up.
wait_up() {
	local end=$(($(date +%s) + $2))
	while [ "$(date +%s)" -lt "$end" ]; do
		ctl -j backends 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(b["name"] == sys.argv[1] and b.get("health") == "up" for b in d["backends"]) else 1)
' "$1" 2>/dev/null && return 0
		sleep 0.5
	done
	return 1
}

# ping_ok CLIENT: a few pings, patient (valgrind slows every packet).
ping_ok() {
	local c=$1
	for _ in 1 2 3 4 5 6; do
		ip netns exec "${E2E_NS[$c]}" ping -n -q -c 3 -W 3 -i 0.3 "$E2E_TUN4" >/dev/null 2>&1 &&
			return 0
	done
	return 1
}

# ---- topology ----------------------------------------------------------------
e2e_log "run $E2E_RUN: building topology (3 backends, 2 clients, attacker)"
e2e_lb_ns
for b in b1 b2 b3; do e2e_add_backend "$b"; done
e2e_add_client c1
e2e_add_client c2
ATK_NS=wglb-$E2E_RUN-atk
e2e_netns "$ATK_NS"
e2e_veth "$ATK_NS" vatk brc
ip -n "$ATK_NS" addr add "$ATK_IP/24" dev eth0
: >"$E2E_DIR/atk-sources"
for i in $(seq 1 20); do
	ip -n "$ATK_NS" addr add "10.210.0.$i/32" dev eth0
	echo "10.210.0.$i" >>"$E2E_DIR/atk-sources"
done
ip -n "$E2E_NS_LB" route add 10.210.0.0/24 via "$ATK_IP" dev brc

E2E_HEALTH=1
# shellcheck disable=SC2034  # read by e2e_write_conf
E2E_HEALTH_LINES=("interval = 1s" "timeout = 1s" "rise = 1" "fall = 3")
CONF_LINES=("session_timeout = 12s" "state_file = $E2E_DIR/wglb.state"
	"" "[limits]" "under_load = 50"
	"" "[metrics]" "listen = $METRICS")
# conf_without FILE NAME: drop the [backend NAME] section of FILE.
conf_without() {
	awk -v s="[backend $2]" '/^\[/ { skip = ($0 == s) } !skip' "$1" >"$1.tmp" && mv "$1.tmp" "$1"
}
CONF=$E2E_DIR/wglb.conf
e2e_write_conf "$CONF" "${CONF_LINES[@]}"
conf_without "$CONF" b3

# ---- run 1 ------------------------------------------------------------------
e2e_log "run 1: wglbd under valgrind"
vg_start_wglbd "$CONF"
e2e_log "  wglbd (valgrind) pid $E2E_WGLBD_PID listening after $(($(date +%s) - T0)) s"
for b in b1 b2; do
	wait_up "$b" 60 || e2e_fail "backend $b not up within 60 s"
done

e2e_check "pings and iperf3 through wglbd under valgrind"
for c in c1 c2; do
	ping_ok "$c" || e2e_fail "client $c cannot ping through wglbd under valgrind"
	out=$E2E_DIR/iperf-$c.json
	e2e_iperf "$c" -t 2 >"$out" 2>&1 || e2e_fail "iperf3 from $c failed: $(head -c 600 "$out")"
	e2e_pass "$c: ping ok, iperf3 $(($(e2e_iperf_field "$out" bps) / 1000)) kbit/s" \
		"(served by $(e2e_serving_backend "$c"))"
done

e2e_check "roam: c1 changes its port"
e2e_client_set_port c1 $((E2E_PORTOF[c1] + 1000)) || e2e_fail "wg set listen-port on c1"
ping_ok c1 || e2e_fail "c1 cannot ping after roaming"
e2e_pass "c1 pings from its new port"

e2e_check "garbage and forged handshakes"
e2e_ns_exec c2 python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n, t in ((3, None), (77, 9), (1234, 1), (96, 4), (92, 2), (64, 3)):
    for _ in range(10):
        b = bytearray(os.urandom(n))
        if t is not None:
            b[0] = t; b[1:4] = bytes(3)
        s.sendto(bytes(b), (sys.argv[1], int(sys.argv[2])))
' "$E2E_VIP4" "$E2E_PORT" || e2e_fail "garbage sender failed"
if [ -n "$FORGE" ]; then
	ip netns exec "$ATK_NS" "$FORGE" -d "$E2E_VIP4" -p "$E2E_PORT" -b -n 300 -r 300 \
		-s "$ATK_IP" >"$E2E_DIR/forge-bad.out" 2>&1 || e2e_fail "wgforge -b: $(cat "$E2E_DIR/forge-bad.out")"
	# valid mac1 from 20 addresses x 2 ports at 4x under_load, and meanwhile
	# 40 forged clients (2 ports on each address) that answer the cookie
	# replies with mac2
	e2e_bg "$ATK_NS" "$E2E_DIR/forge-flood.out" "$FORGE" -d "$E2E_VIP4" -p "$E2E_PORT" \
		-k "$E2E_SRV_PUB" -n 1000 -r 200 -S "$E2E_DIR/atk-sources" -P 2 -w 1
	flood_pid=$E2E_LAST_PID
	sleep 1.5
	ip netns exec "$ATK_NS" "$FORGE" -d "$E2E_VIP4" -p "$E2E_PORT" -k "$E2E_SRV_PUB" -r 100 \
		-S "$E2E_DIR/atk-sources" -P 2 -c -w 2 >"$E2E_DIR/forge-clients.out" 2>&1 ||
		e2e_fail "wgforge clients: $(cat "$E2E_DIR/forge-clients.out")"
	for _ in $(seq 1 300); do
		kill -0 "$flood_pid" 2>/dev/null || break
		sleep 0.1
	done
	e2e_stop_pid "$flood_pid"
	e2e_log "  bad mac1: $(cat "$E2E_DIR/forge-bad.out")"
	e2e_log "  flood: $(cat "$E2E_DIR/forge-flood.out")"
	e2e_log "  clients answering cookies: $(cat "$E2E_DIR/forge-clients.out")"
fi
for c in c1 c2; do ping_ok "$c" || e2e_fail "$c cannot ping after the forged traffic"; done
e2e_pass "wglbd survived garbage and forged handshakes"

e2e_check "control socket, metrics, drain/enable, reload, SIGHUP, SIGUSR1"
for cmd in status backends sessions "sessions b1" health; do
	# shellcheck disable=SC2086
	ctl -j $cmd >"$E2E_DIR/ctl.out" 2>&1 || e2e_fail "wglbctl $cmd failed: $(cat "$E2E_DIR/ctl.out")"
done
ctl drain b2 >/dev/null || e2e_fail "wglbctl drain b2"
ctl enable b2 >/dev/null || e2e_fail "wglbctl enable b2"
ctl foo >/dev/null 2>&1 && e2e_fail "wglbctl accepted an unknown command"
ip netns exec "$E2E_NS_LB" python3 -c '
import sys, urllib.request
t = urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=30).read().decode()
sys.exit(0 if "wglb_under_load" in t else 1)
' "$METRICS" || e2e_fail "metrics scrape failed"
e2e_log "  metrics scraped"
# the new configuration: b1 weighs 2, b2 is removed (drains), b3 is added
E2E_BACKEND_LINES[b1]="weight = 2"
e2e_write_conf "$CONF" "${CONF_LINES[@]}"
conf_without "$CONF" b2
ctl reload >"$E2E_DIR/reload.out" 2>&1 || e2e_fail "wglbctl reload failed: $(cat "$E2E_DIR/reload.out")"
wait_up b3 60 || e2e_fail "backend b3 (added by the reload) not up within 60 s"
e2e_log "  reloaded through wglbctl: b3 up"
mark=$(e2e_log_mark)
kill -HUP "$E2E_WGLBD_PID"
e2e_wait_log "$mark" 'reload done|reload failed|SIGHUP' 30 >/dev/null || e2e_fail "no reload after SIGHUP"
for c in c1 c2; do ping_ok "$c" || e2e_fail "$c cannot ping after the reload"; done
# forged sessions (12 s timeout) expire meanwhile; pings keep the real ones
sleep 14
for c in c1 c2; do ping_ok "$c" || e2e_fail "$c cannot ping after the session expiry"; done
st=$(vg_stats) || e2e_fail "no stats after SIGUSR1"
printf '%s\n' "$st" | grep -E '^stats: (rx_packets|drop reason=(bad_mac1|cookie_required|session_limit|duplicate)|backend)' |
	sed 's/^/    /'
e2e_log "  sessions_expired=$(e2e_stat_global "$st" sessions_expired)"
e2e_pass "control, metrics, reload, signals done"

e2e_check "SIGTERM: wglbd exits 0 with a clean valgrind report"
vg_stop_wglbd
[ -s "$E2E_DIR/wglb.state" ] || e2e_fail "no state file written at shutdown"
e2e_pass "run 1 clean"

# ---- run 2: start from the state file ----------------------------------------
e2e_log "run 2: wglbd under valgrind, sessions from the state file"
# every backend again, so that c2's session (on b2, removed by the reload) is restored too
e2e_write_conf "$CONF" "${CONF_LINES[@]}"
vg_start_wglbd "$CONF"
line=$(e2e_wait_log 0 'state: ' 30) || e2e_fail "wglbd logged nothing about its state file"
e2e_log "  ${line#*\] }"
for c in c1 c2; do
	ping_ok "$c" || e2e_fail "$c cannot ping after the restart from the state file"
done
e2e_pass "clients ping through the restarted wglbd"
st=$(vg_stats) || e2e_fail "no stats after SIGUSR1"
e2e_log "  $(printf '%s\n' "$st" | grep -E '^stats: rx_packets' | cut -c1-160)"
e2e_check "SIGTERM: wglbd exits 0 with a clean valgrind report (run 2)"
vg_stop_wglbd
e2e_pass "run 2 clean"

e2e_log "PASS: all checks in $(($(date +%s) - T0)) s"
exit 0
