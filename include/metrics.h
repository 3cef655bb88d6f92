/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * metrics: the Prometheus text exposition of live state, served on
 * /metrics by libmicrohttpd driven from the libev loop (no MHD threads).
 */
#ifndef WGLB_METRICS_H
#define WGLB_METRICS_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "backend.h"
#include "proxy.h"

struct reload_status {
	uint64_t ok, failed;
	double last_ok_time;            /* wall clock of the last successful load */
	bool last_ok;
};

/* Everything a scrape shows. */
struct metrics_input {
	const struct backend_set *bs;
	const struct proxy_stats *px;
	unsigned sessions;
	const struct reload_status *reload;
	const char *version;
	bool process;                   /* add process_* metrics read from /proc */
};

/* Write the exposition to f; 0 or -errno. */
int metrics_render(const struct metrics_input *in, FILE *f);

struct metrics;
typedef void (*metrics_fill_fn)(struct metrics_input *in, void *arg);

/* Serve /metrics on addr; fill is called for every scrape. NULL on failure (logged). */
struct metrics *metrics_start(struct ev_loop *loop, const union sockaddr_any *addr,
			      metrics_fill_fn fill, void *arg);
void metrics_stop(struct metrics *m);

#endif
