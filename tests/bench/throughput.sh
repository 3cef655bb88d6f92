#!/bin/bash
# tests/bench/throughput.sh: iperf3 throughput through WireGuard tunnels,
# straight to a backend versus through wglbd, with 1 client and with 4
# clients at once (sum). A benchmark, not a test: it never fails on a
# number. Needs root; uses the netns topology of tests/e2e/lib.sh.
#
# Env: BENCH_TIME   seconds per iperf3 run (default 10)
#      BENCH_BACKENDS number of backends behind wglbd (default 1, so both
#                   paths end at the same single wireguard-go; the direct
#                   clients always use backend 1)
#      BENCH_CLIENTS  concurrent clients for the "N clients" row (default 4)
#      WGLBD        wglbd binary (default: found like the e2e tests do)
#
# Output: a table, then one line of JSON starting with {"bench":"throughput".

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/benchlib.sh
. "$HERE/benchlib.sh"

BENCH_TIME=${BENCH_TIME:-10}
BENCH_BACKENDS=${BENCH_BACKENDS:-1}
BENCH_CLIENTS=${BENCH_CLIENTS:-4}
E2E_IPERF_SERVERS=$BENCH_CLIENTS

e2e_require_root_and_tools
have_wglbd=1
e2e_find_wglbd || have_wglbd=0
e2e_init

e2e_log "==> topology: $BENCH_BACKENDS backend(s), $BENCH_CLIENTS direct + $BENCH_CLIENTS balanced clients"
e2e_lb_ns
e2e_lb_routing on
for i in $(seq 1 "$BENCH_BACKENDS"); do e2e_add_backend "b$i"; done
DIRECT=()
LB=()
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
	e2e_start_wglbd "$E2E_DIR/wglb.conf"
else
	e2e_log "==> wglbd not found ($WGLBD): measuring the direct path only"
fi
for c in "${DIRECT[@]}" "${LB[@]}"; do
	e2e_ping_retry "$c" 3 || e2e_log "warning: $c cannot ping through its tunnel"
done

declare -A R=() CPU=()
bench_iperf_phase direct_1 "" "${DIRECT[0]}"
R[direct_1]=$PHASE_BPS
bench_iperf_phase "direct_$BENCH_CLIENTS" "" "${DIRECT[@]}"
R[direct_n]=$PHASE_BPS
if [ "$have_wglbd" = 1 ]; then
	bench_iperf_phase wglbd_1 "$E2E_WGLBD_PID" "${LB[0]}"
	R[wglbd_1]=$PHASE_BPS
	CPU[wglbd_1]=$PHASE_CPU
	bench_iperf_phase "wglbd_$BENCH_CLIENTS" "$E2E_WGLBD_PID" "${LB[@]}"
	R[wglbd_n]=$PHASE_BPS
	CPU[wglbd_n]=$PHASE_CPU
	spread=""
	for b in "${E2E_BACKENDS[@]}"; do
		spread="$spread $b:[$(e2e_clients_of "$b" | tr ' ' '\n' | grep '^l' | tr '\n' ' ' | sed 's/ $//')]"
	done
	stats=$(e2e_wglbd_stats)
fi

mbps() { [ -n "$1" ] && python3 -c "print('%.1f' % ($1 / 1e6))" || echo "-"; }
ratio() { { [ -n "$1" ] && [ -n "$2" ] && [ "$2" -gt 0 ] && python3 -c "print('%.2f' % ($1 / $2))"; } || echo "-"; }

echo
echo "wglb throughput (iperf3 -t $BENCH_TIME through wireguard-go tunnels, $(nproc) cpus, $BENCH_BACKENDS backend(s))"
printf '%-12s %14s %14s %10s %14s\n' clients "direct Mbit/s" "wglbd Mbit/s" "ratio" "wglbd cpu %"
printf '%-12s %14s %14s %10s %14s\n' 1 "$(mbps "${R[direct_1]}")" "$(mbps "${R[wglbd_1]:-}")" \
	"$(ratio "${R[wglbd_1]:-}" "${R[direct_1]}")" "${CPU[wglbd_1]:--}"
printf '%-12s %14s %14s %10s %14s\n' "$BENCH_CLIENTS (sum)" "$(mbps "${R[direct_n]}")" "$(mbps "${R[wglbd_n]:-}")" \
	"$(ratio "${R[wglbd_n]:-}" "${R[direct_n]}")" "${CPU[wglbd_n]:--}"
[ -n "${spread:-}" ] && echo "balanced clients per backend:$spread"
if [ -n "${stats:-}" ]; then
	echo "wglbd counters:"
	printf '%s\n' "$stats" | grep -v ' count=0$' | sed 's/^/  /'
fi
printf '{"bench":"throughput","duration_s":%s,"backends":%s,"clients":%s,"cpus":%s,"direct_1_bps":%s,"direct_n_bps":%s,"wglbd_1_bps":%s,"wglbd_n_bps":%s,"wglbd_1_cpu_pct":%s,"wglbd_n_cpu_pct":%s}\n' \
	"$BENCH_TIME" "$BENCH_BACKENDS" "$BENCH_CLIENTS" "$(nproc)" \
	"${R[direct_1]}" "${R[direct_n]}" "${R[wglbd_1]:-null}" "${R[wglbd_n]:-null}" \
	"${CPU[wglbd_1]:-null}" "${CPU[wglbd_n]:-null}"
exit 0
