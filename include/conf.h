/* SPDX-License-Identifier: GPL-2.0-or-later */
/* conf: the INI configuration file parsed into an immutable struct conf. */
#ifndef WGLB_CONF_H
#define WGLB_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "log.h"
#include "wg.h"

#define CONF_MAX_LISTEN 16
#define CONF_MAX_SOURCES 16
#ifndef WGLB_DEFAULT_CONTROL
#define WGLB_DEFAULT_CONTROL "/run/wglb/wglb.sock"
#endif
#define CONF_NAME_MAX 32

enum backend_admin {
	ADMIN_ENABLED,
	ADMIN_DRAIN,
	ADMIN_DISABLED,
};
const char *backend_admin_name(enum backend_admin a);
int backend_admin_parse(const char *s, enum backend_admin *out);

enum check_type {
	CHECK_NONE,
	CHECK_HANDSHAKE,
};
const char *check_type_name(enum check_type t);

enum balance_policy {
	POLICY_LEAST_LOAD,
	POLICY_LEAST_SESSIONS,
	POLICY_ROUND_ROBIN,
	POLICY_HASH,
};
const char *balance_policy_name(enum balance_policy p);

/* Health check settings: [health] defaults, overridable per backend. */
struct conf_health {
	enum check_type check;
	double interval;                /* seconds between probes */
	double timeout;                 /* seconds to wait for an answer */
	unsigned rise;                  /* successes to go up */
	unsigned fall;                  /* failures to go down */
};

struct conf_backend {
	char name[CONF_NAME_MAX + 1];
	union sockaddr_any address;
	unsigned weight;
	enum backend_admin state;
	int line;                       /* where its section starts */
	int address_line;
	struct conf_health health;
	unsigned health_set;            /* bit per key given in the section */
	union sockaddr_any source[CONF_MAX_SOURCES];   /* upstream source addresses */
	unsigned n_source;              /* 0: those of [global] */
};

/* [limits]: admission control at the edge */
struct conf_limits {
	double handshake_rate;          /* initiations per second per source */
	double handshake_burst;
	unsigned max_sources;           /* sources tracked at once */
	unsigned max_sessions_per_source;
	double session_rate;            /* new sessions per second, all sources */
	double under_load;              /* handshakes per second that need a cookie */
	double learn_rate;              /* datagrams per second copied to every backend */
};

struct conf {
	char *path;
	union sockaddr_any listen[CONF_MAX_LISTEN];
	unsigned n_listen;
	bool has_public_key;
	uint8_t public_key[WG_KEY_LEN];
	char *user;                     /* NULL: keep running as started */
	char *control;                  /* control socket path */
	bool has_metrics;
	union sockaddr_any metrics;     /* [metrics] listen */
	enum log_level log_level;
	double session_timeout;         /* seconds */
	unsigned max_sessions;
	enum balance_policy policy;
	union sockaddr_any source[CONF_MAX_SOURCES];   /* upstream source addresses */
	unsigned n_source;
	struct conf_limits limits;
	bool learn_unknown;             /* find the backend of a tunnel wglbd does not know */
	char *state_file;               /* sessions kept across restarts; NULL: none */

	struct conf_health health;      /* defaults of [health] */
	double slow_start;              /* seconds of ramp after a backend comes up; 0: off */
	char *probe_key_file;
	bool has_probe_key;
	uint8_t probe_private_key[WG_KEY_LEN];
	bool has_probe_psk;
	uint8_t probe_psk[WG_KEY_LEN];

	struct conf_backend *backends;
	unsigned n_backends;
};

/*
 * Parse a file. On error every problem found is written to err as
 * "FILE:LINE: message" lines and NULL is returned.
 */
struct conf *conf_load(const char *path, FILE *err);
/* Same, reading from an open stream; name is used in messages. */
struct conf *conf_load_stream(FILE *in, const char *name, FILE *err);
void conf_free(struct conf *c);

const struct conf_backend *conf_find_backend(const struct conf *c, const char *name);

/* What a reload would change, backend by backend (matched by name). */
enum conf_change {
	CHANGE_NONE,
	CHANGE_ADDED,
	CHANGE_MODIFIED,       /* weight, state, checks or address */
};

struct conf_diff {
	bool listen_changed;            /* needs a restart */
	bool user_changed;              /* needs a restart */
	bool control_changed;           /* needs a restart */
	bool metrics_changed;           /* needs a restart */
	enum conf_change *backends;     /* one per backend of the new file */
	char (*removed)[CONF_NAME_MAX + 1];   /* in the old file only */
	unsigned n_removed;
};

/* Compare two loaded files; 0 or -ENOMEM. Free with conf_diff_free. */
int conf_diff(const struct conf *old, const struct conf *new, struct conf_diff *d);
void conf_diff_free(struct conf_diff *d);

/* "500ms", "2s", "3m", "1h", "1d", or plain seconds. */
int conf_parse_duration(const char *s, double *out);

#endif
