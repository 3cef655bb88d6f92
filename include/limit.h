/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * limit: admission control at the edge. Token buckets per source
 * address (IPv4 /32, IPv6 /64 like Linux WireGuard) that also count the
 * source's sessions, in a table of fixed size whose idle entries are
 * collected; a global bucket; a meter that says when wglbd is under
 * load; and a cache of recently seen mac1 values that catches replayed
 * handshake messages. Nothing here allocates after creation.
 */
#ifndef WGLB_LIMIT_H
#define WGLB_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "wg.h"

struct bucket {
	double tokens;
	double last;
};

/* Take one token from a bucket of rate/s holding at most burst. */
bool bucket_take(struct bucket *b, double rate, double burst, double now);

struct source;
struct source_table;

struct source_table *source_table_new(unsigned max_entries, double rate, double burst);
void source_table_free(struct source_table *t);
void source_table_set_rate(struct source_table *t, double rate, double burst);
/*
 * The entry of a source address, created when missing. NULL when the
 * table is full of sources that are not idle: a new source is refused
 * rather than an existing one forgotten.
 */
struct source *source_get(struct source_table *t, const union sockaddr_any *a, double now);
/* Look up without creating. */
struct source *source_find(struct source_table *t, const union sockaddr_any *a);
/* One handshake (or cookie reply) from this source, if its bucket allows. */
bool source_take(struct source_table *t, struct source *s, double now);
unsigned source_sessions(const struct source *s);
void source_session_add(struct source *s);
void source_session_del(struct source *s);
unsigned source_table_count(const struct source_table *t);
/*
 * Forget sources whose bucket is full again and that hold no session;
 * each call looks at the next few thousand buckets, round and round.
 */
void source_table_collect(struct source_table *t, double now);

/*
 * Under load: more handshakes per second than threshold (measured over
 * the last second), or set from outside (table nearly full). Stays so
 * for one second after the cause is gone, as WireGuard does.
 */
struct load_meter {
	double window_start;
	unsigned count, last_count;
	double until;
};
/* Count one handshake; returns whether wglbd is under load now. */
bool load_meter_hit(struct load_meter *m, double threshold, double now);
void load_meter_force(struct load_meter *m, double now);
bool load_meter_under(const struct load_meter *m, double now);

/*
 * Recently seen handshake messages by mac1: a set-associative cache, each
 * entry remembered for at most lifetime seconds. A legitimate
 * retransmission is always a new message, so a repeat is a replay or a
 * duplicate.
 */
struct replay_cache;
struct replay_cache *replay_cache_new(unsigned entries, double lifetime);
void replay_cache_free(struct replay_cache *c);
/* true when mac1 was seen within the lifetime (and remembers it either way) */
bool replay_cache_seen(struct replay_cache *c, const uint8_t mac1[WG_MAC_LEN], double now);

#endif
