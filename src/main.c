/* SPDX-License-Identifier: GPL-2.0-or-later */
/* main: wglbd's command line, start-up order, privileges, signals, shutdown. */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "backend.h"
#include "conf.h"
#include "health.h"
#include "log.h"
#include "netmon.h"
#include "proxy.h"

struct daemon {
	struct ev_loop *loop;
	struct conf *conf;
	struct backend_set backends;
	struct proxy *proxy;
	struct health *health;
	struct netmon *netmon;
	ev_signal sigterm, sigint, sigusr1, sighup;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wglbd [-t] [-c FILE]\n"
		"  -c FILE  configuration file (default %s)\n"
		"  -t       check the configuration and exit\n"
		"  -V       print the version and exit\n"
		"  -h       this help\n",
		WGLB_DEFAULT_CONF);
}

/* Each session holds one socket: take as many descriptors as we may. */
static void raise_nofile(unsigned max_sessions)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("setrlimit(RLIMIT_NOFILE)");
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		/* a few descriptors stay for front sockets, logs and the like */
		rlim_t room = rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 0;

		if (room < max_sessions)
			log_warnx("file descriptor limit %llu allows about %llu sessions, "
				  "below max_sessions %u",
				  (unsigned long long)rl.rlim_cur, (unsigned long long)room,
				  max_sessions);
		else
			log_info("file descriptor limit %llu: room for max_sessions %u",
				 (unsigned long long)rl.rlim_cur, max_sessions);
	}
}

static int drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		log_error("user %s: no such user", user);
		return -ENOENT;
	}
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_errno(LOG_LVL_ERROR, "dropping privileges to %s", user);
		return -errno;
	}
	if (setuid(0) == 0 && pw->pw_uid != 0) {
		log_error("dropping privileges to %s: could regain root", user);
		return -EPERM;
	}
	log_info("running as user %s (uid %u)", user, (unsigned)pw->pw_uid);
	return 0;
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_notice("signal %d: shutting down", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop;
	(void)revents;
	proxy_log_stats(d->proxy);
}

/*
 * SIGHUP: re-read the file and apply what can change without a restart:
 * each existing backend's weight and state, and log_level. A bad file
 * changes nothing.
 */
static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;
	struct conf *nc;

	(void)loop;
	(void)revents;
	log_notice("SIGHUP: reloading %s", d->conf->path);
	nc = conf_load(d->conf->path, stderr);
	if (!nc) {
		log_error("reload failed: keeping the running configuration");
		return;
	}
	for (unsigned i = 0; i < d->backends.n; i++) {
		struct backend *b = d->backends.v[i];
		const struct conf_backend *cb = conf_find_backend(nc, b->name);

		if (!cb) {
			log_warnx("reload: backend %s was removed from the file; removing backends "
				  "needs a restart, it stays as it is", b->name);
			continue;
		}
		if (!addr_equal(&cb->address, &b->addr))
			log_warnx("reload: backend %s: a new address needs a restart", b->name);
		if (cb->weight != b->weight || cb->state != b->admin)
			log_notice("reload: backend %s: weight %u -> %u, state %s -> %s", b->name,
				   b->weight, cb->weight, backend_admin_name(b->admin),
				   backend_admin_name(cb->state));
		b->weight = cb->weight;
		if (cb->state == ADMIN_DISABLED && b->admin != ADMIN_DISABLED)
			log_notice("reload: backend %s disabled: closed %u sessions", b->name,
				   proxy_close_backend_sessions(d->proxy, b));
		b->admin = cb->state;
		b->check = cb->health;
		health_backend_changed(d->health, b);
	}
	d->backends.policy = nc->policy;
	d->backends.slow_start = nc->slow_start;
	for (unsigned i = 0; i < nc->n_backends; i++)
		if (!backend_find(&d->backends, nc->backends[i].name))
			log_warnx("reload: new backend %s needs a restart", nc->backends[i].name);
	log_set_level(nc->log_level);
	conf_free(nc);
}

static void signals_start(struct daemon *d)
{
	ev_signal_init(&d->sigterm, on_stop, SIGTERM);
	ev_signal_init(&d->sigint, on_stop, SIGINT);
	ev_signal_init(&d->sigusr1, on_usr1, SIGUSR1);
	ev_signal_init(&d->sighup, on_hup, SIGHUP);
	d->sigusr1.data = d->sighup.data = d;
	ev_signal_start(d->loop, &d->sigterm);
	ev_signal_start(d->loop, &d->sigint);
	ev_signal_start(d->loop, &d->sigusr1);
	ev_signal_start(d->loop, &d->sighup);
}

static void signals_stop(struct daemon *d)
{
	ev_signal_stop(d->loop, &d->sigterm);
	ev_signal_stop(d->loop, &d->sigint);
	ev_signal_stop(d->loop, &d->sigusr1);
	ev_signal_stop(d->loop, &d->sighup);
}

int main(int argc, char **argv)
{
	const char *path = WGLB_DEFAULT_CONF;
	struct daemon d = { 0 };
	bool test_only = false;
	int opt, status = 1;

	log_init("wglbd");
	while ((opt = getopt(argc, argv, "c:thV")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test_only = true;
			break;
		case 'V':
			printf("wglbd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	if (sodium_init() < 0) {
		log_error("libsodium failed to initialise");
		return 1;
	}
	d.conf = conf_load(path, stderr);
	if (!d.conf)
		return 1;
	if (test_only) {
		printf("%s: configuration OK (%u listen address%s, %u backend%s)\n", path,
		       d.conf->n_listen, d.conf->n_listen == 1 ? "" : "es", d.conf->n_backends,
		       d.conf->n_backends == 1 ? "" : "s");
		conf_free(d.conf);
		return 0;
	}
	log_set_level(d.conf->log_level);
	log_notice("wglbd %s starting, %u backend%s", PACKAGE_VERSION, d.conf->n_backends,
		   d.conf->n_backends == 1 ? "" : "s");
	if (!d.conf->has_public_key)
		log_warnx("no public_key: mac1 of initiations is not checked");

	d.loop = ev_default_loop(EVFLAG_AUTO);
	if (!d.loop) {
		log_error("cannot initialise the event loop");
		goto out;
	}
	if (backend_set_init(&d.backends, d.conf) < 0) {
		log_error("out of memory");
		goto out;
	}
	d.proxy = proxy_new(d.loop, d.conf, &d.backends);
	if (!d.proxy) {
		log_error("out of memory");
		goto out;
	}
	if (proxy_listen(d.proxy) < 0)
		goto out;
	d.health = health_new(d.loop, d.conf, &d.backends);
	if (!d.health)
		goto out;
	d.netmon = netmon_new(d.loop, &d.backends, d.health);
	if (!d.netmon)
		goto out;
	raise_nofile(d.conf->max_sessions);
	if (d.conf->user && drop_privileges(d.conf->user) < 0)
		goto out;
	signals_start(&d);
	proxy_start(d.proxy);
	/* a failing netlink socket costs route tracking, not the service */
	if (netmon_start(d.netmon) < 0)
		log_warnx("netmon: route and link events are not tracked");
	health_start(d.health);
	log_notice("ready: policy %s", balance_policy_name(d.conf->policy));
	ev_run(d.loop, 0);
	proxy_log_stats(d.proxy);
	signals_stop(&d);
	status = 0;
out:
	netmon_free(d.netmon);
	health_free(d.health);
	proxy_free(d.proxy);
	backend_set_free(&d.backends);
	if (d.loop)
		ev_loop_destroy(d.loop);
	conf_free(d.conf);
	if (status == 0)
		log_notice("stopped");
	return status;
}
