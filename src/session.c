/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * session: the tables that find a session for a datagram.
 *
 * Every table is hashed with SipHash under a random key, so that a remote
 * sender cannot aim many endpoints or indices at one bucket. The endpoint
 * table, on the path of every datagram, is open addressing with its keys
 * inline; the index tables are chained through links inside the session
 * (no allocation per index). All double in size as they fill.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backend.h"
#include "log.h"
#include "session.h"

#define MIN_BUCKETS 64u

struct exp_list {
	struct session *head, *tail;
};

struct session_table {
	uint8_t key[crypto_shorthash_KEYBYTES];
	struct ep_slot *ep;             /* by client endpoint: open addressing */
	unsigned ep_mask;
	unsigned count;
	struct session_index **ix;      /* by backend index */
	unsigned ix_mask;
	unsigned ix_count;
	struct session **pd;            /* by (backend, initiator index): relayed handshakes */
	unsigned pd_mask;
	unsigned pd_count;
	/* expiry lists, by list_time: every session, and the relayed handshakes */
	struct exp_list live, hs;
};

static uint64_t hash_bytes(const struct session_table *t, const void *p, size_t n)
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(out, p, n, t->key);
	memcpy(&h, out, sizeof h);
	return h;
}

/*
 * The endpoint table holds its keys: a lookup reads one cache line of
 * slots (two per line) and touches no session, so at a million sessions
 * it costs one cache miss, which a batch overlaps with its others.
 * Linear probing at most half full, deletion by backward shift (no
 * tombstones); the stored hash spares rehashing when entries move.
 */
#define EP_KEY_LEN 20

struct ep_slot {
	uint8_t key[EP_KEY_LEN];        /* address, port, family */
	uint32_t hash;                  /* low bits of the key's hash */
	struct session *s;              /* NULL: empty */
};

static void endpoint_key(const union sockaddr_any *a, uint8_t k[EP_KEY_LEN])
{
	memset(k, 0, EP_KEY_LEN);
	if (a->sa.sa_family == AF_INET) {
		memcpy(k, &a->in.sin_addr, 4);
		memcpy(k + 16, &a->in.sin_port, 2);
		k[18] = 4;
	} else {
		memcpy(k, &a->in6.sin6_addr, 16);
		memcpy(k + 16, &a->in6.sin6_port, 2);
		k[18] = 6;
	}
}

static uint64_t hash_endpoint(const struct session_table *t, const union sockaddr_any *a)
{
	uint8_t k[EP_KEY_LEN];

	endpoint_key(a, k);
	return hash_bytes(t, k, sizeof k);
}

static uint64_t hash_index(const struct session_table *t, uint32_t idx)
{
	return hash_bytes(t, &idx, sizeof idx);
}

static uint64_t hash_pending(const struct session_table *t, const struct backend *be,
			     uint32_t idx)
{
	uint8_t k[sizeof be + sizeof idx];

	memcpy(k, &be, sizeof be);
	memcpy(k + sizeof be, &idx, sizeof idx);
	return hash_bytes(t, k, sizeof k);
}

/*
 * Sessions are carved from 2 MiB chunks aligned to their size, which the
 * kernel may back with one huge page each (MADV_HUGEPAGE): a million
 * sessions then take a few hundred TLB entries instead of 150,000, and
 * a lookup's random access misses the cache but not the TLB. A chunk
 * that empties goes back to the system, except the last one with room.
 */
#define CHUNK_BYTES (2u << 20)

/* AddressSanitizer still sees a freed session as freed */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SLOT_FREED(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define SLOT_TAKEN(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define SLOT_FREED(p, n) ((void)(p), (void)(n))
#define SLOT_TAKEN(p, n) ((void)(p), (void)(n))
#endif

struct chunk {
	struct chunk *prev, *next;      /* chunks with a free slot */
	struct session *free;           /* free slots, linked through next_free */
	unsigned used;
	bool listed;
};

#define CHUNK_FIRST ((sizeof(struct chunk) + 63) & ~(size_t)63)
#define CHUNK_SLOT ((sizeof(struct session) + 63) & ~(size_t)63)

static struct chunk *partial;          /* one process, one loop: one allocator */
static unsigned n_partial;

static void chunk_list(struct chunk *c)
{
	c->prev = NULL;
	c->next = partial;
	if (partial)
		partial->prev = c;
	partial = c;
	c->listed = true;
	n_partial++;
}

static void chunk_unlist(struct chunk *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		partial = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->listed = false;
	n_partial--;
}

/* Big arrays get huge pages too, where the kernel allows them. */
static void *big_alloc(size_t bytes)
{
	void *p;

	if (bytes < CHUNK_BYTES)
		return aligned_alloc(64, (bytes + 63) & ~(size_t)63);  /* slots never straddle lines */
	p = aligned_alloc(CHUNK_BYTES, (bytes + CHUNK_BYTES - 1) & ~(size_t)(CHUNK_BYTES - 1));
	if (p)
		madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

static void *big_calloc(size_t n, size_t size)
{
	void *p = big_alloc(n * size);

	if (p)
		memset(p, 0, n * size);
	return p;
}

static struct chunk *chunk_new(void)
{
	struct chunk *c = big_alloc(CHUNK_BYTES);
	uint8_t *slot;

	if (!c)
		return NULL;
	memset(c, 0, sizeof *c);
	for (slot = (uint8_t *)c + CHUNK_FIRST; slot + CHUNK_SLOT <= (uint8_t *)c + CHUNK_BYTES;
	     slot += CHUNK_SLOT) {
		struct session *s = (struct session *)slot;

		s->next_free = c->free;
		c->free = s;
		SLOT_FREED(s, CHUNK_SLOT);
	}
	chunk_list(c);
	return c;
}

struct session_table *session_table_new(void)
{
	struct session_table *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->ep = big_calloc(MIN_BUCKETS, sizeof *t->ep);
	t->ix = calloc(MIN_BUCKETS, sizeof *t->ix);
	t->pd = calloc(MIN_BUCKETS, sizeof *t->pd);
	if (!t->ep || !t->ix || !t->pd) {
		free(t->ep);
		free(t->ix);
		free(t->pd);
		free(t);
		return NULL;
	}
	t->ep_mask = t->ix_mask = t->pd_mask = MIN_BUCKETS - 1;
	randombytes_buf(t->key, sizeof t->key);
	return t;
}

void session_table_free(struct session_table *t)
{
	if (!t)
		return;
	free(t->ep);
	free(t->ix);
	free(t->pd);
	free(t);
}

unsigned session_table_count(const struct session_table *t)
{
	return t->count;
}

struct session *session_new(const union sockaddr_any *client, ev_tstamp now)
{
	struct chunk *c = partial ? partial : chunk_new();
	struct session *s;

	if (!c)
		return NULL;
	s = c->free;
	SLOT_TAKEN(s, CHUNK_SLOT);
	c->free = s->next_free;
	c->used++;
	if (!c->free)
		chunk_unlist(c);
	memset(s, 0, sizeof *s);
	s->client = *client;
	s->created = s->last_active = s->list_time = now;
	s->io.fd = -1;
	return s;
}

void session_free(struct session *s)
{
	struct chunk *c;

	if (!s)
		return;
	c = (struct chunk *)((uintptr_t)s & ~(uintptr_t)(CHUNK_BYTES - 1));
	s->next_free = c->free;
	c->free = s;
	SLOT_FREED(s, CHUNK_SLOT);
	c->used--;
	if (!c->listed)
		chunk_list(c);
	if (c->used == 0 && n_partial > 1) {
		chunk_unlist(c);
		free(c);
	}
}

/* Grow a table when it holds more than one entry per bucket. Failing to grow is harmless. */
static void ep_place(struct ep_slot *v, unsigned mask, const struct ep_slot *e)
{
	unsigned i = e->hash & mask;

	while (v[i].s)
		i = (i + 1) & mask;
	v[i] = *e;
}

/* The endpoint table doubles when half full; failing that, inserts stop at three quarters. */
static void grow_ep(struct session_table *t)
{
	unsigned n = (t->ep_mask + 1) * 2;
	struct ep_slot *v = big_calloc(n, sizeof *v);

	if (!v)
		return;
	for (unsigned i = 0; i <= t->ep_mask; i++)
		if (t->ep[i].s)
			ep_place(v, n - 1, &t->ep[i]);
	free(t->ep);
	t->ep = v;
	t->ep_mask = n - 1;
}

static void grow_ix(struct session_table *t)
{
	unsigned n = (t->ix_mask + 1) * 2;
	struct session_index **v = big_calloc(n, sizeof *v);

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

static void grow_pd(struct session_table *t)
{
	unsigned n = (t->pd_mask + 1) * 2;
	struct session **v = big_calloc(n, sizeof *v);

	if (!v)
		return;
	for (unsigned i = 0; i <= t->pd_mask; i++) {
		struct session *s = t->pd[i], *next;

		for (; s; s = next) {
			unsigned b = (unsigned)hash_pending(t, s->pd_be, s->pd_idx) & (n - 1);

			next = s->pd_next;
			s->pd_next = v[b];
			v[b] = s;
		}
	}
	free(t->pd);
	t->pd = v;
	t->pd_mask = n - 1;
}

static struct exp_list *exp_list_of(struct session_table *t, const struct session *s)
{
	return s->pended ? &t->hs : &t->live;
}

static void exp_append(struct exp_list *l, struct session *s)
{
	s->exp_next = NULL;
	s->exp_prev = l->tail;
	if (l->tail)
		l->tail->exp_next = s;
	else
		l->head = s;
	l->tail = s;
}

static void exp_unlink(struct exp_list *l, struct session *s)
{
	if (s->exp_prev)
		s->exp_prev->exp_next = s->exp_next;
	else
		l->head = s->exp_next;
	if (s->exp_next)
		s->exp_next->exp_prev = s->exp_prev;
	else
		l->tail = s->exp_prev;
	s->exp_prev = s->exp_next = NULL;
}

static bool exp_linked(const struct exp_list *l, const struct session *s)
{
	return s->exp_prev || l->head == s;
}

/* From one expiry list to the tail of the other, keeping it ordered. */
static void exp_move(struct exp_list *from, struct exp_list *to, struct session *s)
{
	if (!exp_linked(from, s))
		return;         /* not in the table */
	exp_unlink(from, s);
	if (to->tail && to->tail->list_time > s->last_active)
		s->list_time = to->tail->list_time;
	else
		s->list_time = s->last_active;
	exp_append(to, s);
}


void session_unpend(struct session_table *t, struct session *s)
{
	struct session **pp;

	if (!s->pended)
		return;
	pp = &t->pd[hash_pending(t, s->pd_be, s->pd_idx) & t->pd_mask];
	for (; *pp; pp = &(*pp)->pd_next) {
		if (*pp == s) {
			*pp = s->pd_next;
			t->pd_count--;
			break;
		}
	}
	s->pd_next = NULL;
	s->pended = false;
	exp_move(&t->hs, &t->live, s);
}

void session_pend(struct session_table *t, struct session *s)
{
	unsigned b;

	session_unpend(t, s);
	if (t->pd_count >= t->pd_mask + 1)
		grow_pd(t);
	s->pd_be = s->be;
	s->pd_idx = s->init_sender;
	b = (unsigned)hash_pending(t, s->pd_be, s->pd_idx) & t->pd_mask;
	s->pd_next = t->pd[b];
	t->pd[b] = s;
	t->pd_count++;
	s->pended = true;
	exp_move(&t->live, &t->hs, s);
}

struct session *session_find_pending(const struct session_table *t, const struct backend *be,
				     uint32_t idx)
{
	struct session *s = t->pd[hash_pending(t, be, idx) & t->pd_mask];

	/* the newest of colliding initiators is first: it is the likeliest to be waiting */
	for (; s; s = s->pd_next)
		if (s->pd_be == be && s->pd_idx == idx)
			return s;
	return NULL;
}

int session_insert(struct session_table *t, struct session *s)
{
	struct ep_slot e;

	if (2 * (t->count + 1) > t->ep_mask + 1)
		grow_ep(t);
	/* a table that could not grow takes no more than three quarters: probes stay short */
	if (4 * (t->count + 1) > 3 * (t->ep_mask + 1))
		return -ENOMEM;
	endpoint_key(&s->client, e.key);
	e.hash = (uint32_t)hash_bytes(t, e.key, sizeof e.key);
	e.s = s;
	ep_place(t->ep, t->ep_mask, &e);
	t->count++;
	s->list_time = s->last_active;
	exp_append(exp_list_of(t, s), s);
	return 0;
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
	unsigned m = t->ep_mask, i = (unsigned)hash_endpoint(t, &s->client) & m;

	while (t->ep[i].s && t->ep[i].s != s)
		i = (i + 1) & m;
	if (t->ep[i].s) {
		/* backward shift: pull later entries of the run into the hole if that is nearer home */
		for (unsigned j = (i + 1) & m; t->ep[j].s; j = (j + 1) & m) {
			unsigned home = t->ep[j].hash & m;

			if (((j - home) & m) >= ((j - i) & m)) {
				t->ep[i] = t->ep[j];
				i = j;
			}
		}
		t->ep[i].s = NULL;
		t->count--;
	}
	session_clear_indices(t, s);
	session_unpend(t, s);
	exp_unlink(&t->live, s);
}

uint64_t session_endpoint_hash(const struct session_table *t, const union sockaddr_any *client)
{
	return hash_endpoint(t, client);
}

void session_prefetch_bucket(const struct session_table *t, uint64_t h)
{
	unsigned i = (unsigned)h & t->ep_mask;

	__builtin_prefetch(&t->ep[i]);
	/* the second slot of a line: a probe often continues into the next line */
	if (i & 1)
		__builtin_prefetch(&t->ep[(i + 1) & t->ep_mask]);
}

struct session *session_find_hashed(const struct session_table *t,
				    const union sockaddr_any *client, uint64_t h)
{
	unsigned m = t->ep_mask;
	uint8_t k[EP_KEY_LEN];

	endpoint_key(client, k);
	for (unsigned i = (unsigned)h & m; t->ep[i].s; i = (i + 1) & m) {
		if (t->ep[i].hash != (uint32_t)h || memcmp(t->ep[i].key, k, EP_KEY_LEN) != 0)
			continue;
		/* the key leaves out an IPv6 scope: link-local endpoints are told apart here */
		if (client->sa.sa_family == AF_INET6 && client->in6.sin6_scope_id &&
		    !addr_equal(&t->ep[i].s->client, client))
			continue;
		return t->ep[i].s;
	}
	return NULL;
}

struct session *session_find_by_endpoint(const struct session_table *t,
					 const union sockaddr_any *client)
{
	return session_find_hashed(t, client, hash_endpoint(t, client));
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

/*
 * The sessions of list l idle for step or more since they were last
 * looked at: freed if idle for timeout (or an unanswered handshake for
 * SESSION_HANDSHAKE_TIMEOUT), else put back at the tail.
 */
static void expire_list(struct session_table *t, struct exp_list *l, ev_tstamp now,
			ev_tstamp step, ev_tstamp timeout,
			void (*expire)(struct session *s, void *arg), void *arg)
{
	struct session *s;

	while ((s = l->head) && now - s->list_time >= step) {
		if (now - s->last_active >= timeout ||
		    (s->pended && s->init_pending && now - s->last_active >= SESSION_HANDSHAKE_TIMEOUT)) {
			expire(s, arg);
			continue;
		}
		exp_unlink(l, s);
		s->list_time = now;
		exp_append(l, s);
	}
}

void session_expire(struct session_table *t, ev_tstamp now, ev_tstamp timeout,
		    void (*expire)(struct session *s, void *arg), void *arg)
{
	/*
	 * Each list is ordered by list_time. A session is looked at once per
	 * step: sixteen looks per timeout period whatever the packet rate,
	 * and expiry at most one step late. Relayed handshakes have a list
	 * of their own, looked at every 5 s, so that an unanswered one goes
	 * soon without every session being looked at as often.
	 */
	expire_list(t, &t->live, now, timeout / SESSION_EXPIRY_STEPS, timeout, expire, arg);
	expire_list(t, &t->hs, now, SESSION_HANDSHAKE_TIMEOUT / 3, timeout, expire, arg);
}

void session_foreach(struct session_table *t, void (*cb)(struct session *s, void *arg),
		     void *arg)
{
	struct exp_list *lists[] = { &t->live, &t->hs };

	for (unsigned i = 0; i < 2; i++) {
		struct session *s = lists[i]->head, *next;

		for (; s; s = next) {
			next = s->exp_next;
			cb(s, arg);
		}
	}
}
