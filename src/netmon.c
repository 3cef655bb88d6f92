/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * netmon: one rtnetlink socket subscribed to link, address and route
 * events, and one for queries. Events are not interpreted one by one:
 * any of them (or a lost one, ENOBUFS) schedules a short-delayed re-check
 * of every backend with RTM_GETROUTE and RTM_GETLINK, which is exact and
 * cheap next to a flap. A slow periodic re-check covers the rest.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "netmon.h"

#define DEBOUNCE 0.02
#define PERIODIC 5.0

struct netmon {
	struct ev_loop *loop;
	struct backend_set *bs;
	struct health *health;
	struct mnl_socket *events;
	struct mnl_socket *query;
	unsigned query_portid;
	unsigned seq;
	ev_io io;
	ev_timer debounce;
	ev_timer periodic;
};

struct route_reply {
	unsigned oif;
	bool have_oif;
	unsigned flags;
	bool have_flags;
	char ifname[16];
};

static int route_attr_cb(const struct nlattr *a, void *data)
{
	struct route_reply *r = data;

	if (mnl_attr_type_valid(a, RTA_MAX) < 0)
		return MNL_CB_OK;
	if (mnl_attr_get_type(a) == RTA_OIF && mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
		r->oif = mnl_attr_get_u32(a);
		r->have_oif = true;
	}
	return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return MNL_CB_OK;
	/* unreachable, blackhole and prohibit routes lead nowhere */
	if (rtm->rtm_type != RTN_UNICAST && rtm->rtm_type != RTN_LOCAL)
		return MNL_CB_OK;
	return mnl_attr_parse(nlh, sizeof *rtm, route_attr_cb, data);
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	struct route_reply *r = data;

	if (mnl_attr_type_valid(a, IFLA_MAX) < 0)
		return MNL_CB_OK;
	if (mnl_attr_get_type(a) == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_STRING) == 0)
		snprintf(r->ifname, sizeof r->ifname, "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct route_reply *r = data;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	r->flags = ifi->ifi_flags;
	r->have_flags = true;
	return mnl_attr_parse(nlh, sizeof *ifi, link_attr_cb, data);
}

/* One request, its answer through cb. 0 or -errno (from an NLMSG_ERROR too). */
static int query(struct netmon *nm, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	unsigned seq = ++nm->seq;
	ssize_t n;

	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nm->query, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	/* not a dump: the answer is one message, or an error */
	n = mnl_socket_recvfrom(nm->query, buf, sizeof buf);
	if (n < 0)
		return -errno;
	return mnl_cb_run(buf, (size_t)n, seq, nm->query_portid, cb, data) < 0 ? -errno : 0;
}

int netmon_route(struct netmon *nm, const union sockaddr_any *addr, unsigned *oif, bool *up,
		 char ifname[16])
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct route_reply r = { 0 };
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	struct ifinfomsg *ifi;
	int rc;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof *rtm);
	rtm->rtm_family = (unsigned char)addr->sa.sa_family;
	if (addr->sa.sa_family == AF_INET) {
		rtm->rtm_dst_len = 32;
		mnl_attr_put(nlh, RTA_DST, 4, &addr->in.sin_addr);
	} else {
		rtm->rtm_dst_len = 128;
		mnl_attr_put(nlh, RTA_DST, 16, &addr->in6.sin6_addr);
	}
	rc = query(nm, nlh, route_cb, &r);
	if (rc < 0)
		return rc;
	if (!r.have_oif)
		return -ENETUNREACH;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)r.oif;
	rc = query(nm, nlh, link_cb, &r);
	if (rc < 0)
		return rc;
	*oif = r.oif;
	/* up and with carrier; loopback has no carrier flag worth checking */
	*up = r.have_flags && (r.flags & IFF_UP) &&
	      ((r.flags & IFF_LOWER_UP) || (r.flags & IFF_LOOPBACK));
	snprintf(ifname, 16, "%s", r.ifname[0] ? r.ifname : "?");
	return 0;
}

static void check_backend(struct netmon *nm, struct backend *b)
{
	char ifname[16], detail[96], a[ADDR_STRLEN];
	unsigned oif;
	bool up;
	int rc = netmon_route(nm, &b->addr, &oif, &up, ifname);

	if (rc == -ENETUNREACH || rc == -EHOSTUNREACH || rc == -EINVAL) {
		snprintf(detail, sizeof detail, "no route to %s", addr_fmt(&b->addr, a));
		if (b->route_ok)
			health_report(nm->health, b, PROBE_ROUTE_DOWN, detail);
	} else if (rc < 0) {
		log_warnx("netmon: route lookup for backend %s: %s", b->name, strerror(-rc));
	} else if (!up) {
		snprintf(detail, sizeof detail, "link %s is down", ifname);
		if (b->route_ok)
			health_report(nm->health, b, PROBE_ROUTE_DOWN, detail);
	} else if (!b->route_ok) {
		snprintf(detail, sizeof detail, "via %s", ifname);
		health_report(nm->health, b, PROBE_ROUTE_UP, detail);
	}
}

void netmon_recheck(struct netmon *nm)
{
	for (unsigned i = 0; i < nm->bs->n; i++)
		check_backend(nm, nm->bs->v[i]);
}

static void debounce_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	netmon_recheck(w->data);
}

static void periodic_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	netmon_recheck(w->data);
}

static void events_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct netmon *nm = w->data;
	char buf[MNL_SOCKET_BUFFER_SIZE];
	bool any = false;

	(void)revents;
	for (int i = 0; i < 64; i++) {
		ssize_t n = mnl_socket_recvfrom(nm->events, buf, sizeof buf);

		if (n < 0) {
			if (errno == ENOBUFS)
				any = true;     /* events were lost: look again */
			else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("netmon: receive");
			break;
		}
		any = true;
	}
	if (any && !ev_is_active(&nm->debounce)) {
		ev_timer_set(&nm->debounce, DEBOUNCE, 0);
		ev_timer_start(loop, &nm->debounce);
	}
}

struct netmon *netmon_new(struct ev_loop *loop, struct backend_set *bs, struct health *h)
{
	struct netmon *nm = calloc(1, sizeof *nm);

	if (!nm)
		return NULL;
	nm->loop = loop;
	nm->bs = bs;
	nm->health = h;
	nm->seq = (unsigned)time(NULL);
	ev_init(&nm->debounce, debounce_cb);
	nm->debounce.data = nm;
	ev_timer_init(&nm->periodic, periodic_cb, PERIODIC, PERIODIC);
	nm->periodic.data = nm;
	return nm;
}

int netmon_start(struct netmon *nm)
{
	unsigned groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
			  RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
	int fd, rc;

	nm->query = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	nm->events = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!nm->query || !nm->events)
		goto fail;
	if (mnl_socket_bind(nm->query, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_bind(nm->events, groups, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	nm->query_portid = mnl_socket_get_portid(nm->query);
	fd = mnl_socket_get_fd(nm->events);
	ev_io_init(&nm->io, events_cb, fd, EV_READ);
	nm->io.data = nm;
	ev_io_start(nm->loop, &nm->io);
	ev_timer_start(nm->loop, &nm->periodic);
	netmon_recheck(nm);
	return 0;
fail:
	rc = -errno;
	log_warn("netmon: rtnetlink");
	if (nm->query)
		mnl_socket_close(nm->query);
	if (nm->events)
		mnl_socket_close(nm->events);
	nm->query = nm->events = NULL;
	return rc;
}

void netmon_free(struct netmon *nm)
{
	if (!nm)
		return;
	ev_timer_stop(nm->loop, &nm->debounce);
	ev_timer_stop(nm->loop, &nm->periodic);
	if (nm->events) {
		ev_io_stop(nm->loop, &nm->io);
		mnl_socket_close(nm->events);
	}
	if (nm->query)
		mnl_socket_close(nm->query);
	free(nm);
}
