/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udpgen: a bounded UDP load generator shaped like WireGuard traffic, for
 * tests/bench/raw-pps.sh and callgrind.sh. Not part of wglbd.
 *
 * It opens N connected UDP sockets (N source ports) towards one address.
 * Each first sends one 148-byte handshake initiation (type 1, random
 * body: without public_key wglbd does not check mac1, and a random mac1
 * field never looks like a replay), so that wglbd opens a session for
 * that endpoint. After a pause it sends data messages (type 4: 04 00 00
 * 00, receiver index, 8-byte counter, payload) of a fixed size at a fixed
 * rate, in sendmmsg batches of up to B datagrams per socket, rotating over
 * the sockets. Pacing: every tick (1 ms) it sends what is due since the
 * start; rate 0 sends as fast as it can. It stops after the duration or
 * the packet count, whichever comes first.
 *
 * usage: udpgen -d ADDR:PORT [-n PORTS] [-r PPS] [-t SECONDS] [-c COUNT]
 *               [-s SIZE] [-b BATCH] [-w PAUSE_MS] [-I]
 *   -I  no initiations (plain data from the start)
 * Output, one line on stdout:
 *   sent=N failed=N init=N elapsed=S offered_pps=X ports=N size=N rate=R
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

#define MAX_BATCH 256
#define MAX_PORTS 4096
#define MAX_SIZE 1500
#define TICK_NS 1000000L

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: udpgen -d ADDR:PORT [-n PORTS] [-r PPS] [-t SECONDS] [-c COUNT]\n"
			"              [-s SIZE] [-b BATCH] [-w PAUSE_MS] [-I]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage dst;
	socklen_t dlen = 0;
	int nports = 64, size = 128, batch = 16, pause_ms = 200, opt, init = 1;
	double rate = 0, duration = 5;
	unsigned long long count = 0, sent = 0, failed = 0, ninit = 0;
	int fds[MAX_PORTS];
	static uint8_t pkt[MAX_BATCH][MAX_SIZE];
	struct mmsghdr mm[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	struct timespec next;
	double t0, t1, elapsed;
	int cur = 0;

	while ((opt = getopt(argc, argv, "d:n:r:t:c:s:b:w:I")) != -1) {
		switch (opt) {
		case 'd':
			if (parse_addr(optarg, &dst, &dlen) < 0) {
				fprintf(stderr, "udpgen: bad address %s\n", optarg);
				return 2;
			}
			break;
		case 'n': nports = atoi(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 't': duration = atof(optarg); break;
		case 'c': count = strtoull(optarg, NULL, 10); break;
		case 's': size = atoi(optarg); break;
		case 'b': batch = atoi(optarg); break;
		case 'w': pause_ms = atoi(optarg); break;
		case 'I': init = 0; break;
		default: usage();
		}
	}
	if (!dlen || nports < 1 || nports > MAX_PORTS || size < 32 || size > MAX_SIZE ||
	    batch < 1 || batch > MAX_BATCH || duration <= 0 || duration > 3600 || rate < 0)
		usage();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rng_state ^= (uint64_t)getpid() << 32 ^ (uint64_t)(now_s() * 1e9);

	for (int i = 0; i < nports; i++) {
		int sz = 4 << 20;

		fds[i] = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&dst, dlen) < 0) {
			perror("udpgen: socket/connect");
			return 1;
		}
		setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	}
	if (init) {
		uint8_t m[148];

		for (int i = 0; i < nports; i++) {
			for (size_t k = 0; k < sizeof m; k += 8) {
				uint64_t r = rng();

				memcpy(m + k, &r, sizeof m - k < 8 ? sizeof m - k : 8);
			}
			m[0] = 1;
			m[1] = m[2] = m[3] = 0;
			if (send(fds[i], m, sizeof m, 0) == (ssize_t)sizeof m)
				ninit++;
		}
		if (pause_ms > 0)
			usleep((useconds_t)pause_ms * 1000);
	}

	/* the data messages: header, then a fill pattern; the counter grows */
	for (int i = 0; i < MAX_BATCH; i++) {
		memset(pkt[i], 0xa5, (size_t)size);
		pkt[i][0] = 4;
		pkt[i][1] = pkt[i][2] = pkt[i][3] = 0;
		iov[i].iov_base = pkt[i];
		iov[i].iov_len = (size_t)size;
		memset(&mm[i], 0, sizeof mm[i]);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}

	t0 = now_s();
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!stop) {
		double t = now_s() - t0;
		unsigned long long due;

		if (t >= duration || (count && sent + failed >= count))
			break;
		if (rate > 0) {
			due = (unsigned long long)(rate * t) + 1;
			if (count && due > count)
				due = count;
			due = due > sent + failed ? due - sent - failed : 0;
		} else {
			due = (unsigned long long)batch;
			if (count && sent + failed + due > count)
				due = count - sent - failed;
		}
		for (unsigned k = 0; due > 0 && !stop; k++) {
			int n = due > (unsigned long long)batch ? batch : (int)due;
			int r;

			/* a generator far behind its schedule still stops on time */
			if ((k & 63) == 63 && now_s() - t0 >= duration)
				break;

			for (int i = 0; i < n; i++) {
				uint64_t c = sent + failed + (uint64_t)i;
				uint32_t idx = (uint32_t)cur;

				memcpy(pkt[i] + 4, &idx, 4);
				memcpy(pkt[i] + 8, &c, 8);
			}
			r = sendmmsg(fds[cur], mm, (unsigned)n, MSG_DONTWAIT);
			if (r < 0) {
				if (errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED &&
				    errno != EINTR) {
					perror("udpgen: sendmmsg");
					return 1;
				}
				r = 0;
				failed += (unsigned long long)n;
			} else {
				sent += (unsigned long long)r;
				failed += (unsigned long long)(n - r);
			}
			due -= (unsigned long long)n;
			cur = (cur + 1) % nports;
		}
		if (rate > 0) {
			next.tv_nsec += TICK_NS;
			if (next.tv_nsec >= 1000000000L) {
				next.tv_nsec -= 1000000000L;
				next.tv_sec++;
			}
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		}
	}
	t1 = now_s();
	elapsed = t1 - t0;
	printf("sent=%llu failed=%llu init=%llu elapsed=%.6f offered_pps=%.0f ports=%d size=%d "
	       "rate=%.0f\n",
	       sent, failed, ninit, elapsed, elapsed > 0 ? (double)sent / elapsed : 0.0, nports,
	       size, rate);
	return 0;
}
