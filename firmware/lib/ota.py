"""Firmware updates: an image announced on the retained config, checked, installed on trial.

The announcement (CONTRACT.md's config object, key `firmware`):

    {"firmware": {"version": "1.4.0", "url": "http://host:port/fw-1.4.0.tar",
                  "size": 81920, "sha256": "<64 hex>", "sig": "<base64 of 64 bytes>"}}

`sig` is the Ed25519 signature (lib/ed25519.py) by the estate's firmware key of
`message(version, size, sha256)`; the device holds only the public key (`fw_key` in its
config file). Order of checks, each refusal saying why: the manifest's shape; the version is
newer than the one running and was never rolled back; the signature (before a byte is
fetched); then the image is streamed over HTTP(S) into the slot not running, unpacked as it
comes (a ustar archive of the firmware tree) while SHA-256 runs over every byte, and refused
if its size or digest differ. Only then does otaboot.install() switch slots; the old image is
kept as the fallback and the device restarts. The URL is not signed: the digest pins what may
be fetched from it.
"""

import binascii
import hashlib
import os
import socket

import otaboot
from lib import ed25519

MAX_SIZE = 512 * 1024  # bytes an image may have: it must fit beside two others in flash
HTTP_TIMEOUT_S = 10
STREAM_LIMIT = 64


class OtaError(Exception):
    """An update refused; str() is the reason reported on status."""


def message(version: str, size: int, sha256: str) -> bytes:
    """What the firmware key signs: the version and exactly which bytes carry it."""
    return ("hof-fw/1\n%s\n%d\n%s\n" % (version, size, sha256)).encode()


def parse_version(v: object) -> tuple:
    if not isinstance(v, str) or not 0 < len(v) <= 32:
        raise OtaError("version must be dotted numbers")
    parts = v.split(".")
    out = []
    for p in parts:
        if not p or not p.isdigit():
            raise OtaError("version must be dotted numbers")
        out.append(int(p))
    return tuple(out)


def check_manifest(fw: object) -> dict:
    """The announcement with each field checked, or OtaError."""
    if not isinstance(fw, dict):
        raise OtaError("firmware must be an object")
    parse_version(fw.get("version"))
    url = fw.get("url")
    if not isinstance(url, str) or not (url.startswith("http://") or url.startswith("https://")):
        raise OtaError("url must be http:// or https://")
    size = fw.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_SIZE:
        raise OtaError("size must be 1..%d bytes" % MAX_SIZE)
    digest = fw.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64:
        raise OtaError("sha256 must be 64 hex digits")
    try:
        binascii.unhexlify(digest)
        sig = binascii.a2b_base64(fw.get("sig") or "")
    except ValueError:
        raise OtaError("sha256 or sig is not hex/base64")
    if len(sig) != 64:
        raise OtaError("sig must be 64 bytes of base64")
    return {"version": fw["version"], "url": url, "size": size, "sha256": digest.lower(), "sig": sig}


def verify(fw: dict, key_b64: str) -> None:
    try:
        key = binascii.a2b_base64(key_b64)
    except ValueError:
        raise OtaError("fw_key is not base64")
    if not ed25519.verify(key, message(fw["version"], fw["size"], fw["sha256"]), fw["sig"]):
        raise OtaError("bad signature")


def _split_url(url: str) -> tuple:
    tls = url.startswith("https://")
    rest = url[8:] if tls else url[7:]
    slash = rest.find("/")
    hostport, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    host, port = hostport, 443 if tls else 80
    if ":" in hostport:
        host, p = hostport.rsplit(":", 1)
        port = int(p)
    return tls, host, port, path


def _open(url: str, ssl_ctx) -> socket.socket:  # type: ignore[no-untyped-def]
    """GET url; the socket positioned at the body."""
    tls, host, port, path = _split_url(url)
    addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
    raw = socket.socket()
    raw.settimeout(HTTP_TIMEOUT_S)
    try:
        raw.connect(addr)
        s = raw
        if tls:
            if ssl_ctx is None:
                raise OtaError("https needs the CA of the device's TLS config")
            s = ssl_ctx.wrap_socket(raw, server_hostname=host)
        s.write(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())  # type: ignore[attr-defined]
        status = s.readline()  # type: ignore[attr-defined]
        if not status.startswith(b"HTTP/1.") or status[9:12] != b"200":
            raise OtaError("fetch answered %s" % status[:40].decode().strip())
        for _ in range(STREAM_LIMIT):  # headers
            if s.readline() in (b"\r\n", b"\n", b""):  # type: ignore[attr-defined]
                break
        return s
    except (OSError, ValueError) as exc:
        raw.close()
        raise OtaError("fetch failed: %r" % (exc,))
    except OtaError:
        raw.close()
        raise


def rmtree(path: str) -> None:
    try:
        entries = list(os.ilistdir(path))  # type: ignore[attr-defined]
    except OSError:
        return
    for entry in entries:
        child = path + "/" + entry[0]
        if entry[1] == 0x4000:
            rmtree(child)
        else:
            os.remove(child)
    os.rmdir(path)


def _makedirs(path: str) -> None:
    at = ""
    for part in path.split("/"):
        at = at + "/" + part if at or path.startswith("/") else part
        if not part:
            continue
        try:
            os.mkdir(at)
        except OSError:
            pass  # exists


class _Reader:
    """Exactly `size` bytes from the socket, hashed as they pass."""

    def __init__(self, sock, size: int) -> None:  # type: ignore[no-untyped-def]
        self.sock = sock
        self.left = size
        self.sha = hashlib.sha256()

    def read_into(self, mv: memoryview) -> None:
        n = len(mv)
        if n > self.left:
            raise OtaError("image longer than its size")
        got = 0
        while got < n:
            r = self.sock.readinto(mv[got:])
            if not r:
                raise OtaError("image shorter than its size")
            got += r
        self.sha.update(mv)
        self.left -= n


def _safe_name(name: str) -> str:
    if name.startswith("./"):
        name = name[2:]
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise OtaError("image holds a bad path: %s" % name[:40])
    return name.rstrip("/")


def unpack(src: _Reader, dest: str) -> int:
    """Write a ustar stream's regular files under `dest`; the number of files."""
    block = bytearray(512)
    mv = memoryview(block)
    files = 0
    while src.left >= 512:
        src.read_into(mv)
        if not any(block):
            continue  # the two zero blocks that end the archive, and any padding
        name = bytes(block[0:100]).split(b"\0")[0].decode()
        prefix = bytes(block[345:500]).split(b"\0")[0].decode()
        if prefix:
            name = prefix + "/" + name
        name = _safe_name(name)
        size_field = bytes(block[124:136]).split(b"\0")[0].strip()
        size = int(size_field, 8) if size_field else 0
        kind = block[156]
        blocks = (size + 511) // 512
        if kind == 0x35:  # '5': a directory
            _makedirs(dest + "/" + name)
        elif kind in (0, 0x30):  # '0' or NUL: a regular file
            slash = name.rfind("/")
            if slash > 0:
                _makedirs(dest + "/" + name[:slash])
            with open(dest + "/" + name, "wb") as f:
                left = size
                for _ in range(blocks):
                    src.read_into(mv)
                    f.write(mv[: min(512, left)])
                    left -= 512
            files += 1
        else:
            for _ in range(blocks):  # links and the like: skipped, never followed
                src.read_into(mv)
    if src.left:
        raise OtaError("image size is not whole tar blocks")
    return files


def install(cfg: dict, fw: dict, ssl_ctx=None) -> str:  # type: ignore[no-untyped-def]
    """Fetch, check and stage the announced image; switch the next boot to it. Its version."""
    key = cfg.get("fw_key")
    if not key:
        raise OtaError("this device has no fw_key: it takes no updates")
    verify(fw, key)
    current = otaboot.state.get("slot") or ""
    slot = "b" if current == "a" else "a"
    dest = otaboot.slot_dir(slot)
    rmtree(dest)
    _makedirs(dest)
    try:
        sock = _open(fw["url"], ssl_ctx)
        try:
            reader = _Reader(sock, fw["size"])
            files = unpack(reader, dest)
            try:
                more = sock.read(1)  # type: ignore[attr-defined]
            except OSError:
                more = b""
            if more:
                raise OtaError("image longer than its size")
        except (OSError, ValueError) as exc:
            raise OtaError("fetch failed: %r" % (exc,))
        finally:
            sock.close()
        got = binascii.hexlify(reader.sha.digest()).decode()
        if got != fw["sha256"]:
            raise OtaError("sha256 mismatch")
        if not files:
            raise OtaError("image holds no files")
    except OtaError:
        rmtree(dest)
        raise
    otaboot.install(slot, fw["version"])
    return slot
