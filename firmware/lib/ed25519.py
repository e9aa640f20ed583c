"""Ed25519 signature verification (RFC 8032, section 5.1.7) in plain MicroPython.

MicroPython has no Ed25519 and its hashlib has no SHA-512, so both are here, on MicroPython's
arbitrary-precision integers. Only verification: the device holds the public key, never a
private one. Cofactorless check ([s]B == R + [k]A, compared as encodings), as OpenSSL and
`cryptography` do; `s` must be below the group order (RFC 8032's malleability check).
Checked against RFC 8032's test vectors and `cryptography`'s signatures
(tests/firmware/test_fw_ota.py). Not constant-time: it handles public data only.
"""

try:
    from hashlib import sha512 as _sha512  # type: ignore[attr-defined]
except ImportError:
    _sha512 = None

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # the order of the base point
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
M64 = 0xFFFFFFFFFFFFFFFF

# SHA-512 round constants (FIPS 180-4, 4.2.3) and initial hash value (5.3.5).
_K = (
    0x428A2F98D728AE22, 0x7137449123EF65CD, 0xB5C0FBCFEC4D3B2F, 0xE9B5DBA58189DBBC,
    0x3956C25BF348B538, 0x59F111F1B605D019, 0x923F82A4AF194F9B, 0xAB1C5ED5DA6D8118,
    0xD807AA98A3030242, 0x12835B0145706FBE, 0x243185BE4EE4B28C, 0x550C7DC3D5FFB4E2,
    0x72BE5D74F27B896F, 0x80DEB1FE3B1696B1, 0x9BDC06A725C71235, 0xC19BF174CF692694,
    0xE49B69C19EF14AD2, 0xEFBE4786384F25E3, 0x0FC19DC68B8CD5B5, 0x240CA1CC77AC9C65,
    0x2DE92C6F592B0275, 0x4A7484AA6EA6E483, 0x5CB0A9DCBD41FBD4, 0x76F988DA831153B5,
    0x983E5152EE66DFAB, 0xA831C66D2DB43210, 0xB00327C898FB213F, 0xBF597FC7BEEF0EE4,
    0xC6E00BF33DA88FC2, 0xD5A79147930AA725, 0x06CA6351E003826F, 0x142929670A0E6E70,
    0x27B70A8546D22FFC, 0x2E1B21385C26C926, 0x4D2C6DFC5AC42AED, 0x53380D139D95B3DF,
    0x650A73548BAF63DE, 0x766A0ABB3C77B2A8, 0x81C2C92E47EDAEE6, 0x92722C851482353B,
    0xA2BFE8A14CF10364, 0xA81A664BBC423001, 0xC24B8B70D0F89791, 0xC76C51A30654BE30,
    0xD192E819D6EF5218, 0xD69906245565A910, 0xF40E35855771202A, 0x106AA07032BBD1B8,
    0x19A4C116B8D2D0C8, 0x1E376C085141AB53, 0x2748774CDF8EEB99, 0x34B0BCB5E19B48A8,
    0x391C0CB3C5C95A63, 0x4ED8AA4AE3418ACB, 0x5B9CCA4F7763E373, 0x682E6FF3D6B2B8A3,
    0x748F82EE5DEFB2FC, 0x78A5636F43172F60, 0x84C87814A1F0AB72, 0x8CC702081A6439EC,
    0x90BEFFFA23631E28, 0xA4506CEBDE82BDE9, 0xBEF9A3F7B2C67915, 0xC67178F2E372532B,
    0xCA273ECEEA26619C, 0xD186B8C721C0C207, 0xEADA7DD6CDE0EB1E, 0xF57D4F7FEE6ED178,
    0x06F067AA72176FBA, 0x0A637DC5A2C898A6, 0x113F9804BEF90DAE, 0x1B710B35131C471B,
    0x28DB77F523047D84, 0x32CAAB7B40C72493, 0x3C9EBE0A15C9BEBC, 0x431D67C49C100D4C,
    0x4CC5D4BECB3E42B6, 0x597F299CFC657E2A, 0x5FCB6FAB3AD6FAEC, 0x6C44198C4A475817,
)  # fmt: skip
_H0 = (
    0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
    0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
)  # fmt: skip


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (64 - n))) & M64


def sha512(data: bytes) -> bytes:
    """SHA-512 (FIPS 180-4) of a short message: the C one where the port has it."""
    if _sha512 is not None:
        return _sha512(data).digest()
    n = len(data)
    msg = bytearray(data)
    msg.append(0x80)
    while len(msg) % 128 != 112:
        msg.append(0)
    msg += (n * 8).to_bytes(16, "big")
    h = list(_H0)
    w = [0] * 80
    for off in range(0, len(msg), 128):
        for i in range(16):
            w[i] = int.from_bytes(msg[off + 8 * i : off + 8 * i + 8], "big")
        for i in range(16, 80):
            a, b = w[i - 15], w[i - 2]
            s0 = _rotr(a, 1) ^ _rotr(a, 8) ^ (a >> 7)
            s1 = _rotr(b, 19) ^ _rotr(b, 61) ^ (b >> 6)
            w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & M64
        a, b, c, d, e, f, g, hh = h
        for i in range(80):
            t1 = hh + (_rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41)) + ((e & f) ^ (~e & g)) + _K[i] + w[i]
            t2 = (_rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)) + ((a & b) ^ (a & c) ^ (b & c))
            hh, g, f, e = g, f, e, (d + t1) & M64
            d, c, b, a = c, b, a, (t1 + t2) & M64
        for i, v in enumerate((a, b, c, d, e, f, g, hh)):
            h[i] = (h[i] + v) & M64
    out = bytearray()
    for v in h:
        out += v.to_bytes(8, "big")
    return bytes(out)


# Points in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z.
def _add(p: tuple, q: tuple) -> tuple:
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _double(p: tuple) -> tuple:
    a = p[0] * p[0] % P
    b = p[1] * p[1] % P
    c = 2 * p[2] * p[2] % P
    h = a + b
    xy = p[0] + p[1]
    e = h - xy * xy % P
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _decode(s: bytes) -> tuple | None:
    """The point a 32-byte encoding names, or None if it names none (RFC 8032, 5.1.3)."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        if sign:
            return None
        x = 0
    else:
        x = pow(x2, (P + 3) // 8, P)
        if (x * x - x2) % P:
            x = x * SQRT_M1 % P
        if (x * x - x2) % P:
            return None
        if x & 1 != sign:
            x = P - x
    return (x, y, 1, x * y % P)


def _encode(p: tuple) -> bytes:
    zi = pow(p[2], P - 2, P)
    x = p[0] * zi % P
    y = p[1] * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


_BY = 4 * pow(5, P - 2, P) % P
_B = _decode(_BY.to_bytes(32, "little"))


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True only if `signature` is `public_key`'s Ed25519 signature of `message`."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode(public_key)
    r_enc = bytes(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or s >= L or _decode(r_enc) is None:
        return False
    k = int.from_bytes(sha512(r_enc + bytes(public_key) + bytes(message)), "little") % L
    # [s]B - [k]A in one pass over the bits (Straus): it must encode to R.
    neg_a = (P - a[0], a[1], 1, P - a[3])
    both = _add(_B, neg_a)  # type: ignore[arg-type]
    q = (0, 1, 1, 0)
    for i in range(255, -1, -1):
        q = _double(q)
        bs = (s >> i) & 1
        bk = (k >> i) & 1
        if bs and bk:
            q = _add(q, both)
        elif bs:
            q = _add(q, _B)  # type: ignore[arg-type]
        elif bk:
            q = _add(q, neg_a)
    return _encode(q) == r_enc
