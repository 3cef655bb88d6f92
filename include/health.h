/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * health: is each backend able to take handshakes? Active probes (a real
 * WireGuard handshake from the balancer's probe key), passive signals
 * from the data path (they only hasten a probe) and route events from
 * netmon all end in health_report(), the one place where a backend's
 * health changes, is logged and counted.
 */
#ifndef WGLB_HEALTH_H
#define WGLB_HEALTH_H

#include <ev.h>

#include "backend.h"
#include "conf.h"

enum probe_result {
	PROBE_OK,             /* valid handshake response */
	PROBE_COOKIE,         /* cookie reply: alive, under load */
	PROBE_NO_RESPONSE,    /* nothing before the timeout */
	PROBE_REFUSED,        /* ICMP unreachable */
	PROBE_BAD_RESPONSE,   /* response failed verification */
	PROBE_ROUTE_DOWN,     /* netmon: no route or link down */
	PROBE_ROUTE_UP,       /* netmon: route back; probes decide */
};
const char *probe_result_name(enum probe_result r);

struct health;

struct health *health_new(struct ev_loop *loop, const struct conf *c, struct backend_set *bs);
/* Schedule the first probes (jittered). */
void health_start(struct health *h);
void health_free(struct health *h);

/* Every outcome about a backend's health goes through here. */
void health_report(struct health *h, struct backend *b, enum probe_result r, const char *detail);

/* Start or stop checking b after it was added, changed or disabled. */
void health_backend_changed(struct health *h, struct backend *b);
/* Forget b's probe before b is freed. */
void health_backend_removed(struct health *h, struct backend *b);
/* New [health] settings from a reload (probe key, psk). */
int health_reconfigure(struct health *h, const struct conf *c);

#endif
