/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wglbctl: command-line client of wglbd's control socket. Sends one
 * request line, reads the JSON answer, prints it as aligned tables (or
 * as JSON with -j). Exit status: 0 on success, 1 when wglbd answered
 * with an error (or, for "health", when no backend is up), 2 on usage
 * or connection errors.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "control.h"

#define TIMEOUT_SECONDS 10

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wglbctl [-j] [-s SOCKET] COMMAND [ARGUMENT]\n"
		"commands:\n"
		"  status            counters and state of wglbd\n"
		"  backends          every backend: address, state, health, load\n"
		"  sessions [NAME]   client sessions (of one backend)\n"
		"  drain NAME        no new sessions on NAME; its tunnels move at their next handshake\n"
		"  enable NAME       NAME takes new sessions again\n"
		"  disable NAME      close NAME's sessions; it takes nothing\n"
		"  reload            re-read the configuration file\n"
		"  health            exit 0 when at least one backend is up\n"
		"options:\n"
		"  -j         print wglbd's JSON answer\n"
		"  -s SOCKET  control socket (default %s)\n"
		"  -V         print the version\n",
		WGLB_DEFAULT_CONTROL);
}

static char *ask(const char *path, const char *request)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = TIMEOUT_SECONDS };
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		fprintf(stderr, "wglbctl: socket path too long: %s\n", path);
		return NULL;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		fprintf(stderr, "wglbctl: %s: %s (is wglbd running?)\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0) {
		fprintf(stderr, "wglbctl: send: %s\n", strerror(errno));
		close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *nb = realloc(buf, cap + 65536);

			if (!nb) {
				fprintf(stderr, "wglbctl: out of memory\n");
				free(buf);
				close(fd);
				return NULL;
			}
			buf = nb;
			cap += 65536;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0) {
			fprintf(stderr, "wglbctl: receive: %s\n", strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* ---- tables ---- */

#define MAX_COLS 10

struct table {
	unsigned ncols;
	const char *head[MAX_COLS];
	char **cells;                   /* rows * ncols */
	unsigned rows;
};

static void table_row(struct table *t, ...)
{
	va_list ap;
	char **c = realloc(t->cells, (size_t)(t->rows + 1) * t->ncols * sizeof *c);

	if (!c)
		return;
	t->cells = c;
	va_start(ap, t);
	for (unsigned i = 0; i < t->ncols; i++)
		t->cells[t->rows * t->ncols + i] = strdup(va_arg(ap, const char *));
	va_end(ap);
	t->rows++;
}

static void table_print(struct table *t)
{
	size_t w[MAX_COLS];

	for (unsigned i = 0; i < t->ncols; i++) {
		w[i] = strlen(t->head[i]);
		for (unsigned r = 0; r < t->rows; r++) {
			const char *s = t->cells[r * t->ncols + i];
			size_t n = s ? strlen(s) : 0;

			if (n > w[i])
				w[i] = n;
		}
	}
	for (unsigned r = 0; r <= t->rows; r++) {
		for (unsigned i = 0; i < t->ncols; i++) {
			const char *s = r == 0 ? t->head[i] : t->cells[(r - 1) * t->ncols + i];

			if (i + 1 == t->ncols)
				printf("%s\n", s ? s : "");
			else
				printf("%-*s  ", (int)w[i], s ? s : "");
		}
	}
	for (unsigned i = 0; i < t->rows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

static const char *num(char buf[32], json_t *v)
{
	if (json_is_integer(v))
		snprintf(buf, 32, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, 32, "%.1f", json_real_value(v));
	else
		snprintf(buf, 32, "-");
	return buf;
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static void duration(char buf[32], double s)
{
	if (s < 120)
		snprintf(buf, 32, "%.0fs", s);
	else if (s < 7200)
		snprintf(buf, 32, "%.0fm", s / 60);
	else
		snprintf(buf, 32, "%.1fh", s / 3600);
}

static void print_backends(json_t *ans)
{
	struct table t = { .ncols = 9, .head = { "NAME", "ADDRESS", "STATE", "HEALTH", "REASON",
						 "WEIGHT", "SESSIONS", "HANDSHAKES", "ANSWERED" } };
	size_t i;
	json_t *b;

	json_array_foreach(json_object_get(ans, "backends"), i, b) {
		char w[32], s[32], f[32], c[32], state[48];

		snprintf(state, sizeof state, "%s%s", str(b, "state"),
			 json_is_true(json_object_get(b, "removed")) ? " (removed)" : "");
		table_row(&t, str(b, "name"), str(b, "address"), state, str(b, "health"),
			  str(b, "reason"), num(w, json_object_get(b, "weight")),
			  num(s, json_object_get(b, "sessions")),
			  num(f, json_object_get(b, "handshakes_forwarded")),
			  num(c, json_object_get(b, "handshakes_completed")));
	}
	table_print(&t);
}

static void print_sessions(json_t *ans)
{
	struct table t = { .ncols = 7, .head = { "CLIENT", "BACKEND", "STATE", "AGE", "IDLE",
						 "PACKETS-IN", "PACKETS-OUT" } };
	size_t i;
	json_t *s;

	json_array_foreach(json_object_get(ans, "sessions"), i, s) {
		char age[32], idle[32], in[32], out[32];

		duration(age, json_number_value(json_object_get(s, "age_seconds")));
		duration(idle, json_number_value(json_object_get(s, "idle_seconds")));
		table_row(&t, str(s, "client"), str(s, "backend"), str(s, "state"), age, idle,
			  num(in, json_object_get(s, "packets_to_backend")),
			  num(out, json_object_get(s, "packets_from_backend")));
	}
	table_print(&t);
	if (json_is_true(json_object_get(ans, "truncated")))
		printf("(only the first %d sessions are listed)\n", CONTROL_MAX_SESSIONS);
}

static void print_status(json_t *ans)
{
	json_t *drops = json_object_get(ans, "drops"), *v, *rl = json_object_get(ans, "reload");
	const char *key;
	char up[32], a[32], b[32];
	bool any = false;

	duration(up, json_number_value(json_object_get(ans, "uptime_seconds")));
	printf("wglbd %s, up %s, policy %s\n", str(ans, "version"), up, str(ans, "policy"));
	printf("sessions   %s", num(a, json_object_get(ans, "sessions")));
	printf(" (%s still in their first handshake)\n",
	       num(b, json_object_get(ans, "sessions_handshaking")));
	printf("backends   %s, %s up\n", num(a, json_object_get(ans, "backends")),
	       num(b, json_object_get(ans, "backends_up")));
	printf("packets    %s received, ", num(a, json_object_get(ans, "packets_received")));
	printf("%s sent\n", num(b, json_object_get(ans, "packets_sent")));
	printf("drops      ");
	json_object_foreach(drops, key, v) {
		if (json_integer_value(v) == 0)
			continue;
		printf("%s%s %s", any ? ", " : "", key, num(a, v));
		any = true;
	}
	printf("%s\n", any ? "" : "none");
	printf("reloads    %s succeeded, ", num(a, json_object_get(rl, "succeeded")));
	printf("%s failed%s\n", num(b, json_object_get(rl, "failed")),
	       json_is_false(json_object_get(rl, "last_ok")) ? " (the last one failed)" : "");
}

int main(int argc, char **argv)
{
	const char *path = WGLB_DEFAULT_CONTROL;
	struct control_request req;
	char line[CONTROL_MAX_LINE + 2], err[160], *raw;
	bool as_json = false;
	json_error_t jerr;
	json_t *ans;
	int opt, rc;
	size_t len = 0;

	while ((opt = getopt(argc, argv, "+js:hV")) != -1) {
		switch (opt) {
		case 'j':
			as_json = true;
			break;
		case 's':
			path = optarg;
			break;
		case 'V':
			printf("wglbctl %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return 2;
	}
	line[0] = '\0';
	for (int i = optind; i < argc; i++) {
		int n = snprintf(line + len, sizeof line - len, "%s%s", i > optind ? " " : "",
				 argv[i]);

		if (n < 0 || (size_t)n >= sizeof line - len) {
			fprintf(stderr, "wglbctl: command too long\n");
			return 2;
		}
		len += (size_t)n;
	}
	/* the same parser as wglbd: a bad command never reaches the socket */
	if (control_parse(line, &req, err, sizeof err) < 0) {
		fprintf(stderr, "wglbctl: %s\n", err);
		return 2;
	}
	strcat(line, "\n");
	raw = ask(path, line);
	if (!raw)
		return 2;
	ans = json_loads(raw, 0, &jerr);
	if (!json_is_object(ans)) {
		fprintf(stderr, "wglbctl: bad answer from wglbd: %s\n", jerr.text);
		free(raw);
		json_decref(ans);
		return 2;
	}
	rc = json_is_true(json_object_get(ans, "ok")) ? 0 : 1;
	if (as_json) {
		fputs(raw, stdout);
	} else if (rc != 0) {
		const char *e = str(ans, "error");
		size_t n = strlen(e);

		while (n > 0 && e[n - 1] == '\n')
			n--;
		fprintf(stderr, "wglbctl: %.*s\n", (int)n, e);
	} else {
		switch (req.cmd) {
		case CMD_STATUS:
			print_status(ans);
			break;
		case CMD_BACKENDS:
			print_backends(ans);
			break;
		case CMD_SESSIONS:
			print_sessions(ans);
			break;
		case CMD_DRAIN:
		case CMD_ENABLE:
		case CMD_DISABLE:
			printf("backend %s: %s\n", str(ans, "backend"), str(ans, "state"));
			break;
		case CMD_RELOAD:
			printf("reloaded\n");
			break;
		case CMD_HEALTH: {
			char a[32], b[32];

			printf("%s of %s backends up\n", num(a, json_object_get(ans, "up")),
			       num(b, json_object_get(ans, "total")));
			break;
		}
		case CMD__COUNT:
			break;
		}
	}
	json_decref(ans);
	free(raw);
	return rc;
}
