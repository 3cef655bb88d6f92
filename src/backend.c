/* SPDX-License-Identifier: GPL-2.0-or-later */
/* backend: identity, address, admin and health state, load and counters. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

const double probe_bucket_bounds[PROBE_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, INFINITY,
};

/* throughput is smoothed over about ten seconds */
#define RATE_TAU 10.0
/* a backend coming back starts with this share of its weight */
#define SLOW_START_FLOOR 0.1

const char *backend_health_name(enum backend_health h)
{
	switch (h) {
	case HEALTH_UP:
		return "up";
	case HEALTH_DOWN:
		return "down";
	}
	return "unknown";
}

const char *health_reason_name(enum health_reason r)
{
	switch (r) {
	case REASON_NONE:
		return "none";
	case REASON_INIT:
		return "init";
	case REASON_NO_RESPONSE:
		return "no_response";
	case REASON_REFUSED:
		return "refused";
	case REASON_BAD_RESPONSE:
		return "bad_response";
	case REASON_ROUTE:
		return "route";
	case REASON_ADMIN:
		return "admin";
	}
	return "unknown";
}

struct backend *backend_new(const struct conf_backend *cb, unsigned id)
{
	struct backend *b = calloc(1, sizeof *b);

	if (!b)
		return NULL;
	memcpy(b->name, cb->name, sizeof b->name);
	b->id = id;
	b->addr = cb->address;
	b->weight = cb->weight;
	b->admin = cb->state;
	b->check = cb->health;
	memcpy(b->source, cb->source, sizeof b->source);
	b->n_source = cb->n_source;
	b->route_ok = true;
	if (b->admin == ADMIN_DISABLED) {
		b->health = HEALTH_DOWN;
		b->reason = REASON_ADMIN;
	} else if (b->check.check == CHECK_HANDSHAKE) {
		b->health = HEALTH_DOWN;
		b->reason = REASON_INIT;
	} else {
		b->health = HEALTH_UP;
		b->reason = REASON_NONE;
	}
	return b;
}

int backend_set_add(struct backend_set *bs, struct backend *b)
{
	struct backend **v = realloc(bs->v, (bs->n + 1) * sizeof *v);

	if (!v)
		return -ENOMEM;
	bs->v = v;
	bs->v[bs->n++] = b;
	return 0;
}

void backend_set_del(struct backend_set *bs, struct backend *b)
{
	for (unsigned i = 0; i < bs->n; i++) {
		if (bs->v[i] == b) {
			memmove(bs->v + i, bs->v + i + 1, (bs->n - i - 1) * sizeof *bs->v);
			bs->n--;
			break;
		}
	}
	free(b);
}

int backend_set_init(struct backend_set *bs, const struct conf *c)
{
	memset(bs, 0, sizeof *bs);
	bs->policy = c->policy;
	bs->slow_start = c->slow_start;
	for (unsigned i = 0; i < c->n_backends; i++) {
		struct backend *b = backend_new(&c->backends[i], i);

		if (!b || backend_set_add(bs, b) < 0) {
			free(b);
			backend_set_free(bs);
			return -ENOMEM;
		}
	}
	return 0;
}

void backend_set_free(struct backend_set *bs)
{
	for (unsigned i = 0; i < bs->n; i++)
		free(bs->v[i]);
	free(bs->v);
	memset(bs, 0, sizeof *bs);
}

struct backend *backend_find(const struct backend_set *bs, const char *name)
{
	for (unsigned i = 0; i < bs->n; i++)
		if (strcmp(bs->v[i]->name, name) == 0)
			return bs->v[i];
	return NULL;
}

bool backend_eligible(const struct backend *b)
{
	return b->admin == ADMIN_ENABLED && b->health == HEALTH_UP && b->route_ok && !b->removed;
}

double backend_weight_now(const struct backend_set *bs, const struct backend *b, ev_tstamp now)
{
	double f = 1.0;

	if (bs->slow_start > 0 && b->up_since > 0 && now - b->up_since < bs->slow_start) {
		f = (now - b->up_since) / bs->slow_start;
		if (f < SLOW_START_FLOOR)
			f = SLOW_START_FLOOR;
	}
	return b->weight * f;
}

void backend_suspect(const struct backend_set *bs, struct backend *b, const char *why)
{
	if (bs->on_suspect)
		bs->on_suspect(b, why, bs->suspect_arg);
}

void backend_update_rates(struct backend_set *bs, double elapsed)
{
	double alpha = 1.0 - exp(-elapsed / RATE_TAU);

	if (elapsed <= 0)
		return;
	for (unsigned i = 0; i < bs->n; i++) {
		struct backend *b = bs->v[i];
		uint64_t bytes = b->c.tx_bytes + b->c.rx_bytes;
		double inst = (double)(bytes - b->rate_bytes) / elapsed;

		b->rate += alpha * (inst - b->rate);
		b->rate_bytes = bytes;
	}
}
