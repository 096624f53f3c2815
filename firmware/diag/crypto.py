"""Device-side cryptography in pure Python (MicroPython has hashlib.sha256
and big integers, nothing else we need):

* HMAC-SHA256 (RFC 2104) for the SecurityAccess seed/key;
* SHA-512 (FIPS 180-4), needed by Ed25519;
* Ed25519 signature verification (RFC 8032 s5.1.7), cofactorless like
  OpenSSL / `cryptography`, which the host tests use as the peer.

Only verification lives on the device; signing is a host job.
"""
import hashlib

from micropython import const

_BLOCK = const(64)


def hmac_sha256(key, msg):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    k = bytearray(_BLOCK)
    k[0:len(key)] = key
    ipad = bytearray(_BLOCK)
    opad = bytearray(_BLOCK)
    for i in range(_BLOCK):
        ipad[i] = k[i] ^ 0x36
        opad[i] = k[i] ^ 0x5C
    h = hashlib.sha256(ipad)
    h.update(msg)
    inner = h.digest()
    h = hashlib.sha256(opad)
    h.update(inner)
    return h.digest()


def equal(a, b):
    """Constant-time comparison of two byte strings."""
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


# ---------------------------------------------------------------- SHA-512
_M64 = 0xFFFFFFFFFFFFFFFF
_K512 = (
    0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc, 0x3956c25bf348b538,
    0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118, 0xd807aa98a3030242, 0x12835b0145706fbe,
    0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2, 0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235,
    0xc19bf174cf692694, 0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
    0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5, 0x983e5152ee66dfab,
    0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4, 0xc6e00bf33da88fc2, 0xd5a79147930aa725,
    0x06ca6351e003826f, 0x142929670a0e6e70, 0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed,
    0x53380d139d95b3df, 0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
    0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30, 0xd192e819d6ef5218,
    0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8, 0x19a4c116b8d2d0c8, 0x1e376c085141ab53,
    0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8, 0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373,
    0x682e6ff3d6b2b8a3, 0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
    0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b, 0xca273eceea26619c,
    0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178, 0x06f067aa72176fba, 0x0a637dc5a2c898a6,
    0x113f9804bef90dae, 0x1b710b35131c471b, 0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc,
    0x431d67c49c100d4c, 0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
)
_H512 = (0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
         0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179)


def _rotr(x, n):
    return ((x >> n) | (x << (64 - n))) & _M64


def sha512(data):
    data = bytes(data)
    n = len(data)
    pad = b"\x80" + b"\x00" * ((111 - n) % 128) + (n * 8).to_bytes(16, "big")
    m = data + pad
    h = list(_H512)
    w = [0] * 80
    K = _K512
    for off in range(0, len(m), 128):
        for t in range(16):
            w[t] = int.from_bytes(m[off + 8 * t:off + 8 * t + 8], "big")
        for t in range(16, 80):
            x = w[t - 15]
            y = w[t - 2]
            s0 = _rotr(x, 1) ^ _rotr(x, 8) ^ (x >> 7)
            s1 = _rotr(y, 19) ^ _rotr(y, 61) ^ (y >> 6)
            w[t] = (w[t - 16] + s0 + w[t - 7] + s1) & _M64
        a, b, c, d, e, f, g, hh = h
        for t in range(80):
            S1 = _rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41)
            ch = (e & f) ^ (~e & _M64 & g)
            t1 = (hh + S1 + ch + K[t] + w[t]) & _M64
            S0 = _rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)
            mj = (a & b) ^ (a & c) ^ (b & c)
            t2 = (S0 + mj) & _M64
            hh = g
            g = f
            f = e
            e = (d + t1) & _M64
            d = c
            c = b
            b = a
            a = (t1 + t2) & _M64
        h = [(h[0] + a) & _M64, (h[1] + b) & _M64, (h[2] + c) & _M64, (h[3] + d) & _M64,
             (h[4] + e) & _M64, (h[5] + f) & _M64, (h[6] + g) & _M64, (h[7] + hh) & _M64]
    out = b""
    for x in h:
        out += x.to_bytes(8, "big")
    return out


# ---------------------------------------------------------------- Ed25519 (RFC 8032)
_P = 2 ** 255 - 19
_L = 2 ** 252 + 27742317777372353535851937790883648493
_D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
_SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960   # 4/5 mod p


def _powmod(b, e, m):
    r = 1
    b %= m
    while e:
        if e & 1:
            r = r * b % m
        b = b * b % m
        e >>= 1
    return r


def _inv(x):
    return _powmod(x, _P - 2, _P)


# points in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z
def _add(p, q):
    P = _P
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * _D % P
    d = 2 * p[2] * q[2] % P
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, p):
    q = (0, 1, 1, 0)
    while s:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _encode(p):
    zi = _inv(p[2])
    x = p[0] * zi % _P
    y = p[1] * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decode(s):
    """32 bytes -> point, or None if not a valid encoding (RFC 8032 s5.1.3)."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = u * _powmod(v, 3, _P) * _powmod(u * _powmod(v, 7, _P), (_P - 5) // 8, _P) % _P
    vx2 = v * x * x % _P
    if vx2 != u:
        if vx2 == (_P - u) % _P:
            x = x * _SQRT_M1 % _P
        else:
            return None
    if x == 0 and sign:
        return None
    if (x & 1) != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


_B = (_BX, _BY, 1, _BX * _BY % _P)


def ed25519_verify(public_key, message, signature):
    """True if `signature` (64 bytes) is `public_key`'s (32 bytes) Ed25519
    signature of `message`. Any malformed input is simply False."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode(bytes(public_key))
    if a is None:
        return False
    rb = bytes(signature[:32])
    if _decode(rb) is None:
        return False
    s = int.from_bytes(bytes(signature[32:]), "little")
    if s >= _L:
        return False
    h = int.from_bytes(sha512(rb + bytes(public_key) + bytes(message)), "little") % _L
    # [S]B - [h]A == R  <=>  [S]B + [L-h]A == R   (A has order L after a valid key; cofactorless check)
    sb = _mul(s, _B)
    ha = _mul(h, a)
    neg = ((_P - ha[0]) % _P, ha[1], ha[2], (_P - ha[3]) % _P)
    return equal(_encode(_add(sb, neg)), rb)
