/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * control: the unix-socket protocol between wglbd and wglbctl. A client
 * sends one line, "COMMAND [ARGUMENT]\n"; wglbd answers with one JSON
 * object and a newline, then closes. Every answer has "ok" (true or
 * false); errors carry "error".
 */
#ifndef WGLB_CONTROL_H
#define WGLB_CONTROL_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>

#include "backend.h"
#include "metrics.h"
#include "proxy.h"

#define CONTROL_MAX_LINE 256
/* sessions listed at most in one answer */
#define CONTROL_MAX_SESSIONS 10000

enum control_cmd {
	CMD_STATUS,
	CMD_BACKENDS,
	CMD_SESSIONS,        /* optional backend name */
	CMD_DRAIN,           /* backend name */
	CMD_ENABLE,
	CMD_DISABLE,
	CMD_RELOAD,
	CMD_HEALTH,
	CMD__COUNT,
};

struct control_request {
	enum control_cmd cmd;
	char arg[CONF_NAME_MAX + 1];    /* empty when none */
};

/*
 * Parse one request line (without or with its newline). 0, or -EINVAL
 * with a message for the client in err.
 */
int control_parse(const char *line, struct control_request *req, char *err, size_t errlen);
const char *control_cmd_name(enum control_cmd c);

/* What the daemon lends the control socket. */
struct control_ops {
	struct backend_set *bs;
	struct proxy *px;
	const struct reload_status *reload;
	/* reload the file; on failure *err (malloc'ed) holds the FILE:LINE lines */
	int (*reload_fn)(void *arg, char **err);
	void (*set_admin)(void *arg, struct backend *b, enum backend_admin state);
	void *arg;
	double start_time;
};

/* Build the JSON answer to a parsed request. */
json_t *control_execute(const struct control_ops *ops, const struct control_request *req);

struct control;

/* Listen on path (mode 0660, group gid unless -1). NULL on failure (logged). */
struct control *control_start(struct ev_loop *loop, const char *path, int gid,
			      const struct control_ops *ops);
void control_stop(struct control *c);

#endif
