/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * conf: wglb.conf (INI, read with inih) into an immutable struct conf.
 *
 * inih does not tell its handler the line number, so the file is fed to it
 * through our own reader, which counts lines, checks the syntax of each
 * line (so every bad line is reported, not only the first) and records
 * section headers (so an empty [backend x] is still seen). Every problem
 * is reported as "FILE:LINE: message"; parsing goes on and the load fails
 * at the end if anything was wrong.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"

#define DEFAULT_SESSION_TIMEOUT 200.0
#define DEFAULT_MAX_SESSIONS 65536u
#define MAX_MAX_SESSIONS (1u << 24)
#define MAX_WEIGHT 1000u
#define MAX_BACKENDS 4096u

enum section { SEC_NONE, SEC_GLOBAL, SEC_BACKEND, SEC_IGNORED };

enum gkey { G_LISTEN, G_PUBLIC_KEY, G_USER, G_LOG_LEVEL, G_SESSION_TIMEOUT, G_MAX_SESSIONS, G__N };
static const char *const gkey_names[G__N] = {
	"listen", "public_key", "user", "log_level", "session_timeout", "max_sessions",
};

enum bkey { B_ADDRESS, B_WEIGHT, B_STATE, B__N };
static const char *const bkey_names[B__N] = { "address", "weight", "state" };

struct parser {
	FILE *in;
	const char *name;
	FILE *err;
	int line;
	int errors;
	char *buf;
	size_t bufcap;

	struct conf *c;
	enum section sec;
	int sec_line;
	int global_line;
	int gkey_line[G__N];
	int bkey_line[B__N];
	unsigned cap_backends;
};

static void perr(struct parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void perr(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	p->errors++;
	if (!p->err)
		return;
	fprintf(p->err, "%s:%d: ", p->name, line);
	va_start(ap, fmt);
	vfprintf(p->err, fmt, ap);
	va_end(ap);
	fputc('\n', p->err);
}

static const char *const admin_names[] = {
	[ADMIN_ENABLED] = "enabled",
	[ADMIN_DRAIN] = "drain",
	[ADMIN_DISABLED] = "disabled",
};

const char *backend_admin_name(enum backend_admin a)
{
	if ((unsigned)a > ADMIN_DISABLED)
		return "unknown";
	return admin_names[a];
}

int backend_admin_parse(const char *s, enum backend_admin *out)
{
	for (unsigned i = 0; i <= ADMIN_DISABLED; i++) {
		if (strcmp(s, admin_names[i]) == 0) {
			*out = (enum backend_admin)i;
			return 0;
		}
	}
	return -EINVAL;
}

int conf_parse_duration(const char *s, double *out)
{
	static const struct {
		const char *unit;
		double scale;
	} units[] = {
		{ "ms", 0.001 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 }, { "", 1 },
	};
	char *end;
	double v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || !isfinite(v))
		return -EINVAL;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(end, units[i].unit) == 0) {
			*out = v * units[i].scale;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -ERANGE;
	*out = (unsigned)v;
	return 0;
}

static bool valid_backend_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONF_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static void begin_backend(struct parser *p, const char *name)
{
	struct conf *c = p->c;
	struct conf_backend *b;

	if (!valid_backend_name(name)) {
		perr(p, p->line,
		     "bad backend name \"%s\" (1-%d letters, digits, '-', '_' or '.')", name,
		     CONF_NAME_MAX);
		p->sec = SEC_IGNORED;
		return;
	}
	for (unsigned i = 0; i < c->n_backends; i++) {
		if (strcmp(c->backends[i].name, name) == 0) {
			perr(p, p->line, "duplicate backend \"%s\" (first defined at line %d)",
			     name, c->backends[i].line);
			p->sec = SEC_IGNORED;
			return;
		}
	}
	if (c->n_backends == MAX_BACKENDS) {
		perr(p, p->line, "too many backends (at most %u)", MAX_BACKENDS);
		p->sec = SEC_IGNORED;
		return;
	}
	if (c->n_backends == p->cap_backends) {
		unsigned cap = p->cap_backends ? p->cap_backends * 2 : 8;
		void *v = realloc(c->backends, cap * sizeof *c->backends);

		if (!v) {
			perr(p, p->line, "out of memory");
			p->sec = SEC_IGNORED;
			return;
		}
		c->backends = v;
		p->cap_backends = cap;
	}
	b = &c->backends[c->n_backends++];
	memset(b, 0, sizeof *b);
	strcpy(b->name, name);
	b->weight = 1;
	b->state = ADMIN_ENABLED;
	b->line = p->line;
	p->sec = SEC_BACKEND;
	for (int i = 0; i < B__N; i++)
		p->bkey_line[i] = 0;
}

/* A section header line, "[...]" possibly followed by a comment. */
static void section_line(struct parser *p, char *s)
{
	char *close = strchr(s, ']');
	char *rest, *name;

	if (!close) {
		perr(p, p->line, "section header without ']'");
		p->sec = SEC_IGNORED;
		return;
	}
	rest = trim(close + 1);
	if (*rest && *rest != ';' && *rest != '#') {
		perr(p, p->line, "unexpected text after section header: \"%s\"", rest);
		p->sec = SEC_IGNORED;
		return;
	}
	*close = '\0';
	name = trim(s + 1);
	p->sec_line = p->line;
	if (strcmp(name, "global") == 0) {
		if (p->global_line) {
			perr(p, p->line, "duplicate [global] section (first at line %d)",
			     p->global_line);
			p->sec = SEC_IGNORED;
			return;
		}
		p->global_line = p->line;
		p->sec = SEC_GLOBAL;
		return;
	}
	if (strncmp(name, "backend", 7) == 0 && (name[7] == '\0' || isspace((unsigned char)name[7]))) {
		char *bname = trim(name + 7);

		if (!*bname) {
			perr(p, p->line, "backend section needs a name: [backend NAME]");
			p->sec = SEC_IGNORED;
			return;
		}
		begin_backend(p, bname);
		return;
	}
	perr(p, p->line, "unknown section [%s]", name);
	p->sec = SEC_IGNORED;
}

/*
 * Reader for inih: one line per call, counted; lines inih would reject or
 * misread are reported here and replaced with an empty line.
 */
static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	ssize_t n = getline(&p->buf, &p->bufcap, p->in);
	char *s;

	if (n < 0)
		return NULL;
	p->line++;
	while (n > 0 && (p->buf[n - 1] == '\n' || p->buf[n - 1] == '\r'))
		p->buf[--n] = '\0';
	s = p->buf;
	if (p->line == 1 && (unsigned char)s[0] == 0xef && (unsigned char)s[1] == 0xbb &&
	    (unsigned char)s[2] == 0xbf)
		s += 3;
	if ((size_t)n + 2 > (size_t)num) {
		perr(p, p->line, "line too long (at most %d characters)", num - 3);
		goto blank;
	}
	if (strlen(s) != strlen(p->buf) - (size_t)(s - p->buf)) {
		perr(p, p->line, "NUL byte in line");
		goto blank;
	}
	{
		char *t = s;

		while (isspace((unsigned char)*t))
			t++;
		if (*t == '\0' || *t == ';' || *t == '#')
			goto pass;
		if (*t == '[') {
			char tmp[4096];

			snprintf(tmp, sizeof tmp, "%s", t);
			section_line(p, tmp);
			goto pass;
		}
		{
			size_t k = strcspn(t, "=:");
			char *e = t + k;

			if (*e == '\0') {
				perr(p, p->line, "expected \"key = value\", got \"%s\"", trim(t));
				goto blank;
			}
			while (e > t && isspace((unsigned char)e[-1]))
				e--;
			if (e == t) {
				perr(p, p->line, "missing key name before '%c'", t[k]);
				goto blank;
			}
		}
	}
pass:
	snprintf(str, (size_t)num, "%s\n", s);
	return str;
blank:
	snprintf(str, (size_t)num, "\n");
	return str;
}

static bool once(struct parser *p, int *seen, const char *key)
{
	if (*seen) {
		perr(p, p->line, "%s given twice (first at line %d)", key, *seen);
		return false;
	}
	*seen = p->line;
	return true;
}

static void global_listen(struct parser *p, const char *value)
{
	struct conf *c = p->c;
	char tmp[1024], *save = NULL, *tok;

	snprintf(tmp, sizeof tmp, "%s", value);
	for (tok = strtok_r(tmp, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		union sockaddr_any a;
		char fmt[ADDR_STRLEN];

		if (addr_parse(tok, &a)) {
			perr(p, p->line,
			     "bad listen address \"%s\" (expected IPV4:PORT or [IPV6]:PORT)", tok);
			continue;
		}
		for (unsigned i = 0; i < c->n_listen; i++) {
			if (addr_equal(&c->listen[i], &a)) {
				perr(p, p->line, "listen address %s given twice",
				     addr_fmt(&a, fmt));
				goto next;
			}
		}
		if (c->n_listen == CONF_MAX_LISTEN) {
			perr(p, p->line, "too many listen addresses (at most %d)", CONF_MAX_LISTEN);
			return;
		}
		c->listen[c->n_listen++] = a;
next:;
	}
}

static void global_key(struct parser *p, const char *key, const char *value)
{
	struct conf *c = p->c;
	enum gkey k;

	for (k = 0; k < G__N; k++)
		if (strcmp(key, gkey_names[k]) == 0)
			break;
	if (k == G__N) {
		perr(p, p->line, "unknown key \"%s\" in [global]", key);
		return;
	}
	if (k != G_LISTEN && !once(p, &p->gkey_line[k], key))
		return;
	switch (k) {
	case G_LISTEN:
		p->gkey_line[k] = p->line;
		global_listen(p, value);
		break;
	case G_PUBLIC_KEY:
		if (wg_key_from_base64(c->public_key, value)) {
			perr(p, p->line,
			     "bad public_key \"%s\" (expected 44 characters of base64, as printed by wg pubkey)",
			     value);
			break;
		}
		c->has_public_key = true;
		break;
	case G_USER:
		if (!getpwnam(value)) {
			perr(p, p->line, "unknown user \"%s\"", value);
			break;
		}
		free(c->user);
		c->user = strdup(value);
		if (!c->user)
			perr(p, p->line, "out of memory");
		break;
	case G_LOG_LEVEL:
		if (log_level_parse(value, &c->log_level))
			perr(p, p->line,
			     "bad log_level \"%s\" (error, warning, notice, info or debug)", value);
		break;
	case G_SESSION_TIMEOUT: {
		double d;

		if (conf_parse_duration(value, &d) || d < 1 || d > 7 * 86400) {
			perr(p, p->line,
			     "bad session_timeout \"%s\" (a duration from 1s to 7d, e.g. 200s or 5m)",
			     value);
			break;
		}
		c->session_timeout = d;
		break;
	}
	case G_MAX_SESSIONS:
		if (parse_uint(value, 1, MAX_MAX_SESSIONS, &c->max_sessions))
			perr(p, p->line, "bad max_sessions \"%s\" (1 to %u)", value,
			     MAX_MAX_SESSIONS);
		break;
	case G__N:
		break;
	}
}

static void backend_key(struct parser *p, const char *key, const char *value)
{
	struct conf_backend *b = &p->c->backends[p->c->n_backends - 1];
	enum bkey k;

	for (k = 0; k < B__N; k++)
		if (strcmp(key, bkey_names[k]) == 0)
			break;
	if (k == B__N) {
		perr(p, p->line, "unknown key \"%s\" in [backend %s]", key, b->name);
		return;
	}
	if (!once(p, &p->bkey_line[k], key))
		return;
	switch (k) {
	case B_ADDRESS:
		b->address_line = p->line;
		if (addr_parse(value, &b->address) || addr_is_wildcard(&b->address)) {
			b->address.sa.sa_family = AF_UNSPEC;
			perr(p, p->line,
			     "bad backend address \"%s\" (expected IPV4:PORT or [IPV6]:PORT)",
			     value);
		}
		break;
	case B_WEIGHT:
		if (parse_uint(value, 1, MAX_WEIGHT, &b->weight))
			perr(p, p->line, "bad weight \"%s\" (1 to %u)", value, MAX_WEIGHT);
		break;
	case B_STATE:
		if (backend_admin_parse(value, &b->state))
			perr(p, p->line, "bad state \"%s\" (enabled, drain or disabled)", value);
		break;
	case B__N:
		break;
	}
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;

	(void)section;  /* the reader already knows which section we are in */
	if (!*value) {
		perr(p, p->line, "empty value for \"%s\"", name);
		return 1;
	}
	switch (p->sec) {
	case SEC_NONE:
		perr(p, p->line, "\"%s\" outside of any section", name);
		break;
	case SEC_GLOBAL:
		global_key(p, name, value);
		break;
	case SEC_BACKEND:
		backend_key(p, name, value);
		break;
	case SEC_IGNORED:
		break;
	}
	return 1;       /* errors are counted here, not by inih */
}

static void check_whole(struct parser *p)
{
	struct conf *c = p->c;
	char fmt[ADDR_STRLEN];
	int end = p->line ? p->line : 1;

	if (!p->global_line)
		perr(p, end, "missing [global] section");
	else if (c->n_listen == 0 && !p->gkey_line[G_LISTEN])
		perr(p, p->global_line, "[global] needs at least one listen address");
	if (c->n_backends == 0)
		perr(p, end, "no backend: at least one [backend NAME] section is required");
	for (unsigned i = 0; i < c->n_backends; i++) {
		struct conf_backend *b = &c->backends[i];

		if (!b->address_line) {
			perr(p, b->line, "backend \"%s\" has no address", b->name);
			continue;
		}
		if (b->address.sa.sa_family == AF_UNSPEC)
			continue;       /* reported on its own line */
		for (unsigned j = 0; j < i; j++) {
			if (addr_equal(&c->backends[j].address, &b->address)) {
				perr(p, b->line,
				     "backend \"%s\" has the same address %s as backend \"%s\"",
				     b->name, addr_fmt(&b->address, fmt), c->backends[j].name);
				break;
			}
		}
	}
}

struct conf *conf_load_stream(FILE *in, const char *name, FILE *err)
{
	struct parser p = { .in = in, .name = name, .err = err };
	struct conf *c = calloc(1, sizeof *c);
	int rc;

	if (!c || !(c->path = strdup(name))) {
		free(c);
		if (err)
			fprintf(err, "%s: out of memory\n", name);
		return NULL;
	}
	c->log_level = LOG_LVL_INFO;
	c->session_timeout = DEFAULT_SESSION_TIMEOUT;
	c->max_sessions = DEFAULT_MAX_SESSIONS;
	p.c = c;

	ini_allow_multiline = false;    /* an indented line is an error, not a continuation */
	rc = ini_parse_stream(reader, &p, handler, &p);
	free(p.buf);
	if (rc > 0 && p.errors == 0)
		perr(&p, rc, "syntax error");
	else if (rc < 0)
		perr(&p, p.line, "cannot parse (error %d)", rc);
	if (ferror(in))
		perr(&p, p.line, "read error");
	check_whole(&p);
	if (p.errors) {
		conf_free(c);
		return NULL;
	}
	return c;
}

struct conf *conf_load(const char *path, FILE *err)
{
	FILE *f = fopen(path, "re");
	struct conf *c;

	if (!f) {
		if (err)
			fprintf(err, "%s: cannot open: %s\n", path, strerror(errno));
		return NULL;
	}
	c = conf_load_stream(f, path, err);
	fclose(f);
	return c;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->user);
	free(c->backends);
	free(c);
}

const struct conf_backend *conf_find_backend(const struct conf *c, const char *name)
{
	for (unsigned i = 0; i < c->n_backends; i++)
		if (strcmp(c->backends[i].name, name) == 0)
			return &c->backends[i];
	return NULL;
}
