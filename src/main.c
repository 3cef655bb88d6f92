/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main: wglbd's command line, start-up order, privileges, signals,
 * reloads, sd_notify and shutdown.
 */
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
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "conf.h"
#include "control.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "netmon.h"
#include "proxy.h"
#include "state.h"

struct daemon {
	struct ev_loop *loop;
	struct conf *conf;
	struct backend_set backends;
	struct proxy *proxy;
	struct health *health;
	struct netmon *netmon;
	struct metrics *metrics;
	struct control *control;
	struct control_ops ops;
	struct reload_status reload;
	ev_signal sigterm, sigint, sigusr1, sighup;
	ev_timer housekeeping;
	ev_timer state_timer;
	unsigned next_id;
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

/*
 * The sd_notify protocol, spoken directly: one datagram to the socket
 * systemd names in NOTIFY_SOCKET ('@' for the abstract namespace).
 */
static void notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof sun.sun_path)
		return;
	strcpy(sun.sun_path, path);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun, len) < 0)
		log_debug("sd_notify: %s", strerror(errno));
	close(fd);
}

static void notify_reloading(void)
{
	struct timespec ts;
	char msg[64];

	/* MONOTONIC_USEC lets systemd pair RELOADING=1 with its ExecReload */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
	notify(msg);
}

/*
 * Each upstream socket also takes a local port of its source address:
 * say how many sessions carrying data the ports allow (a session still
 * in its first handshake shares its backend's relay socket).
 */
static void log_port_room(const struct conf *c)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
	unsigned long lo, hi;
	unsigned n4 = 0, per;
	char line[64], *end;

	if (!f)
		return;
	if (!fgets(line, sizeof line, f)) {
		fclose(f);
		return;
	}
	fclose(f);
	lo = strtoul(line, &end, 10);
	hi = strtoul(end, &end, 10);
	if (hi < lo || hi > 65535)
		return;
	per = (unsigned)(hi - lo + 1);
	for (unsigned i = 0; i < c->n_source; i++)
		n4 += c->source[i].sa.sa_family == AF_INET;
	if ((unsigned long long)per * (n4 ? n4 : 1) < c->max_sessions)
		log_notice("local ports: %u per source address (net.ipv4.ip_local_port_range), "
			   "room for about %llu IPv4 tunnels carrying data, below max_sessions %u: "
			   "add [global] source addresses", per, (unsigned long long)per * (n4 ? n4 : 1),
			   c->max_sessions);
	else
		log_info("local ports: %u per source address: room for max_sessions %u", per,
			 c->max_sessions);
}

/* Each session that carries data holds one socket: take as many descriptors as we may. */
static void raise_nofile(unsigned max_sessions)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("setrlimit(RLIMIT_NOFILE)");
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		/* a few descriptors stay for front sockets, probes, control and metrics */
		rlim_t room = rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 0;

		if (room < max_sessions)
			log_notice("file descriptor limit %llu: room for about %llu tunnels "
				   "carrying data (max_sessions %u; sessions in their first handshake "
				   "take none; raise LimitNOFILE for more)",
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
	if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
		return 0;       /* started as that user already (systemd User=) */
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

/* ---- runtime changes ---- */

static void set_admin(void *arg, struct backend *b, enum backend_admin state)
{
	struct daemon *d = arg;

	if (b->admin == state)
		return;
	log_notice("backend %s: state %s -> %s", b->name, backend_admin_name(b->admin),
		   backend_admin_name(state));
	b->admin = state;
	if (state == ADMIN_DISABLED)
		log_notice("backend %s: disabled, closed %u sessions", b->name,
			   proxy_close_backend_sessions(d->proxy, b));
	health_backend_changed(d->health, b);
}

static void apply_backend(struct daemon *d, struct backend *b, const struct conf_backend *cb)
{
	char a[ADDR_STRLEN];

	if (!addr_equal(&b->addr, &cb->address)) {
		/* sessions keep their sockets to the old address until they move or expire */
		log_notice("backend %s: address -> %s for new sessions", b->name,
			   addr_fmt(&cb->address, a));
		b->addr = cb->address;
	}
	if (b->weight != cb->weight)
		log_notice("backend %s: weight %u -> %u", b->name, b->weight, cb->weight);
	b->weight = cb->weight;
	b->check = cb->health;
	memcpy(b->source, cb->source, sizeof b->source);
	b->n_source = cb->n_source;
	if (b->admin != cb->state)
		set_admin(d, b, cb->state);
	else
		health_backend_changed(d->health, b);
}

/*
 * Parse the file into a new configuration; on error keep the running one.
 * Backends are matched by name: added ones are probed before use, removed
 * ones drain (no new sessions; freed once their last session has gone),
 * changed ones take their new settings. No session is closed, except by
 * a backend becoming disabled.
 */
static int reload(void *arg, char **err)
{
	struct daemon *d = arg;
	struct conf *nc, *old = d->conf;
	struct conf_diff diff;
	char *msgs = NULL;
	size_t len = 0;
	FILE *ef;

	notify_reloading();
	log_notice("reloading %s", old->path);
	ef = open_memstream(&msgs, &len);
	nc = conf_load(old->path, ef ? ef : stderr);
	if (ef)
		fclose(ef);
	if (!nc || conf_diff(old, nc, &diff) < 0) {
		char *line, *save = NULL;

		if (err)
			*err = msgs ? strdup(msgs) : NULL;
		for (line = msgs ? strtok_r(msgs, "\n", &save) : NULL; line;
		     line = strtok_r(NULL, "\n", &save))
			log_error("%s", line);
		log_error("reload failed: the running configuration stays");
		d->reload.failed++;
		d->reload.last_ok = false;
		free(msgs);
		conf_free(nc);
		notify("READY=1");
		return -1;
	}
	free(msgs);
	if (diff.listen_changed) {
		log_warnx("reload: listen addresses changed: that needs a restart; still on the old ones");
		memcpy(nc->listen, old->listen, sizeof nc->listen);
		nc->n_listen = old->n_listen;
	}
	if (diff.user_changed)
		log_warnx("reload: user changed: that needs a restart");
	if (diff.control_changed)
		log_warnx("reload: control socket changed: that needs a restart");
	if (diff.metrics_changed)
		log_warnx("reload: [metrics] changed: that needs a restart");
	if (nc->limits.max_sources != old->limits.max_sources)
		log_warnx("reload: max_sources changed: that needs a restart");

	log_set_level(nc->log_level);
	health_reconfigure(d->health, nc);
	d->backends.policy = nc->policy;
	d->backends.slow_start = nc->slow_start;
	for (unsigned i = 0; i < nc->n_backends; i++) {
		const struct conf_backend *cb = &nc->backends[i];
		struct backend *b = backend_find(&d->backends, cb->name);

		if (b && b->removed) {
			log_notice("backend %s: back in the configuration", b->name);
			b->removed = false;
			apply_backend(d, b, cb);
		} else if (b) {
			if (diff.backends[i] == CHANGE_MODIFIED)
				apply_backend(d, b, cb);
		} else {
			b = backend_new(cb, d->next_id++);
			if (!b || backend_set_add(&d->backends, b) < 0) {
				free(b);
				log_error("reload: out of memory adding backend %s", cb->name);
				continue;
			}
			log_notice("backend %s: added, probing before use", b->name);
			health_backend_changed(d->health, b);
		}
	}
	for (unsigned i = 0; i < diff.n_removed; i++) {
		struct backend *b = backend_find(&d->backends, diff.removed[i]);

		if (b && !b->removed) {
			b->removed = true;
			log_notice("backend %s: removed, draining %u sessions", b->name, b->sessions);
		}
	}
	conf_diff_free(&diff);
	proxy_set_conf(d->proxy, nc);
	d->conf = nc;
	conf_free(old);
	netmon_recheck(d->netmon);
	d->reload.ok++;
	d->reload.last_ok = true;
	d->reload.last_ok_time = ev_time();
	log_notice("reload done: %u backends", d->backends.n);
	notify("READY=1");
	return 0;
}

/* Free removed backends once their last session is gone. */
static void housekeeping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop;
	(void)revents;
	for (unsigned i = 0; i < d->backends.n; i++) {
		struct backend *b = d->backends.v[i];

		if (b->removed && b->sessions == 0) {
			log_notice("backend %s: drained, freed", b->name);
			health_backend_removed(d->health, b);
			proxy_backend_removed(d->proxy, b);
			backend_set_del(&d->backends, b);
			i--;
		}
	}
}

/* A recent state file also lets a crashed wglbd find its sessions again. */
static void state_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop;
	(void)revents;
	if (d->conf->state_file)
		state_save(d->proxy, d->conf->state_file, true);
}

static void fill_metrics(struct metrics_input *in, void *arg)
{
	struct daemon *d = arg;

	in->bs = &d->backends;
	in->px = proxy_get_stats(d->proxy);
	in->sessions = proxy_session_count(d->proxy);
	in->reload = &d->reload;
	in->version = PACKAGE_VERSION;
}

/* ---- signals ---- */

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_notice("signal %d: shutting down", w->signum);
	notify("STOPPING=1");
	ev_break(loop, EVBREAK_ALL);
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop;
	(void)revents;
	proxy_log_stats(d->proxy);
}

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	reload(w->data, NULL);
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

/* ---- start and stop ---- */

static int start(struct daemon *d)
{
	int gid = -1;

	d->loop = ev_default_loop(EVFLAG_AUTO);
	if (!d->loop) {
		log_error("cannot initialise the event loop");
		return -1;
	}
	if (backend_set_init(&d->backends, d->conf) < 0)
		goto oom;
	d->next_id = d->backends.n;
	d->proxy = proxy_new(d->loop, d->conf, &d->backends);
	if (!d->proxy)
		goto oom;
	if (proxy_listen(d->proxy) < 0)
		return -1;
	if (d->conf->user) {
		struct passwd *pw = getpwnam(d->conf->user);

		if (pw)
			gid = (int)pw->pw_gid;
	}
	d->ops = (struct control_ops){
		.bs = &d->backends, .px = d->proxy, .reload = &d->reload,
		.reload_fn = reload, .set_admin = set_admin, .arg = d, .start_time = ev_time(),
	};
	d->control = control_start(d->loop, d->conf->control, gid, &d->ops);
	if (!d->control)
		return -1;
	if (d->conf->has_metrics) {
		d->metrics = metrics_start(d->loop, &d->conf->metrics, fill_metrics, d);
		if (!d->metrics)
			return -1;
	}
	d->health = health_new(d->loop, d->conf, &d->backends);
	d->netmon = netmon_new(d->loop, &d->backends, d->health);
	if (!d->health || !d->netmon)
		goto oom;
	raise_nofile(d->conf->max_sessions);
	log_port_room(d->conf);
	if (d->conf->user && drop_privileges(d->conf->user) < 0)
		return -1;
	if (d->conf->state_file)
		state_load(d->proxy, &d->backends, d->conf->state_file, d->conf->session_timeout);
	signals_start(d);
	proxy_start(d->proxy);
	/* a failing netlink socket costs route tracking, not the service */
	if (netmon_start(d->netmon) < 0)
		log_warnx("netmon: route and link events are not tracked");
	health_start(d->health);
	ev_timer_init(&d->housekeeping, housekeeping_cb, 1.0, 1.0);
	d->housekeeping.data = d;
	ev_timer_start(d->loop, &d->housekeeping);
	ev_timer_init(&d->state_timer, state_cb, STATE_SAVE_INTERVAL, STATE_SAVE_INTERVAL);
	d->state_timer.data = d;
	ev_timer_start(d->loop, &d->state_timer);
	d->reload.last_ok = true;
	d->reload.last_ok_time = ev_time();
	return 0;
oom:
	log_error("out of memory");
	return -1;
}

static void stop(struct daemon *d)
{
	if (d->loop) {
		ev_timer_stop(d->loop, &d->housekeeping);
		ev_timer_stop(d->loop, &d->state_timer);
	}
	control_stop(d->control);
	metrics_stop(d->metrics);
	netmon_free(d->netmon);
	health_free(d->health);
	proxy_free(d->proxy);
	backend_set_free(&d->backends);
	if (d->loop)
		ev_loop_destroy(d->loop);
	conf_free(d->conf);
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
	if (start(&d) == 0) {
		log_notice("ready: policy %s", balance_policy_name(d.conf->policy));
		notify("READY=1\nSTATUS=forwarding");
		ev_run(d.loop, 0);
		proxy_log_stats(d.proxy);
		if (d.conf->state_file)
			state_save(d.proxy, d.conf->state_file, false);
		signals_stop(&d);
		status = 0;
	}
	stop(&d);
	if (status == 0)
		log_notice("stopped");
	return status;
}
