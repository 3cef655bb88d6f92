#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-contrib.sh: validate the operational files in contrib/:
#   contrib/wglbd.service          systemd-analyze verify (with real binaries
#                                  and man pages), systemd-analyze security
#                                  score, consistency with the daemon
#   contrib/prometheus/            promtool check rules, promtool test rules,
#                                  every alert tested
#   contrib/grafana/               valid JSON, datasource/instance variables,
#                                  layout, PromQL syntax (promtool)
#   all PromQL (rules, tests, dashboard): every metric name, label and label
#                                  value exists in src/metrics.c (and the name
#                                  tables it prints from); rate() only on
#                                  counters; optionally against a live wglbd's
#                                  /metrics (promtool check metrics)
#   contrib/github-actions/        workflow structure, script behaviour
#                                  without a network, shellcheck
#
# Installs what it needs with apt-get when run as root (Debian 12): systemd,
# prometheus (promtool), shellcheck, python3-yaml, man-db.
# Exit status: 0 when every check passed (or was skipped), 1 otherwise.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-contrib.XXXXXX") || exit 1
daemon_pid=
# shellcheck disable=SC2317  # called by the trap
cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

UNIT=contrib/wglbd.service
# the binaries to check against: built in the tree, or where WGLBD points
WGLBD_BIN=${WGLBD:-$top/wglbd}
WGLBCTL_BIN=${WGLBCTL:-$(dirname "$WGLBD_BIN")/wglbctl}
RULES=contrib/prometheus/wglb-alerts.yml
RULES_TEST=contrib/prometheus/wglb-alerts.test.yml
DASHBOARD=contrib/grafana/wglb-dashboard.json
WORKFLOW=contrib/github-actions/wglb-tunnel.yml
CONNECT=contrib/github-actions/wglb-connect.sh
GHA_README=contrib/github-actions/README.md
# an exposure score above this fails the security check (it was 1.1)
SECURITY_THRESHOLD=2.0

say() { printf '\n==> %s\n' "$*"; }

results=()
failed=0
result() {  # result PASS|FAIL|SKIP|WARN NAME [DETAIL]
	local status=$1 name=$2 detail=${3:-}
	results+=("$(printf '%-5s %-34s %s' "$status" "$name" "$detail")")
	[ "$status" = FAIL ] && failed=1
	printf -- '--- %s: %s%s\n' "$status" "$name" "${detail:+ ($detail)}"
}

# ---- dependencies -------------------------------------------------------

have_python_yaml() { python3 -c 'import yaml' 2>/dev/null; }

install_deps() {
	local missing=()
	command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
	command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
	command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
	command -v python3 >/dev/null 2>&1 || missing+=(python3)
	have_python_yaml || missing+=(python3-yaml)
	command -v man >/dev/null 2>&1 || missing+=(man-db)
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages (run as root to install them): ${missing[*]}" >&2
		return 0
	fi
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
		echo "apt-get install ${missing[*]} failed" >&2
}

install_deps

# ---- systemd unit ---------------------------------------------------------

# A copy of the unit whose binaries exist: the built ones when present,
# /bin/true otherwise (verify then still checks every directive).
unit_copy() {
	local wglbd=/bin/true wglbctl=/bin/true
	[ -x "$WGLBD_BIN" ] && wglbd=$WGLBD_BIN
	[ -x "$WGLBCTL_BIN" ] && wglbctl=$WGLBCTL_BIN
	mkdir -p "$tmp/unit"
	sed -e "s|/usr/sbin/wglbd\\b|$wglbd|g" -e "s|/usr/sbin/wglbctl\\b|$wglbctl|g" \
		"$UNIT" >"$tmp/unit/wglbd.service"
	echo "ExecStart -> $wglbd, wglbctl -> $wglbctl"
}

check_unit_verify() {
	say "systemd-analyze verify $UNIT"
	if ! command -v systemd-analyze >/dev/null 2>&1; then
		result FAIL "unit: systemd-analyze verify" "systemd-analyze not installed"
		return
	fi
	unit_copy
	local out rc man_opt=() page sec
	# Documentation=man:... is checked against the repository's man pages
	for page in $(sed -n 's/^Documentation=//p' "$UNIT" | tr ' ' '\n' | sed -n 's/^man://p'); do
		sec=${page##*(}; sec=${sec%)}
		if [ ! -f "docs/${page%%(*}.$sec" ]; then
			result FAIL "unit: man pages" "Documentation=man:$page but no docs/${page%%(*}.$sec"
			return
		fi
	done
	if command -v man >/dev/null 2>&1; then
		mkdir -p "$tmp/man/man5" "$tmp/man/man8"
		cp docs/*.5 "$tmp/man/man5/" 2>/dev/null
		cp docs/*.8 "$tmp/man/man8/" 2>/dev/null
	else
		man_opt=(--man=no)
	fi
	# verify prints problems (unknown keys, bad values, missing binaries) as
	# warnings and may still exit 0: any output is a failure
	out=$(MANPATH=$tmp/man SYSTEMD_LOG_COLOR=0 systemd-analyze verify "${man_opt[@]}" \
		"$tmp/unit/wglbd.service" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || [ -n "$out" ]; then
		printf '%s\n' "$out"
		result FAIL "unit: systemd-analyze verify" "exit $rc"
	else
		result PASS "unit: systemd-analyze verify" "${man_opt[*]:-man pages from docs/}"
	fi
}

check_unit_security() {
	say "systemd-analyze security --offline=true"
	if ! command -v systemd-analyze >/dev/null 2>&1; then
		result SKIP "unit: security exposure" "systemd-analyze not installed"
		return
	fi
	[ -f "$tmp/unit/wglbd.service" ] || unit_copy >/dev/null
	local out rc score
	out=$(systemd-analyze security --no-pager --offline=true --threshold="${SECURITY_THRESHOLD%.*}${SECURITY_THRESHOLD#*.}" \
		"$tmp/unit/wglbd.service" 2>&1)
	rc=$?
	score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	if [ -z "$score" ]; then
		printf '%s\n' "$out" | tail -n 5
		result SKIP "unit: security exposure" "offline analysis not supported here"
		return
	fi
	printf '%s\n' "$out" | grep -E '^✗|Overall'
	if [ $rc -ne 0 ]; then
		result FAIL "unit: security exposure" "$score > $SECURITY_THRESHOLD"
	else
		result PASS "unit: security exposure" "$score (threshold $SECURITY_THRESHOLD)"
	fi
}

# What the unit promises, against what the daemon does.
check_unit_consistency() {
	say "unit consistency with the daemon"
	local problems=() ctl rundir statedir statefile
	grep -qx 'Type=notify' "$UNIT" || problems+=("Type=notify missing (wglbd speaks sd_notify)")
	grep -q 'READY=1' src/main.c || problems+=("src/main.c sends no READY=1 but the unit is Type=notify")
	grep -qx 'CapabilityBoundingSet=' "$UNIT" || problems+=("CapabilityBoundingSet= is not empty")
	grep -Eq '^RestrictAddressFamilies=.*AF_NETLINK' "$UNIT" ||
		problems+=("AF_NETLINK not allowed (src/netmon.c uses rtnetlink)")
	grep -Eq '^RestrictAddressFamilies=.*AF_UNIX' "$UNIT" ||
		problems+=("AF_UNIX not allowed (control socket, sd_notify)")
	# the default control socket must live in RuntimeDirectory=
	ctl=$(sed -n 's/^#define WGLB_DEFAULT_CONTROL "\(.*\)"/\1/p' include/conf.h)
	rundir=$(sed -n 's/^RuntimeDirectory=//p' "$UNIT")
	[ "${ctl%/*}" = "/run/$rundir" ] ||
		problems+=("control socket $ctl is not in RuntimeDirectory=/run/$rundir")
	# the example state_file must be in StateDirectory=
	statedir=$(sed -n 's/^StateDirectory=//p' "$UNIT")
	statefile=$(sed -n 's/^[;#]*[[:space:]]*state_file[[:space:]]*=[[:space:]]*\([^[:space:];]*\).*/\1/p' etc/wglb.conf | head -n1)
	if [ -n "$statefile" ] && [ "${statefile%/*}" != "/var/lib/$statedir" ]; then
		problems+=("etc/wglb.conf's state_file $statefile is not in StateDirectory=/var/lib/$statedir")
	fi
	# started as the service user, wglbd cannot switch users itself
	if grep -Eq '^[[:space:]]*user[[:space:]]*=' etc/wglb.conf; then
		problems+=("etc/wglb.conf sets user =, which makes wglbd fail under User=wglb")
	fi
	if [ ${#problems[@]} -eq 0 ]; then
		result PASS "unit: consistency with the daemon"
	else
		printf '  %s\n' "${problems[@]}"
		result FAIL "unit: consistency with the daemon" "${#problems[@]} problem(s)"
	fi
}

# ---- Prometheus rules --------------------------------------------------------

check_rules() {
	say "promtool check rules / test rules"
	if ! command -v promtool >/dev/null 2>&1; then
		result FAIL "rules: promtool" "promtool not installed (Debian package prometheus)"
		return
	fi
	if promtool check rules "$RULES"; then
		result PASS "rules: promtool check rules"
	else
		result FAIL "rules: promtool check rules"
	fi
	# promtool resolves rule_files relative to the test file
	if promtool test rules "$RULES_TEST"; then
		result PASS "rules: promtool test rules"
	else
		result FAIL "rules: promtool test rules"
	fi
}

# ---- dashboard JSON -------------------------------------------------------------

check_dashboard_json() {
	say "python3 -m json.tool $DASHBOARD"
	if python3 -m json.tool "$DASHBOARD" >/dev/null; then
		result PASS "dashboard: valid JSON"
	else
		result FAIL "dashboard: valid JSON"
	fi
}

# ---- PromQL cross-check against the source -------------------------------------
# Writes $tmp/dashboard-rules.yml (every dashboard query as a recording rule,
# for promtool's parser) and $tmp/referenced-metrics.txt.

check_promql() {
	say "metric names, labels and label values against src/metrics.c"
	if ! have_python_yaml; then
		result FAIL "promql: names against the source" "python3-yaml missing"
		return
	fi
	if python3 - "$top" "$tmp" <<'PY'; then
import json, os, re, sys
import yaml

top, tmp = sys.argv[1], sys.argv[2]
def read(p):
    with open(os.path.join(top, p), encoding="utf-8") as f:
        return f.read()

errors = []
def err(where, msg):
    errors.append(f"{where}: {msg}")

# ---- what wglbd exports (src/metrics.c and the name tables it prints) ----
mc = read("src/metrics.c")
types = {}
for m in re.finditer(r'(?:family\(\s*f\s*,|per_backend\(\s*f\s*,\s*bs\s*,)\s*"(\w+)"\s*,\s*"(\w+)"', mc, re.S):
    types[m.group(1)] = m.group(2)
labels = {n: set() for n in types}
for n in re.findall(r'per_backend\(\s*f\s*,\s*bs\s*,\s*"(\w+)"', mc, re.S):
    labels[n].add("backend")
values = {}          # (metric, label) -> set of values, or None: any value
# per_direction(f, bs, NAME, ...): a counter per backend and direction
for n in re.findall(r'per_direction\(\s*f\s*,\s*bs\s*,\s*"(\w+)"', mc, re.S):
    types[n] = "counter"
    labels[n] = {"backend", "direction"}
    values[(n, "direction")] = {"to_backend", "from_backend"}
def enum_names(path, prefix):
    return set(re.findall(r'\[' + prefix + r'\w+\]\s*=\s*"(\w+)"', read(path)))
def returned_names(path, func):
    body = re.search(r'\b' + func + r'\([^)]*\)\s*\{(.*?)\n\}', read(path), re.S)
    return set(re.findall(r'return\s+"(\w+)"', body.group(1))) - {"unknown"} if body else set()
format_sources = {
    ("wglb_backend_admin_state", "state"): enum_names("src/conf.c", "ADMIN_"),
    ("wglb_dropped_packets_total", "reason"): enum_names("src/wg.c", "DROP_"),
    ("wglb_backend_health_reason", "reason"): returned_names("src/backend.c", "health_reason_name"),
}
for (k, v) in format_sources.items():
    if not v:
        err("src", f"cannot find the values of {k[0]}{{{k[1]}}} in the source")
for m in re.finditer(r'"(\w+)\{((?:\w+=\\"[^"\\]*\\",?)+)\}', mc):
    name = m.group(1)
    if name.endswith(("_bucket", "_sum", "_count")) and name.rsplit("_", 1)[0] in types:
        types.setdefault(name, "histogram-series")
    labels.setdefault(name, set())
    for lm in re.finditer(r'(\w+)=\\"([^"\\]*)\\"', m.group(2)):
        lab, val = lm.group(1), lm.group(2)
        labels[name].add(lab)
        key = (name, lab)
        if "%" in val:
            values[key] = format_sources.get(key)       # None: free (backend, le, version)
        elif values.get(key, set()) is not None:
            values.setdefault(key, set()).add(val)
# histogram series and sample lines without labels
for n, t in list(types.items()):
    if t == "histogram":
        for suf in ("_bucket", "_sum", "_count"):
            types.setdefault(n + suf, "histogram-series")
            labels.setdefault(n + suf, set()).update(labels.get(n, set()))
        labels[n + "_bucket"].add("le")
for n in re.findall(r'"((?:wglb|process)_\w+) %', mc):
    types.setdefault(n, "untyped")
    labels.setdefault(n, set())
exported = set(types)
exported_families = {n for n, t in types.items() if t in ("counter", "gauge", "histogram")}
TARGET_LABELS = {"job", "instance"}
STANDARD = {"up": set()}       # added by Prometheus to every target
counter_like = {n for n, t in types.items() if t in ("counter", "histogram-series")}

AGGR = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk",
        "quantile", "count_values", "group", "limitk", "limit_ratio"}
FUNCS = {"abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max",
         "clamp_min", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta",
         "deriv", "exp", "floor", "histogram_quantile", "histogram_count", "histogram_sum",
         "histogram_fraction", "holt_winters", "hour", "idelta", "increase", "irate",
         "label_join", "label_replace", "ln", "log2", "log10", "minute", "month",
         "predict_linear", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc",
         "sqrt", "time", "timestamp", "vector", "year", "avg_over_time", "min_over_time",
         "max_over_time", "sum_over_time", "count_over_time", "quantile_over_time",
         "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time",
         "acos", "asin", "atan", "cos", "sin", "tan", "deg", "rad", "pi", "cosh", "sinh", "tanh",
         "acosh", "asinh", "atanh"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
            "and", "or", "unless", "inf", "nan", "atan2", "start", "end"}
COUNTER_FUNCS = {"rate", "irate", "increase", "resets"}

referenced = set()

def subst_grafana(e):
    e = re.sub(r'\$__(rate_interval|interval|range)\b', "5m", e)
    e = re.sub(r'\$\{?__\w+\}?', "5m", e)
    return re.sub(r'\$\{?\w+(?::\w+)?\}?', ".+", e)

def check_selector(where, name, body):
    consumed = re.sub(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?', "", body).strip()
    if consumed:
        err(where, f"cannot parse matchers {{{body}}}")
    for lm in re.finditer(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', body):
        lab, op, val = lm.groups()
        if lab == "__name__":
            continue
        if name is None:
            continue
        allowed = labels.get(name, STANDARD.get(name, set())) | TARGET_LABELS
        if lab not in allowed:
            err(where, f"{name} has no label {lab!r} (labels: {', '.join(sorted(allowed))})")
            continue
        known = values.get((name, lab))
        if known is None or val == ".+":
            continue
        if op in ("=", "!="):
            alts = [val]
        elif re.fullmatch(r'\w+(\|\w+)*', val):
            alts = val.split("|")
        else:
            continue
        for a in alts:
            if a not in known:
                err(where, f'{name}{{{lab}="{a}"}}: wglbd never exports that value '
                           f'({", ".join(sorted(known))})')

def check_expr(where, expr):
    e = subst_grafana(expr)
    m = re.fullmatch(r'\s*label_values\((.*)\)\s*', e, re.S)
    group_labels = []
    if m:                                   # Grafana: label_values([selector,] label)
        parts = m.group(1).rsplit(",", 1)
        group_labels.append(parts[-1].strip())
        e = parts[0] if len(parts) == 2 else ""
    names_here = set()
    for sm in re.finditer(r'([A-Za-z_:][\w:]*)?\s*\{([^{}]*)\}', e):
        name = sm.group(1)
        if name in AGGR or name in FUNCS or name in KEYWORDS:
            name = None
        check_selector(where, name, sm.group(2))
    s = re.sub(r'\{[^{}]*\}', " ", e)
    s = re.sub(r'"(?:[^"\\]|\\.)*"', " ", s)
    s = re.sub(r'\[[^\]]*\]', " ", s)
    for gm in re.finditer(r'\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)', s):
        group_labels += [x.strip() for x in gm.group(2).split(",") if x.strip()]
    s = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)', " ", s)
    s = re.sub(r'\boffset\s+-?\d+\w*', " ", s)
    for im in re.finditer(r'(?<![\w.:])([A-Za-z_:][\w:]*)', s):
        ident = im.group(1)
        rest = s[im.end():].lstrip()
        if ident in KEYWORDS:
            continue
        if rest.startswith("("):
            if ident not in AGGR and ident not in FUNCS:
                err(where, f"unknown PromQL function {ident}()")
            continue
        names_here.add(ident)
    for n in names_here:
        referenced.add(n)
        if n not in exported and n not in STANDARD:
            err(where, f"metric {n} is not exported by wglbd (src/metrics.c)")
    # labels used for grouping must exist on some metric of the expression
    avail = set(TARGET_LABELS)
    for n in names_here:
        avail |= labels.get(n, set())
    for lab in group_labels:
        if lab and lab not in avail:
            err(where, f"grouping label {lab!r} exists on none of {', '.join(sorted(names_here)) or 'its metrics'}")
    for fm in re.finditer(r'\b(\w+)\(\s*([A-Za-z_:][\w:]*)\s*[\{\[]', e):
        fn, n = fm.groups()
        if fn in COUNTER_FUNCS and n in exported and n not in counter_like:
            err(where, f"{fn}() over {n}, which is a {types.get(n)}, not a counter")
    if "histogram_quantile" in e and not re.search(r'_bucket\b', e):
        err(where, "histogram_quantile() without a _bucket series")
    if "histogram_quantile" in e and "le" not in group_labels:
        err(where, "histogram_quantile() must aggregate by le")

def scan_words(where, text):
    for n in set(re.findall(r'\b(wglb_[a-z0-9_]+)', text)):
        if n not in exported and not n.startswith("wglb_connect"):
            err(where, f"mentions metric {n}, which wglbd does not export")

# ---- alerting rules -------------------------------------------------------
rules_path = "contrib/prometheus/wglb-alerts.yml"
rules_text = read(rules_path)
rules = yaml.safe_load(rules_text)
alert_names = set()
for g in rules.get("groups", []):
    for r in g.get("rules", []):
        where = f"{rules_path}: {r.get('alert') or r.get('record')}"
        check_expr(where, r["expr"])
        if "alert" in r:
            alert_names.add(r["alert"])
            if r.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                err(where, "labels.severity must be critical, warning or info")
            for a in ("summary", "description"):
                if not r.get("annotations", {}).get(a):
                    err(where, f"annotation {a} missing")
            # queries inside annotation templates
            for q in re.findall(r'printf\s+"([^"]*)"', json.dumps(r.get("annotations", {})).replace('\\"', '"')):
                check_expr(where + " (annotation query)", re.sub(r'%q', '".+"', q))
scan_words(rules_path, rules_text)
for required in ("WglbTargetDown", "WglbBackendDown", "WglbAllBackendsDown",
                 "WglbHighDropRatio", "WglbConfigReloadFailed"):
    if required not in alert_names:
        err(rules_path, f"alert {required} missing")

# ---- rule tests: input series must be real, every alert tested ----------
test_path = "contrib/prometheus/wglb-alerts.test.yml"
tests = yaml.safe_load(read(test_path))
fired = set()
for t in tests.get("tests", []):
    for s in t.get("input_series", []):
        check_expr(f"{test_path}: {t.get('name')}: series", s["series"])
    for a in t.get("alert_rule_test", []):
        if a.get("alertname") not in alert_names:
            err(test_path, f"tests unknown alert {a.get('alertname')}")
        if a.get("exp_alerts"):
            fired.add(a["alertname"])
for a in sorted(alert_names - fired):
    err(test_path, f"alert {a} is never tested firing")

# ---- dashboard ----------------------------------------------------------------
dash_path = "contrib/grafana/wglb-dashboard.json"
dash_text = read(dash_path)
d = json.loads(dash_text)
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 36:
    err(dash_path, f"schemaVersion {d.get('schemaVersion')!r}: expected >= 36")
tvars = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
dsv = tvars.get("DS_PROMETHEUS")
if not dsv or dsv.get("type") != "datasource" or dsv.get("query") != "prometheus":
    err(dash_path, "templating: needs DS_PROMETHEUS, type datasource, query prometheus")
if "instance" not in tvars or tvars["instance"].get("type") != "query":
    err(dash_path, "templating: needs a query variable instance")
exprs = []          # (where, expr)
for name, v in tvars.items():
    if v.get("type") == "query":
        if v.get("datasource") != DS:
            err(dash_path, f"variable {name}: datasource must be {DS}")
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        exprs.append((f"{dash_path}: variable {name}", q))
for a in d.get("annotations", {}).get("list", []):
    if a.get("builtIn"):
        continue
    if a.get("datasource") != DS:
        err(dash_path, f"annotation {a.get('name')}: datasource must be {DS}")
    if a.get("expr"):
        exprs.append((f"{dash_path}: annotation {a.get('name')}", a["expr"]))
ids, cells = set(), {}
need = {"stat": set(), "timeseries": set(), "table": set(), "state-timeline": set()}
for p in d.get("panels", []):
    pid, title = p.get("id"), p.get("title")
    where = f"{dash_path}: panel {pid} {title!r}"
    if pid in ids:
        err(where, "duplicate panel id")
    ids.add(pid)
    gp = p.get("gridPos", {})
    if gp.get("x", 0) + gp.get("w", 0) > 24:
        err(where, "wider than the 24-column grid")
    for x in range(gp.get("x", 0), gp.get("x", 0) + gp.get("w", 0)):
        for y in range(gp.get("y", 0), gp.get("y", 0) + gp.get("h", 0)):
            if (x, y) in cells:
                err(where, f"overlaps panel {cells[(x, y)]}")
                break
            cells[(x, y)] = pid
        else:
            continue
        break
    if p.get("type") == "row":
        continue
    if p.get("datasource") != DS:
        err(where, f"datasource must be {DS}")
    refs = set()
    for t in p.get("targets", []):
        if t.get("datasource") != DS:
            err(where, f"target {t.get('refId')}: datasource must be {DS}")
        if t.get("refId") in refs:
            err(where, f"duplicate refId {t.get('refId')}")
        refs.add(t.get("refId"))
        if not t.get("expr"):
            err(where, f"target {t.get('refId')} has no expr")
            continue
        exprs.append((f"{where} {t.get('refId')}", t["expr"]))
        need.setdefault(p.get("type"), set()).update(re.findall(r'\b((?:wglb|process)_\w+)', t["expr"]))
    if not p.get("targets"):
        err(where, "no queries")
for where, e in exprs:
    check_expr(where, e)
scan_words(dash_path, dash_text)
# what the dashboard must show
for ptype, metric in (("stat", "wglb_backend_up"), ("timeseries", "wglb_backend_sessions"),
                      ("timeseries", "wglb_backend_handshakes_forwarded_total"),
                      ("timeseries", "wglb_backend_handshakes_completed_total"),
                      ("timeseries", "wglb_backend_handshakes_unanswered_total"),
                      ("timeseries", "wglb_backend_bytes_total"),
                      ("timeseries", "wglb_dropped_packets_total"),
                      ("timeseries", "wglb_backend_probe_duration_seconds_bucket"),
                      ("table", "wglb_backend_admin_state"),
                      ("timeseries", "wglb_config_reloads_total")):
    if metric not in need.get(ptype, set()):
        err(dash_path, f"no {ptype} panel shows {metric}")
# every dashboard query as a recording rule, for promtool's PromQL parser
rr = [{"record": f"dashboard:query_{i}", "expr": subst_grafana(e)}
      for i, (w, e) in enumerate(exprs) if not re.match(r'\s*label_values\(', e)]
for i, (w, e) in enumerate(exprs):
    m = re.fullmatch(r'\s*label_values\((.*),\s*\w+\s*\)\s*', e, re.S)
    if m:
        rr.append({"record": f"dashboard:variable_{i}", "expr": subst_grafana(m.group(1))})
with open(os.path.join(tmp, "dashboard-rules.yml"), "w") as f:
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rr}]}, f)

# ---- texts: metric and alert names mentioned must exist --------------------------
for p in ("contrib/github-actions/README.md", "contrib/wglbd.service"):
    scan_words(p, read(p))
for p, text in ((rules_path, rules_text), (dash_path, dash_text),
                ("contrib/github-actions/README.md", read("contrib/github-actions/README.md"))):
    for a in set(re.findall(r'\b(Wglb[A-Z]\w+)', text)):
        if a not in alert_names:
            err(p, f"mentions alert {a}, which the rules do not define")

with open(os.path.join(tmp, "referenced-metrics.txt"), "w") as f:
    f.write("\n".join(sorted(referenced)) + "\n")
print(f"{len(exported_families)} metric families in src/metrics.c; "
      f"{len(referenced)} names referenced: {', '.join(sorted(referenced))}")
print(f"{len(exprs)} dashboard queries, {len(alert_names)} alerts, "
      f"{len(tests.get('tests', []))} rule test groups")
for e in errors:
    print("  " + e)
sys.exit(1 if errors else 0)
PY
		result PASS "promql: names against the source" "$(wc -l <"$tmp/referenced-metrics.txt") metric names"
	else
		result FAIL "promql: names against the source"
		rm -f "$tmp/referenced-metrics.txt"
	fi
	if [ ! -f "$tmp/dashboard-rules.yml" ]; then
		result FAIL "dashboard: PromQL syntax (promtool)" "no queries extracted"
	elif command -v promtool >/dev/null 2>&1; then
		if promtool check rules "$tmp/dashboard-rules.yml" >"$tmp/dash-promtool.log" 2>&1; then
			result PASS "dashboard: PromQL syntax (promtool)" \
				"$(sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p' "$tmp/dash-promtool.log") queries"
		else
			cat "$tmp/dash-promtool.log"
			result FAIL "dashboard: PromQL syntax (promtool)"
		fi
	fi
}

# ---- a live wglbd: the names in its real /metrics ---------------------------------
# Runs the built ./wglbd on loopback (unprivileged ports, no probes) when it
# exists, scrapes /metrics once, lints it with promtool check metrics and
# looks for every metric name the rules and the dashboard use.

check_live_metrics() {
	say "live /metrics of ./wglbd"
	if [ ! -x "$WGLBD_BIN" ]; then
		result SKIP "live: /metrics of ./wglbd" "wglbd not built"
		return
	fi
	if [ ! -f "$tmp/referenced-metrics.txt" ]; then
		result SKIP "live: /metrics of ./wglbd" "no list of referenced names"
		return
	fi
	if [ src/metrics.c -nt "$WGLBD_BIN" ]; then
		result SKIP "live: /metrics of ./wglbd" "./wglbd is older than src/metrics.c: rebuild it"
		return
	fi
	local ports p_udp p_metrics p_backend conf="$tmp/live.conf"
	ports=$(python3 -c '
import socket
s = []
for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM, socket.SOCK_DGRAM):
    x = socket.socket(socket.AF_INET, t); x.bind(("127.0.0.1", 0)); s.append(x)
print(" ".join(str(x.getsockname()[1]) for x in s))')
	read -r p_udp p_metrics p_backend <<<"$ports"
	cat >"$conf" <<EOF
[global]
listen = 127.0.0.1:$p_udp
control = $tmp/ctl/wglb.sock
log_level = warning
[health]
check = none
[metrics]
listen = 127.0.0.1:$p_metrics
[backend live-a]
address = 127.0.0.1:$p_backend
EOF
	if ! "$WGLBD_BIN" -t -c "$conf" >"$tmp/live-t.log" 2>&1; then
		cat "$tmp/live-t.log"
		result SKIP "live: /metrics of ./wglbd" "wglbd -t rejects the minimal test config"
		return
	fi
	"$WGLBD_BIN" -c "$conf" </dev/null >"$tmp/live.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 1 50); do
		python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$p_metrics/metrics', timeout=2).read().decode())" \
			>"$tmp/live-metrics.txt" 2>/dev/null && break
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
	if [ ! -s "$tmp/live-metrics.txt" ]; then
		tail -n 20 "$tmp/live.log"
		result FAIL "live: /metrics of ./wglbd" "no answer from wglbd's metrics listener"
		return
	fi
	local missing=() n
	while read -r n; do
		[ "$n" = up ] && continue
		grep -q "^${n}[{ ]" "$tmp/live-metrics.txt" || missing+=("$n")
	done <"$tmp/referenced-metrics.txt"
	if [ ${#missing[@]} -eq 0 ]; then
		result PASS "live: referenced names in /metrics" "$(grep -c '^# TYPE' "$tmp/live-metrics.txt") families served"
	else
		result FAIL "live: referenced names in /metrics" "missing: ${missing[*]}"
	fi
	if command -v promtool >/dev/null 2>&1; then
		if promtool check metrics <"$tmp/live-metrics.txt"; then
			result PASS "live: promtool check metrics"
		else
			result FAIL "live: promtool check metrics" "wglbd's exposition has lint problems"
		fi
	fi
}

# ---- GitHub Actions ---------------------------------------------------------------

check_workflow() {
	say "workflow $WORKFLOW"
	if ! have_python_yaml; then
		result FAIL "workflow: structure" "python3-yaml missing"
		return
	fi
	if python3 - "$WORKFLOW" "$CONNECT" "$GHA_README" <<'PY'; then
import re, sys
import yaml

wf_path, script_path, readme_path = sys.argv[1:4]
with open(wf_path) as f:
    wf = yaml.safe_load(f)
script = open(script_path).read()
readme = open(readme_path).read()
errors = []
# YAML 1.1 reads the key "on" as true
on = wf.get("on", wf.get(True))
triggers = set(on) if isinstance(on, (dict, list)) else {on}
for t in ("workflow_dispatch", "push"):
    if t not in triggers:
        errors.append(f"trigger {t} missing")
jobs = wf.get("jobs", {})
if not jobs:
    errors.append("no jobs")
m = re.search(r'^ENV_VARS=\((.*?)\)', script, re.S | re.M)
script_vars = set(m.group(1).split()) if m else set()
if not script_vars:
    errors.append("cannot find ENV_VARS in the script")
for jname, job in jobs.items():
    if "ubuntu" not in str(job.get("runs-on", "")):
        errors.append(f"job {jname}: runs-on is not a GitHub-hosted Ubuntu runner")
    env = dict(job.get("env", {}))
    connect = env.get("WGLB_CONNECT")
    if connect != script_path:
        errors.append(f"job {jname}: WGLB_CONNECT is {connect!r}, not {script_path}")
    steps = job.get("steps", [])
    seen = []
    for s in steps:
        run = s.get("run", "")
        mm = re.search(r'"\$WGLB_CONNECT"\s+(\w+)', run)
        if mm:
            seen.append(mm.group(1))
            if mm.group(1) == "down" and s.get("if") != "always()":
                errors.append("the down step must run with if: always()")
            if mm.group(1) == "up":
                if "WG_PRIVATE_KEY" not in s.get("env", {}):
                    errors.append("the up step gets no WG_PRIVATE_KEY")
        for k, v in s.get("env", {}).items():
            env[k] = v
        if "wireguard-tools" in run:
            seen.append("install")
    if seen != ["install", "up", "wait", "check", "down"]:
        errors.append(f"job {jname}: steps {seen}, expected install, up, wait, check, down in order")
    if "secrets.WG_PRIVATE_KEY" not in str(env.get("WG_PRIVATE_KEY", "")):
        errors.append("WG_PRIVATE_KEY must come from secrets.WG_PRIVATE_KEY")
    for k in ("WG_PRIVATE_KEY", "WGLB_PUBLIC_KEY", "WGLB_ENDPOINT", "WG_ADDRESS", "WG_ALLOWED_IPS"):
        if k not in env:
            errors.append(f"job {jname}: {k} is not set")
    for k in env:
        if k != "WGLB_CONNECT" and k not in script_vars:
            errors.append(f"job {jname}: sets {k}, which the script does not read")
    if any("secrets." in str(v) for k, v in job.get("env", {}).items()):
        errors.append(f"job {jname}: a secret in the job-wide env (give it to the up step only)")
for v in sorted(script_vars):
    if v not in readme:
        errors.append(f"{readme_path} does not document {v}")
    if not re.search(r'^#\s+' + v + r'\b', script, re.M):
        errors.append(f"{script_path}: {v} is not documented in its header")
for v in re.findall(r'\b(?:vars|secrets)\.(\w+)', open(wf_path).read()):
    if v not in readme:
        errors.append(f"{readme_path} does not say how to set {v}")
for e in errors:
    print("  " + e)
sys.exit(1 if errors else 0)
PY
		result PASS "workflow: structure and variables"
	else
		result FAIL "workflow: structure and variables"
	fi
	if command -v actionlint >/dev/null 2>&1; then
		if actionlint -shellcheck= "$WORKFLOW"; then
			result PASS "workflow: actionlint"
		else
			result FAIL "workflow: actionlint"
		fi
	fi
}

# Behaviour that needs no network: usage, refusal without settings, a
# harmless "down". Nothing here creates an interface.
check_connect_script() {
	say "$CONNECT without a network"
	local problems=() out rc ifc
	bash -n "$CONNECT" || problems+=("bash -n fails")
	out=$(bash "$CONNECT" 2>&1); rc=$?
	[ $rc -eq 2 ] || problems+=("no argument: exit $rc, expected 2")
	out=$(bash "$CONNECT" bogus 2>&1); rc=$?
	[ $rc -eq 2 ] || problems+=("unknown subcommand: exit $rc, expected 2")
	if [ "$(id -u)" -eq 0 ]; then
		ifc=ckc$$
		out=$(env -i PATH="$PATH" WG_INTERFACE="$ifc" bash "$CONNECT" up 2>&1); rc=$?
		{ [ $rc -eq 1 ] && grep -q 'WG_PRIVATE_KEY is not set' <<<"$out"; } ||
			problems+=("up without settings: exit $rc: $out")
		ip link show dev "$ifc" >/dev/null 2>&1 && problems+=("up without settings left $ifc behind")
		out=$(env -i PATH="$PATH" WG_INTERFACE="$ifc" WGLB_PUBLIC_KEY=x bash "$CONNECT" wait 2>&1); rc=$?
		[ $rc -eq 1 ] || problems+=("wait without an interface: exit $rc, expected 1")
		out=$(env -i PATH="$PATH" WG_INTERFACE="$ifc" bash "$CONNECT" down 2>&1); rc=$?
		[ $rc -eq 0 ] || problems+=("down without an interface: exit $rc, expected 0")
		out=$(env -i PATH="$PATH" WG_INTERFACE="bad/name" WG_PRIVATE_KEY=k WGLB_PUBLIC_KEY=p \
			WGLB_ENDPOINT=h:1 WG_ADDRESS=10.0.0.1 WG_ALLOWED_IPS=10.0.0.0/8 bash "$CONNECT" up 2>&1); rc=$?
		{ [ $rc -eq 1 ] && grep -q 'bad interface name' <<<"$out"; } ||
			problems+=("up with a bad interface name: exit $rc: $out")
		out=$(env -i PATH="$PATH" WG_INTERFACE="$ifc" WG_PRIVATE_KEY=k WGLB_PUBLIC_KEY=p \
			WGLB_ENDPOINT=noport WG_ADDRESS=10.0.0.1 WG_ALLOWED_IPS=10.0.0.0/8 bash "$CONNECT" up 2>&1); rc=$?
		{ [ $rc -eq 1 ] && grep -q 'expected host:port' <<<"$out"; } ||
			problems+=("up with an endpoint without port: exit $rc: $out")
	fi
	if [ ${#problems[@]} -eq 0 ]; then
		result PASS "github-actions: script behaviour" "$([ "$(id -u)" -eq 0 ] || echo 'usage only, not root')"
	else
		printf '  %s\n' "${problems[@]}"
		result FAIL "github-actions: script behaviour" "${#problems[@]} problem(s)"
	fi
}

# ---- shellcheck ---------------------------------------------------------------------
# The scripts of this set must be clean; other contrib/*.sh are reported
# (WARN) but do not fail the run.

check_shellcheck() {
	say "shellcheck"
	if ! command -v shellcheck >/dev/null 2>&1; then
		result SKIP "shellcheck" "shellcheck not installed"
		return
	fi
	local f own=(contrib/check-contrib.sh contrib/github-actions/*.sh) others=()
	for f in contrib/*.sh; do
		[ "$f" = contrib/check-contrib.sh ] || others+=("$f")
	done
	if shellcheck -x "${own[@]}"; then
		result PASS "shellcheck: ${own[*]}"
	else
		result FAIL "shellcheck: ${own[*]}"
	fi
	for f in "${others[@]}"; do
		if shellcheck -x "$f" >"$tmp/sc.log" 2>&1; then
			result PASS "shellcheck: $f"
		else
			cat "$tmp/sc.log"
			result WARN "shellcheck: $f" "$(grep -c '^In ' "$tmp/sc.log") finding(s), not part of this set"
		fi
	done
}

check_unit_verify
check_unit_security
check_unit_consistency
check_rules
check_dashboard_json
check_promql
check_live_metrics
check_workflow
check_connect_script
check_shellcheck

printf '\n==> summary\n'
printf '%s\n' "${results[@]}"
if [ "$failed" -ne 0 ]; then
	printf '\ncheck-contrib: FAILED\n'
	exit 1
fi
printf '\ncheck-contrib: all checks passed\n'
exit 0
