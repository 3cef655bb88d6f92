/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * control: wglbd's side of the control socket. Connections are served
 * from the event loop: read one line (bounded), answer with one JSON
 * object (jansson), close. A connection that stalls is dropped.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"

#define MAX_CONNECTIONS 16
#define CONN_TIMEOUT 5.0

enum arg_rule { ARG_NONE, ARG_OPTIONAL, ARG_REQUIRED };

static const struct {
	const char *name;
	enum arg_rule arg;
} commands[CMD__COUNT] = {
	[CMD_STATUS] = { "status", ARG_NONE },
	[CMD_BACKENDS] = { "backends", ARG_NONE },
	[CMD_SESSIONS] = { "sessions", ARG_OPTIONAL },
	[CMD_DRAIN] = { "drain", ARG_REQUIRED },
	[CMD_ENABLE] = { "enable", ARG_REQUIRED },
	[CMD_DISABLE] = { "disable", ARG_REQUIRED },
	[CMD_RELOAD] = { "reload", ARG_NONE },
	[CMD_HEALTH] = { "health", ARG_NONE },
};

const char *control_cmd_name(enum control_cmd c)
{
	return (unsigned)c < CMD__COUNT ? commands[c].name : "unknown";
}

int control_parse(const char *line, struct control_request *req, char *err, size_t errlen)
{
	char buf[CONTROL_MAX_LINE + 1], *tok[3], *save = NULL, *t;
	unsigned n = 0;
	size_t len = strlen(line);

	memset(req, 0, sizeof *req);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len > CONTROL_MAX_LINE) {
		snprintf(err, errlen, "request longer than %d bytes", CONTROL_MAX_LINE);
		return -EINVAL;
	}
	memcpy(buf, line, len);
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (!isprint((unsigned char)buf[i]) && buf[i] != '\t') {
			snprintf(err, errlen, "request contains a control character");
			return -EINVAL;
		}
	}
	for (t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == 3)
			break;
		tok[n++] = t;
	}
	if (n == 0) {
		snprintf(err, errlen, "empty request");
		return -EINVAL;
	}
	for (unsigned c = 0; c < CMD__COUNT; c++) {
		if (strcmp(tok[0], commands[c].name) != 0)
			continue;
		req->cmd = (enum control_cmd)c;
		if (n > 2 || (n == 2 && commands[c].arg == ARG_NONE)) {
			snprintf(err, errlen, "%s takes %s", commands[c].name,
				 commands[c].arg == ARG_NONE ? "no argument" : "one backend name");
			return -EINVAL;
		}
		if (n == 1 && commands[c].arg == ARG_REQUIRED) {
			snprintf(err, errlen, "%s needs a backend name", commands[c].name);
			return -EINVAL;
		}
		if (n == 2) {
			if (strlen(tok[1]) > CONF_NAME_MAX ||
			    strspn(tok[1], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789-_.") != strlen(tok[1])) {
				snprintf(err, errlen, "bad backend name \"%.40s\"", tok[1]);
				return -EINVAL;
			}
			strcpy(req->arg, tok[1]);
		}
		return 0;
	}
	snprintf(err, errlen,
		 "unknown command \"%.40s\" (status, backends, sessions, drain, enable, disable, "
		 "reload, health)", tok[0]);
	return -EINVAL;
}

static json_t *error_answer(const char *msg)
{
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static json_t *backend_json(const struct backend *b)
{
	char a[ADDR_STRLEN];

	return json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:b, s:i, s:f, s:f, s:I, s:I, s:I, s:I, s:I}",
			 "name", b->name, "address", addr_fmt(&b->addr, a),
			 "weight", (int)b->weight,
			 "state", backend_admin_name(b->admin),
			 "health", backend_health_name(b->health),
			 "reason", health_reason_name(b->reason),
			 "removed", b->removed,
			 "sessions", (int)b->sessions,
			 "rate_bytes_per_second", b->rate,
			 "health_since", b->health_since,
			 "handshakes_forwarded", (json_int_t)b->c.handshakes_forwarded,
			 "handshakes_completed", (json_int_t)b->c.handshakes_completed,
			 "handshakes_unanswered", (json_int_t)b->c.handshakes_unanswered,
			 "packets_to_backend", (json_int_t)b->c.tx_packets,
			 "packets_from_backend", (json_int_t)b->c.rx_packets);
}

static unsigned count_up(const struct backend_set *bs)
{
	unsigned up = 0;

	for (unsigned i = 0; i < bs->n; i++)
		up += bs->v[i]->health == HEALTH_UP && bs->v[i]->route_ok && !bs->v[i]->removed;
	return up;
}

static json_t *status_json(const struct control_ops *ops)
{
	const struct proxy_stats *st = proxy_get_stats(ops->px);
	json_t *drops = json_object();

	for (int r = 0; r < DROP__COUNT; r++)
		json_object_set_new(drops, drop_reason_name(r), json_integer((json_int_t)st->drops[r]));
	return json_pack("{s:b, s:s, s:f, s:i, s:I, s:i, s:i, s:s, s:I, s:I, s:I, s:I, s:o, "
			 "s:{s:I, s:I, s:b, s:f}}",
			 "ok", 1, "version", PACKAGE_VERSION,
			 "uptime_seconds", ev_time() - ops->start_time,
			 "sessions", (int)proxy_session_count(ops->px),
			 "sessions_handshaking", (json_int_t)st->sessions_handshaking,
			 "backends", (int)ops->bs->n,
			 "backends_up", (int)count_up(ops->bs),
			 "policy", balance_policy_name(ops->bs->policy),
			 "packets_received", (json_int_t)st->rx_packets,
			 "packets_sent", (json_int_t)st->tx_packets,
			 "bytes_received", (json_int_t)st->rx_bytes,
			 "bytes_sent", (json_int_t)st->tx_bytes,
			 "drops", drops,
			 "reload", "succeeded", (json_int_t)ops->reload->ok,
			 "failed", (json_int_t)ops->reload->failed,
			 "last_ok", ops->reload->last_ok,
			 "last_success_time", ops->reload->last_ok_time);
}

struct sessions_ctx {
	json_t *list;
	const struct backend *only;
	unsigned n;
	bool truncated;
	ev_tstamp now;
};

/* learning: backend unknown; handshake: no socket of its own yet; up: carries data */
static const char *session_state(const struct session *s)
{
	if (s->learning)
		return "learning";
	return s->io.fd < 0 ? "handshake" : "up";
}

static void session_json(struct session *s, void *arg)
{
	struct sessions_ctx *c = arg;
	char a[ADDR_STRLEN];

	if (c->only && s->be != c->only)
		return;
	if (c->n == CONTROL_MAX_SESSIONS) {
		c->truncated = true;
		return;
	}
	c->n++;
	json_array_append_new(c->list,
			      json_pack("{s:s, s:s, s:s, s:f, s:f, s:I, s:I, s:I, s:I}",
					"client", addr_fmt(&s->client, a),
					"backend", s->be ? s->be->name : "",
					"state", session_state(s),
					"age_seconds", c->now - s->created,
					"idle_seconds", c->now - s->last_active,
					"packets_to_backend", (json_int_t)s->tx_packets,
					"bytes_to_backend", (json_int_t)s->tx_bytes,
					"packets_from_backend", (json_int_t)s->rx_packets,
					"bytes_from_backend", (json_int_t)s->rx_bytes));
}

json_t *control_execute(const struct control_ops *ops, const struct control_request *req)
{
	struct backend *b = NULL;

	if (req->arg[0]) {
		b = backend_find(ops->bs, req->arg);
		if (!b) {
			char msg[96];

			snprintf(msg, sizeof msg, "no backend \"%s\"", req->arg);
			return error_answer(msg);
		}
	}
	switch (req->cmd) {
	case CMD_STATUS:
		return status_json(ops);
	case CMD_BACKENDS: {
		json_t *list = json_array();

		for (unsigned i = 0; i < ops->bs->n; i++)
			json_array_append_new(list, backend_json(ops->bs->v[i]));
		return json_pack("{s:b, s:o}", "ok", 1, "backends", list);
	}
	case CMD_SESSIONS: {
		struct sessions_ctx c = { .list = json_array(), .only = b,
					  .now = proxy_now(ops->px) };

		proxy_foreach_session(ops->px, session_json, &c);
		return json_pack("{s:b, s:o, s:b}", "ok", 1, "sessions", c.list, "truncated",
				 c.truncated);
	}
	case CMD_DRAIN:
	case CMD_ENABLE:
	case CMD_DISABLE: {
		if (!b)
			return error_answer("a backend name is needed");
		enum backend_admin st = req->cmd == CMD_DRAIN	 ? ADMIN_DRAIN
					: req->cmd == CMD_ENABLE ? ADMIN_ENABLED
								 : ADMIN_DISABLED;

		ops->set_admin(ops->arg, b, st);
		return json_pack("{s:b, s:s, s:s}", "ok", 1, "backend", b->name, "state",
				 backend_admin_name(b->admin));
	}
	case CMD_RELOAD: {
		char *err = NULL;
		json_t *ans;

		if (ops->reload_fn(ops->arg, &err) == 0) {
			free(err);
			return json_pack("{s:b}", "ok", 1);
		}
		ans = json_pack("{s:b, s:s}", "ok", 0, "error",
				err && *err ? err : "reload failed");
		free(err);
		return ans;
	}
	case CMD_HEALTH: {
		unsigned up = count_up(ops->bs);
		json_t *ans = json_pack("{s:b, s:i, s:i}", "ok", up > 0, "up", (int)up,
					"total", (int)ops->bs->n);

		if (!up)
			json_object_set_new(ans, "error", json_string("no backend is up"));
		return ans;
	}
	case CMD__COUNT:
		break;
	}
	return error_answer("unknown command");
}

/* ---- the socket ---- */

struct conn {
	ev_io io;
	ev_timer timer;
	struct control *ctl;
	char in[CONTROL_MAX_LINE + 3];       /* the line, "\r\n" and a NUL */
	size_t n_in;
	char *out;
	size_t n_out, off;
	struct conn *next;
};

struct control {
	struct ev_loop *loop;
	ev_io io;
	char *path;
	dev_t dev;                      /* the socket file we made, to remove only that */
	ino_t ino;
	const struct control_ops *ops;
	struct conn *conns;
	unsigned n_conns;
};

static void conn_close(struct conn *c)
{
	struct control *ctl = c->ctl;
	struct conn **pp;

	ev_io_stop(ctl->loop, &c->io);
	ev_timer_stop(ctl->loop, &c->timer);
	close(c->io.fd);
	for (pp = &ctl->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ctl->n_conns--;
	free(c->out);
	free(c);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = (struct conn *)w;

	(void)loop;
	(void)revents;
	while (c->off < c->n_out) {
		ssize_t n = send(w->fd, c->out + c->off, c->n_out - c->off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			break;
		}
		c->off += (size_t)n;
	}
	conn_close(c);
}

static void conn_answer(struct conn *c, json_t *ans)
{
	struct control *ctl = c->ctl;
	char *s = ans ? json_dumps(ans, JSON_COMPACT) : NULL;

	json_decref(ans);
	if (!s || asprintf(&c->out, "%s\n", s) < 0) {
		c->out = NULL;
		free(s);
		conn_close(c);
		return;
	}
	free(s);
	c->n_out = strlen(c->out);
	ev_io_stop(ctl->loop, &c->io);
	ev_io_set(&c->io, c->io.fd, EV_WRITE);
	ev_set_cb(&c->io, conn_write_cb);
	ev_io_start(ctl->loop, &c->io);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = (struct conn *)w;
	struct control_request req;
	char err[160], *nl;
	ssize_t n;

	(void)loop;
	(void)revents;
	n = recv(w->fd, c->in + c->n_in, sizeof c->in - 1 - c->n_in, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->n_in += (size_t)n;
	c->in[c->n_in] = '\0';
	nl = memchr(c->in, '\n', c->n_in);
	if (memchr(c->in, '\0', nl ? (size_t)(nl - c->in) : c->n_in)) {
		conn_answer(c, error_answer("request contains a control character"));
		return;
	}
	if (!nl && c->n_in < sizeof c->in - 1)
		return;
	if (!nl) {
		conn_answer(c, error_answer("request too long"));
		return;
	}
	*nl = '\0';
	if (control_parse(c->in, &req, err, sizeof err) < 0) {
		conn_answer(c, error_answer(err));
		return;
	}
	log_info("control: %s%s%s", control_cmd_name(req.cmd), req.arg[0] ? " " : "", req.arg);
	conn_answer(c, control_execute(c->ctl->ops, &req));
}

static void conn_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = (struct conn *)((char *)w - offsetof(struct conn, timer));

	(void)loop;
	(void)revents;
	conn_close(c);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control *ctl = w->data;
	struct conn *c;
	int fd;

	(void)revents;
	fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (ctl->n_conns >= MAX_CONNECTIONS || !(c = calloc(1, sizeof *c))) {
		close(fd);
		return;
	}
	c->ctl = ctl;
	ev_io_init(&c->io, conn_read_cb, fd, EV_READ);
	ev_timer_init(&c->timer, conn_timeout_cb, CONN_TIMEOUT, 0);
	ev_io_start(loop, &c->io);
	ev_timer_start(loop, &c->timer);
	c->next = ctl->conns;
	ctl->conns = c;
	ctl->n_conns++;
}

struct control *control_start(struct ev_loop *loop, const char *path, int gid,
			      const struct control_ops *ops)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct control *ctl;
	char dir[sizeof sun.sun_path], *slash;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		log_error("control socket path too long: %s", path);
		return NULL;
	}
	strcpy(sun.sun_path, path);
	/* the directory, when missing (no systemd RuntimeDirectory) */
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			log_warn("control: mkdir %s", dir);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("control: socket");
		return NULL;
	}
	{
		struct stat st;

		/* a stale socket of an earlier run goes; a live one or anything else is not ours */
		if (lstat(path, &st) == 0) {
			int probe;

			if (!S_ISSOCK(st.st_mode)) {
				log_error("control: %s exists and is not a socket", path);
				close(fd);
				return NULL;
			}
			probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0) {
				log_error("control: %s is in use: another wglbd runs with it", path);
				close(probe);
				close(fd);
				return NULL;
			}
			if (probe >= 0)
				close(probe);
			unlink(path);
		}
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 || listen(fd, 16) < 0) {
		log_errno(LOG_LVL_ERROR, "control: %s", path);
		close(fd);
		return NULL;
	}
	/* not world-writable: root and the daemon's group drive it */
	if (chmod(path, 0660) < 0 || (gid >= 0 && chown(path, (uid_t)-1, (gid_t)gid) < 0))
		log_warn("control: permissions of %s", path);
	ctl = calloc(1, sizeof *ctl);
	if (!ctl || !(ctl->path = strdup(path))) {
		free(ctl);
		close(fd);
		unlink(path);
		return NULL;
	}
	ctl->loop = loop;
	ctl->ops = ops;
	{
		struct stat st;

		if (stat(path, &st) == 0) {
			ctl->dev = st.st_dev;
			ctl->ino = st.st_ino;
		}
	}
	ev_io_init(&ctl->io, accept_cb, fd, EV_READ);
	ctl->io.data = ctl;
	ev_io_start(loop, &ctl->io);
	log_info("control socket %s", path);
	return ctl;
}

void control_stop(struct control *ctl)
{
	if (!ctl)
		return;
	for (struct conn *c = ctl->conns, *next; c; c = next) {
		next = c->next;
		ev_io_stop(ctl->loop, &c->io);
		ev_timer_stop(ctl->loop, &c->timer);
		close(c->io.fd);
		free(c->out);
		free(c);
	}
	ctl->conns = NULL;
	ev_io_stop(ctl->loop, &ctl->io);
	close(ctl->io.fd);
	{
		struct stat st;

		/* only our own socket: another instance may have replaced it */
		if (stat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
			unlink(ctl->path);
	}
	free(ctl->path);
	free(ctl);
}
