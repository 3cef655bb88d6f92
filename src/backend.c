/* SPDX-License-Identifier: GPL-2.0-or-later */
/* backend: identity, address, admin and health state, load and counters. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

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

int backend_set_init(struct backend_set *bs, const struct conf *c)
{
	memset(bs, 0, sizeof *bs);
	bs->v = calloc(c->n_backends, sizeof *bs->v);
	if (!bs->v)
		return -ENOMEM;
	for (unsigned i = 0; i < c->n_backends; i++) {
		const struct conf_backend *cb = &c->backends[i];
		struct backend *b = calloc(1, sizeof *b);

		if (!b) {
			backend_set_free(bs);
			return -ENOMEM;
		}
		memcpy(b->name, cb->name, sizeof b->name);
		b->id = i;
		b->addr = cb->address;
		b->weight = cb->weight;
		b->admin = cb->state;
		b->health = HEALTH_UP;
		bs->v[bs->n++] = b;
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
	return b->admin == ADMIN_ENABLED && b->health == HEALTH_UP;
}
