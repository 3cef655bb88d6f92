#!/bin/bash
# tests/e2e/foundation.sh: wglbd between real WireGuard peers.
#
# 3 backends (wireguard-go, one shared key), 4 IPv4 clients and 1 IPv6
# client, each in its own network namespace, wglbd in the middle one
# (see lib.sh). Checks:
#   1. every IPv4 client pings its tunnel peer through wglbd
#   2. an iperf3 transfer through the tunnel completes for each client
#   3. clients are spread over at least 2 backends
#   4. a client that changes its source port keeps its tunnel with no new
#      handshake (wglbd follows the roam)
#   5. a client reaching the VIP over IPv6 handshakes and pings
#   6. garbage sent to the VIP reaches no backend, is counted in wglbd's
#      drop counters, and wglbd keeps serving
#
# Exit 0 pass, 1 fail, 77 skip (not root or a tool missing).
# Env: WGLBD (binary), E2E_VERBOSE=1, E2E_KEEP=1 (keep the work dir),
#      E2E_NO_WGLBD=1 (developer aid: clients talk to backends directly,
#      checks 1-5 only; verifies the topology without wglbd).

E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$E2E_HERE/lib.sh"

T0=$(date +%s)
e2e_require_root_and_tools
NO_WGLBD=${E2E_NO_WGLBD:-0}
if [ "$NO_WGLBD" != 1 ] && ! e2e_find_wglbd; then
	echo "FAIL: wglbd binary not found at $WGLBD (build it first or set WGLBD)" >&2
	exit 1
fi

e2e_init
e2e_log "run $E2E_RUN: building topology (3 backends, 5 clients)"
e2e_lb_ns
for b in b1 b2 b3; do e2e_add_backend "$b"; done
V4_CLIENTS=(c1 c2 c3 c4)
if [ "$NO_WGLBD" = 1 ]; then
	e2e_lb_routing on
	i=0
	for c in "${V4_CLIENTS[@]}"; do
		e2e_add_client "$c" "direct:${E2E_BACKENDS[$((i % 3))]}"
		i=$((i + 1))
	done
	e2e_add_client c6 direct6:b2
else
	for c in "${V4_CLIENTS[@]}"; do e2e_add_client "$c" v4; done
	e2e_add_client c6 v6
	# b3 is reached over IPv6: both address families on the backend side too
	E2E_BACKEND_V6="b3"
	# the garbage check below counts every datagram reaching a backend: learning
	# would copy the forged data messages to every backend (tests/e2e/learn.sh)
	e2e_write_conf "$E2E_DIR/wglb.conf" "learn_unknown = no"
	e2e_start_wglbd "$E2E_DIR/wglb.conf"
	e2e_log "wglbd $WGLBD running (pid $E2E_WGLBD_PID)"
fi
e2e_log "topology up in $(($(date +%s) - T0)) s"

# ---- 1. pings ---------------------------------------------------------------
for c in "${V4_CLIENTS[@]}"; do
	e2e_check "1. client $c pings $E2E_TUN4 through the tunnel"
	e2e_ping_retry "$c" 3 || e2e_fail "client $c cannot ping $E2E_TUN4 through the tunnel"
	e2e_pass "$c ping (served by $(e2e_serving_backend "$c"))"
done

# ---- 2. iperf3 --------------------------------------------------------------
for c in "${V4_CLIENTS[@]}"; do
	e2e_check "2. iperf3 -n 5M through the tunnel completes for $c"
	out=$E2E_DIR/iperf-$c.json
	e2e_iperf "$c" -n 5M >"$out" 2>&1 || e2e_fail "iperf3 from $c failed: $(head -c 600 "$out")"
	bytes=$(e2e_iperf_field "$out" bytes)
	[ "$bytes" -gt 0 ] || e2e_fail "iperf3 from $c reports 0 bytes received"
	e2e_pass "$c iperf3: $bytes bytes, $(($(e2e_iperf_field "$out" bps) / 1000000)) Mbit/s"
done

# ---- 3. spread --------------------------------------------------------------
e2e_check "3. clients land on more than one backend"
used=0
for b in "${E2E_BACKENDS[@]}"; do
	list=$(e2e_clients_of "$b")
	e2e_log "  backend $b serves: ${list:-(none)}"
	[ -n "$list" ] && used=$((used + 1))
done
[ "$used" -ge 2 ] || e2e_fail "all clients landed on one backend ($used backend(s) used)"
e2e_pass "$used backends serve clients"

# ---- 3b. handshakes through the relay, tunnels on their own sockets ---------
e2e_check "3b. every tunnel that carries data has its own upstream socket"
e2e_find_wglbctl || e2e_fail "wglbctl not found"
sess=$(e2e_ctl -j sessions) || e2e_fail "wglbctl sessions failed"
st=$(e2e_ctl -j status) || e2e_fail "wglbctl status failed"
read -r n_up n_other hs < <(python3 -c '
import json, sys
s = json.loads(sys.argv[1])["sessions"]
up = sum(1 for x in s if x["state"] == "up")
print(up, len(s) - up, json.loads(sys.argv[2])["sessions_handshaking"])' "$sess" "$st") ||
	e2e_fail "cannot read sessions: $sess"
e2e_log "  sessions: $n_up up, $n_other other; status: $hs handshaking"
[ "$n_up" -ge "${#V4_CLIENTS[@]}" ] || e2e_fail "only $n_up sessions up for ${#V4_CLIENTS[@]} clients"
if [ "$n_other" != 0 ] || [ "$hs" != 0 ]; then
	e2e_fail "sessions still handshaking after their clients pinged"
fi
# each backend sees each of its clients at an endpoint of its own (a
# session's socket), not all of them at the relay's
for b in "${E2E_BACKENDS[@]}"; do
	eps=$(e2e_wg "$b" show "${E2E_IF[$b]}" endpoints | awk '$2 != "(none)" { print $2 }')
	n=$(printf '%s\n' "$eps" | grep -c . || true)
	d=$(printf '%s\n' "$eps" | grep . | sort -u | wc -l)
	e2e_log "  backend $b: $n client endpoints, $d distinct"
	[ "$n" = "$d" ] || e2e_fail "backend $b sees clients sharing an endpoint: ${eps//$'\n'/ }"
done
e2e_pass "$n_up sessions up, each on its own socket"

# ---- 4. roaming ------------------------------------------------------------
c=c1
e2e_check "4. $c changes its listen port and keeps its tunnel without a new handshake"
sb=$(e2e_serving_backend "$c")
[ -n "$sb" ] || e2e_fail "no backend has a handshake with $c"
hs_before=$(e2e_handshake_of "$sb" "$c")
chs_before=$(e2e_client_handshake "$c")
ep_before=$(e2e_backend_endpoint "$sb" "$c")
old_port=${E2E_PORTOF[$c]}
new_port=$((old_port + 1000))
e2e_client_set_port "$c" "$new_port" || e2e_fail "wg set listen-port $new_port on $c"
ok=0
t_roam=$(date +%s)
for i in $(seq 1 6); do
	if e2e_ping "$c" 1 1; then ok=1; break; fi
done
[ "$ok" = 1 ] || e2e_fail "$c cannot ping after moving from port $old_port to $new_port"
e2e_log "  first reply $(($(date +%s) - t_roam)) s after the port change"
e2e_ping "$c" 3 2 || e2e_fail "$c lost pings after roaming"
hs_after=$(e2e_handshake_of "$sb" "$c")
chs_after=$(e2e_client_handshake "$c")
ep_after=$(e2e_backend_endpoint "$sb" "$c")
e2e_log "  backend $sb: handshake $hs_before -> $hs_after, endpoint $ep_before -> $ep_after"
e2e_log "  client $c: handshake $chs_before -> $chs_after"
[ "$hs_after" = "$hs_before" ] ||
	e2e_fail "backend $sb made a new handshake with $c after the roam ($hs_before -> $hs_after)"
[ "$chs_after" = "$chs_before" ] ||
	e2e_fail "client $c made a new handshake after the roam ($chs_before -> $chs_after)"
for b in "${E2E_BACKENDS[@]}"; do
	[ "$b" = "$sb" ] && continue
	t=$(e2e_handshake_of "$b" "$c")
	[ "$t" -le "$hs_before" ] || e2e_fail "$c handshook with another backend ($b) after roaming"
done
if [ "$NO_WGLBD" != 1 ]; then
	[ "$ep_after" != "$ep_before" ] ||
		e2e_fail "backend $sb still sees $c at $ep_before: the roamed traffic did not use a new upstream socket"
	st=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
	roamed=$(e2e_stat_global "$st" sessions_roamed)
	e2e_log "  wglbd sessions_roamed=$roamed"
	[ "${roamed:-0}" -ge 1 ] || e2e_fail "wglbd reports sessions_roamed=${roamed:-?} after the roam"
fi
e2e_pass "$c roamed $old_port -> $new_port, still on $sb, no new handshake"

# ---- 5. IPv6 client ---------------------------------------------------------
c=c6
e2e_check "5. client $c reaching the VIP over IPv6 handshakes and pings"
e2e_ping_retry "$c" 3 || e2e_fail "IPv6 client $c cannot ping through the tunnel"
sb=$(e2e_serving_backend "$c")
[ -n "$sb" ] || e2e_fail "no backend shows a handshake with IPv6 client $c"
[ "$(e2e_client_handshake "$c")" != 0 ] || e2e_fail "$c has no handshake"
out=$E2E_DIR/iperf-$c.json
e2e_iperf "$c" -n 2M >"$out" 2>&1 || e2e_fail "iperf3 from $c failed: $(head -c 600 "$out")"
[ "$(e2e_iperf_field "$out" bytes)" -gt 0 ] || e2e_fail "iperf3 from $c: 0 bytes"
e2e_pass "$c (endpoint $(e2e_client_endpoint v6)) served by $sb, ping and iperf3 ok"

# ---- 6. garbage -------------------------------------------------------------
if [ "$NO_WGLBD" = 1 ]; then
	e2e_log "E2E_NO_WGLBD=1: check 6 (wglbd drops) skipped"
	e2e_log "PASS (direct mode, checks 1-5) in $(($(date +%s) - T0)) s"
	exit 0
fi

e2e_check "6. garbage sent to the VIP is dropped, counted, and harmless"
# Every garbage datagram longer than 11 bytes carries "GLBG" at offset 8;
# the others are shorter than any WireGuard message (32 bytes).
MARK=0x474c4247
cat >"$E2E_DIR/garbage.py" <<'EOF'
import os, random, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
mark = b"GLBG"

def msg(n, mtype=None):
    b = bytearray(os.urandom(n))
    if mtype is not None:
        b[0] = mtype
        b[1:4] = b"\0\0\0"
    elif n >= 1:
        b[0] = random.randint(5, 255)      # never a WireGuard type
    if n >= 12:
        b[8:12] = mark
    return bytes(b)

plan = [("unknown_type", 200, lambda: msg(77)),
        ("short", 20, lambda: msg(3)),
        ("bad_length", 50, lambda: msg(1234, 1)),
        ("bad_mac1", 50, lambda: msg(148, 1)),
        ("no_session", 30, lambda: msg(96, 4))]
for name, n, make in plan:
    for _ in range(n):
        s.sendto(make(), (host, port))
        time.sleep(0.001)
    print("sent %s %d" % (name, n))
EOF
stats0=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1 (log: $E2E_WGLBD_LOG)"
cap=$E2E_DIR/garbage.pcap
e2e_bg "$E2E_NS_LB" "$E2E_DIR/tcpdump.log" tcpdump -n -i brb --immediate-mode -U -Z root -w "$cap" udp
tcpdump_pid=$E2E_LAST_PID
for i in $(seq 1 50); do
	grep -q 'listening on' "$E2E_DIR/tcpdump.log" 2>/dev/null && break
	kill -0 "$tcpdump_pid" 2>/dev/null || e2e_fail "tcpdump died: $(cat "$E2E_DIR/tcpdump.log")"
	sleep 0.1
done
e2e_ns_exec c2 python3 "$E2E_DIR/garbage.py" "$E2E_VIP4" "$E2E_PORT" >"$E2E_DIR/garbage4.out" 2>&1 ||
	e2e_fail "garbage sender (IPv4) failed: $(cat "$E2E_DIR/garbage4.out")"
e2e_ns_exec c6 python3 "$E2E_DIR/garbage.py" "$E2E_VIP6" "$E2E_PORT" >"$E2E_DIR/garbage6.out" 2>&1 ||
	e2e_fail "garbage sender (IPv6) failed: $(cat "$E2E_DIR/garbage6.out")"
# legitimate traffic in the same window proves the capture sees wglbd's output
e2e_ping c3 2 2 || e2e_fail "c3 cannot ping during the garbage burst"
sleep 0.5
e2e_stop_pid "$tcpdump_pid"
e2e_log "  sent (x2, IPv4 and IPv6): $(awk '{printf "%s=%s ", $2, $3}' "$E2E_DIR/garbage4.out")"
total=$(tcpdump -n -r "$cap" 2>/dev/null | wc -l)
leaked=$(tcpdump -n -r "$cap" \
	"(ip and udp and (udp[4:2] < 40 or udp[16:4] = $MARK)) or (ip6 and ip6[6] = 17 and (ip6[44:2] < 40 or ip6[56:4] = $MARK))" \
	2>/dev/null | wc -l)
e2e_log "  wglbd -> backends during the burst: $total UDP packets, $leaked of them garbage"
[ "$total" -gt 0 ] || e2e_fail "capture on brb saw no packet at all (ping traffic should be there)"
[ "$leaked" = 0 ] || {
	tcpdump -n -r "$cap" "(ip and udp and (udp[4:2] < 40 or udp[16:4] = $MARK))" 2>/dev/null | head -n 5
	e2e_fail "$leaked garbage datagrams were forwarded to backends"
}
e2e_pass "no garbage reached a backend"

e2e_wglbd_alive || e2e_fail "wglbd died after the garbage burst"
stats=$(e2e_wglbd_stats) || e2e_fail "no stats lines after SIGUSR1"
printf '%s\n' "$stats" | sed 's/^/    /'
for r in unknown_type bad_length bad_mac1 short no_session; do
	v0=$(e2e_stat_drop "$stats0" "$r")
	v=$(e2e_stat_drop "$stats" "$r")
	[ -n "$v" ] || e2e_fail "no 'stats: drop reason=$r' line"
	sent=$((2 * $(awk -v r="$r" '$2 == r { print $3 }' "$E2E_DIR/garbage4.out")))
	e2e_log "  drop $r: ${v0:-0} -> $v (sent $sent)"
	[ $((v - ${v0:-0})) -ge "$sent" ] || e2e_log "  note: fewer $r drops counted than sent"
	case $r in
	unknown_type | bad_length | bad_mac1)
		[ "$v" -gt "${v0:-0}" ] || e2e_fail "drop counter $r did not grow (${v0:-0} -> $v)"
		;;
	esac
done
e2e_pass "drop counters grew"

for c in "${V4_CLIENTS[@]}" c6; do
	e2e_ping "$c" 3 2 || e2e_fail "$c cannot ping after the garbage burst"
done
e2e_wglbd_alive || e2e_fail "wglbd died"
e2e_pass "wglbd alive, every client still pings"

e2e_log "PASS: all checks in $(($(date +%s) - T0)) s"
exit 0
