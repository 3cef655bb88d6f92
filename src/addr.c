/* SPDX-License-Identifier: GPL-2.0-or-later */
/* addr: numeric socket addresses, "a.b.c.d:port" and "[v6]:port". */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno || v == 0 || v > 65535)
		return -ERANGE;
	*port = (uint16_t)v;
	return 0;
}

int addr_parse(const char *s, union sockaddr_any *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	uint16_t port;
	size_t n;
	int e;

	memset(out, 0, sizeof *out);
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		n = (size_t)(close - s - 1);
		if (n == 0 || n >= sizeof host)
			return -EINVAL;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (inet_pton(AF_INET6, host, &out->in6.sin6_addr) != 1)
			return -EINVAL;
		if ((e = parse_port(close + 2, &port)) < 0)
			return e;
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons(port);
		return 0;
	}
	colon = strchr(s, ':');
	if (!colon || strchr(colon + 1, ':'))
		return -EINVAL;        /* a bare IPv6 address needs brackets */
	n = (size_t)(colon - s);
	if (n == 0 || n >= sizeof host)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &out->in.sin_addr) != 1)
		return -EINVAL;
	if ((e = parse_port(colon + 1, &port)) < 0)
		return e;
	out->in.sin_family = AF_INET;
	out->in.sin_port = htons(port);
	return 0;
}

socklen_t addr_len(const union sockaddr_any *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof a->in6 : sizeof a->in;
}

const char *addr_fmt(const union sockaddr_any *a, char buf[ADDR_STRLEN])
{
	char host[INET6_ADDRSTRLEN];

	switch (a->sa.sa_family) {
	case AF_INET:
		inet_ntop(AF_INET, &a->in.sin_addr, host, sizeof host);
		snprintf(buf, ADDR_STRLEN, "%s:%u", host, ntohs(a->in.sin_port));
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &a->in6.sin6_addr, host, sizeof host);
		snprintf(buf, ADDR_STRLEN, "[%s]:%u", host, ntohs(a->in6.sin6_port));
		break;
	default:
		snprintf(buf, ADDR_STRLEN, "(family %d)", a->sa.sa_family);
	}
	return buf;
}

bool addr_is_wildcard(const union sockaddr_any *a)
{
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_addr.s_addr == htonl(INADDR_ANY);
	if (a->sa.sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&a->in6.sin6_addr);
	return false;
}

uint16_t addr_port(const union sockaddr_any *a)
{
	if (a->sa.sa_family == AF_INET)
		return ntohs(a->in.sin_port);
	if (a->sa.sa_family == AF_INET6)
		return ntohs(a->in6.sin6_port);
	return 0;
}

void addr_unmap(union sockaddr_any *a)
{
	if (a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr)) {
		uint16_t port = a->in6.sin6_port;
		struct in_addr v4;

		memcpy(&v4, a->in6.sin6_addr.s6_addr + 12, 4);
		memset(a, 0, sizeof *a);
		a->in.sin_family = AF_INET;
		a->in.sin_port = port;
		a->in.sin_addr = v4;
	}
}
