/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Steering: weights, eligibility, avoidance of a backend that did not answer. */
#include "config.h"

#include <criterion/criterion.h>
#include <sodium.h>

#include "balance.h"

static struct backend b[4];
static struct backend *bv[4] = { &b[0], &b[1], &b[2], &b[3] };
static struct backend_set bs = { .v = bv, .n = 3 };

static void setup(void)
{
	cr_assert(sodium_init() >= 0);
	for (int i = 0; i < 4; i++) {
		memset(&b[i], 0, sizeof b[i]);
		snprintf(b[i].name, sizeof b[i].name, "b%d", i);
		b[i].weight = 1;
		b[i].admin = ADMIN_ENABLED;
		b[i].health = HEALTH_UP;
	}
	bs.n = 3;
}

TestSuite(balance, .init = setup);

/* Sessions accumulate as they are steered: shares follow the weights. */
Test(balance, weights_respected)
{
	const unsigned w[3] = { 1, 2, 5 }, total = 8000;

	for (int i = 0; i < 3; i++)
		b[i].weight = w[i];
	for (unsigned n = 0; n < total; n++) {
		struct backend *p = balance_pick(&bs, NULL);

		cr_assert_not_null(p);
		p->sessions++;
	}
	for (int i = 0; i < 3; i++) {
		double want = (double)total * w[i] / 8.0;

		/* least-sessions is deterministic up to ties: within one session per unit of weight */
		cr_assert(b[i].sessions >= want - w[i] - 1 && b[i].sessions <= want + w[i] + 1,
			  "backend %d weight %u: %u sessions, want about %.0f", i, w[i],
			  b[i].sessions, want);
	}
}

Test(balance, fills_the_least_loaded_first)
{
	b[0].sessions = 10;
	b[1].sessions = 3;
	b[2].sessions = 7;
	cr_assert_eq(balance_pick(&bs, NULL), &b[1]);
	b[1].weight = 1;
	b[0].weight = 5;   /* 10/5 = 2 per unit of weight, below 3 */
	cr_assert_eq(balance_pick(&bs, NULL), &b[0]);
}

Test(balance, ties_are_shared)
{
	unsigned hits[3] = { 0 };

	/* equal load, nothing accumulates: random tie-breaking spreads picks */
	for (int n = 0; n < 3000; n++) {
		struct backend *p = balance_pick(&bs, NULL);

		hits[p - b]++;
	}
	for (int i = 0; i < 3; i++)
		cr_assert(hits[i] > 800 && hits[i] < 1200, "backend %d: %u of 3000", i, hits[i]);
}

Test(balance, only_enabled_and_up_backends)
{
	b[0].admin = ADMIN_DRAIN;
	b[1].health = HEALTH_DOWN;
	b[2].sessions = 1000;
	for (int n = 0; n < 100; n++)
		cr_assert_eq(balance_pick(&bs, NULL), &b[2]);
	b[2].admin = ADMIN_DISABLED;
	cr_assert_null(balance_pick(&bs, NULL));
}

Test(balance, avoid_unless_it_is_the_only_one)
{
	b[1].sessions = 0;
	b[0].sessions = b[2].sessions = 50;
	for (int n = 0; n < 100; n++) {
		struct backend *p = balance_pick(&bs, &b[1]);

		cr_assert(p == &b[0] || p == &b[2]);
	}
	b[0].health = HEALTH_DOWN;
	b[2].admin = ADMIN_DRAIN;
	cr_assert_eq(balance_pick(&bs, &b[1]), &b[1]);
	b[1].health = HEALTH_DOWN;
	cr_assert_null(balance_pick(&bs, &b[1]));
}

Test(balance, empty_set)
{
	struct backend_set none = { .v = NULL, .n = 0 };

	cr_assert_null(balance_pick(&none, NULL));
}
