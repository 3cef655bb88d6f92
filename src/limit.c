/* SPDX-License-Identifier: GPL-2.0-or-later */
/* limit: token buckets per source, load meter, replay cache. */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "limit.h"

bool bucket_take(struct bucket *b, double rate, double burst, double now)
{
	b->tokens += (now - b->last) * rate;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last = now;
	if (b->tokens < 1)
		return false;
	b->tokens -= 1;
	return true;
}

/* ---- sources ---- */

struct source {
	uint8_t key[17];             /* family byte, then /32 or /64 prefix */
	bool used;
	struct bucket b;
	unsigned sessions;
	uint32_t next;               /* chain, index + 1; 0 ends it */
};

struct source_table {
	struct source *v;
	uint32_t *heads;             /* index + 1 */
	uint32_t free_head;          /* free list through next */
	unsigned max, count, mask;
	unsigned cursor;             /* where the next collection goes on */
	double rate, burst;
	uint8_t hkey[crypto_shorthash_KEYBYTES];
};

static void source_key(uint8_t k[17], const union sockaddr_any *a)
{
	memset(k, 0, 17);
	if (a->sa.sa_family == AF_INET) {
		k[0] = 4;
		memcpy(k + 1, &a->in.sin_addr, 4);
	} else if (IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr)) {
		k[0] = 4;
		memcpy(k + 1, a->in6.sin6_addr.s6_addr + 12, 4);
	} else {
		/* a host owns a /64: WireGuard on Linux limits by /64 too */
		k[0] = 6;
		memcpy(k + 1, &a->in6.sin6_addr, 8);
	}
}

static unsigned source_bucket(const struct source_table *t, const uint8_t k[17])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint32_t v;

	crypto_shorthash(h, k, 17, t->hkey);
	memcpy(&v, h, sizeof v);
	return v & t->mask;
}

struct source_table *source_table_new(unsigned max_entries, double rate, double burst)
{
	struct source_table *t = calloc(1, sizeof *t);
	unsigned buckets = 64;

	if (!t)
		return NULL;
	while (buckets < max_entries)
		buckets *= 2;
	t->v = calloc(max_entries, sizeof *t->v);
	t->heads = calloc(buckets, sizeof *t->heads);
	if (!t->v || !t->heads) {
		source_table_free(t);
		return NULL;
	}
	t->max = max_entries;
	t->mask = buckets - 1;
	for (unsigned i = 0; i < max_entries; i++)
		t->v[i].next = i + 2 <= max_entries ? i + 2 : 0;
	t->free_head = max_entries ? 1 : 0;
	source_table_set_rate(t, rate, burst);
	randombytes_buf(t->hkey, sizeof t->hkey);
	return t;
}

void source_table_free(struct source_table *t)
{
	if (!t)
		return;
	free(t->v);
	free(t->heads);
	free(t);
}

void source_table_set_rate(struct source_table *t, double rate, double burst)
{
	t->rate = rate;
	t->burst = burst;
}

struct source *source_find(struct source_table *t, const union sockaddr_any *a)
{
	uint8_t k[17];
	uint32_t i;

	source_key(k, a);
	for (i = t->heads[source_bucket(t, k)]; i; i = t->v[i - 1].next)
		if (memcmp(t->v[i - 1].key, k, 17) == 0)
			return &t->v[i - 1];
	return NULL;
}

struct source *source_get(struct source_table *t, const union sockaddr_any *a, double now)
{
	struct source *s = source_find(t, a);
	unsigned b;
	uint32_t i;

	if (s)
		return s;
	if (!t->free_head)
		return NULL;
	i = t->free_head;
	s = &t->v[i - 1];
	t->free_head = s->next;
	source_key(s->key, a);
	s->used = true;
	s->sessions = 0;
	/* a new source starts one token short of a full bucket, as WireGuard's */
	s->b.tokens = t->burst - 1 > 0 ? t->burst - 1 : 0;
	s->b.last = now;
	b = source_bucket(t, s->key);
	s->next = t->heads[b];
	t->heads[b] = i;
	t->count++;
	return s;
}

bool source_take(struct source_table *t, struct source *s, double now)
{
	return bucket_take(&s->b, t->rate, t->burst, now);
}

unsigned source_sessions(const struct source *s)
{
	return s->sessions;
}

void source_session_add(struct source *s)
{
	s->sessions++;
}

void source_session_del(struct source *s)
{
	if (s->sessions)
		s->sessions--;
}

unsigned source_table_count(const struct source_table *t)
{
	return t->count;
}

/* buckets looked at per call: the work is spread over calls, not one burst */
#define COLLECT_BUCKETS 4096

void source_table_collect(struct source_table *t, double now)
{
	unsigned n = t->mask + 1 < COLLECT_BUCKETS ? t->mask + 1 : COLLECT_BUCKETS;

	for (unsigned k = 0; k < n; k++) {
		unsigned b = t->cursor++ & t->mask;
		uint32_t *pp = &t->heads[b];

		while (*pp) {
			struct source *s = &t->v[*pp - 1];
			double full = s->b.tokens + (now - s->b.last) * t->rate;

			if (s->sessions == 0 && full >= t->burst) {
				uint32_t i = *pp;

				*pp = s->next;
				s->used = false;
				s->next = t->free_head;
				t->free_head = i;
				t->count--;
			} else {
				pp = &s->next;
			}
		}
	}
}

/* ---- load ---- */

bool load_meter_hit(struct load_meter *m, double threshold, double now)
{
	if (now - m->window_start >= 1.0) {
		/* a whole idle second in between counts as zero */
		m->last_count = now - m->window_start < 2.0 ? m->count : 0;
		m->count = 0;
		m->window_start = now;
	}
	m->count++;
	/* the rate over the last second: this window, plus the previous one pro rata */
	if (m->count + m->last_count * (1.0 - (now - m->window_start)) > threshold)
		m->until = now + 1.0;
	return load_meter_under(m, now);
}

void load_meter_force(struct load_meter *m, double now)
{
	m->until = now + 1.0;
}

bool load_meter_under(const struct load_meter *m, double now)
{
	return now < m->until;
}

/* ---- replays ---- */

#define WAYS 4

struct replay_entry {
	uint8_t mac1[WG_MAC_LEN];
	double seen;
};

struct replay_cache {
	struct replay_entry *v;
	unsigned sets_mask;
	double lifetime;
	uint8_t hkey[crypto_shorthash_KEYBYTES];
};

struct replay_cache *replay_cache_new(unsigned entries, double lifetime)
{
	struct replay_cache *c = calloc(1, sizeof *c);
	unsigned sets = 1;

	if (!c)
		return NULL;
	while (sets * WAYS < entries)
		sets *= 2;
	c->v = calloc((size_t)sets * WAYS, sizeof *c->v);
	if (!c->v) {
		free(c);
		return NULL;
	}
	c->sets_mask = sets - 1;
	c->lifetime = lifetime;
	randombytes_buf(c->hkey, sizeof c->hkey);
	return c;
}

void replay_cache_free(struct replay_cache *c)
{
	if (!c)
		return;
	free(c->v);
	free(c);
}

bool replay_cache_seen(struct replay_cache *c, const uint8_t mac1[WG_MAC_LEN], double now)
{
	uint8_t h[crypto_shorthash_BYTES];
	struct replay_entry *set, *oldest;
	uint32_t v;

	/* keyed: a sender cannot aim many messages at one set to flush it */
	crypto_shorthash(h, mac1, WG_MAC_LEN, c->hkey);
	memcpy(&v, h, sizeof v);
	set = &c->v[(size_t)(v & c->sets_mask) * WAYS];
	oldest = set;
	for (int i = 0; i < WAYS; i++) {
		if (set[i].seen > 0 && memcmp(set[i].mac1, mac1, WG_MAC_LEN) == 0) {
			bool fresh = now - set[i].seen < c->lifetime;

			set[i].seen = now;
			return fresh;
		}
		if (set[i].seen < oldest->seen)
			oldest = &set[i];
	}
	memcpy(oldest->mac1, mac1, WG_MAC_LEN);
	oldest->seen = now;
	return false;
}
