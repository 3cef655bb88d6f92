/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_datagram: the data path (proxy.c and what it calls: wg, limit,
 * session, balance, backend), fed like the daemon is fed.
 *
 * The harness plays every other party on loopback: the clients (one
 * bound UDP socket per client endpoint, so wglbd's cookie replies and
 * forwarded backend datagrams come back to it), and the two backends
 * (bound UDP sockets whose ports go into the configuration, so the
 * datagrams wglbd forwards arrive here and the harness can answer on
 * the very upstream socket that sent them). Front socket 0 is bound to
 * 127.0.0.1, front socket 1 to the IPv6 wildcard (packet info, replies
 * from the address the client used). Nothing is sent off the host.
 * Sessions can also come from a state file (state_load).
 *
 * Every input starts from a fresh proxy (same configuration, new
 * session table, replay cache, source table and buckets), so a crash
 * reproduces from its input alone. The input is a sequence of records:
 *
 *     OP LEN PAYLOAD[LEN]       LEN 254: a 16-bit little-endian length
 *                               follows; LEN 255: the rest of the input
 *
 * OP bits 0-2: an index (client endpoint, backend peer, command...),
 *    bits 3-5: the kind of record (enum kind below),
 *    bit 6:    "fix": make the payload pass the checks a fuzzer cannot
 *              forge (mac1, mac2 from the cookie this client received,
 *              the receiver index a backend must answer, a sealed
 *              cookie reply), see fix_client() and fix_backend(),
 *    bit 7:    run the event loop once (EVRUN_NOWAIT) after the record.
 *
 * Time does not move within an input except through the event loop, so
 * the rate limits (per source, sessions per second, under load) are
 * reached by the number of records alone. Invariants of the session
 * table and the backends' counters are checked after every record.
 * tests/fuzz/gen_corpus.py writes seeds in this format.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "backend.h"
#include "conf.h"
#include "control.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "session.h"
#include "state.h"
#include "wg.h"

/* the public key of the fixtures in tests/data/wg (keys.txt: server_public) */
#define SERVICE_PUB "eJ1Ia3h6jdaV44myUpPI7qLQesmR2KUACwgePYGERwg="
#define N_BACKENDS 2
#define N_CLIENTS 8
#define MAX_PEERS 8
#define MAX_RECORDS 64
#define MAX_SESSIONS 6          /* max_sessions of both configurations */
#define DGRAM_MAX 65536

enum kind {
	K_FEED_0,        /* proxy_feed on listener 0 from client INDEX */
	K_FEED_1,        /* proxy_feed on listener 1 from client INDEX */
	K_SOCKET,        /* sent for real from client INDEX's socket to the front socket */
	K_BACKEND,       /* a backend answers peer INDEX (an upstream socket it heard from) */
	K_STATE,         /* backend INDEX&1's admin/health/weight from the payload */
	K_CLOSE,         /* close backend INDEX&1's sessions; policy (INDEX>>1)&3 */
	K_RECONF,        /* INDEX < 2: proxy_set_conf, INDEX&1 ? without public key nor
			    learning : with; else state_load of the payload (a state file) */
	K_CONTROL,       /* a control command INDEX (control_execute), a metrics scrape,
			    statistics; payload bit 2: state_save, state_load */
};

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_datagram: %s:%d: invariant failed: %s\n", \
				__FILE__, __LINE__, #cond);                           \
			abort();                                                      \
		}                                                                     \
	} while (0)

struct client {
	union sockaddr_any addr;
	int fd;                          /* bound to addr, or -1 */
	uint8_t sent_mac1[WG_MAC_LEN];   /* of the last handshake message it sent */
	bool has_cookie;
	uint8_t cookie[WG_MAC_LEN];      /* from wglbd's last cookie reply to it */
};

struct peer {
	int be;                          /* backend socket it was heard on */
	union sockaddr_any addr;         /* an upstream socket of wglbd */
	bool has_init;
	uint8_t init[WG_INITIATION_LEN]; /* the last initiation it forwarded */
};

static const char *const client_addrs[N_CLIENTS] = {
	"127.0.0.2:40000",
	"127.0.0.2:40001",              /* same source as 0, another port */
	"127.0.0.3:40000",
	"[::ffff:127.0.0.2]:40002",     /* IPv4-mapped: the source of 0 */
	"[::1]:40000",
	"[::1]:40001",                  /* same /64 as 4 */
	"127.0.0.4:40000",
	"[::ffff:127.0.0.3]:40000",
};

static struct ev_loop *loop;
static struct conf *conf_key, *conf_nokey;
static struct backend_set bs;
static bool bs_ready;
static struct proxy *px;
static bool listening;
static union sockaddr_any front[2];         /* as configured (1 is a wildcard) */
static union sockaddr_any front_dst[2];     /* where clients send to reach them */
static char state_path[64];
static int be_fd[N_BACKENDS];
static struct client clients[N_CLIENTS];
static struct peer peers[MAX_PEERS];
static unsigned n_peers, next_peer;
static uint8_t mac1_key[WG_KEY_LEN], cookie_key[WG_KEY_LEN];
static struct wg_cookie_issuer be_issuer;    /* the backends' own cookie replies */
static struct reload_status reload_st;
static unsigned reload_calls;
static FILE *devnull;
static uint8_t dgram[DGRAM_MAX];

/* ---- setup ---- */

static int bind_udp(const union sockaddr_any *a)
{
	int fd = socket(a->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, &a->sa, addr_len(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A port free now on addr (nothing else binds loopback ports here but the kernel). */
static unsigned free_port(const char *host)
{
	union sockaddr_any a;
	char s[64];
	socklen_t len = sizeof a;
	unsigned port = 0;
	int fd;

	snprintf(s, sizeof s, "%s:1", host);
	CHECK(addr_parse(s, &a) == 0);
	if (a.sa.sa_family == AF_INET)
		a.in.sin_port = 0;
	else
		a.in6.sin6_port = 0;
	fd = bind_udp(&a);
	if (fd < 0)
		return 0;
	if (getsockname(fd, &a.sa, &len) == 0)
		port = addr_port(&a);
	close(fd);
	return port;
}

static struct conf *load_conf(const char *text)
{
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	struct conf *c;

	CHECK(in);
	c = conf_load_stream(in, "fuzz.conf", stderr);
	fclose(in);
	CHECK(c);
	return c;
}

static void setup(void)
{
	unsigned be_port[N_BACKENDS], p0, p1;
	char text[2048];
	static const char limits[] =
		"[limits]\n"
		"handshake_rate = 20\n"
		"handshake_burst = 5\n"
		"max_sources = 3\n"
		"max_sessions_per_source = 2\n"
		"session_rate = 12\n"
		"under_load = 3\n"
		"learn_rate = 10\n";

	CHECK(sodium_init() >= 0);
	log_set_level(LOG_LVL_ERROR);
	devnull = fopen("/dev/null", "w");
	CHECK(devnull);
	loop = ev_default_loop(0);
	CHECK(loop);

	for (unsigned i = 0; i < N_BACKENDS; i++) {
		union sockaddr_any a;
		socklen_t len = sizeof a;

		CHECK(addr_parse("127.0.0.1:1", &a) == 0);
		a.in.sin_port = 0;
		be_fd[i] = bind_udp(&a);
		CHECK(be_fd[i] >= 0);
		CHECK(getsockname(be_fd[i], &a.sa, &len) == 0);
		be_port[i] = addr_port(&a);
	}
	p0 = free_port("127.0.0.1");
	p1 = free_port("[::]");
	listening = p0 && p1;
	if (!listening) {
		/* no loopback port (or no IPv6): front sockets stay unbound */
		p0 = 51820;
		p1 = 51821;
	}
	snprintf(text, sizeof text,
		 "[global]\n"
		 "listen = 127.0.0.1:%u, [::]:%u\n"
		 "%s"
		 "log_level = error\n"
		 "max_sessions = %u\n"
		 "policy = round-robin\n"
		 "source = 127.0.0.1, [::1]\n"
		 "%s"
		 "[backend a]\n"
		 "address = 127.0.0.1:%u\n"
		 "[backend b]\n"
		 "address = 127.0.0.1:%u\n"
		 "weight = 2\n"
		 "source = 127.0.0.5, 127.0.0.6\n",
		 p0, p1, "public_key = " SERVICE_PUB "\n", MAX_SESSIONS, limits,
		 be_port[0], be_port[1]);
	conf_key = load_conf(text);
	snprintf(text, sizeof text,
		 "[global]\n"
		 "listen = 127.0.0.1:%u, [::]:%u\n"
		 "%s"
		 "log_level = error\n"
		 "max_sessions = %u\n"
		 "policy = least-sessions\n"
		 "learn_unknown = no\n"
		 "%s"
		 "[backend a]\n"
		 "address = 127.0.0.1:%u\n"
		 "[backend b]\n"
		 "address = 127.0.0.1:%u\n",
		 p0, p1, "", MAX_SESSIONS, limits, be_port[0], be_port[1]);
	conf_nokey = load_conf(text);
	CHECK(conf_key->has_public_key && conf_key->n_listen == 2);
	front[0] = front_dst[0] = conf_key->listen[0];
	front[1] = conf_key->listen[1];
	CHECK(addr_parse("[::1]:1", &front_dst[1]) == 0);
	front_dst[1].in6.sin6_port = front[1].in6.sin6_port;
	snprintf(state_path, sizeof state_path, "/tmp/wglb-fuzz-state.%ld.json", (long)getpid());

	wg_mac1_key(mac1_key, conf_key->public_key);
	wg_cookie_key(cookie_key, conf_key->public_key);
	wg_cookie_issuer_init(&be_issuer, conf_key->public_key);

	for (unsigned i = 0; i < N_CLIENTS; i++) {
		CHECK(addr_parse(client_addrs[i], &clients[i].addr) == 0);
		clients[i].fd = bind_udp(&clients[i].addr);
	}
}

/* ---- what comes back to the harness ---- */

static void note_client_rx(struct client *c, const uint8_t *p, size_t len)
{
	enum drop_reason why;

	/* wglbd's cookie reply to this client's last handshake message */
	if (wg_classify(p, len, &why) == WG_MSG_COOKIE &&
	    wg_cookie_open(p, cookie_key, c->sent_mac1, c->cookie) == 0)
		c->has_cookie = true;
}

static void note_backend_rx(int be, const union sockaddr_any *from, const uint8_t *p, size_t len)
{
	struct peer *pe = NULL;
	enum drop_reason why;

	for (unsigned i = 0; i < n_peers; i++)
		if (peers[i].be == be && addr_equal(&peers[i].addr, from))
			pe = &peers[i];
	if (!pe) {
		if (n_peers < MAX_PEERS)
			pe = &peers[n_peers++];
		else
			pe = &peers[next_peer++ % MAX_PEERS];
		memset(pe, 0, sizeof *pe);
		pe->be = be;
		pe->addr = *from;
	}
	if (wg_classify(p, len, &why) == WG_MSG_INITIATION) {
		memcpy(pe->init, p, WG_INITIATION_LEN);
		pe->has_init = true;
	}
}

static ssize_t recv_from(int fd, union sockaddr_any *from)
{
	socklen_t alen = sizeof *from;

	memset(from, 0, sizeof *from);
	return recvfrom(fd, dgram, sizeof dgram, MSG_DONTWAIT, &from->sa, &alen);
}

static void drain(void)
{
	union sockaddr_any from;
	ssize_t n;

	for (int i = 0; i < N_BACKENDS; i++)
		while ((n = recv_from(be_fd[i], &from)) >= 0)
			note_backend_rx(i, &from, dgram, (size_t)n);
	for (int i = 0; i < N_CLIENTS; i++)
		if (clients[i].fd >= 0)
			while ((n = recv_from(clients[i].fd, &from)) >= 0)
				note_client_rx(&clients[i], dgram, (size_t)n);
}

/* ---- invariants ---- */

struct census {
	unsigned n, relayed;
	unsigned per_backend[N_BACKENDS];
};

static void count_session(struct session *s, void *arg)
{
	struct census *c = arg;
	unsigned i;

	/* a session learning its tunnel's backend has none yet, the others one */
	CHECK(!s->learning == !!s->be);
	/* without a socket of its own: a handshake through its backend's relay */
	if (s->io.fd < 0) {
		CHECK(!s->learning);
		c->relayed++;
	}
	/* pending only while relayed, and found by what its backend's answer carries */
	if (s->pended) {
		CHECK(s->io.fd < 0);
		CHECK(s->pd_be == s->be);
	}
	c->n++;
	if (s->learning)
		return;
	for (i = 0; i < bs.n; i++)
		if (bs.v[i] == s->be)
			break;
	CHECK(i < bs.n);
	c->per_backend[i]++;
}

static void check_invariants(void)
{
	struct census c = { 0 };

	CHECK(proxy_session_count(px) <= MAX_SESSIONS);
	proxy_foreach_session(px, count_session, &c);
	CHECK(c.n == proxy_session_count(px));
	CHECK(c.relayed == proxy_get_stats(px)->sessions_handshaking);
	for (unsigned i = 0; i < bs.n; i++)
		CHECK(bs.v[i]->sessions == c.per_backend[i]);
}

/* ---- per input ---- */

static void reset(void)
{
	if (px)
		proxy_free(px);
	px = NULL;
	if (bs_ready)
		backend_set_free(&bs);
	drain();
	n_peers = next_peer = 0;
	for (unsigned i = 0; i < N_CLIENTS; i++)
		clients[i].has_cookie = false;
	ev_now_update(loop);
	CHECK(backend_set_init(&bs, conf_key) == 0);
	bs_ready = true;
	px = proxy_new(loop, conf_key, &bs);
	CHECK(px);
	if (listening && proxy_listen(px) < 0)
		listening = false;      /* logged; go on without front sockets */
	proxy_start(px);
}

/* Make a client's handshake message pass what a fuzzer cannot forge. */
static void fix_client(struct client *c, uint8_t *p, size_t len)
{
	enum drop_reason why;
	enum wg_msg t = wg_classify(p, len, &why);

	if (t != WG_MSG_INITIATION && t != WG_MSG_RESPONSE)
		return;
	wg_mac1_write(t, p, mac1_key);
	if (c->has_cookie)
		wg_mac2_write(t, p, c->cookie);
}

static void client_sent(struct client *c, const uint8_t *p, size_t len)
{
	enum drop_reason why;
	enum wg_msg t = wg_classify(p, len, &why);

	if (t == WG_MSG_INITIATION || t == WG_MSG_RESPONSE)
		memcpy(c->sent_mac1, p + wg_mac1_offset(t), WG_MAC_LEN);
}

static void do_client(unsigned k, int how, bool fix, uint8_t *p, size_t len)
{
	struct client *c = &clients[k];

	if (fix)
		fix_client(c, p, len);
	client_sent(c, p, len);
	if (how < 2) {
		proxy_feed(px, (unsigned)how, &c->addr, p, len);
		return;
	}
	/* for real, through the front socket of its family and front_cb */
	if (c->fd < 0 || !listening)
		return;
	{
		const union sockaddr_any *to = &front_dst[c->addr.sa.sa_family == AF_INET ? 0 : 1];

		if (c->addr.sa.sa_family == AF_INET6 &&
		    IN6_IS_ADDR_V4MAPPED(&c->addr.in6.sin6_addr))
			return;         /* the v6 front socket is V6ONLY */
		/* received when the loop runs (OP bit 7): several make one batch */
		sendto(c->fd, p, len, MSG_DONTWAIT, &to->sa, addr_len(to));
	}
}

/* Make a backend's answer one wglbd cannot tell from a genuine one. */
static void fix_backend(const struct peer *pe, uint8_t *p, size_t len)
{
	enum drop_reason why;
	enum wg_msg t = wg_classify(p, len, &why);

	if (!pe->has_init)
		return;
	switch (t) {
	case WG_MSG_RESPONSE:
		/* receiver: the sender index of the initiation it answers */
		memcpy(p + 8, pe->init + 4, 4);
		wg_mac1_write(t, p, mac1_key);
		break;
	case WG_MSG_COOKIE: {
		uint8_t cookie[WG_MAC_LEN];

		/* the cookie is whatever the payload carried there */
		memcpy(cookie, p + 8, WG_MAC_LEN);
		wg_cookie_reply(&be_issuer, WG_MSG_INITIATION, pe->init, cookie, p);
		break;
	}
	default:
		break;
	}
}

static void do_backend(unsigned k, bool fix, uint8_t *p, size_t len)
{
	struct peer *pe;

	if (!n_peers)
		return;
	pe = &peers[k % n_peers];
	if (fix)
		fix_backend(pe, p, len);
	if (sendto(be_fd[pe->be], p, len, MSG_DONTWAIT, &pe->addr.sa, addr_len(&pe->addr)) < 0)
		return;
	ev_run(loop, EVRUN_NOWAIT);
}

static void set_admin(void *arg, struct backend *b, enum backend_admin st)
{
	(void)arg;
	if (b->admin == st)
		return;
	b->admin = st;
	if (st == ADMIN_DISABLED)
		proxy_close_backend_sessions(px, b);
}

static void do_state(unsigned k, const uint8_t *p, size_t len)
{
	struct backend *b = bs.v[k % bs.n];
	uint8_t f = len > 0 ? p[0] : 0;

	/* as the daemon does it: disabling closes the backend's sessions */
	if ((f & 3) != 3)
		set_admin(NULL, b, (enum backend_admin)(f & 3));
	b->health = f & 4 ? HEALTH_DOWN : HEALTH_UP;
	b->route_ok = !(f & 8);
	if (f & 16)
		b->overloaded_until = ev_now(loop) + BACKEND_OVERLOAD_HOLD;
	b->removed = f & 32;
	if (f & 64)
		b->up_since = ev_now(loop);     /* slow start (if configured) */
	if (len > 1)
		b->weight = 1 + p[1] % 8;
}

static int reload_fn(void *arg, char **err)
{
	(void)arg;
	if (reload_calls++ % 2) {
		*err = strdup("fuzz.conf:1: not reloaded by the fuzzer");
		reload_st.failed++;
		reload_st.last_ok = false;
		return -1;
	}
	reload_st.ok++;
	reload_st.last_ok = true;
	reload_st.last_ok_time = ev_time();
	return 0;
}

static void do_control(unsigned k, const uint8_t *p, size_t len)
{
	static const char *const cmds[8] = {
		"status", "backends", "sessions", "drain", "enable", "disable", "reload", "health",
	};
	static const char *const args[4] = { "", " a", " b", " nope" };
	struct control_ops ops = {
		.bs = &bs, .px = px, .reload = &reload_st, .reload_fn = reload_fn,
		.set_admin = set_admin, .start_time = ev_time(),
	};
	struct metrics_input mi = {
		.bs = &bs, .px = proxy_get_stats(px), .sessions = proxy_session_count(px),
		.reload = &reload_st, .version = PACKAGE_VERSION,
	};
	struct control_request req;
	char line[64], err[128];
	json_t *ans;

	snprintf(line, sizeof line, "%s%s\n", cmds[k % 8], args[len > 0 ? p[0] % 4 : 0]);
	if (control_parse(line, &req, err, sizeof err) == 0) {
		ans = control_execute(&ops, &req);
		CHECK(ans);
		CHECK(json_is_object(ans));
		free(json_dumps(ans, JSON_COMPACT));
		json_decref(ans);
	}
	CHECK(metrics_render(&mi, devnull) == 0);
	proxy_log_stats(px);
	if (len > 0 && p[0] & 4) {
		/* save the sessions; loading them back restores none: all exist already */
		CHECK(state_save(px, state_path, true) == 0);
		CHECK(state_load(px, &bs, state_path, 1e10) == 0);
		CHECK(access(state_path, F_OK) < 0);
	}
}

/*
 * A state file (JSON) with "@L0" and "@L1" standing for the front sockets'
 * addresses, whose ports the fuzzer cannot know.
 */
static void do_restore(const uint8_t *p, size_t len)
{
	FILE *f = fopen(state_path, "w");
	char l[2][ADDR_STRLEN];

	CHECK(f);
	addr_fmt(&front[0], l[0]);
	addr_fmt(&front[1], l[1]);
	for (size_t i = 0; i < len; i++) {
		if (i + 2 < len && p[i] == '@' && p[i + 1] == 'L' && (p[i + 2] & ~1) == '0') {
			fputs(l[p[i + 2] & 1], f);
			i += 2;
		} else {
			fputc(p[i], f);
		}
	}
	CHECK(fclose(f) == 0);
	/* any age: "written" may be 0 */
	state_load(px, &bs, state_path, 1e10);
	CHECK(access(state_path, F_OK) < 0);    /* never read twice */
}

static void run_record(uint8_t op, uint8_t *p, size_t len)
{
	unsigned k = op & 7;
	bool fix = op & 0x40;

	switch ((enum kind)((op >> 3) & 7)) {
	case K_FEED_0:
		do_client(k, 0, fix, p, len);
		break;
	case K_FEED_1:
		do_client(k, 1, fix, p, len);
		break;
	case K_SOCKET:
		do_client(k, 2, fix, p, len);
		break;
	case K_BACKEND:
		do_backend(k, fix, p, len);
		break;
	case K_STATE:
		do_state(k, p, len);
		break;
	case K_CLOSE:
		proxy_close_backend_sessions(px, bs.v[k & 1]);
		bs.policy = (enum balance_policy)((k >> 1) & 3);
		break;
	case K_RECONF:
		if (k < 2)
			proxy_set_conf(px, k & 1 ? conf_nokey : conf_key);
		else
			do_restore(p, len);
		break;
	case K_CONTROL:
		do_control(k, p, len);
		break;
	}
	if (op & 0x80)
		ev_run(loop, EVRUN_NOWAIT);
	drain();
	check_invariants();
}

/* WGLB_FUZZ_VERBOSE=1: debug log, and what each input did (do seeds reach their paths?) */
static void report(void)
{
	const struct proxy_stats *st = proxy_get_stats(px);

	fprintf(stderr, "sessions=%u created=%llu roamed=%llu learned=%llu cookies_sent=%llu "
		"backend_cookies=%llu under_load=%d", proxy_session_count(px),
		(unsigned long long)st->sessions_created, (unsigned long long)st->sessions_roamed,
		(unsigned long long)st->sessions_learned,
		(unsigned long long)st->cookie_replies_sent,
		(unsigned long long)st->backend_cookies, st->under_load);
	for (int r = 0; r < DROP__COUNT; r++)
		if (st->drops[r])
			fprintf(stderr, " %s=%llu", drop_reason_name(r),
				(unsigned long long)st->drops[r]);
	for (unsigned i = 0; i < bs.n; i++)
		fprintf(stderr, " %s:fwd=%llu,done=%llu,unanswered=%llu", bs.v[i]->name,
			(unsigned long long)bs.v[i]->c.handshakes_forwarded,
			(unsigned long long)bs.v[i]->c.handshakes_completed,
			(unsigned long long)bs.v[i]->c.handshakes_unanswered);
	fputc('\n', stderr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[DGRAM_MAX];
	static bool verbose;
	unsigned records = 0;

	if (!loop) {
		setup();
		verbose = getenv("WGLB_FUZZ_VERBOSE") != NULL;
		if (verbose)
			log_set_level(LOG_LVL_DEBUG);
	}
	reset();
	while (size >= 2 && records++ < MAX_RECORDS) {
		uint8_t op = data[0];
		size_t len = data[1];

		data += 2;
		size -= 2;
		if (len == 255) {
			len = size;
		} else if (len == 254) {
			if (size < 2)
				break;
			len = data[0] | (size_t)data[1] << 8;
			data += 2;
			size -= 2;
		}
		if (len > size)
			len = size;
		if (len > DGRAM_MAX)
			len = DGRAM_MAX;
		/* a private, writable copy: the fixes and proxy_feed may write */
		memcpy(buf, data, len);
		run_record(op, buf, len);
		data += len;
		size -= len;
	}
	if (verbose)
		report();
	return 0;
}
