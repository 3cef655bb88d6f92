#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds and runs tests/bench/session-scale.c against the daemon's library:
# session table cost at 1,000 and 1,000,000 sessions, memory per session.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${top_builddir:-$top}
[ -f "$build/libwglb.a" ] || { echo "build wglbd first (libwglb.a not found in $build)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -O2 -std=gnu11 -D_GNU_SOURCE -I"$build" -I"$top/include" "$top/tests/bench/session-scale.c" \
	"$build/libwglb.a" -o "$out/session-scale" \
	$(pkg-config --libs libsodium libb2 libmnl inih libmicrohttpd jansson) -lev -lm
"$out/session-scale" "${1:-1000000}"
