#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed corpora of tests/fuzz (run from anywhere; overwrites them).

fuzz_datagram: records "OP LEN PAYLOAD" (see fuzz_datagram.c) built from the
real datagrams of tests/data/wg; fuzz_conf: the configuration files of
tests/data/conf and etc/; fuzz_control: request lines.
"""
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", ".."))
WG = os.path.join(TOP, "tests", "data", "wg")

# record kinds and flags (enum kind in fuzz_datagram.c)
FEED0, FEED1, SOCKET, BACKEND, STATE, CLOSE, RECONF, CONTROL = range(8)
FIX, RUN = 0x40, 0x80


def hexfile(name):
    with open(os.path.join(WG, name + ".hex")) as f:
        return bytes.fromhex("".join(f.read().split()))


def rec(kind, index=0, payload=b"", fix=False, run=False):
    op = (kind << 3) | (index & 7) | (FIX if fix else 0) | (RUN if run else 0)
    if len(payload) >= 254:
        return bytes([op, 254]) + struct.pack("<H", len(payload)) + payload
    return bytes([op, len(payload)]) + payload


def with_sender(msg, idx):
    return msg[:4] + struct.pack("<I", idx) + msg[8:]


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def datagram():
    t = "fuzz_datagram"
    init, resp = hexfile("initiation"), hexfile("response")
    data, reply = hexfile("data"), hexfile("data-reply")
    keep, cookie = hexfile("keepalive"), hexfile("cookie")
    cinit, init2 = hexfile("cookie-initiation"), hexfile("initiation-mac2")

    # every capture alone, as sent by client 0 (the handshakes carry a valid mac1)
    for n in ("initiation", "response", "data", "data-reply", "keepalive", "cookie",
              "cookie-initiation", "initiation-mac2"):
        write(t, "single-" + n, rec(FEED0, 0, hexfile(n)))
    write(t, "single-initiation-v6", rec(FEED1, 4, init))
    write(t, "single-initiation-mapped", rec(FEED0, 3, init))
    # garbage and truncations
    write(t, "short", rec(FEED0, 0, b"\x01\x00\x00"))
    write(t, "empty", rec(FEED0, 0, b""))
    write(t, "truncated-initiation", rec(FEED0, 0, init[:147]))
    write(t, "long-initiation", rec(FEED0, 0, init + b"\x00"))
    write(t, "reserved-nonzero", rec(FEED0, 0, b"\x01\x01" + init[2:]))
    write(t, "type5", rec(FEED0, 0, b"\x05\x00\x00\x00" + bytes(60)))
    write(t, "bad-mac1", rec(FEED0, 0, init[:120] + bytes(28)))
    write(t, "data-huge", rec(FEED0, 0, data + bytes(2000)))
    write(t, "replay", rec(FEED0, 0, init) + rec(FEED0, 0, init))

    # a whole tunnel: handshake, the backend answers, data both ways
    write(t, "tunnel",
          rec(FEED0, 0, init) + rec(BACKEND, 0, resp, fix=True) +
          rec(FEED0, 0, data) + rec(BACKEND, 0, reply) + rec(FEED0, 0, keep, run=True))
    # the client roams to other endpoints: found again by the backend's index
    write(t, "roam",
          rec(FEED0, 0, init) + rec(BACKEND, 0, resp, fix=True) +
          rec(FEED0, 1, data) + rec(FEED1, 4, data) + rec(FEED0, 1, keep))
    # a backend under load: its cookie reply is absorbed, the initiation resent
    write(t, "backend-cookie",
          rec(FEED0, 0, init) + rec(BACKEND, 0, cookie, fix=True) +
          rec(BACKEND, 0, resp, fix=True) + rec(FEED0, 0, data))
    # an unanswered initiation: the next one moves to another backend
    write(t, "steer",
          rec(FEED0, 0, init) + rec(FEED0, 0, cinit) + rec(FEED0, 0, init2))
    # two backends announce the same index: a roaming datagram is ambiguous
    write(t, "ambiguous",
          rec(FEED0, 0, init) + rec(FEED0, 2, cinit) +
          rec(BACKEND, 0, resp, fix=True) + rec(BACKEND, 1, resp, fix=True) +
          rec(FEED0, 1, data))
    # under load: wglbd's own cookie, then an initiation with a valid mac2;
    # then the session table fills (sources, per source, max_sessions)
    fill = b""
    order = (0, 2, 4, 1, 7, 5, 3, 6)
    for n, c in enumerate(order):
        fill += rec(FEED0 if c not in (4, 5) else FEED1, c, with_sender(init, 0x1000 + n), fix=True)
    for n, c in enumerate(order):
        fill += rec(FEED0 if c not in (4, 5) else FEED1, c, with_sender(init, 0x2000 + n), fix=True)
    write(t, "under-load-fill", fill)
    # the same through the real front sockets (front_cb, recvmmsg)
    write(t, "socket",
          rec(SOCKET, 0, init, run=True) + rec(SOCKET, 4, with_sender(init, 7), fix=True, run=True) +
          rec(BACKEND, 0, resp, fix=True) + rec(SOCKET, 0, data, run=True))
    # an unknown tunnel (wglbd restarted): its backend is learned from the answer
    write(t, "learn",
          rec(FEED0, 0, data) + rec(BACKEND, 0, reply) + rec(BACKEND, 1, reply) +
          rec(FEED0, 0, keep) + rec(FEED0, 1, data) + rec(FEED0, 0, init))
    write(t, "learn-unanswered",
          rec(FEED1, 4, data) + rec(FEED1, 4, keep) + rec(FEED1, 4, with_sender(init, 5), fix=True) +
          rec(BACKEND, 0, resp, fix=True))
    # the operator's side: states, closing, policies, reloads, control, metrics
    write(t, "states",
          rec(FEED0, 0, init) + rec(STATE, 0, b"\x01") + rec(FEED0, 0, cinit) +
          rec(STATE, 1, b"\x02") + rec(FEED0, 2, init2) + rec(STATE, 0, b"\x14\x03") +
          rec(FEED0, 6, with_sender(init, 9), fix=True))
    write(t, "close-policy",
          rec(FEED0, 0, init) + rec(CLOSE, 0) + rec(CLOSE, 3) + rec(FEED0, 2, cinit) +
          rec(CLOSE, 5) + rec(FEED0, 6, with_sender(init, 3), fix=True))
    write(t, "reconf-nokey",
          rec(RECONF, 1) + rec(FEED0, 0, init[:116] + bytes(32)) +
          rec(RECONF, 0) + rec(FEED0, 2, init))
    # sessions restored from a state file ("@L0"/"@L1": the front sockets)
    state = (b'{"version":1,"written":0,"sessions":['
             b'{"client":"127.0.0.2:40000","listen":"@L0","backend":"a",'
             b'"upstream":"127.0.0.1:45000","indices":[22716513,3082440952],"idle":1},'
             b'{"client":"[::1]:40000","listen":"@L1","backend":"b","upstream":"[::1]:45001",'
             b'"local":"[::1]:1","indices":[4294967295,-1,"x"],"idle":0},'
             b'{"client":"127.0.0.3:40000","listen":"@L1","backend":"b","upstream":"127.0.0.1:1"},'
             b'{"client":"127.0.0.4:40000","listen":"@L0","backend":"nope","upstream":"127.0.0.1:2"}'
             b']}')
    write(t, "restore",
          rec(RECONF, 2, state) + rec(FEED0, 0, data) + rec(FEED1, 4, keep) +
          rec(BACKEND, 0, reply) + rec(SOCKET, 4, data, run=True) + rec(CONTROL, 2))
    write(t, "restore-bad",
          rec(RECONF, 3, b'{"version":2,"written":0,"sessions":[]}') +
          rec(RECONF, 4, b'not json') + rec(RECONF, 5, b'{"version":1,"written":1e300,"sessions":{}}'))
    # several datagrams in one front socket batch
    write(t, "socket-batch",
          rec(SOCKET, 0, init) + rec(SOCKET, 0, data) + rec(SOCKET, 0, data) +
          rec(SOCKET, 4, with_sender(init, 11), fix=True) + rec(SOCKET, 4, keep) +
          rec(SOCKET, 2, keep, run=True) + rec(BACKEND, 0, resp, fix=True) +
          rec(BACKEND, 1, resp, fix=True, run=True))
    ctl = rec(FEED0, 0, init) + rec(BACKEND, 0, resp, fix=True) + rec(CONTROL, 0, b"\x04")
    for k in range(8):
        for a in range(4):
            ctl += rec(CONTROL, k, bytes([a]))
    ctl += rec(FEED0, 2, cinit) + rec(BACKEND, 1, resp, fix=True) + rec(CONTROL, 0, b"\x04")
    write(t, "control", ctl)


def conf():
    t = "fuzz_conf"
    d = os.path.join(HERE, "corpus", t)
    os.makedirs(d, exist_ok=True)
    src = [os.path.join(TOP, "etc", "wglb.conf")]
    for sub in ("good", "bad"):
        base = os.path.join(TOP, "tests", "data", "conf", sub)
        src += [os.path.join(base, f) for f in sorted(os.listdir(base)) if f.endswith(".conf")]
    for p in src:
        rel = os.path.relpath(p, TOP).replace(os.sep, "-")
        shutil.copyfile(p, os.path.join(d, rel))
    # the sections and keys the tests/data files may not cover
    write(t, "limits-health-metrics.conf", b"""[global]
listen = 127.0.0.1:51820, [::1]:51820
public_key = eJ1Ia3h6jdaV44myUpPI7qLQesmR2KUACwgePYGERwg=
policy = hash
source = 10.0.0.2, [2001:db8::2]
control = /tmp/wglb.sock
[limits]
handshake_rate = 20
handshake_burst = 5
max_sources = 100
max_sessions_per_source = 4
session_rate = 100
under_load = 0
[health]
check = none
interval = 500ms
timeout = 1s
rise = 3
fall = 1
slow_start = 0
[metrics]
listen = 127.0.0.1:9586
[backend a]
address = 127.0.0.1:51821
source = 127.0.0.2
check = none
rise = 1
[backend b]
address = [::1]:51822
weight = 1000
state = drain
""")


def control():
    t = "fuzz_control"
    lines = [
        "status", "status\n", "status\r\n", "backends", "sessions", "sessions wg-a",
        "drain wg-a", "enable wg-b.example_1", "disable B", "reload", "health",
        "drain", "status extra", "sessions a b", "drain bad/name", "bogus", "",
        "\t sessions \t a \t", "drain " + "x" * 33, "drain " + "x" * 32, "x" * 300,
        "status\x01", "STATUS",
    ]
    for n, line in enumerate(lines):
        write(t, "line-%02d" % n, line.encode())


if __name__ == "__main__":
    datagram()
    conf()
    control()
