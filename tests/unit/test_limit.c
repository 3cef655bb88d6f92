/* SPDX-License-Identifier: GPL-2.0-or-later */
/* limit: token buckets, the bounded source table, the load meter, the replay cache. */
#include "config.h"

#include <criterion/criterion.h>
#include <sodium.h>

#include "limit.h"

static void init(void)
{
	cr_assert(sodium_init() >= 0);
}

TestSuite(limit, .init = init);

static union sockaddr_any ep(const char *s)
{
	union sockaddr_any a;

	cr_assert_eq(addr_parse(s, &a), 0, "%s", s);
	return a;
}

Test(limit, bucket_rate_and_burst)
{
	struct bucket b = { .tokens = 5, .last = 0 };
	int ok = 0;

	/* a burst of 5, then nothing at the same instant */
	for (int i = 0; i < 10; i++)
		ok += bucket_take(&b, 20, 5, 0);
	cr_assert_eq(ok, 5);
	/* 20 per second: one token every 50 ms */
	cr_assert(!bucket_take(&b, 20, 5, 0.049));
	cr_assert(bucket_take(&b, 20, 5, 0.051));
	/* over 10 s at most rate * 10 + burst */
	ok = 0;
	for (double t = 1; t < 11; t += 0.001)
		ok += bucket_take(&b, 20, 5, t);
	cr_assert(ok >= 199 && ok <= 205, "%d handshakes in 10 s", ok);
}

Test(limit, sources_share_a_bucket_per_address_and_v6_prefix)
{
	struct source_table *t = source_table_new(16, 20, 5);
	union sockaddr_any a = ep("192.0.2.1:1000"), b = ep("192.0.2.1:2000");
	union sockaddr_any c = ep("[2001:db8:1:2::1]:1000"), d = ep("[2001:db8:1:2::ffff]:9");
	union sockaddr_any e = ep("[2001:db8:1:3::1]:1000");
	struct source *sa, *sc;
	int ok = 0;

	cr_assert_not_null(t);
	sa = source_get(t, &a, 0);
	cr_assert_eq(source_get(t, &b, 0), sa, "ports of one address share an entry");
	sc = source_get(t, &c, 0);
	cr_assert_eq(source_get(t, &d, 0), sc, "addresses of one /64 share an entry");
	cr_assert_neq(source_get(t, &e, 0), sc);
	cr_assert_eq(source_table_count(t), 3);
	/* a new source starts one token short of a full bucket */
	for (int i = 0; i < 10; i++)
		ok += source_take(t, sa, 0);
	cr_assert_eq(ok, 4);
	source_table_free(t);
}

Test(limit, full_table_refuses_new_sources_and_collects_idle_ones)
{
	struct source_table *t = source_table_new(4, 20, 5);
	char buf[64];
	union sockaddr_any a;
	struct source *busy;

	cr_assert_not_null(t);
	for (int i = 0; i < 4; i++) {
		struct source *s;

		snprintf(buf, sizeof buf, "10.0.0.%d:1", i + 1);
		a = ep(buf);
		s = source_get(t, &a, 0);
		cr_assert_not_null(s);
		while (source_take(t, s, 0))
			;       /* spend the bucket: a source that just sent handshakes */
	}
	a = ep("10.0.0.99:1");
	cr_assert_null(source_get(t, &a, 0), "a full table refuses a new source");
	/* one source holds a session and keeps spending */
	a = ep("10.0.0.1:1");
	busy = source_get(t, &a, 0);
	source_session_add(busy);
	/* the others' buckets refill within burst/rate = 0.25 s: then they go */
	source_table_collect(t, 0.1);
	cr_assert_eq(source_table_count(t), 4, "sources with a recent handshake stay");
	source_table_collect(t, 1);
	cr_assert_eq(source_table_count(t), 1, "only the one with a session stays");
	a = ep("10.0.0.99:1");
	cr_assert_not_null(source_get(t, &a, 1));
	cr_assert_eq(source_sessions(busy), 1);
	source_session_del(busy);
	source_table_collect(t, 5);
	cr_assert_eq(source_table_count(t), 0);
	source_table_free(t);
}

Test(limit, load_meter_threshold_and_hold)
{
	struct load_meter m = { 0 };
	bool under = false;

	/* 100 per second at a threshold of 150: never under load */
	for (int i = 0; i < 300; i++)
		under |= load_meter_hit(&m, 150, 10 + i * 0.01);
	cr_assert(!under);
	/* 300 in one second: under load, and still for a second after it stops */
	for (int i = 0; i < 300; i++)
		under = load_meter_hit(&m, 150, 13 + i / 300.0);
	cr_assert(under);
	cr_assert(load_meter_under(&m, 14.5));
	cr_assert(!load_meter_under(&m, 15.1));
	load_meter_force(&m, 20);
	cr_assert(load_meter_under(&m, 20.5));
}

Test(limit, replay_cache_catches_repeats_within_lifetime)
{
	struct replay_cache *c = replay_cache_new(1024, 180);
	uint8_t mac[WG_MAC_LEN];
	int repeats = 0;

	cr_assert_not_null(c);
	for (int i = 0; i < 500; i++) {
		randombytes_buf(mac, sizeof mac);
		repeats += replay_cache_seen(c, mac, 1);
	}
	cr_assert_eq(repeats, 0, "fresh messages are never replays");
	memset(mac, 7, sizeof mac);
	cr_assert(!replay_cache_seen(c, mac, 1));
	cr_assert(replay_cache_seen(c, mac, 2));
	cr_assert(replay_cache_seen(c, mac, 100));
	/* remembered from its last sighting; older than the lifetime: new again */
	cr_assert(!replay_cache_seen(c, mac, 400));
	replay_cache_free(c);
}

Test(limit, replay_cache_is_bounded)
{
	struct replay_cache *c = replay_cache_new(64, 180);
	uint8_t first[WG_MAC_LEN], mac[WG_MAC_LEN];

	memset(first, 1, sizeof first);
	cr_assert(!replay_cache_seen(c, first, 0));
	/* many newer messages push the oldest out of a cache of 64 */
	for (int i = 0; i < 10000; i++) {
		randombytes_buf(mac, sizeof mac);
		replay_cache_seen(c, mac, 1 + i * 0.001);
	}
	cr_assert(!replay_cache_seen(c, first, 20), "evicted, so not recognised");
	replay_cache_free(c);
}
