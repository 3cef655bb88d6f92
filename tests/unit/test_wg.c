/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wg: classification, indices and mac1 against datagrams captured from real
 * wireguard-go peers (tests/data/wg, see its README), the protocol document's
 * handshake vector, and malformed or random input.
 */
#include <blake2.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wg.h"
#include "vectors.h"

#ifndef WGLB_TEST_DATA
#error "WGLB_TEST_DATA must name the tests/data directory"
#endif

#define WG_DATA_DIR WGLB_TEST_DATA "/wg/"
#define PKT_MAX 2048

/* A buffer to classify: heap-allocated at its exact length so that a read
 * past the end is visible to valgrind or ASan rather than hidden in slack. */
struct pkt {
	uint8_t *p;
	size_t len;
};

static void init(void)
{
	cr_assert(sodium_init() >= 0);
}

TestSuite(wg, .init = init);

static struct pkt load(const char *name)
{
	char path[512], line[2 * PKT_MAX + 2];
	uint8_t buf[PKT_MAX];
	struct pkt k;
	size_t len;
	FILE *f;

	snprintf(path, sizeof path, WG_DATA_DIR "%s.hex", name);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_not_null(fgets(line, sizeof line, f), "%s: empty", path);
	fclose(f);
	/* one line, newline-terminated: anything else is a broken fixture */
	cr_assert_not_null(strchr(line, '\n'), "%s: no newline or too long", path);
	*strchr(line, '\n') = '\0';
	cr_assert_eq(sodium_hex2bin(buf, sizeof buf, line, strlen(line), NULL, &len, NULL), 0,
		     "%s: not hex", path);
	k.len = len;
	k.p = malloc(len ? len : 1);
	cr_assert_not_null(k.p);
	memcpy(k.p, buf, len);
	return k;
}

static struct pkt pkt_dup(const uint8_t *p, size_t len)
{
	struct pkt k = { .p = malloc(len ? len : 1), .len = len };

	cr_assert_not_null(k.p);
	if (len)
		memcpy(k.p, p, len);
	return k;
}

static void pkt_free(struct pkt *k)
{
	free(k->p);
	k->p = NULL;
}

/* Value of "name = value" in keys.txt. */
static void keys_get(const char *name, char *out, size_t n)
{
	char line[256];
	size_t nl = strlen(name);
	FILE *f = fopen(WG_DATA_DIR "keys.txt", "r");

	cr_assert_not_null(f, "keys.txt: %s", strerror(errno));
	while (fgets(line, sizeof line, f)) {
		char *v = line + nl;

		if (strncmp(line, name, nl) != 0 || strncmp(v, " = ", 3) != 0)
			continue;
		v += 3;
		v[strcspn(v, "\r\n")] = '\0';
		cr_assert_lt(strlen(v), n);
		strcpy(out, v);
		fclose(f);
		return;
	}
	fclose(f);
	cr_assert_fail("keys.txt has no %s", name);
}

static uint32_t keys_u32(const char *name)
{
	char v[64], *end;
	unsigned long x;

	keys_get(name, v, sizeof v);
	x = strtoul(v, &end, 16);
	cr_assert(*v && !*end && x <= UINT32_MAX, "keys.txt: %s = %s", name, v);
	return (uint32_t)x;
}

/* Decoded with libsodium directly so that the fixtures do not depend on the
 * wg_key_from_base64 under test. */
static void keys_pub(const char *name, uint8_t pub[WG_KEY_LEN])
{
	char v[64];
	size_t len;

	keys_get(name, v, sizeof v);
	cr_assert_eq(sodium_base642bin(pub, WG_KEY_LEN, v, strlen(v), NULL, &len, NULL,
				       sodium_base64_VARIANT_ORIGINAL), 0, "%s", v);
	cr_assert_eq(len, WG_KEY_LEN);
}

static void mac1_key_of(const char *name, uint8_t key[WG_KEY_LEN])
{
	uint8_t pub[WG_KEY_LEN];

	keys_pub(name, pub);
	wg_mac1_key(key, pub);
}

static enum wg_msg classify(const struct pkt *k, enum drop_reason *why)
{
	/* an impossible value, so a path that forgets to set *why shows */
	*why = DROP__COUNT;
	return wg_classify(k->p, k->len, why);
}

/* ---- the captured packets ---- */

static const struct {
	const char *name;
	enum wg_msg type;
	size_t len;	/* 0: read from keys.txt */
	const char *len_key;
} captured[] = {
	{ "initiation", WG_MSG_INITIATION, WG_INITIATION_LEN, NULL },
	{ "response", WG_MSG_RESPONSE, WG_RESPONSE_LEN, NULL },
	{ "cookie", WG_MSG_COOKIE, WG_COOKIE_LEN, NULL },
	{ "cookie-initiation", WG_MSG_INITIATION, WG_INITIATION_LEN, NULL },
	{ "initiation-mac2", WG_MSG_INITIATION, WG_INITIATION_LEN, NULL },
	{ "keepalive", WG_MSG_DATA, WG_DATA_MIN_LEN, NULL },
	{ "data", WG_MSG_DATA, 0, "data_len" },
	{ "data-reply", WG_MSG_DATA, 0, "data_reply_len" },
};

Test(wg, classify_captured)
{
	for (size_t i = 0; i < sizeof captured / sizeof captured[0]; i++) {
		struct pkt k = load(captured[i].name);
		size_t want = captured[i].len;
		enum drop_reason why;

		if (!want) {
			char v[32];

			keys_get(captured[i].len_key, v, sizeof v);
			want = strtoul(v, NULL, 10);
			/* a real ping: more than a keepalive, padded to 16 */
			cr_assert_gt(want, WG_DATA_MIN_LEN);
			cr_assert_eq(want % 16, 0);
		}
		cr_assert_eq(k.len, want, "%s: %zu bytes", captured[i].name, k.len);
		cr_assert_eq(classify(&k, &why), captured[i].type, "%s (why %d)",
			     captured[i].name, why);
		pkt_free(&k);
	}
}

Test(wg, indices_captured)
{
	struct pkt init = load("initiation"), resp = load("response");
	struct pkt data = load("data"), reply = load("data-reply");
	struct pkt ka = load("keepalive"), cookie = load("cookie");
	struct pkt cinit = load("cookie-initiation"), retry = load("initiation-mac2");

	cr_assert_eq(wg_sender_index(init.p), keys_u32("initiation_sender"));
	cr_assert_eq(wg_sender_index(resp.p), keys_u32("response_sender"));
	cr_assert_eq(wg_receiver_index(WG_MSG_RESPONSE, resp.p), keys_u32("response_receiver"));
	cr_assert_eq(wg_receiver_index(WG_MSG_DATA, data.p), keys_u32("data_receiver"));
	cr_assert_eq(wg_receiver_index(WG_MSG_DATA, reply.p), keys_u32("data_reply_receiver"));
	cr_assert_eq(wg_receiver_index(WG_MSG_DATA, ka.p), keys_u32("keepalive_receiver"));
	cr_assert_eq(wg_receiver_index(WG_MSG_COOKIE, cookie.p), keys_u32("cookie_receiver"));
	cr_assert_eq(wg_sender_index(cinit.p), keys_u32("cookie_initiation_sender"));
	cr_assert_eq(wg_sender_index(retry.p), keys_u32("initiation_mac2_sender"));

	/* the routing relations of protocol doc 3.2, on the real packets */
	cr_assert_eq(wg_receiver_index(WG_MSG_RESPONSE, resp.p), wg_sender_index(init.p));
	cr_assert_eq(wg_receiver_index(WG_MSG_DATA, data.p), wg_sender_index(resp.p));
	cr_assert_eq(wg_receiver_index(WG_MSG_DATA, ka.p), wg_sender_index(resp.p));
	cr_assert_eq(wg_receiver_index(WG_MSG_DATA, reply.p), wg_sender_index(init.p));
	cr_assert_eq(wg_receiver_index(WG_MSG_COOKIE, cookie.p), wg_sender_index(cinit.p));
	/* every initiation takes a fresh index, the retry included */
	cr_assert_neq(wg_sender_index(retry.p), wg_sender_index(cinit.p));
	/* the response's sender is not its receiver: offsets 4 and 8 differ */
	cr_assert_neq(wg_sender_index(resp.p), wg_receiver_index(WG_MSG_RESPONSE, resp.p));

	pkt_free(&init);
	pkt_free(&resp);
	pkt_free(&data);
	pkt_free(&reply);
	pkt_free(&ka);
	pkt_free(&cookie);
	pkt_free(&cinit);
	pkt_free(&retry);
}

/* ---- mac1 ---- */

Test(wg, mac1_offsets)
{
	cr_assert_eq(wg_mac1_offset(WG_MSG_INITIATION), 116);
	cr_assert_eq(wg_mac1_offset(WG_MSG_RESPONSE), 60);
	cr_assert_eq(wg_mac1_offset(WG_MSG_COOKIE), 0);
	cr_assert_eq(wg_mac1_offset(WG_MSG_DATA), 0);
	cr_assert_eq(wg_mac1_offset(WG_MSG_INVALID), 0);
}

Test(wg, mac1_initiation_captured)
{
	struct pkt k = load("initiation");
	uint8_t key[WG_KEY_LEN], ckey[WG_KEY_LEN];

	mac1_key_of("server_public", key);
	mac1_key_of("client_public", ckey);
	cr_assert(wg_mac1_valid(WG_MSG_INITIATION, k.p, key));
	/* addressed to the server: the client's key must not verify it */
	cr_assert_not(wg_mac1_valid(WG_MSG_INITIATION, k.p, ckey));
	/* mac1 covers every byte before it, and itself */
	for (size_t i = 0; i < 132; i++) {
		for (unsigned bit = 0; bit < 8; bit += 7) {
			k.p[i] ^= (uint8_t)(1u << bit);
			cr_assert_not(wg_mac1_valid(WG_MSG_INITIATION, k.p, key),
				      "byte %zu bit %u flipped still verifies", i, bit);
			k.p[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* but not mac2: a balancer may rewrite mac2 without breaking mac1 */
	for (size_t i = 132; i < k.len; i++) {
		k.p[i] ^= 0xff;
		cr_assert(wg_mac1_valid(WG_MSG_INITIATION, k.p, key), "byte %zu", i);
		k.p[i] ^= 0xff;
	}
	/* one wrong key bit */
	key[31] ^= 0x80;
	cr_assert_not(wg_mac1_valid(WG_MSG_INITIATION, k.p, key));
	pkt_free(&k);
}

Test(wg, mac1_response_captured)
{
	struct pkt k = load("response");
	uint8_t skey[WG_KEY_LEN], ckey[WG_KEY_LEN];

	mac1_key_of("server_public", skey);
	mac1_key_of("client_public", ckey);
	/* a response is addressed to the initiator, so its key verifies it */
	cr_assert(wg_mac1_valid(WG_MSG_RESPONSE, k.p, ckey));
	cr_assert_not(wg_mac1_valid(WG_MSG_RESPONSE, k.p, skey));
	for (size_t i = 0; i < 76; i++) {
		k.p[i] ^= 0x01;
		cr_assert_not(wg_mac1_valid(WG_MSG_RESPONSE, k.p, ckey), "byte %zu", i);
		k.p[i] ^= 0x01;
	}
	for (size_t i = 76; i < k.len; i++) {
		k.p[i] ^= 0xff;
		cr_assert(wg_mac1_valid(WG_MSG_RESPONSE, k.p, ckey), "byte %zu", i);
		k.p[i] ^= 0xff;
	}
	pkt_free(&k);
}

Test(wg, mac1_other_captured_initiations)
{
	static const char *const names[] = { "cookie-initiation", "initiation-mac2" };
	uint8_t key[WG_KEY_LEN];

	mac1_key_of("server_public", key);
	for (size_t i = 0; i < 2; i++) {
		struct pkt k = load(names[i]);

		cr_assert(wg_mac1_valid(WG_MSG_INITIATION, k.p, key), "%s", names[i]);
		pkt_free(&k);
	}
}

Test(wg, mac1_not_on_cookie_or_data)
{
	struct pkt c = load("cookie"), d = load("data");
	uint8_t key[WG_KEY_LEN];

	mac1_key_of("server_public", key);
	cr_assert_not(wg_mac1_valid(WG_MSG_COOKIE, c.p, key));
	cr_assert_not(wg_mac1_valid(WG_MSG_DATA, d.p, key));
	pkt_free(&c);
	pkt_free(&d);
}

/* wg_mac1_write must reproduce what wireguard-go put on the wire */
Test(wg, mac1_write_matches_capture)
{
	struct pkt init = load("initiation"), resp = load("response");
	uint8_t skey[WG_KEY_LEN], ckey[WG_KEY_LEN], want[WG_MAC_LEN];

	mac1_key_of("server_public", skey);
	mac1_key_of("client_public", ckey);

	memcpy(want, init.p + 116, WG_MAC_LEN);
	memset(init.p + 116, 0xa5, WG_MAC_LEN);
	cr_assert_not(wg_mac1_valid(WG_MSG_INITIATION, init.p, skey));
	wg_mac1_write(WG_MSG_INITIATION, init.p, skey);
	cr_assert_arr_eq(init.p + 116, want, WG_MAC_LEN);

	memcpy(want, resp.p + 60, WG_MAC_LEN);
	memset(resp.p + 60, 0, WG_MAC_LEN);
	wg_mac1_write(WG_MSG_RESPONSE, resp.p, ckey);
	cr_assert_arr_eq(resp.p + 60, want, WG_MAC_LEN);
	/* mac2 (zeros on the wire) is left alone */
	for (size_t i = 76; i < resp.len; i++)
		cr_assert_eq(resp.p[i], 0, "byte %zu", i);

	pkt_free(&init);
	pkt_free(&resp);
}

/* ---- protocol document section 11.2 ---- */

static const char vec_keepalive[] =
	"04000000" "f0debc9a" "0000000000000000" "69958abbebcb06f97a256144abed28f6";
static const char vec_msg3[] =
	"03000000" "78563412" "666666666666666666666666666666666666666666666666"
	"3004ec54c4cb7bddfd56438b4080e3af504abf67a128feb98447b5508ded309a";
Test(wg, doc_vector_mac1)
{
	uint8_t s_r[32], s_i[32], key[32], want[32], m1[148], m2[92];
	enum drop_reason why;

	unhex(s_r, 32, vec_s_r_pub);
	unhex(s_i, 32, vec_s_i_pub);
	wg_mac1_key(key, s_r);
	unhex(want, 32, "2b14c2a1d73fe52519772891d6df632bd2408279e87eb80c61bc395fccadf4a6");
	cr_assert_arr_eq(key, want, 32);

	unhex(m1, sizeof m1, vec_msg1);
	cr_assert_eq(wg_classify(m1, sizeof m1, &why), WG_MSG_INITIATION);
	cr_assert_eq(wg_sender_index(m1), 0x12345678);
	cr_assert(wg_mac1_valid(WG_MSG_INITIATION, m1, key));

	wg_mac1_key(key, s_i);
	unhex(want, 32, "2f8377a0268a9731b6008d714f7cb7f4d3894c759cec65269f872f64619794f5");
	cr_assert_arr_eq(key, want, 32);
	cr_assert_not(wg_mac1_valid(WG_MSG_INITIATION, m1, key));

	unhex(m2, sizeof m2, vec_msg2);
	cr_assert_eq(wg_classify(m2, sizeof m2, &why), WG_MSG_RESPONSE);
	cr_assert_eq(wg_sender_index(m2), 0x9abcdef0);
	cr_assert_eq(wg_receiver_index(WG_MSG_RESPONSE, m2), 0x12345678);
	cr_assert(wg_mac1_valid(WG_MSG_RESPONSE, m2, key));
}

Test(wg, doc_vector_cookie_and_keepalive)
{
	uint8_t ka[32], m3[64];
	enum drop_reason why;

	unhex(ka, sizeof ka, vec_keepalive);
	cr_assert_eq(wg_classify(ka, sizeof ka, &why), WG_MSG_DATA);
	cr_assert_eq(wg_receiver_index(WG_MSG_DATA, ka), 0x9abcdef0);
	unhex(m3, sizeof m3, vec_msg3);
	cr_assert_eq(wg_classify(m3, sizeof m3, &why), WG_MSG_COOKIE);
	cr_assert_eq(wg_receiver_index(WG_MSG_COOKIE, m3), 0x12345678);
}

/* ---- cookie reply: what a balancer must be able to open (doc 5.3, 5.5) ---- */

static void cookie_key(uint8_t key[32], const uint8_t pub[32])
{
	uint8_t in[8 + 32];

	memcpy(in, "cookie--", 8);
	memcpy(in + 8, pub, 32);
	cr_assert_eq(blake2s(key, in, NULL, 32, sizeof in, 0), 0);
}

static int cookie_open(uint8_t out[16], const uint8_t *reply, const uint8_t key[32],
		       const uint8_t aad[16])
{
	unsigned long long olen = 0;
	int r;

	r = crypto_aead_xchacha20poly1305_ietf_decrypt(out, &olen, NULL, reply + 32, 32, aad,
						       16, reply + 8, key);
	if (r == 0)
		cr_assert_eq(olen, 16);
	return r;
}

Test(wg, doc_vector_cookie_opens)
{
	uint8_t s_r[32], key[32], want[32], m1[148], m3[64], cookie[16], mac2[16];

	unhex(s_r, 32, vec_s_r_pub);
	cookie_key(key, s_r);
	unhex(want, 32, "f38243a909cf26b7ec109798fd3dfdbdb7592367db444819154f6582389fdc1b");
	cr_assert_arr_eq(key, want, 32);
	unhex(m1, sizeof m1, vec_msg1);
	unhex(m3, sizeof m3, vec_msg3);
	cr_assert_eq(cookie_open(cookie, m3, key, m1 + 116), 0);
	unhex(want, 16, "54f03c0a1dd77283049dedebc816953c");
	cr_assert_arr_eq(cookie, want, 16);
	/* mac2 is keyed with the 16-byte cookie itself */
	cr_assert_eq(blake2s(mac2, m1, cookie, 16, 132, 16), 0);
	unhex(want, 16, "dc7d1d4c5eea629c667bc02e6703b115");
	cr_assert_arr_eq(mac2, want, 16);
}

Test(wg, cookie_captured_opens)
{
	struct pkt reply = load("cookie"), init = load("cookie-initiation");
	struct pkt retry = load("initiation-mac2");
	uint8_t pub[32], key[32], aad[16], want[16], cookie[16], mac2[16];
	char hex[64];

	keys_pub("server_public", pub);
	cookie_key(key, pub);
	/* the AAD is the mac1 of the initiation the reply answers */
	memcpy(aad, init.p + wg_mac1_offset(WG_MSG_INITIATION), 16);
	keys_get("cookie_initiation_mac1", hex, sizeof hex);
	unhex(want, 16, hex);
	cr_assert_arr_eq(aad, want, 16);

	cr_assert_eq(cookie_open(cookie, reply.p, key, aad), 0);
	keys_get("cookie_value", hex, sizeof hex);
	unhex(want, 16, hex);
	cr_assert_arr_eq(cookie, want, 16);

	/* any flipped byte of nonce, ciphertext or tag, or of the AAD, fails */
	for (size_t i = 8; i < reply.len; i++) {
		reply.p[i] ^= 0x01;
		cr_assert_neq(cookie_open(cookie, reply.p, key, aad), 0, "byte %zu", i);
		reply.p[i] ^= 0x01;
	}
	aad[0] ^= 0x01;
	cr_assert_neq(cookie_open(cookie, reply.p, key, aad), 0);
	aad[0] ^= 0x01;
	/* keyed with the client's key it does not open either */
	keys_pub("client_public", pub);
	cookie_key(key, pub);
	cr_assert_neq(cookie_open(cookie, reply.p, key, aad), 0);

	/* wireguard-go's retry carries mac2 = MAC(cookie, bytes [0..132)) */
	cr_assert_eq(blake2s(mac2, retry.p, want, 16, 132, 16), 0);
	cr_assert_arr_eq(mac2, retry.p + 132, 16);

	pkt_free(&reply);
	pkt_free(&init);
	pkt_free(&retry);
}

/* ---- malformed input ---- */

static void assert_truncations(const char *name)
{
	struct pkt full = load(name);

	for (size_t len = 0; len < full.len; len++) {
		struct pkt k = pkt_dup(full.p, len);
		enum drop_reason why;

		cr_assert_eq(classify(&k, &why), WG_MSG_INVALID, "%s cut to %zu", name, len);
		cr_assert_eq(why, len < 4 ? DROP_SHORT : DROP_BAD_LENGTH,
			     "%s cut to %zu: why %d", name, len, why);
		pkt_free(&k);
	}
	pkt_free(&full);
}

Test(wg, truncated_initiation)
{
	assert_truncations("initiation");
}

Test(wg, truncated_response)
{
	assert_truncations("response");
}

Test(wg, truncated_cookie)
{
	assert_truncations("cookie");
}

Test(wg, truncated_keepalive)
{
	assert_truncations("keepalive");
}

static void assert_oversized(const char *name, size_t extra)
{
	struct pkt full = load(name);
	uint8_t *p = calloc(1, full.len + extra);
	struct pkt k = { .p = p, .len = full.len + extra };
	enum drop_reason why;

	cr_assert_not_null(p);
	memcpy(p, full.p, full.len);
	cr_assert_eq(classify(&k, &why), WG_MSG_INVALID, "%s + %zu", name, extra);
	cr_assert_eq(why, DROP_BAD_LENGTH, "%s + %zu: why %d", name, extra, why);
	free(p);
	pkt_free(&full);
}

Test(wg, oversized_handshakes)
{
	assert_oversized("initiation", 1);
	assert_oversized("response", 1);
	assert_oversized("cookie", 1);
	/* a response-sized initiation and the like must not slip through */
	assert_oversized("initiation", 100);
	assert_oversized("response", 56);
	assert_oversized("cookie", 28);
}

Test(wg, data_lengths)
{
	struct pkt full = load("data");
	uint8_t *big = calloc(1, 65535);
	enum drop_reason why;

	cr_assert_not_null(big);
	for (size_t len = 4; len < WG_DATA_MIN_LEN; len++) {
		struct pkt k = pkt_dup(full.p, len);

		cr_assert_eq(classify(&k, &why), WG_MSG_INVALID, "%zu", len);
		cr_assert_eq(why, DROP_BAD_LENGTH, "%zu", len);
		pkt_free(&k);
	}
	for (size_t len = WG_DATA_MIN_LEN; len <= full.len; len++) {
		struct pkt k = pkt_dup(full.p, len);

		cr_assert_eq(classify(&k, &why), WG_MSG_DATA, "%zu", len);
		pkt_free(&k);
	}
	/* no upper bound but the datagram itself */
	memcpy(big, full.p, full.len);
	cr_assert_eq(wg_classify(big, 65535, &why), WG_MSG_DATA);
	cr_assert_eq(wg_receiver_index(WG_MSG_DATA, big), keys_u32("data_receiver"));
	free(big);
	pkt_free(&full);
}

Test(wg, reserved_bytes_nonzero)
{
	static const uint8_t vals[] = { 0x01, 0x04, 0x80, 0xff };

	for (size_t i = 0; i < sizeof captured / sizeof captured[0]; i++) {
		struct pkt k = load(captured[i].name);

		for (size_t b = 1; b < 4; b++) {
			for (size_t v = 0; v < sizeof vals; v++) {
				enum drop_reason why;

				k.p[b] = vals[v];
				cr_assert_eq(classify(&k, &why), WG_MSG_INVALID, "%s byte %zu = %#x",
					     captured[i].name, b, vals[v]);
				cr_assert_eq(why, DROP_UNKNOWN_TYPE, "%s byte %zu = %#x: why %d",
					     captured[i].name, b, vals[v], why);
			}
			k.p[b] = 0;
		}
		/* restored: accepted again, so it was the reserved byte */
		{
			enum drop_reason why;

			cr_assert_eq(classify(&k, &why), captured[i].type);
		}
		pkt_free(&k);
	}
}

Test(wg, unknown_types)
{
	static const uint8_t types[] = { 0x00, 0x05, 0x06, 0x10, 0x41, 0x81, 0xff };
	static const size_t lens[] = { 4, 31, 32, 64, 92, 128, 148, 1500 };
	uint8_t *buf = calloc(1, 1500);

	cr_assert_not_null(buf);
	for (size_t t = 0; t < sizeof types; t++) {
		for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
			struct pkt k = pkt_dup(buf, lens[l]);
			enum drop_reason why;

			k.p[0] = types[t];
			cr_assert_eq(classify(&k, &why), WG_MSG_INVALID, "type %#x len %zu",
				     types[t], lens[l]);
			cr_assert_eq(why, DROP_UNKNOWN_TYPE, "type %#x len %zu: why %d", types[t],
				     lens[l], why);
			pkt_free(&k);
		}
	}
	free(buf);
}

/*
 * Random garbage from a fixed-seed PRNG, biased towards plausible headers and
 * the exact handshake sizes so that every branch is reached. Each result is
 * checked against the rules restated independently below.
 */
static uint64_t rng_state = 0x77676c62u;	/* "wglb" */

static uint64_t rng(void)
{
	/* splitmix64: tiny, and the same sequence on every platform */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static enum wg_msg oracle(const uint8_t *p, size_t len, enum drop_reason *why)
{
	static const size_t exact[5] = { 0, 148, 92, 64, 0 };

	if (len < 4) {
		*why = DROP_SHORT;
		return WG_MSG_INVALID;
	}
	if (p[0] < 1 || p[0] > 4 || p[1] || p[2] || p[3]) {
		*why = DROP_UNKNOWN_TYPE;
		return WG_MSG_INVALID;
	}
	if (p[0] == 4 ? len < 32 : len != exact[p[0]]) {
		*why = DROP_BAD_LENGTH;
		return WG_MSG_INVALID;
	}
	return (enum wg_msg)p[0];
}

Test(wg, random_garbage)
{
	static const size_t sizes[] = { 0, 1, 3, 4, 31, 32, 33, 63, 64, 65,
					91, 92, 93, 147, 148, 149, 1420 };
	unsigned accepted[5] = { 0 }, dropped[DROP__COUNT] = { 0 };
	uint8_t skey[WG_KEY_LEN];

	mac1_key_of("server_public", skey);
	for (int n = 0; n < 600; n++) {
		static const size_t exact[6] = { 0, 148, 92, 64, 32, 0 };
		uint64_t r = rng();
		unsigned t = (unsigned)((r >> 8) % 6);
		size_t len;
		struct pkt k;
		enum drop_reason why, want_why = DROP__COUNT;
		enum wg_msg got, want;

		switch (r % 4) {
		case 0:		/* anything */
			len = (size_t)((r >> 16) % 200);
			break;
		case 1:		/* sizes at the edges */
			len = sizes[(r >> 16) % (sizeof sizes / sizeof sizes[0])];
			break;
		default:	/* a plausible header with its size, or one off */
			len = exact[t] ? exact[t] : (size_t)((r >> 16) % 200);
			if (t == 4)
				len += (size_t)((r >> 16) % 100);
			if ((r >> 24) % 4 == 2)
				len++;
			else if ((r >> 24) % 4 == 3 && len)
				len--;
			break;
		}
		k.p = malloc(len ? len : 1);
		k.len = len;
		cr_assert_not_null(k.p);
		for (size_t i = 0; i < len; i++)
			k.p[i] = (uint8_t)rng();
		if (len >= 4 && r % 4 != 0) {
			k.p[0] = (uint8_t)t;
			if ((r >> 32) % 4 != 0)
				k.p[1] = k.p[2] = k.p[3] = 0;
		}
		got = classify(&k, &why);
		want = oracle(k.p, len, &want_why);
		cr_assert_eq(got, want, "case %d len %zu head %02x%02x%02x%02x", n, len,
			     len > 0 ? k.p[0] : 0, len > 1 ? k.p[1] : 0, len > 2 ? k.p[2] : 0,
			     len > 3 ? k.p[3] : 0);
		if (got == WG_MSG_INVALID) {
			cr_assert_eq(why, want_why, "case %d len %zu", n, len);
			dropped[why]++;
			pkt_free(&k);
			continue;
		}
		accepted[got]++;
		/* reading the fields of an accepted message stays inside it */
		if (got == WG_MSG_INITIATION || got == WG_MSG_RESPONSE) {
			(void)wg_sender_index(k.p);
			/* random bytes do not carry a valid mac1 */
			cr_assert_not(wg_mac1_valid(got, k.p, skey), "case %d", n);
		}
		if (got != WG_MSG_INITIATION)
			(void)wg_receiver_index(got, k.p);
		pkt_free(&k);
	}
	/* the mix really exercised every outcome */
	for (int t = WG_MSG_INITIATION; t <= WG_MSG_DATA; t++)
		cr_assert_gt(accepted[t], 0, "type %d never accepted", t);
	cr_assert_gt(dropped[DROP_SHORT], 0);
	cr_assert_gt(dropped[DROP_UNKNOWN_TYPE], 0);
	cr_assert_gt(dropped[DROP_BAD_LENGTH], 0);
}

/* ---- keys ---- */

Test(wg, key_from_base64_good)
{
	static const char *const names[] = { "server_public", "client_public" };

	for (size_t i = 0; i < 2; i++) {
		char b64[64], back[64];
		uint8_t key[WG_KEY_LEN], want[WG_KEY_LEN];

		keys_get(names[i], b64, sizeof b64);
		keys_pub(names[i], want);
		memset(key, 0xee, sizeof key);
		cr_assert_eq(wg_key_from_base64(key, b64), 0, "%s", b64);
		cr_assert_arr_eq(key, want, WG_KEY_LEN);
		sodium_bin2base64(back, sizeof back, key, WG_KEY_LEN,
				  sodium_base64_VARIANT_ORIGINAL);
		cr_assert_str_eq(back, b64);
	}
	/* the doc vector's service key, and the all-zero key */
	{
		uint8_t key[WG_KEY_LEN], want[WG_KEY_LEN], zero[WG_KEY_LEN] = { 0 };

		unhex(want, 32, vec_s_r_pub);
		cr_assert_eq(wg_key_from_base64(key, "D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyA="), 0);
		cr_assert_arr_eq(key, want, WG_KEY_LEN);
		cr_assert_eq(wg_key_from_base64(key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), 0);
		cr_assert_arr_eq(key, zero, WG_KEY_LEN);
	}
}

Test(wg, key_from_base64_bad)
{
	static const char *const bad[] = {
		"",
		"=",
		/* 43: padding dropped */
		"D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyA",
		/* 45: one character too many */
		"D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyA==",
		"D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyA=A",
		"D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyA= ",
		" D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyA=",
		/* 44 characters that decode to 33 bytes */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyAA",
		/* 44 characters that decode to 31 bytes */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
		/* bad characters, including the URL-safe alphabet */
		"D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXD!A=",
		"D6poTtKIZ7l_Smot7l34zpdOdrcBjj8iocTPJnhXDyA=",
		"D6poTtKIZ7l/Smot-l34zpdOdrcBjj8iocTPJnhXDyA=",
		"D6poTtKIZ7l/Smot7l34 zpdOdrcBjj8iocTPJnhXDyA",
		"D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDy\n=",
		"D6po=tKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyA=",
		/* non-zero bits after the last byte: not what `wg` would print */
		"D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyB=",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t key[WG_KEY_LEN];

		cr_assert_neq(wg_key_from_base64(key, bad[i]), 0, "accepted \"%s\"", bad[i]);
	}
}

/*
 * Bytes with the high bit set are not base64 either. libsodium 1.0.18's
 * sodium_base642bin reads them as a valid digit (signed char), so a key with
 * a stray non-ASCII character would be taken as some other key, silently.
 */
Test(wg, key_from_base64_non_ascii)
{
	static const char *const bad[] = {
		"D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhX\xc3\xa9" "A=",
		"D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXD\x80" "A=",
		"\xff" "6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyA=",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t key[WG_KEY_LEN];

		cr_assert_eq(strlen(bad[i]), 44);
		cr_assert_neq(wg_key_from_base64(key, bad[i]), 0, "accepted bad[%zu]", i);
	}
}

/* ---- names ---- */

Test(wg, drop_reason_names)
{
	for (int i = 0; i < DROP__COUNT; i++) {
		const char *a = drop_reason_name((enum drop_reason)i);

		cr_assert_not_null(a, "reason %d", i);
		cr_assert_gt(strlen(a), 0, "reason %d", i);
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(a, drop_reason_name((enum drop_reason)j),
					  "reasons %d and %d share \"%s\"", i, j, a);
	}
	/* log and metrics code must never get NULL, even for a stray value */
	cr_assert_not_null(drop_reason_name(DROP__COUNT));
}

Test(wg, msg_names)
{
	for (int i = WG_MSG_INVALID; i <= WG_MSG_DATA; i++) {
		const char *a = wg_msg_name((enum wg_msg)i);

		cr_assert_not_null(a, "type %d", i);
		cr_assert_gt(strlen(a), 0, "type %d", i);
		for (int j = WG_MSG_INVALID; j < i; j++)
			cr_assert_str_neq(a, wg_msg_name((enum wg_msg)j),
					  "types %d and %d share \"%s\"", i, j, a);
	}
	cr_assert_not_null(wg_msg_name((enum wg_msg)5));
}
