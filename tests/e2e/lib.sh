# shellcheck shell=bash
# tests/e2e/lib.sh: network-namespace topology helpers for wglb end-to-end
# tests, benchmarks and the demo. Source it from bash; it sets no shell
# options of its own.
#
# Topology (every name carries a per-run id, so runs never collide):
#
#   client ns  --veth--+                         +--veth-- backend ns
#   (wireguard-go,     |  lb ns                  |  (wireguard-go, shared key K,
#    own key, peer K   +- br "brc" VIP ... "brb" +   tunnel 10.77.0.1, iperf3 -s)
#    endpoint = VIP)      wglbd listens :51820
#
#   client side  10.200.0.0/24      fd42:6c62:0:0::/64   VIP .1 / ::1
#   backend side 10.200.1.0/24      fd42:6c62:0:1::/64   lb  .1 / ::1
#   tunnel       10.77.0.0/24       fd42:6c62:77::/64    every backend is .1 / ::1,
#                                                        client number k is .(10+k)
#
# All addresses live inside namespaces this library creates; no traffic
# leaves them. Every wait loop is bounded.
#
# Main entry points (see each function for details):
#   e2e_require_root_and_tools   exit 77 unless root and the tools exist
#   e2e_init                     run id, work dir, cleanup trap
#   e2e_lb_ns                    the middle namespace with both bridges
#   e2e_add_backend NAME [noprobe] [ownlink]
#                                backend namespace + wireguard-go + iperf3
#   e2e_add_client NAME [v4|v6|direct:BACKEND|direct6:BACKEND]
#   e2e_write_conf FILE [LINE...] wglbd config for the backends added so far
#   e2e_start_wglbd CONF         wglbd in the lb ns, waits until it listens
#   e2e_wglbd_stats              SIGUSR1, prints the fresh "stats:" lines
#   e2e_handshake_of BACKEND CLIENT, e2e_serving_backend CLIENT, ...
#
# Health checks (see "health" below): e2e_init makes a probe key pair
# ($E2E_PROBE_KEY, $E2E_PROBE_PUB) and every backend lists its public key as
# a peer unless added with "noprobe"; E2E_HEALTH=1 makes e2e_write_conf
# emit a [health] section (E2E_HEALTH_LINES, E2E_BACKEND_LINES[NAME] add
# lines). Helpers: e2e_kill_backend_wg, e2e_restart_backend_wg,
# e2e_backend_link, e2e_log_mark, e2e_log_grep, e2e_wait_log, e2e_log_epoch,
# e2e_re_escape, e2e_backend_health, e2e_wait_health, e2e_wglbd_reload,
# e2e_now, e2e_ping_bg, e2e_ping_first_reply, e2e_ping_replies,
# e2e_wait_ping_reply.
#
# Operations (see "operations" below): E2E_METRICS=1 makes e2e_write_conf
# emit a [metrics] section listening on $E2E_METRICS_ADDR (loopback of the
# lb ns); E2E_CONF_SKIP="b4 ..." leaves backends out of the file (to add
# them by a reload). Helpers: e2e_find_wglbctl, e2e_ctl, e2e_ctl_backend,
# e2e_metrics_get, e2e_metric, e2e_add_host, e2e_backends_add_peer.

E2E_PORT=51820
E2E_VIP4=10.200.0.1
E2E_VIP6=fd42:6c62::1
E2E_LB_B4=10.200.1.1
E2E_LB_B6=fd42:6c62:0:1::1
E2E_TUN4=10.77.0.1
E2E_TUN6=fd42:6c62:77::1
: "${E2E_IPERF_SERVERS:=4}"        # iperf3 servers per backend (ports 5201..)
: "${E2E_VERBOSE:=0}"
: "${E2E_METRICS_ADDR:=127.0.0.1:9586}"  # [metrics] listen (E2E_METRICS=1)

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

E2E_PIDS=()                 # every background process this run started
E2E_NAMESPACES=()           # every namespace this run created
E2E_IFACES=()               # every wireguard-go interface (for the .sock files)
E2E_BACKENDS=()             # backend names in creation order
E2E_CLIENTS=()              # client names in creation order
declare -A E2E_NS=()        # name -> namespace
declare -A E2E_IF=()        # name -> wireguard interface
declare -A E2E_IDX=()       # name -> number (backends and clients count apart)
declare -A E2E_ADDR4=()     # name -> veth IPv4 address
declare -A E2E_ADDR6=()     # name -> veth IPv6 address
declare -A E2E_TADDR4=()    # client name -> tunnel IPv4 address
declare -A E2E_PUB=()       # client name -> public key
declare -A E2E_PORTOF=()    # client name -> WireGuard listen port
declare -A E2E_WGPID=()     # name -> wireguard-go pid
declare -A E2E_WGDOWN=()    # backend name -> 1 while its wireguard-go is stopped
declare -A E2E_NOPROBE=()   # backend name -> 1: the probe key is not a peer there
declare -A E2E_LBLINK=()    # backend name -> its link in the lb ns (veth)
declare -A E2E_LBADDR4=()   # backend name -> lb-side IPv4 address it routes via
declare -A E2E_LBADDR6=()   # backend name -> lb-side IPv6 address it routes via
declare -A E2E_BACKEND_LINES=()  # backend name -> extra lines for its section
E2E_HEALTH_LINES=()         # extra lines for [health] (with E2E_HEALTH=1)
E2E_EXTRA_PEERS=()          # "PUBKEY ALLOWED-IPS": peers every backend gets
E2E_HOSTS=()                # plain hosts on the client bridge (e2e_add_host)
E2E_PROBE_KEY=
E2E_PROBE_PUB=
E2E_WGLBD_PID=
E2E_WGLBD_LOG=
E2E_LAST_PID=

e2e_log() { printf '%s %s\n' "$(date +%T)" "$*"; }
e2e_debug() { [ "$E2E_VERBOSE" = 1 ] && e2e_log "debug: $*"; return 0; }

# e2e_check MESSAGE: announce one assertion.
e2e_check() { e2e_log "CHECK: $*"; }
e2e_pass() { e2e_log "  ok: $*"; }

# e2e_fail MESSAGE: print diagnostics and end the script with status 1.
e2e_fail() {
	e2e_log "FAIL: $*" >&2
	e2e_diag >&2
	exit 1
}

# e2e_skip MESSAGE: exit 77, automake's "skipped".
e2e_skip() {
	e2e_log "SKIP: $*" >&2
	exit 77
}

e2e_require_root_and_tools() {
	local t missing=()
	[ "$(id -u)" = 0 ] || e2e_skip "needs root (network namespaces, TUN devices)"
	for t in "$@" wireguard-go wg ip ping iperf3 tcpdump ss timeout python3; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	[ ${#missing[@]} -eq 0 ] || e2e_skip "missing tools: ${missing[*]}"
	[ -c /dev/net/tun ] || e2e_skip "missing /dev/net/tun (needed by wireguard-go)"
}

# e2e_find_wglbd: sets WGLBD to the wglbd binary. Order: $WGLBD,
# $abs_top_builddir/wglbd, $top_builddir/wglbd, ../../wglbd next to this file.
e2e_find_wglbd() {
	local c
	if [ -n "${WGLBD:-}" ]; then
		:
	elif [ -n "${abs_top_builddir:-}" ]; then
		WGLBD=$abs_top_builddir/wglbd
	elif [ -n "${top_builddir:-}" ]; then
		WGLBD=$top_builddir/wglbd
	else
		WGLBD=$E2E_LIB_DIR/../../wglbd
		for c in "$E2E_LIB_DIR/../../wglbd" "$E2E_LIB_DIR/../../src/wglbd"; do
			if [ -x "$c" ]; then WGLBD=$c; break; fi
		done
	fi
	case $WGLBD in /*) ;; *) WGLBD=$(pwd)/$WGLBD ;; esac
	[ -x "$WGLBD" ] || return 1
	return 0
}

e2e_init() {
	local pidhex
	pidhex=$(printf '%06x' "$$")   # ${x: -6} of a shorter string is empty
	# <= 6 hex digits of pid + 2 random: interface names "w<run>b<k>" stay <= 15
	E2E_RUN=$(printf '%s%02x' "${pidhex: -6}" $((RANDOM % 256)))
	E2E_NS_LB=wglb-$E2E_RUN-lb
	E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wglb-e2e-$E2E_RUN.XXXXXX") ||
		{ echo "cannot create work dir" >&2; exit 1; }
	trap 'e2e_cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	(umask 077 && wg genkey >"$E2E_DIR/server.key") || e2e_fail "wg genkey"
	E2E_SRV_PUB=$(wg pubkey <"$E2E_DIR/server.key")
	# the health probe's key pair; wglbd wants the private key file 0600
	E2E_PROBE_KEY=$E2E_DIR/probe.key
	(umask 077 && wg genkey >"$E2E_PROBE_KEY") || e2e_fail "wg genkey (probe)"
	E2E_PROBE_PUB=$(wg pubkey <"$E2E_PROBE_KEY")
	e2e_debug "run id $E2E_RUN, work dir $E2E_DIR"
}

# e2e_bg NS LOGFILE CMD...: start CMD in namespace NS in the background,
# remember its pid (also in E2E_LAST_PID). "ip netns exec" execs CMD, so the
# pid is CMD's own.
e2e_bg() {
	local ns=$1 log=$2
	shift 2
	ip netns exec "$ns" "$@" </dev/null >"$log" 2>&1 &
	E2E_LAST_PID=$!
	E2E_PIDS+=("$E2E_LAST_PID")
}

# e2e_stop_pid PID: TERM, then KILL after ~2 s. Only pids we started.
e2e_stop_pid() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 20); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

e2e_cleanup() {
	local rc=$? pid ns ifc p
	trap - EXIT INT TERM
	for pid in "${E2E_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${E2E_PIDS[@]}"; do
		e2e_stop_pid "$pid"
	done
	# Anything still inside our own namespaces (children of what we started)
	for ns in "${E2E_NAMESPACES[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
	done
	for ns in "${E2E_NAMESPACES[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	for ifc in "${E2E_IFACES[@]}"; do
		rm -f "/var/run/wireguard/$ifc.sock"
	done
	if [ -n "${E2E_DIR:-}" ] && [ -d "$E2E_DIR" ]; then
		if [ "$rc" = 0 ] || [ "$rc" = 77 ]; then
			[ "${E2E_KEEP:-0}" = 1 ] || rm -rf "$E2E_DIR"
		else
			echo "e2e: logs kept in $E2E_DIR" >&2
		fi
	fi
	exit "$rc"
}

# e2e_netns NAME: create a namespace with lo up and no IPv6 DAD delays.
e2e_netns() {
	local ns=$1
	ip netns add "$ns" || e2e_fail "ip netns add $ns"
	E2E_NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up
	# shellcheck disable=SC2016
	ip netns exec "$ns" sh -c '
		for k in all default; do
			echo 0 >/proc/sys/net/ipv6/conf/$k/accept_dad
			echo 0 >/proc/sys/net/ipv6/conf/$k/dad_transmits
		done' 2>/dev/null
	return 0
}

# e2e_lb_ns: the balancer's namespace. Bridge "brc" faces the clients and
# carries the VIPs; bridge "brb" faces the backends.
e2e_lb_ns() {
	local ns=$E2E_NS_LB
	e2e_netns "$ns"
	# Fixed MACs: a bridge whose address was never set takes the lowest MAC
	# of its ports and changes it when a lower one joins; neighbours that
	# cached the old one then lose their frames until ARP renews (~30 s).
	ip -n "$ns" link add brc address 02:77:6c:62:00:01 type bridge forward_delay 0 stp_state 0 ||
		e2e_fail "bridge brc"
	ip -n "$ns" link add brb address 02:77:6c:62:00:02 type bridge forward_delay 0 stp_state 0 ||
		e2e_fail "bridge brb"
	ip -n "$ns" addr add "$E2E_VIP4/24" dev brc
	ip -n "$ns" addr add "$E2E_VIP6/64" dev brc nodad
	ip -n "$ns" addr add "$E2E_LB_B4/24" dev brb
	ip -n "$ns" addr add "$E2E_LB_B6/64" dev brb nodad
	ip -n "$ns" link set brc up
	ip -n "$ns" link set brb up
}

# e2e_lb_routing on|off: let the lb namespace route between clients and
# backends (only needed when a client talks to a backend directly).
e2e_lb_routing() {
	local v=0
	[ "$1" = on ] && v=1
	ip netns exec "$E2E_NS_LB" sh -c "
		echo $v >/proc/sys/net/ipv4/ip_forward
		echo $v >/proc/sys/net/ipv6/conf/all/forwarding"
}

# e2e_veth NS LBNAME BRIDGE: veth pair, "eth0" in NS, LBNAME in the lb ns
# enslaved to BRIDGE.
e2e_veth() {
	local ns=$1 lbname=$2 br=$3
	ip -n "$E2E_NS_LB" link add "$lbname" type veth peer name eth0 netns "$ns" ||
		e2e_fail "veth $lbname"
	ip -n "$E2E_NS_LB" link set "$lbname" master "$br"
	ip -n "$E2E_NS_LB" link set "$lbname" up
	ip -n "$ns" link set eth0 up
}

# e2e_start_wg NAME NS IF: start wireguard-go for IF inside NS and wait for
# its control socket.
e2e_start_wg() {
	local name=$1 ns=$2 ifc=$3
	E2E_IFACES+=("$ifc")
	e2e_bg "$ns" "$E2E_DIR/wg-$name.log" env LOG_LEVEL="${E2E_WG_LOG_LEVEL:-error}" \
		wireguard-go -f "$ifc"
	E2E_WGPID[$name]=$E2E_LAST_PID
	for _ in $(seq 1 50); do
		[ -S "/var/run/wireguard/$ifc.sock" ] && ip -n "$ns" link show "$ifc" >/dev/null 2>&1 &&
			return 0
		kill -0 "${E2E_WGPID[$name]}" 2>/dev/null ||
			e2e_fail "wireguard-go for $name exited: $(cat "$E2E_DIR/wg-$name.log")"
		sleep 0.1
	done
	e2e_fail "wireguard-go for $name did not create $ifc within 5 s"
}

# e2e_wg NAME ARGS...: run "wg ARGS" against NAME's namespace.
e2e_wg() {
	local name=$1
	shift
	ip netns exec "${E2E_NS[$name]}" wg "$@"
}

# e2e_add_backend NAME [OPTION...]: namespace, veth to the lb ns
# (10.200.1.(10+k), fd42:6c62:0:1::(10+k)), wireguard-go with the shared key
# on port 51820, tunnel address 10.77.0.1/24 + fd42:6c62:77::1/64, every
# known client as a peer, the health probe's public key as a peer, and
# iperf3 servers on the tunnel address, ports 5201..
# Options:
#   noprobe  do not list the probe key as a peer (probes go unanswered)
#   ownlink  a link of its own instead of a port on bridge brb: the lb ns
#            end "vb<k>" holds 10.200.(100+k).1/24 + fd42:6c62:0:(100+k)::1/64,
#            the backend 10.200.(100+k).2 / ::2, so "ip link set vb<k> down"
#            in the lb ns removes wglbd's route to it (a bridge port going
#            down does not: the bridge stays up while other ports are)
e2e_add_backend() {
	local name=$1 k ns ifc p o probe=1 ownlink=0 lb4 lb6
	shift
	for o in "$@"; do
		case $o in
		noprobe) probe=0 ;;
		ownlink) ownlink=1 ;;
		*) e2e_fail "e2e_add_backend $name: unknown option $o" ;;
		esac
	done
	k=$((${#E2E_BACKENDS[@]} + 1))
	ns=wglb-$E2E_RUN-$name
	ifc=w${E2E_RUN}b$k
	E2E_BACKENDS+=("$name")
	E2E_NS[$name]=$ns
	E2E_IF[$name]=$ifc
	E2E_IDX[$name]=$k
	E2E_LBLINK[$name]=vb$k
	[ "$probe" = 1 ] || E2E_NOPROBE[$name]=1
	e2e_netns "$ns"
	if [ "$ownlink" = 1 ]; then
		E2E_ADDR4[$name]=10.200.$((100 + k)).2
		E2E_ADDR6[$name]=fd42:6c62:0:$((100 + k))::2
		lb4=10.200.$((100 + k)).1
		lb6=fd42:6c62:0:$((100 + k))::1
		ip -n "$E2E_NS_LB" link add "vb$k" type veth peer name eth0 netns "$ns" ||
			e2e_fail "veth vb$k"
		# keep the IPv6 address while the link is down, as IPv4 does
		ip netns exec "$E2E_NS_LB" sh -c "echo 1 >/proc/sys/net/ipv6/conf/vb$k/keep_addr_on_down" 2>/dev/null
		ip -n "$E2E_NS_LB" addr add "$lb4/24" dev "vb$k"
		ip -n "$E2E_NS_LB" addr add "$lb6/64" dev "vb$k" nodad
		ip -n "$E2E_NS_LB" link set "vb$k" up
		ip -n "$ns" link set eth0 up
	else
		E2E_ADDR4[$name]=10.200.1.$((10 + k))
		E2E_ADDR6[$name]=fd42:6c62:0:1::$((10 + k))
		lb4=$E2E_LB_B4
		lb6=$E2E_LB_B6
		e2e_veth "$ns" "vb$k" brb
	fi
	# shellcheck disable=SC2034  # for the scripts that source this file
	E2E_LBADDR4[$name]=$lb4
	# shellcheck disable=SC2034
	E2E_LBADDR6[$name]=$lb6
	ip -n "$ns" addr add "${E2E_ADDR4[$name]}/24" dev eth0
	ip -n "$ns" addr add "${E2E_ADDR6[$name]}/64" dev eth0 nodad
	ip -n "$ns" route add 10.200.0.0/16 via "$lb4"
	ip -n "$ns" -6 route add fd42:6c62::/48 via "$lb6"
	e2e_backend_wg_up "$name"
	for p in $(seq 5201 $((5200 + E2E_IPERF_SERVERS))); do
		e2e_bg "$ns" "$E2E_DIR/iperf3-$name-$p.log" iperf3 -s -B "$E2E_TUN4" -p "$p"
	done
	e2e_debug "backend $name: ns $ns if $ifc ${E2E_ADDR4[$name]} ${E2E_ADDR6[$name]}"
}

# e2e_backend_wg_up NAME: start and configure the backend's wireguard-go
# (key, port, every client, the probe peer unless "noprobe", tunnel
# addresses). Used by e2e_add_backend and e2e_restart_backend_wg.
e2e_backend_wg_up() {
	local name=$1 ns=${E2E_NS[$1]} ifc=${E2E_IF[$1]} c
	e2e_start_wg "$name" "$ns" "$ifc"
	unset "E2E_WGDOWN[$name]"
	e2e_wg "$name" set "$ifc" private-key "$E2E_DIR/server.key" listen-port "$E2E_PORT" ||
		e2e_fail "wg set on backend $name"
	for c in "${E2E_CLIENTS[@]}"; do
		e2e_backend_add_client_peer "$name" "$c"
	done
	for c in "${E2E_EXTRA_PEERS[@]}"; do
		# shellcheck disable=SC2086  # "PUBKEY ALLOWED-IPS"
		e2e_backend_add_peer "$name" $c
	done
	if [ -z "${E2E_NOPROBE[$name]:-}" ] && [ -n "$E2E_PROBE_PUB" ]; then
		e2e_wg "$name" set "$ifc" peer "$E2E_PROBE_PUB" ||
			e2e_fail "adding the probe peer to backend $name"
	fi
	ip -n "$ns" addr add "$E2E_TUN4/24" dev "$ifc"
	ip -n "$ns" addr add "$E2E_TUN6/64" dev "$ifc" nodad
	ip -n "$ns" link set "$ifc" up || e2e_fail "link up $ifc"
}

e2e_backend_add_client_peer() {
	local b=$1 c=$2 k=${E2E_IDX[$2]}
	e2e_wg "$b" set "${E2E_IF[$b]}" peer "${E2E_PUB[$c]}" \
		allowed-ips "10.77.0.$((10 + k))/32,fd42:6c62:77::$((10 + k))/128" ||
		e2e_fail "adding client $c to backend $b"
}

# e2e_backend_add_peer BACKEND PUBKEY ALLOWED-IPS: one more peer on BACKEND.
e2e_backend_add_peer() {
	e2e_wg "$1" set "${E2E_IF[$1]}" peer "$2" allowed-ips "$3" ||
		e2e_fail "adding peer $2 to backend $1"
}

# e2e_client_endpoint SPEC: v4 (default), v6, direct:BACKEND, direct6:BACKEND
e2e_client_endpoint() {
	case ${1:-v4} in
	v4) echo "$E2E_VIP4:$E2E_PORT" ;;
	v6) echo "[$E2E_VIP6]:$E2E_PORT" ;;
	direct:*) echo "${E2E_ADDR4[${1#direct:}]}:$E2E_PORT" ;;
	direct6:*) echo "[${E2E_ADDR6[${1#direct6:}]}]:$E2E_PORT" ;;
	*) e2e_fail "unknown client endpoint spec $1" ;;
	esac
}

# e2e_add_client NAME [SPEC]: namespace, veth to the lb ns (10.200.0.(10+k),
# fd42:6c62::(10+k)), its own key, listen port 40000+k, tunnel address
# 10.77.0.(10+k)/24, one peer (the shared public key) whose endpoint is the
# VIP (SPEC v4 or v6) or a backend directly (direct:BACKEND, which needs
# "e2e_lb_routing on"). Every backend gets this client as a peer.
e2e_add_client() {
	local name=$1 spec=${2:-v4} k ns ifc b ep
	k=$((${#E2E_CLIENTS[@]} + 1))
	ns=wglb-$E2E_RUN-$name
	ifc=w${E2E_RUN}c$k
	E2E_CLIENTS+=("$name")
	E2E_NS[$name]=$ns
	E2E_IF[$name]=$ifc
	E2E_IDX[$name]=$k
	E2E_ADDR4[$name]=10.200.0.$((10 + k))
	E2E_ADDR6[$name]=fd42:6c62::$((10 + k))
	E2E_TADDR4[$name]=10.77.0.$((10 + k))
	E2E_PORTOF[$name]=$((40000 + k))
	(umask 077 && wg genkey >"$E2E_DIR/$name.key") || e2e_fail "wg genkey"
	E2E_PUB[$name]=$(wg pubkey <"$E2E_DIR/$name.key")
	e2e_netns "$ns"
	e2e_veth "$ns" "vc$k" brc
	ip -n "$ns" addr add "${E2E_ADDR4[$name]}/24" dev eth0
	ip -n "$ns" addr add "${E2E_ADDR6[$name]}/64" dev eth0 nodad
	ip -n "$ns" route add 10.200.0.0/16 via "$E2E_VIP4"
	ip -n "$ns" -6 route add fd42:6c62::/48 via "$E2E_VIP6"
	e2e_start_wg "$name" "$ns" "$ifc"
	ep=$(e2e_client_endpoint "$spec")
	e2e_wg "$name" set "$ifc" private-key "$E2E_DIR/$name.key" \
		listen-port "${E2E_PORTOF[$name]}" \
		peer "$E2E_SRV_PUB" endpoint "$ep" \
		allowed-ips "10.77.0.0/24,fd42:6c62:77::/64" ||
		e2e_fail "wg set on client $name"
	ip -n "$ns" addr add "${E2E_TADDR4[$name]}/24" dev "$ifc"
	ip -n "$ns" addr add "fd42:6c62:77::$((10 + k))/64" dev "$ifc" nodad
	ip -n "$ns" link set "$ifc" up || e2e_fail "link up $ifc"
	for b in "${E2E_BACKENDS[@]}"; do
		# a stopped backend gets every client when it is restarted
		[ -n "${E2E_WGDOWN[$b]:-}" ] && continue
		e2e_backend_add_client_peer "$b" "$name"
	done
	e2e_debug "client $name: ns $ns if $ifc endpoint $ep"
}

# e2e_client_set_port CLIENT PORT: change the client's WireGuard listen port
# (a NAT rebinding, as the balancer sees it).
e2e_client_set_port() {
	e2e_wg "$1" set "${E2E_IF[$1]}" listen-port "$2" || return 1
	E2E_PORTOF[$1]=$2
}

# e2e_kill_backend_wg BACKEND [KILL]: stop the backend's wireguard-go
# (failover): TERM (then KILL after ~2 s), or with "KILL" a crash: SIGKILL
# at once. Returns once the process is gone.
e2e_kill_backend_wg() {
	local pid=${E2E_WGPID[$1]}
	if [ "${2:-}" = KILL ]; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	else
		e2e_stop_pid "$pid"
	fi
	E2E_WGDOWN[$1]=1
	return 0
}

# e2e_restart_backend_wg BACKEND: a new wireguard-go on the same interface
# name, with the same key, port, clients (all of them, also those added
# while it was stopped) and probe peer.
e2e_restart_backend_wg() {
	local name=$1 ifc=${E2E_IF[$1]}
	e2e_stop_pid "${E2E_WGPID[$name]}"
	E2E_WGDOWN[$name]=1
	# the tun device goes with the process; a killed one leaves its socket
	for _ in $(seq 1 50); do
		ip -n "${E2E_NS[$name]}" link show "$ifc" >/dev/null 2>&1 || break
		sleep 0.1
	done
	rm -f "/var/run/wireguard/$ifc.sock"
	e2e_backend_wg_up "$name"
}

# e2e_backend_link BACKEND: the backend's link in the lb namespace.
e2e_backend_link() {
	echo "${E2E_LBLINK[$1]}"
}

# e2e_ns_exec NAME CMD...: run CMD in NAME's namespace (lb for the balancer).
e2e_ns_exec() {
	local name=$1 ns
	shift
	if [ "$name" = lb ]; then ns=$E2E_NS_LB; else ns=${E2E_NS[$name]}; fi
	ip netns exec "$ns" "$@"
}

# e2e_ping CLIENT [COUNT [WAIT [TARGET]]]: ping through the tunnel.
e2e_ping() {
	local c=$1 n=${2:-3} w=${3:-2} target=${4:-$E2E_TUN4}
	ip netns exec "${E2E_NS[$c]}" ping -n -q -c "$n" -W "$w" -i 0.2 "$target" >/dev/null 2>&1
}

# e2e_ping_retry CLIENT TRIES: first handshake may take a retry.
e2e_ping_retry() {
	local c=$1 tries=${2:-3}
	for _ in $(seq 1 "$tries"); do
		e2e_ping "$c" 3 2 && return 0
	done
	return 1
}

# e2e_handshake_of BACKEND CLIENT: unix time of the last handshake the
# backend completed with CLIENT (0 if none or the backend is gone).
e2e_handshake_of() {
	local b=$1 c=$2 t
	t=$(e2e_wg "$b" show "${E2E_IF[$b]}" latest-handshakes 2>/dev/null |
		awk -v k="${E2E_PUB[$c]}" '$1 == k { print $2 }')
	echo "${t:-0}"
}

# e2e_client_handshake CLIENT: the client's own last handshake time (0: none).
e2e_client_handshake() {
	local t
	t=$(e2e_wg "$1" show "${E2E_IF[$1]}" latest-handshakes 2>/dev/null | awk '{ print $2 }')
	echo "${t:-0}"
}

# e2e_backend_endpoint BACKEND CLIENT: where the backend sends CLIENT's packets.
e2e_backend_endpoint() {
	e2e_wg "$1" show "${E2E_IF[$1]}" endpoints 2>/dev/null |
		awk -v k="${E2E_PUB[$2]}" '$1 == k { print $2 }'
}

# e2e_serving_backend CLIENT: the backend with the newest handshake for
# CLIENT, or nothing.
e2e_serving_backend() {
	local c=$1 b t best='' bt=0
	for b in "${E2E_BACKENDS[@]}"; do
		t=$(e2e_handshake_of "$b" "$c")
		if [ "$t" -gt "$bt" ]; then bt=$t; best=$b; fi
	done
	echo "$best"
}

# e2e_clients_of BACKEND: clients with a non-zero handshake on BACKEND.
e2e_clients_of() {
	local b=$1 c found=()
	for c in "${E2E_CLIENTS[@]}"; do
		[ "$(e2e_handshake_of "$b" "$c")" != 0 ] && found+=("$c")
	done
	echo "${found[*]}"
}

# e2e_iperf CLIENT [ARGS...]: iperf3 client through the tunnel, JSON on
# stdout. The port is picked from the client number.
e2e_iperf() {
	local c=$1 port
	shift
	port=$((5201 + (${E2E_IDX[$c]} - 1) % E2E_IPERF_SERVERS))
	ip netns exec "${E2E_NS[$c]}" timeout 60 iperf3 -c "$E2E_TUN4" -p "$port" -J "$@"
}

# e2e_iperf_field FILE FIELD: from iperf3 -J output: bytes or bps (received).
e2e_iperf_field() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    s = d["end"]["sum_received"]
    print(int(s["bytes"] if sys.argv[2] == "bytes" else s["bits_per_second"]))
except Exception:
    print(0)
EOF
}

# e2e_write_conf FILE [LINE...]: a wglbd config listening on both VIPs'
# wildcards with mac1 checking on, one section per backend added so far.
# Extra LINEs go into [global]. E2E_BACKEND_V6="b3 ..." gives those
# backends their IPv6 address. E2E_HEALTH=1 adds a [health] section with
# the probe key and the lines of the array E2E_HEALTH_LINES;
# E2E_BACKEND_LINES[NAME] (newline-separated) go into NAME's section.
# E2E_METRICS=1 adds "[metrics] listen = $E2E_METRICS_ADDR".
# E2E_CONF_SKIP="NAME ..." leaves those backends out.
e2e_write_conf() {
	local f=$1 b addr l
	shift
	{
		echo "; generated by tests/e2e/lib.sh, run $E2E_RUN"
		echo "[global]"
		echo "listen = 0.0.0.0:$E2E_PORT"
		echo "listen = [::]:$E2E_PORT"
		echo "public_key = $E2E_SRV_PUB"
		echo "log_level = ${E2E_WGLBD_LOG_LEVEL:-info}"
		# a control socket of this run's own: runs never share /run/wglb
		echo "control = $E2E_DIR/wglb.sock"
		for l in "$@"; do echo "$l"; done
		if [ "${E2E_HEALTH:-0}" = 1 ]; then
			echo
			echo "[health]"
			echo "probe_private_key_file = $E2E_PROBE_KEY"
			for l in "${E2E_HEALTH_LINES[@]}"; do echo "$l"; done
		fi
		if [ "${E2E_METRICS:-0}" = 1 ]; then
			echo
			echo "[metrics]"
			echo "listen = $E2E_METRICS_ADDR"
		fi
		for b in "${E2E_BACKENDS[@]}"; do
			case " ${E2E_CONF_SKIP:-} " in *" $b "*) continue ;; esac
			addr=${E2E_ADDR4[$b]}:$E2E_PORT
			case " ${E2E_BACKEND_V6:-} " in
			*" $b "*) addr=[${E2E_ADDR6[$b]}]:$E2E_PORT ;;
			esac
			echo
			echo "[backend $b]"
			echo "address = $addr"
			if [ -n "${E2E_BACKEND_LINES[$b]:-}" ]; then
				printf '%s\n' "${E2E_BACKEND_LINES[$b]}"
			fi
		done
	} >"$f"
}

# e2e_start_wglbd CONF: wglbd in the lb namespace, stderr to
# $E2E_DIR/wglbd.log; waits (5 s at most) until UDP port 51820 is bound.
e2e_start_wglbd() {
	local conf=$1
	if ! e2e_find_wglbd; then
		e2e_fail "wglbd binary not found (tried $WGLBD); build it or set WGLBD"
	fi
	if ! "$WGLBD" -t -c "$conf" >"$E2E_DIR/wglbd-t.log" 2>&1; then
		e2e_fail "wglbd -t rejects the generated config: $(cat "$E2E_DIR/wglbd-t.log")"
	fi
	E2E_WGLBD_LOG=$E2E_DIR/wglbd.log
	# shellcheck disable=SC2086
	e2e_bg "$E2E_NS_LB" "$E2E_WGLBD_LOG" "$WGLBD" ${E2E_WGLBD_ARGS:-} -c "$conf"
	E2E_WGLBD_PID=$E2E_LAST_PID
	for _ in $(seq 1 50); do
		kill -0 "$E2E_WGLBD_PID" 2>/dev/null ||
			e2e_fail "wglbd exited at start-up: $(tail -n 20 "$E2E_WGLBD_LOG")"
		if ip netns exec "$E2E_NS_LB" ss -Hlun "sport = :$E2E_PORT" 2>/dev/null | grep -q .; then
			e2e_debug "wglbd pid $E2E_WGLBD_PID listening"
			return 0
		fi
		sleep 0.1
	done
	e2e_fail "wglbd did not bind UDP $E2E_PORT within 5 s: $(tail -n 20 "$E2E_WGLBD_LOG")"
}

e2e_wglbd_alive() {
	[ -n "$E2E_WGLBD_PID" ] && kill -0 "$E2E_WGLBD_PID" 2>/dev/null
}

# e2e_wglbd_stats: SIGUSR1 to wglbd, wait until its "stats:" burst is in
# the log (3 s at most), print those lines from "stats:" on.
e2e_wglbd_stats() {
	local before n prev=-1 new
	e2e_wglbd_alive || return 1
	before=$(wc -l <"$E2E_WGLBD_LOG")
	kill -USR1 "$E2E_WGLBD_PID" || return 1
	for _ in $(seq 1 30); do
		sleep 0.1
		n=$(tail -n +"$((before + 1))" "$E2E_WGLBD_LOG" | grep -c 'stats: ')
		if [ "$n" -gt 0 ] && [ "$n" = "$prev" ]; then break; fi
		prev=$n
	done
	new=$(tail -n +"$((before + 1))" "$E2E_WGLBD_LOG" | sed -n 's/^.*\(stats: \)/\1/p')
	[ -n "$new" ] || return 1
	printf '%s\n' "$new"
}

# Readers of e2e_wglbd_stats output (pass the text as $1).
# e2e_stat_global TEXT KEY, e2e_stat_drop TEXT REASON, e2e_stat_backend TEXT NAME KEY
e2e_stat_global() {
	printf '%s\n' "$1" | grep -E '^stats: rx_packets=' | tail -n 1 |
		tr ' ' '\n' | sed -n "s/^$2=//p"
}
e2e_stat_drop() {
	local v
	v=$(printf '%s\n' "$1" | grep -E "^stats: drop reason=$2 " | tail -n 1 |
		sed -n 's/.* count=\([0-9]*\).*/\1/p')
	echo "${v:-}"
}
e2e_stat_backend() {
	printf '%s\n' "$1" | grep -E "^stats: backend $2 " | tail -n 1 |
		tr ' ' '\n' | sed -n "s/^$3=//p"
}

# ---- health -----------------------------------------------------------------

# e2e_now: wall clock, seconds with fractions (what ping -D prints).
e2e_now() { date +%s.%N; }

# e2e_log_mark: the number of lines in wglbd's log so far; pass it to
# e2e_wait_log / e2e_log_grep to look only at what comes after.
e2e_log_mark() {
	if [ -n "$E2E_WGLBD_LOG" ] && [ -f "$E2E_WGLBD_LOG" ]; then
		wc -l <"$E2E_WGLBD_LOG"
	else
		echo 0
	fi
}

# e2e_log_grep MARK REGEX: wglbd log lines after line MARK matching the
# extended REGEX.
e2e_log_grep() {
	tail -n +"$(($1 + 1))" "$E2E_WGLBD_LOG" 2>/dev/null | grep -E -- "$2"
}

# e2e_re_escape STRING: STRING as an extended regex matching itself.
e2e_re_escape() {
	printf '%s\n' "$1" | sed 's/[][\\.*^$+?(){}|]/\\&/g'
}

# e2e_wait_log MARK REGEX SECONDS: wait (polling every 50 ms, SECONDS at
# most, whole seconds) for a wglbd log line after line MARK matching REGEX;
# print the first one. Status 1 on timeout.
e2e_wait_log() {
	local mark=$1 re=$2 secs=$3 line end
	end=$(($(date +%s%N) + ${secs%.*} * 1000000000))
	while :; do
		line=$(e2e_log_grep "$mark" "$re" | head -n 1)
		if [ -n "$line" ]; then
			printf '%s\n' "$line"
			return 0
		fi
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# e2e_log_epoch LINE: the unix time (with milliseconds) of a wglbd log
# line, from its "HH:MM:SS.mmm" local-time prefix (the day is the one that
# puts it nearest to now).
e2e_log_epoch() {
	python3 -c '
import datetime, sys, time
h, m, s = sys.argv[1].split()[0].split(":")
now = time.time()
d = datetime.datetime.fromtimestamp(now).replace(hour=int(h), minute=int(m), second=0,
                                                 microsecond=0)
e = d.timestamp() + float(s)
print("%.3f" % min((e - 86400, e, e + 86400), key=lambda x: abs(x - now)))
' "$1"
}

# e2e_backend_health NAME [STATS]: "HEALTH REASON ADMIN" of backend NAME
# from STATS (e2e_wglbd_stats output) or from a fresh SIGUSR1.
e2e_backend_health() {
	local st=${2:-}
	[ -n "$st" ] || st=$(e2e_wglbd_stats) || return 1
	echo "$(e2e_stat_backend "$st" "$1" health) $(e2e_stat_backend "$st" "$1" reason)" \
		"$(e2e_stat_backend "$st" "$1" admin)"
}

# e2e_wait_health NAME up|down SECONDS [REASON]: poll wglbd's stats until
# backend NAME has that health (and reason); print "HEALTH REASON ADMIN"
# as last seen. Status 1 on timeout.
e2e_wait_health() {
	local name=$1 want=$2 secs=$3 reason=${4:-} h end
	end=$(($(date +%s%N) + ${secs%.*} * 1000000000))
	while :; do
		h=$(e2e_backend_health "$name")
		case "$h " in
		"$want ${reason:+$reason }"*)
			echo "$h"
			return 0
			;;
		esac
		if [ "$(date +%s%N)" -ge "$end" ]; then
			echo "$h"
			return 1
		fi
		sleep 0.1
	done
}

# e2e_wglbd_reload: SIGHUP to wglbd; returns once it logged the end of the
# reload (3 s at most): status 0 for "reload done", 1 for "reload failed" or
# no answer. (Older wglbd logged only "SIGHUP: reloading", which counts as
# done.) Signals sent later are handled after the reload.
e2e_wglbd_reload() {
	local mark line
	e2e_wglbd_alive || return 1
	mark=$(e2e_log_mark)
	kill -HUP "$E2E_WGLBD_PID" || return 1
	line=$(e2e_wait_log "$mark" 'reload done|reload failed|SIGHUP: reloading' 3) || return 1
	case $line in *"reload failed"*) return 1 ;; esac
	return 0
}

# e2e_ping_bg CLIENT SECONDS [INTERVAL]: ping through CLIENT's tunnel in
# the background for SECONDS at most (ping -w), one echo each INTERVAL
# (default 0.2 s), replies time-stamped (-D) in the file E2E_PINGLOG[CLIENT];
# the pid is in E2E_LAST_PID and E2E_PINGPID[CLIENT].
declare -A E2E_PINGLOG=()
declare -A E2E_PINGPID=()
e2e_ping_bg() {
	local c=$1 secs=$2 iv=${3:-0.2}
	E2E_PINGLOG[$c]=$E2E_DIR/ping-$c-$(date +%s%N).log
	e2e_bg "${E2E_NS[$c]}" "${E2E_PINGLOG[$c]}" stdbuf -oL \
		ping -n -D -i "$iv" -W 1 -w "$secs" "$E2E_TUN4"
	# shellcheck disable=SC2034  # for the scripts that source this file
	E2E_PINGPID[$c]=$E2E_LAST_PID
}

# e2e_ping_first_reply CLIENT AFTER: unix time of the first echo reply in
# CLIENT's background ping log later than AFTER (unix time); nothing if
# there is none (yet).
e2e_ping_first_reply() {
	awk -v t="$2" '/ bytes from / { x = substr($1, 2, length($1) - 2) + 0
		if (x > t) { printf "%.3f\n", x; exit } }' "${E2E_PINGLOG[$1]}" 2>/dev/null
}

# e2e_ping_replies CLIENT FROM TO: echo replies CLIENT's background ping
# got in the time window (FROM, TO].
e2e_ping_replies() {
	awk -v a="$2" -v b="$3" '/ bytes from / { x = substr($1, 2, length($1) - 2) + 0
		if (x > a && x <= b) n++ } END { print n + 0 }' "${E2E_PINGLOG[$1]}" 2>/dev/null
}

# e2e_wait_ping_reply CLIENT AFTER SECONDS: wait (SECONDS at most, whole
# seconds) for a reply later than AFTER in CLIENT's background ping; print
# its time. Status 1 on timeout.
e2e_wait_ping_reply() {
	local c=$1 after=$2 secs=$3 t end
	end=$(($(date +%s%N) + ${secs%.*} * 1000000000))
	while :; do
		t=$(e2e_ping_first_reply "$c" "$after")
		if [ -n "$t" ]; then
			echo "$t"
			return 0
		fi
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# ---- operations ---------------------------------------------------------------

# e2e_find_wglbctl: sets WGLBCTL to the wglbctl binary: $WGLBCTL, else the
# one next to wglbd (e2e_find_wglbd), else ../../wglbctl next to this file.
e2e_find_wglbctl() {
	if [ -z "${WGLBCTL:-}" ]; then
		if e2e_find_wglbd && [ -x "$(dirname "$WGLBD")/wglbctl" ]; then
			WGLBCTL=$(dirname "$WGLBD")/wglbctl
		else
			WGLBCTL=$E2E_LIB_DIR/../../wglbctl
		fi
	fi
	case $WGLBCTL in /*) ;; *) WGLBCTL=$(pwd)/$WGLBCTL ;; esac
	[ -x "$WGLBCTL" ]
}

# e2e_ctl ARGS...: wglbctl on this run's control socket (a file: it works
# from any namespace). Its status, stdout and stderr are wglbctl's.
e2e_ctl() {
	timeout 15 "$WGLBCTL" -s "$E2E_DIR/wglb.sock" "$@"
}

# e2e_ctl_backend NAME FIELD: FIELD of backend NAME from "wglbctl -j
# backends" (true/false for booleans; nothing if there is no such backend).
e2e_ctl_backend() {
	e2e_ctl -j backends | python3 -c '
import json, sys
for b in json.load(sys.stdin).get("backends", []):
    if b.get("name") == sys.argv[1]:
        v = b.get(sys.argv[2])
        print(str(v).lower() if isinstance(v, bool) else v)
' "$1" "$2"
}

# e2e_metrics_get [PATH [CURL-ARGS...]]: GET http://$E2E_METRICS_ADDR PATH
# (default /metrics) from inside the lb namespace, body on stdout.
e2e_metrics_get() {
	local path=${1:-/metrics}
	[ $# -gt 0 ] && shift
	ip netns exec "$E2E_NS_LB" curl -sS --max-time 5 "$@" "http://$E2E_METRICS_ADDR$path"
}

# e2e_metric TEXT NAME [LABELS]: the value of sample NAME{LABELS} in the
# exposition TEXT (LABELS exactly as rendered, e.g. 'backend="b1"').
e2e_metric() {
	local key=$2
	[ -n "${3:-}" ] && key="$2{$3}"
	printf '%s\n' "$1" | awk -v k="$key" '$1 == k { print $2; exit }'
}

# e2e_add_host NAME: a namespace on the client bridge without WireGuard
# (10.200.0.(150+k), fd42:6c62::(150+k), routes via the VIPs), for a
# client that brings its own tunnel (e.g. contrib/github-actions).
e2e_add_host() {
	local name=$1 k ns
	k=$((${#E2E_HOSTS[@]} + 1))
	ns=wglb-$E2E_RUN-$name
	E2E_HOSTS+=("$name")
	E2E_NS[$name]=$ns
	E2E_IDX[$name]=$k
	E2E_ADDR4[$name]=10.200.0.$((150 + k))
	E2E_ADDR6[$name]=fd42:6c62::$((150 + k))
	e2e_netns "$ns"
	e2e_veth "$ns" "vh$k" brc
	ip -n "$ns" addr add "${E2E_ADDR4[$name]}/24" dev eth0
	ip -n "$ns" addr add "${E2E_ADDR6[$name]}/64" dev eth0 nodad
	ip -n "$ns" route add 10.200.0.0/16 via "$E2E_VIP4"
	ip -n "$ns" -6 route add fd42:6c62::/48 via "$E2E_VIP6"
}

# e2e_backends_add_peer PUBKEY ALLOWED-IPS: a peer on every backend (also
# on those restarted later), as a deployment must do for a new client.
e2e_backends_add_peer() {
	local b
	E2E_EXTRA_PEERS+=("$1 $2")
	for b in "${E2E_BACKENDS[@]}"; do
		[ -n "${E2E_WGDOWN[$b]:-}" ] && continue
		e2e_backend_add_peer "$b" "$1" "$2"
	done
}

# e2e_diag: what a failing test prints.
e2e_diag() {
	local n
	echo "---- diagnostics (run $E2E_RUN, dir $E2E_DIR) ----"
	for n in "${E2E_BACKENDS[@]}" "${E2E_CLIENTS[@]}"; do
		echo "-- wg show on $n (${E2E_IF[$n]})"
		e2e_wg "$n" show "${E2E_IF[$n]}" 2>&1 | sed 's/^/   /'
	done
	if [ -n "$E2E_WGLBD_LOG" ] && [ -f "$E2E_WGLBD_LOG" ]; then
		if e2e_wglbd_alive; then
			echo "-- wglbd (pid $E2E_WGLBD_PID) alive"
		else
			echo "-- wglbd is NOT running"
		fi
		echo "-- health changes in $E2E_WGLBD_LOG"
		grep -E 'backend [^ ]+: (up|down) -> |still down|route back|SIGHUP|reload' \
			"$E2E_WGLBD_LOG" | tail -n 30 | sed 's/^/   /'
		echo "-- last 40 lines of $E2E_WGLBD_LOG"
		tail -n 40 "$E2E_WGLBD_LOG" | sed 's/^/   /'
	fi
	echo "---- end of diagnostics ----"
}

# e2e_handshakes CLIENT...: "backend client time" for every backend and
# CLIENT (time 0: none), a snapshot to compare after a disruption.
e2e_handshakes() {
	local b c
	for b in "${E2E_BACKENDS[@]}"; do
		for c in "$@"; do
			echo "$b $c $(e2e_handshake_of "$b" "$c")"
		done
	done
}

# e2e_handshakes_changed BEFORE CLIENT...: prints what differs from the
# snapshot BEFORE and returns 0 when something does (a rekey happens only
# 120 s after a handshake, so a fast test sees none).
e2e_handshakes_changed() {
	local before=$1 now
	shift
	now=$(e2e_handshakes "$@")
	[ "$now" = "$before" ] && return 1
	diff <(printf '%s\n' "$before") <(printf '%s\n' "$now") | grep '^[<>]' | tr '\n' ' '
	return 0
}

# e2e_ping_gap CLIENT T: "GAP LOST" for CLIENT's background ping (its -D
# log) around time T: GAP = first reply after T - last reply at or before T
# (seconds), LOST = echoes missing between them (icmp_seq). Nothing if
# either reply is missing.
e2e_ping_gap() {
	awk -v t="$2" '/ bytes from / {
		x = substr($1, 2, length($1) - 2) + 0
		q = $0; sub(/.*icmp_seq=/, "", q); q = q + 0
		if (x <= t) { lt = x; lq = q; have = 1 }
		else if (have) { printf "%.3f %d\n", x - lt, q - lq - 1; exit }
	}' "${E2E_PINGLOG[$1]}" 2>/dev/null
}
