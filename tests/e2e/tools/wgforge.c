/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wgforge: forged WireGuard handshake initiations for tests/e2e/protect.sh.
 *
 * Sends 148-byte type 1 messages to one destination at a bounded rate,
 * round-robin over sockets bound to the given source addresses (several
 * source ports per address). The content is random except:
 *   bytes 0..4    01 00 00 00
 *   bytes 4..8    sender index = the message's sequence number (little-endian)
 *   bytes 8..12   a 4-byte marker (-m), so captures can tell these apart
 *   bytes 116..132 mac1 = MAC(HASH("mac1----" || service key), bytes 0..116)
 *                 or, with -b, 16 random bytes (a bad mac1)
 *   bytes 132..148 zero, or mac2 = MAC(cookie, bytes 0..132) when answering
 *                 a cookie
 * Nothing here can complete a handshake (the encrypted fields are noise);
 * what is tested is the balancer's admission in front of the backends.
 *
 * Cookie replies (type 3) that come back are opened with
 * XChaCha20-Poly1305 under HASH("cookie--" || service key), AAD = the mac1
 * of the answered message (found by the receiver index). With -c, each
 * socket answers its first cookie with one fresh initiation carrying mac2.
 *
 * usage: wgforge -d ADDR -p PORT [-k PUBKEY] [-b] [-n COUNT] [-r PPS]
 *                [-s SRC]... [-P PORTS] [-m MARK] [-c] [-w SECONDS]
 *   -n COUNT  messages to send (default: one per socket)
 *   -r PPS    packets per second at most (default 1000)
 *   -s SRC    source address to bind (repeatable; default: the kernel's)
 *   -S FILE   source addresses, one per line
 *   -P PORTS  sockets (ephemeral source ports) per source address (default 1)
 *   -w SEC    keep reading replies this long after the last send (default 1)
 * Prints one line: sent=.. cookies=.. cookie_bad=.. mac2_sent=.. other=.. elapsed=..
 * (also when stopped early by SIGTERM or SIGINT).
 *
 * Build: cc -O2 -o wgforge wgforge.c -lsodium -lb2
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <blake2.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define INIT_LEN 148
#define MAC1_OFF 116
#define MAC2_OFF 132
#define COOKIE_LEN 64
#define MAX_SRC 4096

struct sock {
	int fd;
	int answered;                   /* cookie answered with a mac2 initiation */
};

static uint8_t mac1_key[32], cookie_key[32];
static uint8_t (*mac1_of)[16];          /* by sender index */
static uint32_t n_msgs;                 /* sender indices handed out */
static uint32_t max_msgs;
static struct sock *socks;
static int n_socks;
static int bad_mac1, answer_cookies;
static uint8_t marker[4] = { 'W', 'G', 'F', 'G' };
static volatile sig_atomic_t stop;
static unsigned long st_sent, st_cookies, st_cookie_bad, st_mac2, st_other, st_send_err;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void labelled_key(uint8_t out[32], const char *label, const uint8_t pub[32])
{
	blake2s_state st;

	blake2s_init(&st, 32);
	blake2s_update(&st, (const uint8_t *)label, 8);
	blake2s_update(&st, pub, 32);
	blake2s_final(&st, out, 32);
}

/* One initiation from socket k; cookie != NULL: with mac2. */
static void send_init(int k, const uint8_t *cookie)
{
	uint8_t m[INIT_LEN];
	uint32_t idx;

	if (n_msgs >= max_msgs)
		return;
	idx = n_msgs++;
	randombytes_buf(m, sizeof m);
	m[0] = 1;
	m[1] = m[2] = m[3] = 0;
	m[4] = idx & 0xff;
	m[5] = idx >> 8 & 0xff;
	m[6] = idx >> 16 & 0xff;
	m[7] = idx >> 24 & 0xff;
	memcpy(m + 8, marker, 4);
	if (!bad_mac1)
		blake2s(m + MAC1_OFF, m, mac1_key, 16, MAC1_OFF, 32);
	memcpy(mac1_of[idx], m + MAC1_OFF, 16);
	if (cookie)
		blake2s(m + MAC2_OFF, m, cookie, 16, MAC2_OFF, 16);
	else
		memset(m + MAC2_OFF, 0, 16);
	if (send(socks[k].fd, m, sizeof m, MSG_DONTWAIT) < 0) {
		st_send_err++;
		return;
	}
	st_sent++;
	if (cookie)
		st_mac2++;
}

static void handle_reply(int k, const uint8_t *p, ssize_t n)
{
	uint8_t cookie[16];
	uint32_t idx;

	if (n != COOKIE_LEN || p[0] != 3 || p[1] || p[2] || p[3]) {
		st_other++;
		return;
	}
	idx = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
	if (idx >= n_msgs ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt(cookie, NULL, NULL, p + 32, 32,
						       mac1_of[idx], 16, p + 8, cookie_key) != 0) {
		st_cookie_bad++;
		return;
	}
	st_cookies++;
	if (answer_cookies && !socks[k].answered) {
		socks[k].answered = 1;
		send_init(k, cookie);
	}
}

static void drain(int ep, int timeout_ms)
{
	struct epoll_event ev[64];
	uint8_t buf[2048];
	int n;

	n = epoll_wait(ep, ev, 64, timeout_ms);
	for (int i = 0; i < n; i++) {
		int k = (int)ev[i].data.u32;
		ssize_t r;

		while ((r = recv(socks[k].fd, buf, sizeof buf, MSG_DONTWAIT)) >= 0)
			handle_reply(k, buf, r);
	}
}

static int parse_addr(const char *s, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof *a4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof *a6;
		return 0;
	}
	return -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: wgforge -d ADDR -p PORT [-k PUBKEY] [-b] [-n COUNT] [-r PPS]\n"
			"               [-s SRC]... [-S FILE] [-P PORTS] [-m MARK] [-c] [-w SECONDS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *dst = NULL, *srcs[MAX_SRC];
	int n_src = 0, port = 0, ports = 1, opt, ep;
	long count = -1;
	double rate = 1000, wait_after = 1, t0, t;
	uint8_t pub[32];
	int have_key = 0;
	struct sockaddr_storage da;
	socklen_t dlen;
	struct rlimit rl;
	FILE *f;
	char line[128];
	long i;

	if (sodium_init() < 0)
		return 1;
	while ((opt = getopt(argc, argv, "d:p:k:bn:r:s:S:P:m:cw:")) != -1) {
		switch (opt) {
		case 'd': dst = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'k': {
			size_t bl;

			if (sodium_base642bin(pub, 32, optarg, strlen(optarg), NULL, &bl, NULL,
					      sodium_base64_VARIANT_ORIGINAL) != 0 || bl != 32) {
				fprintf(stderr, "wgforge: bad public key\n");
				return 2;
			}
			have_key = 1;
			break;
		}
		case 'b': bad_mac1 = 1; break;
		case 'n': count = atol(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 's':
			if (n_src < MAX_SRC)
				srcs[n_src++] = optarg;
			break;
		case 'S':
			f = fopen(optarg, "r");
			if (!f) {
				perror(optarg);
				return 2;
			}
			while (n_src < MAX_SRC && fgets(line, sizeof line, f)) {
				line[strcspn(line, " \t\r\n")] = 0;
				if (*line)
					srcs[n_src++] = strdup(line);
			}
			fclose(f);
			break;
		case 'P': ports = atoi(optarg); break;
		case 'm':
			if (strlen(optarg) != 4)
				usage();
			memcpy(marker, optarg, 4);
			break;
		case 'c': answer_cookies = 1; break;
		case 'w': wait_after = atof(optarg); break;
		default: usage();
		}
	}
	if (!dst || port <= 0 || ports < 1 || rate <= 0 || (!have_key && !bad_mac1))
		usage();
	if (parse_addr(dst, port, &da, &dlen) < 0) {
		fprintf(stderr, "wgforge: bad address %s\n", dst);
		return 2;
	}
	if (have_key) {
		labelled_key(mac1_key, "mac1----", pub);
		labelled_key(cookie_key, "cookie--", pub);
	}
	if (n_src == 0)
		srcs[n_src++] = NULL;
	n_socks = n_src * ports;
	if (count < 0)
		count = n_socks;
	/* room for the messages and one mac2 answer per socket */
	max_msgs = (uint32_t)count + (answer_cookies ? (uint32_t)n_socks : 0);
	mac1_of = calloc(max_msgs ? max_msgs : 1, 16);
	socks = calloc(n_socks, sizeof *socks);
	if (!mac1_of || !socks)
		return 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n_socks + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("epoll_create1");
		return 1;
	}
	for (int s = 0; s < n_src; s++) {
		for (int j = 0; j < ports; j++) {
			int k = s * ports + j, fd;
			struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)k };

			fd = socket(da.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (fd < 0) {
				perror("socket");
				return 1;
			}
			if (srcs[s]) {
				struct sockaddr_storage sa;
				socklen_t sl;

				if (parse_addr(srcs[s], 0, &sa, &sl) < 0 ||
				    bind(fd, (struct sockaddr *)&sa, sl) < 0) {
					fprintf(stderr, "wgforge: bind %s: %s\n", srcs[s], strerror(errno));
					return 1;
				}
			}
			if (connect(fd, (struct sockaddr *)&da, dlen) < 0) {
				fprintf(stderr, "wgforge: connect %s: %s\n", dst, strerror(errno));
				return 1;
			}
			socks[k].fd = fd;
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		}
	}

	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	t0 = now_s();
	for (i = 0; i < count && !stop;) {
		long due;

		t = now_s() - t0;
		due = (long)(t * rate) + 1;
		if (due > count)
			due = count;
		while (i < due) {
			send_init((int)(i % n_socks), NULL);
			i++;
		}
		drain(ep, 0);
		if (i < count) {
			struct timespec ts = { 0, 200000 };

			nanosleep(&ts, NULL);
		}
	}
	t = now_s();
	while (!stop && now_s() - t < wait_after)
		drain(ep, 50);
	printf("sent=%lu cookies=%lu cookie_bad=%lu mac2_sent=%lu other=%lu send_errors=%lu "
	       "sockets=%d elapsed=%.3f\n",
	       st_sent, st_cookies, st_cookie_bad, st_mac2, st_other, st_send_err, n_socks,
	       now_s() - t0);
	return 0;
}
