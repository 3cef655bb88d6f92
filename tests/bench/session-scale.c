/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Session table at scale: insert N sessions (with two indices each), look
 * each up by endpoint (one at a time, and in receive batches the way the
 * front socket's callback does: hash and prefetch the whole batch, then
 * find) and by index in random order, then expire them all;
 * report nanoseconds per operation for N = 1,000 and N = 1,000,000, and
 * the userspace bytes per session. Also opens sockets to measure the
 * kernel's cost of one connected UDP socket. A benchmark: prints, never fails.
 */
#include "config.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "session.h"

/* datagrams per receive batch of the front socket (proxy.c) */
#define BATCH 64

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static long meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256], k[64];
	long v = -1, x;

	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "%63[^:]: %ld", k, &x) == 2 && strcmp(k, key) == 0)
			v = x;
	if (f)
		fclose(f);
	return v;
}

/*
 * Look up m endpoints the way the front socket's callback does: hash
 * them all, prefetch all their slots in one burst, then find them. (The callback then also
 * prefetches each session found, for the datagram's handling: not part
 * of the lookup.) Returns how many were found.
 */
static unsigned lookup_batch(const struct session_table *t, const union sockaddr_any *lk,
			     unsigned m)
{
	uint64_t h[BATCH];
	unsigned found = 0;

	for (unsigned i = 0; i < m; i++)
		h[i] = session_endpoint_hash(t, &lk[i]);
	for (unsigned i = 0; i < m; i++)
		session_prefetch_bucket(t, h[i]);
	for (unsigned i = 0; i < m; i++)
		found += session_find_hashed(t, &lk[i], h[i]) != NULL;
	return found;
}

static void expire_cb(struct session *s, void *arg)
{
	session_remove(arg, s);
	session_free(s);
}

struct result {
	double insert_ns, lookup_ep_ns, lookup_batch_ns, lookup_idx_ns, expire_ns,
		bytes_per_session;
};

static struct result run(unsigned n)
{
	struct session_table *t = session_table_new();
	struct session **v = malloc(n * sizeof *v);
	unsigned *order = malloc(n * sizeof *order);
	/* keys apart from the sessions, as datagrams carry them */
	union sockaddr_any *keys = malloc(n * sizeof *keys), *lk = malloc(n * sizeof *lk);
	struct backend be = { .name = "b" };
	struct result r;
	long rss0 = rss_kb();
	double t0;
	unsigned long found = 0, reps;

	for (unsigned i = 0; i < n; i++)
		order[i] = i;
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j = randombytes_uniform(i + 1), x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	t0 = now_ns();
	for (unsigned i = 0; i < n; i++) {
		union sockaddr_any a = { 0 };

		a.in.sin_family = AF_INET;
		a.in.sin_addr.s_addr = htonl(0x0a000000u + i / 50000);
		a.in.sin_port = htons(1024 + i % 50000);
		keys[i] = a;
		v[i] = session_new(&a, 1);
		v[i]->be = &be;
		if (session_insert(t, v[i]) < 0) {
			fprintf(stderr, "session_insert: out of memory at %u\n", i);
			exit(1);
		}
		session_add_index(t, v[i], i * 2654435761u, 1);
		session_add_index(t, v[i], i * 2654435761u + 1, 1);
	}
	r.insert_ns = (now_ns() - t0) / n;
	r.bytes_per_session = (rss_kb() - rss0) * 1024.0 / n;
	/*
	 * The endpoints to look up, in random order but laid out one after
	 * the other, as datagrams' source addresses arrive in the receive
	 * batch: what is measured is the table, not fetching the keys.
	 */
	for (unsigned k = 0; k < n; k++)
		lk[k] = keys[order[k]];
	/* at least a million lookups per figure, the best of three: noise only adds */
	reps = n >= 1000000 ? 1 : 1000000 / n;
	r.lookup_ep_ns = r.lookup_batch_ns = 1e18;
	for (unsigned round = 0; round < 3; round++) {
		double ep, batch;

		t0 = now_ns();
		for (unsigned rep = 0; rep < reps; rep++)
			for (unsigned k = 0; k < n; k++)
				found += session_find_by_endpoint(t, &lk[k]) != NULL;
		ep = (now_ns() - t0) / n / reps;
		/* as the front socket's callback does it: a received batch at a time, in steps */
		t0 = now_ns();
		for (unsigned rep = 0; rep < reps; rep++)
			for (unsigned k = 0; k < n; k += BATCH)
				found += lookup_batch(t, lk + k, n - k < BATCH ? n - k : BATCH);
		batch = (now_ns() - t0) / n / reps;
		if (ep < r.lookup_ep_ns)
			r.lookup_ep_ns = ep;
		if (batch < r.lookup_batch_ns)
			r.lookup_batch_ns = batch;
	}
	r.lookup_idx_ns = 1e18;
	for (unsigned round = 0; round < 3; round++) {
		double ix;

		t0 = now_ns();
		for (unsigned rep = 0; rep < reps; rep++) {
			for (unsigned k = 0; k < n; k++) {
				bool amb;

				found += session_find_by_index(t, order[k] * 2654435761u, 2, &amb) != NULL;
			}
		}
		ix = (now_ns() - t0) / n / reps;
		if (ix < r.lookup_idx_ns)
			r.lookup_idx_ns = ix;
	}
	/* three rounds of three kinds of lookup, each finding all n */
	if (found != 9 * reps * n)
		fprintf(stderr, "lookup mismatch: %lu of %lu\n", found, 9 * reps * n);
	t0 = now_ns();
	/* everything idle since t=1: sweeps as the daemon runs them expire all */
	for (double now = 1; session_table_count(t) > 0; now += 200.0 / SESSION_EXPIRY_STEPS)
		session_expire(t, now, 200, expire_cb, t);
	r.expire_ns = (now_ns() - t0) / n;
	session_table_free(t);
	free(v);
	free(order);
	free(keys);
	free(lk);
	return r;
}

int main(int argc, char **argv)
{
	unsigned big = argc > 1 ? (unsigned)atoi(argv[1]) : 1000000, nsock = 10000;
	struct result small, large;
	struct rlimit rl = { 65536, 65536 };
	long slab0, slab1;
	int *fds;

	if (sodium_init() < 0)
		return 1;
	small = run(1000);
	small = run(1000);      /* warm */
	large = run(big);
	printf("%-12s %10s %13s %15s %14s %10s %14s\n", "sessions", "insert ns", "lookup ep ns",
	       "batched ep ns", "lookup idx ns", "expire ns", "bytes/session");
	printf("%-12u %10.0f %13.0f %15.0f %14.0f %10.0f %14s\n", 1000u, small.insert_ns,
	       small.lookup_ep_ns, small.lookup_batch_ns, small.lookup_idx_ns, small.expire_ns, "-");
	printf("%-12u %10.0f %13.0f %15.0f %14.0f %10.0f %14.0f\n", big, large.insert_ns,
	       large.lookup_ep_ns, large.lookup_batch_ns, large.lookup_idx_ns, large.expire_ns,
	       large.bytes_per_session);
	printf("lookup by endpoint at %u vs 1000: %.2fx one at a time, %.2fx in batches of %d "
	       "(as the data path does)\n", big, large.lookup_ep_ns / small.lookup_ep_ns,
	       large.lookup_batch_ns / small.lookup_batch_ns, BATCH);
	printf("struct session: %zu bytes\n", sizeof(struct session));

	/* the kernel side: one connected UDP socket per session */
	setrlimit(RLIMIT_NOFILE, &rl);
	fds = calloc(nsock, sizeof *fds);
	slab0 = meminfo_kb("Slab");
	for (unsigned i = 0; i < nsock; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9) };

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fds[i] >= 0)
			connect(fds[i], (struct sockaddr *)&a, sizeof a);
	}
	slab1 = meminfo_kb("Slab");
	printf("kernel slab per connected UDP socket: about %.0f bytes (%u sockets)\n",
	       (slab1 - slab0) * 1024.0 / nsock, nsock);
	for (unsigned i = 0; i < nsock; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	printf("{\"sessions\":%u,\"insert_ns\":%.0f,\"lookup_endpoint_ns_1k\":%.1f,"
	       "\"lookup_endpoint_ns\":%.1f,\"lookup_batch_ns_1k\":%.1f,\"lookup_batch_ns\":%.1f,"
	       "\"lookup_index_ns\":%.1f,\"expire_ns\":%.1f,"
	       "\"bytes_per_session\":%.0f,\"struct_session_bytes\":%zu,"
	       "\"kernel_bytes_per_socket\":%.0f}\n",
	       big, large.insert_ns, small.lookup_ep_ns, large.lookup_ep_ns, small.lookup_batch_ns,
	       large.lookup_batch_ns, large.lookup_idx_ns,
	       large.expire_ns, large.bytes_per_session, sizeof(struct session),
	       (slab1 - slab0) * 1024.0 / nsock);
	return 0;
}
