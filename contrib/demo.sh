#!/bin/bash
# contrib/demo.sh: wglb in five minutes on a fresh Debian 12 machine.
#
#   sudo contrib/demo.sh          (from the repository root)
#
# Installs the build and demo dependencies with apt-get, builds wglbd,
# then builds a throw-away network of namespaces on this machine:
#
#   client1, client2  -->  wglbd (VIP 10.200.0.1:51820)  -->  backend1..3
#
# Every backend runs wireguard-go with the same private key; each client has
# one peer: that shared public key at the VIP. The demo shows traffic
# through wglbd, which backend serves which client, a failover when the
# backend of client1 dies, and wglbd's counters. Everything is removed at
# the end (also on Ctrl-C). Set DEMO_SKIP_APT=1 to skip apt-get,
# DEMO_SKIP_BUILD=1 to use an existing binary ($WGLBD or ./wglbd).

set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)

say() { printf '\n==> %s\n' "$*"; }
die() { printf '\n==> FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root (network namespaces and TUN devices need it)"
{ [ -f configure.ac ] && [ -d src ]; } || die "run me from a wglb source tree"

# ---- 1. packages ------------------------------------------------------------
PKGS="build-essential autoconf automake libtool pkg-config libev-dev libsodium-dev
libb2-dev libmnl-dev libinih-dev libmicrohttpd-dev libjansson-dev libcriterion-dev
wireguard-go wireguard-tools iperf3 iproute2 iputils-ping tcpdump python3 curl"
missing=()
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	say "all packages already installed"
elif [ "${DEMO_SKIP_APT:-0}" = 1 ]; then
	say "DEMO_SKIP_APT=1: not installing ${missing[*]}"
else
	say "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update || die "apt-get update"
	# --no-install-recommends: wireguard-tools would otherwise pull a kernel
	apt-get install -y --no-install-recommends "${missing[@]}" || die "apt-get install"
fi

# ---- 2. build ---------------------------------------------------------------
if [ "${DEMO_SKIP_BUILD:-0}" = 1 ]; then
	say "DEMO_SKIP_BUILD=1: using ${WGLBD:-./wglbd} as it is"
elif [ -x ./wglbd ] && [ ./wglbd -nt configure.ac ] && [ -z "$(find src include -newer ./wglbd -print -quit)" ]; then
	say "wglbd is built and up to date"
else
	say "building wglbd"
	[ -x configure ] || autoreconf -fi || die "autoreconf"
	[ -f Makefile ] || ./configure || die "configure"
	make -j"$(nproc)" || die "make"
fi
WGLBD=${WGLBD:-$ROOT/wglbd}
[ -x "$WGLBD" ] || die "no wglbd binary after the build"
export WGLBD

# ---- 3. topology ------------------------------------------------------------
# shellcheck source=tests/e2e/lib.sh
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
# shellcheck disable=SC2119 # it takes no arguments
e2e_require_root_and_tools
e2e_init
say "creating namespaces: wglbd in $E2E_NS_LB, VIP $E2E_VIP4:$E2E_PORT"
e2e_lb_ns
for b in backend1 backend2 backend3; do
	e2e_add_backend "$b"
	echo "    $b: namespace ${E2E_NS[$b]}, WireGuard at ${E2E_ADDR4[$b]}:$E2E_PORT, tunnel address $E2E_TUN4"
done
echo "    shared backend public key: $E2E_SRV_PUB"
for c in client1 client2; do
	e2e_add_client "$c" v4
	echo "    $c: namespace ${E2E_NS[$c]}, tunnel ${E2E_TADDR4[$c]}, peer $E2E_SRV_PUB @ $E2E_VIP4:$E2E_PORT"
done
# health probes every second (the probe key is a peer on every backend), metrics on
# the balancer's loopback, a control socket for wglbctl
E2E_HEALTH=1
E2E_HEALTH_LINES=("interval = 1s" "timeout = 500ms")
E2E_METRICS=1
e2e_write_conf "$E2E_DIR/wglb.conf"
e2e_find_wglbctl || die "no wglbctl binary after the build"
say "wglbd configuration ($E2E_DIR/wglb.conf)"
sed 's/^/    /' "$E2E_DIR/wglb.conf"
say "starting wglbd"
e2e_start_wglbd "$E2E_DIR/wglb.conf"
echo "    pid $E2E_WGLBD_PID, log $E2E_WGLBD_LOG"
say "backends, as wglbctl sees them once the first probes answered"
for _ in $(seq 1 50); do
	[ "$(e2e_ctl -j health | python3 -c 'import json,sys; print(json.load(sys.stdin)["up"])')" = 3 ] && break
	sleep 0.1
done
e2e_ctl backends | sed 's/^/    /'

# ---- 4. traffic -------------------------------------------------------------
for c in client1 client2; do
	say "$c pings $E2E_TUN4 through its tunnel"
	ok=0
	for _ in 1 2 3; do
		if e2e_ns_exec "$c" ping -n -c 3 -W 2 -i 0.3 "$E2E_TUN4"; then ok=1; break; fi
	done
	[ "$ok" = 1 ] || die "$c cannot reach $E2E_TUN4 through wglbd (log: $E2E_WGLBD_LOG)"
done
for c in client1 client2; do
	say "$c: 2 s of iperf3 through the tunnel"
	port=$((5201 + (${E2E_IDX[$c]} - 1) % E2E_IPERF_SERVERS))
	e2e_ns_exec "$c" timeout 30 iperf3 -c "$E2E_TUN4" -p "$port" -t 2 -f m |
		grep -E 'sender|receiver' | sed 's/^/    /'
done

show_serving() {
	local c b
	for c in client1 client2; do
		b=$(e2e_serving_backend "$c")
		echo "    $c (${E2E_PUB[$c]:0:12}...) -> ${b:-none}"
	done
}
say "which backend serves which client (latest handshakes from 'wg show' on each backend)"
for b in "${E2E_BACKENDS[@]}"; do
	echo "    $b:"
	e2e_wg "$b" show "${E2E_IF[$b]}" latest-handshakes | while read -r k t; do
		[ "$t" = 0 ] && continue
		for c in client1 client2; do
			[ "$k" = "${E2E_PUB[$c]}" ] && echo "        $c handshake at $(date -d "@$t" +%T)"
		done
	done
done
show_serving

# ---- 5. failover ------------------------------------------------------------
victim=$(e2e_serving_backend client1)
[ -n "$victim" ] || die "no backend serves client1"
say "failover: killing wireguard-go on $victim, which serves client1"
e2e_kill_backend_wg "$victim"
for _ in $(seq 1 60); do
	[ "$(e2e_ctl_backend "$victim" health)" = down ] && break
	sleep 0.1
done
say "wglbd's health probes found $victim down: no new handshake goes there"
e2e_ctl backends | sed 's/^/    /'
say "client1 keeps pinging; its WireGuard handshakes again about 15 s after the last answer, and wglbd steers it to a live backend (up to 40 s)"
t0=$(date +%s)
recovered=0
for _ in $(seq 1 40); do
	if e2e_ns_exec client1 ping -n -c 1 -W 1 "$E2E_TUN4" >/dev/null 2>&1; then
		now=$(($(date +%s) - t0))
		nb=$(e2e_serving_backend client1)
		if [ -n "$nb" ] && [ "$nb" != "$victim" ]; then
			echo "    t+${now}s reply from $E2E_TUN4, served by $nb"
			recovered=1
			break
		fi
		echo "    t+${now}s reply (still $victim?)"
	else
		echo "    t+$(($(date +%s) - t0))s no reply yet"
	fi
	[ $(($(date +%s) - t0)) -ge 40 ] && break
	sleep 1
done
[ "$recovered" = 1 ] || die "client1 did not recover through another backend within 40 s"
e2e_ns_exec client1 ping -n -c 3 -W 2 -i 0.3 "$E2E_TUN4" | tail -n 2 | sed 's/^/    /'
show_serving

# ---- 6. counters ------------------------------------------------------------
say "wglbctl status"
e2e_ctl status | sed 's/^/    /'
say "Prometheus metrics (http://$E2E_METRICS_ADDR/metrics in the balancer's namespace, an excerpt)"
# shellcheck disable=SC2119 # no path: /metrics
e2e_metrics_get | grep -E '^wglb_(backend_up|backend_sessions|backend_handshakes_(forwarded|completed)_total|sessions)[{ ]' |
	sed 's/^/    /'

say "tearing down (namespaces, wireguard-go, iperf3, wglbd)"
e2e_stop_pid "$E2E_WGLBD_PID"
say "demo finished"
exit 0
