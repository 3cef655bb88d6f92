/* SPDX-License-Identifier: GPL-2.0-or-later */
/* wg: the WireGuard wire format: classification, indices, mac1. */
#ifndef WGLB_WG_H
#define WGLB_WG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WG_KEY_LEN 32
#define WG_MAC_LEN 16

enum wg_msg {
	WG_MSG_INVALID = 0,
	WG_MSG_INITIATION = 1,
	WG_MSG_RESPONSE = 2,
	WG_MSG_COOKIE = 3,
	WG_MSG_DATA = 4,
};

#define WG_INITIATION_LEN 148
#define WG_RESPONSE_LEN 92
#define WG_COOKIE_LEN 64
#define WG_DATA_MIN_LEN 32

/* Why a datagram was dropped; shared by every module that drops one. */
enum drop_reason {
	DROP_SHORT,          /* under 4 bytes: no type word */
	DROP_UNKNOWN_TYPE,   /* type word not 1..4 (includes non-zero reserved bytes) */
	DROP_BAD_LENGTH,     /* known type, wrong size for it */
	DROP_TRUNCATED,      /* larger than the receive buffer */
	DROP_BAD_MAC1,       /* initiation/response whose mac1 does not verify */
	DROP_DUPLICATE,      /* same initiation seen again (replay or network duplicate) */
	DROP_NO_SESSION,     /* unknown endpoint and no known index */
	DROP_AMBIGUOUS,      /* unknown endpoint, index owned by several backends */
	DROP_NO_BACKEND,     /* no backend can take a new handshake */
	DROP_SESSION_LIMIT,  /* max_sessions reached */
	DROP_SOCKET,         /* could not open an upstream socket */
	DROP_SEND,           /* sendmsg failed */
	DROP_RATE_LIMITED,   /* the source's handshake bucket is empty */
	DROP_COOKIE,         /* under load without a valid mac2: answered with a cookie */
	DROP_SOURCE_LIMIT,   /* the source holds too many sessions, or the source table is full */
	DROP_SESSION_RATE,   /* new sessions per second, all sources, exceeded */
	DROP_LEARN_RATE,     /* copying a datagram of an unknown tunnel to every backend: over the rate */
	DROP_STRAY,          /* not from the session's backend, or for no pending handshake */
	DROP__COUNT,
};

const char *drop_reason_name(enum drop_reason r);

/*
 * Classify a datagram exactly as WireGuard does: the first four bytes are
 * one little-endian word that must be 1..4 (so reserved bytes must be zero),
 * and each type has its exact size (data: at least 32 bytes).
 * Returns the type, or WG_MSG_INVALID with *why set.
 */
enum wg_msg wg_classify(const uint8_t *p, size_t len, enum drop_reason *why);
const char *wg_msg_name(enum wg_msg t);

/* Sender index of types 1 and 2. */
uint32_t wg_sender_index(const uint8_t *p);
/* Receiver index of types 2, 3 and 4. */
uint32_t wg_receiver_index(enum wg_msg t, const uint8_t *p);

/* mac1 key for messages addressed to the owner of pub: HASH("mac1----" || pub). */
void wg_mac1_key(uint8_t key[WG_KEY_LEN], const uint8_t pub[WG_KEY_LEN]);
/* Offset of mac1 for types 1 and 2 (0 for other types). */
size_t wg_mac1_offset(enum wg_msg t);
/* Constant-time check of mac1 on a classified type 1 or 2 message. */
bool wg_mac1_valid(enum wg_msg t, const uint8_t *p, const uint8_t key[WG_KEY_LEN]);
/* Compute mac1 into p (tests and the probe use it). */
void wg_mac1_write(enum wg_msg t, uint8_t *p, const uint8_t key[WG_KEY_LEN]);

/* Base64 (standard, padded, 44 characters) to a 32-byte key. */
int wg_key_from_base64(uint8_t key[WG_KEY_LEN], const char *b64);


/* ---- cookies (mac2) ---- */

#define WG_COOKIE_SECRET_AGE 120.0  /* seconds a cookie secret lives */
#define WG_COOKIE_USE_AGE 115.0     /* a received cookie is used this long (as Linux) */

/* XChaCha20-Poly1305 key for cookie replies sent by the owner of pub: HASH("cookie--" || pub). */
void wg_cookie_key(uint8_t key[WG_KEY_LEN], const uint8_t pub[WG_KEY_LEN]);
/* Offset of mac2 for types 1 and 2 (0 for other types). */
size_t wg_mac2_offset(enum wg_msg t);
bool wg_mac2_valid(enum wg_msg t, const uint8_t *p, const uint8_t cookie[WG_MAC_LEN]);
void wg_mac2_write(enum wg_msg t, uint8_t *p, const uint8_t cookie[WG_MAC_LEN]);

/*
 * The cookie issuer's side: a secret renewed every two minutes, and the
 * cookie of a source address, MAC(secret, ip || port) with the port big
 * endian and IPv4-mapped addresses as 4 bytes.
 */
struct wg_cookie_issuer {
	uint8_t secret[WG_KEY_LEN];
	double born;                 /* when secret was made; 0: none yet */
	uint8_t reply_key[WG_KEY_LEN];
};
struct sockaddr;
void wg_cookie_issuer_init(struct wg_cookie_issuer *ci, const uint8_t service_pub[WG_KEY_LEN]);
void wg_cookie_issuer_wipe(struct wg_cookie_issuer *ci);
/* The cookie src holds now (renewing the secret when it is too old). */
void wg_cookie_for(struct wg_cookie_issuer *ci, const struct sockaddr *src, double now,
		   uint8_t cookie[WG_MAC_LEN]);
/* A 64-byte type 3 answering the type 1 or 2 message msg, carrying cookie. */
void wg_cookie_reply(const struct wg_cookie_issuer *ci, enum wg_msg t, const uint8_t *msg,
		     const uint8_t cookie[WG_MAC_LEN], uint8_t reply[WG_COOKIE_LEN]);
/*
 * The receiver's side: open a type 3 with the key of its sender's public
 * key and the mac1 of the message it answers. 0, or -EBADMSG.
 */
int wg_cookie_open(const uint8_t reply[WG_COOKIE_LEN], const uint8_t key[WG_KEY_LEN],
		   const uint8_t mac1[WG_MAC_LEN], uint8_t cookie[WG_MAC_LEN]);

#endif
