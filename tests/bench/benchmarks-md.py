#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""tests/bench/benchmarks-md.py: write docs/benchmarks.md from a run of
tests/bench/run-all.sh. Not meant to be run by hand: run-all.sh passes

    benchmarks-md.py MANIFEST MACHINE_JSON NOTES_FILE

MANIFEST has one tab-separated line per benchmark: name, script, the
environment it ran with, its arguments, exit status, seconds, log file.
Each log ends with the benchmark's JSON line (the last line starting with
'{"'); the lines between the last blank line before it
and the JSON are its human table. The Markdown goes to stdout.
"""
import json
import os
import sys


def load(manifest):
    runs = []
    for line in open(manifest):
        name, script, env, args, rc, secs, log = line.rstrip("\n").split("\t")
        try:
            text = open(log, errors="replace").read().splitlines()
        except OSError:
            text = []
        js, table = None, []
        for i in range(len(text) - 1, -1, -1):
            if text[i].startswith('{"'):
                try:
                    js = json.loads(text[i])
                except ValueError:
                    js = None
                j = i - 1
                while j >= 0 and text[j].strip():
                    j -= 1
                table = text[j + 1:i]
                break
        runs.append({"name": name, "script": script, "env": env, "args": args, "rc": int(rc), "secs": int(secs),
                     "log": log, "json": js, "table": table, "tail": text[-25:]})
    return runs


def fmt(v, f="%.1f", none="-"):
    if v is None or v == "":
        return none
    try:
        return f % v
    except TypeError:
        return str(v)


def mbit(v):
    return fmt(v / 1e6 if v is not None else None, "%.0f")


def ratio(a, b):
    if a is None or not b:
        return None
    return a / b


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def command(run):
    return " ".join(x for x in (run["env"].strip(), run["script"], run["args"].strip()) if x)


def sec_throughput(j):
    rows = [["1", mbit(j.get("direct_1_bps")), mbit(j.get("wglbd_1_bps")),
             fmt(ratio(j.get("wglbd_1_bps"), j.get("direct_1_bps")), "%.2f"), fmt(j.get("wglbd_1_cpu_pct"), "%.0f")],
            ["%s (sum)" % j.get("clients"), mbit(j.get("direct_n_bps")), mbit(j.get("wglbd_n_bps")),
             fmt(ratio(j.get("wglbd_n_bps"), j.get("direct_n_bps")), "%.2f"), fmt(j.get("wglbd_n_cpu_pct"), "%.0f")]]
    return md_table(["clients", "direct Mbit/s", "wglbd Mbit/s", "wglbd/direct", "wglbd CPU %"], rows)


def sec_throughput_nginx(j):
    ok = j.get("nginx") == "ok"
    rows = []
    for k, label in (("1", "1"), ("n", "%s (sum)" % j.get("clients"))):
        rows.append([label, mbit(j.get("direct_%s_bps" % k)), mbit(j.get("wglbd_%s_bps" % k)),
                     mbit(j.get("nginx_%s_bps" % k)) if ok else "n/a",
                     fmt(j.get("wglbd_over_direct_%s" % k), "%.2f"),
                     fmt(j.get("wglbd_over_nginx_%s" % k), "%.2f") if ok else "n/a",
                     fmt(j.get("wglbd_%s_cpu_pct" % k), "%.0f"),
                     fmt(j.get("nginx_%s_cpu_pct" % k), "%.0f") if ok else "n/a"])
    t = md_table(["clients", "direct Mbit/s", "wglbd Mbit/s", "nginx Mbit/s", "wglbd/direct", "wglbd/nginx",
                  "wglbd CPU %", "nginx CPU %"], rows)
    if not ok:
        t += "\n\nnginx: %s" % j.get("nginx")
    return t


def sec_raw(j):
    res = {(r["rate"], r["path"]): r for r in j.get("results", [])}
    rates = []
    for r in j.get("results", []):
        if r["rate"] not in rates:
            rates.append(r["rate"])
    ok = j.get("nginx") == "ok"
    rows = []
    for rate in rates:
        d, w, n = res.get((rate, "direct")), res.get((rate, "wglbd")), res.get((rate, "nginx"))

        def g(r, k, f):
            return fmt(r.get(k), f) if r else "-"
        rows.append([rate,
                     g(d, "offered_pps", "%d"), g(d, "delivered_pps", "%d"), g(d, "loss", "%.3f"),
                     g(w, "offered_pps", "%d"), g(w, "delivered_pps", "%d"), g(w, "loss", "%.3f"),
                     g(w, "cpu_pct", "%.0f"), g(w, "cpu_us_per_pkt", "%.2f"),
                     (g(n, "delivered_pps", "%d") if ok else "n/a"), (g(n, "loss", "%.3f") if ok else "n/a"),
                     (g(n, "cpu_pct", "%.0f") if ok else "n/a"), (g(n, "cpu_us_per_pkt", "%.2f") if ok else "n/a"),
                     fmt(ratio(w and w["delivered_pps"], d and d["delivered_pps"]), "%.2f"),
                     fmt(ratio(w and w["delivered_pps"], n and n["delivered_pps"]), "%.2f") if ok else "n/a"])
    t = md_table(["offered", "direct sent/s", "direct delivered/s", "loss", "wglbd sent/s", "wglbd delivered/s",
                  "loss", "wglbd CPU %", "wglbd CPU µs/pkt", "nginx delivered/s", "loss", "nginx CPU %",
                  "nginx CPU µs/pkt", "wglbd/direct", "wglbd/nginx"], rows)
    notes = []
    if not ok:
        notes.append("nginx: %s" % j.get("nginx"))
    drops = [("%s/%s: sink %d, lb %d" % (r["rate"], r["path"], r["sink_rcvbuf_errors"], r["lb_rcvbuf_errors"]))
             for r in j.get("results", []) if r["sink_rcvbuf_errors"] or r["lb_rcvbuf_errors"]]
    if drops:
        notes.append("Datagrams dropped at a full socket receive buffer (RcvbufErrors; lb = the proxy's "
                     "socket, sink = udpsink's): " + "; ".join(drops) + ".")
    short = ["%s/%s sent %d/s" % (r["rate"], r["path"], r["offered_pps"]) for r in j.get("results", [])
             if r.get("gen_short")]
    if short:
        notes.append("The generator could not send the offered rate in: " + "; ".join(short) + " (its own "
                     "CPU was the limit; on the direct path it also pays for the kernel's forwarding). "
                     "Compare loss there, not delivered/s.")
    if j.get("wglbd_drops"):
        notes.append("wglbd's own drop counters during the runs: %s." % j["wglbd_drops"])
    return t + ("\n\n" + "\n\n".join(notes) if notes else "")


def sec_latency(j):
    res = j.get("results_us", {})
    added = j.get("added_us", {})
    rows = []
    for p in ("direct", "wglbd", "nginx"):
        r = res.get(p)
        if not r:
            continue
        a = added.get(p, {})
        rows.append([p, fmt(r["min"]), fmt(r["p50"]), fmt(r["p90"]), fmt(r["p99"]), fmt(r["p999"]),
                     fmt(r["max"]), "%d/%d" % (r["lost"], r["sent"]),
                     fmt(a.get("p50_us"), "%+.1f"), fmt(a.get("p99_us"), "%+.1f")])
    t = md_table(["path", "min µs", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "lost",
                  "added p50 µs", "added p99 µs"], rows)
    w, n = added.get("wglbd"), added.get("nginx")
    if w and n:
        t += "\n\nwglbd's added latency relative to nginx's: p50 %s µs vs %s µs, p99 %s µs vs %s µs." % (
            fmt(w["p50_us"], "%+.1f"), fmt(n["p50_us"], "%+.1f"), fmt(w["p99_us"], "%+.1f"), fmt(n["p99_us"], "%+.1f"))
    if j.get("nginx") != "ok":
        t += "\n\nnginx: %s" % j.get("nginx")
    return t


def sec_handshakes(j):
    rows = []
    for r in j.get("results", []):
        rows.append([r["kind"], r["rate"], fmt(r["offered_per_s"], "%d"), fmt(r["forwarded_per_s"], "%d"),
                     fmt(r["elapsed_s"], "%.2f"), fmt(r["forwarded"], "%d"), fmt(r["completed"], "%d"),
                     fmt(r["sessions_created"], "%d"), fmt(r["cpu_pct"], "%.0f"),
                     fmt(r.get("cpu_us_per_handshake"), "%.1f"),
                     fmt(1e6 / r["cpu_us_per_handshake"] if r.get("cpu_us_per_handshake") else None, "%.0f"),
                     fmt(r["lb_rcvbuf_errors"], "%d"),
                     r["drops"] or "-"])
    t = md_table(["kind", "offered/s", "sent/s", "forwarded/s", "run s", "forwarded", "completed",
                  "sessions created", "wglbd CPU %", "CPU µs/initiation", "per core/s",
                  "dropped at wglbd's socket", "wglbd drops"], rows)
    t += ("\n\nforwarded, completed (initiations the sink answered and wglbd matched to the pending "
          "one) and sessions created are totals of each run; a new-session run stops at 85 % of "
          "max_sessions, so it can be shorter than the others.")
    t += ("\n\nmax_sessions %s (sessions that only handshake hold no descriptor; the rekey runs' sessions "
          "do: hard descriptor limit %s, ephemeral ports of the lb namespace %s); rekey runs "
          "cycle over %s sessions; %s source addresses." % (
              j.get("max_sessions"), j.get("nofile"), str(j.get("lb_port_range", "")).replace("\t", "-"),
              j.get("rekey_endpoints"), j.get("addrs")))
    return t


def sec_callgrind(j):
    rows = [["data messages sent", j.get("sent")], ["datagrams wglbd received", j.get("wglbd_rx")],
            ["datagrams forwarded to the backend", j.get("forwarded")], ["delivered to the sink", j.get("delivered")],
            ["instructions (Ir) inside ev_run", j.get("ir_ev_run")],
            ["**Ir per forwarded packet**", "**%s**" % fmt(j.get("ir_per_packet"), "%.0f")],
            ["of which the socket callbacks (front_cb + upstream_cb)", fmt(j.get("ir_per_packet_forwarding_path"), "%.0f")]]
    for fn, v in sorted(j.get("inclusive_ir_per_packet", {}).items(), key=lambda x: -x[1]):
        rows.append(["inclusive Ir/packet in %s" % fn, fmt(v, "%.0f")])
    if j.get("wglbd_drops"):
        rows.append(["wglbd drops", j["wglbd_drops"]])
    return md_table(["", "value"], rows)


def sec_failover(j):
    keys = ["backends", "clients", "signal", "health", "killed", "affected", "detect_s", "down_reason",
            "recovery_min_s", "recovery_mean_s", "recovery_max_s", "recovered", "unaffected_lost", "unaffected_sent"]
    return md_table(["", "value"], [[k, j.get(k)] for k in keys if k in j])


def sec_session_scale(j):
    return md_table(["", "value"], [[k, v] for k, v in j.items()])


SECTIONS = {
    "session-scale": ("Session table scale (session-scale.sh)", sec_session_scale,
                      "The session table of the daemon's library, outside the daemon: insert and lookup "
                      "cost at 1,000 sessions and at a large count, and memory per session."),
    "throughput": ("Throughput: direct vs wglbd (throughput.sh)", sec_throughput,
                   "iperf3 (TCP) through wireguard-go tunnels, one client and several at once, straight to a "
                   "backend or through wglbd. Both paths end at the same wireguard-go backend, whose "
                   "encryption is normally the bottleneck."),
    "throughput-nginx": ("Throughput: direct vs wglbd vs nginx (throughput-nginx.sh)", sec_throughput_nginx,
                         "The same iperf3 measurement in one topology three ways: direct, through wglbd, "
                         "through nginx's stream UDP proxy (`hash $remote_addr consistent`, `proxy_timeout "
                         "300s`, responses unlimited, `reuseport`, one worker by default as wglbd has one "
                         "thread). CPU % is of one CPU."),
    "raw-pps": ("Raw forwarding rate (raw-pps.sh)", sec_raw,
                "No WireGuard in the way: udpgen opens one session per source port (one 148-byte "
                "initiation each, which udpsink answers as a backend would, so that each session has its "
                "own socket in wglbd; wglbd runs without public_key, limits relaxed), then sends 128-byte "
                "data messages at a fixed offered rate in sendmmsg batches paced every 1 ms; udpsink "
                "counts what arrives. delivered/s is over the sender's run time; loss = 1 - "
                "delivered/offered; CPU µs/pkt is the proxy's CPU time (user + system, until its queue "
                "was drained) per delivered packet. \"max\" sends as fast as udpgen can: there the "
                "generator is the limit, and on the direct path the kernel's forwarding runs in the "
                "sender's own system calls (veth), taking the generator's CPU, so direct can come out "
                "*below* a proxy that moves that work to its own CPU."),
    "latency": ("Added latency (latency.sh)", sec_latency,
                "udpping sends 64-byte data messages at 1 kpps on a fixed schedule to an echo server "
                "(udpsink -e, which also answers the initiation that opens the session) and measures the "
                "round trip with CLOCK_MONOTONIC; added = the proxy's "
                "percentile minus the direct one. At this light load most of the added time is two "
                "wake-ups of an idle process (the proxy's event loop), not its packet work."),
    "handshakes": ("Handshake initiations (handshakes.sh)", sec_handshakes,
                   "wglbd WITH public_key (mac1 of every initiation verified), limits relaxed. hsgen "
                   "builds 148-byte initiations with a valid mac1 and random bodies and sends them "
                   "through a raw socket from many source addresses and ports. **flood**: every "
                   "initiation from a new endpoint and nobody answers (peers the backends do not know): "
                   "each opens a session, steered and sent through its backend's relay socket in GSO "
                   "batches; **new**: the same, and the sink answers each with a response, which wglbd "
                   "matches to its session by index and forwards to the client; **rekey**: established "
                   "sessions (a handshake and a keepalive each, so each has its own socket) rekeying in "
                   "turn, one send per session. forwarded/s is over the time wglbd took (at least the "
                   "generator's run; longer when it was still draining its queue); CPU µs/initiation "
                   "is wglbd's CPU time (user + system) per forwarded initiation, responses included, "
                   "and per core = 1 s / that. The generator, the sink and wglbd share the machine's "
                   "CPUs, so at \"max\" the forwarded rate is bounded by what the generator can offer; "
                   "the CPU cost per initiation is the comparable figure. A fresh wglbd also pays the "
                   "first touch of the memory its growing session table takes (the kernel zeroing "
                   "pages), which a process that held as many sessions before does not."),
    "callgrind": ("Instructions per packet (callgrind.sh)", sec_callgrind,
                  "wglbd under `valgrind --tool=callgrind --toggle-collect=ev_run` (only its event loop "
                  "counts, not start-up) forwarding a fixed raw load at a modest rate. Ir are user-space "
                  "instructions only: the kernel's work in recvmmsg/sendmmsg/epoll is not included. A "
                  "fixed per-second cost (the 1 s sweep timer) is spread over the packets, so the figure "
                  "falls as the rate rises."),
    "failover": ("Failover (failover.sh)", sec_failover,
                 "How long the clients of a killed backend take to ping again through another one."),
}


def summary(runs):
    by = {r["name"]: r["json"] for r in runs if r["json"]}
    out = []
    t = by.get("throughput-nginx")
    if t:
        out.append("- iperf3 through a tunnel, 1 client: wglbd/direct %s, wglbd/nginx %s; %s clients: "
                   "wglbd/direct %s, wglbd/nginx %s." % (
                       fmt(t.get("wglbd_over_direct_1"), "%.2f"), fmt(t.get("wglbd_over_nginx_1"), "%.2f"),
                       t.get("clients"), fmt(t.get("wglbd_over_direct_n"), "%.2f"),
                       fmt(t.get("wglbd_over_nginx_n"), "%.2f")))
    elif by.get("throughput"):
        t = by["throughput"]
        out.append("- iperf3 through a tunnel: wglbd/direct %s (1 client), %s (%s clients)." % (
            fmt(ratio(t.get("wglbd_1_bps"), t.get("direct_1_bps")), "%.2f"),
            fmt(ratio(t.get("wglbd_n_bps"), t.get("direct_n_bps")), "%.2f"), t.get("clients")))
    r = by.get("raw-pps")
    if r:
        parts = []
        for x in r.get("ratios", []):
            parts.append("%s: wglbd/direct %s, wglbd/nginx %s" % (
                x["rate"], fmt(x["wglbd_over_direct"], "%.2f"), fmt(x["wglbd_over_nginx"], "%.2f")))
        w = [x for x in r.get("results", []) if x["path"] == "wglbd" and x.get("cpu_us_per_pkt")]
        cost = ""
        if w:
            best = min(w, key=lambda x: x["cpu_us_per_pkt"])
            cost = " wglbd's CPU per packet: %.2f µs at %s pps offered." % (best["cpu_us_per_pkt"], best["rate"])
        out.append("- Raw forwarding, delivered packets/s by offered rate: " + "; ".join(parts) + "." + cost)
    lt = by.get("latency")
    if lt:
        a = lt.get("added_us", {})
        out.append("- Added latency at 1 kpps: wglbd p50 %s µs, p99 %s µs; nginx p50 %s µs, p99 %s µs." % (
            fmt(a.get("wglbd", {}).get("p50_us"), "%+.1f"), fmt(a.get("wglbd", {}).get("p99_us"), "%+.1f"),
            fmt(a.get("nginx", {}).get("p50_us"), "%+.1f"), fmt(a.get("nginx", {}).get("p99_us"), "%+.1f")))
    h = by.get("handshakes")
    if h:
        best = {}
        for x in h.get("results", []):
            if x["forwarded_per_s"] > best.get(x["kind"], {"forwarded_per_s": -1})["forwarded_per_s"]:
                best[x["kind"]] = x
        out.append("- Handshakes with mac1 checked, highest forwarded rate seen: " + "; ".join(
            "%s %d/s (%s µs CPU each: %s/s per core)" % (
                k, v["forwarded_per_s"], fmt(v.get("cpu_us_per_handshake"), "%.2f"),
                fmt(1e6 / v["cpu_us_per_handshake"] if v.get("cpu_us_per_handshake") else None, "%.0f"))
            for k, v in best.items()) + ".")
    ss = by.get("session-scale")
    if ss:
        out.append("- Session table: endpoint lookup in receive batches %s ns at %s sessions vs %s ns at "
                   "1,000 (%sx); one at a time %s vs %s ns; %s bytes per session in userspace, about %s "
                   "in the kernel for a session's socket." % (
                       fmt(ss.get("lookup_batch_ns"), "%.0f"), ss.get("sessions"),
                       fmt(ss.get("lookup_batch_ns_1k"), "%.0f"),
                       fmt(ratio(ss.get("lookup_batch_ns"), ss.get("lookup_batch_ns_1k")), "%.2f"),
                       fmt(ss.get("lookup_endpoint_ns"), "%.0f"), fmt(ss.get("lookup_endpoint_ns_1k"), "%.0f"),
                       ss.get("bytes_per_session"), ss.get("kernel_bytes_per_socket")))
    c = by.get("callgrind")
    if c:
        out.append("- callgrind: %s instructions per forwarded packet in wglbd's event loop "
                   "(%s in the socket callbacks)." % (fmt(c.get("ir_per_packet"), "%.0f"),
                                                      fmt(c.get("ir_per_packet_forwarding_path"), "%.0f")))
    f = by.get("failover")
    if f:
        out.append("- Failover: detection %s s, recovery mean %s s (max %s s)." % (
            f.get("detect_s"), f.get("recovery_mean_s"), f.get("recovery_max_s")))
    return "\n".join(out)


def main():
    manifest, machine, notes_file = sys.argv[1:4]
    runs = load(manifest)
    m = json.loads(machine)
    try:
        notes = [l.rstrip("\n") for l in open(notes_file) if l.strip()]
    except OSError:
        notes = []
    p = print
    p("# wglb benchmarks")
    p()
    p("Generated by `tests/bench/run-all.sh`%s on %s. Every number below comes from the run "
      "described here; re-run the same command to reproduce it." % (
          " (RUN_ALL_QUICK=1: short validation runs, not for comparison)" if m.get("quick") else "", m.get("date")))
    p()
    p("## Machine")
    p()
    p(md_table(["", ""], [["CPU", m.get("cpu")], ["CPUs (nproc)", m.get("nproc")], ["kernel", m.get("kernel")],
                          ["OS", m.get("os")], ["memory", m.get("mem")], ["load average before the run", m.get("load")],
                          ["wglbd", m.get("wglbd")], ["nginx", m.get("nginx")], ["iperf3", m.get("iperf3")],
                          ["wireguard-go", m.get("wireguard_go")], ["valgrind", m.get("valgrind")],
                          ["git commit", m.get("commit")], ["descriptor limit (hard)", m.get("nofile")],
                          ["net.core.rmem_max", m.get("rmem_max")]]))
    p()
    p("All traffic runs between network namespaces on this one machine (veth pairs and bridges, "
      "see `tests/e2e/lib.sh`): the generators, the proxies, the sinks and the WireGuard "
      "endpoints share its CPUs, so the absolute numbers are a property of this machine; the "
      "ratios measured in one run are the comparable part.")
    p()
    if notes:
        p("Notes from this run:")
        p()
        for n in notes:
            p("- " + n)
        p()
    p("## Summary")
    p()
    s = summary(runs)
    p(s if s else "No benchmark produced a result.")
    p()
    p("## How to run")
    p()
    p("As root on Debian 12, from the repository root, after `make`:")
    p()
    p("```sh")
    p("tests/bench/run-all.sh                    # everything (about 10 minutes), rewrites docs/benchmarks.md")
    p("RUN_ALL_QUICK=1 tests/bench/run-all.sh    # short runs: checks that every benchmark works")
    p("RUN_ALL_ONLY=\"raw-pps latency\" tests/bench/run-all.sh")
    p("```")
    p()
    p("run-all.sh installs what it needs with apt-get (nginx, libnginx-mod-stream, valgrind, "
      "iperf3, wireguard-go, wireguard-tools) unless RUN_ALL_INSTALL=0; without nginx the nginx "
      "columns say so and everything else still runs. Each script also runs alone and "
      "documents its environment variables in its header. Exact commands of this run:")
    p()
    p("```sh")
    for r in runs:
        p(command(r))
    p("```")
    p()
    for r in runs:
        title, fn, desc = SECTIONS.get(r["name"], (r["name"], None, ""))
        p("## " + title)
        p()
        if desc:
            p(desc)
            p()
        p("`%s` (exit %d, %d s)" % (command(r), r["rc"], r["secs"]))
        p()
        if r["json"] and fn:
            try:
                p(fn(r["json"]))
            except Exception as e:  # a format change must not lose the rest of the page
                p("(could not tabulate: %s)" % e)
            p()
        else:
            if r["rc"] == 77:
                p("Skipped (exit 77): a requirement is missing. Last lines of its output:")
            else:
                p("**No result** (exit %d). Last lines of its output:" % r["rc"])
            p()
            p("```")
            for l in r["tail"]:
                p(l)
            p("```")
            p()
            continue
        if r["table"]:
            p("Output of the script:")
            p()
            p("```")
            for l in r["table"]:
                p(l)
            p("```")
            p()
    # measurements of the data path's evolution, kept by hand next to this script
    history = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profile-history.md")
    if os.path.exists(history):
        p(open(history).read().rstrip("\n"))
        p()


if __name__ == "__main__":
    main()
