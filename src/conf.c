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

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <strings.h>
#include <sys/stat.h>

#include "conf.h"

#define DEFAULT_SESSION_TIMEOUT 200.0
#define DEFAULT_MAX_SESSIONS 65536u
#define MAX_MAX_SESSIONS (1u << 24)
#define MAX_WEIGHT 1000u
#define MAX_BACKENDS 4096u

#define DEFAULT_INTERVAL 2.0
#define DEFAULT_TIMEOUT 1.0
#define DEFAULT_RISE 2u
#define DEFAULT_FALL 2u
#define DEFAULT_SLOW_START 10.0

enum section {
	SEC_NONE, SEC_GLOBAL, SEC_HEALTH, SEC_METRICS, SEC_LIMITS, SEC_BACKEND, SEC_IGNORED
};

enum lkey {
	L_HANDSHAKE_RATE, L_HANDSHAKE_BURST, L_MAX_SOURCES, L_MAX_PER_SOURCE, L_SESSION_RATE,
	L_UNDER_LOAD, L_LEARN_RATE, L__N
};
static const char *const lkey_names[L__N] = {
	"handshake_rate", "handshake_burst", "max_sources", "max_sessions_per_source",
	"session_rate", "under_load", "learn_rate",
};

enum gkey {
	G_LISTEN, G_PUBLIC_KEY, G_USER, G_LOG_LEVEL, G_SESSION_TIMEOUT, G_MAX_SESSIONS, G_POLICY,
	G_CONTROL, G_SOURCE, G_LEARN, G_STATE_FILE, G__N
};
static const char *const gkey_names[G__N] = {
	"listen", "public_key", "user", "log_level", "session_timeout", "max_sessions", "policy",
	"control", "source", "learn_unknown", "state_file",
};

/* keys of [health] that a backend may override come first */
enum hkey {
	H_CHECK, H_INTERVAL, H_TIMEOUT, H_RISE, H_FALL, H__BACKEND,
	H_SLOW_START = H__BACKEND, H_PROBE_KEY, H_PROBE_PSK, H__N
};
static const char *const hkey_names[H__N] = {
	"check", "interval", "timeout", "rise", "fall", "slow_start", "probe_private_key_file",
	"probe_preshared_key_file",
};

enum bkey { B_ADDRESS, B_WEIGHT, B_STATE, B_SOURCE, B__N };
static const char *const bkey_names[B__N] = { "address", "weight", "state", "source" };

static const char *const policy_names[] = {
	[POLICY_LEAST_LOAD] = "least-load",
	[POLICY_LEAST_SESSIONS] = "least-sessions",
	[POLICY_ROUND_ROBIN] = "round-robin",
	[POLICY_HASH] = "hash",
};

const char *balance_policy_name(enum balance_policy p)
{
	if ((unsigned)p > POLICY_HASH)
		return "unknown";
	return policy_names[p];
}

const char *check_type_name(enum check_type t)
{
	return t == CHECK_HANDSHAKE ? "handshake" : "none";
}

struct message {
	int line;
	char *text;
};

struct parser {
	struct message *msgs;
	unsigned n_msgs, cap_msgs;
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
	int health_line;
	int hkey_line[H__N];
	int metrics_line;
	int metrics_listen_line;
	int limits_line;
	int lkey_line[L__N];
	int bkey_line[B__N];
	int bhkey_line[H__BACKEND];
	unsigned cap_backends;
};

static void perr(struct parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Messages are kept and printed in line order once the whole file is read. */
static void perr(struct parser *p, int line, const char *fmt, ...)
{
	struct message *m;
	va_list ap;

	p->errors++;
	if (p->n_msgs == p->cap_msgs) {
		unsigned cap = p->cap_msgs ? 2 * p->cap_msgs : 16;

		m = realloc(p->msgs, cap * sizeof *m);
		if (!m)
			return;
		p->msgs = m;
		p->cap_msgs = cap;
	}
	m = &p->msgs[p->n_msgs];
	va_start(ap, fmt);
	if (vasprintf(&m->text, fmt, ap) >= 0) {
		m->line = line;
		p->n_msgs++;
	}
	va_end(ap);
}

static void print_messages(struct parser *p)
{
	/* a stable insertion sort: messages of one line keep the order they were found in */
	for (unsigned i = 0; i < p->n_msgs; i++)
		for (unsigned j = i + 1; j < p->n_msgs; j++)
			if (p->msgs[j].line < p->msgs[i].line) {
				struct message t = p->msgs[j];

				memmove(p->msgs + i + 1, p->msgs + i, (j - i) * sizeof t);
				p->msgs[i] = t;
			}
	for (unsigned i = 0; i < p->n_msgs; i++) {
		if (p->err)
			fprintf(p->err, "%s:%d: %s\n", p->name, p->msgs[i].line, p->msgs[i].text);
		free(p->msgs[i].text);
	}
	free(p->msgs);
	p->msgs = NULL;
	p->n_msgs = p->cap_msgs = 0;
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
	const char *end = s;
	double v = 0, scale = 1;

	/* digits with an optional fraction: no sign, exponent or hex (strtod takes those) */
	if (!isdigit((unsigned char)*end))
		return -EINVAL;
	for (; isdigit((unsigned char)*end); end++)
		v = v * 10 + (*end - '0');
	if (*end == '.') {
		if (!isdigit((unsigned char)end[1]))
			return -EINVAL;
		for (end++; isdigit((unsigned char)*end); end++) {
			scale /= 10;
			v += (*end - '0') * scale;
		}
	}
	if (!isfinite(v))
		return -EINVAL;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(end, units[i].unit) == 0) {
			*out = v * units[i].scale;
			return 0;
		}
	}
	return -EINVAL;
}

/* Why an address is not one: the same words for listen and backend addresses. */
static const char *addr_problem(int e)
{
	return e == -ERANGE ? "the port must be 1 to 65535"
			    : "expected IPV4:PORT or [IPV6]:PORT, numeric";
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
	for (int i = 0; i < H__BACKEND; i++)
		p->bhkey_line[i] = 0;
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
	if (strcmp(name, "metrics") == 0) {
		if (p->metrics_line) {
			perr(p, p->line, "duplicate [metrics] section (first at line %d)",
			     p->metrics_line);
			p->sec = SEC_IGNORED;
			return;
		}
		p->metrics_line = p->line;
		p->sec = SEC_METRICS;
		return;
	}
	if (strcmp(name, "limits") == 0) {
		if (p->limits_line) {
			perr(p, p->line, "duplicate [limits] section (first at line %d)",
			     p->limits_line);
			p->sec = SEC_IGNORED;
			return;
		}
		p->limits_line = p->line;
		p->sec = SEC_LIMITS;
		return;
	}
	if (strcmp(name, "health") == 0) {
		if (p->health_line) {
			perr(p, p->line, "duplicate [health] section (first at line %d)",
			     p->health_line);
			p->sec = SEC_IGNORED;
			return;
		}
		p->health_line = p->line;
		p->sec = SEC_HEALTH;
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
	if (strlen(p->buf) != (size_t)n) {
		perr(p, p->line, "NUL byte in line");
		goto blank;
	}
	/* inih needs room for the line, "\r\n" and the terminating NUL */
	if ((size_t)n + 3 > (size_t)num) {
		perr(p, p->line, "line too long (at most %d characters)", num - 3);
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
			/*
			 * The separator is '=' (inih would also take ':', which
			 * turns "listen 192.0.2.1:51820" into a strange key), and
			 * it must come before any inline comment.
			 */
			size_t k = strcspn(t, "=:;");
			char *e = t + k;

			if (*e != '=') {
				char shown[256];

				snprintf(shown, sizeof shown, "%s", t);
				perr(p, p->line, "expected \"key = value\", got \"%s\"", trim(shown));
				goto blank;
			}
			while (e > t && isspace((unsigned char)e[-1]))
				e--;
			if (e == t) {
				perr(p, p->line, "missing key name before '='");
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

/* "ADDR[, ADDR...]" of local source addresses (no port) for upstream sockets */
static void source_list(struct parser *p, const char *value, union sockaddr_any *out,
			unsigned *n)
{
	char tmp[1024], *save = NULL, *tok;

	*n = 0;
	snprintf(tmp, sizeof tmp, "%s", value);
	for (tok = strtok_r(tmp, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		union sockaddr_any a = { 0 };
		char host[INET6_ADDRSTRLEN + 2];
		size_t l = strlen(tok);

		/* an address alone; brackets around IPv6 are allowed */
		if (tok[0] == '[' && l > 2 && tok[l - 1] == ']') {
			snprintf(host, sizeof host, "%.*s", (int)(l - 2), tok + 1);
		} else {
			snprintf(host, sizeof host, "%s", tok);
		}
		if (inet_pton(AF_INET, host, &a.in.sin_addr) == 1) {
			a.in.sin_family = AF_INET;
		} else if (inet_pton(AF_INET6, host, &a.in6.sin6_addr) == 1) {
			a.in6.sin6_family = AF_INET6;
		} else {
			perr(p, p->line, "bad source address \"%s\" (a numeric IPv4 or IPv6 address)",
			     tok);
			continue;
		}
		if (*n == CONF_MAX_SOURCES) {
			perr(p, p->line, "too many source addresses (at most %d)", CONF_MAX_SOURCES);
			return;
		}
		out[(*n)++] = a;
	}
	if (*n == 0)
		perr(p, p->line, "source: no address in \"%s\"", value);
}

static void limits_key(struct parser *p, const char *key, const char *value)
{
	struct conf_limits *l = &p->c->limits;
	unsigned v;
	enum lkey k;

	for (k = 0; k < L__N; k++)
		if (strcmp(key, lkey_names[k]) == 0)
			break;
	if (k == L__N) {
		perr(p, p->line, "unknown key \"%s\" in [limits]", key);
		return;
	}
	if (!once(p, &p->lkey_line[k], key))
		return;
	if (parse_uint(value, k == L_UNDER_LOAD ? 0 : 1, 10000000, &v)) {
		perr(p, p->line, "bad %s \"%s\" (%s to 10000000)", key, value,
		     k == L_UNDER_LOAD ? "0" : "1");
		return;
	}
	switch (k) {
	case L_HANDSHAKE_RATE:
		l->handshake_rate = v;
		break;
	case L_HANDSHAKE_BURST:
		l->handshake_burst = v;
		break;
	case L_MAX_SOURCES:
		l->max_sources = v;
		break;
	case L_MAX_PER_SOURCE:
		l->max_sessions_per_source = v;
		break;
	case L_SESSION_RATE:
		l->session_rate = v;
		break;
	case L_UNDER_LOAD:
		l->under_load = v;
		break;
	case L_LEARN_RATE:
		l->learn_rate = v;
		break;
	case L__N:
		break;
	}
}

static void global_listen(struct parser *p, const char *value)
{
	struct conf *c = p->c;
	char tmp[1024], *save = NULL, *tok;
	unsigned seen = 0;

	snprintf(tmp, sizeof tmp, "%s", value);
	for (tok = strtok_r(tmp, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		seen++;
		union sockaddr_any a;
		char fmt[ADDR_STRLEN];

		int e = addr_parse(tok, &a);

		if (e < 0) {
			perr(p, p->line, "bad listen address \"%s\" (%s)", tok, addr_problem(e));
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
	if (!seen)
		perr(p, p->line, "listen: no address in \"%s\"", value);
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
	case G_POLICY: {
		unsigned i;

		for (i = 0; i <= POLICY_HASH; i++)
			if (strcmp(value, policy_names[i]) == 0)
				break;
		if (i > POLICY_HASH)
			perr(p, p->line,
			     "bad policy \"%s\" (least-load, least-sessions, round-robin or hash)",
			     value);
		else
			c->policy = (enum balance_policy)i;
		break;
	}
	case G_LEARN:
		if (strcmp(value, "yes") == 0)
			c->learn_unknown = true;
		else if (strcmp(value, "no") == 0)
			c->learn_unknown = false;
		else
			perr(p, p->line, "bad learn_unknown \"%s\" (yes or no)", value);
		break;
	case G_STATE_FILE:
		if (value[0] != '/') {
			perr(p, p->line, "bad state_file \"%s\" (an absolute path)", value);
			break;
		}
		free(c->state_file);
		c->state_file = strdup(value);
		if (!c->state_file)
			perr(p, p->line, "out of memory");
		break;
	case G_SOURCE:
		source_list(p, value, c->source, &c->n_source);
		break;
	case G_CONTROL:
		if (value[0] != '/' || strlen(value) >= 108) {
			perr(p, p->line,
			     "bad control \"%s\" (an absolute path, shorter than 108 characters)",
			     value);
			break;
		}
		free(c->control);
		c->control = strdup(value);
		if (!c->control)
			perr(p, p->line, "out of memory");
		break;
	case G__N:
		break;
	}
}

static void metrics_key(struct parser *p, const char *key, const char *value)
{
	int e;

	if (strcmp(key, "listen") != 0) {
		perr(p, p->line, "unknown key \"%s\" in [metrics]", key);
		return;
	}
	if (!once(p, &p->metrics_listen_line, key))
		return;
	e = addr_parse(value, &p->c->metrics);
	if (e < 0) {
		perr(p, p->line, "bad metrics listen address \"%s\" (%s)", value, addr_problem(e));
		return;
	}
	p->c->has_metrics = true;
}

/* A key a backend may override; false if the value is bad (reported). */
static bool health_value(struct parser *p, enum hkey k, const char *value, struct conf_health *h)
{
	double d;

	switch (k) {
	case H_CHECK:
		if (strcmp(value, "handshake") == 0)
			h->check = CHECK_HANDSHAKE;
		else if (strcmp(value, "none") == 0)
			h->check = CHECK_NONE;
		else
			break;
		return true;
	case H_INTERVAL:
	case H_TIMEOUT:
		if (conf_parse_duration(value, &d) || d < 0.1 || d > 3600) {
			perr(p, p->line, "bad %s \"%s\" (a duration from 100ms to 1h)",
			     hkey_names[k], value);
			return false;
		}
		if (k == H_INTERVAL)
			h->interval = d;
		else
			h->timeout = d;
		return true;
	case H_RISE:
	case H_FALL:
		if (parse_uint(value, 1, 100, k == H_RISE ? &h->rise : &h->fall)) {
			perr(p, p->line, "bad %s \"%s\" (1 to 100)", hkey_names[k], value);
			return false;
		}
		return true;
	default:
		break;
	}
	perr(p, p->line, "bad check \"%s\" (handshake or none)", value);
	return false;
}

/*
 * Read a 32-byte key in wg's base64 format from a file that only its
 * owner may read, as ssh insists for private keys.
 */
static void key_file(struct parser *p, const char *path, uint8_t key[WG_KEY_LEN], bool *has)
{
	char buf[128];
	struct stat st;
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f) {
		perr(p, p->line, "cannot open key file %s: %s", path, strerror(errno));
		return;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
		perr(p, p->line, "key file %s is accessible by group or others (mode %04o): "
			"chmod 600 it", path, (unsigned)(st.st_mode & 07777));
		fclose(f);
		return;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (wg_key_from_base64(key, buf))
		perr(p, p->line, "key file %s does not hold a key as printed by wg genkey", path);
	else
		*has = true;
	sodium_memzero(buf, sizeof buf);
}

static void health_key(struct parser *p, const char *key, const char *value)
{
	struct conf *c = p->c;
	enum hkey k;

	for (k = 0; k < H__N; k++)
		if (strcmp(key, hkey_names[k]) == 0)
			break;
	if (k == H__N) {
		perr(p, p->line, "unknown key \"%s\" in [health]", key);
		return;
	}
	if (!once(p, &p->hkey_line[k], key))
		return;
	switch (k) {
	case H_SLOW_START:
		if (strcmp(value, "0") != 0 &&
		    (conf_parse_duration(value, &c->slow_start) || c->slow_start > 3600)) {
			perr(p, p->line, "bad slow_start \"%s\" (0, or a duration up to 1h)", value);
			return;
		}
		if (strcmp(value, "0") == 0)
			c->slow_start = 0;
		return;
	case H_PROBE_KEY:
		free(c->probe_key_file);
		c->probe_key_file = strdup(value);
		key_file(p, value, c->probe_private_key, &c->has_probe_key);
		return;
	case H_PROBE_PSK:
		key_file(p, value, c->probe_psk, &c->has_probe_psk);
		return;
	default:
		health_value(p, k, value, &c->health);
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
		for (enum hkey h = 0; h < H__BACKEND; h++) {
			if (strcmp(key, hkey_names[h]) == 0) {
				if (once(p, &p->bhkey_line[h], key) &&
				    health_value(p, h, value, &b->health))
					b->health_set |= 1u << h;
				return;
			}
		}
		perr(p, p->line, "unknown key \"%s\" in [backend %s]", key, b->name);
		return;
	}
	if (!once(p, &p->bkey_line[k], key))
		return;
	switch (k) {
	case B_ADDRESS: {
		int e = addr_parse(value, &b->address);

		b->address_line = p->line;
		if (e < 0) {
			b->address.sa.sa_family = AF_UNSPEC;
			perr(p, p->line, "bad backend address \"%s\" (%s)", value,
			     addr_problem(e));
		} else if (addr_is_wildcard(&b->address)) {
			b->address.sa.sa_family = AF_UNSPEC;
			perr(p, p->line,
			     "bad backend address \"%s\" (a wildcard address cannot be a backend)",
			     value);
		}
		break;
	}
	case B_WEIGHT:
		if (parse_uint(value, 1, MAX_WEIGHT, &b->weight))
			perr(p, p->line, "bad weight \"%s\" (1 to %u)", value, MAX_WEIGHT);
		break;
	case B_STATE:
		if (backend_admin_parse(value, &b->state))
			perr(p, p->line, "bad state \"%s\" (enabled, drain or disabled)", value);
		break;
	case B_SOURCE:
		source_list(p, value, b->source, &b->n_source);
		break;
	case B__N:
		break;
	}
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;

	(void)section;  /* the reader already knows which section we are in */
	if (p->sec == SEC_IGNORED)
		return 1;       /* its header was reported; its keys would only add noise */
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
	case SEC_HEALTH:
		health_key(p, name, value);
		break;
	case SEC_METRICS:
		metrics_key(p, name, value);
		break;
	case SEC_LIMITS:
		limits_key(p, name, value);
		break;
	case SEC_BACKEND:
		backend_key(p, name, value);
		break;
	case SEC_IGNORED:
		break;
	}
	return 1;       /* errors are counted here, not by inih */
}

/*
 * Backends inherit every health key they did not set from [health], which
 * may come after them in the file. The check defaults to a handshake when
 * the probe has a key, else none.
 */
static void resolve_health(struct parser *p)
{
	struct conf *c = p->c;

	if (!p->hkey_line[H_CHECK])
		c->health.check = c->has_probe_key ? CHECK_HANDSHAKE : CHECK_NONE;
	for (unsigned i = 0; i < c->n_backends; i++) {
		struct conf_backend *b = &c->backends[i];
		struct conf_health h = c->health;

		if (b->health_set & (1u << H_CHECK))
			h.check = b->health.check;
		if (b->health_set & (1u << H_INTERVAL))
			h.interval = b->health.interval;
		if (b->health_set & (1u << H_TIMEOUT))
			h.timeout = b->health.timeout;
		if (b->health_set & (1u << H_RISE))
			h.rise = b->health.rise;
		if (b->health_set & (1u << H_FALL))
			h.fall = b->health.fall;
		b->health = h;
		if (h.check == CHECK_HANDSHAKE && !c->has_probe_key && !p->hkey_line[H_PROBE_KEY])
			perr(p, b->line,
			     "backend \"%s\": check = handshake needs probe_private_key_file in [health]",
			     b->name);
		if (h.check == CHECK_HANDSHAKE && !c->has_public_key && !p->gkey_line[G_PUBLIC_KEY])
			perr(p, b->line,
			     "backend \"%s\": check = handshake needs public_key in [global]",
			     b->name);
		if (h.timeout > h.interval)
			perr(p, b->line, "backend \"%s\": timeout %gs is longer than interval %gs",
			     b->name, h.timeout, h.interval);
	}
}

static void check_whole(struct parser *p)
{
	struct conf *c = p->c;
	char fmt[ADDR_STRLEN];
	int end = p->line ? p->line : 1;

	resolve_health(p);
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
				perr(p, b->address_line,
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
	c->policy = POLICY_LEAST_LOAD;
	c->control = strdup(WGLB_DEFAULT_CONTROL);
	/* the per-source limits WireGuard itself applies under load */
	c->limits.handshake_rate = 20;
	c->limits.handshake_burst = 5;
	c->limits.max_sources = 65536;
	c->limits.max_sessions_per_source = 1024;
	c->limits.session_rate = 5000;
	c->limits.under_load = 2000;
	c->limits.learn_rate = 1000;
	c->learn_unknown = true;
	c->health.interval = DEFAULT_INTERVAL;
	c->health.timeout = DEFAULT_TIMEOUT;
	c->health.rise = DEFAULT_RISE;
	c->health.fall = DEFAULT_FALL;
	c->slow_start = DEFAULT_SLOW_START;
	p.c = c;

	/* an indented line is a line of its own, never the continuation of a value */
	ini_allow_multiline = false;
	errno = 0;
	rc = ini_parse_stream(reader, &p, handler, &p);
	free(p.buf);
	if (ferror(in)) {
		/* nothing else said about a file that could not be read is useful */
		int e = errno ? errno : EIO;

		for (unsigned i = 0; i < p.n_msgs; i++)
			free(p.msgs[i].text);
		free(p.msgs);
		if (err)
			fprintf(err, "%s: cannot read: %s\n", name, strerror(e));
		conf_free(c);
		return NULL;
	}
	if (rc > 0 && p.errors == 0)
		perr(&p, rc, "syntax error");
	else if (rc < 0)
		perr(&p, p.line, "cannot parse (error %d)", rc);
	check_whole(&p);
	print_messages(&p);
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
	free(c->probe_key_file);
	free(c->control);
	free(c->state_file);
	free(c->backends);
	sodium_memzero(c, sizeof *c);
	free(c);
}

const struct conf_backend *conf_find_backend(const struct conf *c, const char *name)
{
	for (unsigned i = 0; i < c->n_backends; i++)
		if (strcmp(c->backends[i].name, name) == 0)
			return &c->backends[i];
	return NULL;
}

static bool health_equal(const struct conf_health *a, const struct conf_health *b)
{
	return a->check == b->check && a->interval == b->interval && a->timeout == b->timeout &&
	       a->rise == b->rise && a->fall == b->fall;
}

static bool same_listen(const struct conf *a, const struct conf *b)
{
	if (a->n_listen != b->n_listen)
		return false;
	for (unsigned i = 0; i < a->n_listen; i++) {
		bool found = false;

		for (unsigned j = 0; j < b->n_listen && !found; j++)
			found = addr_equal(&a->listen[i], &b->listen[j]);
		if (!found)
			return false;
	}
	return true;
}

static bool same_sources(const union sockaddr_any *a, unsigned na, const union sockaddr_any *b,
			 unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++)
		if (a[i].sa.sa_family != b[i].sa.sa_family ||
		    memcmp(&a[i], &b[i], addr_len(&a[i])) != 0)
			return false;
	return true;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int conf_diff(const struct conf *old, const struct conf *new, struct conf_diff *d)
{
	memset(d, 0, sizeof *d);
	d->listen_changed = !same_listen(old, new);
	d->user_changed = !same_str(old->user, new->user);
	d->control_changed = !same_str(old->control, new->control);
	d->metrics_changed = old->has_metrics != new->has_metrics ||
			     (new->has_metrics && !addr_equal(&old->metrics, &new->metrics));
	d->backends = calloc(new->n_backends ? new->n_backends : 1, sizeof *d->backends);
	d->removed = calloc(old->n_backends ? old->n_backends : 1, sizeof *d->removed);
	if (!d->backends || !d->removed) {
		conf_diff_free(d);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < new->n_backends; i++) {
		const struct conf_backend *nb = &new->backends[i];
		const struct conf_backend *ob = conf_find_backend(old, nb->name);

		if (!ob)
			d->backends[i] = CHANGE_ADDED;
		else if (ob->weight != nb->weight || ob->state != nb->state ||
			 !addr_equal(&ob->address, &nb->address) ||
			 !health_equal(&ob->health, &nb->health) ||
			 !same_sources(ob->source, ob->n_source, nb->source, nb->n_source))
			d->backends[i] = CHANGE_MODIFIED;
		else
			d->backends[i] = CHANGE_NONE;
	}
	for (unsigned i = 0; i < old->n_backends; i++)
		if (!conf_find_backend(new, old->backends[i].name))
			memcpy(d->removed[d->n_removed++], old->backends[i].name,
			       sizeof d->removed[0]);
	return 0;
}

void conf_diff_free(struct conf_diff *d)
{
	free(d->backends);
	free(d->removed);
	memset(d, 0, sizeof *d);
}
