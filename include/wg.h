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

#endif
