"""Unit tests of the wallet's pure parts: run with
``python3 -m unittest discover -s examples/lab-app/tests`` (standard library only).

Why vectors: the address derivation is hand-written (RIPEMD-160, secp256k1, bech32), so
each step is checked against published values, and the Python RIPEMD-160 against hashlib's
where this interpreter's OpenSSL still offers it.
"""

import hashlib
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "app"))

import keys  # noqa: E402
import pages  # noqa: E402
import store  # noqa: E402

# The RIPEMD-160 paper's test vectors (Dobbertin, Bosselaers, Preneel).
RIPEMD160_VECTORS = [
    (b"", "9c1185a5c5e9fc54612808977ee8f548b2258d31"),
    (b"a", "0bdc9d2d256b3ee9daae347be6f4dc835a467ffe"),
    (b"abc", "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"),
    (b"message digest", "5d0689ef49d2fae572b881b123a85ffa21595f36"),
    (b"abcdefghijklmnopqrstuvwxyz", "f71c27109c692c1b56bbdceb5b9d2865b3708dbc"),
    (
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "12a053384a9c0c88e405a06c27dcf49ada62eb2b",
    ),
    (b"1234567890" * 8, "9b752e45573d4b39f4dbd3323cab82bf63326bfb"),
]

# BIP 173: the P2WPKH address of private key 1 (public key = G) on testnet.
KEY_ONE_ADDRESS = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
KEY_ONE_PUBLIC = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
KEY_ONE_HASH160 = "751e76e8199196d454941c45d1b3a323f1433bd6"


class Ripemd160Test(unittest.TestCase):
    def test_python_implementation_matches_the_vectors(self):
        for message, expected in RIPEMD160_VECTORS:
            self.assertEqual(keys.ripemd160_python(message).hex(), expected, message)

    def test_hashlib_matches_the_vectors_when_available(self):
        if keys.ripemd160_hashlib(b"") is None:
            self.skipTest("this interpreter's OpenSSL has no RIPEMD-160")
        for message, expected in RIPEMD160_VECTORS:
            self.assertEqual(keys.ripemd160_hashlib(message).hex(), expected, message)

    def test_python_and_hashlib_agree_around_the_padding_boundaries(self):
        if keys.ripemd160_hashlib(b"") is None:
            self.skipTest("this interpreter's OpenSSL has no RIPEMD-160")
        for length in (54, 55, 56, 57, 63, 64, 65, 119, 120, 128):
            message = bytes(range(length))
            self.assertEqual(keys.ripemd160_python(message), keys.ripemd160_hashlib(message))

    def test_the_fallback_is_used_when_hashlib_refuses(self):
        original = keys.ripemd160_hashlib
        keys.ripemd160_hashlib = lambda data: None
        try:
            self.assertEqual(keys.ripemd160(b"abc").hex(), RIPEMD160_VECTORS[2][1])
        finally:
            keys.ripemd160_hashlib = original


class AddressTest(unittest.TestCase):
    def test_key_one(self):
        self.assertEqual(keys.public_key(1).hex(), KEY_ONE_PUBLIC)
        self.assertEqual(keys.hash160(keys.public_key(1)).hex(), KEY_ONE_HASH160)
        self.assertEqual(keys.testnet_address(1), KEY_ONE_ADDRESS)

    def test_hash160_is_ripemd160_of_sha256(self):
        data = b"hpvs lab"
        self.assertEqual(
            keys.hash160(data), keys.ripemd160_python(hashlib.sha256(data).digest())
        )

    def test_private_keys_out_of_range_are_refused(self):
        for bad in (0, keys.N, keys.N + 1, -1):
            with self.assertRaises(ValueError):
                keys.public_key(bad)

    def test_a_generated_key_round_trips_through_the_decoder(self):
        private_key = keys.new_private_key()
        self.assertTrue(1 <= private_key < keys.N)
        address = keys.testnet_address(private_key)
        self.assertTrue(address.startswith("tb1q"), address)
        version, program = keys.segwit_decode("tb", address)
        self.assertEqual(version, 0)
        self.assertEqual(program, keys.hash160(keys.public_key(private_key)))

    def test_the_decoder_refuses_corruption_and_other_networks(self):
        corrupted = KEY_ONE_ADDRESS[:-1] + ("q" if KEY_ONE_ADDRESS[-1] != "q" else "p")
        with self.assertRaises(ValueError):
            keys.segwit_decode("tb", corrupted)
        with self.assertRaises(ValueError):
            keys.segwit_decode("bc", KEY_ONE_ADDRESS)
        with self.assertRaises(ValueError):
            keys.segwit_decode("tb", "tb1qW508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx")
        self.assertEqual(
            keys.segwit_decode("tb", KEY_ONE_ADDRESS.upper())[1].hex(), KEY_ONE_HASH160
        )


class HtmlTest(unittest.TestCase):
    def test_user_strings_are_escaped(self):
        self.assertEqual(pages.esc("<a href='x'>&\""), "&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;")
        page = pages.login('"><script>alert(1)</script>', "<b>bad</b>")
        self.assertNotIn("<script>", page)
        self.assertNotIn("<b>bad</b>", page)
        self.assertIn('value="&quot;&gt;&lt;script&gt;', page)

    def test_the_wallet_page_carries_the_contract_ids(self):
        page = pages.wallet_page("alice", "receive", {"file": "alice.json", "address": "tb1qx"})
        for element in ('id="title"', 'id="user"', 'id="receive-address"', 'id="offline-note"'):
            self.assertIn(element, page)
        for name, _ in pages.TABS:
            self.assertIn(f'<a id="tab-{name}" href="/electrum?tab={name}"', page)
        empty = pages.wallet_page("alice", "wallet", None)
        self.assertIn('<button id="create-wallet" type="submit">Create wallet</button>', empty)


class StoreTest(unittest.TestCase):
    def test_username_rule(self):
        for good in ("a", "alice", "A.b-c_9", "x" * 32, "..", "."):
            self.assertTrue(store.valid_username(good), good)
        for bad in ("", "x" * 33, "a/b", "a b", "é", "a\n", None, "<b>"):
            self.assertFalse(store.valid_username(bad), repr(bad))

    def test_users_sessions_and_wallets_persist_with_private_modes(self):
        with tempfile.TemporaryDirectory() as data:
            first = store.Store(data)
            first.register("alice", "secret")
            with self.assertRaises(store.UserExists):
                first.register("alice", "other")
            token = first.new_session("alice")
            record = first.create_wallet("alice")
            self.assertEqual(first.create_wallet("alice"), record)

            again = store.Store(data)
            self.assertTrue(again.check_password("alice", "secret"))
            self.assertFalse(again.check_password("alice", "wrong"))
            self.assertFalse(again.check_password("bob", "secret"))
            self.assertEqual(again.session_user(token), "alice")
            self.assertIsNone(again.session_user("forged"))
            self.assertEqual(again.wallet("alice")["address"], record["address"])
            self.assertEqual(
                record["address"], keys.testnet_address(int(record["private_key"], 16))
            )
            for name in ("users.json", "sessions.json", os.path.join("wallets", "alice.json")):
                self.assertEqual(os.stat(os.path.join(data, name)).st_mode & 0o777, 0o600, name)
            with open(os.path.join(data, "sessions.json"), encoding="utf-8") as sessions:
                self.assertNotIn(token, sessions.read())
            again.end_session(token)
            self.assertIsNone(store.Store(data).session_user(token))
            self.assertEqual(
                [n for n in os.listdir(data) if n.startswith(".tmp-")], [], "temporary files left"
            )


if __name__ == "__main__":
    unittest.main()
