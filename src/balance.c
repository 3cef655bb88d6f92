/* SPDX-License-Identifier: GPL-2.0-or-later */
/* balance: which backend takes a new handshake. */
#include "config.h"

#include <sodium.h>

#include "balance.h"

/*
 * Weighted least-sessions. Scores are compared as cross products
 * (sessions_a * weight_b vs sessions_b * weight_a) so no division and no
 * rounding; the +1 makes a weight-2 backend with one session cheaper than
 * a weight-1 backend with one session. Ties are broken by reservoir
 * sampling so equal backends share evenly.
 */
struct backend *balance_pick(const struct backend_set *bs, const struct backend *avoid)
{
	struct backend *best = NULL;
	unsigned ties = 0;
	bool avoid_ok = false;

	for (unsigned i = 0; i < bs->n; i++) {
		struct backend *b = bs->v[i];
		uint64_t lhs, rhs;

		if (!backend_eligible(b))
			continue;
		if (b == avoid) {
			avoid_ok = true;
			continue;
		}
		if (!best) {
			best = b;
			ties = 1;
			continue;
		}
		lhs = (uint64_t)(b->sessions + 1) * best->weight;
		rhs = (uint64_t)(best->sessions + 1) * b->weight;
		if (lhs < rhs) {
			best = b;
			ties = 1;
		} else if (lhs == rhs && randombytes_uniform(++ties) == 0) {
			best = b;
		}
	}
	if (!best && avoid_ok)
		return (struct backend *)avoid;
	return best;
}
