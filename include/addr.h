/* SPDX-License-Identifier: GPL-2.0-or-later */
/* addr: socket addresses: parsing "host:port" / "[v6]:port", formatting, comparing. */
#ifndef WGLB_ADDR_H
#define WGLB_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* "[ipv6]:port" or "ipv4:port"; numeric only, no name lookups. */
#define ADDR_STRLEN (INET6_ADDRSTRLEN + 16)

/* 0, -ERANGE for a port outside 1..65535, -EINVAL for anything else. */
int addr_parse(const char *s, union sockaddr_any *out);
socklen_t addr_len(const union sockaddr_any *a);
const char *addr_fmt(const union sockaddr_any *a, char buf[ADDR_STRLEN]);
/* Same family, address, port (and IPv6 scope)? Inline: every datagram asks. */
static inline bool addr_equal(const union sockaddr_any *a, const union sockaddr_any *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == b->in.sin_port &&
		       a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
		       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
	return false;
}
bool addr_is_wildcard(const union sockaddr_any *a);
uint16_t addr_port(const union sockaddr_any *a);
/* An IPv4-mapped IPv6 address (from a dual-stack socket) as the IPv4 address it is. */
void addr_unmap(union sockaddr_any *a);

#endif
