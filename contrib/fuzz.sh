#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# contrib/fuzz.sh [SECONDS]: build the libFuzzer targets of tests/fuzz with
# clang (ASan + UBSan) against the daemon's own sources, run each for
# SECONDS (default 60) on a copy of its seed corpus, print executions and
# crashes per target. Exit 0 when nothing crashed, 1 on any crash (or a
# build failure), 77 when clang or libFuzzer is not available.
#
# Run it from a configured tree (config.h is needed). Environment:
#   CC          clang to use (default: clang)
#   BUILDDIR    where config.h is (default: the source tree)
#   FUZZ_DIR    build and work directory (default: $BUILDDIR/build-fuzz, which .gitignore covers)
#   FUZZ_TARGETS  which targets (default: every tests/fuzz/fuzz_*.c)
#   FUZZ_ARGS   extra libFuzzer arguments (e.g. -jobs=2 -workers=2)
#
# Reproduce a crash:  build-fuzz/fuzz_TARGET CRASH_FILE
# Minimize it:        build-fuzz/fuzz_TARGET -minimize_crash=1 -runs=10000 CRASH_FILE
set -eu

SECONDS_PER_TARGET=${1:-60}
case $SECONDS_PER_TARGET in
''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

srcdir=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${BUILDDIR:-$srcdir}
FUZZ_DIR=${FUZZ_DIR:-$BUILDDIR/build-fuzz}
CC=${CC:-clang}
FUZZ_ARGS=${FUZZ_ARGS:-}

skip() {
	echo "fuzz.sh: SKIP: $*" >&2
	exit 77
}

command -v "$CC" >/dev/null 2>&1 || skip "$CC not found (install clang)"
case $("$CC" --version 2>/dev/null) in
*clang*) ;;
*) skip "$CC is not clang (libFuzzer needs clang)" ;;
esac

mkdir -p "$FUZZ_DIR/obj"
# libFuzzer present? (Debian: libclang-rt-NN-dev, or libfuzzer-NN-dev)
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' \
	> "$FUZZ_DIR/probe.c"
"$CC" -fsanitize=fuzzer,address,undefined "$FUZZ_DIR/probe.c" -o "$FUZZ_DIR/probe" \
	>/dev/null 2>&1 || skip "$CC cannot link -fsanitize=fuzzer,address,undefined (install libclang-rt-dev)"

if [ ! -f "$BUILDDIR/config.h" ]; then
	echo "fuzz.sh: $BUILDDIR/config.h missing: run ./configure first (or set BUILDDIR)" >&2
	exit 1
fi

# The daemon's sources, from Makefile.am's libwglb_a_SOURCES (so this stays in sync).
# shellcheck disable=SC1003,SC2020 # a backslash, not a quote; characters, not words
SOURCES=$(sed -n '/^libwglb_a_SOURCES[[:space:]]*=/,/[^\\]$/p' "$srcdir/Makefile.am" |
	tr -d '\\' | tr ' \t' '\n\n' | grep '\.c$' || true)
[ -n "$SOURCES" ] || { echo "fuzz.sh: no libwglb_a_SOURCES in Makefile.am" >&2; exit 1; }

PKGS="libsodium libb2 libmnl inih libmicrohttpd jansson"
# shellcheck disable=SC2086 # $PKGS is a list
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists $PKGS 2>/dev/null; then
	DEP_CFLAGS=$(pkg-config --cflags $PKGS)
	DEP_LIBS="$(pkg-config --libs $PKGS) -lev -lm"
else
	DEP_CFLAGS=
	DEP_LIBS="-lsodium -lb2 -lmnl -linih -lmicrohttpd -ljansson -lev -lm"
fi

SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
CFLAGS="-std=gnu11 -g -O1 -fno-omit-frame-pointer $SAN -D_GNU_SOURCE \
-I$BUILDDIR -I$srcdir/include $DEP_CFLAGS"

echo "fuzz.sh: building into $FUZZ_DIR"
OBJS=
for src in $SOURCES; do
	obj=$FUZZ_DIR/obj/$(basename "$src" .c).o
	# -fsanitize=fuzzer-no-link: coverage of the daemon's code, no main()
	# shellcheck disable=SC2086
	"$CC" $CFLAGS -fsanitize=fuzzer-no-link -c "$srcdir/$src" -o "$obj" || exit 1
	OBJS="$OBJS $obj"
done

if [ -n "${FUZZ_TARGETS:-}" ]; then
	TARGETS=$FUZZ_TARGETS
else
	TARGETS=$(cd "$srcdir/tests/fuzz" && printf '%s\n' fuzz_*.c | sed 's/\.c$//')
fi
for t in $TARGETS; do
	# shellcheck disable=SC2086
	"$CC" $CFLAGS -fsanitize=fuzzer "$srcdir/tests/fuzz/$t.c" $OBJS $DEP_LIBS \
		-o "$FUZZ_DIR/$t" || exit 1
done

status=0
summary=
for t in $TARGETS; do
	work=$FUZZ_DIR/corpus/$t
	art=$FUZZ_DIR/artifacts/$t/
	log=$FUZZ_DIR/$t.log
	mkdir -p "$work" "$art"
	# seeds into the working corpus (which keeps what earlier runs found)
	if [ -d "$srcdir/tests/fuzz/corpus/$t" ]; then
		cp -R "$srcdir/tests/fuzz/corpus/$t/." "$work/"
	fi
	dict=
	[ -f "$srcdir/tests/fuzz/$t.dict" ] && dict=-dict=$srcdir/tests/fuzz/$t.dict
	before=$(find "$art" -type f | wc -l)
	echo "fuzz.sh: $t: ${SECONDS_PER_TARGET}s (log: $log)"
	rc=0
	# shellcheck disable=SC2086
	(cd "$FUZZ_DIR" && ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1} \
		"./$t" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$art" $dict $FUZZ_ARGS "$work") \
		>"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -n 1)
	crashes=$(( $(find "$art" -type f | wc -l) - before ))
	if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
		crashes=1      # died without writing an artifact
	fi
	line=$(printf '%-16s executions=%s crashes=%s' "$t" "${execs:-?}" "$crashes")
	summary="$summary$line
"
	if [ "$crashes" -ne 0 ]; then
		status=1
		echo "fuzz.sh: $t: CRASH (exit $rc); artifacts in $art" >&2
		grep -E '^(==[0-9]+==ERROR|SUMMARY|[[:space:]]+#[0-9]+ |.*invariant failed|.*runtime error)' \
			"$log" | head -n 40 >&2 || true
	fi
done

echo "fuzz.sh: summary (${SECONDS_PER_TARGET}s per target)"
printf '%s' "$summary"
exit $status
