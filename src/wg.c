/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wg: what wglbd reads of WireGuard messages. It never decrypts tunnel
 * traffic: it classifies, reads indices and checks mac1, which needs only
 * the service public key.
 */
#include "config.h"

#include <arpa/inet.h>
#include <blake2.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>

#include "wg.h"

static const char *const drop_names[DROP__COUNT] = {
	[DROP_SHORT] = "short",
	[DROP_UNKNOWN_TYPE] = "unknown_type",
	[DROP_BAD_LENGTH] = "bad_length",
	[DROP_TRUNCATED] = "truncated",
	[DROP_BAD_MAC1] = "bad_mac1",
	[DROP_DUPLICATE] = "duplicate",
	[DROP_NO_SESSION] = "no_session",
	[DROP_AMBIGUOUS] = "ambiguous_index",
	[DROP_NO_BACKEND] = "no_backend",
	[DROP_SESSION_LIMIT] = "session_limit",
	[DROP_SOCKET] = "socket",
	[DROP_SEND] = "send",
	[DROP_RATE_LIMITED] = "rate_limited",
	[DROP_COOKIE] = "cookie_required",
	[DROP_SOURCE_LIMIT] = "source_limit",
	[DROP_SESSION_RATE] = "session_rate",
	[DROP_LEARN_RATE] = "learn_rate",
	[DROP_STRAY] = "stray",
};

const char *drop_reason_name(enum drop_reason r)
{
	if ((unsigned)r >= DROP__COUNT)
		return "unknown";
	return drop_names[r];
}

const char *wg_msg_name(enum wg_msg t)
{
	switch (t) {
	case WG_MSG_INITIATION:
		return "initiation";
	case WG_MSG_RESPONSE:
		return "response";
	case WG_MSG_COOKIE:
		return "cookie";
	case WG_MSG_DATA:
		return "data";
	default:
		return "invalid";
	}
}

static inline uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

enum wg_msg wg_classify(const uint8_t *p, size_t len, enum drop_reason *why)
{
	size_t want;

	if (len < 4) {
		*why = DROP_SHORT;
		return WG_MSG_INVALID;
	}
	/* one word: a non-zero reserved byte makes it an unknown type */
	switch (le32(p)) {
	case WG_MSG_INITIATION:
		want = WG_INITIATION_LEN;
		break;
	case WG_MSG_RESPONSE:
		want = WG_RESPONSE_LEN;
		break;
	case WG_MSG_COOKIE:
		want = WG_COOKIE_LEN;
		break;
	case WG_MSG_DATA:
		if (len >= WG_DATA_MIN_LEN)
			return WG_MSG_DATA;
		*why = DROP_BAD_LENGTH;
		return WG_MSG_INVALID;
	default:
		*why = DROP_UNKNOWN_TYPE;
		return WG_MSG_INVALID;
	}
	if (len != want) {
		*why = DROP_BAD_LENGTH;
		return WG_MSG_INVALID;
	}
	return (enum wg_msg)p[0];
}

uint32_t wg_sender_index(const uint8_t *p)
{
	return le32(p + 4);
}

uint32_t wg_receiver_index(enum wg_msg t, const uint8_t *p)
{
	return le32(p + (t == WG_MSG_RESPONSE ? 8 : 4));
}

/* HASH(label || pub), the keys derived from a public key */
static void labelled_key(uint8_t key[WG_KEY_LEN], const char label[8],
			 const uint8_t pub[WG_KEY_LEN])
{
	blake2s_state st;

	blake2s_init(&st, WG_KEY_LEN);
	blake2s_update(&st, (const uint8_t *)label, 8);
	blake2s_update(&st, pub, WG_KEY_LEN);
	blake2s_final(&st, key, WG_KEY_LEN);
}

void wg_mac1_key(uint8_t key[WG_KEY_LEN], const uint8_t pub[WG_KEY_LEN])
{
	labelled_key(key, "mac1----", pub);
}

void wg_cookie_key(uint8_t key[WG_KEY_LEN], const uint8_t pub[WG_KEY_LEN])
{
	labelled_key(key, "cookie--", pub);
}

size_t wg_mac1_offset(enum wg_msg t)
{
	switch (t) {
	case WG_MSG_INITIATION:
		return 116;
	case WG_MSG_RESPONSE:
		return 60;
	default:
		return 0;
	}
}

/* mac1 and mac2: keyed BLAKE2s-128 of everything before the field at off */
static bool mac_valid(const uint8_t *p, size_t off, const uint8_t *key, size_t keylen)
{
	uint8_t mac[WG_MAC_LEN];

	if (!off)
		return false;
	blake2s(mac, p, key, WG_MAC_LEN, off, keylen);
	return crypto_verify_16(mac, p + off) == 0;
}

static void mac_write(uint8_t *p, size_t off, const uint8_t *key, size_t keylen)
{
	if (off)
		blake2s(p + off, p, key, WG_MAC_LEN, off, keylen);
}

bool wg_mac1_valid(enum wg_msg t, const uint8_t *p, const uint8_t key[WG_KEY_LEN])
{
	return mac_valid(p, wg_mac1_offset(t), key, WG_KEY_LEN);
}

void wg_mac1_write(enum wg_msg t, uint8_t *p, const uint8_t key[WG_KEY_LEN])
{
	mac_write(p, wg_mac1_offset(t), key, WG_KEY_LEN);
}

int wg_key_from_base64(uint8_t key[WG_KEY_LEN], const char *b64)
{
	size_t len;

	if (strlen(b64) != 44)
		return -EINVAL;
	/* libsodium 1.0.18 decodes some bytes >= 0x80 as digits: allow only the alphabet */
	if (strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != 44)
		return -EINVAL;
	if (sodium_base642bin(key, WG_KEY_LEN, b64, 44, NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || len != WG_KEY_LEN)
		return -EINVAL;
	return 0;
}

size_t wg_mac2_offset(enum wg_msg t)
{
	size_t off = wg_mac1_offset(t);

	return off ? off + WG_MAC_LEN : 0;
}

/* the cookie itself is the key: 16 bytes, which is not the same as 32 zero-padded */
bool wg_mac2_valid(enum wg_msg t, const uint8_t *p, const uint8_t cookie[WG_MAC_LEN])
{
	return mac_valid(p, wg_mac2_offset(t), cookie, WG_MAC_LEN);
}

void wg_mac2_write(enum wg_msg t, uint8_t *p, const uint8_t cookie[WG_MAC_LEN])
{
	mac_write(p, wg_mac2_offset(t), cookie, WG_MAC_LEN);
}

void wg_cookie_issuer_init(struct wg_cookie_issuer *ci, const uint8_t service_pub[WG_KEY_LEN])
{
	memset(ci, 0, sizeof *ci);
	wg_cookie_key(ci->reply_key, service_pub);
}

void wg_cookie_issuer_wipe(struct wg_cookie_issuer *ci)
{
	sodium_memzero(ci, sizeof *ci);
}

void wg_cookie_for(struct wg_cookie_issuer *ci, const struct sockaddr *src, double now,
		   uint8_t cookie[WG_MAC_LEN])
{
	uint8_t a[18];
	size_t n;

	if (ci->born == 0 || now - ci->born >= WG_COOKIE_SECRET_AGE) {
		randombytes_buf(ci->secret, sizeof ci->secret);
		ci->born = now;
	}
	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)src;

		memcpy(a, &in->sin_addr, 4);
		memcpy(a + 4, &in->sin_port, 2);
		n = 6;
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)src;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			memcpy(a, in6->sin6_addr.s6_addr + 12, 4);
			memcpy(a + 4, &in6->sin6_port, 2);
			n = 6;
		} else {
			memcpy(a, &in6->sin6_addr, 16);
			memcpy(a + 16, &in6->sin6_port, 2);
			n = 18;
		}
	}
	blake2s(cookie, a, ci->secret, WG_MAC_LEN, n, WG_KEY_LEN);
}

void wg_cookie_reply(const struct wg_cookie_issuer *ci, enum wg_msg t, const uint8_t *msg,
		     const uint8_t cookie[WG_MAC_LEN], uint8_t reply[WG_COOKIE_LEN])
{
	reply[0] = WG_MSG_COOKIE;
	reply[1] = reply[2] = reply[3] = 0;
	memcpy(reply + 4, msg + 4, 4);          /* the challenged message's sender index */
	randombytes_buf(reply + 8, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(reply + 32, NULL, cookie, WG_MAC_LEN,
						   msg + wg_mac1_offset(t), WG_MAC_LEN, NULL,
						   reply + 8, ci->reply_key);
}

int wg_cookie_open(const uint8_t reply[WG_COOKIE_LEN], const uint8_t key[WG_KEY_LEN],
		   const uint8_t mac1[WG_MAC_LEN], uint8_t cookie[WG_MAC_LEN])
{
	unsigned long long n;

	if (crypto_aead_xchacha20poly1305_ietf_decrypt(cookie, &n, NULL, reply + 32, 32, mac1,
						       WG_MAC_LEN, reply + 8, key) != 0 ||
	    n != WG_MAC_LEN)
		return -EBADMSG;
	return 0;
}
