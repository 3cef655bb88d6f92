#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The whole test suite, as CI runs it: installs the build and test
# dependencies (Debian 12, as root), builds with -Werror, runs make check
# (unit and end-to-end tests), then the unit tests again under ASan+UBSan.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

deps=(build-essential autoconf automake pkg-config
      libev-dev libsodium-dev libb2-dev libmnl-dev libinih-dev libmicrohttpd-dev libjansson-dev
      libcriterion-dev
      wireguard-go wireguard-tools iperf3 iproute2 iputils-ping tcpdump python3 man-db
      curl prometheus valgrind ethtool procps
      clang libclang-rt-14-dev cppcheck clang-tidy shellcheck)

say() { printf '==> %s\n' "$*"; }

install_deps() {
	local missing=()
	for p in "${deps[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages (run as root to install them): ${missing[*]}" >&2
		exit 1
	fi
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# --no-install-recommends: wireguard-tools would otherwise pull a kernel image
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# counts from an automake test-suite.log: "# PASS: 3" lines
count() { sed -n "s/^# $1: *\([0-9]*\)$/\1/p" "$2" | head -n1; }

run_check() {  # dir, make check arguments...
	local dir=$1; shift
	if ! make -C "$dir" check "$@"; then
		while IFS= read -r log; do
			if grep -qE '^:test-result: (FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null; then
				echo "---- $log"; tail -n 80 "$log"
			fi
		done < <(find "$dir/tests" -name '*.log' ! -name test-suite.log)
		return 1
	fi
}

install_deps

say "configuring"
[ -x configure ] || autoreconf -fi
# out-of-tree builds need a source tree that was not configured in place
[ -f config.status ] && make distclean >/dev/null
rm -rf build/werror build/asan
mkdir -p build/werror build/asan

status=0
say "build with -Werror, make check (unit and end-to-end tests)"
(cd build/werror && ../../configure -q --enable-werror)
make -C build/werror -j"$(nproc)" >/dev/null
run_check build/werror || status=1
log=build/werror/test-suite.log
pass=$(count PASS $log); fail=$(count FAIL $log); skip=$(count SKIP $log); err=$(count ERROR $log)
# the end-to-end logs, so that a CI log shows what ran and what it saw
for l in build/werror/tests/e2e/*.log; do
	[ -e "$l" ] || continue
	echo "---- $(basename "$l")"
	cat "$l"
done
grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' $log || true
for t in build/werror/tests/e2e/*.trs; do
	[ -e "$t" ] || continue
	if grep -q '^:test-result: SKIP' "$t" && [ "$(id -u)" -eq 0 ]; then
		echo "e2e test $(basename "${t%.trs}") skipped although running as root" >&2
		status=1
	fi
done

say "contrib: systemd unit, Prometheus rules, Grafana dashboard, GitHub Actions"
WGLBD="$top/build/werror/wglbd" contrib/check-contrib.sh || status=1

say "static analysis (cppcheck, clang-tidy)"
rc=0; BUILDDIR="$top/build/werror" contrib/static-check.sh || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 77 ] || status=1

say "fuzzing smoke run: ${FUZZ_SECONDS:=30} s per target"
rc=0; BUILDDIR="$top/build/werror" contrib/fuzz.sh "$FUZZ_SECONDS" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 77 ] || status=1

say "unit tests under AddressSanitizer and UndefinedBehaviorSanitizer"
(cd build/asan && ../../configure -q --enable-werror --enable-sanitizers)
make -C build/asan -j"$(nproc)" >/dev/null
# shellcheck disable=SC2016 # $(UNIT_TESTS) is for make, not the shell
units=$(make -s -C build/asan -f Makefile -f - print-units <<<'print-units: ; @echo $(UNIT_TESTS)')
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	run_check build/asan TESTS="$units" || status=1
alog=build/asan/test-suite.log
pass=$((pass + $(count PASS $alog))); fail=$((fail + $(count FAIL $alog)))
skip=$((skip + $(count SKIP $alog))); err=$((err + $(count ERROR $alog)))

echo "check: $pass passed, $((fail + err)) failed, $skip skipped"
exit $status
