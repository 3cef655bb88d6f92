/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of conf: the files under tests/data/conf/good must parse into
 * exactly the values they spell out; each tests/data/conf/bad/NAME.conf
 * must be refused with exactly the messages in NAME.err ("@FILE@" standing
 * for the path handed to conf_load), so that a change of wording or of line
 * number is a deliberate act and not an accident.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "conf.h"
#include "log.h"

#define CONF_DIR WGLB_TEST_DATA "/conf"

/* ---- helpers ---- */

/* Whole file into a NUL-terminated heap buffer. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, len = 0, n;

	cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	cr_assert(!ferror(f), "cannot read %s", path);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* tmpl with every "@FILE@" replaced by path; heap allocated. */
static char *subst_file(const char *tmpl, const char *path)
{
	static const char marker[] = "@FILE@";
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	const char *p;

	cr_assert_not_null(f);
	while ((p = strstr(tmpl, marker))) {
		fwrite(tmpl, 1, (size_t)(p - tmpl), f);
		fputs(path, f);
		tmpl = p + strlen(marker);
	}
	fputs(tmpl, f);
	fclose(f);
	return out;
}

/*
 * conf_load with its messages captured in memory: the parser writes to any
 * FILE *, and a memstream lets the test compare them byte for byte.
 */
static struct conf *load(const char *path, char **msgs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct conf *c;

	cr_assert_not_null(f);
	c = conf_load(path, f);
	cr_assert_eq(fclose(f), 0);
	*msgs = buf;
	return c;
}

/* A file that must parse silently. */
static struct conf *load_good(const char *path)
{
	char *msgs;
	struct conf *c = load(path, &msgs);

	cr_assert_not_null(c, "%s was refused:\n%s", path, msgs);
	cr_assert_str_empty(msgs, "%s parsed, but with messages:\n%s", path, msgs);
	free(msgs);
	cr_assert_str_eq(c->path, path);
	return c;
}

static void expect_addr(const union sockaddr_any *a, const char *want, const char *what)
{
	char buf[ADDR_STRLEN];

	cr_expect_str_eq(addr_fmt(a, buf), want, "%s: got %s, want %s", what, buf, want);
}

static void expect_listen(const struct conf *c, const char *const *want, unsigned n)
{
	cr_assert_eq(c->n_listen, n, "%u listen addresses, want %u", c->n_listen, n);
	for (unsigned i = 0; i < n; i++) {
		char what[32];

		snprintf(what, sizeof what, "listen[%u]", i);
		expect_addr(&c->listen[i], want[i], what);
	}
}

struct want_backend {
	const char *name;
	const char *address;
	unsigned weight;
	enum backend_admin state;
};

/* Backends must come out in file order: the balancer's tables follow it. */
static void expect_backends(const struct conf *c, const struct want_backend *want, unsigned n)
{
	cr_assert_eq(c->n_backends, n, "%u backends, want %u", c->n_backends, n);
	for (unsigned i = 0; i < n; i++) {
		const struct conf_backend *b = &c->backends[i];

		cr_expect_str_eq(b->name, want[i].name, "backend %u", i);
		expect_addr(&b->address, want[i].address, want[i].name);
		cr_expect_eq(b->weight, want[i].weight, "backend %s: weight %u, want %u",
			     want[i].name, b->weight, want[i].weight);
		cr_expect_eq(b->state, want[i].state, "backend %s: state %s, want %s",
			     want[i].name, backend_admin_name(b->state),
			     backend_admin_name(want[i].state));
	}
}

/* Every [global] key other than listen left at its documented default. */
static void expect_global_defaults(const struct conf *c)
{
	cr_expect(!c->has_public_key, "public_key set");
	cr_expect_null(c->user, "user set to \"%s\"", c->user);
	cr_expect_eq(c->log_level, LOG_LVL_INFO, "log_level %s", log_level_name(c->log_level));
	cr_expect_float_eq(c->session_timeout, 200.0, 1e-9, "session_timeout %g",
			   c->session_timeout);
	cr_expect_eq(c->max_sessions, 65536u, "max_sessions %u", c->max_sessions);
}

/* ---- good files ---- */

Test(conf_good, minimal)
{
	static const char *const listen[] = { "192.0.2.1:51820" };
	static const struct want_backend be[] = {
		{ "a", "192.0.2.11:51820", 1, ADMIN_ENABLED },
	};
	struct conf *c = load_good(CONF_DIR "/good/minimal.conf");

	expect_listen(c, listen, 1);
	expect_global_defaults(c);
	expect_backends(c, be, 1);
	/* The line numbers are what later messages (reload, wglbctl) point at. */
	cr_expect_eq(c->backends[0].line, 4);
	cr_expect_eq(c->backends[0].address_line, 5);
	conf_free(c);
}

Test(conf_good, ipv6)
{
	static const char *const listen[] = { "192.0.2.1:51820", "[2001:db8::1]:51820" };
	static const struct want_backend be[] = {
		{ "v4", "192.0.2.11:51820", 1, ADMIN_ENABLED },
		{ "v6", "[2001:db8::11]:4500", 1, ADMIN_ENABLED },
		{ "v6-mapped", "[::ffff:192.0.2.12]:51820", 1, ADMIN_ENABLED },
	};
	struct conf *c = load_good(CONF_DIR "/good/ipv6.conf");

	expect_listen(c, listen, 2);
	cr_expect_eq(c->listen[0].sa.sa_family, AF_INET);
	cr_expect_eq(c->listen[1].sa.sa_family, AF_INET6);
	expect_global_defaults(c);
	expect_backends(c, be, 3);
	cr_expect_eq(c->backends[1].address.sa.sa_family, AF_INET6);
	/* a v4-mapped address is kept as IPv6, not silently turned into v4 */
	cr_expect_eq(c->backends[2].address.sa.sa_family, AF_INET6);
	conf_free(c);
}

Test(conf_good, listen_list)
{
	/* comma lists and repeated keys add up, in order */
	static const char *const listen[] = {
		"192.0.2.1:51820", "192.0.2.2:51820", "[2001:db8::1]:51820",
		"198.51.100.1:4500", "0.0.0.0:1", "[::]:65535",
	};
	static const struct want_backend be[] = {
		{ "a", "192.0.2.11:51820", 1, ADMIN_ENABLED },
	};
	struct conf *c = load_good(CONF_DIR "/good/listen-list.conf");

	expect_listen(c, listen, 6);
	expect_global_defaults(c);
	expect_backends(c, be, 1);
	conf_free(c);
}

Test(conf_good, all_keys)
{
	static const char *const listen[] = { "192.0.2.1:51820" };
	static const struct want_backend be[] = {
		{ "wg-a.example_1", "192.0.2.11:51820", 1000, ADMIN_DRAIN },
		{ "B", "[2001:db8::12]:51820", 7, ADMIN_DISABLED },
		{ "c", "192.0.2.13:51821", 1, ADMIN_ENABLED },
	};
	struct conf *c = load_good(CONF_DIR "/good/all-keys.conf");

	expect_listen(c, listen, 1);
	/* the key in the file is base64 of the bytes 0, 1, ..., 31 */
	cr_expect(c->has_public_key);
	for (unsigned i = 0; i < WG_KEY_LEN; i++)
		cr_expect_eq(c->public_key[i], i, "public_key[%u] = %u", i, c->public_key[i]);
	cr_assert_not_null(c->user);
	cr_expect_str_eq(c->user, "root");
	cr_expect_eq(c->log_level, LOG_LVL_DEBUG);
	cr_expect_float_eq(c->session_timeout, 300.0, 1e-9);
	cr_expect_eq(c->max_sessions, 1u << 24, "max_sessions %u", c->max_sessions);
	expect_backends(c, be, 3);
	conf_free(c);
}

Test(conf_good, comments)
{
	static const char *const listen[] = { "192.0.2.1:51820", "192.0.2.2:51820" };
	static const struct want_backend be[] = {
		{ "a", "192.0.2.11:51820", 3, ADMIN_ENABLED },
	};
	struct conf *c = load_good(CONF_DIR "/good/comments.conf");

	expect_listen(c, listen, 2);
	/* commented-out keys must stay unset */
	cr_expect(!c->has_public_key);
	cr_expect_null(c->user);
	cr_expect_eq(c->log_level, LOG_LVL_WARNING);
	cr_expect_float_eq(c->session_timeout, 10.0, 1e-9);
	cr_expect_eq(c->max_sessions, 65536u);
	expect_backends(c, be, 1);
	conf_free(c);
}

Test(conf_good, crlf)
{
	static const char *const listen[] = { "192.0.2.1:51820" };
	static const struct want_backend be[] = {
		{ "crlf", "192.0.2.11:51820", 5, ADMIN_DRAIN },
	};
	struct conf *c = load_good(CONF_DIR "/good/crlf.conf");

	/* a stray '\r' would end up in the name or the values and fail these */
	expect_listen(c, listen, 1);
	cr_expect_eq(c->log_level, LOG_LVL_ERROR);
	expect_backends(c, be, 1);
	cr_expect_eq(c->backends[0].line, 6);
	cr_expect_eq(c->backends[0].address_line, 7);
	conf_free(c);
}

Test(conf_good, bom)
{
	static const char *const listen[] = { "192.0.2.1:51820" };
	static const struct want_backend be[] = {
		{ "bom", "192.0.2.11:51820", 1, ADMIN_ENABLED },
	};
	struct conf *c = load_good(CONF_DIR "/good/bom.conf");

	/* the BOM is on the [global] line: it must not hide the section */
	expect_listen(c, listen, 1);
	cr_expect_eq(c->max_sessions, 1u);
	expect_backends(c, be, 1);
	cr_expect_eq(c->backends[0].line, 5);
	conf_free(c);
}

Test(conf_good, longest_line)
{
	/* line 2 is a comment of exactly the longest allowed length, 197 */
	static const char *const listen[] = { "192.0.2.1:51820" };
	struct conf *c = load_good(CONF_DIR "/good/long-line.conf");

	expect_listen(c, listen, 1);
	cr_expect_eq(c->n_backends, 1u);
	conf_free(c);
}

Test(conf_good, no_final_newline)
{
	static const struct want_backend be[] = {
		{ "a", "192.0.2.11:51820", 1, ADMIN_ENABLED },
	};
	struct conf *c = load_good(CONF_DIR "/good/no-final-newline.conf");

	expect_backends(c, be, 1);
	conf_free(c);
}

/*
 * Parameters hold their strings inline: criterion may run each case in a
 * freshly executed copy of this program (PIE, ASLR), where a pointer into
 * the parent's .rodata would dangle.
 */
struct duration_file {
	char file[32];
	double seconds;
};

ParameterizedTestParameters(conf_good, durations)
{
	/*
	 * session_timeout is the only duration key and takes 1s..7d, so the
	 * millisecond unit is shown with 1500ms; 500ms is in the unit test of
	 * conf_parse_duration and in bad/timeout-below-min.
	 */
	static struct duration_file params[] = {
		{ "duration-ms.conf", 1.5 },
		{ "duration-s.conf", 2 },
		{ "duration-m.conf", 180 },
		{ "duration-h.conf", 3600 },
		{ "duration-d.conf", 86400 },
		{ "duration-plain.conf", 90 },
		{ "duration-fraction.conf", 150 },
		{ "duration-min.conf", 1 },
		{ "duration-max.conf", 7 * 86400 },
	};

	return cr_make_param_array(struct duration_file, params,
				   sizeof params / sizeof params[0]);
}

ParameterizedTest(struct duration_file *p, conf_good, durations)
{
	char path[PATH_MAX];
	struct conf *c;

	snprintf(path, sizeof path, "%s/good/%s", CONF_DIR, p->file);
	c = load_good(path);
	cr_expect_float_eq(c->session_timeout, p->seconds, 1e-9, "%s: %g s, want %g s",
			   p->file, c->session_timeout, p->seconds);
	conf_free(c);
}

/* Catches a good file added without a test of its own going bad. */
Test(conf_good, every_file_parses)
{
	glob_t g;

	cr_assert_eq(glob(CONF_DIR "/good/*.conf", 0, NULL, &g), 0);
	cr_expect_geq(g.gl_pathc, 6u);
	for (size_t i = 0; i < g.gl_pathc; i++)
		conf_free(load_good(g.gl_pathv[i]));
	globfree(&g);
}

/* The example shipped to operators must always be valid. */
Test(conf_good, shipped_example)
{
	struct conf *c = load_good(WGLB_TEST_DATA "/../../etc/wglb.conf");

	cr_expect_gt(c->n_listen, 0u);
	cr_expect_gt(c->n_backends, 0u);
	for (unsigned i = 0; i < c->n_backends; i++)
		cr_expect(c->backends[i].address.sa.sa_family == AF_INET ||
			  c->backends[i].address.sa.sa_family == AF_INET6,
			  "backend %s has no usable address", c->backends[i].name);
	conf_free(c);
}

/* ---- bad files ---- */

struct bad_case {
	char name[32];          /* inline, like struct duration_file */
};

/*
 * Listed by hand rather than globbed so that each case is its own test in
 * the report; conf_bad.table_is_complete catches a file missing here.
 */
static struct bad_case bad_cases[] = {
	{ "address-no-port" },
	{ "address-twice" },
	{ "address-wildcard" },
	{ "address-wildcard6" },
	{ "backend-bad-name" },
	{ "backend-duplicate" },
	{ "backend-key-twice" },
	{ "backend-name-space" },
	{ "backend-name-too-long" },
	{ "backend-no-address" },
	{ "backend-no-name" },
	{ "backend-same-address" },
	{ "backend-same-address6" },
	{ "comment-hides-equals" },
	{ "empty" },
	{ "empty-value" },
	{ "empty-value-comment" },
	{ "global-no-listen" },
	{ "global-twice" },
	{ "key-outside-section" },
	{ "key-twice" },
	{ "line-198" },
	{ "line-too-long" },
	{ "listen-bad-in-list" },
	{ "listen-bare-ipv6" },
	{ "listen-empty-list" },
	{ "listen-hostname" },
	{ "listen-no-port" },
	{ "listen-port-too-big" },
	{ "listen-port-zero" },
	{ "listen-too-many" },
	{ "listen-twice" },
	{ "log-level-bad" },
	{ "max-sessions-negative" },
	{ "max-sessions-text" },
	{ "max-sessions-too-large" },
	{ "max-sessions-zero" },
	{ "missing-key-name" },
	{ "no-backend" },
	{ "no-equals" },
	{ "no-equals-colon" },
	{ "no-global" },
	{ "nul-byte" },
	{ "public-key-base64" },
	{ "public-key-length" },
	{ "public-key-short" },
	{ "section-trailing-text" },
	{ "section-unclosed" },
	{ "several-errors" },
	{ "several-errors-order" },
	{ "state-on" },
	{ "timeout-bad-unit" },
	{ "timeout-below-min" },
	{ "timeout-negative" },
	{ "timeout-text" },
	{ "timeout-too-long" },
	{ "timeout-zero" },
	{ "unknown-key-backend" },
	{ "unknown-key-global" },
	{ "unknown-section" },
	{ "user-unknown" },
	{ "weight-text" },
	{ "weight-too-large" },
	{ "weight-zero" },
};

#define N_BAD_CASES (sizeof bad_cases / sizeof bad_cases[0])

ParameterizedTestParameters(conf_bad, file)
{
	return cr_make_param_array(struct bad_case, bad_cases, N_BAD_CASES);
}

ParameterizedTest(struct bad_case *p, conf_bad, file)
{
	char conf_path[PATH_MAX], err_path[PATH_MAX];
	char *tmpl, *want, *got;
	struct conf *c;

	snprintf(conf_path, sizeof conf_path, "%s/bad/%s.conf", CONF_DIR, p->name);
	snprintf(err_path, sizeof err_path, "%s/bad/%s.err", CONF_DIR, p->name);
	tmpl = slurp(err_path);
	want = subst_file(tmpl, conf_path);
	free(tmpl);
	cr_assert_str_not_empty(want, "%s.err is empty", p->name);

	c = load(conf_path, &got);
	/* freed before asserting so that a failure here does not also leak */
	conf_free(c);
	cr_expect_null(c, "%s.conf was accepted", p->name);
	cr_expect_str_eq(got, want, "%s.conf:\n--- got:\n%s--- want:\n%s", p->name, got, want);
	free(got);
	free(want);
}

Test(conf_bad, table_is_complete)
{
	glob_t g;

	cr_assert_eq(glob(CONF_DIR "/bad/*.conf", 0, NULL, &g), 0);
	cr_expect_eq(g.gl_pathc, N_BAD_CASES, "%zu files in bad/, %zu in the table",
		     g.gl_pathc, N_BAD_CASES);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *base = strrchr(g.gl_pathv[i], '/') + 1;
		size_t n = strlen(base) - strlen(".conf");
		bool found = false;

		for (size_t j = 0; j < N_BAD_CASES && !found; j++)
			found = strlen(bad_cases[j].name) == n &&
				strncmp(bad_cases[j].name, base, n) == 0;
		cr_expect(found, "bad/%s is not in bad_cases[]", base);
	}
	globfree(&g);
}

/* err may be NULL (e.g. a silent check): still refused, and no crash. */
Test(conf_bad, null_err_stream)
{
	cr_expect_null(conf_load(CONF_DIR "/bad/several-errors.conf", NULL));
	cr_expect_null(conf_load(CONF_DIR "/no-such-file.conf", NULL));
}

Test(conf_bad, missing_file)
{
	static const char path[] = CONF_DIR "/no-such-file.conf";
	char *msgs;
	struct conf *c = load(path, &msgs);

	conf_free(c);
	cr_expect_null(c);
	cr_expect_str_eq(msgs, CONF_DIR "/no-such-file.conf: cannot open: No such file or directory\n");
	free(msgs);
}

/*
 * A directory opens fine but cannot be read: one message saying so, not a
 * "line 0" followed by "missing [global]" about a file that has no lines.
 */
Test(conf_bad, directory)
{
	static const char path[] = CONF_DIR;
	char *msgs;
	struct conf *c = load(path, &msgs);

	conf_free(c);
	cr_expect_null(c);
	cr_expect_str_eq(msgs, CONF_DIR ": cannot read: Is a directory\n");
	free(msgs);
}

/* ---- conf_load_stream: the name given is the one in the messages ---- */

Test(conf_stream, good_and_bad)
{
	static const char good[] =
		"[global]\nlisten = [2001:db8::1]:443\n[backend x]\naddress = 192.0.2.9:1\n";
	static const char bad[] =
		"[global]\nlisten = 192.0.2.1:51820\n[backend x]\naddress = 192.0.2.9:1\nweight = 0\n";
	char *msgs = NULL;
	size_t len = 0;
	FILE *in, *err;
	struct conf *c;

	in = fmemopen((void *)good, sizeof good - 1, "r");
	cr_assert_not_null(in);
	c = conf_load_stream(in, "<good>", NULL);
	fclose(in);
	cr_assert_not_null(c);
	cr_expect_str_eq(c->path, "<good>");
	cr_expect_eq(c->n_listen, 1u);
	expect_addr(&c->listen[0], "[2001:db8::1]:443", "listen[0]");
	cr_expect_not_null(conf_find_backend(c, "x"));
	conf_free(c);

	in = fmemopen((void *)bad, sizeof bad - 1, "r");
	err = open_memstream(&msgs, &len);
	cr_assert_not_null(in);
	cr_assert_not_null(err);
	c = conf_load_stream(in, "<bad>", err);
	fclose(in);
	fclose(err);
	conf_free(c);
	cr_expect_null(c);
	cr_expect_str_eq(msgs, "<bad>:5: bad weight \"0\" (1 to 1000)\n");
	free(msgs);
}

/* ---- conf_parse_duration ---- */

Test(conf_duration, good)
{
	static const struct {
		const char *s;
		double want;
	} cases[] = {
		{ "500ms", 0.5 }, { "2s", 2 }, { "3m", 180 }, { "1h", 3600 }, { "1d", 86400 },
		{ "90", 90 }, { "0", 0 }, { "1.5s", 1.5 }, { "0.25m", 15 }, { "1000ms", 1 },
		{ "007s", 7 }, { "7d", 604800 }, { "1ms", 0.001 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		double d = -1;
		int rc = conf_parse_duration(cases[i].s, &d);

		cr_expect_eq(rc, 0, "\"%s\" refused (%d)", cases[i].s, rc);
		cr_expect_float_eq(d, cases[i].want, 1e-9, "\"%s\" = %g, want %g", cases[i].s,
				   d, cases[i].want);
	}
}

Test(conf_duration, bad)
{
	/* anything but digits then one known unit, with nothing around them */
	static const char *const cases[] = {
		"", "s", "ms", "-5s", "+5s", " 5s", "5s ", "5 s", "1x", "5sec", "5S", "5M",
		"1y", "5mss", "5ms5", ".5s", "nan", "inf", "1e999s", "5s;", "1h30m",
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		double d = -1;

		cr_expect_neq(conf_parse_duration(cases[i], &d), 0, "\"%s\" accepted as %g s",
			      cases[i], d);
	}
}

/* ---- backend_admin ---- */

Test(conf_admin, round_trip)
{
	static const struct {
		enum backend_admin a;
		const char *name;
	} cases[] = {
		{ ADMIN_ENABLED, "enabled" }, { ADMIN_DRAIN, "drain" }, { ADMIN_DISABLED, "disabled" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum backend_admin back = (enum backend_admin)-1;

		cr_expect_str_eq(backend_admin_name(cases[i].a), cases[i].name);
		cr_expect_eq(backend_admin_parse(cases[i].name, &back), 0);
		cr_expect_eq(back, cases[i].a, "\"%s\" parsed as %d", cases[i].name, back);
	}
}

Test(conf_admin, bad)
{
	/* the same words wglbctl accepts: exact, lower case, no abbreviations */
	static const char *const cases[] = {
		"", "on", "off", "Enabled", "DRAIN", "enable", "drained", "disable", " enabled",
		"enabled ", "unknown",
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum backend_admin a = ADMIN_DRAIN;

		cr_expect_neq(backend_admin_parse(cases[i], &a), 0, "\"%s\" accepted", cases[i]);
		cr_expect_eq(a, ADMIN_DRAIN, "\"%s\" wrote its output", cases[i]);
	}
	/* an out-of-range value must still print as something, not crash */
	cr_expect_str_eq(backend_admin_name((enum backend_admin)42), "unknown");
}

/* ---- conf_find_backend ---- */

Test(conf_find, by_name)
{
	struct conf *c = load_good(CONF_DIR "/good/all-keys.conf");
	const struct conf_backend *b;

	b = conf_find_backend(c, "wg-a.example_1");
	cr_expect_eq(b, &c->backends[0]);
	b = conf_find_backend(c, "B");
	cr_expect_eq(b, &c->backends[1]);
	b = conf_find_backend(c, "c");
	cr_expect_eq(b, &c->backends[2]);
	/* names are case sensitive and matched whole */
	cr_expect_null(conf_find_backend(c, "b"));
	cr_expect_null(conf_find_backend(c, "C"));
	cr_expect_null(conf_find_backend(c, "wg-a"));
	cr_expect_null(conf_find_backend(c, "wg-a.example_12"));
	cr_expect_null(conf_find_backend(c, ""));
	conf_free(c);
}
