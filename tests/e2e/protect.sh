#!/bin/bash
# tests/e2e/protect.sh: wglbd's edge protection against forged, flooded and
# replayed handshakes, with real WireGuard clients and backends (lib.sh
# topology) and an "attacker" namespace on the client side bridge.
#
#   attacker ns (eth0 on bridge brc): 10.200.0.250/24 and 200 more /32
#   addresses 10.210.0.1..200, routed back to it from the lb ns.
#
# Checks:
#   1. 20000 forged initiations with a bad mac1 (<= 10 kpps): none reaches a
#      backend (capture on brb, per-backend handshakes_forwarded), wglbd
#      counts them as bad_mac1, clients keep pinging.
#   2. a flood of valid-mac1 initiations from 200 source addresses at about
#      7x [limits] under_load puts wglbd under load (wglb_under_load,
#      cookie_required drops, cookie replies that open correctly), and a real
#      wireguard-go client that starts its first handshake during the flood
#      completes it through wglbd's cookie challenge (time printed).
#   3. a real client's captured initiation and data messages, replayed to the
#      VIP from the attacker's address: the initiation is dropped as
#      "duplicate", the backend makes no new handshake and keeps the
#      client's endpoint, the client's pings go on without a gap.
#   4. max_sessions = 50 holds against 150 synthetic clients (distinct
#      source ports, each answering cookies): sessions never exceed 50, the
#      rest are dropped as session_limit, a real client keeps working.
# It also prints wglbd's RSS and open fds idle and under the floods, and
# checks that handshake-only sessions hold no descriptor.
#
# Exit 0 pass, 1 fail, 77 skip (not root, or a tool/library missing).
# Env: WGLBD, WGLBCTL, CC, E2E_VERBOSE=1, E2E_KEEP=1 (keep the work dir).

E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$E2E_HERE/lib.sh"

T0=$(date +%s)
: "${CC:=cc}"
e2e_require_root_and_tools "$CC"
if ! e2e_find_wglbd; then
	echo "FAIL: wglbd binary not found at $WGLBD (build it first or set WGLBD)" >&2
	exit 1
fi
: "${WGLBCTL:=$(dirname "$WGLBD")/wglbctl}"
[ -x "$WGLBCTL" ] || { echo "FAIL: wglbctl not found at $WGLBCTL (set WGLBCTL)" >&2; exit 1; }

e2e_init

# ---- the forging tool --------------------------------------------------------
FORGE=$E2E_DIR/wgforge
if ! "$CC" -O2 -o "$FORGE" "$E2E_HERE/tools/wgforge.c" -lsodium -lb2 >"$E2E_DIR/cc.log" 2>&1; then
	if ! printf '#include <sodium.h>\n#include <blake2.h>\n' | "$CC" -E - >/dev/null 2>&1; then
		e2e_skip "libsodium/libb2 headers missing: cannot build tools/wgforge.c"
	fi
	e2e_fail "building tools/wgforge.c: $(cat "$E2E_DIR/cc.log")"
fi
REPLAY=$E2E_HERE/tools/pcap_replay.py

ATK_IP=10.200.0.250
ATK_NET=10.210.0.0/24
ATK_N_SRC=200
METRICS=127.0.0.1:9586

# ---- helpers (this script's own) --------------------------------------------

# st_json: wglbd's status as JSON (empty on error).
st_json() { "$WGLBCTL" -s "$E2E_DIR/wglb.sock" -j status 2>/dev/null; }

# st_get JSON KEY: a top-level number ("sessions", ...) or drops.REASON.
st_get() {
	python3 -c '
import json, sys
try:
    d = json.loads(sys.argv[1])
    k = sys.argv[2]
    v = d["drops"][k[6:]] if k.startswith("drops.") else d[k]
    print(int(v))
except Exception:
    print(-1)
' "$1" "$2"
}

# metric NAME: one unlabelled sample from wglbd's /metrics (-1 if missing).
metric() {
	ip netns exec "$E2E_NS_LB" python3 -c '
import sys, urllib.request
try:
    t = urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=3).read().decode()
except Exception:
    print(-1); sys.exit(0)
for l in t.splitlines():
    f = l.split()
    if len(f) == 2 and f[0] == sys.argv[2]:
        print(int(float(f[1]))); sys.exit(0)
print(-1)
' "$METRICS" "$1"
}

# proc_figures PID: "rss=... kB fds=N" of a process.
proc_figures() {
	local rss fds
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
	fds=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	echo "rss=${rss:-?} kB fds=$fds"
}

# backend_hs_forwarded STATS NAME: handshakes_forwarded of one backend.
backend_hs_forwarded() { e2e_stat_backend "$1" "$2" handshakes_forwarded; }

# start_capture NAME IFACE FILTER: tcpdump in the lb ns into $E2E_DIR/NAME.pcap;
# sets CAP_PID once it listens.
start_capture() {
	local name=$1 ifc=$2 filter=$3
	e2e_bg "$E2E_NS_LB" "$E2E_DIR/tcpdump-$name.log" \
		tcpdump -n -i "$ifc" --immediate-mode -U -Z root -w "$E2E_DIR/$name.pcap" "$filter"
	CAP_PID=$E2E_LAST_PID
	for _ in $(seq 1 50); do
		grep -q 'listening on' "$E2E_DIR/tcpdump-$name.log" 2>/dev/null && return 0
		kill -0 "$CAP_PID" 2>/dev/null ||
			e2e_fail "tcpdump ($name) died: $(cat "$E2E_DIR/tcpdump-$name.log")"
		sleep 0.1
	done
	e2e_fail "tcpdump ($name) did not start within 5 s"
}

# pcap_count NAME FILTER: packets in $E2E_DIR/NAME.pcap matching FILTER.
pcap_count() {
	tcpdump -n -r "$E2E_DIR/$1.pcap" "$2" 2>/dev/null | wc -l
}

# max_reply_gap CLIENT FROM TO: the longest time (s) between echo replies in
# CLIENT's background ping log within [FROM, TO], window edges included.
max_reply_gap() {
	awk -v a="$2" -v b="$3" '
		/ bytes from / { x = substr($1, 2, length($1) - 2) + 0
			if (x >= a && x <= b) { if (x - p > g) g = x - p; p = x } }
		BEGIN { p = a; g = 0 }
		END { if (b - p > g) g = b - p; printf "%.2f\n", g }' "${E2E_PINGLOG[$1]}"
}

# forge ARGS...: run wgforge in the attacker namespace (foreground).
forge() {
	ip netns exec "$ATK_NS" "$FORGE" -d "$E2E_VIP4" -p "$E2E_PORT" "$@"
}

# forge_field LINE KEY: a field of wgforge's summary line.
forge_field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# path_counters: where the attacker's datagrams went: packets sent by its
# eth0, received by the lb ns end (vatk), and the lb ns UDP counters.
path_counters() {
	local tx rx
	tx=$(ip -n "$ATK_NS" -s -j link show eth0 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["packets"])' 2>/dev/null)
	rx=$(ip -n "$E2E_NS_LB" -s -j link show vatk 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])' 2>/dev/null)
	echo "attacker eth0 tx=${tx:-?} lb vatk rx=${rx:-?}" \
		"$(ip netns exec "$E2E_NS_LB" nstat -az 2>/dev/null |
			awk '$1 ~ /^(UdpInDatagrams|UdpRcvbufErrors|UdpInErrors|UdpNoPorts|IpInDiscards|IpInAddrErrors)$/ { printf "%s=%s ", $1, $2 }')"
}

ge() {
	ip netns exec "$ATK_NS" "$FORGE" -d "$E2E_VIP4" -p "$E2E_PORT" "$@"
}

# forge_field LINE KEY: a field of wgforge's summary line.
forge_field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# path_counters: where the attacker's datagrams went: packets sent by its
# eth0, received by the lb ns end (vatk), and the lb ns UDP counters.
path_counters() {
	local tx rx
	tx=$(ip -n "$ATK_NS" -s -j link show eth0 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["packets"])' 2>/dev/null)
	rx=$(ip -n "$E2E_NS_LB" -s -j link show vatk 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])' 2>/dev/null)
	echo "attacker eth0 tx=${tx:-?} lb vatk rx=${rx:-?}" \
		"$(ip netns exec "$E2E_NS_LB" nstat -az 2>/dev/null |
			awk '$1 ~ /^(UdpInDatagrams|UdpRcvbufErrors|UdpInErrors|UdpNoPorts|IpInDiscards|IpInAddrErrors)$/ { printf "%s=%s ", $1, $2 }')"
}

ge() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$1" "$2"; }

# ---- topology ----------------------------------------------------------------
e2e_log "run $E2E_RUN: building topology (2 backends, 2 clients, attacker)"
e2e_lb_ns
e2e_add_backend b1
e2e_add_backend b2
e2e_add_client c1
e2e_add_client c2

ATK_NS=wglb-$E2E_RUN-atk
e2e_netns "$ATK_NS"
e2e_veth "$ATK_NS" vatk brc
ip -n "$ATK_NS" addr add "$ATK_IP/24" dev eth0
: >"$E2E_DIR/atk-sources"
{
	for i in $(seq 1 "$ATK_N_SRC"); do
		echo "addr add 10.210.0.$i/32 dev eth0"
		echo "10.210.0.$i" >>"$E2E_DIR/atk-sources"
	done
} | ip -n "$ATK_NS" -batch - || e2e_fail "adding the attacker's addresses"
ip -n "$E2E_NS_LB" route add "$ATK_NET" via "$ATK_IP" dev brc || e2e_fail "route to $ATK_NET"

e2e_write_conf "$E2E_DIR/wglb-a.conf" \
	"" "[limits]" "under_load = 200" \
	"" "[metrics]" "listen = $METRICS"
e2e_start_wglbd "$E2E_DIR/wglb-a.conf"
e2e_log "wglbd $WGLBD running (pid $E2E_WGLBD_PID)"
for c in c1 c2; do
	e2e_ping_retry "$c" 3 || e2e_fail "client $c cannot ping through wglbd"
done
e2e_log "topology up in $(($(date +%s) - T0)) s; c1 on $(e2e_serving_backend c1), c2 on $(e2e_serving_backend c2)"
FIG_IDLE=$(proc_figures "$E2E_WGLBD_PID")
e2e_log "wglbd idle: $FIG_IDLE"

# ---- 1. forged initiations with a bad mac1 ---------------------------------
e2e_check "1. 20000 forged initiations (bad mac1, <= 10 kpps) reach no backend"
for c in c1 c2; do e2e_ping_bg "$c" 10 0.2; done
sleep 1
st0=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
start_capture flood1 brb "udp and udp[4:2] = 156"
t1=$(e2e_now)
out=$(forge -b -m ATK1 -n 20000 -r 10000 -s "$ATK_IP" -P 4 -w 0.3) ||
	e2e_fail "wgforge (bad mac1) failed: $out"
FIG_BAD=$(proc_figures "$E2E_WGLBD_PID")
sleep 0.5
t2=$(e2e_now)
e2e_stop_pid "$CAP_PID"
st1=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
sent=$(forge_field "$out" sent)
e2e_log "  wgforge: $out"
marked=$(pcap_count flood1 "udp[16:4] = 0x41544b31")
all148=$(pcap_count flood1 "udp[4:2] = 156")
e2e_log "  148-byte datagrams wglbd sent to backends in the window: $all148 (forged: $marked)"
[ "$marked" = 0 ] || e2e_fail "$marked forged initiations reached a backend"
[ "$all148" = 0 ] || e2e_fail "$all148 handshake initiations went to backends during the bad-mac1 flood"
for b in b1 b2; do
	f0=$(backend_hs_forwarded "$st0" "$b")
	f1=$(backend_hs_forwarded "$st1" "$b")
	[ "${f1:-x}" = "${f0:-y}" ] || e2e_fail "backend $b handshakes_forwarded went $f0 -> $f1 during the bad-mac1 flood"
done
d0=$(e2e_stat_drop "$st0" bad_mac1)
d1=$(e2e_stat_drop "$st1" bad_mac1)
bad=$((d1 - ${d0:-0}))
e2e_log "  bad_mac1 drops: ${d0:-0} -> $d1 (+$bad of $sent sent)"
[ "$sent" -ge 19000 ] || e2e_fail "wgforge sent only $sent of 20000"
[ $((bad * 100)) -ge $((sent * 95)) ] || e2e_fail "wglbd counted only $bad bad_mac1 drops of $sent sent"
for c in c1 c2; do
	n=$(e2e_ping_replies "$c" "$t1" "$t2")
	gap=$(max_reply_gap "$c" "$t1" "$t2")
	e2e_log "  $c during the flood: $n echo replies, longest gap $gap s"
	[ "$n" -ge 3 ] || e2e_fail "$c got only $n echo replies during the bad-mac1 flood"
	ge 1.0 "$gap" || e2e_fail "$c had a $gap s gap in its pings during the bad-mac1 flood"
done
e2e_pass "0 forged initiations forwarded, $bad counted as bad_mac1, pings unaffected ($FIG_BAD during the flood)"

# ---- 2. valid-mac1 flood from many sources; a client through the cookie -----
e2e_check "2. a valid-mac1 flood puts wglbd under load; a new client completes its handshake through the cookie challenge"
e2e_stop_pid "${E2E_PINGPID[c1]}"
e2e_stop_pid "${E2E_PINGPID[c2]}"
j0=$(st_json) || e2e_fail "wglbctl status failed"
cr0=$(metric wglb_cookie_replies_sent_total)
# 200 source addresses x 2 ports, 1500 initiations/s (7.5 per source per
# second: under the per-source handshake_rate, so each is answered with a
# cookie, not rate limited), for 40 s at most; stopped once the client is in.
path0=$(path_counters)
e2e_bg "$ATK_NS" "$E2E_DIR/flood2.out" "$FORGE" -d "$E2E_VIP4" -p "$E2E_PORT" \
	-k "$E2E_SRV_PUB" -m ATK2 -n 60000 -r 1500 -S "$E2E_DIR/atk-sources" -P 2 -w 0.5
FLOOD_PID=$E2E_LAST_PID
under=0
for _ in $(seq 1 50); do
	if [ "$(metric wglb_under_load)" = 1 ]; then under=1; break; fi
	kill -0 "$FLOOD_PID" 2>/dev/null || e2e_fail "wgforge flood ended early: $(cat "$E2E_DIR/flood2.out")"
	sleep 0.1
done
[ "$under" = 1 ] || e2e_fail "wglbd not under load 5 s into the flood (wglb_under_load=$(metric wglb_under_load))"
sleep 1
FIG_FLOOD=$(proc_figures "$E2E_WGLBD_PID")
e2e_log "  wglbd under the valid-mac1 flood: $FIG_FLOOD"
e2e_ping_bg c1 40 0.2
# the new client: its interface comes up (no traffic yet, no handshake), then
# its first ping starts the handshake
c3_ip=10.200.0.13
start_capture cookie brc "udp and dst host $c3_ip and udp[4:2] = 72"
e2e_add_client c3
t_up=$(e2e_now)
e2e_ping_bg c3 40 0.2
hs=0
for _ in $(seq 1 300); do
	hs=$(e2e_client_handshake c3)
	[ "$hs" != 0 ] && break
	kill -0 "$FLOOD_PID" 2>/dev/null || e2e_fail "the flood ended before c3's handshake: $(cat "$E2E_DIR/flood2.out")"
	sleep 0.1
done
[ "$hs" != 0 ] || e2e_fail "c3 did not complete a handshake within 30 s of coming up during the flood"
first=$(e2e_wait_ping_reply c3 "$t_up" 10) || e2e_fail "c3 handshook but gets no echo reply"
still_under=$(metric wglb_under_load)
FIG_FLOOD2=$(proc_figures "$E2E_WGLBD_PID")
j1=$(st_json)
cr1=$(metric wglb_cookie_replies_sent_total)
e2e_stop_pid "$FLOOD_PID"
e2e_stop_pid "$CAP_PID"
out=$(cat "$E2E_DIR/flood2.out")
e2e_log "  wgforge: $out"
e2e_log "  path: $path0 -> $(path_counters)"
hs_secs=$(python3 -c 'import sys; print("%.1f" % (float(sys.argv[1]) - float(sys.argv[2])))' "$hs" "$t_up")
ping_secs=$(python3 -c 'import sys; print("%.2f" % (float(sys.argv[1]) - float(sys.argv[2])))' "$first" "$t_up")
e2e_log "  c3 HANDSHAKE TIME under the flood: latest-handshake $hs_secs s after link up (1 s resolution), first echo reply after $ping_secs s"
cookies_to_c3=$(pcap_count cookie "udp[8:4] = 0x03000000")
crd=$(($(st_get "$j1" drops.cookie_required) - $(st_get "$j0" drops.cookie_required)))
rl=$(($(st_get "$j1" drops.rate_limited) - $(st_get "$j0" drops.rate_limited)))
e2e_log "  cookie_required drops +$crd, rate_limited +$rl, cookie replies sent $cr0 -> $cr1," \
	"cookie replies to c3: $cookies_to_c3, still under load at the end: $still_under"
e2e_log "  sessions $(st_get "$j0" sessions) -> $(st_get "$j1" sessions)"
[ "$crd" -gt 0 ] || e2e_fail "no cookie_required drops during the flood"
[ "$cr1" -gt "$cr0" ] || e2e_fail "wglb_cookie_replies_sent_total did not grow ($cr0 -> $cr1)"
[ "$(forge_field "$out" cookies)" -gt 0 ] || e2e_fail "the flood received no cookie reply that opens"
[ "$(forge_field "$out" cookie_bad)" = 0 ] || e2e_fail "wgforge could not open $(forge_field "$out" cookie_bad) cookie replies"
[ "$cookies_to_c3" -ge 1 ] || e2e_fail "c3 got no cookie reply: its handshake did not go through the challenge"
[ "$still_under" = 1 ] || e2e_fail "wglbd was no longer under load when c3's handshake completed"
n=$(e2e_ping_replies c1 "$t_up" "$(e2e_now)")
[ "$n" -ge 5 ] || e2e_fail "c1 got only $n echo replies during the flood"
e2e_ping c3 3 2 || e2e_fail "c3 cannot ping after the flood"
# the flood's sessions only handshake: they share the backends' relay
# sockets, so wglbd's descriptors do not grow with them (at most a relay
# for a backend no client had used yet, c3's own socket, and the control
# and metrics connections of this script)
fd_idle=${FIG_IDLE##*fds=}
fd_flood=${FIG_FLOOD2##*fds=}
s_flood=$(st_get "$j1" sessions)
e2e_log "  descriptors: $fd_idle idle, $fd_flood with $s_flood sessions under the flood"
[ "$s_flood" -ge 50 ] || e2e_fail "the flood opened only $s_flood sessions: nothing to compare descriptors with"
[ "$fd_flood" -le $((fd_idle + 8)) ] ||
	e2e_fail "descriptors grew from $fd_idle to $fd_flood with a handshake-only flood"
e2e_pass "c3 in after $ping_secs s via cookie ($cookies_to_c3 cookie replies to it); c1 kept pinging ($n replies); $s_flood sessions, $fd_flood descriptors"
FIG_AFTER=$(proc_figures "$E2E_WGLBD_PID")

# ---- 3. replays from another address -----------------------------------------
e2e_check "3. a real client's captured initiation and data, replayed from another address, hijack nothing"
e2e_stop_pid "${E2E_PINGPID[c1]}"
e2e_stop_pid "${E2E_PINGPID[c3]}"
c4_ip=10.200.0.14
start_capture replay brc "udp and src host $c4_ip and dst port $E2E_PORT"
e2e_add_client c4
e2e_ping_retry c4 3 || e2e_fail "c4 cannot ping"
e2e_ping c4 5 2 || e2e_fail "c4 lost pings"
e2e_stop_pid "$CAP_PID"
python3 "$REPLAY" "$E2E_DIR/replay.pcap" --from-ip "$c4_ip" --to "$E2E_VIP4" --port "$E2E_PORT" \
	--list >"$E2E_DIR/replay.list" || e2e_fail "reading the capture"
n_init=$(grep -c '^type=1 len=148' "$E2E_DIR/replay.list")
n_data=$(grep -c '^type=4 ' "$E2E_DIR/replay.list")
e2e_log "  captured from c4: $(tail -n 1 "$E2E_DIR/replay.list")"
{ [ "$n_init" -ge 1 ] && [ "$n_data" -ge 2 ]; } || e2e_fail "capture holds $n_init initiations and $n_data data messages"
sb=$(e2e_serving_backend c4)
[ -n "$sb" ] || e2e_fail "no backend has a handshake with c4"
hs_b0=$(e2e_handshake_of "$sb" c4)
hs_c0=$(e2e_client_handshake c4)
ep0=$(e2e_backend_endpoint "$sb" c4)
j0=$(st_json)
e2e_ping_bg c4 10 0.2
sleep 2
ta=$(e2e_now)
rep=$(ip netns exec "$ATK_NS" python3 "$REPLAY" "$E2E_DIR/replay.pcap" --from-ip "$c4_ip" \
	--to "$E2E_VIP4" --port "$E2E_PORT" --bind "$ATK_IP" --repeat 3 --gap 0.01) ||
	e2e_fail "replaying failed: $rep"
e2e_log "  $rep"
sleep 3
tb=$(e2e_now)
e2e_stop_pid "${E2E_PINGPID[c4]}"
j1=$(st_json)
hs_b1=$(e2e_handshake_of "$sb" c4)
hs_c1=$(e2e_client_handshake c4)
ep1=$(e2e_backend_endpoint "$sb" c4)
dup=$(($(st_get "$j1" drops.duplicate) - $(st_get "$j0" drops.duplicate)))
gap=$(max_reply_gap c4 "$ta" "$tb")
n=$(e2e_ping_replies c4 "$ta" "$tb")
e2e_log "  duplicate drops +$dup (initiations replayed: $((n_init * 3))); c4 on $sb: handshake $hs_b0 -> $hs_b1," \
	"endpoint $ep0 -> $ep1; client handshake $hs_c0 -> $hs_c1; $n replies, longest gap $gap s"
[ "$dup" -ge $((n_init * 3)) ] || e2e_fail "only $dup duplicate drops for $((n_init * 3)) replayed initiations"
[ "$hs_b1" = "$hs_b0" ] || e2e_fail "backend $sb made a new handshake with c4 after the replay"
[ "$hs_c1" = "$hs_c0" ] || e2e_fail "c4 made a new handshake after the replay"
for b in b1 b2; do
	[ "$b" = "$sb" ] && continue
	[ "$(e2e_handshake_of "$b" c4)" = 0 ] || e2e_fail "backend $b got a handshake with c4 from the replay"
done
[ "$ep1" = "$ep0" ] || e2e_fail "backend $sb moved c4's endpoint $ep0 -> $ep1 after the replay"
ge 1.0 "$gap" || e2e_fail "c4's pings had a $gap s gap around the replay"
[ "$n" -ge 15 ] || e2e_fail "c4 got only $n echo replies around the replay"
e2e_pass "replayed initiation dropped as duplicate, no new handshake, endpoint kept, pings unbroken"

# ---- 4. the session cap ------------------------------------------------------
N=50
e2e_check "4. max_sessions = $N holds against $((N + 100)) synthetic clients"
e2e_stop_pid "$E2E_WGLBD_PID"
e2e_write_conf "$E2E_DIR/wglb-b.conf" "max_sessions = $N" "learn_unknown = no" \
	"" "[limits]" "handshake_rate = 100000" "handshake_burst = 100000" \
	"max_sessions_per_source = 100000" "session_rate = 100000" "under_load = 0" \
	"" "[metrics]" "listen = $METRICS"
e2e_start_wglbd "$E2E_DIR/wglb-b.conf"
e2e_add_client c5
e2e_ping_retry c5 3 || e2e_fail "c5 cannot ping through the restarted wglbd"
j0=$(st_json)
s0=$(st_get "$j0" sessions)
e2e_log "  sessions before: $s0"
# poll the session count while the synthetic clients come in
(
	for _ in $(seq 1 200); do
		"$WGLBCTL" -s "$E2E_DIR/wglb.sock" -j status 2>/dev/null |
			grep -o '"sessions": *[0-9]*' | grep -o '[0-9]*$'
		[ -e "$E2E_DIR/poll.stop" ] && break
		sleep 0.05
	done
) >"$E2E_DIR/poll.out" &
POLL_PID=$!
E2E_PIDS+=("$POLL_PID")
e2e_ping_bg c5 8 0.2
ta=$(e2e_now)
e2e_log "  path before: $(path_counters)"
out=$(forge -k "$E2E_SRV_PUB" -m ATK4 -s "$ATK_IP" -P $((N + 100)) -r 300 -c -w 2) ||
	e2e_fail "wgforge (clients) failed: $out"
touch "$E2E_DIR/poll.stop"
wait "$POLL_PID" 2>/dev/null
tb=$(e2e_now)
j1=$(st_json)
e2e_log "  wgforge: $out"
e2e_log "  path after:  $(path_counters)"
maxs=$(sort -n "$E2E_DIR/poll.out" | tail -n 1)
polls=$(wc -l <"$E2E_DIR/poll.out")
s1=$(st_get "$j1" sessions)
sl=$(($(st_get "$j1" drops.session_limit) - $(st_get "$j0" drops.session_limit)))
crd=$(($(st_get "$j1" drops.cookie_required) - $(st_get "$j0" drops.cookie_required)))
e2e_log "  sessions: $s0 before, at most $maxs over $polls polls, $s1 after;" \
	"session_limit +$sl, cookie_required +$crd"
[ "$polls" -ge 5 ] || e2e_fail "only $polls session polls"
[ "$maxs" -le "$N" ] || e2e_fail "sessions reached $maxs > max_sessions $N"
[ "$s1" -le "$N" ] || e2e_fail "$s1 sessions > max_sessions $N"
[ "$s1" = "$N" ] || e2e_fail "the table did not fill: $s1 sessions of $N"
[ "$sl" -ge 100 ] || e2e_fail "only $sl session_limit drops (expected >= 100)"
if [ "$crd" -gt 0 ]; then
	e2e_log "  note: with under_load = 0 wglbd still asked for cookies ($crd times): a table" \
		"90 % full counts as under load"
fi
e2e_stop_pid "${E2E_PINGPID[c5]}"
gap=$(max_reply_gap c5 "$ta" "$tb")
e2e_log "  c5 during the synthetic clients: longest reply gap $gap s"
ge 1.0 "$gap" || e2e_fail "c5's pings had a $gap s gap while the table filled"
e2e_ping c5 3 2 || e2e_fail "c5 cannot ping with the session table full"
e2e_pass "sessions capped at $N (max seen $maxs), $sl dropped as session_limit, c5 still pings"

e2e_wglbd_alive || e2e_fail "wglbd died"
e2e_log "wglbd resources: idle $FIG_IDLE; bad-mac1 flood $FIG_BAD;" \
	"valid-mac1 flood $FIG_FLOOD (at c3's handshake $FIG_FLOOD2); after $FIG_AFTER"
e2e_log "PASS: all checks in $(($(date +%s) - T0)) s"
exit 0
