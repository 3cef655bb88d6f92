/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy: the data path. Front sockets receive from clients on the VIP in
 * batches (recvmmsg, and UDP GRO where the kernel coalesces); each
 * datagram is classified, admitted, routed to its session and queued; the
 * queue goes out per session on its connected upstream socket in one
 * sendmmsg, runs of equal-sized datagrams as single UDP GSO messages.
 * Replies arrive on the upstream socket and leave the same way from the
 * exact VIP address the client used. Order within a session is kept. No
 * allocation per datagram: sessions are allocated only when a handshake,
 * a roaming client or an unknown tunnel creates one.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "balance.h"
#include "limit.h"
#include "log.h"
#include "proxy.h"

#define BATCH 64
#define BUF_SIZE 65536
#define CTRL_SIZE CMSG_SPACE(sizeof(struct in6_pktinfo))
/* a GSO message carries its segment size, and towards a client its source address too */
#define OUT_CTRL_SIZE (CMSG_SPACE(sizeof(uint16_t)) + CTRL_SIZE)
/* segments per GSO send (the kernel's UDP_MAX_SEGMENTS is 64 or more) */
#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 60000
/* received control data: the VIP address, and the segment size of a GRO batch */
#define IN_CTRL_SIZE (CTRL_SIZE + CMSG_SPACE(sizeof(int)))
/* datagrams handled per batch: GRO may pack many into each received buffer */
#define MAX_DGRAMS 1024
#define FRONT_SOCKBUF (4 << 20)
/* receive batches at least this large, in a table at least this full, look their sessions up in steps */
#define STEPPED_BATCH 4
#define STEPPED_SESSIONS 8192
/* handshakes seen again within this time are replays (a key lives 180 s) */
#define REPLAY_LIFETIME 180.0
#define REPLAY_ENTRIES 65536
/* the session table counts as under load from this fill on */
#define SESSIONS_LOADED 0.9

struct listener {
	ev_io io;
	struct proxy *px;
	union sockaddr_any addr;
	bool wildcard;
};

struct fwd {
	struct session *s;
	struct iovec iov;
};

/*
 * A backend's relay: one socket connected to it that carries the
 * handshakes of every session that has no socket of its own yet, many
 * per system call (GSO, since initiations are all 148 bytes), while the
 * backend's answers are matched to their session by receiver index
 * (session_find_pending). A session gets its own connected socket with
 * its first datagram that is not an initiation, that is once its tunnel
 * carries data: a handshake flood costs no descriptor, no local port and
 * no epoll change, and a new session no system call of its own.
 */
struct relay {
	ev_io io;
	struct proxy *px;
	struct backend *be;
	union sockaddr_any to;          /* the backend address it is connected to */
	union sockaddr_any from;        /* the source address it is bound to, if has_from */
	bool has_from;
	unsigned k;                     /* its slot in be->relay[] */
	ev_tstamp cookie_time;          /* last cookie reply the backend sent it, 0 if none */
	uint8_t cookie[WG_MAC_LEN];     /* the backend's cookie for the relay's address */
};

struct proxy {
	struct ev_loop *loop;
	const struct conf *conf;
	struct backend_set *bs;
	struct session_table *st;
	struct listener *ls;
	unsigned n_ls;
	ev_timer sweep;
	struct proxy_stats stats;
	bool check_mac1;
	uint8_t mac1_key[WG_KEY_LEN];

	/* admission */
	struct source_table *sources;
	struct replay_cache *replays;
	struct load_meter load;
	struct bucket session_bucket;
	struct wg_cookie_issuer cookies;   /* also opens backends' cookie replies */
	struct bucket learn_bucket;
	unsigned source_rr;

	/* receive batch, shared by every socket: one callback runs at a time */
	uint8_t *bufs;
	struct mmsghdr in[BATCH];
	struct iovec in_iov[BATCH];
	union sockaddr_any in_name[BATCH];
	uint8_t in_ctrl[BATCH][IN_CTRL_SIZE];
	unsigned in_used;               /* headers the last receive filled in */

	/* client -> backend datagrams of the current batch, in arrival order */
	struct fwd fwd[MAX_DGRAMS];
	unsigned n_fwd;
	unsigned n_relayed;             /* of them, for sessions without a socket */

	/* send batch: one message per datagram, or per run of equal-sized ones with GSO */
	struct mmsghdr out[MAX_DGRAMS];
	struct iovec out_iov[MAX_DGRAMS];
	struct session *out_sess[MAX_DGRAMS];   /* whose datagram out_iov[i] is, when they differ */
	uint8_t out_ctrl[MAX_DGRAMS][OUT_CTRL_SIZE];
	bool gso;                       /* UDP_SEGMENT works here */
	ev_tstamp socket_warned;
	/* the session of the previous client datagram: bulk traffic skips the hash */
	struct session *last;
	unsigned stepped_sessions;      /* from this many sessions on, batches look up in steps */
};

static void upstream_cb(struct ev_loop *loop, ev_io *w, int revents);
static void relay_cb(struct ev_loop *loop, ev_io *w, int revents);

static inline void drop(struct proxy *px, enum drop_reason r)
{
	px->stats.drops[r]++;
}

/*
 * One batch from fd into the shared receive buffers. The headers are set
 * up once; only the fields the kernel wrote last time are reset, so a
 * wake-up for a single datagram costs one header, not a whole batch.
 */
static int receive(struct proxy *px, int fd)
{
	int n;

	for (unsigned i = 0; i < px->in_used; i++) {
		struct msghdr *mh = &px->in[i].msg_hdr;

		mh->msg_namelen = sizeof px->in_name[i];
		mh->msg_controllen = IN_CTRL_SIZE;
		mh->msg_flags = 0;
	}
	n = recvmmsg(fd, px->in, BATCH, MSG_DONTWAIT, NULL);
	if (n > 0)
		px->in_used = (unsigned)n;
	return n;
}

/* The segment size of a buffer the kernel coalesced (UDP GRO), or 0. */
static size_t gro_size(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
			int v;

			memcpy(&v, CMSG_DATA(c), sizeof v);
			return v > 0 ? (size_t)v : 0;
		}
	}
	return 0;
}

/* Ask for coalesced receives; harmless where the kernel cannot. */
static void gro_enable(int fd)
{
	int one = 1;

	setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one);
}

/*
 * The datagrams of received buffer i, one at a time: a GRO buffer holds
 * several of one sender, all of one size but the last.
 */
struct segments {
	uint8_t *p;
	size_t left, seg;
};

static void segments_of(struct proxy *px, int i, struct segments *it)
{
	size_t total = px->in[i].msg_len, seg = gro_size(&px->in[i].msg_hdr);

	if (!seg || seg >= total)
		seg = total;
	else
		px->stats.gro_buffers++;
	it->p = px->bufs + (size_t)i * BUF_SIZE;
	it->left = total;
	it->seg = seg;
}

static bool next_segment(struct segments *it, uint8_t **p, size_t *len)
{
	if (!it->left)
		return false;
	*p = it->p;
	*len = it->left < it->seg ? it->left : it->seg;
	it->p += *len;
	it->left -= *len;
	return true;
}

/* The type of a message; an invalid one is counted by reason and WG_MSG_INVALID. */
static enum wg_msg classify(struct proxy *px, const uint8_t *p, size_t len)
{
	enum drop_reason why;
	enum wg_msg t = wg_classify(p, len, &why);

	if (t == WG_MSG_INVALID)
		drop(px, why);
	return t;
}

/*
 * A batch from a socket towards be. ECONNREFUSED is an ICMP port
 * unreachable for an earlier send: nothing listens there any more, a
 * passive signal to probe now.
 */
static int receive_upstream(struct proxy *px, int fd, struct backend *be)
{
	int n = receive(px, fd);

	if (n < 0) {
		if (errno == ECONNREFUSED && be)
			backend_suspect(px->bs, be, "port unreachable for client traffic");
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_debug("backend %s: recv: %s", be ? be->name : "-", strerror(errno));
	}
	return n;
}

const struct proxy_stats *proxy_get_stats(const struct proxy *px)
{
	return &px->stats;
}

unsigned proxy_session_count(const struct proxy *px)
{
	return session_table_count(px->st);
}

void proxy_foreach_session(struct proxy *px, void (*cb)(struct session *s, void *arg), void *arg)
{
	session_foreach(px->st, cb, arg);
}

const union sockaddr_any *proxy_session_listen(const struct session *s)
{
	return &s->ls->addr;
}

ev_tstamp proxy_now(const struct proxy *px)
{
	return ev_now(px->loop);
}

/* ---- upstream sockets ---- */

/*
 * The local address a new upstream socket leaves from: one of the
 * backend's (or the global) source addresses of its family, in turn, so
 * a backend's per-source-IP rate limit under load is shared by fewer
 * clients. NULL: let the kernel choose.
 */
static unsigned source_count(const struct proxy *px, const struct backend *be)
{
	const union sockaddr_any *v = be->n_source ? be->source : px->conf->source;
	unsigned n = be->n_source ? be->n_source : px->conf->n_source, match = 0;

	for (unsigned i = 0; i < n; i++)
		match += v[i].sa.sa_family == be->addr.sa.sa_family;
	return match;
}

/* Source address number k (of source_count) towards be. */
static const union sockaddr_any *source_nth(const struct proxy *px, const struct backend *be,
					    unsigned k)
{
	const union sockaddr_any *v = be->n_source ? be->source : px->conf->source;
	unsigned n = be->n_source ? be->n_source : px->conf->n_source;

	for (unsigned i = 0; i < n; i++)
		if (v[i].sa.sa_family == be->addr.sa.sa_family && k-- == 0)
			return &v[i];
	return NULL;
}

/* The next source address number towards be, in turn (0 when there are none). */
static unsigned pick_source_nth(struct proxy *px, const struct backend *be)
{
	unsigned match = source_count(px, be);

	return match ? px->source_rr++ % match : 0;
}

static const union sockaddr_any *pick_source(struct proxy *px, const struct backend *be)
{
	return source_nth(px, be, pick_source_nth(px, be));
}

/* The session's upstream socket joins the loop. */
static void session_attach(struct proxy *px, struct session *s, int fd)
{
	gro_enable(fd);
	ev_io_init(&s->io, upstream_cb, fd, EV_READ);
	s->io.data = px;
	ev_io_start(px->loop, &s->io);
}

/* A socket connected to be, from src (NULL: the kernel chooses): fd or -errno. */
static int upstream_socket(struct backend *be, const union sockaddr_any *src)
{
	int fd = socket(be->addr.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if ((src && bind(fd, &src->sa, addr_len(src)) < 0) ||
	    connect(fd, &be->addr.sa, addr_len(&be->addr)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static int upstream_open(struct proxy *px, struct session *s, struct backend *be)
{
	int fd = upstream_socket(be, pick_source(px, be));

	if (fd < 0)
		return fd;
	session_attach(px, s, fd);
	s->be = be;
	be->sessions++;
	return 0;
}

static void relay_close(struct proxy *px, struct backend *be, unsigned k)
{
	struct relay *r = be->relay[k];

	if (!r)
		return;
	ev_io_stop(px->loop, &r->io);
	close(r->io.fd);
	free(r);
	be->relay[k] = NULL;
}

/*
 * be's relay from its source address number k (one relay per source
 * address, so that a backend's per-address rate limit under load is
 * shared as the sessions' sockets share it), opened on first use and
 * again after the backend's or that source's address changed (handshakes
 * pending at the old one are lost, and retried by their clients). NULL
 * with errno set on failure.
 */
static struct relay *relay_get(struct proxy *px, struct backend *be, unsigned k)
{
	unsigned n = source_count(px, be);
	const union sockaddr_any *src;
	struct relay *r;
	int fd, size = FRONT_SOCKBUF;

	k = n ? k % n : 0;
	src = source_nth(px, be, k);
	r = be->relay[k];
	if (r && addr_equal(&r->to, &be->addr) &&
	    (src ? r->has_from && addr_equal(&r->from, src) : !r->has_from))
		return r;
	relay_close(px, be, k);
	fd = upstream_socket(be, src);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	r = calloc(1, sizeof *r);
	if (!r) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	/* it carries the bursts of every new session to this backend */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	gro_enable(fd);
	r->px = px;
	r->be = be;
	r->k = k;
	r->to = be->addr;
	if (src) {
		r->from = *src;
		r->has_from = true;
	}
	ev_io_init(&r->io, relay_cb, fd, EV_READ);
	ev_io_start(px->loop, &r->io);
	be->relay[k] = r;
	return r;
}

/* The relay a relayed session's handshake goes through, if open. */
static struct relay *session_relay(const struct proxy *px, const struct session *s)
{
	unsigned n = source_count(px, s->be);

	return s->be->relay[n ? s->relay_k % n : 0];
}

void proxy_backend_removed(struct proxy *px, struct backend *be)
{
	for (unsigned k = 0; k < CONF_MAX_SOURCES; k++)
		relay_close(px, be, k);
}

static void upstream_close(struct proxy *px, struct session *s)
{
	if (s->io.fd >= 0) {
		ev_io_stop(px->loop, &s->io);
		close(s->io.fd);
		s->io.fd = -1;
	}
	if (s->be) {
		s->be->sessions--;
		s->be = NULL;
	}
}

static void session_destroy(struct proxy *px, struct session *s)
{
	if (px->last == s)
		px->last = NULL;
	if (s->src)
		source_session_del(s->src);
	if (s->io.fd < 0)
		px->stats.sessions_handshaking--;
	upstream_close(px, s);
	session_remove(px->st, s);
	session_free(s);
}

/* ---- client -> backend ---- */

/* May a learning session's datagrams go to b? Draining and removed backends still own tunnels. */
static bool learn_target(const struct backend *b)
{
	/* right after a start no backend is probed yet: the owner may be any of them */
	return b->admin != ADMIN_DISABLED && b->route_ok &&
	       (b->health == HEALTH_UP || b->reason == REASON_INIT);
}

/*
 * A learning session does not know its backend: each datagram goes to
 * every backend that may own the tunnel (the others drop an index they do
 * not know), within the learning rate, since it multiplies traffic.
 */
static void learn_send(struct proxy *px, struct fwd *f, unsigned n)
{
	struct session *s = f[0].s;
	ev_tstamp now = ev_now(px->loop);
	bool v6sock = s->io.fd >= 0 && s->local_family == AF_INET6;

	for (unsigned i = 0; i < n; i++) {
		if (!bucket_take(&px->learn_bucket, px->conf->limits.learn_rate,
				 px->conf->limits.learn_rate, now) ||
		    !source_take(px->sources, s->src, now)) {
			drop(px, DROP_LEARN_RATE);
			continue;
		}
		for (unsigned j = 0; j < px->bs->n; j++) {
			const struct backend *b = px->bs->v[j];
			union sockaddr_any to = b->addr;

			if (!learn_target(b))
				continue;
			if (v6sock && to.sa.sa_family == AF_INET) {
				/* a dual-stack socket reaches IPv4 backends by mapped addresses */
				memset(&to, 0, sizeof to);
				to.in6.sin6_family = AF_INET6;
				to.in6.sin6_port = b->addr.in.sin_port;
				to.in6.sin6_addr.s6_addr[10] = to.in6.sin6_addr.s6_addr[11] = 0xff;
				memcpy(to.in6.sin6_addr.s6_addr + 12, &b->addr.in.sin_addr, 4);
			} else if (!v6sock && to.sa.sa_family != AF_INET) {
				continue;
			}
			if (sendto(s->io.fd, f[i].iov.iov_base, f[i].iov.iov_len, MSG_DONTWAIT, &to.sa,
				   addr_len(&to)) < 0)
				drop(px, DROP_SEND);
			else
				px->stats.learn_copies++;
		}
		s->tx_packets++;
		s->tx_bytes += f[i].iov.iov_len;
	}
}

/* A cmsg of level/type carrying len bytes of data, after *used bytes of ctrl. */
static void put_cmsg(struct msghdr *mh, size_t *used, int level, int type, const void *data,
		     size_t len)
{
	struct cmsghdr *c = (struct cmsghdr *)((uint8_t *)mh->msg_control + *used);

	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	*used += CMSG_SPACE(len);
}

/* The source address of a datagram to a client, when the VIP is a wildcard. */
static void put_pktinfo(struct msghdr *mh, size_t *used, const union sockaddr_any *local)
{
	if (local && local->sa.sa_family == AF_INET) {
		struct in_pktinfo pi = { .ipi_spec_dst = local->in.sin_addr };

		put_cmsg(mh, used, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi);
	} else if (local) {
		struct in6_pktinfo pi = { .ipi6_addr = local->in6.sin6_addr };

		put_cmsg(mh, used, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof pi);
	}
}

/*
 * Messages for the datagrams out_iov[first..n) to one destination. With
 * GSO, each run of equal-sized datagrams (the last of a run may be
 * shorter) becomes one message with UDP_SEGMENT, which the kernel splits
 * again after a single trip through the stack. Returns the message count.
 */
static unsigned build_out(struct proxy *px, unsigned first, unsigned n,
			  const union sockaddr_any *name, const union sockaddr_any *local)
{
	unsigned m = 0;

	for (unsigned i = first; i < n;) {
		struct msghdr *mh = &px->out[m].msg_hdr;
		size_t seg = px->out_iov[i].iov_len, total = seg, used = 0;
		unsigned j = i + 1;

		while (px->gso && j < n && j - i < GSO_MAX_SEGS &&
		       px->out_iov[j].iov_len <= seg && total + px->out_iov[j].iov_len <= GSO_MAX_BYTES) {
			total += px->out_iov[j].iov_len;
			if (px->out_iov[j++].iov_len < seg)
				break;  /* a shorter datagram ends the run */
		}
		memset(mh, 0, sizeof *mh);
		mh->msg_name = (void *)name;
		mh->msg_namelen = name ? addr_len(name) : 0;
		mh->msg_iov = &px->out_iov[i];
		mh->msg_iovlen = j - i;
		mh->msg_control = px->out_ctrl[m];
		put_pktinfo(mh, &used, local);
		if (j - i > 1) {
			uint16_t gso_size = (uint16_t)seg;

			put_cmsg(mh, &used, SOL_UDP, UDP_SEGMENT, &gso_size, sizeof gso_size);
		}
		mh->msg_controllen = used;
		if (!used)
			mh->msg_control = NULL;
		m++;
		i = j;
	}
	return m;
}

static bool gso_refused(int e)
{
	return e == EIO || e == EINVAL || e == EOPNOTSUPP || e == ENOPROTOOPT;
}

/*
 * Send out_iov[0..n) on fd (to name, from local), in as few system calls
 * as the batch allows. Returns how many datagrams left; the rest count as
 * send drops. A kernel or device that refuses GSO turns it off for good.
 */
static unsigned send_datagrams(struct proxy *px, int fd, unsigned n,
			       const union sockaddr_any *name, const union sockaddr_any *local)
{
	unsigned first = 0;
	bool retried = false;

	while (first < n) {
		unsigned m = build_out(px, first, n, name, local), done = 0;

		while (done < m) {
			int r = sendmmsg(fd, px->out + done, m - done, MSG_DONTWAIT);

			if (r < 0) {
				int e = errno;

				if (px->out[done].msg_hdr.msg_iovlen > 1 && gso_refused(e)) {
					log_notice("UDP GSO refused (%s): sending datagrams one by one",
						   strerror(e));
					px->gso = false;
					break;
				}
				/*
				 * A pending ICMP error of a connected socket fails one
				 * send and is then cleared: try once more.
				 */
				if ((e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH) &&
				    !retried) {
					retried = true;
					continue;
				}
				px->stats.drops[DROP_SEND] += n - first;
				return first;
			}
			for (int k = 0; k < r; k++)
				first += (unsigned)px->out[done + k].msg_hdr.msg_iovlen;
			done += (unsigned)r;
		}
	}
	return first;
}

static void send_run(struct proxy *px, struct fwd *f, unsigned n)
{
	struct session *s = f[0].s;
	unsigned sent;

	if (s->learning) {
		learn_send(px, f, n);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		px->out_iov[i] = f[i].iov;
		/* keepalives expect no answer: only data counts for the silence signal */
		if (f[i].iov.iov_len > WG_DATA_MIN_LEN)
			s->be->last_tx = ev_now(px->loop);
	}
	sent = send_datagrams(px, s->io.fd, n, NULL, NULL);
	for (unsigned i = 0; i < sent; i++) {
		s->tx_packets++;
		s->tx_bytes += f[i].iov.iov_len;
		s->be->c.tx_packets++;
		s->be->c.tx_bytes += f[i].iov.iov_len;
	}
}

/*
 * The queued datagrams of sessions without a socket, gathered per
 * backend (their order kept) and sent through its relay, so that a
 * batch of new handshakes to one backend leaves in one system call.
 */
static void flush_relayed(struct proxy *px)
{
	for (unsigned i = 0; i < px->n_fwd; i++) {
		struct session *first = px->fwd[i].s;
		struct backend *be;
		struct relay *r;
		unsigned n = 0, sent = 0, rk;

		if (!first || first->io.fd >= 0)
			continue;
		be = first->be;
		rk = first->relay_k;
		for (unsigned j = i; j < px->n_fwd; j++) {
			struct session *s = px->fwd[j].s;

			if (s && s->io.fd < 0 && s->be == be && s->relay_k == rk) {
				px->out_iov[n] = px->fwd[j].iov;
				px->out_sess[n++] = s;
				px->fwd[j].s = NULL;
			}
		}
		r = relay_get(px, be, rk);
		if (r) {
			sent = send_datagrams(px, r->io.fd, n, NULL, NULL);
			/* its source address may be gone: the next handshake opens it anew */
			if (sent < n)
				relay_close(px, be, r->k);
		} else {
			px->stats.drops[DROP_SEND] += n;
		}
		if (sent)
			be->last_tx = ev_now(px->loop);
		for (unsigned k = 0; k < sent; k++) {
			struct session *s = px->out_sess[k];
			size_t len = px->out_iov[k].iov_len;

			s->tx_packets++;
			s->tx_bytes += len;
			be->c.tx_packets++;
			be->c.tx_bytes += len;
		}
	}
	px->n_relayed = 0;
}

static void flush_fwd(struct proxy *px)
{
	unsigned i = 0;

	if (px->n_relayed)
		flush_relayed(px);
	while (i < px->n_fwd) {
		unsigned j = i + 1;

		if (!px->fwd[i].s) {
			i++;
			continue;
		}
		while (j < px->n_fwd && px->fwd[j].s == px->fwd[i].s)
			j++;
		send_run(px, px->fwd + i, j - i);
		i = j;
	}
	px->n_fwd = 0;
}

static void queue_fwd(struct proxy *px, struct session *s, uint8_t *p, size_t len)
{
	if (px->n_fwd == MAX_DGRAMS)
		flush_fwd(px);
	px->fwd[px->n_fwd].s = s;
	px->fwd[px->n_fwd].iov.iov_base = p;
	px->fwd[px->n_fwd].iov.iov_len = len;
	px->n_fwd++;
	px->n_relayed += s->io.fd < 0;
}

/* The VIP address a datagram was sent to, from its IP(V6)_PKTINFO. */
static bool local_from_cmsg(struct msghdr *mh, union sockaddr_any *local)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof pi);
			memset(local, 0, sizeof *local);
			local->in.sin_family = AF_INET;
			local->in.sin_addr = pi.ipi_addr;
			return true;
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof pi);
			memset(local, 0, sizeof *local);
			local->in6.sin6_family = AF_INET6;
			local->in6.sin6_addr = pi.ipi6_addr;
			return true;
		}
	}
	return false;
}

/* A single datagram to a client that has no session (a cookie reply). */
static void reply_direct(struct proxy *px, struct listener *ls, struct msghdr *in,
			 const union sockaddr_any *client, uint8_t *p, size_t len)
{
	union sockaddr_any local;
	bool from = ls->wildcard && local_from_cmsg(in, &local);

	/* the send batch is free here: queued client datagrams are still in fwd */
	px->out_iov[0].iov_base = p;
	px->out_iov[0].iov_len = len;
	if (send_datagrams(px, ls->io.fd, 1, client, from ? &local : NULL) == 1) {
		px->stats.tx_packets++;
		px->stats.tx_bytes += len;
	}
}

/*
 * Admission of a handshake message (type 1 or 2) from a client, before
 * any session is looked at: not a replay, its source known to the table
 * (which may be full), and within its token bucket. Under load, it must
 * also carry a valid mac2 for wglbd's own cookie, which proves the source
 * address; without one it is answered with a cookie reply, as WireGuard
 * itself does, and dropped.
 */
static bool admit_handshake(struct proxy *px, struct listener *ls, struct msghdr *mh,
			    const union sockaddr_any *client, enum wg_msg t, const uint8_t *p,
			    ev_tstamp now, struct source **srcp)
{
	const struct conf_limits *lim = &px->conf->limits;
	struct source *src;
	bool under;

	if (replay_cache_seen(px->replays, p + wg_mac1_offset(t), now)) {
		drop(px, DROP_DUPLICATE);
		return false;
	}
	src = source_get(px->sources, client, now);
	if (!src) {
		drop(px, DROP_SOURCE_LIMIT);
		return false;
	}
	/* under_load = 0: cookies are never asked for, whatever the load */
	if (lim->under_load > 0 &&
	    session_table_count(px->st) >= SESSIONS_LOADED * px->conf->max_sessions)
		load_meter_force(&px->load, now);
	under = lim->under_load > 0 && load_meter_hit(&px->load, lim->under_load, now);
	px->stats.under_load = under;
	if (under && px->check_mac1) {
		uint8_t cookie[WG_MAC_LEN], reply[WG_COOKIE_LEN];

		wg_cookie_for(&px->cookies, &client->sa, now, cookie);
		if (!wg_mac2_valid(t, p, cookie)) {
			if (!source_take(px->sources, src, now)) {
				drop(px, DROP_RATE_LIMITED);
				return false;
			}
			wg_cookie_reply(&px->cookies, t, p, cookie, reply);
			reply_direct(px, ls, mh, client, reply, sizeof reply);
			px->stats.cookie_replies_sent++;
			drop(px, DROP_COOKIE);
			return false;
		}
	}
	if (!source_take(px->sources, src, now)) {
		drop(px, DROP_RATE_LIMITED);
		return false;
	}
	*srcp = src;
	return true;
}

/*
 * May a new session for client be created? Each costs a socket: the
 * table, the source's share and the global rate bound them. src is the
 * source a handshake was already admitted for, or NULL: then the source
 * is looked up, and charged a token when charge is set (a roaming client
 * gets a socket for a datagram nobody authenticated). Returns the
 * source, or NULL with the drop counted.
 */
static struct source *admit_session(struct proxy *px, const union sockaddr_any *client,
				    struct source *src, bool charge, ev_tstamp now)
{
	const struct conf_limits *lim = &px->conf->limits;

	if (session_table_count(px->st) >= px->conf->max_sessions) {
		drop(px, DROP_SESSION_LIMIT);
		return NULL;
	}
	if (!src) {
		src = source_get(px->sources, client, now);
		if (!src) {
			drop(px, DROP_SOURCE_LIMIT);
			return NULL;
		}
		if (charge && !source_take(px->sources, src, now)) {
			drop(px, DROP_RATE_LIMITED);
			return NULL;
		}
	}
	if (source_sessions(src) >= lim->max_sessions_per_source) {
		drop(px, DROP_SOURCE_LIMIT);
		return NULL;
	}
	if (!bucket_take(&px->session_bucket, lim->session_rate, lim->session_rate, now)) {
		drop(px, DROP_SESSION_RATE);
		return NULL;
	}
	return src;
}

/*
 * A new session enters the tables. When they cannot take it (out of
 * memory), its socket and backend binding go with it and it is freed:
 * false, the drop counted.
 */
static bool session_register(struct proxy *px, struct session *s, struct listener *ls,
			     struct msghdr *mh, struct source *src)
{
	s->ls = ls;
	if (ls->wildcard)
		s->has_local = local_from_cmsg(mh, &s->local);
	if (session_insert(px->st, s) < 0) {
		upstream_close(px, s);
		session_free(s);
		drop(px, DROP_SESSION_LIMIT);
		return false;
	}
	s->src = src;
	source_session_add(src);
	px->stats.sessions_created++;
	return true;
}

/*
 * Out of descriptors or of local ports: sessions cannot be created. Said
 * at most every ten seconds, with what to do about it.
 */
static void socket_trouble(struct proxy *px, int e)
{
	ev_tstamp now = ev_now(px->loop);

	if (now - px->socket_warned < 10)
		return;
	px->socket_warned = now;
	if (e == EMFILE || e == ENFILE)
		log_warnx("no file descriptor for a new session (%s): raise LimitNOFILE / ulimit -n",
			  strerror(e));
	else if (e == EADDRINUSE || e == EAGAIN || e == EADDRNOTAVAIL)
		log_warnx("no local port for a new session (%s): every source address has at most "
			  "net.ipv4.ip_local_port_range ports; add [global] source addresses",
			  strerror(e));
	else
		log_warnx("cannot open a session socket: %s", strerror(e));
}

static struct session *session_open(struct proxy *px, struct listener *ls,
				    const union sockaddr_any *client, struct msghdr *mh,
				    struct backend *be, struct source *src, ev_tstamp now)
{
	struct session *s;
	int e;

	src = admit_session(px, client, src, true, now);
	if (!src)
		return NULL;
	s = session_new(client, now);
	if (!s) {
		drop(px, DROP_SOCKET);
		return NULL;
	}
	e = upstream_open(px, s, be);
	if (e < 0) {
		char a[ADDR_STRLEN];

		log_debug("session %s: upstream socket to %s: %s", addr_fmt(client, a), be->name,
			  strerror(-e));
		socket_trouble(px, -e);
		session_free(s);
		drop(px, DROP_SOCKET);
		return NULL;
	}
	return session_register(px, s, ls, mh, src) ? s : NULL;
}

/* A new handshake's session: it goes through be's relay, no socket of its own yet. */
static struct session *session_open_relayed(struct proxy *px, struct listener *ls,
					    const union sockaddr_any *client, struct msghdr *mh,
					    struct backend *be, struct source *src, ev_tstamp now)
{
	struct session *s;
	unsigned k;

	src = admit_session(px, client, src, true, now);
	if (!src)
		return NULL;
	k = pick_source_nth(px, be);
	if (!relay_get(px, be, k)) {
		socket_trouble(px, errno);
		drop(px, DROP_SOCKET);
		return NULL;
	}
	s = session_new(client, now);
	if (!s) {
		drop(px, DROP_SOCKET);
		return NULL;
	}
	s->relay_k = (uint8_t)k;
	s->be = be;
	be->sessions++;
	if (!session_register(px, s, ls, mh, src))
		return NULL;
	px->stats.sessions_handshaking++;
	return s;
}

/*
 * A relayed session's first datagram that is not an initiation: its
 * tunnel is up, it gets its own socket, and the backend moves its
 * endpoint there with the first packet it authenticates.
 */
static bool session_connect(struct proxy *px, struct session *s)
{
	int fd;

	flush_fwd(px);          /* what the session queued leaves through the relay first */
	fd = upstream_socket(s->be, pick_source(px, s->be));
	if (fd < 0) {
		char a[ADDR_STRLEN];

		log_debug("session %s: upstream socket to %s: %s", addr_fmt(&s->client, a),
			  s->be->name, strerror(-fd));
		socket_trouble(px, -fd);
		drop(px, DROP_SOCKET);
		return false;
	}
	session_attach(px, s, fd);
	session_unpend(px->st, s);
	s->cookie_time = 0;     /* a cookie belongs to the address it was given to */
	px->stats.sessions_handshaking--;
	return true;
}

/*
 * A session for an endpoint whose tunnel wglbd does not know (after a
 * restart, or on another balancer node): its socket is not connected,
 * and dual-stack when it can be, to reach backends of both families.
 */
static struct session *session_open_learning(struct proxy *px, struct listener *ls,
					     const union sockaddr_any *client, struct msghdr *mh,
					     uint32_t idx, ev_tstamp now)
{
	struct source *src;
	struct session *s;
	int fd, zero = 0, fam = AF_INET6;

	/* its datagrams are charged as they are copied, not here */
	src = admit_session(px, client, NULL, false, now);
	if (!src)
		return NULL;
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0) {
		if (fd >= 0)
			close(fd);
		fam = AF_INET;
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		drop(px, DROP_SOCKET);
		return NULL;
	}
	s = session_new(client, now);
	if (!s) {
		close(fd);
		drop(px, DROP_SOCKET);
		return NULL;
	}
	session_attach(px, s, fd);
	s->local_family = (uint8_t)fam;
	s->learning = true;
	s->learn_index = idx;
	if (!session_register(px, s, ls, mh, src))
		return NULL;
	{
		char a[ADDR_STRLEN];

		log_debug("session %s: unknown tunnel (index %08x), learning its backend",
			  addr_fmt(client, a), idx);
	}
	return s;
}

/* The backend b answered a learning session: the tunnel is b's. */
static void learn_bind(struct proxy *px, struct session *s, struct backend *b,
		       const union sockaddr_any *from, ev_tstamp now)
{
	char a[ADDR_STRLEN];

	if (connect(s->io.fd, &from->sa, addr_len(from)) < 0)
		log_debug("session %s: connect: %s", addr_fmt(&s->client, a), strerror(errno));
	s->learning = false;
	s->be = b;
	b->sessions++;
	session_add_index(px->st, s, s->learn_index, now);
	px->stats.sessions_learned++;
	log_info("session %s: tunnel learned, backend %s", addr_fmt(&s->client, a), b->name);
}

/* Which backend sent from (possibly as an IPv4-mapped address)? */
static struct backend *backend_by_addr(struct proxy *px, const union sockaddr_any *from)
{
	union sockaddr_any a = *from;

	addr_unmap(&a);
	for (unsigned i = 0; i < px->bs->n; i++)
		if (addr_equal(&px->bs->v[i]->addr, &a))
			return px->bs->v[i];
	return NULL;
}

int proxy_restore_session(struct proxy *px, const union sockaddr_any *listen,
			  const union sockaddr_any *client, const union sockaddr_any *local,
			  struct backend *be, const union sockaddr_any *upstream,
			  const uint32_t *idx, unsigned n_idx, double idle)
{
	ev_tstamp now = ev_now(px->loop);
	struct listener *ls = NULL;
	union sockaddr_any up;
	struct session *s;
	int fd, e;

	if (upstream) {
		/* a learned session's socket was dual-stack: its IPv4 address came mapped */
		up = *upstream;
		addr_unmap(&up);
		upstream = &up;
	}
	for (unsigned i = 0; i < px->n_ls && !ls; i++)
		if (addr_equal(&px->ls[i].addr, listen))
			ls = &px->ls[i];
	if (!ls || session_find_by_endpoint(px->st, client) ||
	    session_table_count(px->st) >= px->conf->max_sessions ||
	    client->sa.sa_family != ls->addr.sa.sa_family)
		return -EINVAL;
	fd = socket(be->addr.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * The backend knows the client at the upstream address it last saw:
	 * the same address and port keep its replies flowing before the
	 * client's next packet moves it. If taken, any port will do.
	 */
	if (upstream && upstream->sa.sa_family == be->addr.sa.sa_family &&
	    bind(fd, &upstream->sa, addr_len(upstream)) < 0)
		log_debug("restore: upstream %s taken, another port", "address");
	if (connect(fd, &be->addr.sa, addr_len(&be->addr)) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	s = session_new(client, now - idle);
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	session_attach(px, s, fd);
	s->be = be;
	be->sessions++;
	s->ls = ls;
	if (local) {
		s->local = *local;
		s->has_local = true;
	}
	if (session_insert(px->st, s) < 0) {
		upstream_close(px, s);
		session_free(s);
		return -ENOMEM;
	}
	s->src = source_get(px->sources, client, now);
	if (s->src)
		source_session_add(s->src);
	s->restored = true;
	for (unsigned i = 0; i < n_idx && i < SESSION_MAX_INDICES; i++)
		session_add_index(px->st, s, idx[i], now - idle);
	px->stats.sessions_created++;
	return 0;
}

/*
 * Move a session to another backend for its new handshake: the old
 * socket and indices go, the handshake takes the new backend's relay.
 */
static int session_move(struct proxy *px, struct session *s, struct backend *be)
{
	char a[ADDR_STRLEN];
	const char *from = s->be ? s->be->name : "-";

	log_info("session %s: moving from backend %s to %s", addr_fmt(&s->client, a), from,
		 be->name);
	if (s->io.fd >= 0)
		px->stats.sessions_handshaking++;
	upstream_close(px, s);
	session_unpend(px->st, s);
	session_clear_indices(px->st, s);
	s->cookie_time = 0;
	s->relay_k = (uint8_t)pick_source_nth(px, be);
	if (!relay_get(px, be, s->relay_k)) {
		int e = -errno;

		log_debug("session %s: relay to %s: %s", a, be->name, strerror(-e));
		return e;
	}
	s->be = be;
	be->sessions++;
	return 0;
}

static bool mac1_ok(struct proxy *px, enum wg_msg t, const uint8_t *p)
{
	return !px->check_mac1 || wg_mac1_valid(t, p, px->mac1_key);
}

/*
 * A client initiation on a known session: the steering point of a rekey.
 * Stay on the current backend (moving a healthy tunnel breaks the
 * client's connections inside it) unless it may no longer take
 * handshakes, or it left the previous initiation unanswered and sent no
 * cookie reply (a cookie is only valid at the backend that issued it).
 * Returns false when the datagram must be dropped.
 */
static bool steer_initiation(struct proxy *px, struct session *s, ev_tstamp now)
{
	struct backend *cur = s->be, *next;
	bool unanswered = s->init_pending && s->cookie_time < s->init_time;

	if (!cur) {
		/* a learning session's client starts a handshake: steer it like a new one */
		next = balance_pick(px->bs, &s->client, NULL, now);
		if (!next) {
			drop(px, DROP_NO_BACKEND);
			return false;
		}
		flush_fwd(px);
		s->learning = false;
		if (session_move(px, s, next) < 0) {
			session_destroy(px, s);
			drop(px, DROP_SOCKET);
			return false;
		}
		return true;
	}
	if (unanswered) {
		cur->c.handshakes_unanswered++;
		backend_suspect(px->bs, cur, "client initiation unanswered");
	}
	if (!backend_eligible(cur) || unanswered) {
		next = balance_pick(px->bs, &s->client, cur, now);
		if (!next) {
			drop(px, DROP_NO_BACKEND);
			return false;
		}
		if (next != cur) {
			flush_fwd(px);
			if (session_move(px, s, next) < 0) {
				session_destroy(px, s);
				drop(px, DROP_SOCKET);
				return false;
			}
		}
	}
	return true;
}

static void note_initiation(struct proxy *px, struct session *s, const uint8_t *p, ev_tstamp now)
{
	s->init_sender = wg_sender_index(p);
	if (s->io.fd < 0)
		session_pend(px->st, s);        /* the answer comes back through the relay */
	s->init_time = now;
	s->init_pending = true;
	memcpy(s->init_mac1, p + wg_mac1_offset(WG_MSG_INITIATION), WG_MAC_LEN);
	memcpy(s->init_msg, p, WG_INITIATION_LEN);
	s->be->c.handshakes_forwarded++;
}

/* Unknown endpoint: a new handshake, or a roaming client recognised by index. */
static struct session *route_new(struct proxy *px, struct listener *ls,
				 const union sockaddr_any *client, struct msghdr *mh,
				 enum wg_msg t, const uint8_t *p, struct source *src, ev_tstamp now)
{
	struct session *s, *old;
	struct backend *be;
	bool ambiguous;

	if (t == WG_MSG_INITIATION) {
		be = balance_pick(px->bs, client, NULL, now);
		if (!be) {
			drop(px, DROP_NO_BACKEND);
			return NULL;
		}
		s = session_open_relayed(px, ls, client, mh, be, src, now);
		if (s) {
			char a[ADDR_STRLEN];

			log_debug("session %s: new, backend %s", addr_fmt(client, a), be->name);
		}
		return s;
	}

	old = session_find_by_index(px->st, wg_receiver_index(t, p), now, &ambiguous);
	if (!old) {
		/* a tunnel wglbd does not know (restart, other node), or an index collision */
		if (px->conf->learn_unknown && (t == WG_MSG_DATA || t == WG_MSG_RESPONSE))
			return session_open_learning(px, ls, client, mh, wg_receiver_index(t, p),
						     now);
		drop(px, ambiguous ? DROP_AMBIGUOUS : DROP_NO_SESSION);
		return NULL;
	}
	/*
	 * The datagram cannot be authenticated here, so the old session is
	 * left alone: the new endpoint gets its own socket to the same
	 * backend, which moves its endpoint only if the packet is genuine.
	 */
	s = session_open(px, ls, client, mh, old->be, src, now);
	if (!s)
		return NULL;
	for (unsigned i = 0; i < SESSION_MAX_INDICES; i++)
		if (old->bidx[i].used)
			session_add_index(px->st, s, old->bidx[i].idx, old->bidx[i].seen);
	px->stats.sessions_roamed++;
	{
		char a[ADDR_STRLEN], b[ADDR_STRLEN];

		log_debug("session %s: roamed from %s, backend %s", addr_fmt(client, a),
			  addr_fmt(&old->client, b), s->be->name);
	}
	return s;
}

/* One datagram from a client: classify, admit, route, queue for sending. */
/* h: the client's session_endpoint_hash, or 0 when not computed yet */
static void client_datagram(struct proxy *px, struct listener *ls, struct msghdr *mh,
			    const union sockaddr_any *client, uint64_t h, uint8_t *p, size_t len,
			    ev_tstamp now)
{
	struct source *src = NULL;
	enum wg_msg t;
	struct session *s;
	bool handshake;

	t = classify(px, p, len);
	if (t == WG_MSG_INVALID)
		return;
	handshake = t == WG_MSG_INITIATION || t == WG_MSG_RESPONSE;
	if (handshake) {
		if (!mac1_ok(px, t, p)) {
			drop(px, DROP_BAD_MAC1);
			return;
		}
		if (!admit_handshake(px, ls, mh, client, t, p, now, &src))
			return;
	}
	if (px->last && addr_equal(&px->last->client, client))
		s = px->last;
	else
		s = px->last = session_find_hashed(
			px->st, client, h ? h : session_endpoint_hash(px->st, client));
	if (s && s->restored && t == WG_MSG_DATA) {
		/*
		 * A session from the state file is trusted once the client's
		 * data carries an index its backend gave; a snapshot older than
		 * the client's last move is dropped and the tunnel learned anew.
		 */
		if (session_has_index(s, wg_receiver_index(t, p), now)) {
			s->restored = false;
		} else {
			flush_fwd(px);
			session_destroy(px, s);
			s = NULL;
		}
	}
	if (s) {
		if (t == WG_MSG_INITIATION && !steer_initiation(px, s, now))
			return;
	} else {
		s = route_new(px, ls, client, mh, t, p, src, now);
		if (!s)
			return;
	}
	/*
	 * A relayed session gets its socket once its backend has answered: a
	 * client moved to a new backend keeps sending data on its old keys
	 * while that handshake is pending, which goes through the relay too.
	 */
	if (t == WG_MSG_INITIATION)
		note_initiation(px, s, p, now);
	else if (s->io.fd < 0 && !s->init_pending && !session_connect(px, s))
		return;
	/* the backend checks mac2 against its own cookie, which wglbd keeps */
	if (handshake && s->io.fd < 0) {
		const struct relay *r = session_relay(px, s);

		if (r && r->cookie_time > 0 && now - r->cookie_time < WG_COOKIE_USE_AGE)
			wg_mac2_write(t, p, r->cookie);
	} else if (handshake && s->cookie_time > 0 && now - s->cookie_time < WG_COOKIE_USE_AGE) {
		wg_mac2_write(t, p, s->be_cookie);
	}
	session_touch(s, now);
	queue_fwd(px, s, p, len);
}

void proxy_set_stepped_lookup(struct proxy *px, unsigned min_sessions)
{
	px->stepped_sessions = min_sessions;
}

void proxy_feed(struct proxy *px, unsigned listener, const union sockaddr_any *client,
		const uint8_t *p, size_t len)
{
	struct msghdr mh = { 0 };
	uint8_t *buf = px->bufs;

	if (listener >= px->n_ls || len > BUF_SIZE)
		return;
	/* the receive buffers are free between callbacks */
	memcpy(buf, p, len);
	px->stats.rx_packets++;
	px->stats.rx_bytes += len;
	client_datagram(px, &px->ls[listener], &mh, client, 0,
			buf, len, ev_now(px->loop));
	flush_fwd(px);
}

static void front_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *ls = (struct listener *)w;
	struct proxy *px = ls->px;
	ev_tstamp now = ev_now(loop);
	uint64_t h[BATCH];
	bool stepped;
	int n;

	(void)revents;
	n = receive(px, ls->io.fd);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_warn("recvmmsg on front socket");
		return;
	}
	/*
	 * The batch's lookups in steps (session.h): hash every source, then
	 * prefetch all their slots in one burst (the misses overlap best so),
	 * then find each session and prefetch it, then handle the datagrams,
	 * whose lookups now hit the cache. A run of buffers from one source
	 * is hashed once. Not here (h 0: not computed): a small batch (a
	 * light load: nothing to overlap), a table small enough to stay in
	 * the cache, a buffer from the previous datagram's client (found
	 * without the table).
	 */
	stepped = n >= STEPPED_BATCH && session_table_count(px->st) >= px->stepped_sessions;
	for (int i = 0; i < n; i++) {
		if (!stepped || (px->last && addr_equal(&px->in_name[i], &px->last->client)))
			h[i] = 0;
		else if (i > 0 && addr_equal(&px->in_name[i], &px->in_name[i - 1]))
			h[i] = h[i - 1];
		else
			h[i] = session_endpoint_hash(px->st, &px->in_name[i]);
	}
	for (int i = 0; stepped && i < n; i++)
		if (h[i] && (i == 0 || h[i] != h[i - 1]))
			session_prefetch_bucket(px->st, h[i]);
	for (int i = 0; stepped && i < n; i++)
		if (h[i] && (i == 0 || h[i] != h[i - 1]))
			__builtin_prefetch(session_find_hashed(px->st, &px->in_name[i], h[i]));
	for (int i = 0; i < n; i++) {
		struct msghdr *mh = &px->in[i].msg_hdr;
		struct segments it;
		uint8_t *p;
		size_t len;

		if (mh->msg_flags & MSG_TRUNC) {
			px->stats.rx_packets++;
			drop(px, DROP_TRUNCATED);
			continue;
		}
		for (segments_of(px, i, &it); next_segment(&it, &p, &len);) {
			px->stats.rx_packets++;
			px->stats.rx_bytes += len;
			client_datagram(px, ls, mh, &px->in_name[i], h[i], p, len, now);
		}
	}
	flush_fwd(px);
}

/* ---- backend -> client ---- */

/*
 * A backend under load answered the client's initiation with a cookie
 * reply. wglbd can open it (the key derives from the service public
 * key, the AAD is the mac1 it forwarded), keeps the cookie for this
 * upstream socket (the address the backend bound it to) and sends the
 * same initiation again at once with mac2 filled in: a challenged
 * initiation was never decrypted, so its timestamp is still new. The
 * client never sees the backend's cookie, only wglbd's own, so the two
 * cannot displace each other, and it does not wait 5 s for a retry.
 */
static bool absorb_backend_cookie(struct proxy *px, struct session *s, const uint8_t *p,
				  int fd, uint8_t *cookie)
{
	uint8_t msg[WG_INITIATION_LEN], opened[WG_MAC_LEN];

	/* opened apart: a reply that fails must not spoil the cookie in use */
	if (!px->check_mac1 || !s->init_pending ||
	    wg_receiver_index(WG_MSG_COOKIE, p) != s->init_sender ||
	    wg_cookie_open(p, px->cookies.reply_key, s->init_mac1, opened) < 0)
		return false;
	memcpy(cookie, opened, WG_MAC_LEN);
	memcpy(msg, s->init_msg, sizeof msg);
	wg_mac2_write(WG_MSG_INITIATION, msg, cookie);
	if (send(fd, msg, sizeof msg, MSG_DONTWAIT) < 0)
		drop(px, DROP_SEND);
	px->stats.backend_cookies++;
	return true;
}

/* A cookie reply from be: it is under load. */
static void note_backend_cookie(struct proxy *px, struct backend *be, ev_tstamp now)
{
	be->c.cookie_replies++;
	be->overloaded_until = now + BACKEND_OVERLOAD_HOLD;
	backend_suspect(px->bs, be, "cookie reply: under load");
}

/* Send out_iov[0..k) from the session's backend to its client, and count them. */
static void to_client(struct proxy *px, struct session *s, unsigned k, ev_tstamp now)
{
	struct backend *be = s->be;
	unsigned sent;

	be->last_rx = now;
	sent = send_datagrams(px, s->ls->io.fd, k, &s->client, s->has_local ? &s->local : NULL);
	for (unsigned i = 0; i < sent; i++) {
		size_t len = px->out_iov[i].iov_len;

		s->rx_packets++;
		s->rx_bytes += len;
		be->c.rx_packets++;
		be->c.rx_bytes += len;
		px->stats.tx_packets++;
		px->stats.tx_bytes += len;
	}
}

/*
 * The bookkeeping of a datagram of type t from be for session s: the
 * indices it announces, handshakes completed, cookie replies. It came
 * through relay r, or the session's own socket when r is NULL. Returns
 * false when it is not for the client: a cookie reply wglbd answered.
 */
static bool from_backend(struct proxy *px, struct session *s, struct backend *be, enum wg_msg t,
			 const uint8_t *p, ev_tstamp now, struct relay *r)
{
	switch (t) {
	case WG_MSG_RESPONSE:
		session_add_index(px->st, s, wg_sender_index(p), now);
		if (s->init_pending && wg_receiver_index(t, p) == s->init_sender) {
			s->init_pending = false;
			be->c.handshakes_completed++;
		}
		return true;
	case WG_MSG_INITIATION:
		session_add_index(px->st, s, wg_sender_index(p), now);
		be->c.backend_initiations++;
		return true;
	case WG_MSG_COOKIE:
		note_backend_cookie(px, be, now);
		s->cookie_time = now;
		if (!r)
			return !absorb_backend_cookie(px, s, p, s->io.fd, s->be_cookie);
		if (!absorb_backend_cookie(px, s, p, r->io.fd, r->cookie))
			return true;
		r->cookie_time = now;
		return false;
	default:
		return true;
	}
}

/*
 * Send out_iov[0..n), each to the client of out_sess[i]: one message per
 * datagram (their destinations differ), one sendmmsg per run of them on
 * the same front socket. A refused message is skipped, not the batch.
 */
static void to_clients(struct proxy *px, unsigned n, ev_tstamp now)
{
	unsigned i = 0;

	while (i < n) {
		struct listener *ls = px->out_sess[i]->ls;
		unsigned j = i, done = 0;

		for (; j < n && px->out_sess[j]->ls == ls; j++) {
			struct session *s = px->out_sess[j];
			struct msghdr *mh = &px->out[j - i].msg_hdr;
			size_t used = 0;

			memset(mh, 0, sizeof *mh);
			mh->msg_name = &s->client;
			mh->msg_namelen = addr_len(&s->client);
			mh->msg_iov = &px->out_iov[j];
			mh->msg_iovlen = 1;
			mh->msg_control = px->out_ctrl[j - i];
			put_pktinfo(mh, &used, s->has_local ? &s->local : NULL);
			mh->msg_controllen = used;
			if (!used)
				mh->msg_control = NULL;
		}
		while (done < j - i) {
			int r = sendmmsg(ls->io.fd, px->out + done, j - i - done, MSG_DONTWAIT);

			if (r < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					px->stats.drops[DROP_SEND] += j - i - done;
					break;
				}
				px->stats.drops[DROP_SEND]++;
				done++;
				continue;
			}
			for (int k = 0; k < r; k++) {
				struct session *s = px->out_sess[i + done + (unsigned)k];
				size_t len = px->out_iov[i + done + (unsigned)k].iov_len;

				s->rx_packets++;
				s->rx_bytes += len;
				s->be->c.rx_packets++;
				s->be->c.rx_bytes += len;
				px->stats.tx_packets++;
				px->stats.tx_bytes += len;
				s->be->last_rx = now;
			}
			done += (unsigned)r;
		}
		i = j;
	}
}

/*
 * The backend's answers to relayed handshakes: responses, cookie replies,
 * and data that went there before the client's first datagram moved the
 * backend's endpoint. Each is matched by receiver index to its pending
 * session; a backend's own initiation carries none and is dropped (the
 * backend retries once the client's data has moved its endpoint).
 */
static void relay_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct relay *r = (struct relay *)w;
	struct proxy *px = r->px;
	struct backend *be = r->be;
	ev_tstamp now = ev_now(loop);
	unsigned k = 0;
	int n;

	(void)revents;
	n = receive_upstream(px, r->io.fd, be);
	if (n < 0)
		return;
	for (int i = 0; i < n; i++) {
		struct segments it;
		uint8_t *p;
		size_t len;

		if (px->in[i].msg_hdr.msg_flags & MSG_TRUNC) {
			drop(px, DROP_TRUNCATED);
			continue;
		}
		for (segments_of(px, i, &it); next_segment(&it, &p, &len);) {
			enum wg_msg t = classify(px, p, len);
			struct session *s;

			if (t == WG_MSG_INVALID)
				continue;
			s = t == WG_MSG_INITIATION ? NULL
						   : session_find_pending(px->st, be,
									  wg_receiver_index(t, p));
			if (!s) {
				drop(px, DROP_STRAY);
				continue;
			}
			be->last_rx = now;
			if (!from_backend(px, s, be, t, p, now, r))
				continue;
			if (k == MAX_DGRAMS) {
				to_clients(px, k, now);
				k = 0;
			}
			px->out_iov[k].iov_base = p;
			px->out_iov[k].iov_len = len;
			px->out_sess[k++] = s;
		}
	}
	if (k)
		to_clients(px, k, now);
}

static void upstream_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session *s = (struct session *)w;
	struct proxy *px = w->data;
	struct backend *be = s->be;
	ev_tstamp now = ev_now(loop);
	unsigned k = 0;
	int n;

	(void)revents;
	n = receive_upstream(px, s->io.fd, be);
	if (n < 0)
		return;
	for (int i = 0; i < n; i++) {
		struct segments it;
		uint8_t *p;
		size_t len;

		if (px->in[i].msg_hdr.msg_flags & MSG_TRUNC) {
			drop(px, DROP_TRUNCATED);
			continue;
		}
		if (s->learning || !be) {
			/* the first backend that answers owns the tunnel */
			struct backend *owner = s->learning ? backend_by_addr(px, &px->in_name[i])
							    : NULL;

			if (!owner) {
				drop(px, DROP_STRAY);
				continue;
			}
			learn_bind(px, s, owner, &px->in_name[i], now);
			be = owner;
		}
		for (segments_of(px, i, &it); next_segment(&it, &p, &len);) {
			enum wg_msg t = classify(px, p, len);

			if (t == WG_MSG_INVALID)
				continue;
			if (!from_backend(px, s, be, t, p, now, NULL))
				continue;
			if (k == MAX_DGRAMS) {
				to_client(px, s, k, now);
				k = 0;
			}
			px->out_iov[k].iov_base = p;
			px->out_iov[k].iov_len = len;
			k++;
		}
	}
	if (k)
		to_client(px, s, k, now);
}
/* ---- expiry ---- */

static void expire_one(struct session *s, void *arg)
{
	struct proxy *px = arg;
	char a[ADDR_STRLEN];

	log_debug("session %s: expired (backend %s)", addr_fmt(&s->client, a),
		  s->be ? s->be->name : "-");
	px->stats.sessions_expired++;
	if (s->learning)
		px->stats.learn_failed++;
	session_destroy(px, s);
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct proxy *px = w->data;

	(void)revents;
	session_expire(px->st, ev_now(loop), px->conf->session_timeout, expire_one, px);
	source_table_collect(px->sources, ev_now(loop));
}

/* ---- setup ---- */

struct proxy *proxy_new(struct ev_loop *loop, const struct conf *c, struct backend_set *bs)
{
	struct proxy *px = calloc(1, sizeof *px);

	if (!px)
		return NULL;
	px->loop = loop;
	px->conf = c;
	px->bs = bs;
	px->st = session_table_new();
	px->bufs = malloc((size_t)BATCH * BUF_SIZE);
	px->ls = calloc(c->n_listen, sizeof *px->ls);
	if (!px->st || !px->bufs || !px->ls) {
		proxy_free(px);
		return NULL;
	}
	for (int i = 0; i < BATCH; i++) {
		struct msghdr *mh = &px->in[i].msg_hdr;

		px->in_iov[i].iov_base = px->bufs + (size_t)i * BUF_SIZE;
		px->in_iov[i].iov_len = BUF_SIZE;
		mh->msg_name = &px->in_name[i];
		mh->msg_namelen = sizeof px->in_name[i];
		mh->msg_iov = &px->in_iov[i];
		mh->msg_iovlen = 1;
		mh->msg_control = px->in_ctrl[i];
		mh->msg_controllen = IN_CTRL_SIZE;
	}
	px->sources = source_table_new(c->limits.max_sources, c->limits.handshake_rate,
				       c->limits.handshake_burst);
	px->replays = replay_cache_new(REPLAY_ENTRIES, REPLAY_LIFETIME);
	if (!px->sources || !px->replays) {
		proxy_free(px);
		return NULL;
	}
	px->session_bucket.tokens = c->limits.session_rate;
	px->session_bucket.last = ev_now(loop);
	px->gso = true;
	px->stepped_sessions = STEPPED_SESSIONS;
	px->learn_bucket.tokens = c->limits.learn_rate;
	px->learn_bucket.last = ev_now(loop);
	if (c->has_public_key) {
		px->check_mac1 = true;
		wg_mac1_key(px->mac1_key, c->public_key);
		wg_cookie_issuer_init(&px->cookies, c->public_key);
	}
	for (unsigned i = 0; i < c->n_listen; i++) {
		ev_io_init(&px->ls[i].io, front_cb, -1, EV_READ);
		px->ls[i].px = px;
		px->ls[i].addr = c->listen[i];
		px->ls[i].wildcard = addr_is_wildcard(&c->listen[i]);
	}
	px->n_ls = c->n_listen;
	return px;
}

static int listener_bind(struct listener *ls)
{
	int fam = ls->addr.sa.sa_family, one = 1, size = FRONT_SOCKBUF, fd;
	char a[ADDR_STRLEN];

	addr_fmt(&ls->addr, a);
	fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("listen %s: socket", a);
		return -errno;
	}
	/* [::] and 0.0.0.0 on the same port are two sockets */
	if (fam == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
		goto fail;
	if (ls->wildcard) {
		if (fam == AF_INET && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0)
			goto fail;
		if (fam == AF_INET6 &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) < 0)
			goto fail;
	}
	/* bursts from many clients land here: ask for room (FORCE needs CAP_NET_ADMIN) */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	if (bind(fd, &ls->addr.sa, addr_len(&ls->addr)) < 0)
		goto fail;
	gro_enable(fd);
	ev_io_set(&ls->io, fd, EV_READ);
	{
		int rcv = 0, snd = 0;
		socklen_t l = sizeof rcv;

		getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &l);
		l = sizeof snd;
		getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, &l);
		/* without CAP_NET_ADMIN the kernel caps them at net.core.[rw]mem_max */
		log_msg(rcv < FRONT_SOCKBUF ? LOG_LVL_NOTICE : LOG_LVL_INFO,
			"listening on %s (socket buffers: receive %d KiB, send %d KiB%s)", a,
			rcv / 1024, snd / 1024,
			rcv < FRONT_SOCKBUF ? "; raise net.core.rmem_max/wmem_max for bursts" : "");
	}
	return 0;
fail:
	log_warn("listen %s", a);
	{
		int e = -errno;

		close(fd);
		return e;
	}
}

int proxy_listen(struct proxy *px)
{
	for (unsigned i = 0; i < px->n_ls; i++) {
		int e = listener_bind(&px->ls[i]);

		if (e < 0)
			return e;
	}
	return 0;
}

static void sweep_arm(struct proxy *px)
{
	ev_tstamp step = px->conf->session_timeout / SESSION_EXPIRY_STEPS;

	if (step > 1.0)
		step = 1.0;
	ev_timer_stop(px->loop, &px->sweep);
	ev_timer_init(&px->sweep, sweep_cb, step, step);
	px->sweep.data = px;
	ev_timer_start(px->loop, &px->sweep);
}

void proxy_start(struct proxy *px)
{
	for (unsigned i = 0; i < px->n_ls; i++)
		ev_io_start(px->loop, &px->ls[i].io);
	sweep_arm(px);
}

void proxy_set_conf(struct proxy *px, const struct conf *c)
{
	px->conf = c;
	px->check_mac1 = c->has_public_key;
	if (c->has_public_key) {
		wg_mac1_key(px->mac1_key, c->public_key);
		wg_cookie_issuer_init(&px->cookies, c->public_key);
	}
	/* the table's size is fixed at start; its rates follow the file */
	source_table_set_rate(px->sources, c->limits.handshake_rate, c->limits.handshake_burst);
	sweep_arm(px);
}

struct close_ctx {
	struct proxy *px;
	const struct backend *be;
	unsigned n;
};

static void close_if_backend(struct session *s, void *arg)
{
	struct close_ctx *c = arg;

	if (s->be == c->be) {
		session_destroy(c->px, s);
		c->n++;
	}
}

unsigned proxy_close_backend_sessions(struct proxy *px, const struct backend *be)
{
	struct close_ctx c = { .px = px, .be = be };

	session_foreach(px->st, close_if_backend, &c);
	return c.n;
}

static void free_one(struct session *s, void *arg)
{
	session_destroy(arg, s);
}

void proxy_free(struct proxy *px)
{
	if (!px)
		return;
	ev_timer_stop(px->loop, &px->sweep);
	if (px->st) {
		session_foreach(px->st, free_one, px);
		session_table_free(px->st);
	}
	for (unsigned i = 0; px->bs && i < px->bs->n; i++)
		proxy_backend_removed(px, px->bs->v[i]);
	for (unsigned i = 0; i < px->n_ls; i++) {
		if (px->ls[i].io.fd >= 0) {
			ev_io_stop(px->loop, &px->ls[i].io);
			close(px->ls[i].io.fd);
		}
	}
	free(px->ls);
	free(px->bufs);
	source_table_free(px->sources);
	replay_cache_free(px->replays);
	wg_cookie_issuer_wipe(&px->cookies);
	free(px);
}

void proxy_log_stats(const struct proxy *px)
{
	const struct proxy_stats *st = &px->stats;

	log_notice("stats: rx_packets=%llu rx_bytes=%llu tx_packets=%llu tx_bytes=%llu "
		   "sessions=%u sessions_created=%llu sessions_roamed=%llu sessions_expired=%llu "
		   "sessions_learned=%llu learn_failed=%llu learn_copies=%llu",
		   (unsigned long long)st->rx_packets, (unsigned long long)st->rx_bytes,
		   (unsigned long long)st->tx_packets, (unsigned long long)st->tx_bytes,
		   session_table_count(px->st), (unsigned long long)st->sessions_created,
		   (unsigned long long)st->sessions_roamed,
		   (unsigned long long)st->sessions_expired,
		   (unsigned long long)st->sessions_learned, (unsigned long long)st->learn_failed,
		   (unsigned long long)st->learn_copies);
	for (int r = 0; r < DROP__COUNT; r++)
		log_notice("stats: drop reason=%s count=%llu", drop_reason_name(r),
			   (unsigned long long)st->drops[r]);
	for (unsigned i = 0; i < px->bs->n; i++) {
		const struct backend *b = px->bs->v[i];

		log_notice("stats: backend %s health=%s reason=%s admin=%s sessions=%u tx_packets=%llu "
			   "tx_bytes=%llu rx_packets=%llu rx_bytes=%llu handshakes_forwarded=%llu "
			   "handshakes_completed=%llu handshakes_unanswered=%llu",
			   b->name, backend_health_name(b->health), health_reason_name(b->reason),
			   backend_admin_name(b->admin),
			   b->sessions, (unsigned long long)b->c.tx_packets,
			   (unsigned long long)b->c.tx_bytes, (unsigned long long)b->c.rx_packets,
			   (unsigned long long)b->c.rx_bytes,
			   (unsigned long long)b->c.handshakes_forwarded,
			   (unsigned long long)b->c.handshakes_completed,
			   (unsigned long long)b->c.handshakes_unanswered);
	}
}
