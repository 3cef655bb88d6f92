/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control protocol: parsing of request lines (every command, good and
 * bad arguments, hostile input) with the exact messages a client sees, and
 * the JSON answers built from a small live state (two backends, a proxy
 * that never binds, stub reload and admin hooks that record their calls).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend.h"
#include "conf.h"
#include "control.h"
#include "proxy.h"

/* ---- parsing ---- */

static char err[160];
static struct control_request req;

static void parse_ok(const char *line, enum control_cmd cmd, const char *arg)
{
	memset(err, 0, sizeof err);
	cr_assert_eq(control_parse(line, &req, err, sizeof err), 0, "\"%s\" refused: %s", line,
		     err);
	cr_assert_eq(req.cmd, cmd, "\"%s\": command %d, want %d", line, req.cmd, cmd);
	cr_assert_str_eq(req.arg, arg, "\"%s\": argument \"%s\", want \"%s\"", line, req.arg, arg);
}

static void parse_bad(const char *line, const char *msg)
{
	memset(err, 0, sizeof err);
	cr_assert_eq(control_parse(line, &req, err, sizeof err), -EINVAL, "\"%s\" accepted", line);
	cr_assert_str_eq(err, msg, "\"%s\": message \"%s\", want \"%s\"", line, err, msg);
	/* nothing of a refused request may be taken for an argument */
	cr_assert_str_eq(req.arg, "");
}

#define UNKNOWN_TAIL " (status, backends, sessions, drain, enable, disable, reload, health)"

Test(parse, every_command_bare)
{
	parse_ok("status", CMD_STATUS, "");
	parse_ok("backends", CMD_BACKENDS, "");
	parse_ok("sessions", CMD_SESSIONS, "");
	parse_ok("reload", CMD_RELOAD, "");
	parse_ok("health", CMD_HEALTH, "");
}

Test(parse, every_command_name_round_trips)
{
	for (int c = 0; c < CMD__COUNT; c++) {
		const char *name = control_cmd_name((enum control_cmd)c);
		char line[64];
		int rc;

		cr_assert_str_neq(name, "unknown");
		snprintf(line, sizeof line, "%s x", name);
		rc = control_parse(line, &req, err, sizeof err);
		/* with or without argument, the command is recognized */
		if (rc == 0)
			cr_assert_eq(req.cmd, (enum control_cmd)c);
		else
			cr_assert(strstr(err, name) == err, "%s: \"%s\"", name, err);
	}
	cr_assert_str_eq(control_cmd_name(CMD__COUNT), "unknown");
	cr_assert_str_eq(control_cmd_name((enum control_cmd)-1), "unknown");
}

Test(parse, commands_with_a_name)
{
	parse_ok("drain a", CMD_DRAIN, "a");
	parse_ok("enable wg-b", CMD_ENABLE, "wg-b");
	parse_ok("disable wg_c.example-1", CMD_DISABLE, "wg_c.example-1");
	parse_ok("sessions a", CMD_SESSIONS, "a");
	parse_ok("drain A0.-_z", CMD_DRAIN, "A0.-_z");
}

Test(parse, name_required)
{
	parse_bad("drain", "drain needs a backend name");
	parse_bad("enable", "enable needs a backend name");
	parse_bad("disable", "disable needs a backend name");
	parse_bad("drain   ", "drain needs a backend name");
	parse_bad("disable\n", "disable needs a backend name");
}

Test(parse, extra_arguments)
{
	parse_bad("status x", "status takes no argument");
	parse_bad("backends a", "backends takes no argument");
	parse_bad("reload now", "reload takes no argument");
	parse_bad("health a", "health takes no argument");
	parse_bad("drain a b", "drain takes one backend name");
	parse_bad("enable a b", "enable takes one backend name");
	parse_bad("disable a b c d", "disable takes one backend name");
	parse_bad("sessions a b", "sessions takes one backend name");
}

Test(parse, bad_names)
{
	parse_bad("drain a/b", "bad backend name \"a/b\"");
	parse_bad("drain ../etc", "bad backend name \"../etc\"");
	parse_bad("enable a\"b", "bad backend name \"a\"b\"");
	parse_bad("disable a;b", "bad backend name \"a;b\"");
	parse_bad("sessions *", "bad backend name \"*\"");
	parse_bad("drain a,b", "bad backend name \"a,b\"");
}

Test(parse, name_length)
{
	char name[CONF_NAME_MAX + 2], line[128], want[128];

	memset(name, 'n', CONF_NAME_MAX);
	name[CONF_NAME_MAX] = '\0';
	snprintf(line, sizeof line, "drain %s", name);
	parse_ok(line, CMD_DRAIN, name);        /* 32 characters: the longest */

	strcat(name, "x");
	snprintf(line, sizeof line, "drain %s", name);
	snprintf(want, sizeof want, "bad backend name \"%s\"", name);
	parse_bad(line, want);

	/* a long name is quoted, cut at 40 characters */
	snprintf(line, sizeof line, "enable %s", "0123456789012345678901234567890123456789TAIL");
	parse_bad(line, "bad backend name \"0123456789012345678901234567890123456789\"");
}

Test(parse, empty_requests)
{
	parse_bad("", "empty request");
	parse_bad(" ", "empty request");
	parse_bad("    \t  ", "empty request");
	parse_bad("\n", "empty request");
	parse_bad("\r\n", "empty request");
	parse_bad("  \r\n", "empty request");
}

Test(parse, unknown_commands)
{
	parse_bad("foo", "unknown command \"foo\"" UNKNOWN_TAIL);
	parse_bad("STATUS", "unknown command \"STATUS\"" UNKNOWN_TAIL);
	parse_bad("stat", "unknown command \"stat\"" UNKNOWN_TAIL);
	parse_bad("statusx", "unknown command \"statusx\"" UNKNOWN_TAIL);
	parse_bad("drain-a", "unknown command \"drain-a\"" UNKNOWN_TAIL);
	parse_bad("foo bar baz qux", "unknown command \"foo\"" UNKNOWN_TAIL);
	/* the quoted command is cut at 40 characters */
	parse_bad("xxxxxxxxxxyyyyyyyyyyxxxxxxxxxxyyyyyyyyyyTAIL",
		  "unknown command \"xxxxxxxxxxyyyyyyyyyyxxxxxxxxxxyyyyyyyyyy\"" UNKNOWN_TAIL);
}

Test(parse, line_endings_and_blanks)
{
	parse_ok("status\n", CMD_STATUS, "");
	parse_ok("status\r\n", CMD_STATUS, "");
	parse_ok("status\n\n", CMD_STATUS, "");
	parse_ok("  status  ", CMD_STATUS, "");
	parse_ok("\tstatus\t", CMD_STATUS, "");
	parse_ok("drain\ta\r\n", CMD_DRAIN, "a");
	parse_ok("  drain    a   \n", CMD_DRAIN, "a");
}

Test(parse, control_characters)
{
	static const char msg[] = "request contains a control character";

	parse_bad("status\x01", msg);
	parse_bad("\x1bstatus", msg);
	parse_bad("sta\rtus", msg);
	parse_bad("status\nreload", msg);
	parse_bad("status\r\nreload\n", msg);
	parse_bad("drain a\x7f", msg);
	parse_bad("drain \x01", msg);
	parse_bad("drain a\x0b", msg);
	/* bytes above ASCII are not printable in the C locale either */
	parse_bad("drain caf\xc3\xa9", msg);
}

Test(parse, line_length)
{
	char line[CONTROL_MAX_LINE + 8], want[64];

	/* exactly CONTROL_MAX_LINE characters, padded with blanks: fine */
	memset(line, ' ', CONTROL_MAX_LINE);
	memcpy(line, "status", 6);
	line[CONTROL_MAX_LINE] = '\0';
	parse_ok(line, CMD_STATUS, "");
	/* the line ending does not count */
	strcat(line, "\r\n");
	parse_ok(line, CMD_STATUS, "");

	/* one more */
	memset(line, ' ', CONTROL_MAX_LINE + 1);
	memcpy(line, "status", 6);
	line[CONTROL_MAX_LINE + 1] = '\0';
	snprintf(want, sizeof want, "request longer than %d bytes", CONTROL_MAX_LINE);
	parse_bad(line, want);
	strcat(line, "\n");
	parse_bad(line, want);
}

Test(parse, very_long_line)
{
	size_t n = 100000;
	char *line = malloc(n + 1);

	cr_assert_not_null(line);
	memset(line, 'a', n);
	line[n] = '\0';
	parse_bad(line, "request longer than 256 bytes");
	free(line);
}

Test(parse, small_error_buffer)
{
	char small[6];

	cr_assert_eq(control_parse("nope", &req, small, sizeof small), -EINVAL);
	cr_assert_str_eq(small, "unkno");
}

Test(parse, request_reset_between_calls)
{
	parse_ok("drain a", CMD_DRAIN, "a");
	parse_ok("status", CMD_STATUS, "");
}

/* ---- answers ---- */

static const char conf_text[] =
	"[global]\n"
	"listen = 127.0.0.1:51820\n"
	"policy = round-robin\n"
	"\n"
	"[backend a]\n"
	"address = 192.0.2.11:51820\n"
	"weight = 2\n"
	"\n"
	"[backend b]\n"
	"address = [2001:db8::12]:51821\n"
	"state = drain\n";

static struct conf *conf;
static struct backend_set bs;
static struct proxy *px;
static struct reload_status rstat;
static struct control_ops ops;
static int cookie;              /* what ops.arg points to */

static struct {
	unsigned calls;
	void *arg;
	struct backend *b;
	enum backend_admin state;
} admin_log;

enum reload_mode { RELOAD_OK, RELOAD_OK_WITH_TEXT, RELOAD_FAIL, RELOAD_FAIL_NULL, RELOAD_FAIL_EMPTY };
static const char reload_error[] =
	"/etc/wglb/wglb.conf:7: bad weight \"0\" (1 to 1000)\n"
	"/etc/wglb/wglb.conf:12: backend \"c\" has no address\n";

static struct {
	enum reload_mode mode;
	unsigned calls;
	void *arg;
} reload_log;

static void stub_set_admin(void *arg, struct backend *b, enum backend_admin state)
{
	admin_log.calls++;
	admin_log.arg = arg;
	admin_log.b = b;
	admin_log.state = state;
	b->admin = state;
}

static int stub_reload(void *arg, char **e)
{
	reload_log.calls++;
	reload_log.arg = arg;
	switch (reload_log.mode) {
	case RELOAD_OK:
		return 0;
	case RELOAD_OK_WITH_TEXT:
		/* a warning left behind on success must be freed, not shown */
		*e = strdup("ignored\n");
		return 0;
	case RELOAD_FAIL:
		*e = strdup(reload_error);
		return -EINVAL;
	case RELOAD_FAIL_NULL:
		return -EINVAL;
	case RELOAD_FAIL_EMPTY:
		*e = strdup("");
		return -EINVAL;
	}
	return -EINVAL;
}

static void setup(void)
{
	FILE *f = fmemopen((void *)conf_text, sizeof conf_text - 1, "r");
	char *msgs = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&msgs, &len);

	cr_assert_not_null(f);
	cr_assert_not_null(m);
	conf = conf_load_stream(f, "test.conf", m);
	fclose(f);
	fclose(m);
	cr_assert_not_null(conf, "the test configuration is refused:\n%s", msgs);
	free(msgs);
	cr_assert_eq(backend_set_init(&bs, conf), 0);
	cr_assert_eq(bs.n, 2);
	px = proxy_new(ev_default_loop(0), conf, &bs);
	cr_assert_not_null(px);

	rstat = (struct reload_status){ .ok = 4, .failed = 1, .last_ok = true,
					.last_ok_time = 1700000000.5 };
	memset(&admin_log, 0, sizeof admin_log);
	memset(&reload_log, 0, sizeof reload_log);
	ops = (struct control_ops){
		.bs = &bs, .px = px, .reload = &rstat, .reload_fn = stub_reload,
		.set_admin = stub_set_admin, .arg = &cookie, .start_time = ev_time() - 100,
	};
}

static void teardown(void)
{
	proxy_free(px);
	backend_set_free(&bs);
	conf_free(conf);
	ev_loop_destroy(ev_default_loop(0));
}

TestSuite(control, .init = setup, .fini = teardown);

/* Parse and execute line; the answer is an object whose "ok" is a boolean. */
static json_t *run(const char *line)
{
	struct control_request r;
	char e[160];
	json_t *ans;
	char *dump;

	cr_assert_eq(control_parse(line, &r, e, sizeof e), 0, "\"%s\": %s", line, e);
	ans = control_execute(&ops, &r);
	cr_assert_not_null(ans, "\"%s\": no answer", line);
	cr_assert(json_is_object(ans));
	cr_assert(json_is_boolean(json_object_get(ans, "ok")), "\"%s\": no \"ok\"", line);
	/* what goes on the wire */
	dump = json_dumps(ans, JSON_COMPACT);
	cr_assert_not_null(dump);
	cr_assert_null(strchr(dump, '\n'), "the answer must fit on one line");
	free(dump);
	return ans;
}

static bool ok_of(const json_t *ans)
{
	return json_is_true(json_object_get(ans, "ok"));
}

static const char *str_of(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	cr_assert(json_is_string(v), "\"%s\" is not a string", key);
	return json_string_value(v);
}

static json_int_t int_of(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	cr_assert(json_is_integer(v), "\"%s\" is not an integer", key);
	return json_integer_value(v);
}

static double real_of(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	cr_assert(json_is_real(v), "\"%s\" is not a real", key);
	return json_real_value(v);
}

static void assert_error(json_t *ans, const char *msg)
{
	cr_assert(!ok_of(ans));
	cr_assert_str_eq(str_of(ans, "error"), msg);
	cr_assert_eq(json_object_size(ans), 2, "only ok and error in an error answer");
}

Test(control, status)
{
	json_t *ans = run("status"), *drops, *rl;
	double up;

	cr_assert(ok_of(ans));
	cr_assert_str_eq(str_of(ans, "version"), PACKAGE_VERSION);
	up = real_of(ans, "uptime_seconds");
	cr_assert(up >= 100 && up < 160, "uptime %f", up);
	cr_assert_eq(int_of(ans, "sessions"), 0);
	cr_assert_eq(int_of(ans, "backends"), 2);
	cr_assert_eq(int_of(ans, "backends_up"), 2);
	cr_assert_str_eq(str_of(ans, "policy"), "round-robin");
	cr_assert_eq(int_of(ans, "packets_received"), 0);
	cr_assert_eq(int_of(ans, "packets_sent"), 0);
	cr_assert_eq(int_of(ans, "bytes_received"), 0);
	cr_assert_eq(int_of(ans, "bytes_sent"), 0);

	drops = json_object_get(ans, "drops");
	cr_assert(json_is_object(drops));
	cr_assert_eq(json_object_size(drops), DROP__COUNT);
	for (int r = 0; r < DROP__COUNT; r++)
		cr_assert_eq(int_of(drops, drop_reason_name(r)), 0, "%s", drop_reason_name(r));
	cr_assert_not_null(json_object_get(drops, "bad_mac1"));

	rl = json_object_get(ans, "reload");
	cr_assert(json_is_object(rl));
	cr_assert_eq(json_object_size(rl), 4);
	cr_assert_eq(int_of(rl, "succeeded"), 4);
	cr_assert_eq(int_of(rl, "failed"), 1);
	cr_assert(json_is_true(json_object_get(rl, "last_ok")));
	cr_assert_float_eq(real_of(rl, "last_success_time"), 1700000000.5, 1e-6);
	cr_assert_eq(int_of(ans, "sessions_handshaking"), 0);
	cr_assert_eq(json_object_size(ans), 14);
	json_decref(ans);
}

Test(control, status_counts_only_usable_backends)
{
	json_t *ans;

	bs.v[0]->route_ok = false;
	rstat.last_ok = false;
	ans = run("status");
	cr_assert_eq(int_of(ans, "backends_up"), 1);
	cr_assert(json_is_false(json_object_get(json_object_get(ans, "reload"), "last_ok")));
	json_decref(ans);

	bs.v[1]->removed = true;
	ans = run("status");
	cr_assert_eq(int_of(ans, "backends"), 2);
	cr_assert_eq(int_of(ans, "backends_up"), 0);
	json_decref(ans);
}

Test(control, backends)
{
	json_t *ans, *list, *a, *b;
	static const char *const keys[] = {
		"name", "address", "weight", "state", "health", "reason", "removed", "sessions",
		"rate_bytes_per_second", "health_since", "handshakes_forwarded",
		"handshakes_completed", "handshakes_unanswered", "packets_to_backend",
		"packets_from_backend",
	};

	bs.v[0]->sessions = 3;
	bs.v[0]->rate = 1234.5;
	bs.v[0]->health_since = 1700000001.25;
	bs.v[0]->c.handshakes_forwarded = 9;
	bs.v[0]->c.handshakes_completed = 8;
	bs.v[0]->c.handshakes_unanswered = 1;
	bs.v[0]->c.tx_packets = 5000000000ULL;    /* beyond 32 bits */
	bs.v[0]->c.rx_packets = 77;
	bs.v[1]->health = HEALTH_DOWN;
	bs.v[1]->reason = REASON_NO_RESPONSE;
	bs.v[1]->removed = true;

	ans = run("backends");
	cr_assert(ok_of(ans));
	cr_assert_eq(json_object_size(ans), 2);
	list = json_object_get(ans, "backends");
	cr_assert(json_is_array(list));
	cr_assert_eq(json_array_size(list), 2);
	a = json_array_get(list, 0);
	b = json_array_get(list, 1);
	for (unsigned i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		cr_assert_not_null(json_object_get(a, keys[i]), "no \"%s\"", keys[i]);
		cr_assert_not_null(json_object_get(b, keys[i]), "no \"%s\"", keys[i]);
	}
	cr_assert_eq(json_object_size(a), sizeof keys / sizeof keys[0]);

	cr_assert_str_eq(str_of(a, "name"), "a");
	cr_assert_str_eq(str_of(a, "address"), "192.0.2.11:51820");
	cr_assert_eq(int_of(a, "weight"), 2);
	cr_assert_str_eq(str_of(a, "state"), "enabled");
	cr_assert_str_eq(str_of(a, "health"), "up");
	cr_assert_str_eq(str_of(a, "reason"), "none");
	cr_assert(json_is_false(json_object_get(a, "removed")));
	cr_assert_eq(int_of(a, "sessions"), 3);
	cr_assert_float_eq(real_of(a, "rate_bytes_per_second"), 1234.5, 1e-9);
	cr_assert_float_eq(real_of(a, "health_since"), 1700000001.25, 1e-6);
	cr_assert_eq(int_of(a, "handshakes_forwarded"), 9);
	cr_assert_eq(int_of(a, "handshakes_completed"), 8);
	cr_assert_eq(int_of(a, "handshakes_unanswered"), 1);
	cr_assert_eq(int_of(a, "packets_to_backend"), 5000000000LL);
	cr_assert_eq(int_of(a, "packets_from_backend"), 77);

	cr_assert_str_eq(str_of(b, "name"), "b");
	cr_assert_str_eq(str_of(b, "address"), "[2001:db8::12]:51821");
	cr_assert_eq(int_of(b, "weight"), 1);
	cr_assert_str_eq(str_of(b, "state"), "drain");
	cr_assert_str_eq(str_of(b, "health"), "down");
	cr_assert_str_eq(str_of(b, "reason"), "no_response");
	cr_assert(json_is_true(json_object_get(b, "removed")));
	cr_assert_eq(int_of(b, "sessions"), 0);
	json_decref(ans);
}

Test(control, sessions_empty)
{
	json_t *ans = run("sessions"), *list;

	cr_assert(ok_of(ans));
	list = json_object_get(ans, "sessions");
	cr_assert(json_is_array(list));
	cr_assert_eq(json_array_size(list), 0);
	cr_assert(json_is_false(json_object_get(ans, "truncated")));
	cr_assert_eq(json_object_size(ans), 3);
	json_decref(ans);

	ans = run("sessions b");
	cr_assert(ok_of(ans));
	cr_assert_eq(json_array_size(json_object_get(ans, "sessions")), 0);
	json_decref(ans);
}

Test(control, sessions_of_unknown_backend)
{
	json_t *ans = run("sessions x");

	assert_error(ans, "no backend \"x\"");
	json_decref(ans);
}

static void admin_case(const char *line, unsigned idx, enum backend_admin want)
{
	json_t *ans;
	unsigned before = admin_log.calls;

	ans = run(line);
	cr_assert(ok_of(ans), "\"%s\" failed", line);
	cr_assert_eq(admin_log.calls, before + 1, "\"%s\": set_admin not called once", line);
	cr_assert_eq(admin_log.b, bs.v[idx]);
	cr_assert_eq(admin_log.state, want, "\"%s\": state %d, want %d", line, admin_log.state,
		     want);
	cr_assert_eq(admin_log.arg, &cookie);
	cr_assert_str_eq(str_of(ans, "backend"), bs.v[idx]->name);
	cr_assert_str_eq(str_of(ans, "state"), backend_admin_name(want));
	cr_assert_eq(json_object_size(ans), 3);
	json_decref(ans);
}

Test(control, drain_enable_disable)
{
	admin_case("drain a", 0, ADMIN_DRAIN);
	admin_case("enable b", 1, ADMIN_ENABLED);
	admin_case("disable a", 0, ADMIN_DISABLED);
	admin_case("enable a", 0, ADMIN_ENABLED);
	admin_case("disable b\r\n", 1, ADMIN_DISABLED);
	cr_assert_eq(admin_log.calls, 5);
	cr_assert_eq(reload_log.calls, 0);
}

Test(control, admin_of_unknown_backend)
{
	static const char *const lines[] = { "drain x", "enable x", "disable x" };

	for (unsigned i = 0; i < 3; i++) {
		json_t *ans = run(lines[i]);

		assert_error(ans, "no backend \"x\"");
		json_decref(ans);
	}
	cr_assert_eq(admin_log.calls, 0, "set_admin called for an unknown backend");
	cr_assert_eq(bs.v[0]->admin, ADMIN_ENABLED);
	cr_assert_eq(bs.v[1]->admin, ADMIN_DRAIN);
}

Test(control, backend_names_are_case_sensitive)
{
	json_t *ans = run("drain A");

	assert_error(ans, "no backend \"A\"");
	json_decref(ans);
	cr_assert_eq(admin_log.calls, 0);
}

Test(control, reload_success)
{
	json_t *ans;

	reload_log.mode = RELOAD_OK;
	ans = run("reload");
	cr_assert(ok_of(ans));
	cr_assert_eq(json_object_size(ans), 1);
	cr_assert_eq(reload_log.calls, 1);
	cr_assert_eq(reload_log.arg, &cookie);
	json_decref(ans);

	/* text left in err on success is freed (valgrind) and not shown */
	reload_log.mode = RELOAD_OK_WITH_TEXT;
	ans = run("reload\n");
	cr_assert(ok_of(ans));
	cr_assert_null(json_object_get(ans, "error"));
	cr_assert_eq(reload_log.calls, 2);
	json_decref(ans);
}

Test(control, reload_failure_passes_the_messages)
{
	json_t *ans;

	reload_log.mode = RELOAD_FAIL;
	ans = run("reload");
	assert_error(ans, reload_error);
	cr_assert_eq(reload_log.calls, 1);
	json_decref(ans);
}

Test(control, reload_failure_without_text)
{
	json_t *ans;

	reload_log.mode = RELOAD_FAIL_NULL;
	ans = run("reload");
	assert_error(ans, "reload failed");
	json_decref(ans);

	reload_log.mode = RELOAD_FAIL_EMPTY;
	ans = run("reload");
	assert_error(ans, "reload failed");
	json_decref(ans);
	cr_assert_eq(reload_log.calls, 2);
}

Test(control, health_all_up)
{
	json_t *ans = run("health");

	cr_assert(ok_of(ans));
	cr_assert_eq(int_of(ans, "up"), 2);
	cr_assert_eq(int_of(ans, "total"), 2);
	cr_assert_null(json_object_get(ans, "error"));
	cr_assert_eq(json_object_size(ans), 3);
	json_decref(ans);
}

Test(control, health_one_up)
{
	json_t *ans;

	bs.v[1]->health = HEALTH_DOWN;
	bs.v[1]->reason = REASON_REFUSED;
	ans = run("health");
	cr_assert(ok_of(ans));
	cr_assert_eq(int_of(ans, "up"), 1);
	cr_assert_eq(int_of(ans, "total"), 2);
	json_decref(ans);
}

Test(control, health_none_up)
{
	json_t *ans;

	bs.v[0]->health = HEALTH_DOWN;
	bs.v[1]->route_ok = false;   /* health up, but unreachable */
	ans = run("health");
	cr_assert(!ok_of(ans));
	cr_assert_eq(int_of(ans, "up"), 0);
	cr_assert_eq(int_of(ans, "total"), 2);
	cr_assert_str_eq(str_of(ans, "error"), "no backend is up");
	json_decref(ans);

	/* a removed backend, still draining, does not count either */
	bs.v[1]->route_ok = true;
	bs.v[1]->removed = true;
	ans = run("health");
	cr_assert(!ok_of(ans));
	cr_assert_eq(int_of(ans, "up"), 0);
	json_decref(ans);
}

Test(control, execute_unknown_command)
{
	struct control_request r = { .cmd = CMD__COUNT };
	json_t *ans = control_execute(&ops, &r);

	cr_assert_not_null(ans);
	assert_error(ans, "unknown command");
	json_decref(ans);
	cr_assert_eq(admin_log.calls, 0);
	cr_assert_eq(reload_log.calls, 0);
}

/* ---- over the socket ---- */

static char sockdir[] = "/tmp/wglb-ctl-XXXXXX";
static char sockpath[sizeof sockdir + 16];
static struct control *ctl;

static void sock_setup(void)
{
	setup();
	cr_assert_not_null(mkdtemp(sockdir));
	snprintf(sockpath, sizeof sockpath, "%s/ctl.sock", sockdir);
	ctl = control_start(ev_default_loop(0), sockpath, -1, &ops);
	cr_assert_not_null(ctl);
}

static void sock_teardown(void)
{
	control_stop(ctl);
	unlink(sockpath);
	rmdir(sockdir);
	teardown();
}

TestSuite(socket, .init = sock_setup, .fini = sock_teardown);

static int sock_connect(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	strcpy(sun.sun_path, sockpath);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0, "connect: %s",
		     strerror(errno));
	return fd;
}

/*
 * Send len bytes of req, run the loop until the daemon closes: the whole
 * answer, heap allocated.
 */
static char *exchange(const void *request, size_t len)
{
	int fd = sock_connect();
	char *buf = calloc(1, 65536);
	size_t got = 0;
	bool closed = false;

	cr_assert_not_null(buf);
	cr_assert_eq(send(fd, request, len, MSG_NOSIGNAL), (ssize_t)len);
	for (int i = 0; i < 3000 && !closed; i++) {
		ssize_t n;

		ev_run(ev_default_loop(0), EVRUN_NOWAIT);
		n = recv(fd, buf + got, 65535 - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			closed = true;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			usleep(1000);
		else
			closed = true;
	}
	close(fd);
	cr_assert(closed, "no answer (or the connection stayed open)");
	return buf;
}

/* The answer: one line of JSON, parsed. */
static json_t *ask(const void *request, size_t len)
{
	char *text = exchange(request, len);
	size_t n = strlen(text);
	json_error_t je;
	json_t *ans;

	cr_assert_gt(n, 0, "empty answer");
	cr_assert_eq(text[n - 1], '\n', "answer without its newline: %s", text);
	cr_assert_eq(strchr(text, '\n'), text + n - 1, "more than one line: %s", text);
	ans = json_loads(text, 0, &je);
	cr_assert_not_null(ans, "not JSON (%s): %s", je.text, text);
	free(text);
	return ans;
}

#define ASK(s) ask((s), sizeof(s) - 1)

Test(socket, mode_0660)
{
	struct stat st;

	cr_assert_eq(stat(sockpath, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0660, "mode %04o", (unsigned)(st.st_mode & 07777));
}

Test(socket, status)
{
	json_t *ans = ASK("status\n");

	cr_assert(ok_of(ans));
	cr_assert_str_eq(str_of(ans, "version"), PACKAGE_VERSION);
	cr_assert_eq(int_of(ans, "backends"), 2);
	json_decref(ans);
}

Test(socket, crlf_request)
{
	json_t *ans = ASK("health\r\n");

	cr_assert(ok_of(ans));
	cr_assert_eq(int_of(ans, "up"), 2);
	json_decref(ans);
}

Test(socket, request_in_pieces)
{
	int fd = sock_connect();
	char buf[4096] = "";
	size_t got = 0;
	json_t *ans;

	/* the daemon waits for the newline */
	cr_assert_eq(send(fd, "dra", 3, MSG_NOSIGNAL), 3);
	for (int i = 0; i < 20; i++)
		ev_run(ev_default_loop(0), EVRUN_NOWAIT);
	cr_assert_eq(admin_log.calls, 0);
	cr_assert_eq(send(fd, "in b\n", 5, MSG_NOSIGNAL), 5);
	for (int i = 0; i < 3000; i++) {
		ssize_t n;

		ev_run(ev_default_loop(0), EVRUN_NOWAIT);
		n = recv(fd, buf + got, sizeof buf - 1 - got, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			got += (size_t)n;
		else
			usleep(1000);
	}
	close(fd);
	ans = json_loads(buf, 0, NULL);
	cr_assert_not_null(ans, "%s", buf);
	cr_assert(ok_of(ans));
	cr_assert_str_eq(str_of(ans, "state"), "drain");
	cr_assert_eq(admin_log.calls, 1);
	cr_assert_eq(admin_log.b, bs.v[1]);
	json_decref(ans);
}

Test(socket, parse_error_answered)
{
	json_t *ans = ASK("bogus\n");

	assert_error(ans, "unknown command \"bogus\"" UNKNOWN_TAIL);
	json_decref(ans);

	ans = ASK("drain\n");
	assert_error(ans, "drain needs a backend name");
	json_decref(ans);

	ans = ASK("drain nope\n");
	assert_error(ans, "no backend \"nope\"");
	json_decref(ans);
	cr_assert_eq(admin_log.calls, 0);
}

Test(socket, reload_error_on_the_wire)
{
	json_t *ans;

	reload_log.mode = RELOAD_FAIL;
	ans = ASK("reload\n");
	/* the multi-line message stays inside one JSON line */
	assert_error(ans, reload_error);
	json_decref(ans);
}

Test(socket, longest_line)
{
	char line[CONTROL_MAX_LINE + 1];
	json_t *ans;

	memset(line, ' ', sizeof line);
	memcpy(line, "status", 6);
	line[CONTROL_MAX_LINE] = '\n';
	ans = ask(line, sizeof line);
	cr_assert(ok_of(ans), "a line of %d characters is refused", CONTROL_MAX_LINE);
	json_decref(ans);
}

Test(socket, too_long)
{
	char line[4 * CONTROL_MAX_LINE];
	json_t *ans;

	memset(line, 'a', sizeof line);
	line[sizeof line - 1] = '\n';
	ans = ask(line, sizeof line);
	assert_error(ans, "request too long");
	json_decref(ans);
}

Test(socket, client_gone_before_answer)
{
	int fd = sock_connect();
	json_t *ans;

	cr_assert_eq(send(fd, "status\n", 7, MSG_NOSIGNAL), 7);
	close(fd);
	for (int i = 0; i < 50; i++)
		ev_run(ev_default_loop(0), EVRUN_NOWAIT);
	/* the daemon is unharmed and still answers */
	ans = ASK("status\n");
	cr_assert(ok_of(ans));
	json_decref(ans);
}

Test(control_start, refuses_a_file_that_is_not_a_socket)
{
	char dir[] = "/tmp/wglb-ctl-XXXXXX", path[64];
	struct control_ops none = { 0 };
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/file", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("precious\n", f);
	fclose(f);
	cr_assert_null(control_start(ev_default_loop(0), path, -1, &none));
	/* and leaves it alone */
	f = fopen(path, "r");
	cr_assert_not_null(f, "the file is gone");
	fclose(f);
	unlink(path);
	rmdir(dir);
	ev_loop_destroy(ev_default_loop(0));
}

Test(control_start, replaces_a_stale_socket)
{
	char dir[] = "/tmp/wglb-ctl-XXXXXX", path[64];
	struct control_ops none = { 0 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct control *c;
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/ctl.sock", dir);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	close(fd);              /* left behind, as by a killed daemon */
	c = control_start(ev_default_loop(0), path, -1, &none);
	cr_assert_not_null(c);
	control_stop(c);
	cr_assert_neq(access(path, F_OK), 0, "control_stop leaves the socket behind");
	rmdir(dir);
	ev_loop_destroy(ev_default_loop(0));
}
