/* SPDX-License-Identifier: GPL-2.0-or-later */
/* balance: steering policies: pick a backend for a new handshake. */
#ifndef WGLB_BALANCE_H
#define WGLB_BALANCE_H

#include "addr.h"
#include "backend.h"

/*
 * Pick a backend for a new handshake from client with the set's policy.
 * Only eligible backends (enabled, up, routed) are considered; overloaded
 * ones (cookie replies) only when nothing else is eligible, and avoid
 * (the backend that left the client's last initiation unanswered) only
 * when it is the sole eligible backend. NULL when none is eligible.
 */
struct backend *balance_pick(struct backend_set *bs, const union sockaddr_any *client,
			     const struct backend *avoid, ev_tstamp now);

#endif
