# shellcheck shell=bash
# tests/bench/benchlib.sh: helpers shared by the benchmarks in tests/bench/
# (raw-pps.sh, latency.sh, handshakes.sh, throughput.sh,
# throughput-nginx.sh, callgrind.sh). Source it from bash after setting nothing; it sources
# tests/e2e/lib.sh (the namespace topology) and adds:
#
#   bench_build_tools            compile udpgen, udpsink, udpping, hsgen
#                                (cc -O2) into $E2E_DIR/bin ($BENCH_BIN)
#   bench_raw_host NAME client|backend ADDR
#                                a namespace without WireGuard, veth to the
#                                lb namespace's brc (client) or brb (backend)
#   bench_raw_paths GEN_ADDR SINK_ADDR
#                                gen and sink hosts, and the proxies of
#                                $BENCH_PATHS in front of the sink
#   bench_wglbd_conf FILE BACKEND_ADDR... [-- LINE...]
#                                a wglbd config for raw load: relaxed limits
#   bench_wglbd_start CONF [PREFIX...]  wglbd (optionally under PREFIX, e.g.
#                                valgrind) in the lb ns; e2e_wglbd_stats works
#   bench_wglbd_stop             stop it (by pid)
#   bench_nginx_check            is nginx with the stream module usable?
#   bench_nginx_conf FILE PORT BACKEND_ADDR...
#   bench_nginx_start CONF PORT  nginx in the lb ns ($BENCH_NGINX_PID)
#   bench_nginx_stop
#   bench_cpu_ns PID...          CPU time of PIDs and their descendants
#                                (nginx workers), nanoseconds
#   bench_snmp NS FIELD          a "Udp:" counter of /proc/net/snmp in NS
#   bench_sum_backends STATS KEY sum of KEY over the "stats: backend" lines
#   bench_machine_json           nproc, cpu model, kernel as JSON members
#   bench_iperf_phase LABEL PIDS CLIENT...
#                                iperf3 through the tunnels of CLIENTs at once:
#                                PHASE_BPS, and PHASE_CPU of PIDS
#
# Everything runs inside namespaces e2e_init's run creates; every process
# started goes through e2e_bg, so e2e_cleanup stops it by pid.

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$BENCH_LIB_DIR/../e2e/lib.sh"

BENCH_NGINX_PORT=${BENCH_NGINX_PORT:-51821}   # nginx listens on VIP:this
BENCH_SINK_PORT=${BENCH_SINK_PORT:-51820}     # udpsink in the backend ns
BENCH_NGINX_PID=
BENCH_NGINX_WHY=                              # why nginx is unusable, if it is
BENCH_BIN=

# bench_build_tools: the C helpers, compiled fresh for this run.
bench_build_tools() {
	local t cc=${CC:-cc}
	BENCH_BIN=$E2E_DIR/bin
	mkdir -p "$BENCH_BIN"
	for t in udpgen udpsink udpping; do
		"$cc" -O2 -Wall -o "$BENCH_BIN/$t" "$BENCH_LIB_DIR/$t.c" 2>"$BENCH_BIN/$t.err" ||
			e2e_fail "cannot compile $t.c: $(cat "$BENCH_BIN/$t.err")"
	done
	# hsgen needs libb2 (BLAKE2s for mac1); only handshakes.sh uses it
	if ! "$cc" -O2 -Wall -o "$BENCH_BIN/hsgen" "$BENCH_LIB_DIR/hsgen.c" -lb2 \
		2>"$BENCH_BIN/hsgen.err"; then
		rm -f "$BENCH_BIN/hsgen"
		e2e_debug "hsgen not built: $(cat "$BENCH_BIN/hsgen.err")"
	fi
}

# bench_raw_host NAME client|backend ADDR: namespace "wglb-RUN-NAME" with
# eth0 = ADDR/24, a veth to bridge brc (client side, 10.200.0.0/24) or brb
# (backend side, 10.200.1.0/24) of the lb ns, and a route to the other
# side through the lb ns. E2E_NS[NAME] and E2E_ADDR4[NAME] are set.
bench_raw_host() {
	local name=$1 side=$2 addr=$3 ns lbif br gw
	ns=wglb-$E2E_RUN-$name
	case $side in
	client) br=brc; gw=$E2E_VIP4; lbif=vxc${#E2E_NS[@]} ;;
	backend) br=brb; gw=$E2E_LB_B4; lbif=vxb${#E2E_NS[@]} ;;
	*) e2e_fail "bench_raw_host: side must be client or backend" ;;
	esac
	E2E_NS[$name]=$ns
	E2E_ADDR4[$name]=$addr
	e2e_netns "$ns"
	e2e_veth "$ns" "$lbif" "$br"
	ip -n "$ns" addr add "$addr/24" dev eth0
	ip -n "$ns" route add 10.200.0.0/16 via "$gw"
}

# bench_raw_paths GEN_ADDR SINK_ADDR: the raw benchmarks' topology: host
# "gen" (client side) and host "sink" (backend side), and, for the paths in
# BENCH_PATHS, wglbd (session_timeout 60s) and nginx's stream proxy on
# BENCH_NGINX_PORT, both in front of SINK_ADDR:BENCH_SINK_PORT. Sets
# have_wglbd and have_nginx (1 when running) and NGINX_NOTE (why not).
# shellcheck disable=SC2034 # have_wglbd, have_nginx, NGINX_NOTE: for the caller
bench_raw_paths() {
	local gen=$1 sink=$2
	e2e_lb_ns
	e2e_lb_routing on
	bench_raw_host gen client "$gen"
	bench_raw_host sink backend "$sink"
	have_wglbd=0
	have_nginx=0
	NGINX_NOTE=
	case " $BENCH_PATHS " in *" wglbd "*)
		if e2e_find_wglbd; then
			bench_wglbd_conf "$E2E_DIR/wglb.conf" "$sink:$BENCH_SINK_PORT" -- \
				"session_timeout = 60s"
			bench_wglbd_start "$E2E_DIR/wglb.conf"
			have_wglbd=1
		else
			e2e_log "==> wglbd not found ($WGLBD): no wglbd results"
		fi
		;;
	esac
	case " $BENCH_PATHS " in *" nginx "*)
		if bench_nginx_check; then
			mkdir -p "$E2E_DIR/nginx"
			bench_nginx_conf "$E2E_DIR/nginx/nginx.conf" "$BENCH_NGINX_PORT" \
				"$sink:$BENCH_SINK_PORT"
			bench_nginx_start "$E2E_DIR/nginx/nginx.conf" "$BENCH_NGINX_PORT" && have_nginx=1
		fi
		if [ "$have_nginx" = 0 ]; then
			NGINX_NOTE=$BENCH_NGINX_WHY
			e2e_log "==> nginx unavailable: $NGINX_NOTE"
		fi
		;;
	esac
}

# bench_wglbd_conf FILE BACKEND_ADDR... [-- LINE...]: wglbd listening on
# 0.0.0.0:51820 (as e2e_write_conf does), one backend per address, limits
# relaxed so admission never throttles the load. LINEs after "--" go into
# [global] (public_key, max_sessions, ...); BENCH_WGLBD_EXTRA, if set, is
# appended verbatim (e.g. a [metrics] section).
bench_wglbd_conf() {
	local f=$1 a i=0 lines=() backends=()
	shift
	while [ $# -gt 0 ]; do
		if [ "$1" = -- ]; then shift; lines=("$@"); break; fi
		backends+=("$1")
		shift
	done
	{
		echo "; generated by tests/bench/benchlib.sh, run $E2E_RUN"
		echo "[global]"
		echo "listen = ${BENCH_WGLBD_LISTEN:-0.0.0.0:$E2E_PORT}"
		echo "log_level = ${E2E_WGLBD_LOG_LEVEL:-notice}"
		# not the default /run/wglb/wglb.sock, which other runs share
		echo "control = $E2E_DIR/wglb-ctl.sock"
		for a in "${lines[@]}"; do echo "$a"; done
		echo
		echo "[limits]"
		echo "handshake_rate = 10000000"
		echo "handshake_burst = 10000000"
		echo "max_sessions_per_source = 10000000"
		echo "session_rate = 10000000"
		echo "under_load = 0"
		for a in "${backends[@]}"; do
			i=$((i + 1))
			echo
			echo "[backend sink$i]"
			echo "address = $a"
		done
		[ -n "${BENCH_WGLBD_EXTRA:-}" ] && printf '%s\n' "$BENCH_WGLBD_EXTRA"
	} >"$f"
}

# bench_wglbd_start CONF [PREFIX...]: like e2e_start_wglbd, but PREFIX (a
# wrapper such as valgrind) may come first and the wait for the bound
# port is longer (BENCH_WGLBD_WAIT seconds, default 30).
bench_wglbd_start() {
	local conf=$1 wait=${BENCH_WGLBD_WAIT:-30}
	shift
	e2e_find_wglbd || e2e_fail "wglbd binary not found (tried $WGLBD); build it or set WGLBD"
	"$WGLBD" -t -c "$conf" >"$E2E_DIR/wglbd-t.log" 2>&1 ||
		e2e_fail "wglbd -t rejects $conf: $(cat "$E2E_DIR/wglbd-t.log")"
	E2E_WGLBD_LOG=$E2E_DIR/wglbd-$(date +%s%N).log
	e2e_bg "$E2E_NS_LB" "$E2E_WGLBD_LOG" "$@" "$WGLBD" -c "$conf"
	E2E_WGLBD_PID=$E2E_LAST_PID
	for _ in $(seq 1 $((wait * 10))); do
		kill -0 "$E2E_WGLBD_PID" 2>/dev/null ||
			e2e_fail "wglbd exited at start-up: $(tail -n 20 "$E2E_WGLBD_LOG")"
		if ip netns exec "$E2E_NS_LB" ss -Hlun "sport = :$E2E_PORT" 2>/dev/null | grep -q .; then
			return 0
		fi
		sleep 0.1
	done
	e2e_fail "wglbd did not bind UDP $E2E_PORT within $wait s: $(tail -n 20 "$E2E_WGLBD_LOG")"
}

bench_wglbd_stop() {
	[ -n "$E2E_WGLBD_PID" ] && e2e_stop_pid "$E2E_WGLBD_PID"
	E2E_WGLBD_PID=
}

# bench_nginx_check: status 0 when nginx and its stream module are there;
# otherwise status 1 and the reason in BENCH_NGINX_WHY.
bench_nginx_check() {
	BENCH_NGINX=$(command -v nginx 2>/dev/null || true)
	[ -n "$BENCH_NGINX" ] || [ ! -x /usr/sbin/nginx ] || BENCH_NGINX=/usr/sbin/nginx
	if [ -z "$BENCH_NGINX" ]; then
		BENCH_NGINX_WHY="nginx not installed (apt-get install nginx libnginx-mod-stream)"
		return 1
	fi
	BENCH_NGINX_MOD=${BENCH_NGINX_MOD:-/usr/lib/nginx/modules/ngx_stream_module.so}
	if [ ! -f "$BENCH_NGINX_MOD" ]; then
		BENCH_NGINX_WHY="nginx stream module missing ($BENCH_NGINX_MOD; apt-get install libnginx-mod-stream)"
		return 1
	fi
	return 0
}

# bench_nginx_conf FILE PORT BACKEND_ADDR...: a stream (UDP) proxy on
# VIP:PORT to the backends, consistent hash on the client address (so a
# client stays on one backend), responses not limited (WireGuard is
# bidirectional: proxy_responses must stay unset), sessions kept 300 s.
# BENCH_NGINX_WORKERS worker processes (default 1, as wglbd has one
# thread); "reuseport" keeps each client on one worker. The listening
# socket asks for a BENCH_NGINX_RCVBUF-byte receive buffer (default 4 MiB,
# what wglbd asks for its front sockets; nginx's request is capped by
# net.core.rmem_max, wglbd's is not: it uses SO_RCVBUFFORCE).
bench_nginx_conf() {
	local f=$1 port=$2 b dir nofile
	shift 2
	dir=$(dirname "$f")
	nofile=$(ulimit -Hn)
	[ "$nofile" = unlimited ] && nofile=1048576
	[ "$nofile" -gt 65536 ] && nofile=65536
	{
		echo "# generated by tests/bench/benchlib.sh, run $E2E_RUN"
		echo "load_module $BENCH_NGINX_MOD;"
		echo "worker_processes ${BENCH_NGINX_WORKERS:-1};"
		echo "worker_rlimit_nofile $nofile;"
		echo "error_log $dir/nginx-error.log warn;"
		echo "pid $dir/nginx.pid;"
		echo "events { worker_connections $((nofile / 2)); }"
		echo "stream {"
		echo "    upstream wg {"
		echo "        hash \$remote_addr consistent;"
		for b in "$@"; do echo "        server $b;"; done
		echo "    }"
		echo "    server {"
		echo "        listen $E2E_VIP4:$port udp reuseport rcvbuf=${BENCH_NGINX_RCVBUF:-4194304};"
		echo "        proxy_pass wg;"
		echo "        proxy_timeout 300s;"
		echo "    }"
		echo "}"
	} >"$f"
}

# bench_nginx_start CONF PORT: nginx (master in the foreground, its pid in
# BENCH_NGINX_PID) in the lb ns; waits until UDP PORT is bound. Status 1
# (reason in BENCH_NGINX_WHY) if it does not come up.
bench_nginx_start() {
	local conf=$1 port=$2 dir
	dir=$(dirname "$conf")
	# -t binds the listen address too: in the lb ns, where the VIP is
	if ! ip netns exec "$E2E_NS_LB" "$BENCH_NGINX" -t -p "$dir" -e "$dir/nginx-error.log" \
		-c "$conf" >"$dir/nginx-t.log" 2>&1; then
		BENCH_NGINX_WHY="nginx -t failed: $(tail -n 3 "$dir/nginx-t.log" | tr '\n' ' ')"
		return 1
	fi
	e2e_bg "$E2E_NS_LB" "$dir/nginx.out" "$BENCH_NGINX" -p "$dir" -e "$dir/nginx-error.log" \
		-c "$conf" -g 'daemon off;'
	BENCH_NGINX_PID=$E2E_LAST_PID
	for _ in $(seq 1 50); do
		if ! kill -0 "$BENCH_NGINX_PID" 2>/dev/null; then
			BENCH_NGINX_WHY="nginx exited: $(tail -n 3 "$dir/nginx-error.log" 2>/dev/null | tr '\n' ' ')"
			BENCH_NGINX_PID=
			return 1
		fi
		if ip netns exec "$E2E_NS_LB" ss -Hlun "sport = :$port" 2>/dev/null | grep -q .; then
			return 0
		fi
		sleep 0.1
	done
	# shellcheck disable=SC2034  # read by the scripts that source this file
	BENCH_NGINX_WHY="nginx did not bind UDP $port within 5 s"
	e2e_stop_pid "$BENCH_NGINX_PID"
	BENCH_NGINX_PID=
	return 1
}

bench_nginx_stop() {
	[ -n "$BENCH_NGINX_PID" ] && e2e_stop_pid "$BENCH_NGINX_PID"
	BENCH_NGINX_PID=
}

# bench_pid_tree PID: PID and its descendants (nginx workers), from
# /proc/PID/task/*/children.
bench_pid_tree() {
	local p=$1 c
	[ -d "/proc/$p" ] || return 0
	echo "$p"
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
		bench_pid_tree "$c"
	done
}

# bench_cpu_ns PID...: CPU time (nanoseconds) the PIDs and their
# descendants used so far: the sum of every thread's run time from
# /proc/PID/task/TID/schedstat, or utime+stime (clock ticks) where that is
# missing. Exited children are not counted.
bench_cpu_ns() {
	local p t v hz
	hz=$(getconf CLK_TCK)
	for p in $(for x in "$@"; do bench_pid_tree "$x"; done); do
		if [ -r "/proc/$p/schedstat" ]; then
			cat /proc/"$p"/task/*/schedstat 2>/dev/null | awk '{ print "s", $1 }'
		else
			v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null)
			echo "t ${v:-0}"
		fi
	done | awk -v hz="$hz" '$1 == "s" { t += $2 } $1 == "t" { t += $2 * 1e9 / hz }
		END { printf "%.0f\n", t }'
}

# bench_cpu_pct NS0 NS1 T0 T1: CPU use in percent of one CPU between two
# bench_cpu_ns readings taken at wall-clock times T0 and T1 (seconds).
bench_cpu_pct() {
	python3 -c "import sys; n0,n1,a,b=map(float,sys.argv[1:]); \
print(round(100.0*(n1-n0)/1e9/max(b-a,1e-9),1))" "$1" "$2" "$3" "$4"
}

# bench_snmp NS FIELD: Udp counter FIELD (InDatagrams, RcvbufErrors, ...)
# of /proc/net/snmp in namespace NS.
bench_snmp() {
	ip netns exec "$1" awk -v f="$2" '
		$1 == "Udp:" && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
		$1 == "Udp:" && h { print $(col[f]) + 0; exit }' /proc/net/snmp
}

# bench_sum_backends STATS KEY: sum of KEY over wglbd's "stats: backend" lines.
bench_sum_backends() {
	printf '%s\n' "$1" | grep -E '^stats: backend ' | tr ' ' '\n' |
		awk -F= -v k="$2" '$1 == k { s += $2 } END { print s + 0 }'
}

# bench_drops STATS: "reason=count ..." for every non-zero drop reason.
bench_drops() {
	printf '%s\n' "$1" | sed -n 's/^stats: drop reason=\([^ ]*\) count=\([0-9]*\).*/\1 \2/p' |
		awk '$2 != 0 { printf "%s%s=%s", sep, $1, $2; sep = " " }'
}

# bench_drops_delta BEFORE AFTER: non-zero differences of the drop counters.
bench_drops_delta() {
	python3 - "$1" "$2" <<'EOF'
import re, sys
def parse(t):
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^stats: drop reason=(\S+) count=(\d+)", t, re.M)}
a, b = parse(sys.argv[1]), parse(sys.argv[2])
print(" ".join("%s=%d" % (k, b[k] - a.get(k, 0)) for k in b if b[k] - a.get(k, 0)))
EOF
}

# bench_kv LINE KEY: the value of KEY=VALUE in a line of a tool's output.
bench_kv() {
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# bench_machine_json: "nproc":N,"cpu":"...","kernel":"..." (no braces).
bench_machine_json() {
	python3 - <<'EOF'
import json, os, platform
cpu = ""
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
except OSError:
    pass
print('"nproc":%d,"cpu":%s,"kernel":%s' % (os.cpu_count() or 0, json.dumps(cpu), json.dumps(platform.release())))
EOF
}

# bench_sink_start NAME LISTEN LIFETIME [ARGS...]: udpsink in NAME's
# namespace; waits for its "listening" line. The pid is in BENCH_SINK_PID,
# its output file in BENCH_SINK_OUT.
bench_sink_start() {
	local name=$1 listen=$2 life=$3
	shift 3
	BENCH_SINK_OUT=$E2E_DIR/sink-$(date +%s%N).out
	e2e_bg "${E2E_NS[$name]}" "$BENCH_SINK_OUT" "$BENCH_BIN/udpsink" \
		-l "$listen" -t "$life" "$@"
	BENCH_SINK_PID=$E2E_LAST_PID
	for _ in $(seq 1 50); do
		grep -q '^listening' "$BENCH_SINK_OUT" 2>/dev/null && return 0
		kill -0 "$BENCH_SINK_PID" 2>/dev/null || e2e_fail "udpsink exited: $(cat "$BENCH_SINK_OUT")"
		sleep 0.1
	done
	e2e_fail "udpsink did not start: $(cat "$BENCH_SINK_OUT")"
}

# bench_sink_finish [GRACE_S]: wait up to GRACE_S (default 2) for the sink
# to stop by itself (idle), then TERM it; print its result line.
bench_sink_finish() {
	local grace=${1:-2}
	for _ in $(seq 1 $((grace * 10))); do
		kill -0 "$BENCH_SINK_PID" 2>/dev/null || break
		sleep 0.1
	done
	e2e_stop_pid "$BENCH_SINK_PID"
	grep '^rx_data=' "$BENCH_SINK_OUT" | tail -n 1
}

# bench_iperf_phase LABEL PIDS CLIENT...: every CLIENT runs iperf3 -t
# BENCH_TIME (and BENCH_IPERF_ARGS) at once; sets PHASE_BPS (sum of received bits/s) and PHASE_CPU (CPU % of
# the processes in PIDS, a space-separated list, or null).
# shellcheck disable=SC2034 # PHASE_BPS, PHASE_CPU: for the caller
bench_iperf_phase() {
	local label=$1 pids=$2 c waitpids=() t0 t1 n0=0 n1
	shift 2
	e2e_log "==> $label: ${*} for ${BENCH_TIME}s"
	# shellcheck disable=SC2086
	[ -n "$pids" ] && n0=$(bench_cpu_ns $pids)
	t0=$(date +%s.%N)
	for c in "$@"; do
		# shellcheck disable=SC2086
		e2e_bg "${E2E_NS[$c]}" "$E2E_DIR/bench-$label-$c.json" \
			timeout $((BENCH_TIME + 30)) iperf3 -c "$E2E_TUN4" \
			-p $((5201 + (${E2E_IDX[$c]} - 1) % E2E_IPERF_SERVERS)) -t "$BENCH_TIME" -J ${BENCH_IPERF_ARGS:-}
		waitpids+=("$E2E_LAST_PID")
	done
	for c in "${waitpids[@]}"; do wait "$c"; done
	t1=$(date +%s.%N)
	PHASE_BPS=0
	for c in "$@"; do
		PHASE_BPS=$((PHASE_BPS + $(e2e_iperf_field "$E2E_DIR/bench-$label-$c.json" bps)))
	done
	PHASE_CPU=null
	if [ -n "$pids" ]; then
		# shellcheck disable=SC2086
		n1=$(bench_cpu_ns $pids)
		PHASE_CPU=$(bench_cpu_pct "$n0" "$n1" "$t0" "$t1")
	fi
}
