#!/bin/bash
# tests/e2e/nodes.sh: two wglbd nodes share one VIP; a node fails and its
# tunnels go on through the other one without a new handshake.
#
#   clients --brc-- router ns --brb--+-- lb node n1 10.200.1.2
#   (routes via     10.200.0.1       +-- lb node n2 10.200.1.3
#    the router)    10.200.1.1       +-- backends b1 b2 b3 (10.200.1.11..13)
#
# The router is lib.sh's lb namespace with forwarding on. Both nodes sit on
# the backend bridge, so every backend reaches both nodes' upstream
# addresses directly. Each node runs wglbd with policy = hash (both pick
# the same backend for a new handshake), learn_unknown = yes (the default),
# a health probe key of its own (a peer on every backend: two nodes sharing
# one probe key would replay each other's handshake timestamps) and its own
# control socket. How the router finds a node (NODES_ROUTING):
#   static (default)  ECMP: the VIP 10.200.50.1 on a dummy link (or lo) of
#                     each node; the router has "10.200.50.1/32 nexthop via
#                     n1 nexthop via n2", hashed on addresses and ports
#                     (fib_multipath_hash_policy = 1); the test removes a
#                     node's nexthop as a routing daemon withdrawing the VIP
#                     would
#   bgp               the same, but BIRD sets the route, with the files of
#                     contrib/bird/: router-bird.conf on the router ("merge
#                     paths" makes the multipath route), bird.conf on each
#                     node, where wglb-bird-check (every 0.5 s, rise 2, fall
#                     2) announces the VIP while "wglbctl health" succeeds
#   vrrp              keepalived on each node with contrib/keepalived's
#                     keepalived.conf: the VIP 10.200.1.100 on the master's
#                     eth0, wglbctl health as track script; wglbd listens on
#                     the wildcard
#
# 4 IPv4 clients ping through the tunnel every 0.1 s.
#   1. the clients reach wglbd through the nodes (ECMP spreads them; VRRP
#      sends all to the master)
#   2. the node carrying most clients fails: static: wglbd is killed
#      (kill -9) and the test removes its nexthop; bgp/vrrp: only wglbd is
#      killed, the checker / track script withdraws the VIP. Every client of
#      that node pings again within 3 s of the failure (bgp 5 s, vrrp 6 s:
#      detection included), the other clients lose nothing beyond 1 s, no
#      backend saw a new handshake, and the surviving node learned each
#      moved tunnel, bound to the backend holding its handshake (whose
#      endpoint for the client is now the surviving node)
#      With NODES_KILL=node (bgp, vrrp) the whole node dies instead: every
#      process in its namespace is killed and its link goes down; BFD ends
#      the BGP session, or the backup misses 3 VRRP adverts.
#   3. wglbd (after NODES_KILL=node: the node) comes back: static/bgp: its
#      nexthop returns and the tunnels that hash to it move back, learned,
#      without a new handshake; vrrp (nopreempt): the VIP stays where it
#      is, nothing moves
#
# Exit 0 pass, 1 fail, 77 skip (not root, a tool missing; bgp needs bird2,
# vrrp keepalived).
# Env: WGLBD, WGLBCTL (binaries), E2E_VERBOSE=1, E2E_KEEP=1 (keep the work
#      dir), NODES_ROUTING=static|bgp|vrrp, NODES_KILL=wglbd|node (bgp and
#      vrrp only; default wglbd), RESTART_GAPS=FILE (append
#      "failover-MODE CLIENT GAP_S LOST_PINGS" lines for the moved clients,
#      and "detect-MODE - SECONDS 0" for bgp/vrrp: failure -> route or VIP
#      moved; used by tests/bench/restart-gap.sh), NODES_MAX_GAP (seconds:
#      the bound for the moved clients instead of 3 / 5 / 6).

E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$E2E_HERE/lib.sh"

T0=$(date +%s)
ROUTING=${NODES_ROUTING:-static}
KILL=${NODES_KILL:-wglbd}
case $KILL in wglbd | node) ;; *) echo "NODES_KILL must be wglbd or node" >&2; exit 1 ;; esac
[ "$ROUTING" = static ] && KILL=wglbd
MODE=$ROUTING
[ "$KILL" = node ] && MODE=$ROUTING-node
case $ROUTING in
static) e2e_require_root_and_tools stdbuf awk ;;
bgp) e2e_require_root_and_tools stdbuf awk bird birdc ;;
vrrp) e2e_require_root_and_tools stdbuf awk keepalived ;;
*) echo "NODES_ROUTING must be static, bgp or vrrp" >&2; exit 1 ;;
esac
CONTRIB=${top_srcdir:-$E2E_HERE/../..}/contrib
if ! e2e_find_wglbd; then
	echo "FAIL: wglbd binary not found at $WGLBD (build it first or set WGLBD)" >&2
	exit 1
fi
if [ -z "${WGLBCTL:-}" ]; then WGLBCTL=$(dirname "$WGLBD")/wglbctl; fi
[ -x "$WGLBCTL" ] || { echo "FAIL: wglbctl not found at $WGLBCTL (set WGLBCTL)" >&2; exit 1; }

E2E_IPERF_SERVERS=0
CLIENTS=(c1 c2 c3 c4)
NODES=(n1 n2)
VIP=10.200.50.1
[ "$ROUTING" = vrrp ] && VIP=10.200.1.100
declare -A NODE_ADDR=([n1]=10.200.1.2 [n2]=10.200.1.3)
PING_IV=0.1
PING_SECS=90
# how long a client of the failed node may go without an answer: the
# failure is noticed at once (static), after fall 2 x 0.5 s of the checker
# (bgp) or fall 2 x 1 s of the track script plus the VRRP takeover (vrrp)
# when wglbd is killed, or by BFD (0.3 s) / 3 missed VRRP adverts when the
# node dies
case $ROUTING in
static) MAX_GAP_MOVED=3 ;;
bgp) MAX_GAP_MOVED=5 ;;
vrrp) MAX_GAP_MOVED=6 ;;
esac
MAX_GAP_MOVED=${NODES_MAX_GAP:-$MAX_GAP_MOVED}
MAX_GAP_OTHER=1         # a client of the surviving node

declare -A NODE_NS=() NODE_PID=() NODE_LOG=() NODE_CONF=() NODE_KEY=() NODE_VIPDEV=()

fdiff() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a - b }'; }
fle() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# nd_fail MESSAGE: both nodes' last log lines, then lib's diagnostics
nd_fail() {
	local n
	for n in "${NODES[@]}"; do
		[ -n "${NODE_LOG[$n]:-}" ] || continue
		echo "-- last 25 lines of node $n's log ${NODE_LOG[$n]}" >&2
		tail -n 25 "${NODE_LOG[$n]}" 2>/dev/null | grep -v 'drop reason=.* count=0$' |
			sed 's/^/   /' >&2
	done
	echo "-- router: $(nd_route_info)" >&2
	if [ "$ROUTING" = bgp ] && [ -S "$E2E_DIR/bird-router.ctl" ]; then
		echo "-- the router's BIRD:" >&2
		timeout 5 birdc -s "$E2E_DIR/bird-router.ctl" show protocols all 2>&1 |
			grep -E '^[a-z]|State|error|Error|Last' | sed 's/^/   /' >&2
	fi
	for n in "${NODES[@]}"; do
		for f in "$E2E_DIR/check-$n.log" "$E2E_DIR/keepalived-$n.$NODE_RUNS.log"; do
			[ -f "$f" ] || continue
			echo "-- last 10 lines of $f" >&2
			tail -n 10 "$f" | sed 's/^/   /' >&2
		done
	done
	E2E_WGLBD_LOG=
	e2e_fail "$*"
}

# nd_on NODE CMD...: run a lib function that works on "the" wglbd (stats,
# health) against NODE, in a subshell
nd_on() {
	local n=$1
	shift
	(
		E2E_WGLBD_PID=${NODE_PID[$n]}
		E2E_WGLBD_LOG=${NODE_LOG[$n]}
		"$@"
	)
}

nd_ctl() {
	local n=$1
	shift
	timeout 10 "$WGLBCTL" -s "$E2E_DIR/$n.sock" "$@"
}

# nd_sessions NODE: "client-endpoint backend" of every session on NODE
nd_sessions() {
	nd_ctl "$1" -j sessions | python3 -c '
import json, sys
for s in json.load(sys.stdin).get("sessions", []):
    print(s["client"], s["backend"] or "-")'
}

# nd_node_of CLIENT: the node whose session for CLIENT carried the latest
# packet (the router sends it there; a node the client left keeps an idle
# session until it expires)
nd_node_of() {
	local c=$1 n ep=${E2E_ADDR4[$1]}:${E2E_PORTOF[$1]} idle best='' bidle=
	for n in "${NODES[@]}"; do
		kill -0 "${NODE_PID[$n]}" 2>/dev/null || continue
		idle=$(nd_ctl "$n" -j sessions | python3 -c '
import json, sys
for s in json.load(sys.stdin).get("sessions", []):
    if s["client"] == sys.argv[1] and s["backend"]:
        print(s["idle_seconds"])
        break' "$ep")
		[ -n "$idle" ] || continue
		if [ -z "$best" ] || fle "$idle" "$bidle"; then best=$n bidle=$idle; fi
	done
	[ -n "$best" ] && fle "$bidle" 1 || return 1
	echo "$best"
}

# nd_add_node NAME: namespace on the backend bridge, default route via the
# router; but with vrrp, the VIP on a dummy link (or the loopback)
nd_add_node() {
	local n=$1 ns=wglb-$E2E_RUN-$1
	NODE_NS[$n]=$ns
	e2e_netns "$ns"
	e2e_veth "$ns" "v$n" brb
	ip -n "$ns" addr add "${NODE_ADDR[$n]}/24" dev eth0
	ip -n "$ns" route add default via "$E2E_LB_B4"
	[ "$ROUTING" = vrrp ] && return 0   # keepalived adds the VIP to eth0
	# a dummy link if the kernel has them, else the loopback
	if ip -n "$ns" link add vip0 type dummy 2>/dev/null; then
		ip -n "$ns" link set vip0 up
		NODE_VIPDEV[$n]=vip0
	else
		NODE_VIPDEV[$n]=lo
	fi
	ip -n "$ns" addr add "$VIP/32" dev "${NODE_VIPDEV[$n]}" ||
		e2e_fail "adding the VIP to ${NODE_VIPDEV[$n]} in $ns"
}

# nd_write_conf NODE
nd_write_conf() {
	local n=$1 b
	NODE_CONF[$n]=$E2E_DIR/$n.conf
	{
		echo "; node $n of tests/e2e/nodes.sh, run $E2E_RUN"
		echo "[global]"
		if [ "$ROUTING" = vrrp ]; then
			# the VIP is only on the master: the wildcard, as contrib/keepalived says
			echo "listen = 0.0.0.0:$E2E_PORT"
		else
			echo "listen = $VIP:$E2E_PORT"
		fi
		echo "public_key = $E2E_SRV_PUB"
		echo "policy = hash"
		echo "learn_unknown = yes"
		echo "log_level = info"
		echo "control = $E2E_DIR/$n.sock"
		echo
		echo "[health]"
		echo "probe_private_key_file = ${NODE_KEY[$n]}"
		echo "interval = 1s"
		echo "timeout = 500ms"
		echo "slow_start = 0"
		for b in "${E2E_BACKENDS[@]}"; do
			echo
			echo "[backend $b]"
			echo "address = ${E2E_ADDR4[$b]}:$E2E_PORT"
		done
	} >"${NODE_CONF[$n]}"
	"$WGLBD" -t -c "${NODE_CONF[$n]}" >"$E2E_DIR/$n-t.log" 2>&1 ||
		e2e_fail "wglbd -t rejects $n's config: $(cat "$E2E_DIR/$n-t.log")"
}

# nd_start NODE: wglbd in NODE's namespace; waits until it listens and
# every backend is up there
NODE_RUNS=0
nd_start() {
	local n=$1 b h
	NODE_RUNS=$((NODE_RUNS + 1))
	NODE_LOG[$n]=$E2E_DIR/wglbd-$n.$NODE_RUNS.log
	e2e_bg "${NODE_NS[$n]}" "${NODE_LOG[$n]}" "$WGLBD" -c "${NODE_CONF[$n]}"
	NODE_PID[$n]=$E2E_LAST_PID
	for _ in $(seq 1 50); do
		kill -0 "${NODE_PID[$n]}" 2>/dev/null ||
			nd_fail "wglbd on $n exited at start-up"
		ip netns exec "${NODE_NS[$n]}" ss -Hlun "sport = :$E2E_PORT" 2>/dev/null | grep -q . && break
		sleep 0.1
	done
	for b in "${E2E_BACKENDS[@]}"; do
		h=$(nd_on "$n" e2e_wait_health "$b" up 10) ||
			nd_fail "backend $b not up on node $n within 10 s ($h)"
	done
}

# nd_route NODE...: the router's route to the VIP, one nexthop per NODE
nd_route() {
	local n args=()
	if [ $# = 1 ]; then
		args=(via "${NODE_ADDR[$1]}")
	else
		for n in "$@"; do args+=(nexthop via "${NODE_ADDR[$n]}"); done
	fi
	ip -n "$E2E_NS_LB" route replace "$VIP/32" "${args[@]}" ||
		e2e_fail "ip route replace $VIP/32 ${args[*]} in the router"
}

# nd_nexthops: the router's next hops for the VIP, sorted, one line
nd_nexthops() {
	ip -n "$E2E_NS_LB" route show "$VIP/32" 2>/dev/null | grep -o 'via [0-9.]*' |
		awk '{ print $2 }' | sort | tr '\n' ' ' | sed 's/ $//'
}

# nd_wait_nexthops SECONDS NODE...: wait (polling every 20 ms) until the
# router's next hops for the VIP are exactly those of NODE...; print the
# time it saw them. Status 1 on timeout.
nd_wait_nexthops() {
	local secs=$1 n want end
	shift
	want=$(for n in "$@"; do echo "${NODE_ADDR[$n]}"; done | sort | tr '\n' ' ' | sed 's/ $//')
	end=$(($(date +%s%N) + secs * 1000000000))
	while [ "$(nd_nexthops)" != "$want" ]; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.02
	done
	e2e_now
}

# nd_bird_conf SRC DST SED-EXPR...: a contrib/bird file for this topology
# (log to a file instead of syslog)
nd_bird_conf() {
	local src=$1 dst=$2 e args=()
	shift 2
	for e in "$@"; do args+=(-e "$e"); done
	sed -e "s|^log syslog all;|log \"$dst.log\" all;|" "${args[@]}" "$src" >"$dst" ||
		e2e_fail "writing $dst"
	bird -p -c "$dst" >"$dst.check" 2>&1 || e2e_fail "bird -p rejects $dst: $(cat "$dst.check")"
}

# nd_bgp_setup: BIRD on the router, configs for the nodes
nd_bgp_setup() {
	local n
	[ -f "$CONTRIB/bird/bird.conf" ] || e2e_fail "no $CONTRIB/bird/bird.conf (set top_srcdir)"
	nd_bird_conf "$CONTRIB/bird/router-bird.conf" "$E2E_DIR/bird-router.conf" \
		"s|192\.0\.2\.10/32|$VIP/32|" "s|198\.51\.100\.21|${NODE_ADDR[n1]}|" \
		"s|198\.51\.100\.22|${NODE_ADDR[n2]}|" "s|198\.51\.100\.1;|$E2E_LB_B4;|"
	e2e_bg "$E2E_NS_LB" "$E2E_DIR/bird-router.out" bird -f -c "$E2E_DIR/bird-router.conf" \
		-s "$E2E_DIR/bird-router.ctl" -P "$E2E_DIR/bird-router.pid"
	for n in "${NODES[@]}"; do
		nd_bird_conf "$CONTRIB/bird/bird.conf" "$E2E_DIR/bird-$n.conf" \
			"s|192\.0\.2\.10/32|$VIP/32|" "s|198\.51\.100\.21;|${NODE_ADDR[$n]};|" \
			"s|198\.51\.100\.1 |$E2E_LB_B4 |"
	done
}

# nd_vrrp_setup: keepalived configs from contrib/keepalived's file (config
# ids wglb-a, wglb-b), checked with keepalived -t; the track script runs as
# root here (there is no user wglb; and keepalived 2.2.7's -t cannot check
# a file with another script_user)
nd_vrrp_setup() {
	local n id
	[ -f "$CONTRIB/keepalived/keepalived.conf" ] ||
		e2e_fail "no $CONTRIB/keepalived/keepalived.conf (set top_srcdir)"
	for n in "${NODES[@]}"; do
		id=wglb-a
		[ "$n" = n2 ] && id=wglb-b
		sed -e 's|script_user wglb$|script_user root|' \
			-e "s|\"/usr/sbin/wglbctl health\"|\"$WGLBCTL -s $E2E_DIR/$n.sock health\"|" \
			-e "s|192\.0\.2\.10/24 dev eth0|$VIP/24 dev eth0|" \
			"$CONTRIB/keepalived/keepalived.conf" >"$E2E_DIR/keepalived-$n.conf" ||
			e2e_fail "writing keepalived-$n.conf"
		grep -q "$E2E_DIR/$n.sock health" "$E2E_DIR/keepalived-$n.conf" ||
			e2e_fail "contrib/keepalived/keepalived.conf: no track script to adapt"
		keepalived -t -i "$id" -f "$E2E_DIR/keepalived-$n.conf" >"$E2E_DIR/keepalived-$n.check" 2>&1 ||
			e2e_fail "keepalived -t rejects keepalived-$n.conf: $(cat "$E2E_DIR/keepalived-$n.check")"
	done
}

# nd_routing_start NODE: bgp: BIRD and wglb-bird-check (every 0.5 s, rise
# 2, fall 2) on NODE; vrrp: keepalived on NODE; static: nothing
nd_routing_start() {
	local n=$1 id=wglb-a
	case $ROUTING in
	bgp)
		e2e_bg "${NODE_NS[$n]}" "$E2E_DIR/bird-$n.$NODE_RUNS.out" bird -f \
			-c "$E2E_DIR/bird-$n.conf" -s "$E2E_DIR/bird-$n.ctl" -P "$E2E_DIR/bird-$n.pid"
		for _ in $(seq 1 50); do
			[ -S "$E2E_DIR/bird-$n.ctl" ] && break
			sleep 0.1
		done
		e2e_bg "${NODE_NS[$n]}" "$E2E_DIR/check-$n.log" env WGLBCTL="$WGLBCTL" \
			sh "$CONTRIB/bird/wglb-bird-check" -i 0.5 -r 2 -f 2 -s "$E2E_DIR/$n.sock" \
			-b "$E2E_DIR/bird-$n.ctl"
		;;
	vrrp)
		[ "$n" = n2 ] && id=wglb-b
		e2e_bg "${NODE_NS[$n]}" "$E2E_DIR/keepalived-$n.$NODE_RUNS.log" keepalived -n -l -D -G -P \
			-i "$id" -f "$E2E_DIR/keepalived-$n.conf" -p "$E2E_DIR/keepalived-$n.pid" \
			-r "$E2E_DIR/keepalived-$n-vrrp.pid"
		;;
	esac
}

# nd_kill_node NODE: the whole node dies: its link goes down first (so
# that nothing, not even a TCP reset of BIRD's BGP session, gets out), then
# every process in its namespace gets SIGKILL
nd_kill_node() {
	local n=$1 p
	ip -n "${NODE_NS[$n]}" link set eth0 down
	for p in $(ip netns pids "${NODE_NS[$n]}" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null
	done
	wait "${NODE_PID[$n]}" 2>/dev/null
}

# nd_revive_node NODE: link up again (and the default route, which went
# with the link), without the VIP a dead keepalived left
nd_revive_node() {
	local n=$1
	ip -n "${NODE_NS[$n]}" addr del "$VIP/24" dev eth0 2>/dev/null
	ip -n "${NODE_NS[$n]}" link set eth0 up
	ip -n "${NODE_NS[$n]}" route replace default via "$E2E_LB_B4"
	rm -f "$E2E_DIR/bird-$n.ctl" "$E2E_DIR/bird-$n.pid" "$E2E_DIR/keepalived-$n.pid" \
		"$E2E_DIR/keepalived-$n-vrrp.pid"
}

# nd_vip_holder: the node whose eth0 is up and carries the VIP (vrrp)
nd_vip_holder() {
	local n
	for n in "${NODES[@]}"; do
		ip -n "${NODE_NS[$n]}" -4 addr show dev eth0 up 2>/dev/null | grep -q " $VIP/" &&
			echo "$n"
	done
}

# nd_wait_vip SECONDS NODE: wait (polling every 20 ms) until NODE alone
# holds the VIP; print the time. Status 1 on timeout.
nd_wait_vip() {
	local end=$(($(date +%s%N) + $1 * 1000000000))
	while [ "$(nd_vip_holder | tr '\n' ' ')" != "$2 " ]; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.02
	done
	e2e_now
}

# nd_route_info: the router's view of the VIP, one line
nd_route_info() {
	if [ "$ROUTING" = vrrp ]; then
		echo "VIP on $(nd_vip_holder | tr '\n' ' ')($(ip -n "$E2E_NS_LB" neigh show "$VIP" | awk '{ print $5 }'))"
	else
		ip -n "$E2E_NS_LB" route show "$VIP/32" | tr -s ' \n\t' ' '
	fi
}

# nd_check_gaps LABEL T MAX CLIENT...: each CLIENT answers again within MAX
# seconds of its last reply before T; sets GAPS_MAX
nd_check_gaps() {
	local label=$1 t=$2 max=$3 c g gap lost
	shift 3
	GAPS_MAX=0
	for c in "$@"; do
		e2e_wait_ping_reply "$c" "$t" 10 >/dev/null ||
			nd_fail "$label: $c got no ping reply within 10 s"
		g=$(e2e_ping_gap "$c" "$t")
		[ -n "$g" ] || nd_fail "$label: no reply of $c before the event to measure from"
		read -r gap lost <<<"$g"
		e2e_log "  $c: gap $gap s, $lost echo(es) lost"
		case $label in
		failover*) [ -n "${RESTART_GAPS:-}" ] && echo "$label $c $gap $lost" >>"$RESTART_GAPS" ;;
		esac
		fle "$gap" "$max" || nd_fail "$label: $c's tunnel was broken for $gap s (want <= $max s)"
		fle "$gap" "$GAPS_MAX" || GAPS_MAX=$gap
	done
}

# nd_check_learned NODE CLIENT...: NODE learned each CLIENT's tunnel and
# holds it on the backend with the client's handshake, and that backend
# now sends the client's packets to NODE
nd_check_learned() {
	local n=$1 c sess got owner ep
	shift
	sess=$(nd_sessions "$n") || nd_fail "wglbctl sessions on $n failed"
	for c in "$@"; do
		owner=$(e2e_serving_backend "$c")
		got=$(printf '%s\n' "$sess" | awk -v e="${E2E_ADDR4[$c]}:${E2E_PORTOF[$c]}" '$1 == e { print $2 }')
		[ "$got" = "$owner" ] ||
			nd_fail "$c's session on $n is on '${got:-none}', its handshake is on $owner"
		ep=$(e2e_backend_endpoint "$owner" "$c")
		case $ep in
		"${NODE_ADDR[$n]}":*) ;;
		*) nd_fail "$owner sends $c's packets to $ep, not to node $n (${NODE_ADDR[$n]})" ;;
		esac
		e2e_log "  $c: on $n, backend $got, which sends to $ep"
	done
}

e2e_init
e2e_log "run $E2E_RUN: building topology (router, 2 wglbd nodes, 3 backends, 4 clients; $ROUTING)"
e2e_lb_ns                       # the router
e2e_lb_routing on
if [ "$ROUTING" != vrrp ]; then
	ip netns exec "$E2E_NS_LB" sh -c 'echo 1 >/proc/sys/net/ipv4/fib_multipath_hash_policy' ||
		e2e_skip "no fib_multipath_hash_policy (kernel without multipath routing?)"
fi
for b in b1 b2 b3; do e2e_add_backend "$b"; done
for c in "${CLIENTS[@]}"; do
	e2e_add_client "$c" v4
	e2e_wg "$c" set "${E2E_IF[$c]}" peer "$E2E_SRV_PUB" endpoint "$VIP:$E2E_PORT" ||
		e2e_fail "setting $c's endpoint to the VIP"
done
# node n1 probes with lib's probe key (a peer on every backend already), n2
# with a key of its own, added to every backend
NODE_KEY[n1]=$E2E_PROBE_KEY
NODE_KEY[n2]=$E2E_DIR/probe-n2.key
(umask 077 && wg genkey >"${NODE_KEY[n2]}") || e2e_fail "wg genkey"
for b in "${E2E_BACKENDS[@]}"; do
	e2e_wg "$b" set "${E2E_IF[$b]}" peer "$(wg pubkey <"${NODE_KEY[n2]}")" ||
		e2e_fail "adding n2's probe key to $b"
done
for n in "${NODES[@]}"; do
	nd_add_node "$n"
	nd_write_conf "$n"
	nd_start "$n"
done
case $ROUTING in
static)
	nd_route "${NODES[@]}"
	;;
bgp)
	nd_bgp_setup
	for n in "${NODES[@]}"; do nd_routing_start "$n"; done
	nd_wait_nexthops 30 "${NODES[@]}" >/dev/null ||
		nd_fail "BIRD did not give the router a route to $VIP via both nodes within 30 s (next hops: $(nd_nexthops))"
	;;
vrrp)
	nd_vrrp_setup
	for n in "${NODES[@]}"; do nd_routing_start "$n"; done
	# both start as BACKUP: the one with priority 150 (n1) becomes master
	# after the master-down interval (about 3.5 s)
	nd_wait_vip 15 n1 >/dev/null ||
		nd_fail "keepalived did not put the VIP on n1 within 15 s (holder: $(nd_vip_holder))"
	;;
esac
e2e_log "router ($ROUTING): $(nd_route_info)"
for c in "${CLIENTS[@]}"; do
	t=$(e2e_now)
	e2e_ping_bg "$c" "$PING_SECS" "$PING_IV"
	e2e_wait_ping_reply "$c" "$t" 10 >/dev/null ||
		nd_fail "client $c gets no ping reply through the tunnel within 10 s"
done
e2e_log "topology up, both nodes healthy, 4 clients pinging, in $(($(date +%s) - T0)) s"
sleep 1

# ---- 1. who carries whom -----------------------------------------------------
e2e_check "1. the clients reach wglbd through the nodes"
declare -A NODE_OF=() COUNT=()
for c in "${CLIENTS[@]}"; do
	NODE_OF[$c]=$(nd_node_of "$c") || nd_fail "no node holds an active session for $c"
	COUNT[${NODE_OF[$c]}]=$((${COUNT[${NODE_OF[$c]}]:-0} + 1))
	e2e_log "  $c: node ${NODE_OF[$c]}, backend $(e2e_serving_backend "$c")"
done
victim='' most=0
for n in "${NODES[@]}"; do
	if [ "${COUNT[$n]:-0}" -gt "$most" ]; then victim=$n most=${COUNT[$n]}; fi
done
survivor=n1
[ "$victim" = n1 ] && survivor=n2
if [ "$ROUTING" = vrrp ] && [ "$victim" != n1 ]; then
	nd_fail "VRRP master n1 holds the VIP, but the clients are on $victim"
fi
moved=() stayed=()
for c in "${CLIENTS[@]}"; do
	if [ "${NODE_OF[$c]}" = "$victim" ]; then moved+=("$c"); else stayed+=("$c"); fi
done
e2e_pass "n1: ${COUNT[n1]:-0} client(s), n2: ${COUNT[n2]:-0} client(s)"

# ---- 2. failover -------------------------------------------------------------
case $ROUTING-$KILL in
static-*) what="kill -9 wglbd on $victim and remove its nexthop" ;;
bgp-wglbd) what="kill -9 wglbd on $victim: wglb-bird-check withdraws the VIP" ;;
vrrp-wglbd) what="kill -9 wglbd on $victim: the track script fails, keepalived moves the VIP" ;;
bgp-node) what="node $victim dies (all its processes killed, link down): BFD ends its BGP session" ;;
vrrp-node) what="node $victim dies (all its processes killed, link down): the backup takes the VIP" ;;
esac
e2e_check "2. $what: ${moved[*]} go on through $survivor without a new handshake"
hs0=$(e2e_handshakes "${CLIENTS[@]}")
st=$(nd_on "$survivor" e2e_wglbd_stats) || nd_fail "no stats from $survivor"
learned0=$(e2e_stat_global "$st" sessions_learned)
t_kill=$(e2e_now)
if [ "$KILL" = node ]; then
	nd_kill_node "$victim"
else
	kill -KILL "${NODE_PID[$victim]}"
	wait "${NODE_PID[$victim]}" 2>/dev/null
fi
case $ROUTING in
static)
	nd_route "$survivor"
	;;
bgp)
	t=$(nd_wait_nexthops 10 "$survivor") ||
		nd_fail "the router still routes $VIP via $(nd_nexthops) 10 s after $victim failed"
	e2e_log "  the router dropped $victim's path $(fdiff "$t" "$t_kill") s after the failure"
	;;
vrrp)
	t=$(nd_wait_vip 15 "$survivor") ||
		nd_fail "the VIP is on '$(nd_vip_holder | tr '\n' ' ')', not on $survivor alone, 15 s after $victim failed"
	e2e_log "  keepalived moved the VIP to $survivor $(fdiff "$t" "$t_kill") s after the failure"
	;;
esac
if [ "$ROUTING" != static ] && [ -n "${RESTART_GAPS:-}" ]; then
	echo "detect-$MODE - $(fdiff "$t" "$t_kill") 0" >>"$RESTART_GAPS"
fi
e2e_log "  router: $(nd_route_info)"
nd_check_gaps "failover-$MODE" "$t_kill" "$MAX_GAP_MOVED" "${moved[@]}"
moved_max=$GAPS_MAX
if [ ${#stayed[@]} -gt 0 ]; then
	e2e_log "  clients of $survivor:"
	nd_check_gaps other "$t_kill" "$MAX_GAP_OTHER" "${stayed[@]}"
fi
sleep 1
if d=$(e2e_handshakes_changed "$hs0" "${CLIENTS[@]}"); then
	nd_fail "2. after the failover: a backend saw a new handshake: $d"
fi
st=$(nd_on "$survivor" e2e_wglbd_stats) || nd_fail "no stats from $survivor"
learned=$(($(e2e_stat_global "$st" sessions_learned) - learned0))
e2e_log "  $survivor: sessions_learned +$learned, learn_copies=$(e2e_stat_global "$st" learn_copies)"
[ "$learned" = "${#moved[@]}" ] ||
	nd_fail "$survivor learned $learned tunnel(s), want ${#moved[@]} (${moved[*]})"
nd_check_learned "$survivor" "${moved[@]}"
e2e_pass "moved clients answer again within $moved_max s, handshakes unchanged, $learned tunnel(s) learned by $survivor"

# ---- 3. failback -------------------------------------------------------------
who="wglbd on $victim"
[ "$KILL" = node ] && who="node $victim"
if [ "$ROUTING" = vrrp ]; then
	e2e_check "3. $who comes back: with nopreempt the VIP stays on $survivor, nothing moves"
else
	e2e_check "3. $who comes back with its nexthop: tunnels hashed to it move back, learned, no new handshake"
fi
if [ "$KILL" = node ]; then
	nd_revive_node "$victim"
	nd_start "$victim"
	nd_routing_start "$victim"
else
	nd_start "$victim"
fi
hs0=$(e2e_handshakes "${CLIENTS[@]}")
case $ROUTING in
static)
	t_back=$(e2e_now)
	nd_route "${NODES[@]}"
	;;
bgp)
	t_back=$(nd_wait_nexthops 30 "${NODES[@]}") ||
		nd_fail "BIRD did not bring back the path via $victim within 30 s (next hops: $(nd_nexthops))"
	;;
vrrp)
	t_back=$(e2e_now)
	sleep 5         # rise 2 x 1 s, a few adverts (after a node death: its start)
	[ "$(nd_vip_holder | tr '\n' ' ')" = "$survivor " ] ||
		nd_fail "the VIP moved when wglbd on $victim came back (holder: $(nd_vip_holder | tr '\n' ' '))"
	;;
esac
if [ "$ROUTING" = vrrp ]; then
	nd_check_gaps failback "$t_back" "$MAX_GAP_OTHER" "${CLIENTS[@]}"
else
	nd_check_gaps failback "$t_back" "$MAX_GAP_MOVED" "${CLIENTS[@]}"
fi
sleep 1
if d=$(e2e_handshakes_changed "$hs0" "${CLIENTS[@]}"); then
	nd_fail "3. after the failback: a backend saw a new handshake: $d"
fi
back=()
for c in "${CLIENTS[@]}"; do
	n=$(nd_node_of "$c") || nd_fail "no node holds an active session for $c"
	[ "$n" = "$victim" ] && back+=("$c")
done
e2e_log "  clients on $victim again: ${back[*]:-none}"
st=$(nd_on "$victim" e2e_wglbd_stats) || nd_fail "no stats from $victim"
learned=$(e2e_stat_global "$st" sessions_learned)
[ "$learned" = "${#back[@]}" ] ||
	nd_fail "$victim learned $learned tunnel(s), want ${#back[@]} (${back[*]})"
[ ${#back[@]} -eq 0 ] || nd_check_learned "$victim" "${back[@]}"
e2e_pass "${#back[@]} tunnel(s) back on $victim, learned, handshakes unchanged"

for n in "${NODES[@]}"; do
	kill -0 "${NODE_PID[$n]}" 2>/dev/null || nd_fail "wglbd on $n died"
done
e2e_log "PASS: all checks in $(($(date +%s) - T0)) s"
exit 0
