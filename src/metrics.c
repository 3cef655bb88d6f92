/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * metrics: Prometheus text format 0.0.4, names wglb_*, base units,
 * counters ending in _total. libmicrohttpd runs in "external epoll"
 * mode: its epoll descriptor is watched by an ev_io and its timeout by
 * an ev_timer, so every scrape is served by the one event loop.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void per_backend(FILE *f, const struct backend_set *bs, const char *name,
			const char *type, const char *help, uint64_t (*get)(const struct backend *))
{
	family(f, name, type, help);
	for (unsigned i = 0; i < bs->n; i++)
		fprintf(f, "%s{backend=\"%s\"} %llu\n", name, bs->v[i]->name,
			(unsigned long long)get(bs->v[i]));
}

#define GETTER(field, expr) \
	static uint64_t get_##field(const struct backend *b) { return (uint64_t)(expr); }
GETTER(up, b->health == HEALTH_UP && b->route_ok)
GETTER(sessions, b->sessions)
GETTER(weight, b->weight)
GETTER(hs_fwd, b->c.handshakes_forwarded)
GETTER(hs_done, b->c.handshakes_completed)
GETTER(hs_unans, b->c.handshakes_unanswered)
GETTER(cookies, b->c.cookie_replies)
GETTER(b_init, b->c.backend_initiations)
GETTER(probes_ok, b->c.probes_ok)
GETTER(probes_failed, b->c.probes_failed)
GETTER(changes, b->c.health_changes)
GETTER(tx_packets, b->c.tx_packets)
GETTER(rx_packets, b->c.rx_packets)
GETTER(tx_bytes, b->c.tx_bytes)
GETTER(rx_bytes, b->c.rx_bytes)

/* A counter family with a sample per backend and direction. */
static void per_direction(FILE *f, const struct backend_set *bs, const char *name,
			  const char *help, uint64_t (*to)(const struct backend *),
			  uint64_t (*from)(const struct backend *))
{
	family(f, name, "counter", help);
	for (unsigned i = 0; i < bs->n; i++) {
		fprintf(f, "%s{backend=\"%s\",direction=\"to_backend\"} %llu\n", name,
			bs->v[i]->name, (unsigned long long)to(bs->v[i]));
		fprintf(f, "%s{backend=\"%s\",direction=\"from_backend\"} %llu\n", name,
			bs->v[i]->name, (unsigned long long)from(bs->v[i]));
	}
}

static void render_backends(FILE *f, const struct backend_set *bs)
{
	static const enum backend_admin states[] = { ADMIN_ENABLED, ADMIN_DRAIN, ADMIN_DISABLED };

	per_backend(f, bs, "wglb_backend_up", "gauge",
		    "Whether health probes and the route let the backend take handshakes (1) or not (0); see wglb_backend_admin_state for the operator's side.",
		    get_up);
	family(f, "wglb_backend_admin_state", "gauge",
	       "Administrative state of the backend: 1 for its current state.");
	for (unsigned i = 0; i < bs->n; i++)
		for (unsigned s = 0; s < 3; s++)
			fprintf(f, "wglb_backend_admin_state{backend=\"%s\",state=\"%s\"} %d\n",
				bs->v[i]->name, backend_admin_name(states[s]),
				bs->v[i]->admin == states[s]);
	family(f, "wglb_backend_health_reason", "gauge",
	       "Cause of the backend's current health state: 1 for the current reason.");
	for (unsigned i = 0; i < bs->n; i++)
		fprintf(f, "wglb_backend_health_reason{backend=\"%s\",reason=\"%s\"} 1\n",
			bs->v[i]->name, health_reason_name(bs->v[i]->reason));
	per_backend(f, bs, "wglb_backend_weight", "gauge", "Configured weight.", get_weight);
	per_backend(f, bs, "wglb_backend_sessions", "gauge", "Sessions bound to the backend.",
		    get_sessions);
	per_backend(f, bs, "wglb_backend_handshakes_forwarded_total", "counter",
		    "Client handshake initiations forwarded to the backend.", get_hs_fwd);
	per_backend(f, bs, "wglb_backend_handshakes_completed_total", "counter",
		    "Handshake responses from the backend to a forwarded initiation.", get_hs_done);
	per_backend(f, bs, "wglb_backend_handshakes_unanswered_total", "counter",
		    "Client initiations the backend left unanswered before the client retried.",
		    get_hs_unans);
	per_backend(f, bs, "wglb_backend_cookie_replies_total", "counter",
		    "Cookie replies (under load) seen from the backend.", get_cookies);
	per_backend(f, bs, "wglb_backend_initiations_total", "counter",
		    "Handshake initiations the backend sent towards clients.", get_b_init);
	per_direction(f, bs, "wglb_backend_packets_total",
		      "Datagrams forwarded, by direction (to_backend, from_backend).", get_tx_packets,
		      get_rx_packets);
	per_direction(f, bs, "wglb_backend_bytes_total",
		      "UDP payload bytes forwarded, by direction (to_backend, from_backend).",
		      get_tx_bytes, get_rx_bytes);
	per_backend(f, bs, "wglb_backend_probes_succeeded_total", "counter",
		    "Health probes answered (handshake response or cookie reply).", get_probes_ok);
	per_backend(f, bs, "wglb_backend_probes_failed_total", "counter",
		    "Health probes that failed (no answer, refused, bad response).",
		    get_probes_failed);
	family(f, "wglb_backend_probe_duration_seconds", "histogram",
	       "Round trip of answered handshake probes.");
	for (unsigned i = 0; i < bs->n; i++) {
		const struct backend *b = bs->v[i];
		uint64_t cum = 0;

		for (int k = 0; k < PROBE_BUCKETS; k++) {
			cum += b->c.probe_hist[k];
			if (isinf(probe_bucket_bounds[k]))
				fprintf(f, "wglb_backend_probe_duration_seconds_bucket{backend=\"%s\",le=\"+Inf\"} %llu\n",
					b->name, (unsigned long long)cum);
			else
				fprintf(f, "wglb_backend_probe_duration_seconds_bucket{backend=\"%s\",le=\"%g\"} %llu\n",
					b->name, probe_bucket_bounds[k], (unsigned long long)cum);
		}
		fprintf(f, "wglb_backend_probe_duration_seconds_sum{backend=\"%s\"} %.9g\n", b->name,
			b->c.probe_seconds_sum);
		fprintf(f, "wglb_backend_probe_duration_seconds_count{backend=\"%s\"} %llu\n",
			b->name, (unsigned long long)cum);
	}
	per_backend(f, bs, "wglb_backend_health_changes_total", "counter",
		    "Changes between up and down.", get_changes);
	family(f, "wglb_backend_last_state_change_timestamp_seconds", "gauge",
	       "Unix time of the backend's last change between up and down (0: none yet).");
	for (unsigned i = 0; i < bs->n; i++)
		fprintf(f, "wglb_backend_last_state_change_timestamp_seconds{backend=\"%s\"} %.3f\n",
			bs->v[i]->name, bs->v[i]->health_since);
}

/* process_* as the Prometheus client libraries define them */
static void render_process(FILE *f)
{
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long long utime = 0, stime = 0, start = 0, vsize = 0, rss = 0, btime = 0;
	char buf[1024], *p;
	struct rlimit rl;
	unsigned fds = 0;
	FILE *st;
	DIR *d;

	st = fopen("/proc/self/stat", "re");
	/* fields after the command name, from field 3 (state) on; all zero if unreadable */
	if (st && fgets(buf, sizeof buf, st) && (p = strrchr(buf, ')')) &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d " // NOLINT(cert-err34-c): the count is checked, /proc has no other format
			  "%*d %*d %llu %llu %llu", &utime, &stime, &start, &vsize, &rss) != 5)
		utime = stime = start = vsize = rss = 0;
	if (st)
		fclose(st);
	st = fopen("/proc/stat", "re");
	while (st && fgets(buf, sizeof buf, st))
		if (sscanf(buf, "btime %llu", &btime) == 1) // NOLINT(cert-err34-c): as above
			break;
	if (st)
		fclose(st);
	d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;

		while ((e = readdir(d)))
			fds += e->d_name[0] != '.';
		closedir(d);
		fds--;  /* the directory stream's own descriptor */
	}
	family(f, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
	fprintf(f, "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / tck);
	family(f, "process_resident_memory_bytes", "gauge", "Resident memory size.");
	fprintf(f, "process_resident_memory_bytes %llu\n", rss * (unsigned long long)page);
	family(f, "process_virtual_memory_bytes", "gauge", "Virtual memory size.");
	fprintf(f, "process_virtual_memory_bytes %llu\n", vsize);
	family(f, "process_open_fds", "gauge", "Open file descriptors.");
	fprintf(f, "process_open_fds %u\n", fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		family(f, "process_max_fds", "gauge", "Limit of open file descriptors.");
		fprintf(f, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	}
	family(f, "process_start_time_seconds", "gauge", "Start time since the Unix epoch.");
	fprintf(f, "process_start_time_seconds %.2f\n", (double)btime + (double)start / tck);
}

int metrics_render(const struct metrics_input *in, FILE *f)
{
	const struct proxy_stats *px = in->px;
	const struct reload_status *rs = in->reload;

	family(f, "wglb_build_info", "gauge", "Version of the running wglbd.");
	fprintf(f, "wglb_build_info{version=\"%s\"} 1\n", in->version);
	family(f, "wglb_sessions", "gauge", "Client sessions.");
	fprintf(f, "wglb_sessions %u\n", in->sessions);
	family(f, "wglb_sessions_handshaking", "gauge",
	       "Sessions still in their first handshake (no socket of their own yet).");
	fprintf(f, "wglb_sessions_handshaking %llu\n", (unsigned long long)px->sessions_handshaking);
	family(f, "wglb_sessions_created_total", "counter", "Sessions created.");
	fprintf(f, "wglb_sessions_created_total %llu\n", (unsigned long long)px->sessions_created);
	family(f, "wglb_sessions_roamed_total", "counter",
	       "Sessions created for a client that moved to a new address or port.");
	fprintf(f, "wglb_sessions_roamed_total %llu\n", (unsigned long long)px->sessions_roamed);
	family(f, "wglb_sessions_expired_total", "counter", "Sessions freed after idling.");
	fprintf(f, "wglb_sessions_expired_total %llu\n", (unsigned long long)px->sessions_expired);
	family(f, "wglb_sessions_learned_total", "counter",
	       "Sessions of unknown tunnels (restart, other node) whose backend was found.");
	fprintf(f, "wglb_sessions_learned_total %llu\n", (unsigned long long)px->sessions_learned);
	family(f, "wglb_learn_failed_total", "counter",
	       "Learning sessions that expired without any backend answering.");
	fprintf(f, "wglb_learn_failed_total %llu\n", (unsigned long long)px->learn_failed);
	family(f, "wglb_learn_packets_total", "counter",
	       "Datagram copies sent to backends while learning unknown tunnels.");
	fprintf(f, "wglb_learn_packets_total %llu\n", (unsigned long long)px->learn_copies);
	family(f, "wglb_client_packets_total", "counter",
	       "Datagrams on the VIP, by direction (received from clients, sent to clients).");
	fprintf(f, "wglb_client_packets_total{direction=\"received\"} %llu\n",
		(unsigned long long)px->rx_packets);
	fprintf(f, "wglb_client_packets_total{direction=\"sent\"} %llu\n",
		(unsigned long long)px->tx_packets);
	family(f, "wglb_client_bytes_total", "counter",
	       "UDP payload bytes on the VIP, by direction.");
	fprintf(f, "wglb_client_bytes_total{direction=\"received\"} %llu\n",
		(unsigned long long)px->rx_bytes);
	fprintf(f, "wglb_client_bytes_total{direction=\"sent\"} %llu\n",
		(unsigned long long)px->tx_bytes);
	family(f, "wglb_dropped_packets_total", "counter", "Datagrams dropped, by reason.");
	for (int r = 0; r < DROP__COUNT; r++)
		fprintf(f, "wglb_dropped_packets_total{reason=\"%s\"} %llu\n", drop_reason_name(r),
			(unsigned long long)px->drops[r]);
	family(f, "wglb_under_load", "gauge",
	       "Whether handshakes need wglbd's own cookie (mac2) to be admitted.");
	fprintf(f, "wglb_under_load %d\n", px->under_load);
	family(f, "wglb_cookie_replies_sent_total", "counter",
	       "Cookie replies wglbd sent to clients while under load.");
	fprintf(f, "wglb_cookie_replies_sent_total %llu\n",
		(unsigned long long)px->cookie_replies_sent);
	family(f, "wglb_absorbed_cookie_replies_total", "counter",
	       "Backends' cookie replies opened by wglbd and answered with the backend's mac2.");
	fprintf(f, "wglb_absorbed_cookie_replies_total %llu\n",
		(unsigned long long)px->backend_cookies);
	family(f, "wglb_config_reloads_total", "counter",
	       "Configuration loads after start, by result.");
	fprintf(f, "wglb_config_reloads_total{result=\"success\"} %llu\n",
		(unsigned long long)rs->ok);
	fprintf(f, "wglb_config_reloads_total{result=\"failure\"} %llu\n",
		(unsigned long long)rs->failed);
	family(f, "wglb_config_last_reload_successful", "gauge",
	       "Whether the last configuration load succeeded.");
	fprintf(f, "wglb_config_last_reload_successful %d\n", rs->last_ok);
	family(f, "wglb_config_last_reload_success_timestamp_seconds", "gauge",
	       "Unix time of the last successful configuration load.");
	fprintf(f, "wglb_config_last_reload_success_timestamp_seconds %.3f\n", rs->last_ok_time);
	render_backends(f, in->bs);
	if (in->process)
		render_process(f);
	return ferror(f) ? -EIO : 0;
}

/* ---- HTTP ---- */

struct metrics {
	struct ev_loop *loop;
	struct MHD_Daemon *mhd;
	ev_io io;
	ev_timer timer;
	metrics_fill_fn fill;
	void *arg;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *body,
			     const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, "Allow", allow);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct metrics *m = cls;
	struct metrics_input in = { 0 };
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "GET, HEAD");
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n", NULL);
	f = open_memstream(&body, &len);
	if (!f)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
	m->fill(&in, m->arg);
	in.process = true;
	metrics_render(&in, f);
	if (fclose(f) != 0) {
		free(body);
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
	}
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void rearm(struct metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;

	ev_timer_stop(m->loop, &m->timer);
	if (MHD_get_timeout(m->mhd, &ms) == MHD_YES) {
		ev_timer_set(&m->timer, ms / 1000.0, 0);
		ev_timer_start(m->loop, &m->timer);
	}
}

static void run_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct metrics *m = w->data;

	(void)loop;
	(void)revents;
	MHD_run(m->mhd);
	rearm(m);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct metrics *m = w->data;

	(void)loop;
	(void)revents;
	MHD_run(m->mhd);
	rearm(m);
}

struct metrics *metrics_start(struct ev_loop *loop, const union sockaddr_any *addr,
			      metrics_fill_fn fill, void *arg)
{
	struct metrics *m = calloc(1, sizeof *m);
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	char a[ADDR_STRLEN];

	if (!m)
		return NULL;
	addr_fmt(addr, a);
	if (addr->sa.sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->loop = loop;
	m->fill = fill;
	m->arg = arg;
	m->mhd = MHD_start_daemon(flags, addr_port(addr), NULL, NULL, handle, m,
				  MHD_OPTION_SOCK_ADDR, &addr->sa,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				  MHD_OPTION_END);
	if (!m->mhd) {
		log_error("metrics: cannot listen on %s", a);
		free(m);
		return NULL;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	ev_io_init(&m->io, run_cb, info->epoll_fd, EV_READ);
	m->io.data = m;
	ev_io_start(loop, &m->io);
	ev_init(&m->timer, timer_cb);
	m->timer.data = m;
	rearm(m);
	log_info("metrics on http://%s/metrics", a);
	return m;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	ev_io_stop(m->loop, &m->io);
	ev_timer_stop(m->loop, &m->timer);
	MHD_stop_daemon(m->mhd);
	free(m);
}
