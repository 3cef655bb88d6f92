#!/bin/bash
# tests/bench/throughput-nginx.sh: iperf3 throughput through WireGuard
# tunnels three ways in one topology: straight to a backend, through
# wglbd, and through nginx's stream (UDP) proxy, with 1 client and with
# BENCH_CLIENTS at once (sum). throughput.sh compares the first two; this
# adds the common general-purpose alternative. A benchmark, not a test: it
# never fails on a number. Needs root; uses the netns topology of
# tests/e2e/lib.sh (wireguard-go clients and backends).
#
# nginx runs in the lb namespace on VIP:51821 (wglbd keeps VIP:51820):
#   stream { upstream wg { hash $remote_addr consistent; server B:51820; ... }
#            server { listen VIP:51821 udp reuseport; proxy_pass wg; proxy_timeout 300s; } }
# proxy_responses stays unset: WireGuard is bidirectional, replies must not
# be limited. If nginx or its stream module is missing the nginx column
# says so and the rest still runs.
#
# Env: BENCH_TIME      seconds per iperf3 run (default 10)
#      BENCH_BACKENDS  backends behind the proxies (default 1: every path
#                      ends at the same wireguard-go; direct clients use b1)
#      BENCH_CLIENTS   concurrent clients for the "N clients" row (default 4)
#      BENCH_IPERF_ARGS extra iperf3 arguments (e.g. "-R", or "-u -b 500M")
#      BENCH_NGINX_WORKERS  nginx worker processes (default 1, as wglbd)
#      WGLBD           wglbd binary (default: found like the e2e tests do)
#
# Output: a table, then one line of JSON starting with {"bench":"throughput_nginx".

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/benchlib.sh
. "$HERE/benchlib.sh"

BENCH_TIME=${BENCH_TIME:-10}
BENCH_BACKENDS=${BENCH_BACKENDS:-1}
BENCH_CLIENTS=${BENCH_CLIENTS:-4}
BENCH_IPERF_ARGS=${BENCH_IPERF_ARGS:-}
E2E_IPERF_SERVERS=$BENCH_CLIENTS

e2e_require_root_and_tools
have_wglbd=1
e2e_find_wglbd || have_wglbd=0
e2e_init

e2e_log "==> topology: $BENCH_BACKENDS backend(s); $BENCH_CLIENTS clients each direct, through wglbd, through nginx"
e2e_lb_ns
e2e_lb_routing on
for i in $(seq 1 "$BENCH_BACKENDS"); do e2e_add_backend "b$i"; done
DIRECT=() LB=() NG=()
for i in $(seq 1 "$BENCH_CLIENTS"); do
	e2e_add_client "d$i" direct:b1
	DIRECT+=("d$i")
done
if [ "$have_wglbd" = 1 ]; then
	for i in $(seq 1 "$BENCH_CLIENTS"); do
		e2e_add_client "l$i" v4
		LB+=("l$i")
	done
	E2E_WGLBD_LOG_LEVEL=notice e2e_write_conf "$E2E_DIR/wglb.conf"
	# a control socket of this run's own (older lib.sh versions left the
	# default, /run/wglb/wglb.sock, which concurrent runs would share)
	grep -q '^control' "$E2E_DIR/wglb.conf" ||
		sed -i "/^\[global\]/a control = $E2E_DIR/wglb-ctl.sock" "$E2E_DIR/wglb.conf"
	e2e_start_wglbd "$E2E_DIR/wglb.conf"
else
	e2e_log "==> wglbd not found ($WGLBD): no wglbd column"
fi
have_nginx=0
NGINX_NOTE=
if bench_nginx_check; then
	mkdir -p "$E2E_DIR/nginx"
	servers=()
	for b in "${E2E_BACKENDS[@]}"; do servers+=("${E2E_ADDR4[$b]}:$E2E_PORT"); done
	bench_nginx_conf "$E2E_DIR/nginx/nginx.conf" "$BENCH_NGINX_PORT" "${servers[@]}"
	bench_nginx_start "$E2E_DIR/nginx/nginx.conf" "$BENCH_NGINX_PORT" && have_nginx=1
fi
if [ "$have_nginx" = 1 ]; then
	for i in $(seq 1 "$BENCH_CLIENTS"); do
		e2e_add_client "n$i" v4
		e2e_wg "n$i" set "${E2E_IF[n$i]}" peer "$E2E_SRV_PUB" endpoint "$E2E_VIP4:$BENCH_NGINX_PORT" ||
			e2e_fail "endpoint of n$i"
		NG+=("n$i")
	done
else
	NGINX_NOTE=$BENCH_NGINX_WHY
	e2e_log "==> nginx unavailable: $NGINX_NOTE"
fi
for c in "${DIRECT[@]}" "${LB[@]}" "${NG[@]}"; do
	e2e_ping_retry "$c" 3 || e2e_log "warning: $c cannot ping through its tunnel"
done

declare -A R=() CPU=()
N=$BENCH_CLIENTS
bench_iperf_phase direct_1 "" "${DIRECT[0]}"
R[direct_1]=$PHASE_BPS
if [ "$have_wglbd" = 1 ]; then
	bench_iperf_phase wglbd_1 "$E2E_WGLBD_PID" "${LB[0]}"
	R[wglbd_1]=$PHASE_BPS CPU[wglbd_1]=$PHASE_CPU
fi
if [ "$have_nginx" = 1 ]; then
	bench_iperf_phase nginx_1 "$BENCH_NGINX_PID" "${NG[0]}"
	R[nginx_1]=$PHASE_BPS CPU[nginx_1]=$PHASE_CPU
fi
bench_iperf_phase "direct_$N" "" "${DIRECT[@]}"
R[direct_n]=$PHASE_BPS
if [ "$have_wglbd" = 1 ]; then
	bench_iperf_phase "wglbd_$N" "$E2E_WGLBD_PID" "${LB[@]}"
	R[wglbd_n]=$PHASE_BPS CPU[wglbd_n]=$PHASE_CPU
	stats=$(e2e_wglbd_stats)
fi
if [ "$have_nginx" = 1 ]; then
	bench_iperf_phase "nginx_$N" "$BENCH_NGINX_PID" "${NG[@]}"
	R[nginx_n]=$PHASE_BPS CPU[nginx_n]=$PHASE_CPU
fi

mbps() { if [ -n "$1" ]; then python3 -c "print('%.1f' % ($1 / 1e6))"; else echo "-"; fi; }
ratio() {
	if [ -n "$1" ] && [ -n "$2" ] && [ "$2" -gt 0 ]; then python3 -c "print('%.2f' % ($1 / $2))"; else echo "-"; fi
}
nm() { if [ "$have_nginx" = 1 ]; then mbps "$1"; else echo "n/a"; fi; }

echo
echo "wglb throughput vs nginx (iperf3 -t $BENCH_TIME ${BENCH_IPERF_ARGS:+$BENCH_IPERF_ARGS }through wireguard-go tunnels, $(nproc) cpus, $BENCH_BACKENDS backend(s), nginx workers ${BENCH_NGINX_WORKERS:-1})"
printf '%-10s %10s %10s %10s %9s %9s %13s %13s\n' clients "direct" "wglbd" "nginx" "wglbd cpu" "nginx cpu" "wglbd/direct" "wglbd/nginx"
printf '%-10s %10s %10s %10s %9s %9s %13s %13s\n' "" "Mbit/s" "Mbit/s" "Mbit/s" "%" "%" "" ""
for k in 1 n; do
	label=1
	[ "$k" = n ] && label="$N (sum)"
	printf '%-10s %10s %10s %10s %9s %9s %13s %13s\n' "$label" "$(mbps "${R[direct_$k]}")" \
		"$(mbps "${R[wglbd_$k]:-}")" "$(nm "${R[nginx_$k]:-}")" "${CPU[wglbd_$k]:--}" "${CPU[nginx_$k]:--}" \
		"$(ratio "${R[wglbd_$k]:-}" "${R[direct_$k]}")" "$(ratio "${R[wglbd_$k]:-}" "${R[nginx_$k]:-}")"
done
[ -n "$NGINX_NOTE" ] && echo "nginx: $NGINX_NOTE"
if [ -n "${stats:-}" ]; then
	d=$(bench_drops "$stats")
	[ -n "$d" ] && echo "wglbd drops: $d"
fi
python3 - "$BENCH_TIME" "$BENCH_BACKENDS" "$N" "${BENCH_NGINX_WORKERS:-1}" "$NGINX_NOTE" \
	"$BENCH_IPERF_ARGS" "$(bench_machine_json)" \
	"${R[direct_1]:-}" "${R[wglbd_1]:-}" "${R[nginx_1]:-}" "${R[direct_n]:-}" "${R[wglbd_n]:-}" "${R[nginx_n]:-}" \
	"${CPU[wglbd_1]:-null}" "${CPU[nginx_1]:-null}" "${CPU[wglbd_n]:-null}" "${CPU[nginx_n]:-null}" <<'EOF'
import json, sys
T, backends, n, workers, note, iperf_args, machine = sys.argv[1:8]
v = [int(x) if x else None for x in sys.argv[8:14]]
c = [None if x == "null" else float(x) for x in sys.argv[14:18]]
def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None
out = {"bench": "throughput_nginx", "duration_s": float(T), "backends": int(backends), "clients": int(n),
       "nginx_workers": int(workers), "iperf_args": iperf_args}
out.update(json.loads("{" + machine + "}"))
out["nginx"] = note or "ok"
out.update({"direct_1_bps": v[0], "wglbd_1_bps": v[1], "nginx_1_bps": v[2],
            "direct_n_bps": v[3], "wglbd_n_bps": v[4], "nginx_n_bps": v[5],
            "wglbd_1_cpu_pct": c[0], "nginx_1_cpu_pct": c[1], "wglbd_n_cpu_pct": c[2], "nginx_n_cpu_pct": c[3],
            "wglbd_over_direct_1": ratio(v[1], v[0]), "wglbd_over_nginx_1": ratio(v[1], v[2]),
            "wglbd_over_direct_n": ratio(v[4], v[3]), "wglbd_over_nginx_n": ratio(v[4], v[5])})
print(json.dumps(out, separators=(",", ":")))
EOF
exit 0
