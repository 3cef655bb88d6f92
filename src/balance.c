/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * balance: which backend takes a new handshake.
 *
 * least-load     share of sessions plus share of throughput (EWMA), per
 *                unit of weight; near-ties settled by two random choices
 * least-sessions sessions per unit of weight, ties at random
 * round-robin    smooth weighted round-robin
 * hash           weighted rendezvous hashing on the client IP, with a
 *                fixed key so that every balancer node agrees
 * Weights are the slow-start-adjusted ones (backend_weight_now).
 */
#include "config.h"

#include <math.h>
#include <sodium.h>
#include <string.h>

#include "balance.h"

/* scores within this factor of the best count as a tie for least-load */
#define NEAR_TIE 1.02

enum pass { PASS_PREFERRED, PASS_OVERLOADED, PASS_AVOIDED };

static bool candidate(const struct backend *b, const struct backend *avoid, enum pass pass,
		      ev_tstamp now)
{
	if (!backend_eligible(b))
		return false;
	if (b == avoid && pass != PASS_AVOIDED)
		return false;
	if (b->overloaded_until > now && pass == PASS_PREFERRED)
		return false;
	return true;
}

static struct backend *pick_least_sessions(struct backend_set *bs, const struct backend *avoid,
					   enum pass pass, ev_tstamp now)
{
	struct backend *best = NULL;
	double best_score = 0;
	unsigned ties = 0;

	for (unsigned i = 0; i < bs->n; i++) {
		struct backend *b = bs->v[i];
		double score;

		if (!candidate(b, avoid, pass, now))
			continue;
		score = (b->sessions + 1) / backend_weight_now(bs, b, now);
		if (!best || score < best_score * (1 - 1e-12)) {
			best = b;
			best_score = score;
			ties = 1;
		} else if (score <= best_score * (1 + 1e-12) && randombytes_uniform(++ties) == 0) {
			best = b;
		}
	}
	return best;
}

/*
 * A backend's load after it takes the new session, relative to its fair
 * share: the larger of its share of sessions and its share of throughput,
 * over its share of weight (the dominant-share rule: whichever resource
 * it is most loaded on decides). A perfectly balanced set scores 1
 * everywhere. Without traffic sessions alone decide.
 */
static double load_score(const struct backend_set *bs, const struct backend *b, double sessions,
			 double rate, double weight, ev_tstamp now)
{
	double s = (b->sessions + 1) / (sessions + 1);
	double r = rate > 0 ? b->rate / rate : 0;

	return (s > r ? s : r) / (backend_weight_now(bs, b, now) / weight);
}

static struct backend *pick_least_load(struct backend_set *bs, const struct backend *avoid,
				       enum pass pass, ev_tstamp now)
{
	double sessions = 0, rate = 0, weight = 0, best = INFINITY;
	unsigned n = 0, near = 0, r1, r2, k = 0;
	struct backend *c1 = NULL, *c2 = NULL;

	for (unsigned i = 0; i < bs->n; i++) {
		if (candidate(bs->v[i], avoid, pass, now)) {
			sessions += bs->v[i]->sessions;
			rate += bs->v[i]->rate;
			weight += backend_weight_now(bs, bs->v[i], now);
			n++;
		}
	}
	if (!n)
		return NULL;
	for (unsigned i = 0; i < bs->n; i++) {
		if (candidate(bs->v[i], avoid, pass, now)) {
			double sc = load_score(bs, bs->v[i], sessions, rate, weight, now);

			if (sc < best)
				best = sc;
		}
	}
	for (unsigned i = 0; i < bs->n; i++)
		if (candidate(bs->v[i], avoid, pass, now) &&
		    load_score(bs, bs->v[i], sessions, rate, weight, now) <= best * NEAR_TIE)
			near++;
	/* two random choices among the near-best, the lower score wins */
	r1 = randombytes_uniform(near);
	r2 = near > 1 ? (r1 + 1 + randombytes_uniform(near - 1)) % near : r1;
	for (unsigned i = 0; i < bs->n; i++) {
		struct backend *b = bs->v[i];

		if (!candidate(b, avoid, pass, now) ||
		    load_score(bs, b, sessions, rate, weight, now) > best * NEAR_TIE)
			continue;
		if (k == r1)
			c1 = b;
		if (k == r2)
			c2 = b;
		k++;
	}
	if (!c1 || !c2)
		return c1 ? c1 : c2;    /* no score within reach of the best: not with finite weights */
	return load_score(bs, c2, sessions, rate, weight, now) <
		       load_score(bs, c1, sessions, rate, weight, now)
		       ? c2 : c1;
}

static struct backend *pick_round_robin(struct backend_set *bs, const struct backend *avoid,
					enum pass pass, ev_tstamp now)
{
	struct backend *best = NULL;
	double total = 0;

	for (unsigned i = 0; i < bs->n; i++) {
		struct backend *b = bs->v[i];
		double w;

		if (!candidate(b, avoid, pass, now))
			continue;
		w = backend_weight_now(bs, b, now);
		b->rr_current += w;
		total += w;
		if (!best || b->rr_current > best->rr_current)
			best = b;
	}
	if (best)
		best->rr_current -= total;
	return best;
}

/* Same key on every node: hash steering must agree across balancers. */
static const uint8_t rendezvous_key[crypto_shorthash_KEYBYTES] = "wglb-rendezvous";

static struct backend *pick_hash(struct backend_set *bs, const union sockaddr_any *client,
				 const struct backend *avoid, enum pass pass, ev_tstamp now)
{
	struct backend *best = NULL;
	double best_score = -INFINITY;
	uint8_t in[16 + CONF_NAME_MAX + 1];
	size_t alen;

	if (client->sa.sa_family == AF_INET) {
		memcpy(in, &client->in.sin_addr, 4);
		alen = 4;
	} else {
		memcpy(in, &client->in6.sin6_addr, 16);
		alen = 16;
	}
	for (unsigned i = 0; i < bs->n; i++) {
		struct backend *b = bs->v[i];
		size_t nlen = strlen(b->name);
		uint8_t h[crypto_shorthash_BYTES];
		uint64_t v;
		double u, score;

		if (!candidate(b, avoid, pass, now))
			continue;
		memcpy(in + alen, b->name, nlen);
		crypto_shorthash(h, in, alen + nlen, rendezvous_key);
		memcpy(&v, h, sizeof v);
		/* uniform in (0,1): 53 random bits, never 0 */
		u = ((double)(v >> 11) + 0.5) / 9007199254740992.0;
		score = -backend_weight_now(bs, b, now) / log(u);
		if (score > best_score) {
			best = b;
			best_score = score;
		}
	}
	return best;
}

struct backend *balance_pick(struct backend_set *bs, const union sockaddr_any *client,
			     const struct backend *avoid, ev_tstamp now)
{
	for (enum pass pass = PASS_PREFERRED; pass <= PASS_AVOIDED; pass++) {
		struct backend *b = NULL;

		if (pass == PASS_AVOIDED)
			return avoid && backend_eligible(avoid) ? (struct backend *)avoid : NULL;
		switch (bs->policy) {
		case POLICY_LEAST_LOAD:
			b = pick_least_load(bs, avoid, pass, now);
			break;
		case POLICY_LEAST_SESSIONS:
			b = pick_least_sessions(bs, avoid, pass, now);
			break;
		case POLICY_ROUND_ROBIN:
			b = pick_round_robin(bs, avoid, pass, now);
			break;
		case POLICY_HASH:
			b = pick_hash(bs, client, avoid, pass, now);
			break;
		}
		if (b)
			return b;
	}
	return NULL;
}
