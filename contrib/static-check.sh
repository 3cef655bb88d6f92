#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# contrib/static-check.sh: cppcheck and clang-tidy over src/ (the checks are
# in .cppcheck-suppressions and .clang-tidy at the top of the tree). Prints
# every finding as FILE:LINE:COL: SEVERITY: MESSAGE [CHECK] and a count per
# tool. Exit 1 on any finding; else 77 (skip) when a tool is not installed
# (the other one still runs); else 0.
#
# Run it in a configured tree (config.h is needed), e.g. after ./configure.
# Environment: CPPCHECK, CLANG_TIDY (the binaries), BUILDDIR (where config.h
# is; default: the source tree), JOBS (parallel clang-tidy runs; default:
# the number of CPUs).
set -u

srcdir=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${BUILDDIR:-$srcdir}
CPPCHECK=${CPPCHECK:-cppcheck}
CLANG_TIDY=${CLANG_TIDY:-clang-tidy}
JOBS=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}

if [ ! -f "$BUILDDIR/config.h" ]; then
	echo "static-check.sh: $BUILDDIR/config.h missing: run ./configure first (or set BUILDDIR)" >&2
	exit 1
fi
cd "$srcdir" || exit 1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
missing=0
status=0

# ---- cppcheck ----
if command -v "$CPPCHECK" >/dev/null 2>&1; then
	echo "static-check.sh: $("$CPPCHECK" --version)"
	"$CPPCHECK" --enable=warning,performance,portability --library=posix \
		--error-exitcode=1 --inline-suppr --suppressions-list=.cppcheck-suppressions \
		--template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
		-I include -I "$BUILDDIR" -q src/ >"$tmp/cppcheck.out" 2>&1
	rc=$?
	n=$(grep -cE '^[^ :]+:[0-9]+:[0-9]+: ' "$tmp/cppcheck.out")
	cat "$tmp/cppcheck.out"
	echo "static-check.sh: cppcheck: $n finding(s)"
	if [ "$rc" -ne 0 ] || [ "$n" -ne 0 ]; then
		status=1
	fi
else
	echo "static-check.sh: SKIP cppcheck: $CPPCHECK not found" >&2
	missing=$((missing + 1))
fi

# ---- clang-tidy ----
if command -v "$CLANG_TIDY" >/dev/null 2>&1; then
	echo "static-check.sh: $("$CLANG_TIDY" --version | grep -i version | head -n 1)"
	DEP_CFLAGS=
	if command -v pkg-config >/dev/null 2>&1; then
		DEP_CFLAGS=$(pkg-config --cflags libsodium libb2 libmnl inih libmicrohttpd jansson \
			2>/dev/null || true)
	fi
	# one process per file, JOBS at a time; each writes its own output file
	# shellcheck disable=SC2016
	printf '%s\n' src/*.c | xargs -P "$JOBS" -I{} sh -c '
		out="$1/$(basename "$2").tidy"
		"$3" --quiet "$2" -- -std=gnu11 -I"$4" -Iinclude -D_GNU_SOURCE $5 >"$out" 2>&1
		echo $? >"$out.rc"
	' sh "$tmp" {} "$CLANG_TIDY" "$BUILDDIR" "$DEP_CFLAGS"
	# a header's finding is reported once per file that includes it
	cat "$tmp"/*.tidy | grep -E '^[^ :]+:[0-9]+:[0-9]+: (warning|error): ' | sort -u \
		>"$tmp/tidy.findings"
	n=$(wc -l <"$tmp/tidy.findings")
	# the findings with their notes and source excerpts, file by file
	for f in "$tmp"/*.tidy; do
		grep -qE ': (warning|error): ' "$f" && grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated' "$f"
	done
	echo "static-check.sh: clang-tidy: $n finding(s):"
	cat "$tmp/tidy.findings"
	failed_rc=$(cat "$tmp"/*.rc | grep -vc '^0$')
	if [ "$n" -ne 0 ] || [ "$failed_rc" -ne 0 ]; then
		status=1
	fi
else
	echo "static-check.sh: SKIP clang-tidy: $CLANG_TIDY not found" >&2
	missing=$((missing + 1))
fi

if [ "$status" -eq 0 ] && [ "$missing" -ne 0 ]; then
	echo "static-check.sh: SKIP: $missing tool(s) missing (Debian: apt-get install cppcheck clang-tidy)" >&2
	exit 77
fi
exit $status
