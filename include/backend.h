/* SPDX-License-Identifier: GPL-2.0-or-later */
/* backend: the set of WireGuard servers behind the VIP, their state and load. */
#ifndef WGLB_BACKEND_H
#define WGLB_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "conf.h"

enum backend_health {
	HEALTH_UP,
	HEALTH_DOWN,
};
const char *backend_health_name(enum backend_health h);

struct backend_counters {
	uint64_t rx_packets, rx_bytes;       /* backend -> clients */
	uint64_t tx_packets, tx_bytes;       /* clients -> backend */
	uint64_t handshakes_forwarded;       /* client initiations sent to it */
	uint64_t handshakes_completed;       /* responses from it to a pending initiation */
	uint64_t handshakes_unanswered;      /* a client retried before it answered */
	uint64_t cookie_replies;             /* type 3 it sent */
	uint64_t backend_initiations;        /* type 1 it sent towards a client */
};

struct backend {
	char name[CONF_NAME_MAX + 1];
	unsigned id;
	union sockaddr_any addr;
	unsigned weight;
	enum backend_admin admin;
	enum backend_health health;
	unsigned sessions;                   /* sessions bound to it now */
	struct backend_counters c;
};

struct backend_set {
	struct backend **v;
	unsigned n;
};

int backend_set_init(struct backend_set *bs, const struct conf *c);
void backend_set_free(struct backend_set *bs);
struct backend *backend_find(const struct backend_set *bs, const char *name);
/* May it receive new handshakes? */
bool backend_eligible(const struct backend *b);

#endif
