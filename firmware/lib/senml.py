"""SenML (RFC 8428) JSON packs as CONTRACT.md profiles them, written into one fixed buffer.

Numbers are written from integers (fixed point) digit by digit, so building a pack
allocates nothing and its size is known exactly:

    [{"bn":"env-1/","bt":1763841600,"n":"temperature","u":"Cel","v":17.93},
     {"n":"humidity","u":"%RH","v":78.5,"t":300}]
"""


def put_bytes(buf: bytearray, pos: int, s: bytes) -> int:
    n = len(s)
    buf[pos : pos + n] = s
    return pos + n


def put_int(buf: bytearray, pos: int, n: int) -> int:
    """Write a decimal integer; return the position after it."""
    if n < 0:
        buf[pos] = 45  # '-'
        pos += 1
        n = -n
    start = pos
    while True:
        buf[pos] = 48 + n % 10
        pos += 1
        n //= 10
        if not n:
            break
    i, j = start, pos - 1
    while i < j:
        buf[i], buf[j] = buf[j], buf[i]
        i += 1
        j -= 1
    return pos


def put_fixed(buf: bytearray, pos: int, n: int, decimals: int) -> int:
    """Write n / 10**decimals with trailing zeros trimmed (1790, 2 -> 17.9)."""
    if n < 0:
        buf[pos] = 45
        pos += 1
        n = -n
    scale = 1
    for _ in range(decimals):
        scale *= 10
    pos = put_int(buf, pos, n // scale)
    frac = n % scale
    if frac:
        buf[pos] = 46  # '.'
        pos += 1
        while scale > 1:
            scale //= 10
            buf[pos] = 48 + (frac // scale) % 10
            pos += 1
            if frac % scale == 0:
                break
    return pos


class PackWriter:
    """Builds one pack at a time in its own buffer; `finish()` returns a view of the bytes."""

    def __init__(self, size: int = 1536) -> None:
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.pos = 0
        self.count = 0

    def room(self) -> int:
        return len(self.buf) - self.pos

    def start(self, device: bytes, bt_ms: int) -> None:
        """Open a pack whose base time is bt_ms (epoch ms); the first record carries it."""
        b = self.buf
        pos = put_bytes(b, 0, b'[{"bn":"')
        pos = put_bytes(b, pos, device)
        pos = put_bytes(b, pos, b'/","bt":')
        pos = put_fixed(b, pos, bt_ms, 3)
        self.pos = pos
        self.count = 0

    def _open(self, name: bytes, t_ms: int) -> int:
        b = self.buf
        pos = self.pos
        if self.count:
            pos = put_bytes(b, pos, b',{"n":"')
        else:
            pos = put_bytes(b, pos, b',"n":"')
        pos = put_bytes(b, pos, name)
        b[pos] = 34  # '"'
        pos += 1
        if t_ms:
            pos = put_bytes(b, pos, b',"t":')
            pos = put_fixed(b, pos, t_ms, 3)
        return pos

    def _close(self, pos: int) -> None:
        self.buf[pos] = 125  # '}'
        self.pos = pos + 1
        self.count += 1

    def number(self, name: bytes, unit: bytes, value: int, decimals: int, t_ms: int = 0) -> None:
        """A `v` record: value / 10**decimals in `unit`, at bt + t_ms."""
        b = self.buf
        pos = self._open(name, t_ms)
        if unit:
            pos = put_bytes(b, pos, b',"u":"')
            pos = put_bytes(b, pos, unit)
            b[pos] = 34
            pos += 1
        pos = put_bytes(b, pos, b',"v":')
        self._close(put_fixed(b, pos, value, decimals))

    def string(self, name: bytes, value: bytes, t_ms: int = 0) -> None:
        b = self.buf
        pos = put_bytes(b, self._open(name, t_ms), b',"vs":"')
        pos = put_bytes(b, pos, value)
        b[pos] = 34
        self._close(pos + 1)

    def boolean(self, name: bytes, value: bool, t_ms: int = 0) -> None:
        pos = put_bytes(self.buf, self._open(name, t_ms), b',"vb":')
        self._close(put_bytes(self.buf, pos, b"true" if value else b"false"))

    def finish(self) -> memoryview:
        self.buf[self.pos] = 93  # ']'
        self.pos += 1
        return self.mv[: self.pos]
