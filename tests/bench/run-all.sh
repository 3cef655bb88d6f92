#!/bin/bash
# tests/bench/run-all.sh: run every benchmark in tests/bench/ and write
# docs/benchmarks.md (machine information, one table per benchmark, the
# ratios wglbd/direct and wglbd/nginx, the exact commands). Needs root
# (network namespaces) on Debian 12; installs what it needs with apt-get:
# nginx + libnginx-mod-stream (the nginx columns), valgrind (callgrind.sh),
# iperf3, wireguard-go, wireguard-tools, libb2-dev. A package that cannot be
# installed costs only the columns or sections that need it. Not part of
# "make check".
#
# Benchmarks, in order (names for RUN_ALL_ONLY / RUN_ALL_SKIP):
#   throughput        tests/bench/throughput.sh        iperf3 direct vs wglbd
#   throughput-nginx  tests/bench/throughput-nginx.sh  iperf3 direct vs wglbd vs nginx
#   raw-pps           tests/bench/raw-pps.sh           packets/s without WireGuard
#   latency           tests/bench/latency.sh           added round-trip latency
#   handshakes        tests/bench/handshakes.sh        initiations/s, mac1 checked
#   callgrind         tests/bench/callgrind.sh         instructions per packet
#   failover          tests/bench/failover.sh          recovery after a backend dies
#   session-scale     tests/bench/session-scale.sh     session table cost at scale
#
# Env: RUN_ALL_QUICK=1    short runs (checks that everything works; the
#                         page says so), default 0
#      RUN_ALL_ONLY       names to run (default: all of the above)
#      RUN_ALL_SKIP       names to leave out
#      RUN_ALL_OUT        the page to write (default docs/benchmarks.md)
#      RUN_ALL_LOGDIR     where the logs go (default: a new /tmp/wglb-bench.*)
#      RUN_ALL_INSTALL=0  do not apt-get anything
#      RUN_ALL_TIMEOUT    seconds one benchmark may take (default 1800)
#
# Output: one line per benchmark, then one line of JSON starting with
# {"bench":"run_all".

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
ALL="throughput throughput-nginx raw-pps latency handshakes callgrind failover session-scale"
RUN_ALL_QUICK=${RUN_ALL_QUICK:-0}
RUN_ALL_ONLY=${RUN_ALL_ONLY:-$ALL}
RUN_ALL_SKIP=${RUN_ALL_SKIP:-}
RUN_ALL_OUT=${RUN_ALL_OUT:-$TOP/docs/benchmarks.md}
RUN_ALL_INSTALL=${RUN_ALL_INSTALL:-1}
RUN_ALL_TIMEOUT=${RUN_ALL_TIMEOUT:-1800}

[ "$(id -u)" = 0 ] || { echo "run-all.sh: needs root (network namespaces)" >&2; exit 77; }
RUN_ALL_LOGDIR=${RUN_ALL_LOGDIR:-$(mktemp -d /tmp/wglb-bench.XXXXXX)}
mkdir -p "$RUN_ALL_LOGDIR" || exit 1
NOTES=$RUN_ALL_LOGDIR/notes.txt
MANIFEST=$RUN_ALL_LOGDIR/manifest.tsv
: >"$NOTES"
: >"$MANIFEST"
log() { printf '%s %s\n' "$(date +%T)" "$*"; }
note() { printf '%s\n' "$*" >>"$NOTES"; log "note: $*"; }

# ---- what the benchmarks need --------------------------------------------
# apt_install PKG...: install the missing ones; one "apt-get update" retry
apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$RUN_ALL_INSTALL" = 1 ] || return 1
	log "apt-get install ${missing[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
		>>"$RUN_ALL_LOGDIR/apt.log" 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get update >>"$RUN_ALL_LOGDIR/apt.log" 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
			>>"$RUN_ALL_LOGDIR/apt.log" 2>&1 || return 1
	fi
	return 0
}
apt_install iperf3 wireguard-go wireguard-tools iproute2 tcpdump python3 procps libb2-dev gcc libc6-dev ||
	note "could not install the base tools (see $RUN_ALL_LOGDIR/apt.log): benchmarks that need them skip"
apt_install nginx libnginx-mod-stream ||
	note "nginx or libnginx-mod-stream could not be installed (see $RUN_ALL_LOGDIR/apt.log): the nginx columns say so"
apt_install valgrind || note "valgrind could not be installed: callgrind.sh is skipped"

# the daemon of this tree
if [ -f "$TOP/Makefile" ]; then
	if ! make -C "$TOP" -j"$(nproc)" >"$RUN_ALL_LOGDIR/make.log" 2>&1; then
		note "make failed (see $RUN_ALL_LOGDIR/make.log); using the wglbd binary as it is"
	fi
elif [ ! -x "$TOP/wglbd" ]; then
	note "no Makefile and no wglbd: run ./configure && make first"
fi

# ---- machine ---------------------------------------------------------------
MACHINE=$(python3 - "$TOP" "$RUN_ALL_QUICK" <<'EOF'
import json, os, platform, subprocess, sys, time
top, quick = sys.argv[1], sys.argv[2] == "1"
def run(*cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else ""
    except Exception:
        return ""
cpu = ""
for l in open("/proc/cpuinfo"):
    if l.startswith("model name"):
        cpu = l.split(":", 1)[1].strip(); break
osname = ""
try:
    for l in open("/etc/os-release"):
        if l.startswith("PRETTY_NAME="):
            osname = l.split("=", 1)[1].strip().strip('"')
except OSError:
    pass
mem = ""
for l in open("/proc/meminfo"):
    if l.startswith("MemTotal:"):
        mem = "%.1f GiB" % (int(l.split()[1]) / 1048576); break
import resource
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
print(json.dumps({
    "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "quick": quick,
    "cpu": cpu, "nproc": os.cpu_count(), "kernel": platform.release(), "os": osname, "mem": mem,
    "load": " ".join(open("/proc/loadavg").read().split()[:3]),
    "wglbd": run(os.path.join(top, "wglbd"), "-V"), "nginx": run("nginx", "-v").replace("nginx version: ", ""),
    "iperf3": run("iperf3", "--version"), "wireguard_go": run("wireguard-go", "--version"),
    "valgrind": run("valgrind", "--version"),
    "commit": run("git", "-C", top, "describe", "--always", "--dirty"),
    "nofile": "unlimited" if hard == resource.RLIM_INFINITY else str(hard),
    "rmem_max": open("/proc/sys/net/core/rmem_max").read().strip()}))
EOF
)

# kept, so that the page can be written again from the logs:
#   tests/bench/benchmarks-md.py LOGDIR/manifest.tsv "$(cat LOGDIR/machine.json)" LOGDIR/notes.txt
printf '%s\n' "$MACHINE" >"$RUN_ALL_LOGDIR/machine.json"

# ---- the runs --------------------------------------------------------------
# env_for NAME: the environment of one benchmark (full or quick)
env_for() {
	if [ "$RUN_ALL_QUICK" = 1 ]; then
		case $1 in
		throughput) echo "BENCH_TIME=2" ;;
		throughput-nginx) echo "BENCH_TIME=2" ;;
		raw-pps) echo "BENCH_TIME=1 BENCH_RATES='20000 max'" ;;
		latency) echo "BENCH_COUNT=1000" ;;
		handshakes) echo "BENCH_TIME=1 BENCH_RATES='2000 max'" ;;
		callgrind) echo "BENCH_COUNT=20000 BENCH_RATE=5000" ;;
		failover) echo "BENCH_BACKENDS=2 BENCH_CLIENTS=2" ;;
		esac
	else
		case $1 in
		throughput) echo "BENCH_TIME=10" ;;
		throughput-nginx) echo "BENCH_TIME=10" ;;
		raw-pps) echo "BENCH_TIME=5 BENCH_RATES='50000 100000 200000 max'" ;;
		latency) echo "BENCH_COUNT=10000 BENCH_RATE=1000" ;;
		handshakes) echo "BENCH_TIME=5 BENCH_RATES='5000 20000 max'" ;;
		callgrind) echo "BENCH_COUNT=200000 BENCH_RATE=10000" ;;
		failover) echo "" ;;
		esac
	fi
}

# args_for NAME: its command-line arguments
args_for() {
	case $1 in
	session-scale) if [ "$RUN_ALL_QUICK" = 1 ]; then echo 100000; else echo 1000000; fi ;;
	esac
}

RESULTS_JSON=
for name in $ALL; do
	case " $RUN_ALL_ONLY " in *" $name "*) ;; *) continue ;; esac
	case " $RUN_ALL_SKIP " in *" $name "*) continue ;; esac
	script=tests/bench/$name.sh
	if [ ! -f "$TOP/$script" ]; then
		note "$script is missing"
		continue
	fi
	if [ "$name" = callgrind ] && ! command -v valgrind >/dev/null 2>&1; then
		note "callgrind.sh skipped: no valgrind"
		continue
	fi
	envs=$(env_for "$name")
	args=$(args_for "$name")
	logf=$RUN_ALL_LOGDIR/$name.log
	log "==> $name: $envs $script $args (log $logf)"
	t0=$(date +%s)
	(
		cd "$TOP" || exit 1
		[ -n "$envs" ] && eval "export $envs"
		# shellcheck disable=SC2086  # args: words
		exec timeout -k 30 "$RUN_ALL_TIMEOUT" bash "$script" $args
	) </dev/null >"$logf" 2>&1
	rc=$?
	secs=$(($(date +%s) - t0))
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$script" "$envs" "$args" "$rc" "$secs" "$logf" >>"$MANIFEST"
	if grep -q '^{"' "$logf"; then
		log "    exit $rc after ${secs}s: $(grep '^{"' "$logf" | tail -n 1 | cut -c1-160)..."
	else
		log "    exit $rc after ${secs}s, no result: $(tail -n 3 "$logf" | tr '\n' ' ' | cut -c1-300)"
	fi
	RESULTS_JSON="$RESULTS_JSON${RESULTS_JSON:+,}\"$name\":$rc"
done

mkdir -p "$(dirname "$RUN_ALL_OUT")"
if python3 "$HERE/benchmarks-md.py" "$MANIFEST" "$MACHINE" "$NOTES" >"$RUN_ALL_OUT.tmp"; then
	mv "$RUN_ALL_OUT.tmp" "$RUN_ALL_OUT"
	log "wrote $RUN_ALL_OUT (logs in $RUN_ALL_LOGDIR)"
else
	rm -f "$RUN_ALL_OUT.tmp"
	log "could not write $RUN_ALL_OUT (logs in $RUN_ALL_LOGDIR)"
fi
printf '{"bench":"run_all","quick":%s,"out":"%s","logs":"%s","exit":{%s}}\n' \
	"$([ "$RUN_ALL_QUICK" = 1 ] && echo true || echo false)" "$RUN_ALL_OUT" "$RUN_ALL_LOGDIR" "$RESULTS_JSON"
exit 0
