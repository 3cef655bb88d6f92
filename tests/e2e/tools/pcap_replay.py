#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""pcap_replay: replay captured UDP payloads from another address.

tests/e2e/protect.sh captures a real client's traffic to the VIP with
"tcpdump -w" (classic pcap; Ethernet, Linux cooked or raw IP frames) and
sends the very same UDP payloads again from an attacker's socket.

usage: pcap_replay.py PCAP --from-ip IP [--from-port PORT] --to IP --port PORT
                      [--bind IP] [--repeat N] [--gap SECONDS] [--list]

Only IPv4 UDP datagrams from --from-ip (and --from-port, if given) to
--to:--port are taken, in capture order. --list prints one line per
payload (WireGuard type, length) and sends nothing. Prints a summary line
"replayed=N types=..." on stdout.
"""
import argparse
import socket
import struct
import sys
import time


def frames(path):
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        magic = struct.unpack("<I", hdr[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            endian = "<"
        elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
            endian = ">"
        else:
            raise SystemExit("pcap_replay: %s is not a classic pcap file" % path)
        linktype = struct.unpack(endian + "I", hdr[20:24])[0]
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            _, _, incl, _ = struct.unpack(endian + "IIII", rec)
            data = f.read(incl)
            if len(data) < incl:
                return
            yield linktype, data


def ipv4_udp(linktype, data):
    """(src, sport, dst, dport, payload) of an IPv4 UDP frame, else None."""
    if linktype == 1:            # Ethernet
        off, etype = 14, struct.unpack("!H", data[12:14])[0]
        if etype == 0x8100:      # one VLAN tag
            off, etype = 18, struct.unpack("!H", data[16:18])[0]
    elif linktype == 113:        # Linux cooked (SLL)
        off, etype = 16, struct.unpack("!H", data[14:16])[0]
    elif linktype in (101, 228):  # raw IP / raw IPv4
        off, etype = 0, 0x0800
    else:
        return None
    if etype != 0x0800 or len(data) < off + 20:
        return None
    ip = data[off:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ip[9] != 17 or len(ip) < ihl + 8:
        return None
    total = struct.unpack("!H", ip[2:4])[0]
    src = socket.inet_ntoa(ip[12:16])
    dst = socket.inet_ntoa(ip[16:20])
    sport, dport, ulen = struct.unpack("!HHH", ip[ihl:ihl + 6])
    payload = ip[ihl + 8:min(total, ihl + ulen)]
    return src, sport, dst, dport, payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap")
    ap.add_argument("--from-ip", required=True)
    ap.add_argument("--from-port", type=int)
    ap.add_argument("--to", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--gap", type=float, default=0.002)
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()

    payloads = []
    for lt, data in frames(a.pcap):
        u = ipv4_udp(lt, data)
        if not u:
            continue
        src, sport, dst, dport, payload = u
        if src != a.from_ip or dst != a.to or dport != a.port:
            continue
        if a.from_port is not None and sport != a.from_port:
            continue
        payloads.append(payload)
    types = {}
    for p in payloads:
        k = "t%d/%d" % (p[0] if p else -1, len(p))
        types[k] = types.get(k, 0) + 1
    if a.list:
        for p in payloads:
            print("type=%d len=%d" % (p[0] if p else -1, len(p)))
        print("captured=%d types=%s" % (len(payloads), ",".join(
            "%s:%d" % kv for kv in sorted(types.items()))))
        return 0
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if a.bind:
        s.bind((a.bind, 0))
    n = 0
    for _ in range(a.repeat):
        for p in payloads:
            s.sendto(p, (a.to, a.port))
            n += 1
            time.sleep(a.gap)
    print("replayed=%d from=%s:%d types=%s" % (n, s.getsockname()[0], s.getsockname()[1],
                                               ",".join("%s:%d" % kv
                                                        for kv in sorted(types.items()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
