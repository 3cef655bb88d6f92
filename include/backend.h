/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * backend: the set of WireGuard servers behind the VIP: identity, admin
 * and health state, load and counters. health, netmon and reloads change
 * this state; balance and metrics read it.
 */
#ifndef WGLB_BACKEND_H
#define WGLB_BACKEND_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "conf.h"

enum backend_health {
	HEALTH_UP,
	HEALTH_DOWN,
};
const char *backend_health_name(enum backend_health h);

/* Why a backend is in its health state (the latest cause). */
enum health_reason {
	REASON_NONE,          /* up, or no check configured */
	REASON_INIT,          /* not probed yet */
	REASON_NO_RESPONSE,   /* handshake probes unanswered */
	REASON_REFUSED,       /* ICMP unreachable: nothing listens */
	REASON_BAD_RESPONSE,  /* a response that fails verification */
	REASON_ROUTE,         /* no route, or its output link is down */
	REASON_ADMIN,         /* disabled by the operator */
};
const char *health_reason_name(enum health_reason r);

#define PROBE_BUCKETS 12
extern const double probe_bucket_bounds[PROBE_BUCKETS];   /* seconds; the last is +Inf */

struct backend_counters {
	uint64_t rx_packets, rx_bytes;       /* backend -> clients */
	uint64_t tx_packets, tx_bytes;       /* clients -> backend */
	uint64_t handshakes_forwarded;       /* client initiations sent to it */
	uint64_t handshakes_completed;       /* responses from it to a pending initiation */
	uint64_t handshakes_unanswered;      /* a client retried before it answered */
	uint64_t cookie_replies;             /* type 3 it sent */
	uint64_t backend_initiations;        /* type 1 it sent towards a client */
	uint64_t probes_ok, probes_failed;
	uint64_t probe_hist[PROBE_BUCKETS];  /* successful probe round trips */
	double probe_seconds_sum;
	uint64_t health_changes;
};

struct probe;
struct relay;

struct backend {
	char name[CONF_NAME_MAX + 1];
	unsigned id;
	union sockaddr_any addr;
	unsigned weight;
	enum backend_admin admin;
	struct conf_health check;
	union sockaddr_any source[CONF_MAX_SOURCES];   /* upstream source addresses */
	unsigned n_source;                   /* 0: the global ones */

	enum backend_health health;
	enum health_reason reason;
	ev_tstamp health_since;              /* wall-clock time of the last change */
	ev_tstamp up_since;                  /* monotonic; slow start ramps from here */
	bool route_ok;
	ev_tstamp overloaded_until;          /* sent cookie replies: under load until then */
	bool removed;                        /* gone from the configuration, draining */

	unsigned sessions;                   /* sessions bound to it now */
	double rate;                         /* EWMA of bytes/s both ways */
	uint64_t rate_bytes;                 /* byte count at the last rate update */
	double rr_current;                   /* smooth weighted round-robin state */
	ev_tstamp last_tx, last_rx;          /* latest non-keepalive datagram to it, any from it */
	struct backend_counters c;
	struct probe *probe;                 /* owned by health */
	struct relay *relay[CONF_MAX_SOURCES];   /* owned by proxy: shared handshake sockets,
						    one per source address */
};

struct backend_set {
	struct backend **v;
	unsigned n;
	enum balance_policy policy;
	double slow_start;
	/* passive health signals from the data path go here (health registers it) */
	void (*on_suspect)(struct backend *b, const char *why, void *arg);
	void *suspect_arg;
};

int backend_set_init(struct backend_set *bs, const struct conf *c);
void backend_set_free(struct backend_set *bs);
struct backend *backend_new(const struct conf_backend *cb, unsigned id);
/* Append b (taking ownership); -ENOMEM on failure. */
int backend_set_add(struct backend_set *bs, struct backend *b);
/* Remove and free b. */
void backend_set_del(struct backend_set *bs, struct backend *b);
struct backend *backend_find(const struct backend_set *bs, const char *name);

/* May it receive new handshakes? (overload is a preference, see balance) */
bool backend_eligible(const struct backend *b);
/* WireGuard stays under load for a second after its queue drains. */
#define BACKEND_OVERLOAD_HOLD 2.0

/* Share of its weight it gets now: ramps during slow start. */
double backend_weight_now(const struct backend_set *bs, const struct backend *b, ev_tstamp now);
/* A passive signal that something may be wrong: triggers an early probe. */
void backend_suspect(const struct backend_set *bs, struct backend *b, const char *why);
/* Update the EWMA throughput of every backend; call about once a second. */
void backend_update_rates(struct backend_set *bs, double elapsed);

#endif
