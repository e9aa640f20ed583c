"""A compact MQTT 3.1.1 client in the manner of umqtt.simple, for the firmware.

Packets are built with struct.pack_into in one buffer allocated at construction; payloads
are written from the caller's buffer (a memoryview, no copy). QoS 0 and 1, keepalive, last
will, retained. `publish(..., qos=1)` returns the packet id at once and never waits: the
PUBACK arrives through check_msg() and is recorded in `acked`, so a caller can retry on its
own schedule (a telecare event must not wait behind a slow broker). The server's address is
resolved once, at construction, so an outage never blocks on DNS.

TLS: given an `ssl` context (tls.SSLContext, CERT_REQUIRED with the project's CA loaded),
the socket is wrapped once TCP is up, the broker's certificate checked against that CA and
`server_hostname`, and the handshake driven without blocking by the non-blocking write of
CONNECT (None until the handshake is done). A refused handshake raises TLSError: never a
fallback to plain MQTT.
"""

import errno
import select
import socket
import struct
import time

CONNECT = 0x10
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
SUBSCRIBE = 0x82
SUBACK = 0x90
PINGREQ = 0xC0
PINGRESP = 0xD0
DISCONNECT = 0xE0


class MQTTException(Exception):
    """The broker refused or broke the protocol; args[0] is the CONNACK code or a reason."""


class TLSError(OSError):
    """The TLS handshake failed: an untrusted or misnamed certificate, or not a TLS port."""


def _tls_reason(exc: Exception) -> str:
    # mbedtls's verify failures arrive as ValueError("\nThe certificate is not ...\n");
    # a plain MQTT port answers a ClientHello by closing (ECONNRESET).
    arg = exc.args[0] if exc.args else exc
    if isinstance(arg, int):
        if arg in (errno.ECONNRESET, -1):
            return "handshake failed (errno %d): the port does not speak TLS?" % arg
        return "handshake failed (errno %d)" % arg
    return str(arg).strip()


class MQTTClient:
    def __init__(
        self,
        client_id: bytes,
        server: str,
        port: int = 1883,
        user: bytes | None = None,
        password: bytes | None = None,
        keepalive: int = 0,
        bufsize: int = 640,
        addr: tuple | None = None,
        ticks=time.ticks_ms,  # type: ignore[no-untyped-def]
        ssl=None,  # type: ignore[no-untyped-def]
        server_hostname: str | None = None,
    ) -> None:
        self.client_id = client_id
        self.server = server
        self.port = port
        self.user = user
        self.pswd = password
        self.keepalive = keepalive
        self.buf = bytearray(bufsize)
        self.mv = memoryview(self.buf)
        self.rx = bytearray(bufsize)
        self.rxmv = memoryview(self.rx)
        self.addr = addr
        self.sock: socket.socket | None = None  # what MQTT reads and writes (TLS or plain)
        self.raw: socket.socket | None = None  # the TCP socket under it: timeouts, poll
        self.ssl = ssl
        self.server_hostname = server_hostname or server
        self.pid = 0
        self.cb = None
        self.lw_topic: bytes | None = None
        self.lw_msg: bytes | None = None
        self.lw_qos = 0
        self.lw_retain = False
        self.acked = 0  # the id of the last PUBACK received
        self.last_rx = 0
        self.bytes_out = 0
        self.timeout_s = 5.0
        self.ticks = ticks
        self.poller: select.poll | None = None  # type: ignore[valid-type]
        self.stage = 0
        self.clean = True

    def resolve(self) -> tuple:
        """Look the server up (once): later reconnects reuse the address."""
        if self.addr is None:
            self.addr = socket.getaddrinfo(self.server, self.port, 0, socket.SOCK_STREAM)[0][-1]
        return self.addr

    @staticmethod
    def _put_len(buf: bytearray, pos: int, n: int) -> int:
        """Write MQTT's variable-length Remaining Length at pos; return the position after it."""
        while True:
            byte = n & 0x7F
            n >>= 7
            if n:
                byte |= 0x80
            buf[pos] = byte
            pos += 1
            if not n:
                return pos

    def _put_str(self, pos: int, s: bytes) -> int:
        struct.pack_into("!H", self.buf, pos, len(s))
        pos += 2
        self.buf[pos : pos + len(s)] = s
        return pos + len(s)

    def _send(self, data: bytes | bytearray | memoryview) -> None:
        if self.sock is None:
            raise OSError(107)  # ENOTCONN
        n = 0
        while n < len(data):
            sent = self.sock.write(data[n:] if n else data)  # type: ignore[attr-defined]
            if sent is None:
                continue
            n += sent
        self.bytes_out += n

    def _recv_exact(self, mv: memoryview, n: int) -> None:
        got = 0
        while got < n:
            r = self.sock.readinto(mv[got:n])  # type: ignore[union-attr]
            if r is None:
                continue
            if r == 0:
                raise OSError(-1)  # the broker closed the connection
            got += r

    def set_callback(self, f) -> None:  # type: ignore[no-untyped-def]
        self.cb = f

    def set_last_will(self, topic: bytes, msg: bytes, retain: bool = False, qos: int = 0) -> None:
        assert 0 <= qos <= 2 and topic
        self.lw_topic = topic
        self.lw_msg = msg
        self.lw_qos = qos
        self.lw_retain = retain

    def _connect_packet(self, clean_session: bool) -> int:
        """Build CONNECT in the buffer; return its length."""
        b = self.buf
        flags = 0x02 if clean_session else 0
        size = 10 + 2 + len(self.client_id)
        if self.user is not None:
            size += 2 + len(self.user)
            flags |= 0x80
            if self.pswd is not None:
                size += 2 + len(self.pswd)
                flags |= 0x40
        if self.lw_topic:
            size += 2 + len(self.lw_topic) + 2 + len(self.lw_msg or b"")
            flags |= 0x04 | (self.lw_qos & 1) << 3 | (self.lw_qos & 2) << 3
            flags |= 0x20 if self.lw_retain else 0
        b[0] = CONNECT
        pos = self._put_len(b, 1, size)
        struct.pack_into("!H4sBBH", b, pos, 4, b"MQTT", 4, flags, self.keepalive)
        pos = self._put_str(pos + 10, self.client_id)
        if self.lw_topic:
            pos = self._put_str(pos, self.lw_topic)
            pos = self._put_str(pos, self.lw_msg or b"")
        if self.user is not None:
            pos = self._put_str(pos, self.user)
            if self.pswd is not None:
                pos = self._put_str(pos, self.pswd)
        return pos

    def _connack(self) -> bool:
        """Read and check CONNACK; the session-present flag."""
        try:
            self._recv_exact(self.rxmv, 4)
        except OSError:
            self.close()
            raise
        if self.rx[0] != CONNACK or self.rx[1] != 2:
            self.close()
            raise MQTTException("bad CONNACK")
        if self.rx[3] != 0:
            code = self.rx[3]
            self.close()
            raise MQTTException(code)
        self.last_rx = self.ticks()
        return bool(self.rx[2] & 1)

    def connect(self, clean_session: bool = True, timeout_s: float = 5.0, sock=None) -> bool:  # type: ignore[no-untyped-def]
        """Open the session, blocking; return the broker's session-present flag. Raises
        OSError or MQTTException; the socket then waits at most `timeout_s` for a packet."""
        if sock is None:
            self.resolve()
            sock = socket.socket()
            sock.settimeout(timeout_s)
            try:
                sock.connect(self.addr)
            except OSError:
                sock.close()
                raise
        else:
            sock.settimeout(timeout_s)
        self.timeout_s = timeout_s
        self.raw = sock
        self.sock = sock
        if self.ssl is not None:
            try:
                self.sock = self.ssl.wrap_socket(sock, server_hostname=self.server_hostname)
            except (OSError, ValueError) as exc:
                self.close()
                raise TLSError(_tls_reason(exc))
        try:
            self._send(self.mv[: self._connect_packet(clean_session)])
        except OSError:
            self.close()
            raise
        return self._connack()

    def begin_connect(self, clean_session: bool = True, timeout_s: float = 5.0) -> None:
        """Start a connection without waiting for it: finish it with poll_connect().

        A telecare node keeps sampling while the TCP handshake and CONNACK are on their way."""
        addr = self.resolve()
        self.close()
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.connect(addr)
        except OSError as exc:
            if not exc.args or exc.args[0] not in (errno.EINPROGRESS, errno.EAGAIN):
                sock.close()
                raise
        self.sock = sock
        self.raw = sock
        self.timeout_s = timeout_s
        self.clean = clean_session
        self.stage = 1
        self.poller = select.poll()
        self.poller.register(sock, select.POLLOUT)

    def poll_connect(self) -> int:
        """-1 while the connection is still being made; then the session-present flag (0 or
        1). Raises OSError (refused, unreachable) or MQTTException (CONNACK refused)."""
        if self.poller is None or self.sock is None or self.raw is None:
            raise OSError(errno.ENOTCONN)
        if self.stage == 3:
            return self._handshake()
        ready = self.poller.poll(0)
        if not ready:
            return -1
        events = ready[0][1]
        if events & (select.POLLERR | select.POLLHUP):
            self.close()
            raise OSError(errno.ECONNREFUSED)
        if self.stage == 1 and self.ssl is not None:
            try:
                self.sock = self.ssl.wrap_socket(
                    self.raw, server_hostname=self.server_hostname, do_handshake_on_connect=False
                )
            except (OSError, ValueError) as exc:
                self.close()
                raise TLSError(_tls_reason(exc))
            self.stage = 3
            return self._handshake()
        if self.stage == 1:
            self.raw.settimeout(self.timeout_s)
            try:
                self._send(self.mv[: self._connect_packet(self.clean)])
            except OSError:
                self.close()
                raise
            self.stage = 2
            self.poller.modify(self.sock, select.POLLIN)
            return -1
        self.stage = 0
        self.poller = None
        return 1 if self._connack() else 0

    def _handshake(self) -> int:
        """Advance the TLS handshake by offering CONNECT (non-blocking); -1 until it is sent."""
        n = self._connect_packet(self.clean)
        try:
            sent = self.sock.write(self.mv[:n])  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:
            self.close()
            raise TLSError(_tls_reason(exc))
        if sent is None:
            return -1  # the handshake waits for the broker
        self.raw.settimeout(self.timeout_s)  # type: ignore[union-attr]
        self.bytes_out += sent
        if sent < n:
            self._send(self.mv[sent:n])
        self.stage = 2
        self.poller.modify(self.raw, select.POLLIN)  # type: ignore[union-attr]
        return -1

    def close(self) -> None:
        for s in (self.sock, self.raw):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        self.sock = None
        self.raw = None
        self.poller = None
        self.stage = 0

    def disconnect(self) -> None:
        """Say goodbye, so the broker discards the last will."""
        try:
            self.buf[0] = DISCONNECT
            self.buf[1] = 0
            self._send(self.mv[:2])
        finally:
            self.close()

    def ping(self) -> None:
        self.buf[0] = PINGREQ
        self.buf[1] = 0
        self._send(self.mv[:2])

    def next_pid(self) -> int:
        self.pid = self.pid + 1 if self.pid < 65535 else 1
        return self.pid

    def publish(self, topic: bytes, msg, retain: bool = False, qos: int = 0, dup: bool = False, pid: int = 0) -> int:  # type: ignore[no-untyped-def]
        """Send one PUBLISH; return its packet id (0 at QoS 0). Does not wait for PUBACK."""
        b = self.buf
        b[0] = PUBLISH | (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
        size = 2 + len(topic) + len(msg)
        if qos > 0:
            size += 2
        pos = self._put_len(b, 1, size)
        pos = self._put_str(pos, topic)
        if qos > 0:
            if not pid:
                pid = self.next_pid()
            struct.pack_into("!H", b, pos, pid)
            pos += 2
        self._send(self.mv[:pos])
        self._send(msg)
        return pid

    def subscribe(self, topic: bytes, qos: int = 0) -> int:
        """Send SUBSCRIBE; the SUBACK (and any retained message) comes through check_msg."""
        b = self.buf
        pid = self.next_pid()
        b[0] = SUBSCRIBE
        pos = self._put_len(b, 1, 2 + 2 + len(topic) + 1)
        struct.pack_into("!H", b, pos, pid)
        pos = self._put_str(pos + 2, topic)
        b[pos] = qos
        self._send(self.mv[: pos + 1])
        return pid

    def _puback(self, pid: int) -> None:
        b = self.buf
        b[0] = PUBACK
        b[1] = 2
        struct.pack_into("!H", b, 2, pid)
        self._send(self.mv[:4])

    def wait_msg(self) -> int | None:
        """Read one packet (the socket must have data or be blocking); return its type.

        Returns None when nothing was waiting. PUBLISH goes to the callback as
        (topic, msg) memoryviews into the receive buffer, valid only during the call.
        """
        if self.sock is None:
            raise OSError(107)
        rx = self.rx
        r = self.sock.readinto(self.rxmv[:1])  # type: ignore[attr-defined]
        if r is None:
            return None
        if r == 0:
            raise OSError(-1)
        # The rest of a packet follows its first byte closely; wait for it, within the timeout.
        self.raw.settimeout(self.timeout_s)  # type: ignore[union-attr]
        op = rx[0]
        n = 0
        shift = 0
        while True:
            self._recv_exact(self.rxmv[1:], 1)
            n |= (rx[1] & 0x7F) << shift
            if not rx[1] & 0x80:
                break
            shift += 7
        if n > len(rx):
            # Bigger than we will ever accept (a config is small): read and drop it.
            left = n
            while left:
                chunk = left if left < len(rx) else len(rx)
                self._recv_exact(self.rxmv, chunk)
                left -= chunk
            self.last_rx = self.ticks()
            return op & 0xF0
        self._recv_exact(self.rxmv, n)
        self.last_rx = self.ticks()
        kind = op & 0xF0
        if kind == PUBACK:
            self.acked = (rx[0] << 8) | rx[1]
        elif kind == PUBLISH:
            tlen = (rx[0] << 8) | rx[1]
            pos = 2 + tlen
            pid = 0
            if op & 0x06:
                pid = (rx[pos] << 8) | rx[pos + 1]
                pos += 2
            if self.cb is not None:
                self.cb(self.rxmv[2 : 2 + tlen], self.rxmv[pos:n])
            if op & 0x06 == 2:
                self._puback(pid)
            elif op & 0x06 == 4:
                raise MQTTException("QoS 2 not supported")
        return kind

    def check_msg(self) -> int | None:
        """Handle one waiting packet without blocking if none is there; its type or None."""
        if self.sock is None:
            raise OSError(107)
        self.raw.setblocking(False)  # type: ignore[union-attr]
        try:
            return self.wait_msg()
        except OSError as exc:
            if exc.args and exc.args[0] == 11:  # EAGAIN: nothing waiting
                return None
            raise
        finally:
            if self.raw is not None:
                self.raw.settimeout(self.timeout_s)
