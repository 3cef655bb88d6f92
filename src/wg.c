/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wg: what wglbd reads of WireGuard messages. It never decrypts tunnel
 * traffic: it classifies, reads indices and checks mac1, which needs only
 * the service public key.
 */
#include "config.h"

#include <blake2.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>

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

void wg_mac1_key(uint8_t key[WG_KEY_LEN], const uint8_t pub[WG_KEY_LEN])
{
	static const uint8_t label[8] = { 'm', 'a', 'c', '1', '-', '-', '-', '-' };
	blake2s_state st;

	blake2s_init(&st, WG_KEY_LEN);
	blake2s_update(&st, label, sizeof label);
	blake2s_update(&st, pub, WG_KEY_LEN);
	blake2s_final(&st, key, WG_KEY_LEN);
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

bool wg_mac1_valid(enum wg_msg t, const uint8_t *p, const uint8_t key[WG_KEY_LEN])
{
	size_t off = wg_mac1_offset(t);
	uint8_t mac[WG_MAC_LEN];

	if (!off)
		return false;
	blake2s(mac, p, key, WG_MAC_LEN, off, WG_KEY_LEN);
	return crypto_verify_16(mac, p + off) == 0;
}

void wg_mac1_write(enum wg_msg t, uint8_t *p, const uint8_t key[WG_KEY_LEN])
{
	size_t off = wg_mac1_offset(t);

	if (off)
		blake2s(p + off, p, key, WG_MAC_LEN, off, WG_KEY_LEN);
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
