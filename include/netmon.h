/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * netmon: rtnetlink (libmnl) link, address and route events turned into
 * backend reachability: a backend without a route, or whose route leaves
 * through a link that is down, is down at once (reason "route").
 */
#ifndef WGLB_NETMON_H
#define WGLB_NETMON_H

#include <ev.h>

#include "backend.h"
#include "health.h"

struct netmon;

struct netmon *netmon_new(struct ev_loop *loop, struct backend_set *bs, struct health *h);
/* Subscribe and check every backend once; 0 or -errno. */
int netmon_start(struct netmon *nm);
/* Re-check every backend (after backends were added or changed). */
void netmon_recheck(struct netmon *nm);
void netmon_free(struct netmon *nm);

/*
 * Look up the route to addr: 0 with *oif and *up (the output link is up
 * and has carrier) and the link name in ifname, or -errno (-ENETUNREACH
 * when there is no route).
 */
int netmon_route(struct netmon *nm, const union sockaddr_any *addr, unsigned *oif, bool *up,
		 char ifname[16]);

#endif
