/* SPDX-License-Identifier: GPL-2.0-or-later */
/* noise: known answers for HMAC/KDF and a complete handshake vector. */
#include "config.h"

#include <blake2.h>
#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "noise.h"
#include "vectors.h"

static void init(void)
{
	cr_assert(sodium_init() >= 0);
}

TestSuite(noise, .init = init);

/* wireguard-go device/kdf_test.go, first case; short keys zero-padded to 32 */
Test(noise, kdf_known_answer)
{
	uint8_t key[32] = "test-key", t1[32], t2[32], t3[32], want[32];

	noise_kdf(t1, t2, t3, key, (const uint8_t *)"test-input", 10);
	unhex(want, 32, "6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633");
	cr_assert_arr_eq(t1, want, 32);
	/* asking for fewer outputs gives the same first ones */
	{
		uint8_t u1[32], u2[32];

		noise_kdf(u1, u2, NULL, key, (const uint8_t *)"test-input", 10);
		cr_assert_arr_eq(u1, t1, 32);
		cr_assert_arr_eq(u2, t2, 32);
	}
	cr_assert_arr_neq(t2, t3, 32);
}

/* HMAC-BLAKE2s checked against its definition with an independent keyed-hash layout */
Test(noise, hmac_matches_definition)
{
	uint8_t key[32], out[32], want[32], pad[64] = { 0 }, inner[32];

	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	noise_hmac(out, key, (const uint8_t *)"abc", 3, NULL, 0);
	/* H((K ^ opad) || H((K ^ ipad) || m)) with BLAKE2s-256 */
	{
		uint8_t buf[64 + 3];

		memcpy(pad, key, 32);
		for (int i = 0; i < 64; i++)
			buf[i] = pad[i] ^ 0x36;
		memcpy(buf + 64, "abc", 3);
		cr_assert_eq(blake2s(inner, buf, NULL, 32, sizeof buf, 0), 0);
		uint8_t buf2[64 + 32];

		for (int i = 0; i < 64; i++)
			buf2[i] = pad[i] ^ 0x5c;
		memcpy(buf2 + 64, inner, 32);
		cr_assert_eq(blake2s(want, buf2, NULL, 32, sizeof buf2, 0), 0);
	}
	cr_assert_arr_eq(out, want, 32);
	/* a || b is the same as the concatenation */
	noise_hmac(want, key, (const uint8_t *)"a", 1, (const uint8_t *)"bc", 2);
	cr_assert_arr_eq(out, want, 32);
}

Test(noise, tai64n_layout)
{
	struct timespec ts = { .tv_sec = 0x6553f100, .tv_nsec = 0x01ffffff };
	uint8_t out[12], want[12];

	noise_tai64n(out, &ts);
	unhex(want, 12, "400000006553f10a01000000");
	cr_assert_arr_eq(out, want, 12);
}

/* The complete handshake vector of the protocol reference (section 11.2). */
struct vec {
	struct noise_peer peer;
	uint8_t e_i[32], tai[12];
};

static void vec_setup(struct vec *v)
{
	uint8_t s_i[32], s_r_pub[32], want[32];

	memset(s_i, 0x11, 32);
	memset(v->e_i, 0x33, 32);
	unhex(s_r_pub, 32, vec_s_r_pub);
	unhex(v->tai, 12, "400000006553f10a01000000");
	cr_assert_eq(noise_peer_init(&v->peer, s_i, s_r_pub, NULL), 0);
	unhex(want, 32, vec_s_i_pub);
	cr_assert_arr_eq(v->peer.s_pub, want, 32);
	unhex(want, 32, "2b14c2a1d73fe52519772891d6df632bd2408279e87eb80c61bc395fccadf4a6");
	cr_assert_arr_eq(v->peer.mac1_key_r, want, 32);
	unhex(want, 32, "2f8377a0268a9731b6008d714f7cb7f4d3894c759cec65269f872f64619794f5");
	cr_assert_arr_eq(v->peer.mac1_key_i, want, 32);
}

Test(noise, initiation_matches_vector)
{
	struct vec v;
	struct noise_handshake hs;
	uint8_t msg[148], want[148], h[32];

	vec_setup(&v);
	cr_assert_eq(noise_create_initiation(&v.peer, &hs, msg, 0x12345678, v.tai, v.e_i), 0);
	unhex(want, 148, vec_msg1);
	cr_assert_arr_eq(msg, want, 148);
	unhex(h, 32, "79d20375d49f8f3bd4d4525582962f119cba301b43d46508a867b488be042c3b");
	cr_assert_arr_eq(hs.h, h, 32);
	unhex(h, 32, "24eca314409f2ca9ccbf8d50ebb72b7235d67ed11b21eeefc67942a2596df51e");
	cr_assert_arr_eq(hs.c, h, 32);
	cr_assert_arr_eq(hs.mac1, msg + 116, 16);
	noise_handshake_wipe(&hs);
	noise_peer_wipe(&v.peer);
}

Test(noise, response_accepted_and_every_byte_matters)
{
	struct vec v;
	struct noise_handshake hs;
	uint8_t msg[148], resp[92];
	uint32_t r_idx = 0;

	vec_setup(&v);
	unhex(resp, 92, vec_msg2);
	cr_assert_eq(noise_create_initiation(&v.peer, &hs, msg, 0x12345678, v.tai, v.e_i), 0);
	cr_assert_eq(noise_consume_response(&v.peer, &hs, resp, &r_idx), NOISE_OK);
	cr_assert_eq(r_idx, 0x9abcdef0);
	cr_assert(sodium_is_zero(hs.e_priv, 32), "ephemeral secret wiped");

	/* any change before mac2 is caught: by the index, by mac1 or by the AEAD */
	for (int i = 0; i < 76; i++) {
		uint8_t bad[92];

		memcpy(bad, resp, 92);
		bad[i] ^= 0x01;
		cr_assert_eq(noise_create_initiation(&v.peer, &hs, msg, 0x12345678, v.tai, v.e_i), 0);
		cr_assert_neq(noise_consume_response(&v.peer, &hs, bad, &r_idx), NOISE_OK,
			      "byte %d", i);
	}
	/* a valid mac1 over a forged body still fails the AEAD */
	{
		uint8_t bad[92];

		memcpy(bad, resp, 92);
		bad[50] ^= 0x80;
		wg_mac1_write(WG_MSG_RESPONSE, bad, v.peer.mac1_key_i);
		cr_assert_eq(noise_create_initiation(&v.peer, &hs, msg, 0x12345678, v.tai, v.e_i), 0);
		cr_assert_eq(noise_consume_response(&v.peer, &hs, bad, &r_idx), NOISE_BAD_AEAD);
	}
	/* an answer to another initiation */
	cr_assert_eq(noise_create_initiation(&v.peer, &hs, msg, 0x12345679, v.tai, v.e_i), 0);
	cr_assert_eq(noise_consume_response(&v.peer, &hs, resp, &r_idx), NOISE_BAD_INDEX);
	noise_peer_wipe(&v.peer);
}

Test(noise, wrong_psk_is_detected)
{
	struct vec v;
	struct noise_handshake hs;
	uint8_t msg[148], resp[92], s_i[32], s_r_pub[32], psk[32];
	uint32_t r_idx;

	vec_setup(&v);
	memset(s_i, 0x11, 32);
	memset(psk, 0x99, 32);
	unhex(s_r_pub, 32, vec_s_r_pub);
	noise_peer_wipe(&v.peer);
	cr_assert_eq(noise_peer_init(&v.peer, s_i, s_r_pub, psk), 0);
	unhex(resp, 92, vec_msg2);
	cr_assert_eq(noise_create_initiation(&v.peer, &hs, msg, 0x12345678, v.tai, v.e_i), 0);
	/* message 1 does not depend on the psk */
	{
		uint8_t want[148];

		unhex(want, 148, vec_msg1);
		cr_assert_arr_eq(msg, want, 148);
	}
	cr_assert_eq(noise_consume_response(&v.peer, &hs, resp, &r_idx), NOISE_BAD_AEAD);
	noise_peer_wipe(&v.peer);
}

Test(noise, fresh_initiations_differ)
{
	struct vec v;
	struct noise_handshake a, b;
	uint8_t m1[148], m2[148];

	vec_setup(&v);
	cr_assert_eq(noise_create_initiation(&v.peer, &a, m1, 1, v.tai, NULL), 0);
	cr_assert_eq(noise_create_initiation(&v.peer, &b, m2, 1, v.tai, NULL), 0);
	cr_assert_arr_neq(m1 + 8, m2 + 8, 32, "a new ephemeral key each time");
	cr_assert(wg_mac1_valid(WG_MSG_INITIATION, m1, v.peer.mac1_key_r));
	noise_handshake_wipe(&a);
	noise_handshake_wipe(&b);
	noise_peer_wipe(&v.peer);
}
