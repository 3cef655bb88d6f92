/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The data path end to end on loopback, in process: a client socket, the
 * proxy and a backend socket. Over loopback a GSO send to a socket that
 * asked for UDP_GRO arrives coalesced, so this also drives the GRO
 * receive paths and the GSO send paths of the proxy.
 */
#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/udp.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "conf.h"
#include "proxy.h"

static struct ev_loop *loop;
static struct conf *conf;
static struct backend_set bs;
static struct proxy *px;
static int client = -1, sink = -1;
static struct sockaddr_in upstream;     /* wglbd's socket towards the sink */

static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void spin(void)
{
	for (int i = 0; i < 20; i++) {
		usleep(2000);
		ev_run(loop, EVRUN_NOWAIT);
	}
}

static void setup(void)
{
	char text[512];
	uint16_t vip = free_port(), be = free_port();
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 1 };
	int one = 1;
	FILE *f;

	cr_assert(sodium_init() >= 0);
	snprintf(text, sizeof text,
		 "[global]\nlisten = 127.0.0.1:%u\nlearn_unknown = no\ncontrol = /nonexistent\n"
		 "[limits]\nunder_load = 0\n[backend sink]\naddress = 127.0.0.1:%u\n",
		 vip, be);
	f = fmemopen(text, strlen(text), "r");
	conf = conf_load_stream(f, "test", stderr);
	fclose(f);
	cr_assert_not_null(conf);
	loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_eq(backend_set_init(&bs, conf), 0);
	px = proxy_new(loop, conf, &bs);
	cr_assert_not_null(px);
	cr_assert_eq(proxy_listen(px), 0);
	proxy_start(px);

	sink = socket(AF_INET, SOCK_DGRAM, 0);
	a.sin_port = htons(be);
	cr_assert_eq(bind(sink, (struct sockaddr *)&a, sizeof a), 0);
	setsockopt(sink, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	client = socket(AF_INET, SOCK_DGRAM, 0);
	a.sin_port = htons(vip);
	cr_assert_eq(connect(client, (struct sockaddr *)&a, sizeof a), 0);
	setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	(void)one;
}

static void teardown(void)
{
	proxy_free(px);
	backend_set_free(&bs);
	ev_loop_destroy(loop);
	conf_free(conf);
	close(client);
	close(sink);
}

TestSuite(proxy, .init = setup, .fini = teardown);

static void data_msg(uint8_t *p, size_t len, uint32_t idx, uint64_t counter)
{
	memset(p, 0xab, len);
	p[0] = 4;
	p[1] = p[2] = p[3] = 0;
	memcpy(p + 4, &idx, 4);
	memcpy(p + 8, &counter, 8);
}

/* Send n datagrams of len bytes as one GSO message. */
static void send_gso(int fd, const struct sockaddr_in *to, const uint8_t *buf, size_t len,
		     unsigned n)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len * n };
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {
		.msg_name = (void *)to, .msg_namelen = to ? sizeof *to : 0,
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof u.buf,
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	uint16_t seg = (uint16_t)len;

	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof seg);
	memcpy(CMSG_DATA(c), &seg, sizeof seg);
	cr_assert_eq(sendmsg(fd, &mh, 0), (ssize_t)(len * n), "GSO send: %m");
}

/* Receive datagrams (coalesced or not) until n segments of len bytes have come. */
static void recv_segments(int fd, size_t len, unsigned n, uint64_t first_counter,
			  struct sockaddr_in *from)
{
	uint8_t buf[65536];
	unsigned got = 0;
	int one = 1;

	setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one);
	while (got < n) {
		socklen_t fl = sizeof *from;
		ssize_t r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)from, &fl);

		cr_assert(r > 0, "only %u of %u datagrams arrived", got, n);
		cr_assert_eq(r % (ssize_t)len, 0, "a buffer of %zd bytes is not whole datagrams", r);
		for (ssize_t off = 0; off < r; off += (ssize_t)len, got++) {
			uint64_t c;

			cr_assert_eq(buf[off], 4);
			memcpy(&c, buf + off + 8, 8);
			cr_assert_eq(c, first_counter + got, "order kept: %llu at %u",
				     (unsigned long long)c, got);
		}
	}
	cr_assert_eq(got, n);
}

Test(proxy, coalesced_batches_both_ways)
{
	uint8_t init[148] = { 1 }, buf[64 * 100], got[256];
	const struct proxy_stats *st = proxy_get_stats(px);
	socklen_t l = sizeof upstream;
	ssize_t r;

	struct sockaddr_in relay;
	uint8_t resp[92] = { 2 };

	/* a handshake opens the session (no public_key: no mac1 check) */
	randombytes_buf(init + 4, sizeof init - 4);
	cr_assert_eq(send(client, init, sizeof init, 0), (ssize_t)sizeof init);
	spin();
	l = sizeof relay;
	r = recvfrom(sink, got, sizeof got, 0, (struct sockaddr *)&relay, &l);
	cr_assert_eq(r, 148, "the initiation reaches the backend");
	cr_assert_eq(proxy_session_count(px), 1);
	cr_assert_eq(st->sessions_handshaking, 1, "no socket of its own yet");

	/* the response to the relay finds the session by the initiator's index */
	randombytes_buf(resp + 4, 4);
	memcpy(resp + 8, init + 4, 4);
	randombytes_buf(resp + 12, sizeof resp - 12);
	cr_assert_eq(sendto(sink, resp, sizeof resp, 0, (struct sockaddr *)&relay, sizeof relay),
		     (ssize_t)sizeof resp);
	spin();
	cr_assert_eq(recv(client, got, sizeof got, 0), (ssize_t)sizeof resp,
		     "the response reaches the client");
	cr_assert_eq(memcmp(got, resp, sizeof resp), 0);
	cr_assert_eq(bs.v[0]->c.handshakes_completed, 1);

	/* one for an index nobody waits for is dropped */
	resp[8] ^= 0xff;
	cr_assert_eq(sendto(sink, resp, sizeof resp, 0, (struct sockaddr *)&relay, sizeof relay),
		     (ssize_t)sizeof resp);
	spin();
	cr_assert_eq(st->drops[DROP_STRAY], 1);

	/* 40 data messages in one GSO send: wglbd gets them as one GRO buffer */
	for (unsigned i = 0; i < 40; i++)
		data_msg(buf + i * 100, 100, 7, i);
	send_gso(client, NULL, buf, 100, 40);
	spin();
	/* data gives the session its own socket: the backend moves its endpoint there */
	recv_segments(sink, 100, 40, 0, &upstream);
	cr_assert_neq(upstream.sin_port, relay.sin_port, "the session has its own socket");
	cr_assert_eq(st->sessions_handshaking, 0);
	cr_assert_eq(st->rx_packets, 41, "every datagram of the batch counted");

	/* and back: 25 messages from the backend in one GSO send */
	for (unsigned i = 0; i < 25; i++)
		data_msg(buf + i * 60, 60, 9, 100 + i);
	send_gso(sink, &upstream, buf, 60, 25);
	spin();
	recv_segments(client, 60, 25, 100, &(struct sockaddr_in){ 0 });
	cr_assert_eq(st->tx_packets, 26, "the response and the 25");
	cr_assert_geq(st->gro_buffers, 1, "the kernel coalesced at least one batch");
	cr_assert_eq(st->drops[DROP_SEND], 0);
}

Test(proxy, garbage_inside_a_batch_is_dropped_alone)
{
	uint8_t init[148] = { 1 }, buf[10 * 80], got[256];
	const struct proxy_stats *st = proxy_get_stats(px);
	socklen_t l = sizeof upstream;

	randombytes_buf(init + 4, sizeof init - 4);
	cr_assert_eq(send(client, init, sizeof init, 0), (ssize_t)sizeof init);
	spin();
	cr_assert_eq(recvfrom(sink, got, sizeof got, 0, (struct sockaddr *)&upstream, &l), 148);
	for (unsigned i = 0; i < 10; i++)
		data_msg(buf + i * 80, 80, 7, i);
	buf[3 * 80 + 1] = 0x55;         /* a reserved byte set: not WireGuard */
	send_gso(client, NULL, buf, 80, 10);
	spin();
	{
		uint8_t rb[65536];
		unsigned n = 0;

		while (n < 9) {
			ssize_t r = recv(sink, rb, sizeof rb, 0);

			cr_assert(r > 0, "%u of 9 arrived", n);
			n += (unsigned)(r / 80);
		}
		cr_assert_eq(n, 9);
	}
	cr_assert_eq(st->drops[DROP_UNKNOWN_TYPE], 1);
}

/*
 * A batch from several clients looked up in steps (hash all, prefetch,
 * find), as wglbd does with a large table: every datagram still finds
 * its own session and reaches the backend, the order of each kept.
 */
Test(proxy, stepped_lookup_of_a_mixed_batch)
{
	enum { CLIENTS = 4, EACH = 6 };
	const struct proxy_stats *st = proxy_get_stats(px);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	uint64_t next[CLIENTS] = { 0 };
	int fd[CLIENTS];
	unsigned got = 0;

	cr_assert_eq(getpeername(client, (struct sockaddr *)&a, &l), 0);
	proxy_set_stepped_lookup(px, 0);
	for (int c = 0; c < CLIENTS; c++) {
		uint8_t init[148] = { 1 };

		fd[c] = socket(AF_INET, SOCK_DGRAM, 0);
		cr_assert_eq(connect(fd[c], (struct sockaddr *)&a, sizeof a), 0);
		randombytes_buf(init + 4, sizeof init - 4);
		cr_assert_eq(send(fd[c], init, sizeof init, 0), (ssize_t)sizeof init);
	}
	spin();
	cr_assert_eq(proxy_session_count(px), CLIENTS);
	/* interleaved, so that one receive batch holds every client's datagrams */
	for (int k = 0; k < EACH; k++) {
		for (int c = 0; c < CLIENTS; c++) {
			uint8_t m[64];

			data_msg(m, sizeof m, (uint32_t)c, (uint64_t)k);
			cr_assert_eq(send(fd[c], m, sizeof m, 0), (ssize_t)sizeof m);
		}
	}
	spin();
	for (;;) {
		uint8_t rb[65536];
		ssize_t r = recv(sink, rb, sizeof rb, MSG_DONTWAIT);

		if (r < 0)
			break;
		if (r == 148)
			continue;       /* an initiation */
		cr_assert_eq(r, 64);
		{
			uint32_t c;
			uint64_t k;

			memcpy(&c, rb + 4, 4);
			memcpy(&k, rb + 8, 8);
			cr_assert_lt(c, CLIENTS);
			cr_assert_eq(k, next[c], "client %u: %llu after %llu", c,
				     (unsigned long long)k, (unsigned long long)next[c]);
			next[c]++;
			got++;
		}
	}
	cr_assert_eq(got, CLIENTS * EACH, "%u of %d datagrams reached the backend", got,
		     CLIENTS * EACH);
	cr_assert_eq(proxy_session_count(px), CLIENTS, "no datagram opened a session of its own");
	cr_assert_eq(st->drops[DROP_NO_SESSION], 0);
	for (int c = 0; c < CLIENTS; c++)
		close(fd[c]);
}
