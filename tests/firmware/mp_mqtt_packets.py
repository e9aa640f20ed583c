"""Run on MicroPython: the firmware's MQTT client writes exactly the bytes MQTT 3.1.1 says,
and reads what a broker sends, over a fake socket (as umqtt.simple's own test does)."""

import sys

sys.path.insert(0, sys.argv[1])

from lib.mqtt import MQTTClient, MQTTException


class FakeSocket:
    def __init__(self, incoming: bytes) -> None:
        self.out = bytearray()
        self.incoming = bytearray(incoming)
        self.closed = False

    def write(self, data) -> int:  # type: ignore[no-untyped-def]
        self.out += bytes(data)
        return len(data)

    def readinto(self, mv) -> int | None:  # type: ignore[no-untyped-def]
        if not self.incoming:
            return None
        n = min(len(mv), len(self.incoming))
        mv[:n] = self.incoming[:n]
        self.incoming = self.incoming[n:]
        return n

    def settimeout(self, t) -> None:  # type: ignore[no-untyped-def]
        pass

    def setblocking(self, b) -> None:  # type: ignore[no-untyped-def]
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out = bytes(self.out)
        self.out = bytearray()
        return out


def expect(got: bytes, want: bytes, what: str) -> None:
    if got != want:
        print("FAIL", what, got, "!=", want)
        sys.exit(1)
    print("ok", what)


c = MQTTClient(b"cid", "broker", 1883, user=b"u", password=b"p", keepalive=60, addr=("x", 1))
c.set_last_will(b"t/s", b"off", retain=True, qos=1)
sock = FakeSocket(b"\x20\x02\x00\x00")
assert c.connect(True, sock=sock) is False
expect(
    sock.take(),
    b"\x10\x1f\x00\x04MQTT\x04\xee\x00\x3c\x00\x03cid\x00\x03t/s\x00\x03off\x00\x01u\x00\x01p",
    "CONNECT with will, username, password, keepalive 60",
)
expect(bytes([c.publish(b"a/b", b"hi")]), b"\x00", "QoS 0 has no packet id")
expect(sock.take(), b"\x30\x07\x00\x03a/bhi", "PUBLISH QoS 0")
expect(bytes([c.publish(b"a/b", b"hi", retain=True, qos=1)]), b"\x01", "first packet id")
expect(sock.take(), b"\x33\x09\x00\x03a/b\x00\x01hi", "PUBLISH QoS 1 retained")
c.publish(b"a/b", memoryview(b"hi"), qos=1, dup=True, pid=1)
expect(sock.take(), b"\x3a\x09\x00\x03a/b\x00\x01hi", "PUBLISH QoS 1 resent with DUP")
c.publish(b"a/b", b"x" * 200)
expect(sock.take(), b"\x30\xcd\x01\x00\x03a/b" + b"x" * 200, "two-byte Remaining Length")
c.subscribe(b"c/d", 1)
expect(sock.take(), b"\x82\x08\x00\x02\x00\x03c/d\x01", "SUBSCRIBE QoS 1")
c.ping()
expect(sock.take(), b"\xc0\x00", "PINGREQ")

expect(bytes([c.check_msg() is None]), b"\x01", "check_msg with nothing waiting")
got = []
c.set_callback(lambda t, m: got.append((bytes(t), bytes(m))))
sock.incoming += b"\x40\x02\x00\x01" + b"\x90\x03\x00\x02\x01" + b"\x32\x0a\x00\x03c/d\x00\x07xyz"
sock.incoming += b"\x31\x08\x00\x03c/dcfg" + b"\xd0\x00"
expect(bytes([c.check_msg()]), b"\x40", "PUBACK read")
expect(bytes([c.acked]), b"\x01", "PUBACK recorded")
expect(bytes([c.check_msg()]), b"\x90", "SUBACK read")
expect(bytes([c.check_msg()]), b"\x30", "PUBLISH QoS 1 read")
expect(sock.take(), b"\x40\x02\x00\x07", "PUBACK sent for an incoming QoS 1")
expect(bytes([c.check_msg()]), b"\x30", "retained PUBLISH QoS 0 read")
expect(sock.take(), b"", "no PUBACK for QoS 0")
expect(repr(got).encode(), repr([(b"c/d", b"xyz"), (b"c/d", b"cfg")]).encode(), "callback")
expect(bytes([c.check_msg()]), b"\xd0", "PINGRESP read")
c.disconnect()
expect(sock.take(), b"\xe0\x00", "DISCONNECT")
expect(bytes([sock.closed]), b"\x01", "socket closed")

refused = MQTTClient(b"cid", "broker", addr=("x", 1))
sock = FakeSocket(b"\x20\x02\x00\x05")
try:
    refused.connect(sock=sock)
    print("FAIL refused CONNACK raised nothing")
    sys.exit(1)
except MQTTException as exc:
    expect(bytes([exc.args[0]]), b"\x05", "CONNACK 5 (not authorised) raises")
expect(sock.take(), b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x00\x00\x03cid", "bare CONNECT")
print("ALL OK")
