#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Recapture the WireGuard packet fixtures in this directory from two real
# wireguard-go peers talking over a veth pair between two throw-away network
# namespaces, then extract and check them (public keys only).
#
# Needs root, wireguard-go, wireguard-tools (wg), tcpdump, iproute2, python3
# with python3-cryptography (to open the cookie reply).
#
# Private keys never go into the repository: they are read from $WGFX_KEYDIR
# (default /tmp/wgfx-keys, files server.key and client.key made by `wg genkey`)
# and created there if missing; keys.txt then gets the matching public keys.
#
# Usage: tests/data/wg/capture.sh [OUTDIR]      (OUTDIR defaults to this dir)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE}
KEYDIR=${WGFX_KEYDIR:-/tmp/wgfx-keys}
# Most junk initiations sent to push the server under load (it needs 128
# queued at once); the flood stops at the first cookie reply, usually after
# 400-800 here, and never sends more than 1000.
FLOOD=${WGFX_FLOOD:-900}
PORT_S=51820
PORT_C=51821

# Every name carries our PID so two runs, or anything else on the host,
# cannot collide.  Interface names must stay <= 15 characters and be unique
# host-wide: wireguard-go keeps /var/run/wireguard/NAME.sock outside the
# namespace.
id=$$
NS_S=wgfx$id-srv
NS_C=wgfx$id-cli
VETH_S=wgfx${id}vs
VETH_C=wgfx${id}vc
WG_S=wgfx${id}ws
WG_C=wgfx${id}wc
ADDR_S=10.213.0.1
ADDR_C=10.213.0.2
TUN_S=10.214.0.1
TUN_C=10.214.0.2

TMP=$(mktemp -d /tmp/wgfx-capture.XXXXXX)
PIDS=()
NETNS=()
FLOODPID=
TCPDUMP=

cleanup() {
	local rc=$? pid ns
	set +e
	# Only what this script started and has not reaped yet.
	for pid in "${PIDS[@]}" $FLOODPID $TCPDUMP; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}" $FLOODPID $TCPDUMP; do
		wait "$pid" 2>/dev/null
	done
	for ns in "${NETNS[@]}"; do
		ip netns del "$ns"
	done
	rm -f "/var/run/wireguard/$WG_S.sock" "/var/run/wireguard/$WG_C.sock"
	if [ "$rc" -ne 0 ]; then
		echo "capture failed (rc=$rc); logs:" >&2
		tail -n 30 "$TMP"/*.log >&2
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT

in_s() { ip netns exec "$NS_S" "$@"; }
in_c() { ip netns exec "$NS_C" "$@"; }

wait_for() {	# wait_for SECONDS CMD...: poll until CMD succeeds
	local n=$(( $1 * 10 ))
	shift
	while ! "$@" 2>/dev/null; do
		n=$(( n - 1 ))
		[ "$n" -gt 0 ] || { echo "timed out waiting for: $*" >&2; return 1; }
		sleep 0.1
	done
}

for name in "$WG_S" "$WG_C"; do
	if [ -e "/var/run/wireguard/$name.sock" ]; then
		echo "$name is already in use" >&2
		exit 1
	fi
done

mkdir -p "$KEYDIR"
chmod 700 "$KEYDIR"
(
	umask 077
	[ -s "$KEYDIR/server.key" ] || wg genkey > "$KEYDIR/server.key"
	[ -s "$KEYDIR/client.key" ] || wg genkey > "$KEYDIR/client.key"
)
SPUB=$(wg pubkey < "$KEYDIR/server.key")
CPUB=$(wg pubkey < "$KEYDIR/client.key")

# --- topology -------------------------------------------------------------
ip netns add "$NS_S"; NETNS+=("$NS_S")
ip netns add "$NS_C"; NETNS+=("$NS_C")
ip link add "$VETH_S" netns "$NS_S" type veth peer name "$VETH_C" netns "$NS_C"
in_s ip link set lo up
in_c ip link set lo up
in_s ip addr add "$ADDR_S/24" dev "$VETH_S"
in_c ip addr add "$ADDR_C/24" dev "$VETH_C"
in_s ip link set "$VETH_S" up
in_c ip link set "$VETH_C" up

# Not through in_s/in_c: a backgrounded shell function is a subshell, and we
# want $! to be the daemon itself (`ip netns exec` and `env` both exec).
ip netns exec "$NS_S" env LOG_LEVEL=verbose wireguard-go -f "$WG_S" \
	> "$TMP/wg-server.log" 2>&1 &
PIDS+=($!)
ip netns exec "$NS_C" env LOG_LEVEL=verbose wireguard-go -f "$WG_C" \
	> "$TMP/wg-client.log" 2>&1 &
PIDS+=($!)
wait_for 10 test -S "/var/run/wireguard/$WG_S.sock"
wait_for 10 test -S "/var/run/wireguard/$WG_C.sock"

in_s wg set "$WG_S" private-key "$KEYDIR/server.key" listen-port "$PORT_S" \
	peer "$CPUB" allowed-ips "$TUN_C/32"
in_c wg set "$WG_C" private-key "$KEYDIR/client.key" listen-port "$PORT_C" \
	peer "$SPUB" endpoint "$ADDR_S:$PORT_S" allowed-ips "$TUN_S/32"
in_s ip addr add "$TUN_S/24" dev "$WG_S"
in_c ip addr add "$TUN_C/24" dev "$WG_C"
in_s ip link set "$WG_S" up
in_c ip link set "$WG_C" up

# Capture on the server's end of the veth: that is what a balancer in front
# of the server would see.
ip netns exec "$NS_S" tcpdump -i "$VETH_S" -Z root -n -U -s 0 -B 8192 -w "$TMP/cap.pcap" \
	"udp port $PORT_S" > "$TMP/tcpdump.log" 2>&1 &
TCPDUMP=$!
wait_for 10 grep -q "listening on" "$TMP/tcpdump.log"

# --- phase 1: a clean handshake, data both ways, keepalives ---------------
in_c ping -n -c 3 -i 0.5 -w 10 "$TUN_S" > "$TMP/ping1.log"
# Turning persistent keepalive on sends one at once, then one a second.
in_c wg set "$WG_C" peer "$SPUB" persistent-keepalive 1
sleep 2.5
in_c wg set "$WG_C" peer "$SPUB" persistent-keepalive 0

# --- phase 2: a cookie reply to a real initiation --------------------------
# Re-adding the peer forgets its session, so the next ping starts a fresh
# handshake.  A burst of junk initiations with valid mac1 (each costs the
# server an X25519) queues more than 128 handshakes; the server then counts
# as under load for a second and answers the client's initiation with a
# cookie reply.  The client retries with mac2 after REKEY_TIMEOUT (5 s).
in_c wg set "$WG_C" peer "$SPUB" remove
in_c wg set "$WG_C" peer "$SPUB" endpoint "$ADDR_S:$PORT_S" allowed-ips "$TUN_S/32"

cat > "$TMP/flood.py" <<'EOF'
# Bounded bursts of 148-byte type-1 junk with a valid mac1, sent from their
# own socket so the cookie replies they earn do not reach the real client.
# Stops at the first cookie reply: the server is then under load for 1 s.
import base64, hashlib, os, select, socket, sys
pub = base64.b64decode(sys.argv[1])
dst = (sys.argv[2], int(sys.argv[3]))
limit = min(int(sys.argv[4]), 1000)
key = hashlib.blake2s(b"mac1----" + pub).digest()
# Build everything first: the bursts must outpace the server's workers.
junk = []
for _ in range(limit):
	head = b"\x01\x00\x00\x00" + os.urandom(112)
	mac1 = hashlib.blake2s(head, key=key, digest_size=16).digest()
	junk.append(head + mac1 + bytes(16))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.connect(dst)
sent = 0
loaded = False
while sent < limit and not loaded:
	# Bursts small enough not to overflow the daemon's socket buffer.
	for p in junk[sent:sent + 100]:
		try:
			s.send(p)
		except OSError:
			pass
	sent = min(sent + 100, limit)
	if select.select([s], [], [], 0.001)[0]:
		loaded = s.recv(2048)[:4] == b"\x03\x00\x00\x00"
if not loaded and select.select([s], [], [], 0.2)[0]:
	loaded = s.recv(2048)[:4] == b"\x03\x00\x00\x00"
print("burst sent", flush=True)
s.settimeout(0.5)
cookies = int(loaded)
try:
	while True:
		if s.recv(2048)[:4] == b"\x03\x00\x00\x00":
			cookies += 1
except (socket.timeout, OSError):
	pass
print("flood: %d junk initiations, cookie replies %d" % (sent, cookies))
EOF
ip netns exec "$NS_C" python3 "$TMP/flood.py" "$SPUB" "$ADDR_S" "$PORT_S" "$FLOOD" > "$TMP/flood.log" &
FLOODPID=$!
wait_for 10 grep -q "burst sent" "$TMP/flood.log"
# The ping must start while the server is still under load (1 s after the
# queue last held 128); it then needs the 5 s retransmit to get through.
in_c ping -n -c 2 -i 0.5 -w 15 "$TUN_S" > "$TMP/ping2.log" || true
wait "$FLOODPID" || true
FLOODPID=
cat "$TMP/flood.log"
sleep 0.5

kill -INT "$TCPDUMP"
wait "$TCPDUMP" || true
TCPDUMP=

# --- extract and check ------------------------------------------------------
cat > "$TMP/extract.py" <<'EOF'
# Pick the fixtures out of the pcap, check them with public keys only and
# write them.  Written for this script; no third-party pcap parser needed.
import base64, hashlib, struct, sys
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

pcap, outdir, spub_b64, cpub_b64, addr_s, addr_c, port_s, port_c = sys.argv[1:9]
port_s, port_c = int(port_s), int(port_c)
spub, cpub = base64.b64decode(spub_b64), base64.b64decode(cpub_b64)

def packets(path):
	data = open(path, "rb").read()
	magic = struct.unpack("<I", data[:4])[0]
	end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
	linktype = struct.unpack(end + "I", data[20:24])[0]
	assert linktype == 1, "expected Ethernet link type, got %d" % linktype
	off = 24
	while off + 16 <= len(data):
		incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
		frame = data[off + 16:off + 16 + incl]
		off += 16 + incl
		if frame[12:14] != b"\x08\x00":
			continue
		ip = frame[14:]
		ihl = (ip[0] & 15) * 4
		if ip[9] != 17:
			continue
		src = ".".join(str(b) for b in ip[12:16])
		dst = ".".join(str(b) for b in ip[16:20])
		udp = ip[ihl:]
		sport, dport, ulen = struct.unpack(">HHH", udp[:6])
		yield (src, sport), (dst, dport), udp[8:ulen]

def u32(p, off):
	return struct.unpack("<I", p[off:off + 4])[0]

def mtype(p):
	return u32(p, 0) if len(p) >= 4 else None

def mac(key, msg):
	return hashlib.blake2s(msg, key=key, digest_size=16).digest()

mac1_srv = hashlib.blake2s(b"mac1----" + spub).digest()
mac1_cli = hashlib.blake2s(b"mac1----" + cpub).digest()
cookie_key = hashlib.blake2s(b"cookie--" + spub).digest()

def hchacha20(key, nonce):
	def rotl(v, n):
		return ((v << n) | (v >> (32 - n))) & 0xffffffff
	def qr(s, a, b, c, d):
		s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 16)
		s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 12)
		s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 8)
		s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 7)
	s = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]
	s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce))
	for _ in range(10):
		qr(s, 0, 4, 8, 12); qr(s, 1, 5, 9, 13); qr(s, 2, 6, 10, 14); qr(s, 3, 7, 11, 15)
		qr(s, 0, 5, 10, 15); qr(s, 1, 6, 11, 12); qr(s, 2, 7, 8, 13); qr(s, 3, 4, 9, 14)
	return struct.pack("<8I", *(s[0:4] + s[12:16]))

def xaead_open(key, nonce24, ct, aad):
	sub = hchacha20(key, nonce24[:16])
	return ChaCha20Poly1305(sub).decrypt(b"\0" * 4 + nonce24[16:], ct, aad)

S = (addr_s, port_s)
C = (addr_c, port_c)
pk = list(packets(pcap))
c2s = [p for s, d, p in pk if s == C and d == S]
s2c = [p for s, d, p in pk if s == S and d == C]
print("captured %d datagrams: %d client->server, %d server->client, %d other" %
      (len(pk), len(c2s), len(s2c), len(pk) - len(c2s) - len(s2c)))

def first(seq, pred, what):
	for p in seq:
		if pred(p):
			return p
	sys.exit("no %s in the capture" % what)

# Phase 1: the first response to the real client, and the initiation it answers.
resp = first(s2c, lambda p: mtype(p) == 2, "handshake response")
init = first(c2s, lambda p: mtype(p) == 1 and u32(p, 4) == u32(resp, 8),
	     "initiation answered by the response")
i_sender, r_sender = u32(init, 4), u32(resp, 4)
data = first(c2s, lambda p: mtype(p) == 4 and len(p) > 32 and u32(p, 4) == r_sender,
	     "client data")
data_reply = first(s2c, lambda p: mtype(p) == 4 and len(p) > 32 and u32(p, 4) == i_sender,
		   "server data")
keepalive = first(c2s, lambda p: mtype(p) == 4 and len(p) == 32 and u32(p, 4) == r_sender,
		  "keepalive")

assert len(init) == 148 and len(resp) == 92
assert mac(mac1_srv, init[:116]) == init[116:132], "initiation mac1"
assert init[132:] == bytes(16), "initiation mac2 should be empty"
assert mac(mac1_cli, resp[:60]) == resp[60:76], "response mac1"
assert mac(mac1_srv, resp[:60]) != resp[60:76]
assert u32(resp, 8) == i_sender

fix = {
	"initiation": init, "response": resp, "data": data,
	"data-reply": data_reply, "keepalive": keepalive,
}
notes = [
	("initiation_sender", "0x%08x" % i_sender),
	("response_sender", "0x%08x" % r_sender),
	("response_receiver", "0x%08x" % u32(resp, 8)),
	("data_receiver", "0x%08x" % u32(data, 4)),
	("data_len", "%d" % len(data)),
	("data_reply_receiver", "0x%08x" % u32(data_reply, 4)),
	("data_reply_len", "%d" % len(data_reply)),
	("keepalive_receiver", "0x%08x" % u32(keepalive, 4)),
]

# Phase 2: a cookie reply to one of the real client's initiations, and the
# initiation (with mac2) the client sent after it.
cookie = next((p for p in s2c if mtype(p) == 3), None)
if cookie is None:
	sys.exit("no cookie reply to the real client was captured: run again")
assert len(cookie) == 64
c_init = [p for p in c2s if mtype(p) == 1 and u32(p, 4) == u32(cookie, 4)]
assert len(c_init) == 1, "initiation answered by the cookie"
c_init = c_init[0]
assert mac(mac1_srv, c_init[:116]) == c_init[116:132]
value = xaead_open(cookie_key, cookie[8:32], cookie[32:64], c_init[116:132])
assert len(value) == 16
after = c2s[c2s.index(c_init) + 1:]
retry = first(after, lambda p: mtype(p) == 1 and p[132:] != bytes(16),
	      "initiation with mac2")
assert mac(mac1_srv, retry[:116]) == retry[116:132]
assert mac(value, retry[:132]) == retry[132:148], "mac2 of the retry"
fix["cookie"] = cookie
fix["cookie-initiation"] = c_init
fix["initiation-mac2"] = retry
notes += [
	("cookie_receiver", "0x%08x" % u32(cookie, 4)),
	("cookie_initiation_sender", "0x%08x" % u32(c_init, 4)),
	("cookie_initiation_mac1", c_init[116:132].hex()),
	("cookie_value", value.hex()),
	("initiation_mac2_sender", "0x%08x" % u32(retry, 4)),
]

for name, p in fix.items():
	with open("%s/%s.hex" % (outdir, name), "w") as f:
		f.write(p.hex() + "\n")
	print("%-18s %3d bytes" % (name + ".hex", len(p)))
with open(outdir + "/keys.txt", "w") as f:
	f.write("# Public keys and expected fields of the fixtures here (see README).\n")
	f.write("# Indices are the little-endian u32 read from the wire.\n")
	f.write("server_public = %s\n" % spub_b64)
	f.write("client_public = %s\n" % cpub_b64)
	for k, v in notes:
		f.write("%s = %s\n" % (k, v))
EOF
# Into a scratch directory first, so a failed run leaves the old set intact.
mkdir "$TMP/out"
python3 "$TMP/extract.py" "$TMP/cap.pcap" "$TMP/out" "$SPUB" "$CPUB" \
	"$ADDR_S" "$ADDR_C" "$PORT_S" "$PORT_C"
mkdir -p "$OUT"
cp "$TMP"/out/* "$OUT"/
echo "fixtures written to $OUT"
