#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/bench/cpu-per-packet.sh: wglbd's CPU time per forwarded datagram
# during one iperf3 transfer through a WireGuard tunnel (1 client, 1
# backend, wireguard-go, own namespaces). A benchmark: prints, never fails.
# Env: BYTES (default 300M), REV=1 (backend sends), WGLBD (binary).
# Needs root, wireguard-go, wg, iperf3.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
WGLBD=${WGLBD:-$top/wglbd}
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
R=cp$$
cleanup(){ for p in ${PIDS:-}; do kill "$p" 2>/dev/null; done; sleep 0.3; for n in c lb b; do ip netns del "$R$n" 2>/dev/null; done; rm -f /var/run/wireguard/"${R}"*.sock; rm -rf "${D:-/nonexistent}"; }
trap cleanup EXIT
PIDS=
for n in c lb b; do ip netns add $R$n; ip -n $R$n link set lo up; done
ip link add ${R}c0 netns ${R}c type veth peer name ${R}l0 netns ${R}lb
ip link add ${R}b0 netns ${R}b type veth peer name ${R}l1 netns ${R}lb
ip -n ${R}c addr add 10.201.0.2/24 dev ${R}c0; ip -n ${R}c link set ${R}c0 up
ip -n ${R}lb addr add 10.201.0.1/24 dev ${R}l0; ip -n ${R}lb link set ${R}l0 up
ip -n ${R}lb addr add 10.201.1.1/24 dev ${R}l1; ip -n ${R}lb link set ${R}l1 up
ip -n ${R}b addr add 10.201.1.2/24 dev ${R}b0; ip -n ${R}b link set ${R}b0 up
D=$(mktemp -d); umask 077
wg genkey > $D/s.key; wg pubkey < $D/s.key > $D/s.pub; wg genkey > $D/c.key; wg pubkey < $D/c.key > $D/c.pub
ip netns exec ${R}b wireguard-go -f ${R}wb > $D/wb.log 2>&1 & PIDS="$PIDS $!"
ip netns exec ${R}c wireguard-go -f ${R}wc > $D/wc.log 2>&1 & PIDS="$PIDS $!"
sleep 1
ip netns exec ${R}b wg set ${R}wb private-key $D/s.key listen-port 51820 peer $(cat $D/c.pub) allowed-ips 10.77.0.2/32
ip -n ${R}b addr add 10.77.0.1/24 dev ${R}wb; ip -n ${R}b link set ${R}wb up
ip netns exec ${R}c wg set ${R}wc private-key $D/c.key peer $(cat $D/s.pub) allowed-ips 10.77.0.0/24 endpoint 10.201.0.1:51820
ip -n ${R}c addr add 10.77.0.2/24 dev ${R}wc; ip -n ${R}c link set ${R}wc up
cat > $D/lb.conf <<EOC
[global]
listen = 0.0.0.0:51820
public_key = $(cat $D/s.pub)
control = $D/ctl.sock
[backend one]
address = 10.201.1.2:51820
EOC
ip netns exec ${R}lb "$WGLBD" -c $D/lb.conf > $D/lb.log 2>&1 & LBPID=$!; PIDS="$PIDS $LBPID"
sleep 0.5
ip netns exec ${R}c ping -c 1 -W 2 10.77.0.1 >/dev/null
ip netns exec ${R}b iperf3 -s -1 -B 10.77.0.1 >/dev/null 2>&1 & PIDS="$PIDS $!"; sleep 0.5
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$LBPID/stat)
ip netns exec ${R}c iperf3 -c 10.77.0.1 -n ${BYTES:-300M} ${REV:+-R} -J > $D/ip.json
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$LBPID/stat)
kill -USR1 $LBPID; sleep 0.3
pk=$(grep 'stats: rx_packets' $D/lb.log | tail -1 | sed 's/.*rx_packets=\([0-9]*\).*tx_packets=\([0-9]*\).*/\1 \2/')
set -- $pk
tot=$(( $1 + $2 ))
tck=$(getconf CLK_TCK)
python3 - "$D/ip.json" $u0 $s0 $u1 $s1 $tot $tck <<'PY'
import json,sys
j=json.load(open(sys.argv[1])); bps=j['end']['sum_received']['bits_per_second']
u0,s0,u1,s1,tot,tck=map(int,sys.argv[2:])
cpu=(u1-u0+s1-s0)/tck
print(f"iperf {bps/1e6:.0f} Mbit/s; wglbd cpu {cpu:.2f}s (user {(u1-u0)/tck:.2f} sys {(s1-s0)/tck:.2f}) for {tot} packets: {cpu/tot*1e9:.0f} ns/packet")
PY
