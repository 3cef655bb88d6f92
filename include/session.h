/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * session: one client endpoint bound to one backend. Two tables find a
 * session: by client endpoint, and by the WireGuard indices its backend
 * announced (so a roaming client is recognised). Expiry is a lazily
 * maintained list: activity only stamps a time, the sweep moves or frees.
 */
#ifndef WGLB_SESSION_H
#define WGLB_SESSION_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "wg.h"

struct backend;
struct listener;
struct source;

/* previous, current and next keypair of a rekey, plus a backend-initiated one */
#define SESSION_MAX_INDICES 4
/* An index is useless once its keypair is past REJECT_AFTER_TIME (180 s). */
#define SESSION_INDEX_LIFETIME 200.0
/* idle sessions are looked at this many times per session_timeout */
#define SESSION_EXPIRY_STEPS 16
/*
 * A session whose only initiation went unanswered, with no socket of its
 * own, is freed once its client has been silent this long (three of
 * WireGuard's 5 s retries): a client that is still trying keeps it, a
 * flood of one-off initiations does not fill the table for long.
 */
#define SESSION_HANDSHAKE_TIMEOUT 15.0

struct session_index {
	uint32_t idx;
	bool used;
	ev_tstamp seen;
	struct session *owner;
	struct session_index *next;     /* hash chain */
};

struct session {
	ev_io io;                       /* upstream socket, connected to be */
	union sockaddr_any client;      /* endpoint as seen on the VIP */
	struct listener *ls;            /* front socket it came in on */
	union sockaddr_any local;       /* VIP address it was sent to (wildcard listeners) */
	bool has_local;
	struct backend *be;

	ev_tstamp created, last_active, list_time;
	struct session *next_free;      /* free list of the allocator */
	struct session *exp_prev, *exp_next;

	struct session_index bidx[SESSION_MAX_INDICES];

	struct source *src;             /* admission bookkeeping of its source address */
	bool learning;                  /* backend unknown: datagrams go to every backend */
	uint32_t learn_index;           /* the backend index the client's datagrams carry */
	uint8_t local_family;           /* family of the upstream socket */
	bool restored;                  /* from the state file, not yet confirmed by the client */

	/* last initiation the client sent through this session */
	uint32_t init_sender;
	ev_tstamp init_time;
	bool init_pending;              /* forwarded, no response yet */
	uint8_t init_mac1[WG_MAC_LEN];
	uint8_t init_msg[WG_INITIATION_LEN];   /* to resend it with the backend's cookie */
	ev_tstamp cookie_time;          /* last cookie reply from be, 0 if none */
	uint8_t be_cookie[WG_MAC_LEN];  /* be's cookie for this socket, valid if cookie_time */

	/* handshake through the backend's relay socket: no socket of its own yet */
	struct session *pd_next;        /* pending hash chain */
	const struct backend *pd_be;    /* key it is pending under, if pended */
	uint32_t pd_idx;
	bool pended;
	uint8_t relay_k;                /* which of its backend's relays (source address) */

	uint64_t tx_packets, tx_bytes;  /* client -> backend */
	uint64_t rx_packets, rx_bytes;  /* backend -> client */
};

struct session_table;

struct session_table *session_table_new(void);
void session_table_free(struct session_table *t);
unsigned session_table_count(const struct session_table *t);

/* A zeroed session for client, stamped now; not yet in the table. */
struct session *session_new(const union sockaddr_any *client, ev_tstamp now);
/* Give back a session that is in no table. */
void session_free(struct session *s);
/* 0, or -ENOMEM when the table could not grow and is full enough. */
int session_insert(struct session_table *t, struct session *s);
/* Unlink from every table; the caller frees. */
void session_remove(struct session_table *t, struct session *s);

struct session *session_find_by_endpoint(const struct session_table *t,
					 const union sockaddr_any *client);

/*
 * The same lookup in steps, for a batch of datagrams: hash every
 * endpoint and prefetch its slots, then look each up (and prefetch the
 * session found). With a million sessions the cache and TLB misses of a
 * batch then overlap instead of adding up. The hash stays valid while
 * the table changes (it is the full hash, not a slot number).
 */
uint64_t session_endpoint_hash(const struct session_table *t, const union sockaddr_any *client);
void session_prefetch_bucket(const struct session_table *t, uint64_t h);
struct session *session_find_hashed(const struct session_table *t,
				    const union sockaddr_any *client, uint64_t h);
/*
 * The session whose backend announced idx (and that is still fresh).
 * NULL when none; *ambiguous is set when sessions of different backends
 * hold it (index collision), in which case NULL is returned too.
 */
struct session *session_find_by_index(const struct session_table *t, uint32_t idx,
				      ev_tstamp now, bool *ambiguous);
/* Record an index announced by the session's backend (type 1 or 2 sender). */
void session_add_index(struct session_table *t, struct session *s, uint32_t idx,
		       ev_tstamp now);
/* Does the session know idx as one of its backend's (fresh) indices? */
bool session_has_index(const struct session *s, uint32_t idx, ev_tstamp now);
/* Forget every backend index (the session moved to another backend). */
void session_clear_indices(struct session_table *t, struct session *s);

/*
 * A session whose handshake goes through its backend's shared relay
 * socket is found by what the backend's answers carry: the backend and
 * the initiator's sender index (the receiver index of its response,
 * cookie reply and data). session_pend (re)keys s by (s->be,
 * s->init_sender); a session is pending under one key at most.
 */
void session_pend(struct session_table *t, struct session *s);
void session_unpend(struct session_table *t, struct session *s);
struct session *session_find_pending(const struct session_table *t, const struct backend *be,
				     uint32_t idx);

static inline void session_touch(struct session *s, ev_tstamp now)
{
	s->last_active = now;
}

/*
 * Call expire(s, arg) for every session idle for timeout seconds or more
 * (SESSION_HANDSHAKE_TIMEOUT for an unanswered handshake without socket);
 * expire must remove the session and free it. Cost is amortised O(1) per
 * session per timeout period; a session goes at most timeout/16 late.
 * Call it at least every timeout/16 seconds.
 */
void session_expire(struct session_table *t, ev_tstamp now, ev_tstamp timeout,
		    void (*expire)(struct session *s, void *arg), void *arg);
/* Visit every session (shutdown, stats); cb may remove and free s. */
void session_foreach(struct session_table *t, void (*cb)(struct session *s, void *arg),
		     void *arg);

#endif
