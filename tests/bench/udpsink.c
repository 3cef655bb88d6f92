/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udpsink: the "backend" of the raw benchmarks (tests/bench/). Not a
 * WireGuard server: it binds one UDP socket, receives in recvmmsg batches
 * and counts WireGuard-shaped datagrams by type. Optionally it answers:
 *   -e  echo every data message (type 4) back to its sender (latency.sh)
 *   -R  answer every initiation (type 1, 148 bytes) with a 92-byte
 *       response (type 2) whose receiver index is the initiation's sender
 *       index, as a backend completing the handshake would (handshakes.sh)
 * It stops after -t SECONDS at most, or -i IDLE_MS after the last datagram
 * once a data message was seen (0: no idle stop), or on SIGTERM/SIGINT, and
 * then prints one line:
 *   rx_data=N rx_init=N rx_other=N rx_bytes=N tx=N span=S data_pps=X
 *   init_span=S init_pps=X
 * span is the time from the first to the last data message, init_span the
 * same for initiations; the rates are over those spans.
 *
 * usage: udpsink -l ADDR:PORT [-t SECONDS] [-i IDLE_MS] [-e] [-R]
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

#define BATCH 128
#define BUF 2048

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage addr;
	socklen_t alen = 0;
	double lifetime = 60, first = 0, last = 0, ifirst = 0, ilast = 0, last_any = 0, t_end;
	int idle_ms = 0, echo = 0, respond = 0, opt, fd, one = 1, sz = 32 << 20;
	unsigned long long rx_data = 0, rx_init = 0, rx_other = 0, rx_bytes = 0, tx = 0;
	static uint8_t bufs[BATCH][BUF];
	static uint8_t resp[BATCH][92];
	struct mmsghdr in[BATCH], out[BATCH];
	struct iovec iov[BATCH], oiov[BATCH];
	struct sockaddr_storage names[BATCH];
	uint32_t idx = (uint32_t)getpid() * 2654435761u;

	while ((opt = getopt(argc, argv, "l:t:i:eR")) != -1) {
		switch (opt) {
		case 'l':
			if (parse_addr(optarg, &addr, &alen) < 0) {
				fprintf(stderr, "udpsink: bad address %s\n", optarg);
				return 2;
			}
			break;
		case 't': lifetime = atof(optarg); break;
		case 'i': idle_ms = atoi(optarg); break;
		case 'e': echo = 1; break;
		case 'R': respond = 1; break;
		default:
			fprintf(stderr, "usage: udpsink -l ADDR:PORT [-t SECONDS] [-i IDLE_MS] [-e] [-R]\n");
			return 2;
		}
	}
	if (!alen || lifetime <= 0 || lifetime > 3600) {
		fprintf(stderr, "udpsink: -l ADDR:PORT required, -t in (0, 3600]\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("udpsink: socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	if (bind(fd, (struct sockaddr *)&addr, alen) < 0) {
		perror("udpsink: bind");
		return 1;
	}
	/* the script waits for this line before it starts the load */
	printf("listening\n");
	fflush(stdout);

	t_end = now_s() + lifetime;
	while (!stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		double t = now_s();
		int n, k = 0;

		if (t >= t_end)
			break;
		if (idle_ms > 0 && rx_data > 0 && t - last_any > idle_ms / 1000.0)
			break;
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = BUF;
			memset(&in[i], 0, sizeof in[i]);
			in[i].msg_hdr.msg_iov = &iov[i];
			in[i].msg_hdr.msg_iovlen = 1;
			in[i].msg_hdr.msg_name = &names[i];
			in[i].msg_hdr.msg_namelen = sizeof names[i];
		}
		n = recvmmsg(fd, in, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			continue;
		t = now_s();
		last_any = t;
		for (int i = 0; i < n; i++) {
			const uint8_t *p = bufs[i];
			unsigned len = in[i].msg_len;
			uint32_t type = len >= 4 ? (uint32_t)p[0] | (uint32_t)p[1] << 8 |
							   (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
						 : 0;

			rx_bytes += len;
			if (type == 4 && len >= 32) {
				rx_data++;
				if (!first)
					first = t;
				last = t;
				if (echo) {
					oiov[k].iov_base = bufs[i];
					oiov[k].iov_len = len;
				}
			} else if (type == 1 && len == 148) {
				rx_init++;
				if (!ifirst)
					ifirst = t;
				ilast = t;
				if (respond) {
					memset(resp[k], 0, sizeof resp[k]);
					resp[k][0] = 2;
					idx = idx * 1664525u + 1013904223u;
					memcpy(resp[k] + 4, &idx, 4);
					memcpy(resp[k] + 8, p + 4, 4);
					oiov[k].iov_base = resp[k];
					oiov[k].iov_len = sizeof resp[k];
				}
			} else {
				rx_other++;
			}
			if ((echo && type == 4 && len >= 32) || (respond && type == 1 && len == 148)) {
				memset(&out[k], 0, sizeof out[k]);
				out[k].msg_hdr.msg_iov = &oiov[k];
				out[k].msg_hdr.msg_iovlen = 1;
				out[k].msg_hdr.msg_name = &names[i];
				out[k].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
				k++;
			}
		}
		if (k > 0) {
			int r = sendmmsg(fd, out, (unsigned)k, MSG_DONTWAIT);

			if (r > 0)
				tx += (unsigned long long)r;
		}
	}
	printf("rx_data=%llu rx_init=%llu rx_other=%llu rx_bytes=%llu tx=%llu span=%.6f "
	       "data_pps=%.0f init_span=%.6f init_pps=%.0f\n",
	       rx_data, rx_init, rx_other, rx_bytes, tx, last - first,
	       last > first ? (double)(rx_data - 1) / (last - first) : 0.0, ilast - ifirst,
	       ilast > ifirst ? (double)(rx_init - 1) / (ilast - ifirst) : 0.0);
	fflush(stdout);
	return 0;
}
