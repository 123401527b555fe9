"""Testnet receive addresses, from a private key to a bech32 string, in pure Python.

Why pure Python: the image carries Debian's python3 and nothing else, and OpenSSL 3 (which
backs hashlib) ships RIPEMD-160 only in its legacy provider, so ``hashlib.new("ripemd160")``
may fail. Each step is small enough to check against published vectors
(``tests/test_wallet.py``):

    private key --secp256k1--> compressed public key (33 bytes)
                --SHA-256, RIPEMD-160--> hash160 (20 bytes)
                --BIP 173 bech32, witness v0, hrp "tb"--> tb1q... (P2WPKH, testnet)

The point multiplication is not constant time: acceptable for a demonstration wallet that
holds testnet keys and never signs, not for real money.
"""

import hashlib
import secrets

# secp256k1 (SEC 2, section 2.4.1).
P = 2**256 - 2**32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)


def _point_add(a, b):
    """Adds two affine points of secp256k1 (None is the point at infinity)."""
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0]:
        if (a[1] + b[1]) % P == 0:
            return None
        slope = 3 * a[0] * a[0] * pow(2 * a[1], -1, P) % P
    else:
        slope = (b[1] - a[1]) * pow(b[0] - a[0], -1, P) % P
    x = (slope * slope - a[0] - b[0]) % P
    return (x, (slope * (a[0] - x) - a[1]) % P)


def public_key(private_key):
    """The compressed SEC 1 public key (33 bytes) of ``private_key``, an int in [1, N-1]."""
    if not 1 <= private_key < N:
        raise ValueError("a private key must be in [1, n-1]")
    result, addend, k = None, G, private_key
    while k:
        if k & 1:
            result = _point_add(result, addend)
        addend = _point_add(addend, addend)
        k >>= 1
    x, y = result
    return bytes([2 + (y & 1)]) + x.to_bytes(32, "big")


def new_private_key():
    """A private key drawn uniformly from [1, N-1] with the ``secrets`` module."""
    return secrets.randbelow(N - 1) + 1


# RIPEMD-160 (Dobbertin, Bosselaers, Preneel, 1996): word order, shifts and constants of
# the left and right lines.
_RL = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8,
    3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12,
    1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2,
    4, 0, 5, 9, 7, 12, 2, 10, 14, 1, 3, 8, 11, 6, 15, 13,
)  # fmt: skip
_RR = (
    5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12,
    6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2,
    15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13,
    8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14,
    12, 15, 10, 4, 1, 5, 8, 7, 6, 2, 13, 14, 0, 3, 9, 11,
)  # fmt: skip
_SL = (
    11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8,
    7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12,
    11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5,
    11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12,
    9, 15, 5, 11, 6, 8, 13, 12, 5, 12, 13, 14, 11, 8, 5, 6,
)  # fmt: skip
_SR = (
    8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6,
    9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11,
    9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5,
    15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8,
    8, 5, 12, 9, 12, 5, 14, 6, 8, 13, 6, 5, 15, 13, 11, 11,
)  # fmt: skip
_KL = (0x00000000, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xA953FD4E)
_KR = (0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x7A6D76E9, 0x00000000)
_MASK = 0xFFFFFFFF


def _f(round_, x, y, z):
    """The boolean function of round ``round_`` (0-4)."""
    if round_ == 0:
        return x ^ y ^ z
    if round_ == 1:
        return (x & y) | (~x & z)
    if round_ == 2:
        return (x | ~y) ^ z
    if round_ == 3:
        return (x & z) | (y & ~z)
    return x ^ (y | ~z)


def _rol(value, bits):
    value &= _MASK
    return ((value << bits) | (value >> (32 - bits))) & _MASK


def ripemd160_python(data):
    """RIPEMD-160 of ``data``, written out for interpreters whose OpenSSL lacks it."""
    h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    padded = bytes(data) + b"\x80" + b"\x00" * ((55 - len(data)) % 64)
    padded += (8 * len(data) & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")
    for offset in range(0, len(padded), 64):
        block = padded[offset : offset + 64]
        x = [int.from_bytes(block[4 * i : 4 * i + 4], "little") for i in range(16)]
        al, bl, cl, dl, el = h
        ar, br, cr, dr, er = h
        for j in range(80):
            r = j // 16
            t = _rol(al + _f(r, bl, cl, dl) + x[_RL[j]] + _KL[r], _SL[j]) + el
            al, el, dl, cl, bl = el, dl, _rol(cl, 10), bl, t & _MASK
            t = _rol(ar + _f(4 - r, br, cr, dr) + x[_RR[j]] + _KR[r], _SR[j]) + er
            ar, er, dr, cr, br = er, dr, _rol(cr, 10), br, t & _MASK
        h = [
            (h[1] + cl + dr) & _MASK,
            (h[2] + dl + er) & _MASK,
            (h[3] + el + ar) & _MASK,
            (h[4] + al + br) & _MASK,
            (h[0] + bl + cr) & _MASK,
        ]
    return b"".join(word.to_bytes(4, "little") for word in h)


def ripemd160_hashlib(data):
    """RIPEMD-160 of ``data`` through hashlib, or None when its OpenSSL does not offer it."""
    try:
        return hashlib.new("ripemd160", data).digest()
    except (ValueError, TypeError):
        return None


def ripemd160(data):
    """RIPEMD-160 of ``data``: hashlib's when available, else the Python one."""
    digest = ripemd160_hashlib(data)
    return digest if digest is not None else ripemd160_python(data)


def hash160(data):
    """RIPEMD-160(SHA-256(data)), the hash a P2WPKH output commits to."""
    return ripemd160(hashlib.sha256(data).digest())


# Bech32 (BIP 173).
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values):
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            if (top >> i) & 1:
                checksum ^= _GENERATOR[i]
    return checksum


def _hrp_expand(hrp):
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data, from_bits, to_bits, pad):
    """Regroups ``data`` from ``from_bits``-bit to ``to_bits``-bit values; None if invalid."""
    acc, bits, out = 0, 0, []
    max_value = (1 << to_bits) - 1
    for value in data:
        if value < 0 or value >> from_bits:
            return None
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & max_value)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & max_value)
    elif bits >= from_bits or ((acc << (to_bits - bits)) & max_value):
        return None
    return out


def segwit_encode(hrp, version, program):
    """The bech32 address of witness ``version`` 0 and ``program`` under ``hrp``."""
    if version != 0:
        raise ValueError("only witness version 0 (bech32, not bech32m) is supported")
    data = [version] + _convert_bits(program, 8, 5, True)
    checksum = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ 1
    data += [(checksum >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data)


def segwit_decode(hrp, address):
    """(version, program) of a bech32 witness v0 ``address`` under ``hrp``; ValueError if
    the address is malformed, has a wrong checksum or another hrp."""
    if address.lower() != address and address.upper() != address:
        raise ValueError("mixed case")
    address = address.lower()
    position = address.rfind("1")
    if position < 1 or position + 7 > len(address) or len(address) > 90:
        raise ValueError("bad separator position or length")
    if address[:position] != hrp:
        raise ValueError(f"human-readable part {address[:position]!r}, expected {hrp!r}")
    try:
        data = [CHARSET.index(c) for c in address[position + 1 :]]
    except ValueError:
        raise ValueError("character outside the bech32 alphabet") from None
    if _polymod(_hrp_expand(hrp) + data) != 1:
        raise ValueError("checksum mismatch")
    version, program = data[0], _convert_bits(data[1:-6], 5, 8, False)
    if version != 0 or program is None or len(program) not in (20, 32):
        raise ValueError("not a witness v0 program")
    return version, bytes(program)


def testnet_address(private_key):
    """The P2WPKH testnet address (``tb1q...``) of ``private_key``."""
    return segwit_encode("tb", 0, hash160(public_key(private_key)))
