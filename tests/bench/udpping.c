/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udpping: round-trip times of WireGuard-shaped datagrams, for
 * tests/bench/latency.sh. Not part of wglbd.
 *
 * One connected UDP socket. First one 148-byte initiation (type 1, random
 * body) so that wglbd opens a session for this endpoint, then COUNT data
 * messages of SIZE bytes (type 4; the counter field carries the sequence
 * number) at RATE per second, on a fixed schedule whether or not replies
 * came back. An echo server (udpsink -e) sends each one back; the RTT is
 * measured with CLOCK_MONOTONIC from the send to the reply. Replies later
 * than WAIT_MS after the last send are lost.
 *
 * usage: udpping -d ADDR:PORT [-c COUNT] [-r RATE] [-s SIZE] [-w WAIT_MS]
 *                [-W PAUSE_MS] [-I]
 * Output, one line (microseconds):
 *   sent=N received=N lost=N min=X p50=X p90=X p99=X p999=X max=X mean=X
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double pct(const int64_t *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	/* nearest rank */
	i = (size_t)(q * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return (double)v[i - 1] / 1000.0;
}

/* receive whatever replies are queued; note their RTTs */
static void drain(int fd, const int64_t *sent_at, int64_t *rtt, size_t count, size_t *nrtt,
		  uint8_t *seen)
{
	uint8_t buf[2048];

	for (;;) {
		ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		int64_t t = now_ns();
		uint64_t seq;

		if (r < 0)
			return;
		if (r < 16 || buf[0] != 4)
			continue;
		memcpy(&seq, buf + 8, 8);
		if (seq >= count || seen[seq])
			continue;
		seen[seq] = 1;
		rtt[(*nrtt)++] = t - sent_at[seq];
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_storage dst;
	socklen_t dlen = 0;
	size_t count = 1000, nrtt = 0, sent = 0;
	double rate = 1000;
	int size = 64, wait_ms = 500, pause_ms = 200, init = 1, opt, fd;
	int64_t *sent_at, *rtt, start, interval, deadline;
	uint8_t *seen, pkt[1500];
	double sum = 0;

	while ((opt = getopt(argc, argv, "d:c:r:s:w:W:I")) != -1) {
		switch (opt) {
		case 'd':
			if (parse_addr(optarg, &dst, &dlen) < 0) {
				fprintf(stderr, "udpping: bad address %s\n", optarg);
				return 2;
			}
			break;
		case 'c': count = strtoul(optarg, NULL, 10); break;
		case 'r': rate = atof(optarg); break;
		case 's': size = atoi(optarg); break;
		case 'w': wait_ms = atoi(optarg); break;
		case 'W': pause_ms = atoi(optarg); break;
		case 'I': init = 0; break;
		default:
			fprintf(stderr, "usage: udpping -d ADDR:PORT [-c COUNT] [-r RATE] [-s SIZE] "
					"[-w WAIT_MS] [-W PAUSE_MS] [-I]\n");
			return 2;
		}
	}
	if (!dlen || count < 1 || count > 10000000 || rate <= 0 || rate > 1e6 || size < 32 ||
	    size > (int)sizeof pkt || wait_ms < 0 || wait_ms > 60000) {
		fprintf(stderr, "udpping: bad arguments\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	sent_at = calloc(count, sizeof *sent_at);
	rtt = calloc(count, sizeof *rtt);
	seen = calloc(count, 1);
	if (!sent_at || !rtt || !seen)
		return 1;
	fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, dlen) < 0) {
		perror("udpping: socket/connect");
		return 1;
	}
	if (init) {
		uint8_t m[148];

		srand((unsigned)getpid() ^ (unsigned)now_ns());
		for (size_t k = 0; k < sizeof m; k++)
			m[k] = (uint8_t)rand();
		m[0] = 1;
		m[1] = m[2] = m[3] = 0;
		if (send(fd, m, sizeof m, 0) < 0)
			perror("udpping: initiation");
		if (pause_ms > 0)
			usleep((useconds_t)pause_ms * 1000);
	}
	memset(pkt, 0x5a, sizeof pkt);
	pkt[0] = 4;
	pkt[1] = pkt[2] = pkt[3] = 0;
	memset(pkt + 4, 0, 4);
	interval = (int64_t)(1e9 / rate);
	start = now_ns();
	while (sent < count && !stop) {
		int64_t due = start + (int64_t)sent * interval, t = now_ns();

		if (t >= due) {
			uint64_t seq = sent;

			memcpy(pkt + 8, &seq, 8);
			sent_at[sent] = now_ns();
			if (send(fd, pkt, (size_t)size, 0) < 0 && errno != ECONNREFUSED)
				perror("udpping: send");
			sent++;
			continue;
		}
		{
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			struct timespec ts = { .tv_sec = (due - t) / 1000000000,
					       .tv_nsec = (due - t) % 1000000000 };

			if (ppoll(&pfd, 1, &ts, NULL) > 0)
				drain(fd, sent_at, rtt, count, &nrtt, seen);
		}
	}
	deadline = now_ns() + (int64_t)wait_ms * 1000000;
	while (nrtt < sent && !stop) {
		int64_t t = now_ns();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct timespec ts;

		if (t >= deadline)
			break;
		ts.tv_sec = (deadline - t) / 1000000000;
		ts.tv_nsec = (deadline - t) % 1000000000;
		if (ppoll(&pfd, 1, &ts, NULL) > 0)
			drain(fd, sent_at, rtt, count, &nrtt, seen);
	}
	qsort(rtt, nrtt, sizeof *rtt, cmp_i64);
	for (size_t i = 0; i < nrtt; i++)
		sum += (double)rtt[i];
	printf("sent=%zu received=%zu lost=%zu min=%.1f p50=%.1f p90=%.1f p99=%.1f p999=%.1f "
	       "max=%.1f mean=%.1f\n",
	       sent, nrtt, sent - nrtt, nrtt ? (double)rtt[0] / 1000.0 : 0.0, pct(rtt, nrtt, 0.50),
	       pct(rtt, nrtt, 0.90), pct(rtt, nrtt, 0.99), pct(rtt, nrtt, 0.999),
	       nrtt ? (double)rtt[nrtt - 1] / 1000.0 : 0.0, nrtt ? sum / (double)nrtt / 1000.0 : 0.0);
	return 0;
}
