/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * health: active handshake probes, passive signals and the rise/fall
 * state machine. A probe is a real Noise IK initiation from the
 * balancer's own key, sent from a socket of its own straight to the
 * backend; only a verified response proves that the backend's WireGuard
 * is up and holds the service key. WireGuard answers nothing else, so
 * silence (or an ICMP error) is the only failure a probe ever sees.
 */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "health.h"
#include "log.h"
#include "noise.h"

/*
 * Forwarding data for this long without a datagram back makes a backend
 * suspect: a WireGuard peer that receives data answers within
 * KEEPALIVE_TIMEOUT (10 s), with a keepalive if it has nothing else.
 */
#define SILENCE_SUSPECT 12.0
/* at most one early probe per backend this often */
#define SUSPECT_MIN_GAP 1.0
/* the first probe of each backend goes out within this much of start */
#define FIRST_PROBE_SPREAD 0.5
#define TICK 1.0

struct probe {
	ev_io io;
	ev_timer timer;
	struct health *h;
	struct backend *b;
	bool in_flight;
	ev_tstamp sent;
	ev_tstamp last_early;
	struct noise_handshake hs;
	unsigned ok_streak, fail_streak;
	bool ever_up;
};

struct health {
	struct ev_loop *loop;
	struct backend_set *bs;
	bool have_key;
	struct noise_peer *peer;        /* sodium_malloc'ed: holds the probe private key */
	uint64_t last_tai_ns;           /* timestamps must grow for every backend */
	ev_timer tick;
	ev_tstamp last_tick;
};

const char *probe_result_name(enum probe_result r)
{
	switch (r) {
	case PROBE_OK:
		return "ok";
	case PROBE_COOKIE:
		return "cookie";
	case PROBE_NO_RESPONSE:
		return "no_response";
	case PROBE_REFUSED:
		return "refused";
	case PROBE_BAD_RESPONSE:
		return "bad_response";
	case PROBE_ROUTE_DOWN:
		return "route_down";
	case PROBE_ROUTE_UP:
		return "route_up";
	}
	return "unknown";
}

static ev_tstamp jitter(ev_tstamp t)
{
	/* +-10 %, so probes of many backends do not stay in step */
	return t * (0.9 + 0.2 * randombytes_uniform(1000001) / 1000000.0);
}

static void set_health(struct health *h, struct backend *b, enum backend_health state,
		       enum health_reason reason, const char *detail)
{
	enum log_level lvl = state == HEALTH_UP ? LOG_LVL_NOTICE : LOG_LVL_WARNING;

	if (b->health == state && b->reason == reason)
		return;
	if (b->health != state) {
		b->c.health_changes++;
		b->health_since = ev_time();
		if (state == HEALTH_UP) {
			/* slow start only for a comeback, not for the first start */
			b->up_since = b->probe && b->probe->ever_up ? ev_now(h->loop) : 0;
			if (b->probe)
				b->probe->ever_up = true;
		}
	}
	if (b->health == state)
		log_msg(lvl, "backend %s: still %s, now because of %s%s%s", b->name,
			backend_health_name(state), health_reason_name(reason), detail ? ": " : "",
			detail ? detail : "");
	else
		log_msg(lvl, "backend %s: %s -> %s (%s%s%s)", b->name,
			backend_health_name(b->health), backend_health_name(state),
			health_reason_name(reason), detail ? ": " : "", detail ? detail : "");
	b->health = state;
	b->reason = reason;
}

static enum health_reason failure_reason(enum probe_result r)
{
	switch (r) {
	case PROBE_REFUSED:
		return REASON_REFUSED;
	case PROBE_BAD_RESPONSE:
		return REASON_BAD_RESPONSE;
	default:
		return REASON_NO_RESPONSE;
	}
}

void health_report(struct health *h, struct backend *b, enum probe_result r, const char *detail)
{
	struct probe *p = b->probe;

	switch (r) {
	case PROBE_OK:
	case PROBE_COOKIE:
		b->c.probes_ok++;
		b->overloaded_until = r == PROBE_COOKIE ? ev_now(h->loop) + BACKEND_OVERLOAD_HOLD : 0;
		if (!p)
			break;
		p->fail_streak = 0;
		p->ok_streak++;
		if (b->health == HEALTH_DOWN && b->route_ok && b->admin != ADMIN_DISABLED &&
		    (b->reason == REASON_INIT || p->ok_streak >= b->check.rise))
			set_health(h, b, HEALTH_UP, REASON_NONE,
				   r == PROBE_COOKIE ? "cookie reply: alive, under load"
						     : "handshake probe answered");
		break;
	case PROBE_NO_RESPONSE:
	case PROBE_REFUSED:
	case PROBE_BAD_RESPONSE:
		b->c.probes_failed++;
		if (!p)
			break;
		p->ok_streak = 0;
		p->fail_streak++;
		if (r == PROBE_BAD_RESPONSE) {
			/* a misconfiguration, not a passing failure: no grace */
			log_error("backend %s: handshake response does not verify (%s): does it "
				  "hold the service private key, and the same preshared key for "
				  "the probe?", b->name, detail ? detail : "");
			set_health(h, b, HEALTH_DOWN, REASON_BAD_RESPONSE, detail);
		} else if (p->fail_streak >= b->check.fall &&
			   (b->health == HEALTH_UP || b->reason == REASON_INIT ||
			    b->reason != failure_reason(r))) {
			if (b->reason != REASON_ROUTE && b->reason != REASON_ADMIN)
				set_health(h, b, HEALTH_DOWN, failure_reason(r), detail);
		} else {
			log_debug("backend %s: probe failed (%s), %u of %u", b->name,
				  probe_result_name(r), p->fail_streak, b->check.fall);
		}
		break;
	case PROBE_ROUTE_DOWN:
		b->route_ok = false;
		set_health(h, b, HEALTH_DOWN, REASON_ROUTE, detail);
		break;
	case PROBE_ROUTE_UP:
		if (b->route_ok)
			break;
		b->route_ok = true;
		log_notice("backend %s: route back%s%s", b->name, detail ? ": " : "",
			   detail ? detail : "");
		if (p) {
			p->ok_streak = 0;   /* probes decide from here */
		} else if (b->admin != ADMIN_DISABLED) {
			set_health(h, b, HEALTH_UP, REASON_NONE, "route back, no check");
		}
		break;
	}
}

/* ---- probes ---- */

static uint64_t next_tai_ns(struct health *h)
{
	struct timespec ts;
	uint64_t ns;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	/*
	 * Backends keep the newest timestamp they accepted from our key and
	 * drop anything not newer; after rounding to 2^24 ns, two probes in
	 * one slot would collide.
	 */
	if (ns < h->last_tai_ns + (1u << 24))
		ns = h->last_tai_ns + (1u << 24);
	h->last_tai_ns = ns;
	return ns;
}

static void probe_schedule(struct probe *p, ev_tstamp after)
{
	ev_timer_stop(p->h->loop, &p->timer);
	ev_timer_set(&p->timer, after > 0.01 ? after : 0.01, 0);
	ev_timer_start(p->h->loop, &p->timer);
}

/* the probe ended: the next one is an interval after this one was sent */
static void probe_done(struct probe *p)
{
	ev_tstamp now = ev_now(p->h->loop);

	p->in_flight = false;
	noise_handshake_wipe(&p->hs);
	probe_schedule(p, jitter(p->b->check.interval) - (now - p->sent));
}

static void probe_send(struct probe *p)
{
	struct health *h = p->h;
	struct backend *b = p->b;
	uint8_t msg[WG_INITIATION_LEN], tai[NOISE_TAI64N_LEN];
	uint64_t ns = next_tai_ns(h);
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	p->sent = ev_now(h->loop);
	p->in_flight = true;
	noise_tai64n(tai, &ts);
	if (noise_create_initiation(h->peer, &p->hs, msg, randombytes_random(), tai, NULL) < 0) {
		p->in_flight = false;
		health_report(h, b, PROBE_BAD_RESPONSE, "cannot build an initiation");
		probe_done(p);
		return;
	}
	if (send(p->io.fd, msg, sizeof msg, 0) < 0) {
		int e = errno;

		noise_handshake_wipe(&p->hs);
		p->in_flight = false;
		health_report(h, b, e == ECONNREFUSED ? PROBE_REFUSED : PROBE_NO_RESPONSE,
			      strerror(e));
		probe_done(p);
		return;
	}
	probe_schedule(p, b->check.timeout);
}

static void probe_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct probe *p = (struct probe *)((char *)w - offsetof(struct probe, timer));

	(void)loop;
	(void)revents;
	if (p->in_flight) {
		health_report(p->h, p->b, PROBE_NO_RESPONSE,
			      "handshake probe unanswered: the backend is down or unreachable, "
			      "or the probe public key is not one of its peers");
		probe_done(p);
		return;
	}
	probe_send(p);
}

static void probe_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct probe *p = (struct probe *)w;
	struct health *h = p->h;
	uint8_t buf[256];
	enum drop_reason why;

	(void)revents;
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(w->fd, buf, sizeof buf, MSG_DONTWAIT);
		uint32_t r_index;
		enum noise_result nr;
		enum wg_msg t;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			if (p->in_flight) {
				int e = errno;

				health_report(h, p->b,
					      e == ECONNREFUSED ? PROBE_REFUSED : PROBE_NO_RESPONSE,
					      strerror(e));
				probe_done(p);
			}
			return;
		}
		t = wg_classify(buf, (size_t)n, &why);
		if (!p->in_flight)
			continue;           /* late: that probe already counted as failed */
		if (t == WG_MSG_COOKIE && wg_receiver_index(t, buf) == p->hs.sender) {
			health_report(h, p->b, PROBE_COOKIE, "cookie reply");
			probe_done(p);
		} else if (t == WG_MSG_RESPONSE) {
			nr = noise_consume_response(h->peer, &p->hs, buf, &r_index);
			if (nr == NOISE_BAD_INDEX)
				continue;   /* an answer to an older probe */
			if (nr == NOISE_OK) {
				struct backend_counters *c = &p->b->c;
				ev_tstamp rtt;
				int k = 0;

				/* the loop time is from before the wait: read the clock */
				ev_now_update(loop);
				rtt = ev_now(loop) - p->sent;
				while (k < PROBE_BUCKETS - 1 && rtt > probe_bucket_bounds[k])
					k++;
				c->probe_hist[k]++;
				c->probe_seconds_sum += rtt;
				health_report(h, p->b, PROBE_OK, NULL);
			} else {
				health_report(h, p->b, PROBE_BAD_RESPONSE, noise_result_name(nr));
			}
			probe_done(p);
		}
	}
}

static int probe_open(struct probe *p)
{
	struct backend *b = p->b;
	int fd = socket(b->addr.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, &b->addr.sa, addr_len(&b->addr)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	ev_io_init(&p->io, probe_read_cb, fd, EV_READ);
	ev_io_start(p->h->loop, &p->io);
	return 0;
}

static void probe_stop(struct probe *p)
{
	ev_timer_stop(p->h->loop, &p->timer);
	if (p->io.fd >= 0) {
		ev_io_stop(p->h->loop, &p->io);
		close(p->io.fd);
		p->io.fd = -1;
	}
	p->in_flight = false;
	noise_handshake_wipe(&p->hs);
}

static void probe_free(struct backend *b)
{
	if (!b->probe)
		return;
	probe_stop(b->probe);
	free(b->probe);
	b->probe = NULL;
}

/* Start probing b if it has a handshake check and is not disabled. */
static void probe_start(struct health *h, struct backend *b, ev_tstamp first)
{
	struct probe *p = b->probe;
	int e;

	if (b->check.check != CHECK_HANDSHAKE || b->admin == ADMIN_DISABLED || !h->have_key) {
		probe_free(b);
		return;
	}
	if (!p) {
		p = calloc(1, sizeof *p);
		if (!p) {
			log_error("backend %s: out of memory for its probe", b->name);
			return;
		}
		p->h = h;
		p->b = b;
		p->io.fd = -1;
		ev_init(&p->timer, probe_timer_cb);
		b->probe = p;
	}
	if (p->io.fd < 0 && (e = probe_open(p)) < 0) {
		log_warnx("backend %s: probe socket: %s", b->name, strerror(-e));
		health_report(h, b, PROBE_NO_RESPONSE, strerror(-e));
	}
	if (!p->in_flight)
		probe_schedule(p, first);
}

/* Passive signal: probe now rather than at the next interval. */
static void on_suspect(struct backend *b, const char *why, void *arg)
{
	struct health *h = arg;
	struct probe *p = b->probe;
	ev_tstamp now = ev_now(h->loop);

	if (!p || p->in_flight || p->io.fd < 0 || now - p->last_early < SUSPECT_MIN_GAP)
		return;
	p->last_early = now;
	log_info("backend %s: suspect (%s), probing now", b->name, why);
	ev_timer_stop(h->loop, &p->timer);
	probe_send(p);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct health *h = w->data;
	ev_tstamp now = ev_now(loop);

	(void)revents;
	backend_update_rates(h->bs, now - h->last_tick);
	h->last_tick = now;
	for (unsigned i = 0; i < h->bs->n; i++) {
		struct backend *b = h->bs->v[i];

		/* still sending, and nothing came back for a while */
		if (b->health == HEALTH_UP && now - b->last_tx < 2 * TICK &&
		    b->last_tx - b->last_rx > SILENCE_SUSPECT)
			backend_suspect(h->bs, b, "no reply to forwarded traffic");
	}
}

int health_reconfigure(struct health *h, const struct conf *c)
{
	if (!c->has_probe_key) {
		h->have_key = false;
		return 0;
	}
	if (noise_peer_init(h->peer, c->probe_private_key, c->public_key,
			    c->has_probe_psk ? c->probe_psk : NULL) < 0) {
		log_error("probe key: the key pair gives an all-zero shared secret");
		h->have_key = false;
		return -EINVAL;
	}
	h->have_key = true;
	{
		char b64[sodium_base64_ENCODED_LEN(WG_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];

		sodium_bin2base64(b64, sizeof b64, h->peer->s_pub, WG_KEY_LEN,
				  sodium_base64_VARIANT_ORIGINAL);
		log_info("health probes use public key %s: add it as a peer on every backend",
			 b64);
	}
	return 0;
}

struct health *health_new(struct ev_loop *loop, const struct conf *c, struct backend_set *bs)
{
	struct health *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	h->peer = sodium_malloc(sizeof *h->peer);
	if (!h->peer) {
		free(h);
		return NULL;
	}
	h->loop = loop;
	h->bs = bs;
	bs->on_suspect = on_suspect;
	bs->suspect_arg = h;
	if (health_reconfigure(h, c) < 0) {
		health_free(h);
		return NULL;
	}
	ev_timer_init(&h->tick, tick_cb, TICK, TICK);
	h->tick.data = h;
	return h;
}

void health_start(struct health *h)
{
	h->last_tick = ev_now(h->loop);
	ev_timer_start(h->loop, &h->tick);
	for (unsigned i = 0; i < h->bs->n; i++) {
		struct backend *b = h->bs->v[i];
		ev_tstamp spread = b->check.interval < FIRST_PROBE_SPREAD ? b->check.interval
									  : FIRST_PROBE_SPREAD;

		probe_start(h, b, spread * randombytes_uniform(1001) / 1000.0);
	}
}

void health_backend_changed(struct health *h, struct backend *b)
{
	if (b->admin == ADMIN_DISABLED) {
		probe_free(b);
		set_health(h, b, HEALTH_DOWN, REASON_ADMIN, "disabled");
		return;
	}
	if (b->health == HEALTH_DOWN && b->reason == REASON_ADMIN) {
		if (b->check.check == CHECK_HANDSHAKE && h->have_key) {
			b->reason = REASON_INIT;
			log_notice("backend %s: enabled, probing", b->name);
		} else if (b->route_ok) {
			set_health(h, b, HEALTH_UP, REASON_NONE, "enabled, no check");
		}
	}
	if (b->check.check != CHECK_HANDSHAKE || !h->have_key) {
		probe_free(b);
		if (b->health == HEALTH_DOWN && b->route_ok)
			set_health(h, b, HEALTH_UP, REASON_NONE, "no check");
		return;
	}
	/* the address or the settings may have changed: a new socket, a probe now */
	if (b->probe)
		probe_stop(b->probe);
	probe_start(h, b, 0);
}

void health_backend_removed(struct health *h, struct backend *b)
{
	(void)h;
	probe_free(b);
}

void health_free(struct health *h)
{
	if (!h)
		return;
	ev_timer_stop(h->loop, &h->tick);
	for (unsigned i = 0; i < h->bs->n; i++)
		probe_free(h->bs->v[i]);
	h->bs->on_suspect = NULL;
	sodium_free(h->peer);
	free(h);
}
