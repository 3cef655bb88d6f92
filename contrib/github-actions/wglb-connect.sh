#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# wglb-connect.sh: connect this machine (a CI runner) to a private network
# through a WireGuard tunnel whose server side is wglb: one peer, the
# service public key, with wglb's address as endpoint. No wg-quick: the
# interface, addresses and routes are set up with ip(8) and wg(8) directly,
# so the same steps work on a GitHub-hosted runner (kernel WireGuard) and in
# a network namespace without the kernel module (WG_USERSPACE=1 runs
# wireguard-go).
#
# usage: wglb-connect.sh up|wait|check|down
#   up     create the interface, set key, peer, address and routes
#   wait   wait until the first handshake with the service has completed
#   check  reach the private service (PRIVATE_SERVICE_URL and/or PRIVATE_PING_HOST)
#   down   print the tunnel's counters and remove the interface (never fails)
#
# Environment (the same for every subcommand):
#   WG_PRIVATE_KEY       this runner's private key ("wg genkey"); up only
#   WGLB_PUBLIC_KEY      the service public key shared by every backend
#   WGLB_ENDPOINT        wglb's address: host:port, [v6addr]:port
#   WG_ADDRESS           this runner's tunnel address(es), comma-separated,
#                        e.g. 10.77.0.50/32 (without a prefix: /32 or /128)
#   WG_ALLOWED_IPS       the private network(s), comma-separated CIDRs;
#                        routed through the tunnel
#   WG_PRESHARED_KEY     optional preshared key of this peer
#   WG_INTERFACE         interface name (default wglb0)
#   WG_MTU               default 1420
#   WG_KEEPALIVE         persistent keepalive in seconds, 1..65535 (default
#                        25); it also sends the first handshake at "up"
#   WG_USERSPACE         1: wireguard-go instead of the kernel module
#   WG_HANDSHAKE_TIMEOUT seconds "wait" waits (default 60)
#   PRIVATE_SERVICE_URL  URL that "check" fetches with curl (must answer 2xx/3xx)
#   PRIVATE_PING_HOST    host that "check" pings
#   WG_CHECK_TIMEOUT     seconds each check may take (default 30)
#
# Needs root; when not root it re-runs itself with sudo, keeping these
# variables. Exit status: 0 on success, 1 on failure, 2 on usage errors.
set -euo pipefail

ENV_VARS=(WG_PRIVATE_KEY WGLB_PUBLIC_KEY WGLB_ENDPOINT WG_ADDRESS WG_ALLOWED_IPS
	WG_PRESHARED_KEY WG_INTERFACE WG_MTU WG_KEEPALIVE WG_USERSPACE WG_HANDSHAKE_TIMEOUT
	PRIVATE_SERVICE_URL PRIVATE_PING_HOST WG_CHECK_TIMEOUT)

IFC=${WG_INTERFACE:-wglb0}
MTU=${WG_MTU:-1420}
KEEPALIVE=${WG_KEEPALIVE:-25}
HANDSHAKE_TIMEOUT=${WG_HANDSHAKE_TIMEOUT:-60}
CHECK_TIMEOUT=${WG_CHECK_TIMEOUT:-30}

log() { printf 'wglb-connect: %s\n' "$*"; }
die() {
	printf 'wglb-connect: error: %s\n' "$*" >&2
	exit 1
}
usage() {
	sed -n 's/^# \{0,1\}//; /^usage:/,/^$/p' "$0" >&2
	exit 2
}

need() {  # need VAR...: fail unless each variable is set and not empty
	local v
	for v in "$@"; do
		[ -n "${!v:-}" ] || die "$v is not set"
	done
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# in_range VALUE LOW HIGH: VALUE is a decimal integer within LOW..HIGH
in_range() { is_uint "$1" && [ "${#1}" -le 9 ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

check_settings() {
	[[ $IFC =~ ^[A-Za-z0-9_.=+-]{1,15}$ ]] || die "WG_INTERFACE: bad interface name \"$IFC\""
	in_range "$MTU" 1280 9000 ||
		die "WG_MTU: expected 1280..9000, got \"$MTU\""
	in_range "$KEEPALIVE" 1 65535 ||
		die "WG_KEEPALIVE: expected 1..65535, got \"$KEEPALIVE\""
	in_range "$HANDSHAKE_TIMEOUT" 1 86400 || die "WG_HANDSHAKE_TIMEOUT: expected seconds, got \"$HANDSHAKE_TIMEOUT\""
	in_range "$CHECK_TIMEOUT" 1 86400 ||
		die "WG_CHECK_TIMEOUT: expected seconds, got \"$CHECK_TIMEOUT\""
}

become_root() {
	[ "$(id -u)" -eq 0 ] && return 0
	command -v sudo >/dev/null 2>&1 || die "needs root (and sudo is not installed)"
	local keep
	keep=$(IFS=,; echo "${ENV_VARS[*]}")
	exec sudo --preserve-env="$keep" -- "$BASH" "$0" "$@"
}

link_exists() { ip link show dev "$IFC" >/dev/null 2>&1; }

# split_list VALUE: a comma- or space-separated list, one item a line
split_list() { tr -s ', \t' '\n' <<<"$1" | sed '/^$/d'; }

# endpoint_host ENDPOINT: the host part of host:port or [v6]:port
endpoint_host() {
	case $1 in
	\[*\]:*) local h=${1#[}; echo "${h%%]:*}" ;;
	*:*) echo "${1%:*}" ;;
	*) return 1 ;;
	esac
}

cmd_up() {
	need WG_PRIVATE_KEY WGLB_PUBLIC_KEY WGLB_ENDPOINT WG_ADDRESS WG_ALLOWED_IPS
	check_settings
	local host port addr net allowed ep_ip route out
	host=$(endpoint_host "$WGLB_ENDPOINT") || die "WGLB_ENDPOINT: expected host:port, got \"$WGLB_ENDPOINT\""
	port=${WGLB_ENDPOINT##*:}
	in_range "$port" 1 65535 ||
		die "WGLB_ENDPOINT: bad port in \"$WGLB_ENDPOINT\""
	[ -n "$host" ] || die "WGLB_ENDPOINT: no host in \"$WGLB_ENDPOINT\""
	command -v wg >/dev/null 2>&1 || die "wg not found: install wireguard-tools"
	link_exists && die "interface $IFC exists already (run \"$0 down\" first)"

	allowed=$(split_list "$WG_ALLOWED_IPS" | paste -sd, -)
	[ -n "$allowed" ] || die "WG_ALLOWED_IPS is empty"

	if [ "${WG_USERSPACE:-0}" = 1 ]; then
		command -v wireguard-go >/dev/null 2>&1 || die "wireguard-go not found"
		log "creating $IFC with wireguard-go"
		# wireguard-go detaches itself once the interface and its control
		# socket exist, and exits when the interface is deleted. Its
		# output (a banner recommending the kernel module) only matters
		# when it fails.
		out=$(wireguard-go "$IFC" 2>&1) || die "wireguard-go $IFC failed: $out"
	else
		log "creating $IFC (kernel WireGuard)"
		ip link add dev "$IFC" type wireguard ||
			die "cannot create a WireGuard interface (no kernel module? try WG_USERSPACE=1)"
	fi
	# from here on a failure removes the interface again
	trap 'ip link del dev "$IFC" 2>/dev/null || true' EXIT

	# keys go to wg through pipes, never to a file or the command line
	wg set "$IFC" private-key <(printf '%s\n' "$WG_PRIVATE_KEY") ||
		die "wg set private-key failed (is WG_PRIVATE_KEY what \"wg genkey\" prints?)"
	if [ -n "${WG_PRESHARED_KEY:-}" ]; then
		wg set "$IFC" peer "$WGLB_PUBLIC_KEY" preshared-key <(printf '%s\n' "$WG_PRESHARED_KEY") ||
			die "wg set preshared-key failed"
	fi
	# wg resolves a host name in the endpoint itself
	wg set "$IFC" peer "$WGLB_PUBLIC_KEY" endpoint "$WGLB_ENDPOINT" \
		allowed-ips "$allowed" persistent-keepalive "$KEEPALIVE" ||
		die "wg set peer failed (check WGLB_PUBLIC_KEY, WGLB_ENDPOINT and WG_ALLOWED_IPS)"

	while read -r addr; do
		case $addr in
		*/*) ;;
		*:*) addr=$addr/128 ;;
		*) addr=$addr/32 ;;
		esac
		ip address add "$addr" dev "$IFC" || die "cannot add address $addr"
	done < <(split_list "$WG_ADDRESS")
	ip link set dev "$IFC" mtu "$MTU" up || die "cannot bring $IFC up"
	while read -r net; do
		ip route replace "$net" dev "$IFC" || die "cannot route $net through $IFC"
	done < <(split_list "$WG_ALLOWED_IPS")

	# WireGuard's own packets must not be routed into the tunnel (that needs
	# wg-quick's policy routing, e.g. for AllowedIPs = 0.0.0.0/0)
	ep_ip=$(getent ahosts "$host" 2>/dev/null | awk 'NR == 1 { print $1 }') || true
	if [ -n "$ep_ip" ]; then
		route=$(ip route get "$ep_ip" 2>/dev/null || true)
		case " $route " in
		*" dev $IFC "*) die "WG_ALLOWED_IPS covers wglb's own address $ep_ip: the tunnel would route into itself" ;;
		esac
	else
		log "warning: cannot resolve $host here (wg resolved it or will retry)"
	fi
	trap - EXIT
	log "$IFC is up: address $(split_list "$WG_ADDRESS" | paste -sd, -), peer $WGLB_PUBLIC_KEY"
	log "endpoint $WGLB_ENDPOINT, routes $allowed"
}

# latest_handshake: unix time of the peer's last handshake (0: none yet)
latest_handshake() {
	wg show "$IFC" latest-handshakes 2>/dev/null |
		awk -v k="$WGLB_PUBLIC_KEY" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }'
}

cmd_wait() {
	need WGLB_PUBLIC_KEY
	check_settings
	link_exists || die "interface $IFC does not exist (run \"$0 up\" first)"
	local start now t
	start=$(date +%s)
	log "waiting up to ${HANDSHAKE_TIMEOUT}s for the handshake with $WGLB_PUBLIC_KEY"
	while :; do
		t=$(latest_handshake)
		if [[ $t =~ ^[1-9][0-9]*$ ]]; then
			now=$(date +%s)
			log "handshake completed after $((now - start))s"
			return 0
		fi
		now=$(date +%s)
		[ $((now - start)) -lt "$HANDSHAKE_TIMEOUT" ] || break
		sleep 1
	done
	log "no handshake within ${HANDSHAKE_TIMEOUT}s; the interface:" >&2
	wg show "$IFC" >&2 || true
	die "no handshake: check that this runner's public key is a peer on EVERY backend, that WGLB_PUBLIC_KEY is the backends' public key, and that UDP to $(wg show "$IFC" endpoints 2>/dev/null | awk '{ print $2 }') is allowed"
}

cmd_check() {
	check_settings
	link_exists || die "interface $IFC does not exist (run \"$0 up\" first)"
	[ -n "${PRIVATE_SERVICE_URL:-}" ] || [ -n "${PRIVATE_PING_HOST:-}" ] ||
		die "set PRIVATE_SERVICE_URL and/or PRIVATE_PING_HOST to say what to reach"
	local rc=0 out
	if [ -n "${PRIVATE_PING_HOST:-}" ]; then
		log "ping $PRIVATE_PING_HOST"
		# a few tries: the first packets may wait for a rekey
		if ping -n -c 3 -i 0.5 -w "$CHECK_TIMEOUT" "$PRIVATE_PING_HOST"; then
			log "ping $PRIVATE_PING_HOST: ok"
		else
			log "ping $PRIVATE_PING_HOST: FAILED" >&2
			rc=1
		fi
	fi
	if [ -n "${PRIVATE_SERVICE_URL:-}" ]; then
		command -v curl >/dev/null 2>&1 || die "curl not found"
		log "GET $PRIVATE_SERVICE_URL"
		if out=$(curl --fail --silent --show-error --location --output /dev/null \
			--max-time "$CHECK_TIMEOUT" --retry 3 --retry-delay 2 --retry-connrefused \
			--write-out 'HTTP %{http_code} in %{time_total}s' "$PRIVATE_SERVICE_URL"); then
			log "GET $PRIVATE_SERVICE_URL: $out"
		else
			log "GET $PRIVATE_SERVICE_URL: FAILED ${out:-}" >&2
			rc=1
		fi
	fi
	wg show "$IFC" transfer | awk '{ printf "wglb-connect: received %s bytes, sent %s bytes\n", $2, $3 }'
	return "$rc"
}

# Always succeeds, so that a workflow's cleanup step never fails the job.
cmd_down() {
	if ! link_exists; then
		log "$IFC does not exist: nothing to do"
		return 0
	fi
	wg show "$IFC" transfer 2>/dev/null |
		awk '{ printf "wglb-connect: received %s bytes, sent %s bytes\n", $2, $3 }' || true
	ip link del dev "$IFC" 2>/dev/null || log "warning: cannot delete $IFC"
	# wireguard-go exits when its interface goes and removes its socket;
	# give it a moment, then remove a socket a killed one left behind
	if [ -e "/var/run/wireguard/$IFC.sock" ]; then
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			[ -e "/var/run/wireguard/$IFC.sock" ] || break
			sleep 0.2
		done
		rm -f "/var/run/wireguard/$IFC.sock"
	fi
	log "$IFC removed"
	return 0
}

[ $# -eq 1 ] || usage
case $1 in
up | wait | check | down) ;;
-h | --help | help) usage ;;
*) usage ;;
esac
become_root "$@"
case $1 in
up) cmd_up ;;
wait) cmd_wait ;;
check) cmd_check ;;
down) cmd_down ;;
esac
