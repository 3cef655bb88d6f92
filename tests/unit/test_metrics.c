/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Prometheus exposition: a state built by hand must render into exactly
 * the expected samples, every family must be announced once (HELP, then
 * TYPE) before its samples, counters end in _total, histograms are
 * cumulative, and promtool (when installed) accepts the whole text.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "metrics.h"
#include "proxy.h"

#define PROMTOOL "/usr/bin/promtool"

static struct backend_set bs;
static struct proxy_stats px;
static struct reload_status rs;
static struct metrics_input in;

static struct backend *add_backend(const char *name, const char *addr, unsigned weight,
				   enum backend_admin admin)
{
	struct conf_backend cb = { .weight = weight, .state = admin };
	struct backend *b;

	snprintf(cb.name, sizeof cb.name, "%s", name);
	cr_assert_eq(addr_parse(addr, &cb.address), 0);
	b = backend_new(&cb, bs.n);
	cr_assert_not_null(b);
	cr_assert_eq(backend_set_add(&bs, b), 0);
	return b;
}

/*
 * a: up, enabled, busy, probe round trips spread over several buckets.
 * b: draining and down (no answer), one slow probe in the +Inf bucket.
 * c: healthy as far as probes go, but its route is gone.
 */
static void setup(void)
{
	struct backend *a, *b, *c;

	memset(&bs, 0, sizeof bs);
	memset(&px, 0, sizeof px);
	memset(&rs, 0, sizeof rs);

	a = add_backend("a", "192.0.2.11:51820", 3, ADMIN_ENABLED);
	a->health = HEALTH_UP;
	a->reason = REASON_NONE;
	a->route_ok = true;
	a->sessions = 5;
	a->health_since = 1700000000.5;
	a->c.handshakes_forwarded = 11;
	a->c.handshakes_completed = 10;
	a->c.handshakes_unanswered = 1;
	a->c.cookie_replies = 2;
	a->c.backend_initiations = 4;
	a->c.tx_packets = 100;
	a->c.tx_bytes = 12000;
	a->c.rx_packets = 90;
	a->c.rx_bytes = 9000;
	a->c.probes_ok = 6;
	a->c.probes_failed = 1;
	a->c.probe_hist[0] = 1;         /* <= 0.5 ms */
	a->c.probe_hist[3] = 2;         /* <= 5 ms */
	a->c.probe_hist[6] = 3;         /* <= 50 ms */
	a->c.probe_seconds_sum = 0.1234;
	a->c.health_changes = 2;

	b = add_backend("b", "[2001:db8::12]:51820", 1, ADMIN_DRAIN);
	b->health = HEALTH_DOWN;
	b->reason = REASON_NO_RESPONSE;
	b->route_ok = true;
	b->c.probes_ok = 1;
	b->c.probes_failed = 9;
	b->c.probe_hist[PROBE_BUCKETS - 1] = 1;
	b->c.probe_seconds_sum = 1.5;
	b->c.health_changes = 1;

	c = add_backend("c", "192.0.2.13:51821", 1000, ADMIN_ENABLED);
	c->health = HEALTH_UP;
	c->reason = REASON_ROUTE;
	c->route_ok = false;

	px.rx_packets = 1000;
	px.rx_bytes = 150000;
	px.tx_packets = 900;
	px.tx_bytes = 140000;
	px.sessions_created = 50;
	px.sessions_handshaking = 7;
	px.sessions_expired = 8;
	px.sessions_roamed = 3;
	px.cookie_replies_sent = 12;
	px.backend_cookies = 5;
	px.under_load = true;
	px.drops[DROP_BAD_MAC1] = 7;
	px.drops[DROP_NO_BACKEND] = 4;

	rs.ok = 3;
	rs.failed = 2;
	rs.last_ok = false;
	rs.last_ok_time = 1700000123.25;

	in = (struct metrics_input){
		.bs = &bs, .px = &px, .sessions = 42, .reload = &rs,
		.version = "1.2.3-test", .process = false,
	};
}

static void teardown(void)
{
	backend_set_free(&bs);
}

TestSuite(metrics, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static char *render(const struct metrics_input *mi)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	cr_assert_eq(metrics_render(mi, f), 0);
	cr_assert_eq(fclose(f), 0);
	cr_assert_not_null(buf);
	cr_assert_eq(strlen(buf), len, "NUL byte in the exposition");
	return buf;
}

/* How many whole lines of text equal line. */
static unsigned count_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	unsigned hits = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len == n && memcmp(p, line, n) == 0)
			hits++;
		if (!nl)
			break;
		p = nl + 1;
	}
	return hits;
}

#define assert_line(text, line) \
	cr_assert_eq(count_line((text), (line)), 1, "want exactly one line \"%s\" in:\n%s", \
		     (line), (text))
#define refute_line(text, line) \
	cr_assert_eq(count_line((text), (line)), 0, "unexpected line \"%s\" in:\n%s", (line), \
		     (text))

/* How many lines start with prefix. */
static unsigned count_prefix(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	unsigned hits = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, prefix, n) == 0)
			hits++;
		if (!nl)
			break;
		p = nl + 1;
	}
	return hits;
}

/* The value of the one sample whose name and labels are series. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *found = NULL;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, series, n) == 0 && p[n] == ' ') {
			cr_assert_null(found, "series %s twice", series);
			found = p + n + 1;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	cr_assert_not_null(found, "no series %s in:\n%s", series, text);
	return strtod(found, NULL);
}

/* ---- structure of the exposition ---- */

struct family {
	char name[128];
	char type[16];
	int help_line, type_line;
	unsigned samples;
};

#define MAX_FAMILIES 128
#define MAX_SERIES 1024

static bool valid_metric_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  c == ':' || (i > 0 && c >= '0' && c <= '9');

		if (!ok)
			return false;
	}
	return true;
}

static struct family *find_family(struct family *f, unsigned n, const char *name, size_t len)
{
	for (unsigned i = 0; i < n; i++)
		if (strlen(f[i].name) == len && memcmp(f[i].name, name, len) == 0)
			return &f[i];
	return NULL;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* The labels of a sample: {name="value",...}; returns the character after '}'. */
static const char *check_labels(const char *p, int lineno)
{
	cr_assert_eq(*p, '{');
	p++;
	for (;;) {
		const char *k = p;

		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		       (p > k && *p >= '0' && *p <= '9'))
			p++;
		cr_assert(p > k, "line %d: bad label name", lineno);
		cr_assert_eq(*p, '=', "line %d: '=' expected after label name", lineno);
		cr_assert_eq(p[1], '"', "line %d: label value must be quoted", lineno);
		p += 2;
		while (*p && *p != '"' && *p != '\n') {
			cr_assert_neq(*p, '\\', "line %d: no escapes expected", lineno);
			p++;
		}
		cr_assert_eq(*p, '"', "line %d: unterminated label value", lineno);
		p++;
		if (*p == '}')
			return p + 1;
		cr_assert_eq(*p, ',', "line %d: ',' or '}' expected after a label", lineno);
		p++;
	}
}

/*
 * Every family: one HELP then one TYPE, before its samples, which are
 * contiguous; every sample belongs to a declared family; no series twice;
 * counters end in _total. Returns the number of families.
 */
static unsigned check_structure(const char *text, bool expect_samples)
{
	static struct family fam[MAX_FAMILIES];
	static char series[MAX_SERIES][256];
	unsigned nf = 0, ns = 0;
	struct family *cur = NULL;
	int lineno = 0;

	memset(fam, 0, sizeof fam);
	cr_assert(strlen(text) > 0);
	cr_assert_eq(text[strlen(text) - 1], '\n', "the exposition must end with a newline");
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = (size_t)(nl - p);

		lineno++;
		cr_assert_gt(len, 0, "line %d is empty", lineno);
		if (strncmp(p, "# HELP ", 7) == 0) {
			const char *name = p + 7, *sp = memchr(name, ' ', (size_t)(nl - name));
			struct family *f;

			cr_assert_not_null(sp, "line %d: HELP without text", lineno);
			cr_assert(sp + 1 < nl, "line %d: empty HELP text", lineno);
			cr_assert(valid_metric_name(name, (size_t)(sp - name)), "line %d", lineno);
			f = find_family(fam, nf, name, (size_t)(sp - name));
			cr_assert_null(f, "line %d: second HELP for %.*s", lineno,
				       (int)(sp - name), name);
			cr_assert_lt(nf, MAX_FAMILIES);
			f = &fam[nf++];
			memcpy(f->name, name, (size_t)(sp - name));
			f->help_line = lineno;
			cur = f;
		} else if (strncmp(p, "# TYPE ", 7) == 0) {
			const char *name = p + 7, *sp = memchr(name, ' ', (size_t)(nl - name));
			struct family *f;

			cr_assert_not_null(sp, "line %d: TYPE without type", lineno);
			f = find_family(fam, nf, name, (size_t)(sp - name));
			cr_assert_not_null(f, "line %d: TYPE of %.*s before (or without) its HELP",
					   lineno, (int)(sp - name), name);
			cr_assert_eq(f, cur, "line %d: TYPE away from its HELP", lineno);
			cr_assert_eq(f->type_line, 0, "line %d: second TYPE for %s", lineno, f->name);
			cr_assert_eq(f->samples, 0, "line %d: TYPE of %s after samples", lineno,
				     f->name);
			cr_assert_lt((size_t)(nl - sp - 1), sizeof f->type);
			memcpy(f->type, sp + 1, (size_t)(nl - sp - 1));
			cr_assert(strcmp(f->type, "counter") == 0 || strcmp(f->type, "gauge") == 0 ||
					  strcmp(f->type, "histogram") == 0,
				  "line %d: type \"%s\"", lineno, f->type);
			f->type_line = lineno;
		} else {
			const char *end = p, *after;
			struct family *f;
			char *vend;
			double v;

			cr_assert_neq(*p, '#', "line %d: unexpected comment %.*s", lineno, (int)len, p);
			while (end < nl && *end != '{' && *end != ' ')
				end++;
			cr_assert(valid_metric_name(p, (size_t)(end - p)), "line %d: bad name", lineno);
			f = find_family(fam, nf, p, (size_t)(end - p));
			if (!f) {
				static const char *const sfx[] = { "_bucket", "_sum", "_count" };

				for (unsigned i = 0; i < 3 && !f; i++)
					if (ends_with(p, (size_t)(end - p), sfx[i]))
						f = find_family(fam, nf, p,
								(size_t)(end - p) - strlen(sfx[i]));
				cr_assert(f && strcmp(f->type, "histogram") == 0,
					  "line %d: sample %.*s of no declared family", lineno,
					  (int)(end - p), p);
			}
			cr_assert_eq(f, cur, "line %d: sample of %s away from its family", lineno,
				     f->name);
			cr_assert_gt(f->help_line, 0);
			cr_assert_gt(f->type_line, 0, "line %d: sample of %s before its TYPE",
				     lineno, f->name);
			after = *end == '{' ? check_labels(end, lineno) : end;
			cr_assert_eq(*after, ' ', "line %d: one space before the value", lineno);
			errno = 0;
			v = strtod(after + 1, &vend);
			cr_assert(vend > after + 1 && vend == nl && errno == 0,
				  "line %d: bad value (or a timestamp) in %.*s", lineno, (int)len, p);
			cr_assert(!isnan(v), "line %d: NaN", lineno);
			cr_assert_lt((size_t)(after - p), sizeof series[0]);
			for (unsigned i = 0; i < ns; i++)
				cr_assert(strncmp(series[i], p, (size_t)(after - p)) != 0 ||
						  series[i][after - p] != '\0',
					  "line %d: series %.*s twice", lineno, (int)(after - p), p);
			cr_assert_lt(ns, MAX_SERIES);
			memcpy(series[ns], p, (size_t)(after - p));
			series[ns++][after - p] = '\0';
			f->samples++;
		}
		p = nl + 1;
	}
	for (unsigned i = 0; i < nf; i++) {
		cr_assert_gt(fam[i].type_line, 0, "%s has no TYPE", fam[i].name);
		cr_assert_eq(fam[i].type_line, fam[i].help_line + 1, "%s: TYPE right after HELP",
			     fam[i].name);
		if (strcmp(fam[i].type, "counter") == 0)
			cr_assert(ends_with(fam[i].name, strlen(fam[i].name), "_total"),
				  "counter %s does not end in _total", fam[i].name);
		else
			cr_assert(!ends_with(fam[i].name, strlen(fam[i].name), "_total"),
				  "%s %s ends in _total", fam[i].type, fam[i].name);
		if (expect_samples)
			cr_assert_gt(fam[i].samples, 0, "%s has no sample", fam[i].name);
	}
	return nf;
}

/* 0 when promtool accepts text; its output in *out. -1 when it is absent. */
static int promtool_check(const char *text, char **out)
{
	char path[] = "/tmp/wglb-metrics-XXXXXX", cmd[128];
	size_t len = 0, n;
	FILE *f, *p;
	int fd, st;

	*out = NULL;
	if (access(PROMTOOL, X_OK) != 0)
		return -1;
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0, 1);
	cr_assert_eq(fclose(f), 0);
	snprintf(cmd, sizeof cmd, PROMTOOL " check metrics < %s 2>&1", path);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	*out = calloc(1, 65536);
	cr_assert_not_null(*out);
	while ((n = fread(*out + len, 1, 65535 - len, p)) > 0)
		len += n;
	st = pclose(p);
	unlink(path);
	cr_assert(WIFEXITED(st), "promtool did not exit");
	return WEXITSTATUS(st);
}

/* ---- tests ---- */

Test(metrics, build_info_and_globals)
{
	char *t = render(&in);

	assert_line(t, "wglb_build_info{version=\"1.2.3-test\"} 1");
	assert_line(t, "wglb_sessions 42");
	assert_line(t, "wglb_sessions_created_total 50");
	assert_line(t, "wglb_sessions_handshaking 7");
	assert_line(t, "# TYPE wglb_sessions_handshaking gauge");
	assert_line(t, "wglb_sessions_roamed_total 3");
	assert_line(t, "wglb_sessions_expired_total 8");
	assert_line(t, "wglb_client_packets_total{direction=\"received\"} 1000");
	assert_line(t, "wglb_client_packets_total{direction=\"sent\"} 900");
	assert_line(t, "wglb_client_bytes_total{direction=\"received\"} 150000");
	assert_line(t, "wglb_client_bytes_total{direction=\"sent\"} 140000");
	assert_line(t, "wglb_under_load 1");
	assert_line(t, "wglb_cookie_replies_sent_total 12");
	assert_line(t, "wglb_absorbed_cookie_replies_total 5");
	assert_line(t, "# TYPE wglb_build_info gauge");
	assert_line(t, "# TYPE wglb_sessions gauge");
	assert_line(t, "# TYPE wglb_sessions_created_total counter");
	free(t);
}

Test(metrics, not_under_load)
{
	char *t;

	px.under_load = false;
	t = render(&in);
	assert_line(t, "wglb_under_load 0");
	free(t);
}

Test(metrics, drops_every_reason_once)
{
	char *t = render(&in), line[128];

	assert_line(t, "wglb_dropped_packets_total{reason=\"bad_mac1\"} 7");
	assert_line(t, "wglb_dropped_packets_total{reason=\"no_backend\"} 4");
	assert_line(t, "wglb_dropped_packets_total{reason=\"short\"} 0");
	cr_assert_eq(count_prefix(t, "wglb_dropped_packets_total{"), DROP__COUNT);
	for (int r = 0; r < DROP__COUNT; r++) {
		snprintf(line, sizeof line, "wglb_dropped_packets_total{reason=\"%s\"} %llu",
			 drop_reason_name(r), (unsigned long long)px.drops[r]);
		assert_line(t, line);
	}
	assert_line(t, "# TYPE wglb_dropped_packets_total counter");
	free(t);
}

Test(metrics, reload_status)
{
	char *t = render(&in);

	assert_line(t, "wglb_config_reloads_total{result=\"success\"} 3");
	assert_line(t, "wglb_config_reloads_total{result=\"failure\"} 2");
	assert_line(t, "wglb_config_last_reload_successful 0");
	assert_line(t, "wglb_config_last_reload_success_timestamp_seconds 1700000123.250");
	free(t);

	rs.last_ok = true;
	t = render(&in);
	assert_line(t, "wglb_config_last_reload_successful 1");
	refute_line(t, "wglb_config_last_reload_successful 0");
	free(t);
}

Test(metrics, backend_up_follows_health_and_route)
{
	char *t = render(&in);

	assert_line(t, "wglb_backend_up{backend=\"a\"} 1");
	assert_line(t, "wglb_backend_up{backend=\"b\"} 0");
	/* health says up, but there is no route to it */
	assert_line(t, "wglb_backend_up{backend=\"c\"} 0");
	cr_assert_eq(count_prefix(t, "wglb_backend_up{"), 3);
	free(t);

	bs.v[2]->route_ok = true;
	t = render(&in);
	assert_line(t, "wglb_backend_up{backend=\"c\"} 1");
	free(t);

	bs.v[0]->health = HEALTH_DOWN;
	t = render(&in);
	assert_line(t, "wglb_backend_up{backend=\"a\"} 0");
	free(t);
}

Test(metrics, admin_state_one_hot)
{
	char *t = render(&in);

	assert_line(t, "wglb_backend_admin_state{backend=\"a\",state=\"enabled\"} 1");
	assert_line(t, "wglb_backend_admin_state{backend=\"a\",state=\"drain\"} 0");
	assert_line(t, "wglb_backend_admin_state{backend=\"a\",state=\"disabled\"} 0");
	assert_line(t, "wglb_backend_admin_state{backend=\"b\",state=\"enabled\"} 0");
	assert_line(t, "wglb_backend_admin_state{backend=\"b\",state=\"drain\"} 1");
	assert_line(t, "wglb_backend_admin_state{backend=\"b\",state=\"disabled\"} 0");
	assert_line(t, "wglb_backend_admin_state{backend=\"c\",state=\"enabled\"} 1");
	cr_assert_eq(count_prefix(t, "wglb_backend_admin_state{"), 9);
	free(t);

	bs.v[1]->admin = ADMIN_DISABLED;
	t = render(&in);
	assert_line(t, "wglb_backend_admin_state{backend=\"b\",state=\"drain\"} 0");
	assert_line(t, "wglb_backend_admin_state{backend=\"b\",state=\"disabled\"} 1");
	free(t);
}

Test(metrics, health_reason_only_the_current_one)
{
	char *t = render(&in);

	assert_line(t, "wglb_backend_health_reason{backend=\"a\",reason=\"none\"} 1");
	assert_line(t, "wglb_backend_health_reason{backend=\"b\",reason=\"no_response\"} 1");
	assert_line(t, "wglb_backend_health_reason{backend=\"c\",reason=\"route\"} 1");
	cr_assert_eq(count_prefix(t, "wglb_backend_health_reason{"), 3);
	free(t);
}

Test(metrics, backend_gauges_and_counters)
{
	char *t = render(&in);

	assert_line(t, "wglb_backend_weight{backend=\"a\"} 3");
	assert_line(t, "wglb_backend_weight{backend=\"c\"} 1000");
	assert_line(t, "wglb_backend_sessions{backend=\"a\"} 5");
	assert_line(t, "wglb_backend_sessions{backend=\"b\"} 0");
	assert_line(t, "wglb_backend_handshakes_forwarded_total{backend=\"a\"} 11");
	assert_line(t, "wglb_backend_handshakes_completed_total{backend=\"a\"} 10");
	assert_line(t, "wglb_backend_handshakes_unanswered_total{backend=\"a\"} 1");
	assert_line(t, "wglb_backend_cookie_replies_total{backend=\"a\"} 2");
	assert_line(t, "wglb_backend_initiations_total{backend=\"a\"} 4");
	assert_line(t, "wglb_backend_packets_total{backend=\"a\",direction=\"to_backend\"} 100");
	assert_line(t, "wglb_backend_packets_total{backend=\"a\",direction=\"from_backend\"} 90");
	assert_line(t, "wglb_backend_bytes_total{backend=\"a\",direction=\"to_backend\"} 12000");
	assert_line(t, "wglb_backend_bytes_total{backend=\"a\",direction=\"from_backend\"} 9000");
	assert_line(t, "wglb_backend_probes_succeeded_total{backend=\"a\"} 6");
	assert_line(t, "wglb_backend_probes_failed_total{backend=\"a\"} 1");
	assert_line(t, "wglb_backend_probes_failed_total{backend=\"b\"} 9");
	assert_line(t, "wglb_backend_health_changes_total{backend=\"a\"} 2");
	assert_line(t, "wglb_backend_health_changes_total{backend=\"b\"} 1");
	assert_line(t, "wglb_backend_last_state_change_timestamp_seconds{backend=\"a\"} 1700000000.500");
	assert_line(t, "wglb_backend_last_state_change_timestamp_seconds{backend=\"c\"} 0.000");
	free(t);
}

Test(metrics, large_counters_are_exact)
{
	char *t;

	bs.v[0]->c.rx_bytes = UINT64_MAX;
	px.drops[DROP_SEND] = (uint64_t)1 << 53 | 1;   /* not representable as a double */
	t = render(&in);
	assert_line(t, "wglb_backend_bytes_total{backend=\"a\",direction=\"from_backend\"} "
		       "18446744073709551615");
	assert_line(t, "wglb_dropped_packets_total{reason=\"send\"} 9007199254740993");
	free(t);
}

Test(metrics, histogram_exact_buckets)
{
	static const char *const want_a[PROBE_BUCKETS] = {
		"le=\"0.0005\"} 1", "le=\"0.001\"} 1", "le=\"0.0025\"} 1", "le=\"0.005\"} 3",
		"le=\"0.01\"} 3",   "le=\"0.025\"} 3", "le=\"0.05\"} 6",   "le=\"0.1\"} 6",
		"le=\"0.25\"} 6",   "le=\"0.5\"} 6",   "le=\"1\"} 6",      "le=\"+Inf\"} 6",
	};
	char *t = render(&in), line[160];

	for (int k = 0; k < PROBE_BUCKETS; k++) {
		snprintf(line, sizeof line,
			 "wglb_backend_probe_duration_seconds_bucket{backend=\"a\",%s", want_a[k]);
		assert_line(t, line);
	}
	assert_line(t, "wglb_backend_probe_duration_seconds_sum{backend=\"a\"} 0.1234");
	assert_line(t, "wglb_backend_probe_duration_seconds_count{backend=\"a\"} 6");
	/* b's only probe took longer than the largest finite bound */
	assert_line(t, "wglb_backend_probe_duration_seconds_bucket{backend=\"b\",le=\"1\"} 0");
	assert_line(t, "wglb_backend_probe_duration_seconds_bucket{backend=\"b\",le=\"+Inf\"} 1");
	assert_line(t, "wglb_backend_probe_duration_seconds_count{backend=\"b\"} 1");
	assert_line(t, "wglb_backend_probe_duration_seconds_sum{backend=\"b\"} 1.5");
	assert_line(t, "wglb_backend_probe_duration_seconds_count{backend=\"c\"} 0");
	assert_line(t, "wglb_backend_probe_duration_seconds_bucket{backend=\"c\",le=\"+Inf\"} 0");
	assert_line(t, "# TYPE wglb_backend_probe_duration_seconds histogram");
	free(t);
}

/* For every backend: buckets in increasing le, non-decreasing, +Inf last and equal to _count. */
Test(metrics, histogram_cumulative_for_every_backend)
{
	char *t;

	/* an arbitrary spread, so that cumulation is visible everywhere */
	for (int k = 0; k < PROBE_BUCKETS; k++)
		bs.v[2]->c.probe_hist[k] = (uint64_t)(k * 7 % 5);
	t = render(&in);
	for (unsigned i = 0; i < bs.n; i++) {
		char prefix[128];
		size_t n;
		double prev_le = -INFINITY, prev = -1, inf = -1;
		unsigned buckets = 0;
		uint64_t total = 0;

		for (int k = 0; k < PROBE_BUCKETS; k++)
			total += bs.v[i]->c.probe_hist[k];
		n = (size_t)snprintf(prefix, sizeof prefix,
				     "wglb_backend_probe_duration_seconds_bucket{backend=\"%s\",le=\"",
				     bs.v[i]->name);
		for (const char *p = t; *p;) {
			const char *nl = strchr(p, '\n');

			if (strncmp(p, prefix, n) == 0) {
				const char *q = p + n;
				char *e;
				double le, v;

				cr_assert_eq(inf, -1, "%s: bucket after le=\"+Inf\"", bs.v[i]->name);
				if (strncmp(q, "+Inf\"", 5) == 0) {
					le = INFINITY;
					e = (char *)q + 4;
				} else {
					le = strtod(q, &e);
				}
				cr_assert_eq(*e, '"');
				cr_assert_gt(le, prev_le, "%s: le not increasing", bs.v[i]->name);
				v = strtod(e + 3, NULL);
				cr_assert_geq(v, prev, "%s: le=%g below the bucket before",
					      bs.v[i]->name, le);
				prev_le = le;
				prev = v;
				buckets++;
				if (isinf(le))
					inf = v;
			}
			p = nl + 1;
		}
		cr_assert_eq(buckets, PROBE_BUCKETS);
		cr_assert_eq(inf, (double)total, "%s: +Inf bucket %g, want %llu", bs.v[i]->name,
			     inf, (unsigned long long)total);
		{
			char series[128];

			snprintf(series, sizeof series,
				 "wglb_backend_probe_duration_seconds_count{backend=\"%s\"}",
				 bs.v[i]->name);
			cr_assert_eq(sample(t, series), inf);
		}
	}
	free(t);
}

Test(metrics, families_declared_once_before_samples)
{
	static const char *const want[][2] = {
		{ "wglb_build_info", "gauge" },
		{ "wglb_sessions", "gauge" },
		{ "wglb_sessions_created_total", "counter" },
		{ "wglb_sessions_roamed_total", "counter" },
		{ "wglb_sessions_expired_total", "counter" },
		{ "wglb_client_packets_total", "counter" },
		{ "wglb_client_bytes_total", "counter" },
		{ "wglb_dropped_packets_total", "counter" },
		{ "wglb_under_load", "gauge" },
		{ "wglb_cookie_replies_sent_total", "counter" },
		{ "wglb_absorbed_cookie_replies_total", "counter" },
		{ "wglb_config_reloads_total", "counter" },
		{ "wglb_config_last_reload_successful", "gauge" },
		{ "wglb_config_last_reload_success_timestamp_seconds", "gauge" },
		{ "wglb_backend_up", "gauge" },
		{ "wglb_backend_admin_state", "gauge" },
		{ "wglb_backend_health_reason", "gauge" },
		{ "wglb_backend_weight", "gauge" },
		{ "wglb_backend_sessions", "gauge" },
		{ "wglb_backend_handshakes_forwarded_total", "counter" },
		{ "wglb_backend_handshakes_completed_total", "counter" },
		{ "wglb_backend_handshakes_unanswered_total", "counter" },
		{ "wglb_backend_cookie_replies_total", "counter" },
		{ "wglb_backend_initiations_total", "counter" },
		{ "wglb_backend_packets_total", "counter" },
		{ "wglb_backend_bytes_total", "counter" },
		{ "wglb_backend_probes_succeeded_total", "counter" },
		{ "wglb_backend_probes_failed_total", "counter" },
		{ "wglb_backend_probe_duration_seconds", "histogram" },
		{ "wglb_backend_health_changes_total", "counter" },
		{ "wglb_backend_last_state_change_timestamp_seconds", "gauge" },
	};
	char *t = render(&in), line[160];
	unsigned nf = check_structure(t, true);

	/* at least these (more may come), each once */
	cr_assert_geq(nf, sizeof want / sizeof want[0], "%u families", nf);
	for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++) {
		snprintf(line, sizeof line, "# TYPE %s %s", want[i][0], want[i][1]);
		assert_line(t, line);
	}
	cr_assert_eq(count_prefix(t, "# HELP "), nf);
	cr_assert_eq(count_prefix(t, "# TYPE "), nf);
	refute_line(t, "");
	cr_assert_eq(count_prefix(t, "process_"), 0, "process metrics with process=false");
	free(t);
}

Test(metrics, no_backends_still_well_formed)
{
	struct backend_set empty = { 0 };
	char *t;

	in.bs = &empty;
	t = render(&in);
	check_structure(t, false);
	cr_assert_null(strstr(t, "{backend=\""), "a per-backend sample without backends:\n%s", t);
	assert_line(t, "# TYPE wglb_backend_up gauge");
	assert_line(t, "wglb_sessions 42");
	free(t);
}

Test(metrics, process_metrics_when_asked)
{
	char *t;
	double fds, rss, start;

	in.process = true;
	t = render(&in);
	check_structure(t, true);
	assert_line(t, "# TYPE process_cpu_seconds_total counter");
	fds = sample(t, "process_open_fds");
	rss = sample(t, "process_resident_memory_bytes");
	start = sample(t, "process_start_time_seconds");
	cr_assert_geq(fds, 3, "stdin, stdout and stderr at least: %g", fds);
	cr_assert_gt(rss, 0);
	cr_assert_gt(sample(t, "process_virtual_memory_bytes"), rss);
	cr_assert_gt(sample(t, "process_max_fds"), 0);
	/* started in the last day, not in the future */
	cr_assert(start > (double)time(NULL) - 86400 && start <= (double)time(NULL) + 1,
		  "process_start_time_seconds %f", start);
	free(t);
}

Test(metrics, write_error_reported)
{
	FILE *f = fopen("/dev/full", "we");

	cr_assert_not_null(f);
	setvbuf(f, NULL, _IOFBF, 512);
	cr_assert_eq(metrics_render(&in, f), -EIO);
	fclose(f);
}

Test(metrics, promtool_accepts)
{
	char *t = render(&in), *out;
	int rc = promtool_check(t, &out);

	if (rc == -1) {
		free(t);
		cr_skip_test("%s not installed", PROMTOOL);
	}
	cr_assert_eq(rc, 0, "promtool check metrics: exit %d:\n%s", rc, out);
	free(out);
	free(t);

	/* the process metrics as well */
	in.process = true;
	t = render(&in);
	rc = promtool_check(t, &out);
	cr_assert_eq(rc, 0, "promtool check metrics (process): exit %d:\n%s", rc, out);
	free(out);
	free(t);
}

Test(metrics, promtool_rejects_broken_text)
{
	char *out;
	int rc = promtool_check("# HELP x y\n# TYPE x counter\nx{a=\"1\" 1\n", &out);

	/* makes sure the check above can fail at all */
	if (rc == -1)
		cr_skip_test("%s not installed", PROMTOOL);
	cr_assert_neq(rc, 0, "promtool accepted a broken exposition:\n%s", out);
	free(out);
}
