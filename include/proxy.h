/* SPDX-License-Identifier: GPL-2.0-or-later */
/* proxy: front sockets on the VIP, per-session upstream sockets, forwarding. */
#ifndef WGLB_PROXY_H
#define WGLB_PROXY_H

#include <ev.h>
#include <stdint.h>

#include "backend.h"
#include "conf.h"
#include "session.h"
#include "wg.h"

struct proxy_stats {
	uint64_t rx_packets, rx_bytes;       /* received from clients */
	uint64_t tx_packets, tx_bytes;       /* sent to clients */
	uint64_t sessions_created, sessions_expired, sessions_roamed;
	uint64_t cookie_replies_sent;        /* wglbd's own, under load */
	uint64_t sessions_learned;           /* unknown tunnels whose backend answered */
	uint64_t learn_failed;               /* learning sessions that expired unanswered */
	uint64_t learn_copies;               /* datagrams copied to backends while learning */
	uint64_t backend_cookies;            /* backends' cookie replies handled by wglbd */
	uint64_t sessions_handshaking;       /* gauge: sessions with no socket of their own yet */
	bool under_load;
	uint64_t gro_buffers;                /* received buffers holding several datagrams */
	uint64_t drops[DROP__COUNT];
};

struct proxy;

struct proxy *proxy_new(struct ev_loop *loop, const struct conf *c, struct backend_set *bs);
/* Bind the front sockets; 0 or -errno (already logged). */
int proxy_listen(struct proxy *px);
void proxy_start(struct proxy *px);
/* A reloaded configuration: limits, timeout and mac1 key (not the listen addresses). */
void proxy_set_conf(struct proxy *px, const struct conf *c);
void proxy_free(struct proxy *px);

/*
 * Process one datagram as if it had arrived from client on front socket
 * number listener (fuzzing and tests: no front socket needs to be bound).
 */
void proxy_feed(struct proxy *px, unsigned listener, const union sockaddr_any *client,
		const uint8_t *p, size_t len);

/*
 * From how many sessions on a receive batch looks its sessions up in
 * steps (hash all, prefetch, find); tests set 0 to take that path always.
 */
void proxy_set_stepped_lookup(struct proxy *px, unsigned min_sessions);

/*
 * Recreate a session saved before a restart: client on the front socket
 * bound to listen, bound to be, its upstream socket on the same local
 * address and port if free. 0 or -errno.
 */
int proxy_restore_session(struct proxy *px, const union sockaddr_any *listen,
			  const union sockaddr_any *client, const union sockaddr_any *local,
			  struct backend *be, const union sockaddr_any *upstream,
			  const uint32_t *idx, unsigned n_idx, double idle);

const struct proxy_stats *proxy_get_stats(const struct proxy *px);
unsigned proxy_session_count(const struct proxy *px);
/* Visit every session (read-only use: control listings). */
void proxy_foreach_session(struct proxy *px, void (*cb)(struct session *s, void *arg), void *arg);
ev_tstamp proxy_now(const struct proxy *px);
/* The VIP listen address a session's client talks to. */
const union sockaddr_any *proxy_session_listen(const struct session *s);
/* be is about to be freed: close what the proxy holds for it. */
void proxy_backend_removed(struct proxy *px, struct backend *be);
/* Close every session of a backend (it was disabled); returns how many. */
unsigned proxy_close_backend_sessions(struct proxy *px, const struct backend *be);
void proxy_log_stats(const struct proxy *px);

#endif
