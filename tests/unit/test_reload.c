/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a reload would change: conf_diff between a base configuration and
 * variants of it, one edit at a time. Backends are matched by name, so
 * order does not matter; settings that need a restart are flagged; only
 * the backends an edit touches are reported as modified.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

/* @KEY@ is the path of a probe key file made for the test (mode 0600) */
static const char base_text[] =
	"[global]\n"
	"listen = 192.0.2.1:51820\n"
	"listen = [2001:db8::1]:51820\n"
	"public_key = AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
	"control = /run/wglb/test.sock\n"
	"policy = least-load\n"
	"\n"
	"[metrics]\n"
	"listen = 127.0.0.1:9586\n"
	"\n"
	"[health]\n"
	"probe_private_key_file = @KEY@\n"
	"check = none\n"
	"interval = 2s\n"
	"timeout = 1s\n"
	"rise = 2\n"
	"fall = 2\n"
	"\n"
	"[backend a]\n"
	"address = 192.0.2.11:51820\n"
	"weight = 1\n"
	"\n"
	"[backend b]\n"
	"address = 192.0.2.12:51820\n"
	"weight = 2\n"
	"\n"
	"[backend c]\n"
	"address = [2001:db8::13]:51820\n"
	"state = drain\n";

static char keypath[] = "/tmp/wglb-probe-key-XXXXXX";
static char *base;
static struct conf *old_conf, *new_conf;
static struct conf_diff diff;

/* text with the one occurrence of from replaced by to; heap allocated. */
static char *edit(const char *text, const char *from, const char *to)
{
	const char *p = strstr(text, from);
	size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
	char *out;

	cr_assert_not_null(p, "\"%s\" not in the text", from);
	cr_assert_null(strstr(p + 1, from), "\"%s\" more than once in the text", from);
	out = malloc(n);
	cr_assert_not_null(out);
	memcpy(out, text, (size_t)(p - text));
	strcpy(out + (p - text), to);
	strcat(out, p + strlen(from));
	return out;
}

static struct conf *load(const char *text)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	char *msgs = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&msgs, &len);
	struct conf *c;

	cr_assert_not_null(f);
	cr_assert_not_null(m);
	c = conf_load_stream(f, "reload.conf", m);
	fclose(f);
	fclose(m);
	cr_assert_not_null(c, "configuration refused:\n%s\n---\n%s", msgs, text);
	cr_assert_eq(len, 0, "messages for a good configuration:\n%s", msgs);
	free(msgs);
	return c;
}

static void setup(void)
{
	static const char key[] = "8GhSq1dR0xZWjVz9P7lDy4mS3kK9fM2Ydt1NQ1P0oGE=\n";
	int fd = mkstemp(keypath);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, key, sizeof key - 1), (ssize_t)(sizeof key - 1));
	close(fd);
	base = edit(base_text, "@KEY@", keypath);
	memset(&diff, 0, sizeof diff);
}

static void teardown(void)
{
	conf_diff_free(&diff);
	conf_free(old_conf);
	conf_free(new_conf);
	free(base);
	unlink(keypath);
}

TestSuite(reload, .init = setup, .fini = teardown);

/* diff between the texts before and after */
static void diff_texts(const char *before, const char *after)
{
	conf_diff_free(&diff);
	conf_free(old_conf);
	conf_free(new_conf);
	old_conf = load(before);
	new_conf = load(after);
	cr_assert_eq(conf_diff(old_conf, new_conf, &diff), 0);
	cr_assert_not_null(diff.backends);
	cr_assert_not_null(diff.removed);
}

/* diff between base and base with one edit */
static void diff_edit(const char *from, const char *to)
{
	char *after = edit(base, from, to);

	diff_texts(base, after);
	free(after);
}

static void assert_flags(bool listen, bool user, bool control, bool metrics)
{
	cr_assert_eq(diff.listen_changed, listen, "listen_changed %d", diff.listen_changed);
	cr_assert_eq(diff.user_changed, user, "user_changed %d", diff.user_changed);
	cr_assert_eq(diff.control_changed, control, "control_changed %d", diff.control_changed);
	cr_assert_eq(diff.metrics_changed, metrics, "metrics_changed %d", diff.metrics_changed);
}

/* the change of every backend of the new file, in its order, by name */
static void assert_backends(unsigned n, const char *const names[], const enum conf_change want[])
{
	cr_assert_eq(new_conf->n_backends, n, "%u backends, want %u", new_conf->n_backends, n);
	for (unsigned i = 0; i < n; i++) {
		cr_assert_str_eq(new_conf->backends[i].name, names[i]);
		cr_assert_eq(diff.backends[i], want[i], "backend %s: change %d, want %d", names[i],
			     diff.backends[i], want[i]);
	}
}

static void assert_abc(enum conf_change a, enum conf_change b, enum conf_change c)
{
	static const char *const names[] = { "a", "b", "c" };
	const enum conf_change want[] = { a, b, c };

	assert_backends(3, names, want);
	cr_assert_eq(diff.n_removed, 0);
}

static void assert_nothing(void)
{
	assert_flags(false, false, false, false);
	assert_abc(CHANGE_NONE, CHANGE_NONE, CHANGE_NONE);
}

/* ---- nothing changes ---- */

Test(reload, identical)
{
	diff_texts(base, base);
	assert_nothing();
}

Test(reload, same_object)
{
	old_conf = load(base);
	cr_assert_eq(conf_diff(old_conf, old_conf, &diff), 0);
	assert_flags(false, false, false, false);
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(diff.backends[i], CHANGE_NONE);
	cr_assert_eq(diff.n_removed, 0);
}

Test(reload, comments_blanks_and_spelling)
{
	/* same values written differently */
	char *t1 = edit(base, "interval = 2s\n", "; a comment\ninterval = 2000ms\n\n");
	char *t2 = edit(t1, "weight = 2\n", "weight=2   ; two\n");
	char *t3 = edit(t2, "timeout = 1s\n", "timeout = 1\n");

	diff_texts(base, t3);
	assert_nothing();
	free(t1);
	free(t2);
	free(t3);
}

Test(reload, default_written_out_or_not)
{
	/* weight 1 and state enabled are the defaults */
	char *t1 = edit(base, "address = 192.0.2.11:51820\nweight = 1\n",
			"address = 192.0.2.11:51820\nstate = enabled\n");

	diff_texts(base, t1);
	assert_nothing();
	free(t1);
}

Test(reload, backends_reordered)
{
	static const char *const names[] = { "c", "a", "b" };
	static const enum conf_change none[] = { CHANGE_NONE, CHANGE_NONE, CHANGE_NONE };
	char *t1 = edit(base,
			"[backend a]\naddress = 192.0.2.11:51820\nweight = 1\n\n"
			"[backend b]\naddress = 192.0.2.12:51820\nweight = 2\n\n"
			"[backend c]\naddress = [2001:db8::13]:51820\nstate = drain\n",
			"[backend c]\naddress = [2001:db8::13]:51820\nstate = drain\n\n"
			"[backend a]\naddress = 192.0.2.11:51820\nweight = 1\n\n"
			"[backend b]\naddress = 192.0.2.12:51820\nweight = 2\n");

	diff_texts(base, t1);
	assert_flags(false, false, false, false);
	assert_backends(3, names, none);
	cr_assert_eq(diff.n_removed, 0);
	free(t1);
}

Test(reload, listen_reordered_or_merged)
{
	diff_edit("listen = 192.0.2.1:51820\nlisten = [2001:db8::1]:51820\n",
		  "listen = [2001:db8::1]:51820\nlisten = 192.0.2.1:51820\n");
	assert_nothing();
	diff_edit("listen = 192.0.2.1:51820\nlisten = [2001:db8::1]:51820\n",
		  "listen = [2001:db8::1]:51820, 192.0.2.1:51820\n");
	assert_nothing();
}

/* Applied live: no restart flag, no backend change. */
Test(reload, live_settings_flag_nothing)
{
	char *t1 = edit(base, "policy = least-load\n",
			"policy = hash\nlog_level = debug\nsession_timeout = 10m\n"
			"max_sessions = 1000\n");
	char *t2 = edit(t1, "public_key = AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
			"public_key = wVUhhRzWHRNZjqtZO7OZ6sZpCCsP3mREfTpOPNb6hiQ=\n");
	char *t3 = edit(t2, "fall = 2\n", "fall = 2\nslow_start = 0\n");

	diff_texts(base, t3);
	assert_nothing();
	cr_assert_eq(new_conf->policy, POLICY_HASH);   /* the edit did take */
	free(t1);
	free(t2);
	free(t3);
}

/* Admission rates apply live too. */
Test(reload, limits_flag_nothing)
{
	diff_edit("[health]\n",
		  "[limits]\nhandshake_rate = 50\nhandshake_burst = 10\nsession_rate = 100\n\n"
		  "[health]\n");
	assert_nothing();
}

/* ---- backends modified ---- */

Test(reload, weight)
{
	diff_edit("weight = 1\n", "weight = 5\n");
	assert_flags(false, false, false, false);
	assert_abc(CHANGE_MODIFIED, CHANGE_NONE, CHANGE_NONE);
}

Test(reload, weight_of_the_middle_one)
{
	diff_edit("weight = 2\n", "weight = 1000\n");
	assert_abc(CHANGE_NONE, CHANGE_MODIFIED, CHANGE_NONE);
}

Test(reload, state)
{
	diff_edit("weight = 2\n", "weight = 2\nstate = disabled\n");
	assert_flags(false, false, false, false);
	assert_abc(CHANGE_NONE, CHANGE_MODIFIED, CHANGE_NONE);

	diff_edit("state = drain\n", "state = enabled\n");
	assert_abc(CHANGE_NONE, CHANGE_NONE, CHANGE_MODIFIED);

	diff_edit("state = drain\n", "state = disabled\n");
	assert_abc(CHANGE_NONE, CHANGE_NONE, CHANGE_MODIFIED);
}

Test(reload, address)
{
	diff_edit("address = [2001:db8::13]:51820\n", "address = 192.0.2.13:51820\n");
	assert_flags(false, false, false, false);
	assert_abc(CHANGE_NONE, CHANGE_NONE, CHANGE_MODIFIED);

	/* the port alone */
	diff_edit("address = 192.0.2.11:51820\n", "address = 192.0.2.11:51821\n");
	assert_abc(CHANGE_MODIFIED, CHANGE_NONE, CHANGE_NONE);

	/* the same address spelled differently is the same */
	diff_edit("address = [2001:db8::13]:51820\n", "address = [2001:0db8:0:0::13]:51820\n");
	assert_abc(CHANGE_NONE, CHANGE_NONE, CHANGE_NONE);
}

Test(reload, check_of_one_backend)
{
	diff_edit("weight = 2\n", "weight = 2\ncheck = handshake\n");
	assert_flags(false, false, false, false);
	assert_abc(CHANGE_NONE, CHANGE_MODIFIED, CHANGE_NONE);
	cr_assert_eq(new_conf->backends[1].health.check, CHECK_HANDSHAKE);
}

Test(reload, check_settings_of_one_backend)
{
	static const char *const keys[] = {
		"interval = 5s\n", "timeout = 500ms\n", "rise = 3\n", "fall = 1\n",
	};

	for (unsigned i = 0; i < 4; i++) {
		char to[64];

		snprintf(to, sizeof to, "state = drain\n%s", keys[i]);
		diff_edit("state = drain\n", to);
		assert_flags(false, false, false, false);
		assert_abc(CHANGE_NONE, CHANGE_NONE, CHANGE_MODIFIED);
	}
	/* a per-backend value equal to the default changes nothing */
	diff_edit("state = drain\n", "state = drain\ninterval = 2s\nrise = 2\n");
	assert_nothing();
}

Test(reload, health_defaults_touch_every_backend)
{
	diff_edit("interval = 2s\n", "interval = 3s\n");
	assert_flags(false, false, false, false);
	assert_abc(CHANGE_MODIFIED, CHANGE_MODIFIED, CHANGE_MODIFIED);

	diff_edit("check = none\n", "check = handshake\n");
	assert_abc(CHANGE_MODIFIED, CHANGE_MODIFIED, CHANGE_MODIFIED);

	/* but not the backend that overrides the changed default */
	{
		char *t1 = edit(base, "weight = 2\n", "weight = 2\nrise = 5\n");
		char *t2 = edit(t1, "rise = 2\n", "rise = 4\n");

		diff_texts(t1, t2);
		assert_abc(CHANGE_MODIFIED, CHANGE_NONE, CHANGE_MODIFIED);
		free(t1);
		free(t2);
	}
}

Test(reload, source_of_one_backend)
{
	diff_edit("weight = 2\n", "weight = 2\nsource = 192.0.2.100\n");
	assert_flags(false, false, false, false);
	assert_abc(CHANGE_NONE, CHANGE_MODIFIED, CHANGE_NONE);

	{
		char *one = edit(base, "weight = 2\n", "weight = 2\nsource = 192.0.2.100\n");
		char *same = edit(base, "weight = 2\n", "weight = 2\nsource = [192.0.2.100]\n");
		char *other = edit(base, "weight = 2\n", "weight = 2\nsource = 192.0.2.101\n");
		char *two = edit(base, "weight = 2\n",
				 "weight = 2\nsource = 192.0.2.100, 2001:db8::100\n");

		diff_texts(one, same);
		assert_nothing();
		diff_texts(one, other);
		assert_abc(CHANGE_NONE, CHANGE_MODIFIED, CHANGE_NONE);
		diff_texts(one, two);
		assert_abc(CHANGE_NONE, CHANGE_MODIFIED, CHANGE_NONE);
		diff_texts(two, base);          /* source removed */
		assert_abc(CHANGE_NONE, CHANGE_MODIFIED, CHANGE_NONE);
		free(one);
		free(same);
		free(other);
		free(two);
	}
}

/* ---- backends added and removed ---- */

Test(reload, added_at_the_end)
{
	static const char *const names[] = { "a", "b", "c", "d" };
	static const enum conf_change want[] = { CHANGE_NONE, CHANGE_NONE, CHANGE_NONE,
						 CHANGE_ADDED };

	diff_edit("state = drain\n", "state = drain\n\n[backend d]\naddress = 192.0.2.14:51820\n");
	assert_flags(false, false, false, false);
	assert_backends(4, names, want);
	cr_assert_eq(diff.n_removed, 0);
}

Test(reload, added_in_the_middle)
{
	static const char *const names[] = { "a", "new", "b", "c" };
	static const enum conf_change want[] = { CHANGE_NONE, CHANGE_ADDED, CHANGE_NONE,
						 CHANGE_NONE };

	diff_edit("[backend b]\n", "[backend new]\naddress = 192.0.2.20:51820\n\n[backend b]\n");
	assert_backends(4, names, want);
	cr_assert_eq(diff.n_removed, 0);
}

Test(reload, removed)
{
	static const char *const names[] = { "a", "c" };
	static const enum conf_change want[] = { CHANGE_NONE, CHANGE_NONE };

	diff_edit("[backend b]\naddress = 192.0.2.12:51820\nweight = 2\n\n", "");
	assert_flags(false, false, false, false);
	assert_backends(2, names, want);
	cr_assert_eq(diff.n_removed, 1);
	cr_assert_str_eq(diff.removed[0], "b");
}

Test(reload, removed_two)
{
	static const char *const names[] = { "b" };
	static const enum conf_change want[] = { CHANGE_NONE };
	char *t1 = edit(base, "[backend a]\naddress = 192.0.2.11:51820\nweight = 1\n\n", "");
	char *t2 = edit(t1, "\n[backend c]\naddress = [2001:db8::13]:51820\nstate = drain\n", "");

	diff_texts(base, t2);
	assert_backends(1, names, want);
	cr_assert_eq(diff.n_removed, 2);
	cr_assert_str_eq(diff.removed[0], "a");
	cr_assert_str_eq(diff.removed[1], "c");
	free(t1);
	free(t2);
}

Test(reload, renamed_is_added_and_removed)
{
	static const char *const names[] = { "a2", "b", "c" };
	static const enum conf_change want[] = { CHANGE_ADDED, CHANGE_NONE, CHANGE_NONE };

	diff_edit("[backend a]\n", "[backend a2]\n");
	assert_backends(3, names, want);
	cr_assert_eq(diff.n_removed, 1);
	cr_assert_str_eq(diff.removed[0], "a");
}

Test(reload, names_are_case_sensitive)
{
	static const char *const names[] = { "A", "b", "c" };
	static const enum conf_change want[] = { CHANGE_ADDED, CHANGE_NONE, CHANGE_NONE };

	diff_edit("[backend a]\n", "[backend A]\n");
	assert_backends(3, names, want);
	cr_assert_eq(diff.n_removed, 1);
	cr_assert_str_eq(diff.removed[0], "a");
}

Test(reload, all_replaced)
{
	static const char *const names[] = { "x" };
	static const enum conf_change want[] = { CHANGE_ADDED };
	char *t1 = edit(base, "[backend a]\n", "[backend x]\n");
	char *t2 = edit(t1, "\n[backend b]\naddress = 192.0.2.12:51820\nweight = 2\n", "");
	char *t3 = edit(t2, "\n[backend c]\naddress = [2001:db8::13]:51820\nstate = drain\n", "");

	diff_texts(base, t3);
	assert_backends(1, names, want);
	cr_assert_eq(diff.n_removed, 3);
	cr_assert_str_eq(diff.removed[0], "a");
	cr_assert_str_eq(diff.removed[1], "b");
	cr_assert_str_eq(diff.removed[2], "c");
	free(t1);
	free(t2);
	free(t3);
}

/* ---- changes that need a restart ---- */

Test(reload, listen)
{
	diff_edit("listen = 192.0.2.1:51820\n", "listen = 192.0.2.1:51821\n");
	assert_flags(true, false, false, false);
	assert_abc(CHANGE_NONE, CHANGE_NONE, CHANGE_NONE);

	/* one address more */
	diff_edit("listen = 192.0.2.1:51820\n", "listen = 192.0.2.1:51820\nlisten = 192.0.2.2:51820\n");
	assert_flags(true, false, false, false);

	/* one address less */
	diff_edit("listen = [2001:db8::1]:51820\n", "");
	assert_flags(true, false, false, false);
}

Test(reload, listen_subset_either_way)
{
	/* same count is not enough: {x, y} against {x, z} */
	diff_edit("listen = [2001:db8::1]:51820\n", "listen = [2001:db8::2]:51820\n");
	assert_flags(true, false, false, false);

	/* and the comparison goes both ways */
	{
		char *one = edit(base, "listen = [2001:db8::1]:51820\n", "");

		diff_texts(one, base);
		assert_flags(true, false, false, false);
		free(one);
	}
}

Test(reload, user)
{
	diff_edit("policy = least-load\n", "policy = least-load\nuser = root\n");
	assert_flags(false, true, false, false);
	assert_abc(CHANGE_NONE, CHANGE_NONE, CHANGE_NONE);

	{
		char *r = edit(base, "policy = least-load\n", "policy = least-load\nuser = root\n");
		char *n = edit(base, "policy = least-load\n", "policy = least-load\nuser = nobody\n");

		diff_texts(r, n);
		assert_flags(false, true, false, false);
		diff_texts(n, base);           /* user removed */
		assert_flags(false, true, false, false);
		diff_texts(n, n);
		assert_flags(false, false, false, false);
		free(r);
		free(n);
	}
}

Test(reload, control)
{
	diff_edit("control = /run/wglb/test.sock\n", "control = /run/wglb/other.sock\n");
	assert_flags(false, false, true, false);
	assert_abc(CHANGE_NONE, CHANGE_NONE, CHANGE_NONE);

	/* back to the default path */
	diff_edit("control = /run/wglb/test.sock\n", "");
	assert_flags(false, false, true, false);

	/* the default path written out is the default */
	{
		char *implicit = edit(base, "control = /run/wglb/test.sock\n", "");
		char *explicit = edit(base, "control = /run/wglb/test.sock\n",
				      "control = " WGLB_DEFAULT_CONTROL "\n");

		diff_texts(implicit, explicit);
		assert_flags(false, false, false, false);
		free(implicit);
		free(explicit);
	}
}

Test(reload, metrics)
{
	diff_edit("listen = 127.0.0.1:9586\n", "listen = 127.0.0.1:9587\n");
	assert_flags(false, false, false, true);
	assert_abc(CHANGE_NONE, CHANGE_NONE, CHANGE_NONE);

	/* section removed */
	diff_edit("[metrics]\nlisten = 127.0.0.1:9586\n", "");
	assert_flags(false, false, false, true);

	/* section added, and absent from both */
	{
		char *none = edit(base, "[metrics]\nlisten = 127.0.0.1:9586\n", "");

		diff_texts(none, base);
		assert_flags(false, false, false, true);
		diff_texts(none, none);
		assert_flags(false, false, false, false);
		free(none);
	}
}

Test(reload, everything_at_once)
{
	static const char *const names[] = { "c", "a", "d" };
	static const enum conf_change want[] = { CHANGE_MODIFIED, CHANGE_NONE, CHANGE_ADDED };
	char *t1 = edit(base, "listen = 192.0.2.1:51820\n", "listen = 192.0.2.9:51820\nuser = root\n");
	char *t2 = edit(t1, "control = /run/wglb/test.sock\n", "");
	char *t3 = edit(t2, "listen = 127.0.0.1:9586\n", "listen = [::1]:9586\n");
	char *t4 = edit(t3,
			"[backend a]\naddress = 192.0.2.11:51820\nweight = 1\n\n"
			"[backend b]\naddress = 192.0.2.12:51820\nweight = 2\n\n"
			"[backend c]\naddress = [2001:db8::13]:51820\nstate = drain\n",
			"[backend c]\naddress = [2001:db8::13]:51820\nstate = disabled\n\n"
			"[backend a]\naddress = 192.0.2.11:51820\n\n"
			"[backend d]\naddress = 192.0.2.14:51820\n");

	diff_texts(base, t4);
	assert_flags(true, true, true, true);
	assert_backends(3, names, want);
	cr_assert_eq(diff.n_removed, 1);
	cr_assert_str_eq(diff.removed[0], "b");
	free(t1);
	free(t2);
	free(t3);
	free(t4);
}

Test(reload, diff_free_resets)
{
	diff_texts(base, base);
	conf_diff_free(&diff);
	cr_assert_null(diff.backends);
	cr_assert_null(diff.removed);
	cr_assert_eq(diff.n_removed, 0);
	conf_diff_free(&diff);          /* twice is harmless */
}
