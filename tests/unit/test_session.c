/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Session tables: lookup by endpoint and by index, rekey overlap, expiry. */
#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>

#include "backend.h"
#include "session.h"

static struct session_table *t;
static struct backend be_a = { .name = "a" }, be_b = { .name = "b" };

static void setup(void)
{
	cr_assert(sodium_init() >= 0);
	t = session_table_new();
	cr_assert_not_null(t);
}

static void free_cb(struct session *s, void *arg)
{
	session_remove(arg, s);
	session_free(s);
}

static void teardown(void)
{
	session_foreach(t, free_cb, t);
	cr_assert_eq(session_table_count(t), 0);
	session_table_free(t);
}

TestSuite(session, .init = setup, .fini = teardown);

static union sockaddr_any ep(const char *s)
{
	union sockaddr_any a;

	cr_assert_eq(addr_parse(s, &a), 0, "%s", s);
	return a;
}

static struct session *add(const char *client, struct backend *be, ev_tstamp now)
{
	union sockaddr_any a = ep(client);
	struct session *s = session_new(&a, now);

	cr_assert_not_null(s);
	s->be = be;
	cr_assert_eq(session_insert(t, s), 0);
	return s;
}

Test(session, find_by_endpoint_v4_v6_and_ports)
{
	struct session *s1 = add("192.0.2.1:1000", &be_a, 0);
	struct session *s2 = add("192.0.2.1:1001", &be_a, 0);
	struct session *s3 = add("[2001:db8::1]:1000", &be_b, 0);
	union sockaddr_any q;

	q = ep("192.0.2.1:1000");
	cr_assert_eq(session_find_by_endpoint(t, &q), s1);
	q = ep("192.0.2.1:1001");
	cr_assert_eq(session_find_by_endpoint(t, &q), s2);
	q = ep("[2001:db8::1]:1000");
	cr_assert_eq(session_find_by_endpoint(t, &q), s3);
	q = ep("192.0.2.2:1000");
	cr_assert_null(session_find_by_endpoint(t, &q));
	q = ep("[2001:db8::1]:1001");
	cr_assert_null(session_find_by_endpoint(t, &q));
	cr_assert_eq(session_table_count(t), 3);
}

Test(session, many_sessions_grow_and_remove)
{
	enum { N = 20000 };
	static struct session *v[N];
	char buf[64];

	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof buf, "10.%d.%d.%d:%d", i >> 16, (i >> 8) & 255, i & 255,
			 1024 + i % 50000);
		v[i] = add(buf, &be_a, 0);
		session_add_index(t, v[i], (uint32_t)i * 2654435761u, 0);
	}
	cr_assert_eq(session_table_count(t), N);
	for (int i = 0; i < N; i++) {
		bool amb;

		cr_assert_eq(session_find_by_endpoint(t, &v[i]->client), v[i]);
		cr_assert_eq(session_find_by_index(t, (uint32_t)i * 2654435761u, 1, &amb), v[i]);
		cr_assert(!amb);
	}
	for (int i = 0; i < N; i += 2) {
		union sockaddr_any a = v[i]->client;

		session_remove(t, v[i]);
		session_free(v[i]);
		cr_assert_null(session_find_by_endpoint(t, &a));
	}
	cr_assert_eq(session_table_count(t), N / 2);
	for (int i = 1; i < N; i += 2)
		cr_assert_eq(session_find_by_endpoint(t, &v[i]->client), v[i]);
}

Test(session, roaming_client_found_by_backend_index)
{
	struct session *s = add("198.51.100.7:40000", &be_a, 0);
	bool amb;

	session_add_index(t, s, 0xa54f3f71, 10);
	/* the same tunnel arriving from a new port is recognised by index */
	cr_assert_eq(session_find_by_index(t, 0xa54f3f71, 11, &amb), s);
	cr_assert(!amb);
	cr_assert_null(session_find_by_index(t, 0x47dc131a, 11, &amb));
	cr_assert(!amb);
	/* index 0 is a legal WireGuard index */
	session_add_index(t, s, 0, 12);
	cr_assert_eq(session_find_by_index(t, 0, 12, &amb), s);
}

Test(session, rekey_overlap_keeps_previous_and_current)
{
	struct session *s = add("198.51.100.7:40000", &be_a, 0);
	bool amb;

	session_add_index(t, s, 111, 0);    /* current */
	session_add_index(t, s, 222, 120);  /* rekey: next, 111 becomes previous */
	cr_assert_eq(session_find_by_index(t, 111, 121, &amb), s);
	cr_assert_eq(session_find_by_index(t, 222, 121, &amb), s);
	/* re-announcing an index refreshes it without using a slot */
	session_add_index(t, s, 222, 130);
	session_add_index(t, s, 333, 140);
	session_add_index(t, s, 444, 150);
	for (uint32_t i = 111; i <= 444; i += 111)
		cr_assert_eq(session_find_by_index(t, i, 151, &amb), s, "index %u", i);
	/* a fifth index replaces the oldest one (111) */
	session_add_index(t, s, 555, 160);
	cr_assert_null(session_find_by_index(t, 111, 161, &amb));
	for (uint32_t i = 222; i <= 555; i += 111)
		cr_assert_eq(session_find_by_index(t, i, 161, &amb), s, "index %u", i);
}

Test(session, index_expires_with_its_keypair)
{
	struct session *s = add("198.51.100.7:40000", &be_a, 0);
	bool amb;

	session_add_index(t, s, 7, 100);
	cr_assert_eq(session_find_by_index(t, 7, 100 + SESSION_INDEX_LIFETIME - 1, &amb), s);
	cr_assert_null(session_find_by_index(t, 7, 100 + SESSION_INDEX_LIFETIME + 1, &amb));
	cr_assert(!amb);
}

Test(session, index_collision_between_backends_is_ambiguous)
{
	struct session *s1 = add("198.51.100.7:40000", &be_a, 0);
	struct session *s2 = add("198.51.100.8:40000", &be_b, 0);
	struct session *s3 = add("198.51.100.9:40000", &be_a, 0);
	bool amb;

	session_add_index(t, s1, 42, 0);
	session_add_index(t, s2, 42, 0);
	cr_assert_null(session_find_by_index(t, 42, 1, &amb));
	cr_assert(amb);
	/* two sessions of one backend with one index: the same tunnel after a roam */
	session_add_index(t, s3, 43, 0);
	session_add_index(t, s1, 43, 0);
	cr_assert_not_null(session_find_by_index(t, 43, 1, &amb));
	cr_assert(!amb);
}

Test(session, clear_indices_and_remove_unlink_them)
{
	struct session *s = add("198.51.100.7:40000", &be_a, 0);
	bool amb;

	session_add_index(t, s, 1, 0);
	session_add_index(t, s, 2, 0);
	session_clear_indices(t, s);
	cr_assert_null(session_find_by_index(t, 1, 1, &amb));
	cr_assert_null(session_find_by_index(t, 2, 1, &amb));
	session_add_index(t, s, 3, 0);
	session_remove(t, s);
	cr_assert_null(session_find_by_index(t, 3, 1, &amb));
	session_free(s);
}

struct expired {
	int n;
	ev_tstamp at[64];
	struct session *who[64];
	ev_tstamp now;
};

static void on_expire(struct session *s, void *arg)
{
	struct expired *e = arg;

	e->who[e->n] = s;
	e->at[e->n++] = e->now;
	session_remove(t, s);
	session_free(s);
}

Test(session, idle_sessions_expire_active_ones_stay)
{
	enum { N = 32 };
	struct session *v[N];
	struct expired e = { 0 };
	const ev_tstamp timeout = 200, tick = timeout / SESSION_EXPIRY_STEPS;
	char buf[64];

	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof buf, "192.0.2.%d:5000", i + 1);
		v[i] = add(buf, &be_a, 0);
	}
	for (ev_tstamp now = 0; now <= 600; now += tick / 4) {
		e.now = now;
		/* even sessions send a packet every 10 s until t=300 */
		for (int i = 0; i < N; i += 2)
			if (now <= 300 && (int)now % 10 == 0 && v[i])
				session_touch(v[i], now);
		session_expire(t, now, timeout, on_expire, &e);
		for (int k = 0; k < e.n; k++)
			for (int i = 0; i < N; i++)
				if (v[i] == e.who[k])
					v[i] = NULL;
		if (now < timeout)
			cr_assert_eq(e.n, 0, "nothing idles out before %g s", timeout);
	}
	cr_assert_eq(e.n, N);
	cr_assert_eq(session_table_count(t), 0);
	for (int k = 0; k < e.n; k++) {
		/* odd sessions idle from 0, even ones from their last touch at 300 */
		bool idle_from_start = e.at[k] < 300 + timeout;

		if (idle_from_start) {
			cr_assert_geq(e.at[k], timeout);
			cr_assert_leq(e.at[k], timeout + tick + 1);
		} else {
			cr_assert_geq(e.at[k], 300 + timeout);
			cr_assert_leq(e.at[k], 300 + timeout + tick + 1);
		}
	}
	{
		int early = 0;

		for (int k = 0; k < e.n; k++)
			early += e.at[k] < 300 + timeout;
		cr_assert_eq(early, N / 2, "only the idle half expires at the first deadline");
	}
}

/*
 * An unanswered relayed handshake goes after SESSION_HANDSHAKE_TIMEOUT of
 * silence; one whose client keeps retrying, one that was answered and one
 * with a socket of its own (not pended) wait for the full timeout.
 */
Test(session, unanswered_handshakes_expire_early)
{
	struct session *flood = add("192.0.2.1:1000", &be_a, 0);
	struct session *retrying = add("192.0.2.2:1000", &be_a, 0);
	struct session *answered = add("192.0.2.3:1000", &be_a, 0);
	struct session *tunnel = add("192.0.2.4:1000", &be_a, 0);
	struct expired e = { 0 };
	const ev_tstamp timeout = 200, tick = timeout / SESSION_EXPIRY_STEPS;

	flood->init_pending = retrying->init_pending = true;
	flood->init_sender = 1;
	retrying->init_sender = 2;
	answered->init_sender = 3;
	session_pend(t, flood);
	session_pend(t, retrying);
	session_pend(t, answered);      /* answered: init_pending false */
	tunnel->init_pending = true;    /* its own socket, not pended */
	for (ev_tstamp now = 0; now <= 100; now += tick / 4) {
		e.now = now;
		if ((int)now % 5 == 0)
			session_touch(retrying, now);
		session_expire(t, now, timeout, on_expire, &e);
	}
	cr_assert_eq(e.n, 1, "%d expired", e.n);
	cr_assert_eq(e.who[0], flood);
	cr_assert_geq(e.at[0], SESSION_HANDSHAKE_TIMEOUT);
	cr_assert_leq(e.at[0], SESSION_HANDSHAKE_TIMEOUT + 2 * tick);
	cr_assert_eq(session_table_count(t), 3);
	cr_assert_null(session_find_pending(t, &be_a, 1), "unpended as it went");
	cr_assert_eq(session_find_pending(t, &be_a, 2), retrying);
	cr_assert_eq(session_find_pending(t, &be_a, 3), answered);
}

/*
 * Endpoint table under churn: random inserts and removals against a
 * reference, so that the backward shift of deletion never loses or
 * misplaces an entry of a probe run, across growths.
 */
Test(session, endpoint_table_churn_matches_reference)
{
	enum { N = 6000, STEPS = 60000 };
	static struct session *live[N];
	union sockaddr_any a = { 0 };
	unsigned n = 0;

	a.in.sin_family = AF_INET;
	for (unsigned step = 0; step < STEPS; step++) {
		unsigned x = randombytes_uniform(N);

		a.in.sin_addr.s_addr = htonl(0x0a000000u + x / 100);
		a.in.sin_port = htons((uint16_t)(1000 + x % 100));
		if (live[x]) {
			cr_assert_eq(session_find_by_endpoint(t, &a), live[x]);
			session_remove(t, live[x]);
			session_free(live[x]);
			live[x] = NULL;
			n--;
			cr_assert_null(session_find_by_endpoint(t, &a));
		} else {
			cr_assert_null(session_find_by_endpoint(t, &a));
			live[x] = session_new(&a, 0);
			cr_assert_not_null(live[x]);
			cr_assert_eq(session_insert(t, live[x]), 0);
			n++;
		}
		cr_assert_eq(session_table_count(t), n);
	}
	for (unsigned x = 0; x < N; x++) {
		a.in.sin_addr.s_addr = htonl(0x0a000000u + x / 100);
		a.in.sin_port = htons((uint16_t)(1000 + x % 100));
		cr_assert_eq(session_find_by_endpoint(t, &a), live[x], "endpoint %u", x);
		if (live[x]) {
			/* the batch steps find the same session */
			uint64_t h = session_endpoint_hash(t, &a);

			session_prefetch_bucket(t, h);
			cr_assert_eq(session_find_hashed(t, &a, h), live[x]);
		}
	}
}

/* Relayed handshakes are found by (backend, initiator index), and only while pending. */
Test(session, pending_by_backend_and_initiator_index)
{
	struct session *s1 = add("192.0.2.1:1000", &be_a, 0);
	struct session *s2 = add("192.0.2.2:1000", &be_b, 0);

	s1->init_sender = 0x11111111;
	session_pend(t, s1);
	s2->init_sender = 0x11111111;   /* the same index at another backend */
	session_pend(t, s2);
	cr_assert_eq(session_find_pending(t, &be_a, 0x11111111), s1);
	cr_assert_eq(session_find_pending(t, &be_b, 0x11111111), s2);
	cr_assert_null(session_find_pending(t, &be_a, 0x22222222));
	/* a retried initiation carries a new index: the old one is forgotten */
	s1->init_sender = 0x22222222;
	session_pend(t, s1);
	cr_assert_null(session_find_pending(t, &be_a, 0x11111111));
	cr_assert_eq(session_find_pending(t, &be_a, 0x22222222), s1);
	session_unpend(t, s1);
	cr_assert_null(session_find_pending(t, &be_a, 0x22222222));
	/* removal from the tables unpends too */
	session_remove(t, s2);
	cr_assert_null(session_find_pending(t, &be_b, 0x11111111));
	session_free(s2);
}
