/* SPDX-License-Identifier: GPL-2.0-or-later */
/* balance: steering policies: pick a backend for a new handshake. */
#ifndef WGLB_BALANCE_H
#define WGLB_BALANCE_H

#include "backend.h"

/*
 * Weighted least-sessions: the eligible backend with the lowest
 * sessions/weight; ties broken at random. avoid, when not NULL, is only
 * chosen if it is the sole eligible backend. Returns NULL when no backend
 * is eligible.
 */
struct backend *balance_pick(const struct backend_set *bs, const struct backend *avoid);

#endif
