/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What several unit tests share: hex decoding that fails the test, and the
 * complete handshake vector of the protocol reference (section 11.2): keys
 * 0x11.. (initiator static), 0x22.. (responder static), 0x33.. and 0x44..
 * (ephemerals), zero psk, I_i 0x12345678, I_r 0x9abcdef0.
 */
#ifndef WGLB_TEST_VECTORS_H
#define WGLB_TEST_VECTORS_H

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

static inline void unhex(uint8_t *out, size_t n, const char *hex)
{
	size_t len;

	cr_assert_eq(sodium_hex2bin(out, n, hex, strlen(hex), " ", &len, NULL), 0,
		     "bad hex: %s", hex);
	cr_assert_eq(len, n, "hex is %zu bytes, want %zu: %s", len, n, hex);
}

static const char vec_msg1[] =
	"01000000" "78563412"
	"7b0d47d93427f8311160781c7c733fd89f88970aef490d8aa0ee19a4cb8a1b14"
	"81e498317da959fba46669572516a5e6c021bfa620bb6c56ca0082e1feae1498"
	"8c2c64d024c617734a263f76a008df04"
	"d0f94bad8ee75ec8e0c26955f1fe965898ea5b7b4d707870f6656d82"
	"685ada26240ace63ebd9a49057aba809"
	"00000000000000000000000000000000";
static const char vec_msg2[] =
	"02000000" "f0debc9a" "78563412"
	"ff2ee45601ec1b67310c7790404585ae697331eee1c1f8cf2419731c1fff3e6b"
	"5457824af18574cfdb91039f12352962"
	"072fe9f2289ce70296e5f0747ff0ac1f"
	"00000000000000000000000000000000";
static const char vec_s_r_pub[] =
	"0faa684ed28867b97f4a6a2dee5df8ce974e76b7018e3f22a1c4cf2678570f20";
static const char vec_s_i_pub[] =
	"7b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13";

#endif
