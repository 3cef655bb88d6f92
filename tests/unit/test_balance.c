/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Steering policies: distribution properties over many draws (weights,
 * ties, stability of hashing), eligibility, avoidance, overload and slow
 * start, and a simulation of skewed client rates for least-load.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <sodium.h>

#include "balance.h"

#define NB 4
static struct backend b[NB];
static struct backend *bv[NB];
static struct backend_set bs;
static union sockaddr_any client;
static const ev_tstamp now = 1000;

static void setup(void)
{
	cr_assert(sodium_init() >= 0);
	for (int i = 0; i < NB; i++) {
		memset(&b[i], 0, sizeof b[i]);
		snprintf(b[i].name, sizeof b[i].name, "b%d", i);
		b[i].weight = 1;
		b[i].admin = ADMIN_ENABLED;
		b[i].health = HEALTH_UP;
		b[i].route_ok = true;
		bv[i] = &b[i];
	}
	memset(&bs, 0, sizeof bs);
	bs.v = bv;
	bs.n = 3;
	bs.policy = POLICY_LEAST_SESSIONS;
	cr_assert_eq(addr_parse("198.51.100.1:40000", &client), 0);
}

TestSuite(balance, .init = setup);

static struct backend *pick(const struct backend *avoid)
{
	return balance_pick(&bs, &client, avoid, now);
}

/* Sessions accumulate as they are steered: shares follow the weights. */
Test(balance, least_sessions_weights_respected)
{
	const unsigned w[3] = { 1, 2, 5 }, total = 8000;

	for (int i = 0; i < 3; i++)
		b[i].weight = w[i];
	for (unsigned n = 0; n < total; n++) {
		struct backend *p = pick(NULL);

		cr_assert_not_null(p);
		p->sessions++;
	}
	for (int i = 0; i < 3; i++) {
		double want = (double)total * w[i] / 8.0;

		/* deterministic up to ties: within one session per unit of weight */
		cr_assert(fabs(b[i].sessions - want) <= w[i] + 1,
			  "backend %d weight %u: %u sessions, want about %.0f", i, w[i],
			  b[i].sessions, want);
	}
}

Test(balance, least_sessions_fills_the_least_loaded_first)
{
	b[0].sessions = 10;
	b[1].sessions = 3;
	b[2].sessions = 7;
	cr_assert_eq(pick(NULL), &b[1]);
	b[0].weight = 5;   /* 11/5 per unit of weight, below 4 */
	cr_assert_eq(pick(NULL), &b[0]);
}

Test(balance, least_sessions_ties_are_shared)
{
	unsigned hits[3] = { 0 };

	/* equal load and nothing accumulates: random tie-breaking spreads picks */
	for (int n = 0; n < 3000; n++)
		hits[pick(NULL) - b]++;
	for (int i = 0; i < 3; i++)
		cr_assert(hits[i] > 800 && hits[i] < 1200, "backend %d: %u of 3000", i, hits[i]);
}

Test(balance, round_robin_is_smooth_and_weighted)
{
	const unsigned w[3] = { 1, 2, 5 };
	unsigned hits[3] = { 0 }, run = 0, max_run = 0;
	struct backend *prev = NULL;

	bs.policy = POLICY_ROUND_ROBIN;
	for (int i = 0; i < 3; i++)
		b[i].weight = w[i];
	for (int n = 0; n < 800; n++) {
		struct backend *p = pick(NULL);

		hits[p - b]++;
		run = p == prev ? run + 1 : 1;
		if (run > max_run)
			max_run = run;
		prev = p;
	}
	/* exact shares over whole cycles */
	cr_assert_eq(hits[0], 100);
	cr_assert_eq(hits[1], 200);
	cr_assert_eq(hits[2], 500);
	/* smooth: the heavy backend never takes a long run */
	cr_assert_leq(max_run, 2);
}

static void client_n(union sockaddr_any *a, unsigned n)
{
	char s[64];

	snprintf(s, sizeof s, "10.%u.%u.%u:5555", (n >> 16) & 255, (n >> 8) & 255, n & 255);
	cr_assert_eq(addr_parse(s, a), 0);
}

Test(balance, hash_is_stable_and_weighted)
{
	enum { N = 20000 };
	static struct backend *first[N];
	unsigned hits[NB] = { 0 }, moved = 0;
	const unsigned w[NB] = { 1, 1, 2, 4 };

	bs.policy = POLICY_HASH;
	bs.n = NB;
	for (int i = 0; i < NB; i++)
		b[i].weight = w[i];
	for (unsigned n = 0; n < N; n++) {
		union sockaddr_any a;

		client_n(&a, n);
		first[n] = balance_pick(&bs, &a, NULL, now);
		hits[first[n] - b]++;
		/* the same client IP, another port: the same answer */
		a.in.sin_port = htons(1234);
		cr_assert_eq(balance_pick(&bs, &a, NULL, now), first[n]);
	}
	/* weights honoured within 5 % of the expected share */
	for (int i = 0; i < NB; i++) {
		double want = N * w[i] / 8.0;

		cr_assert(fabs(hits[i] - want) < 0.05 * want, "backend %d: %u, want %.0f", i,
			  hits[i], want);
	}
	/* take b1 out: only its clients move, and they spread over the rest */
	b[1].health = HEALTH_DOWN;
	for (unsigned n = 0; n < N; n++) {
		union sockaddr_any a;
		struct backend *p;

		client_n(&a, n);
		p = balance_pick(&bs, &a, NULL, now);
		if (first[n] != &b[1])
			cr_assert_eq(p, first[n], "client %u moved although its backend stayed", n);
		else
			moved++;
		cr_assert_neq(p, &b[1]);
	}
	cr_assert_eq(moved, hits[1]);
}

Test(balance, hash_avoid_takes_the_next_choice)
{
	struct backend *p, *q;

	bs.policy = POLICY_HASH;
	p = pick(NULL);
	q = pick(p);
	cr_assert_neq(q, p);
	cr_assert_eq(pick(p), q, "the second choice is stable too");
}

Test(balance, only_enabled_up_and_routed_backends)
{
	for (int pol = POLICY_LEAST_LOAD; pol <= POLICY_HASH; pol++) {
		setup();
		bs.policy = pol;
		b[0].admin = ADMIN_DRAIN;
		b[1].health = HEALTH_DOWN;
		b[2].sessions = 1000;
		for (int n = 0; n < 50; n++)
			cr_assert_eq(pick(NULL), &b[2], "policy %s", balance_policy_name(pol));
		b[2].route_ok = false;
		cr_assert_null(pick(NULL));
		b[2].route_ok = true;
		b[2].admin = ADMIN_DISABLED;
		cr_assert_null(pick(NULL), "policy %s", balance_policy_name(pol));
	}
}

Test(balance, avoid_unless_it_is_the_only_one)
{
	for (int pol = POLICY_LEAST_LOAD; pol <= POLICY_HASH; pol++) {
		setup();
		bs.policy = pol;
		b[1].sessions = 0;
		b[0].sessions = b[2].sessions = 50;
		for (int n = 0; n < 100; n++) {
			struct backend *p = pick(&b[1]);

			cr_assert(p == &b[0] || p == &b[2], "policy %s", balance_policy_name(pol));
		}
		b[0].health = HEALTH_DOWN;
		b[2].admin = ADMIN_DRAIN;
		cr_assert_eq(pick(&b[1]), &b[1]);
		b[1].health = HEALTH_DOWN;
		cr_assert_null(pick(&b[1]));
	}
}

Test(balance, overloaded_only_as_a_last_resort)
{
	b[0].overloaded_until = now + 1;
	b[1].overloaded_until = now - 1;     /* expired */
	b[1].sessions = 100;
	b[2].sessions = 100;
	for (int n = 0; n < 50; n++)
		cr_assert_neq(pick(NULL), &b[0]);
	b[1].health = b[2].health = HEALTH_DOWN;
	cr_assert_eq(pick(NULL), &b[0]);
}

Test(balance, slow_start_ramps_a_returning_backend)
{
	bs.slow_start = 10;
	b[2].up_since = now - 1;             /* 10 % of its weight */
	for (int n = 0; n < 2100; n++)
		pick(NULL)->sessions++;
	cr_assert(b[2].sessions > 50 && b[2].sessions < 150, "ramping backend took %u",
		  b[2].sessions);
	cr_assert(b[0].sessions > 900 && b[1].sessions > 900);
	/* after the ramp it is a full member */
	b[2].up_since = now - 20;
	cr_assert_eq(pick(NULL), &b[2]);
}

/*
 * Clients with very different rates arrive one by one; the balancer sees
 * each backend's throughput (as the EWMA would after settling). Least-load
 * must spread throughput far more evenly than counting sessions does.
 */
static double simulate(enum balance_policy pol, uint32_t seed)
{
	double load[3] = { 0 }, max = 0, min = INFINITY;

	setup();
	bs.policy = pol;
	for (int n = 0; n < 600; n++) {
		struct backend *p = pick(NULL);
		double r;

		seed = seed * 1103515245u + 12345u;
		r = (seed >> 16) % 10 == 0 ? 1000.0 : 10.0;  /* one client in ten is heavy */
		p->sessions++;
		load[p - b] += r;
		p->rate = load[p - b];
	}
	for (int i = 0; i < 3; i++) {
		if (load[i] > max)
			max = load[i];
		if (load[i] < min)
			min = load[i];
	}
	return max / min;
}

Test(balance, least_load_evens_out_skewed_rates)
{
	enum { RUNS = 50 };
	double ll = 0, ls = 0;

	/* tie-breaking is random: compare the means of many runs */
	for (uint32_t seed = 1; seed <= RUNS; seed++) {
		ll += simulate(POLICY_LEAST_LOAD, seed) / RUNS;
		ls += simulate(POLICY_LEAST_SESSIONS, seed) / RUNS;
	}
	cr_log_info("mean max/min throughput: least-load %.3f, least-sessions %.3f", ll, ls);
	cr_assert_lt(ll, 1.3, "least-load mean max/min throughput %.3f", ll);
	cr_assert_lt(ll, ls - 0.1, "least-load %.3f not clearly better than least-sessions %.3f",
		     ll, ls);
}

Test(balance, least_load_weights_respected)
{
	const unsigned w[3] = { 1, 2, 5 };
	unsigned total = 8000;

	bs.policy = POLICY_LEAST_LOAD;
	for (int i = 0; i < 3; i++)
		b[i].weight = w[i];
	for (unsigned n = 0; n < total; n++)
		pick(NULL)->sessions++;
	for (int i = 0; i < 3; i++) {
		double want = total * w[i] / 8.0;

		cr_assert(fabs(b[i].sessions - want) < 0.03 * want, "backend %d: %u, want %.0f",
			  i, b[i].sessions, want);
	}
}

Test(balance, empty_set)
{
	bs.n = 0;
	for (int pol = POLICY_LEAST_LOAD; pol <= POLICY_HASH; pol++) {
		bs.policy = pol;
		cr_assert_null(pick(NULL));
	}
}
