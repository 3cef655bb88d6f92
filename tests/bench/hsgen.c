/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hsgen: a bounded generator of WireGuard handshake initiations with a
 * valid mac1, for tests/bench/handshakes.sh. Not part of wglbd.
 *
 * Each initiation is 148 bytes: type 1, a fresh sender index, a random
 * body (so no two are alike and wglbd's replay cache never matches), mac1
 * = BLAKE2s-128 keyed with BLAKE2s-256("mac1----" || service public key)
 * over the first 116 bytes, mac2 zero. They leave through a raw IPv4
 * socket with headers built here, so the source address and port can be
 * anything: endpoint j (0, 1, ...) is address SRC+(j mod NADDR), port
 * PORT0+(j div NADDR). With -E 0 (default) initiation i uses endpoint
 * OFFSET+i, so each one comes from a new endpoint and opens a new session;
 * with -E E it uses endpoint (OFFSET+i) mod E, so after the first E the
 * rest are rekeys on existing sessions. Rate pacing as in udpgen (1 ms
 * ticks, sendmmsg batches); rate 0 is as fast as possible. Bounded by
 * -t SECONDS and -c COUNT. With -K it sends 32-byte keepalives (type 4,
 * a random receiver index) instead, over the same endpoints: a tunnel's
 * first data, which gives its session in wglbd a socket of its own.
 *
 * usage: hsgen -d ADDR:PORT -k PUBKEY_BASE64 -S SRC_ADDR [-N NADDR]
 *              [-P PORT0] [-E ENDPOINTS] [-o OFFSET] [-r PPS] [-t SECONDS]
 *              [-c COUNT] [-b BATCH] [-K]
 * Output, one line: sent=N failed=N elapsed=S offered_pps=X endpoints=N
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <blake2.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

#define INIT_LEN 148
#define KEEPALIVE_LEN 32
#define MAC1_OFF 116
#define PKT_LEN (sizeof(struct iphdr) + sizeof(struct udphdr) + INIT_LEN)
#define MAX_BATCH 256
#define TICK_NS 1000000L

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int b64_val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* a WireGuard key: 44 characters of base64, 32 bytes */
static int b64_key(const char *s, uint8_t out[32])
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;

	if (strlen(s) != 44 || s[43] != '=')
		return -1;
	for (int i = 0; i < 43; i++) {
		int v = b64_val((unsigned char)s[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n < 32)
				out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return n == 32 ? 0 : -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: hsgen -d ADDR:PORT -k PUBKEY -S SRC_ADDR [-N NADDR] [-P PORT0] "
			"[-E ENDPOINTS] [-o OFFSET]\n"
			"             [-r PPS] [-t SECONDS] [-c COUNT] [-b BATCH] [-K]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct in_addr src0 = { 0 };
	uint8_t pub[32], key[32], label[8 + 32];
	unsigned naddr = 1, port0 = 10000, opt;
	unsigned long long endpoints = 0, offset = 0, count = 0, sent = 0, failed = 0, max_ep;
	double rate = 0, duration = 5, t0, elapsed;
	int batch = 32, fd, have_dst = 0, have_key = 0, keepalive = 0;
	size_t msg_len;
	static uint8_t pkt[MAX_BATCH][PKT_LEN];
	struct mmsghdr mm[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	struct timespec next;

	while ((int)(opt = (unsigned)getopt(argc, argv, "d:k:S:N:P:E:o:r:t:c:b:K")) != -1) {
		switch (opt) {
		case 'd': {
			char host[64];
			const char *colon = strrchr(optarg, ':');

			if (!colon || (size_t)(colon - optarg) >= sizeof host)
				usage();
			memcpy(host, optarg, (size_t)(colon - optarg));
			host[colon - optarg] = '\0';
			if (inet_pton(AF_INET, host, &dst.sin_addr) != 1)
				usage();
			dst.sin_port = htons((uint16_t)atoi(colon + 1));
			have_dst = 1;
			break;
		}
		case 'k':
			if (b64_key(optarg, pub) < 0) {
				fprintf(stderr, "hsgen: bad public key\n");
				return 2;
			}
			have_key = 1;
			break;
		case 'S':
			if (inet_pton(AF_INET, optarg, &src0) != 1)
				usage();
			break;
		case 'N': naddr = (unsigned)atoi(optarg); break;
		case 'P': port0 = (unsigned)atoi(optarg); break;
		case 'E': endpoints = strtoull(optarg, NULL, 10); break;
		case 'o': offset = strtoull(optarg, NULL, 10); break;
		case 'r': rate = atof(optarg); break;
		case 't': duration = atof(optarg); break;
		case 'c': count = strtoull(optarg, NULL, 10); break;
		case 'b': batch = atoi(optarg); break;
		case 'K': keepalive = 1; break;
		default: usage();
		}
	}
	if (!have_dst || !have_key || !src0.s_addr || naddr < 1 || naddr > 65536 || port0 < 1 ||
	    port0 > 65535 || batch < 1 || batch > MAX_BATCH || duration <= 0 || duration > 3600 ||
	    rate < 0)
		usage();
	max_ep = (unsigned long long)naddr * (65536 - port0);
	if (endpoints > max_ep || (!endpoints && (!count || offset + count > max_ep))) {
		fprintf(stderr, "hsgen: at most %llu endpoints (-N x (65536 - -P)); "
				"without -E, -c must be given and fit\n", max_ep);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rng_state ^= (uint64_t)getpid() << 32 ^ (uint64_t)(now_s() * 1e9);

	/* mac1 key = BLAKE2s-256("mac1----" || public key) */
	memcpy(label, "mac1----", 8);
	memcpy(label + 8, pub, 32);
	if (blake2s(key, label, NULL, 32, sizeof label, 0) != 0) {
		fprintf(stderr, "hsgen: blake2s\n");
		return 1;
	}

	msg_len = keepalive ? KEEPALIVE_LEN : INIT_LEN;
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0) {
		perror("hsgen: raw socket (needs CAP_NET_RAW)");
		return 1;
	}
	{
		int sz = 8 << 20;

		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	}
	for (int i = 0; i < MAX_BATCH; i++) {
		struct iphdr *ip = (struct iphdr *)pkt[i];
		struct udphdr *udp = (struct udphdr *)(pkt[i] + sizeof *ip);

		memset(pkt[i], 0, PKT_LEN);
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->tot_len = htons((uint16_t)(sizeof *ip + sizeof *udp + msg_len)); /* the kernel fills it in too */
		ip->daddr = dst.sin_addr.s_addr;
		udp->dest = dst.sin_port;
		udp->len = htons((uint16_t)(sizeof *udp + msg_len));
		udp->check = 0;                           /* IPv4: no checksum */
		iov[i].iov_base = pkt[i];
		iov[i].iov_len = sizeof *ip + sizeof *udp + msg_len;
		memset(&mm[i], 0, sizeof mm[i]);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_name = &dst;
		mm[i].msg_hdr.msg_namelen = sizeof dst;
	}

	t0 = now_s();
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!stop) {
		double t = now_s() - t0;
		unsigned long long due, done = sent + failed;

		if (t >= duration || (count && done >= count))
			break;
		if (rate > 0) {
			due = (unsigned long long)(rate * t) + 1;
			if (count && due > count)
				due = count;
			due = due > done ? due - done : 0;
		} else {
			due = (unsigned long long)batch;
			if (count && done + due > count)
				due = count - done;
		}
		for (unsigned k = 0; due > 0 && !stop; k++) {
			int n = due > (unsigned long long)batch ? batch : (int)due, r;

			/* a generator far behind its schedule still stops on time */
			if ((k & 63) == 63 && now_s() - t0 >= duration)
				break;

			for (int i = 0; i < n; i++) {
				struct iphdr *ip = (struct iphdr *)pkt[i];
				struct udphdr *udp = (struct udphdr *)(pkt[i] + sizeof *ip);
				uint8_t *m = pkt[i] + sizeof *ip + sizeof *udp;
				unsigned long long j = offset + sent + failed + (unsigned long long)i;
				uint32_t sender;

				if (endpoints)
					j %= endpoints;
				ip->saddr = htonl(ntohl(src0.s_addr) + (uint32_t)(j % naddr));
				udp->source = htons((uint16_t)(port0 + j / naddr));
				for (int k = 0; k < MAC1_OFF; k += 8) {
					uint64_t x = rng();

					memcpy(m + k, &x, MAC1_OFF - k < 8 ? (size_t)(MAC1_OFF - k) : 8);
				}
				m[1] = m[2] = m[3] = 0;
				sender = (uint32_t)rng();
				memcpy(m + 4, &sender, 4);
				if (keepalive) {
					m[0] = 4;       /* receiver index, counter, tag: noise */
					continue;
				}
				m[0] = 1;
				blake2s(m + MAC1_OFF, m, key, 16, MAC1_OFF, 32);
				memset(m + MAC1_OFF + 16, 0, 16);
			}
			r = sendmmsg(fd, mm, (unsigned)n, MSG_DONTWAIT);
			if (r < 0) {
				if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
					perror("hsgen: sendmmsg");
					return 1;
				}
				r = 0;
			}
			sent += (unsigned long long)r;
			failed += (unsigned long long)(n - r);
			due -= (unsigned long long)n;
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
	elapsed = now_s() - t0;
	printf("sent=%llu failed=%llu elapsed=%.6f offered_pps=%.0f endpoints=%llu\n", sent, failed,
	       elapsed, elapsed > 0 ? (double)sent / elapsed : 0.0,
	       endpoints ? endpoints : sent + failed);
	return 0;
}
