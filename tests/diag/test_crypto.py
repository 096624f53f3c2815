"""Device-side HMAC-SHA256, SHA-512 and Ed25519 verification against the
host's peers (hashlib/hmac and the `cryptography` package)."""
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

import firmware  # noqa: F401
from firmware.diag import crypto as C


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=130))
def test_sha512_and_hmac_match_hashlib(data, key):
    assert C.sha512(data) == hashlib.sha512(data).digest()
    assert C.hmac_sha256(key, data) == hmac.new(key, data, "sha256").digest()


def _pub(k):
    return k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 63), st.integers(1, 255))
def test_ed25519_accepts_cryptography_signatures_and_rejects_any_bit_flip(msg, pos, flip):
    k = Ed25519PrivateKey.generate()
    sig = k.sign(msg)
    assert C.ed25519_verify(_pub(k), msg, sig)
    bad = bytearray(sig)
    bad[pos] ^= flip
    assert not C.ed25519_verify(_pub(k), msg, bytes(bad))
    assert not C.ed25519_verify(_pub(k), msg + b"!", sig)
    assert not C.ed25519_verify(_pub(Ed25519PrivateKey.generate()), msg, sig)


def test_ed25519_rfc8032_test_vector_2():
    # RFC 8032 s7.1 TEST 2 (one-byte message 0x72)
    pub = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
    sig = bytes.fromhex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
    assert C.ed25519_verify(pub, b"\x72", sig)
    assert not C.ed25519_verify(pub, b"\x73", sig)


def test_malformed_keys_and_signatures_are_false_not_errors():
    k = Ed25519PrivateKey.generate()
    sig = k.sign(b"m")
    for pub, s in ((b"", sig), (_pub(k), sig[:63]), (b"\xff" * 32, sig), (_pub(k), sig[:32] + b"\xff" * 32),
                   (_pub(k), b"\xff" * 64), (os.urandom(32), os.urandom(64))):
        assert C.ed25519_verify(pub, b"m", s) is False
