/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * session: the tables that find a session for a datagram.
 *
 * Both tables are chained hash tables with intrusive links (no allocation
 * per lookup or per index), hashed with SipHash under a random key so that
 * a remote sender cannot aim many endpoints or indices at one chain.
 * They double in size when the load passes one entry per bucket.
 */
#include "config.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "session.h"

#define MIN_BUCKETS 64u

struct session_table {
	uint8_t key[crypto_shorthash_KEYBYTES];
	struct session **ep;            /* by client endpoint */
	unsigned ep_mask;
	unsigned count;
	struct session_index **ix;      /* by backend index */
	unsigned ix_mask;
	unsigned ix_count;
	struct session *exp_head, *exp_tail;   /* expiry list, by list_time */
};

static uint64_t hash_bytes(const struct session_table *t, const void *p, size_t n)
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(out, p, n, t->key);
	memcpy(&h, out, sizeof h);
	return h;
}

static uint64_t hash_endpoint(const struct session_table *t, const union sockaddr_any *a)
{
	uint8_t k[20] = { 0 };

	if (a->sa.sa_family == AF_INET) {
		memcpy(k, &a->in.sin_addr, 4);
		memcpy(k + 16, &a->in.sin_port, 2);
		k[18] = 4;
	} else {
		memcpy(k, &a->in6.sin6_addr, 16);
		memcpy(k + 16, &a->in6.sin6_port, 2);
		k[18] = 6;
	}
	return hash_bytes(t, k, sizeof k);
}

static uint64_t hash_index(const struct session_table *t, uint32_t idx)
{
	return hash_bytes(t, &idx, sizeof idx);
}

struct session_table *session_table_new(void)
{
	struct session_table *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->ep = calloc(MIN_BUCKETS, sizeof *t->ep);
	t->ix = calloc(MIN_BUCKETS, sizeof *t->ix);
	if (!t->ep || !t->ix) {
		free(t->ep);
		free(t->ix);
		free(t);
		return NULL;
	}
	t->ep_mask = t->ix_mask = MIN_BUCKETS - 1;
	randombytes_buf(t->key, sizeof t->key);
	return t;
}

void session_table_free(struct session_table *t)
{
	if (!t)
		return;
	free(t->ep);
	free(t->ix);
	free(t);
}

unsigned session_table_count(const struct session_table *t)
{
	return t->count;
}

struct session *session_new(const union sockaddr_any *client, ev_tstamp now)
{
	struct session *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->client = *client;
	s->created = s->last_active = s->list_time = now;
	s->io.fd = -1;
	return s;
}

/* Grow a table when it holds more than one entry per bucket. Failing to grow is harmless. */
static void grow_ep(struct session_table *t)
{
	unsigned n = (t->ep_mask + 1) * 2;
	struct session **v = calloc(n, sizeof *v);

	if (!v)
		return;
	for (unsigned i = 0; i <= t->ep_mask; i++) {
		struct session *s = t->ep[i], *next;

		for (; s; s = next) {
			unsigned b = (unsigned)hash_endpoint(t, &s->client) & (n - 1);

			next = s->ep_next;
			s->ep_next = v[b];
			v[b] = s;
		}
	}
	free(t->ep);
	t->ep = v;
	t->ep_mask = n - 1;
}

static void grow_ix(struct session_table *t)
{
	unsigned n = (t->ix_mask + 1) * 2;
	struct session_index **v = calloc(n, sizeof *v);

	if (!v)
		return;
	for (unsigned i = 0; i <= t->ix_mask; i++) {
		struct session_index *e = t->ix[i], *next;

		for (; e; e = next) {
			unsigned b = (unsigned)hash_index(t, e->idx) & (n - 1);

			next = e->next;
			e->next = v[b];
			v[b] = e;
		}
	}
	free(t->ix);
	t->ix = v;
	t->ix_mask = n - 1;
}

static void exp_append(struct session_table *t, struct session *s)
{
	s->exp_next = NULL;
	s->exp_prev = t->exp_tail;
	if (t->exp_tail)
		t->exp_tail->exp_next = s;
	else
		t->exp_head = s;
	t->exp_tail = s;
}

static void exp_unlink(struct session_table *t, struct session *s)
{
	if (s->exp_prev)
		s->exp_prev->exp_next = s->exp_next;
	else
		t->exp_head = s->exp_next;
	if (s->exp_next)
		s->exp_next->exp_prev = s->exp_prev;
	else
		t->exp_tail = s->exp_prev;
	s->exp_prev = s->exp_next = NULL;
}

void session_insert(struct session_table *t, struct session *s)
{
	unsigned b;

	if (t->count >= t->ep_mask + 1)
		grow_ep(t);
	b = (unsigned)hash_endpoint(t, &s->client) & t->ep_mask;
	s->ep_next = t->ep[b];
	t->ep[b] = s;
	t->count++;
	s->list_time = s->last_active;
	exp_append(t, s);
}

static void ix_unlink(struct session_table *t, struct session_index *e)
{
	struct session_index **pp = &t->ix[hash_index(t, e->idx) & t->ix_mask];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			t->ix_count--;
			break;
		}
	}
	e->next = NULL;
	e->used = false;
}

bool session_has_index(const struct session *s, uint32_t idx, ev_tstamp now)
{
	for (unsigned i = 0; i < SESSION_MAX_INDICES; i++)
		if (s->bidx[i].used && s->bidx[i].idx == idx &&
		    now - s->bidx[i].seen <= SESSION_INDEX_LIFETIME)
			return true;
	return false;
}

void session_clear_indices(struct session_table *t, struct session *s)
{
	for (unsigned i = 0; i < SESSION_MAX_INDICES; i++)
		if (s->bidx[i].used)
			ix_unlink(t, &s->bidx[i]);
}

void session_remove(struct session_table *t, struct session *s)
{
	struct session **pp = &t->ep[hash_endpoint(t, &s->client) & t->ep_mask];

	for (; *pp; pp = &(*pp)->ep_next) {
		if (*pp == s) {
			*pp = s->ep_next;
			t->count--;
			break;
		}
	}
	s->ep_next = NULL;
	session_clear_indices(t, s);
	exp_unlink(t, s);
}

struct session *session_find_by_endpoint(const struct session_table *t,
					 const union sockaddr_any *client)
{
	struct session *s = t->ep[hash_endpoint(t, client) & t->ep_mask];

	for (; s; s = s->ep_next)
		if (addr_equal(&s->client, client))
			return s;
	return NULL;
}

struct session *session_find_by_index(const struct session_table *t, uint32_t idx,
				      ev_tstamp now, bool *ambiguous)
{
	struct session_index *e = t->ix[hash_index(t, idx) & t->ix_mask];
	struct session *found = NULL;

	*ambiguous = false;
	for (; e; e = e->next) {
		if (e->idx != idx || now - e->seen > SESSION_INDEX_LIFETIME)
			continue;
		if (!found) {
			found = e->owner;
		} else if (found->be != e->owner->be) {
			/*
			 * Two backends chose the same index: the datagram cannot
			 * be attributed. Sessions of one backend that share it are
			 * the same tunnel seen from several endpoints; any will do.
			 */
			*ambiguous = true;
			return NULL;
		}
	}
	return found;
}

void session_add_index(struct session_table *t, struct session *s, uint32_t idx,
		       ev_tstamp now)
{
	struct session_index *slot = NULL;
	unsigned b;

	for (unsigned i = 0; i < SESSION_MAX_INDICES; i++) {
		struct session_index *e = &s->bidx[i];

		if (e->used && e->idx == idx) {
			e->seen = now;
			return;
		}
		if (!e->used) {
			if (!slot || slot->used)
				slot = e;
		} else if (!slot || (slot->used && e->seen < slot->seen)) {
			slot = e;       /* oldest, unless a free one turns up */
		}
	}
	if (slot->used)
		ix_unlink(t, slot);
	if (t->ix_count >= t->ix_mask + 1)
		grow_ix(t);
	slot->idx = idx;
	slot->used = true;
	slot->seen = now;
	slot->owner = s;
	b = (unsigned)hash_index(t, idx) & t->ix_mask;
	slot->next = t->ix[b];
	t->ix[b] = slot;
	t->ix_count++;
}

void session_expire(struct session_table *t, ev_tstamp now, ev_tstamp timeout,
		    void (*expire)(struct session *s, void *arg), void *arg)
{
	/*
	 * The list is ordered by list_time. A session is looked at once per
	 * step: freed if idle for the whole timeout, else put back at the
	 * tail. Sixteen looks per timeout period, whatever the packet rate,
	 * and expiry at most one step late.
	 */
	ev_tstamp step = timeout / SESSION_EXPIRY_STEPS;
	struct session *s;

	while ((s = t->exp_head) && now - s->list_time >= step) {
		if (now - s->last_active >= timeout) {
			expire(s, arg);
			continue;
		}
		exp_unlink(t, s);
		s->list_time = now;
		exp_append(t, s);
	}
}

void session_foreach(struct session_table *t, void (*cb)(struct session *s, void *arg),
		     void *arg)
{
	struct session *s = t->exp_head, *next;

	for (; s; s = next) {
		next = s->exp_next;
		cb(s, arg);
	}
}
