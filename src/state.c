/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * state: a JSON file (jansson) holding, per session, the client endpoint,
 * the VIP it talks to, its backend by name, the upstream socket's local
 * address and the backend's indices. Nothing in it is trusted blindly:
 * the version and age are checked, each entry is validated, backends
 * are matched by name, and the file is removed once read.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "session.h"
#include "state.h"

#define STATE_VERSION 1

struct save_ctx {
	json_t *list;
	ev_tstamp now;
};

static void save_one(struct session *s, void *arg)
{
	struct save_ctx *c = arg;
	char a[ADDR_STRLEN], l[ADDR_STRLEN], u[ADDR_STRLEN], v[ADDR_STRLEN];
	union sockaddr_any up = { 0 };
	socklen_t len = sizeof up;
	json_t *idx, *o;

	if (s->learning || !s->be)
		return;         /* nothing learned yet: nothing worth keeping */
	if (getsockname(s->io.fd, &up.sa, &len) < 0)
		return;
	addr_unmap(&up);
	idx = json_array();
	for (unsigned i = 0; i < SESSION_MAX_INDICES; i++)
		if (s->bidx[i].used && c->now - s->bidx[i].seen < SESSION_INDEX_LIFETIME)
			json_array_append_new(idx, json_integer(s->bidx[i].idx));
	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:f}", "client", addr_fmt(&s->client, a),
		      "listen", addr_fmt(proxy_session_listen(s), l), "backend", s->be->name,
		      "upstream", addr_fmt(&up, u), "indices", idx, "idle",
		      c->now - s->last_active);
	if (o && s->has_local) {
		union sockaddr_any loc = s->local;

		/* the local address has no port: give it one so that addr_parse reads it back */
		if (loc.sa.sa_family == AF_INET)
			loc.in.sin_port = htons(1);
		else
			loc.in6.sin6_port = htons(1);
		json_object_set_new(o, "local", json_string(addr_fmt(&loc, v)));
	}
	if (o)
		json_array_append_new(c->list, o);
}

/* Client addresses are nobody else's business: the file is created 0600. */
static int write_private(json_t *doc, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f;
	int rc;

	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -1;
	}
	rc = json_dumpf(doc, f, JSON_COMPACT);
	if (fflush(f) != 0 || fsync(fd) < 0)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

int state_save(struct proxy *px, const char *path, bool quiet)
{
	struct save_ctx c = { .list = json_array(), .now = proxy_now(px) };
	char tmp[4096];
	json_t *doc;
	int rc = 0;

	proxy_foreach_session(px, save_one, &c);
	doc = json_pack("{s:i, s:f, s:o}", "version", STATE_VERSION, "written", ev_time(),
			"sessions", c.list);
	if (!doc)
		return -ENOMEM;
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (write_private(doc, tmp) < 0 || rename(tmp, path) < 0) {
		rc = -errno ? -errno : -EIO;
		log_warn("state: writing %s", path);
		unlink(tmp);
	} else if (!quiet) {
		log_notice("state: %zu sessions written to %s", json_array_size(c.list), path);
	}
	json_decref(doc);
	return rc;
}

static bool get_addr(json_t *o, const char *key, union sockaddr_any *a)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && addr_parse(s, a) == 0;
}

unsigned state_load(struct proxy *px, struct backend_set *bs, const char *path, double max_age)
{
	json_error_t err;
	json_t *doc = json_load_file(path, 0, &err), *list, *o;
	unsigned restored = 0, skipped = 0;
	double written;
	size_t i;

	if (!doc) {
		if (access(path, F_OK) == 0)
			log_warnx("state: %s ignored: %s (line %d)", path, err.text, err.line);
		unlink(path);
		return 0;
	}
	written = json_number_value(json_object_get(doc, "written"));
	list = json_object_get(doc, "sessions");
	if (json_integer_value(json_object_get(doc, "version")) != STATE_VERSION ||
	    !json_is_array(list)) {
		log_warnx("state: %s ignored: not a wglbd state file of version %d", path,
			  STATE_VERSION);
		goto out;
	}
	if (ev_time() - written > max_age || written > ev_time() + 60) {
		log_warnx("state: %s ignored: written %.0f s ago, sessions would have expired",
			  path, ev_time() - written);
		goto out;
	}
	json_array_foreach(list, i, o) {
		union sockaddr_any client, listen, up, local;
		const char *bname = json_string_value(json_object_get(o, "backend"));
		struct backend *b = bname ? backend_find(bs, bname) : NULL;
		json_t *jidx = json_object_get(o, "indices"), *v;
		uint32_t idx[SESSION_MAX_INDICES];
		unsigned n_idx = 0;
		double idle = json_number_value(json_object_get(o, "idle")) + ev_time() - written;
		bool has_local = get_addr(o, "local", &local);
		size_t k;

		if (!b || b->admin == ADMIN_DISABLED || !get_addr(o, "client", &client) ||
		    !get_addr(o, "listen", &listen) || !get_addr(o, "upstream", &up) ||
		    idle < 0 || idle >= max_age) {
			skipped++;
			continue;
		}
		json_array_foreach(jidx, k, v) {
			json_int_t x = json_integer_value(v);

			if (json_is_integer(v) && x >= 0 && x <= 0xffffffffLL &&
			    n_idx < SESSION_MAX_INDICES)
				idx[n_idx++] = (uint32_t)x;
		}
		if (has_local) {
			if (local.sa.sa_family == AF_INET)
				local.in.sin_port = 0;
			else
				local.in6.sin6_port = 0;
		}
		if (proxy_restore_session(px, &listen, &client, has_local ? &local : NULL, b, &up,
					  idx, n_idx, idle) == 0)
			restored++;
		else
			skipped++;
	}
	log_notice("state: %u sessions restored from %s%s", restored, path,
		   skipped ? " (some entries skipped)" : "");
out:
	json_decref(doc);
	/* read once: a later crash must not bring these back */
	unlink(path);
	return restored;
}
