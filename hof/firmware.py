"""Signed firmware updates for the devices: make the signing key, pack, sign and verify images.

An image is a ustar archive of the firmware tree (`firmware/` without its boot loader,
main.py and otaboot.py). The estate's Ed25519 key signs `message(version, size, sha256)`;
the device holds only the public key (`hof provision --fw-key`), checks the signature with
firmware/lib/ed25519.py before fetching a byte, then the image's size and SHA-256 as it
streams in (firmware/lib/ota.py). `sign` prints the `firmware` object for a device's
retained `config`; `announce` merges it into each device's retained config (its rooms and
other keys kept: the platform learns rooms from it). docs/firmware.md, "Firmware updates".
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hof.errors import HofError
from hof.settings import MqttSettings, Settings
from hof.topic import Channel, Topic
from hof.waiting import within

__all__ = [
    "BOOT_LOADER",
    "FirmwareError",
    "Manifest",
    "add_arguments",
    "announce",
    "keygen",
    "message",
    "pack",
    "run",
    "sign",
    "verify",
]

# Files an update never replaces: they choose and roll back images (firmware/otaboot.py).
BOOT_LOADER = frozenset({"main.py", "otaboot.py"})
MAX_SIZE = 512 * 1024  # as firmware/lib/ota.py accepts


class FirmwareError(HofError):
    """An image, key or manifest that does not check out; str() says which and why."""


class Manifest(BaseModel):
    """The `firmware` object of a device's config (CONTRACT.md, config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+){0,7}$", max_length=32)]
    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=512)]
    size: Annotated[int, Field(gt=0, le=MAX_SIZE)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    sig: str


def message(version: str, size: int, sha256: str) -> bytes:
    """What the key signs; firmware/lib/ota.py builds the same bytes."""
    return f"hof-fw/1\n{version}\n{size}\n{sha256}\n".encode()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def keygen(stem: Path) -> tuple[Path, Path]:
    """A new signing key: `STEM.key` (PKCS#8 PEM, owner-only) and `STEM.pub` (base64 of the
    32-byte public key, as a device's `fw_key`). Never overwrites a key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key_path, pub_path = stem.with_suffix(".key"), stem.with_suffix(".pub")
    for path in (key_path, pub_path):
        if path.exists():
            raise FirmwareError(f"{path} exists: a signing key is never overwritten")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    stem.parent.mkdir(parents=True, exist_ok=True)
    _write_private(key_path, pem)
    pub_path.write_text(base64.b64encode(raw).decode() + "\n")
    return key_path, pub_path


def pack(src: Path, out: Path) -> int:
    """Write the image of the firmware tree at `src` (its .py files but the boot loader),
    reproducibly: sorted, no owners, no times. Returns its size in bytes."""
    files = sorted(
        p
        for p in src.rglob("*.py")
        if p.relative_to(src).as_posix() not in BOOT_LOADER
        and not any(part.startswith(".") or part == "__pycache__" for part in p.parts)
    )
    if not files:
        raise FirmwareError(f"no firmware modules under {src}")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(src).as_posix())
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    image = buf.getvalue()
    if len(image) > MAX_SIZE:
        raise FirmwareError(f"image is {len(image)} bytes; devices take at most {MAX_SIZE}")
    out.write_bytes(image)
    return len(image)


def _load_key(key: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        loaded = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise FirmwareError(f"cannot read the signing key {key}: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise FirmwareError(f"{key} is not an Ed25519 private key")
    return loaded


def sign(image: Path, key: Path, version: str, url: str) -> Manifest:
    """The signed announcement of `image` as `version`, to be fetched from `url`."""
    data = image.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    private = _load_key(key)
    sig = private.sign(message(version, len(data), digest))
    try:
        return Manifest(
            version=version,
            url=url,
            size=len(data),
            sha256=digest,
            sig=base64.b64encode(sig).decode(),
        )
    except ValidationError as exc:
        raise FirmwareError(f"cannot announce this image: {exc}") from exc


def verify(image: Path, public_key: str, manifest: Manifest) -> None:
    """Check `image` against `manifest` as a device would; FirmwareError says what fails."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        sig = base64.b64decode(manifest.sig, validate=True)
    except ValueError as exc:
        raise FirmwareError(f"key or signature is not base64 of the right size: {exc}") from exc
    try:
        pub.verify(sig, message(manifest.version, manifest.size, manifest.sha256))
    except InvalidSignature as exc:
        raise FirmwareError("bad signature: not signed by this key") from exc
    data = image.read_bytes()
    if len(data) != manifest.size:
        raise FirmwareError(f"size {len(data)} differs from the signed {manifest.size}")
    if hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise FirmwareError("sha256 differs from the signed one: the image was changed")


async def announce(
    settings: MqttSettings,
    manifest: Manifest,
    devices: Sequence[tuple[str, str]],
    *,
    timeout_s: float = 10.0,
    settle_s: float = 1.0,
) -> list[str]:
    """Merge `manifest` into each (home, device)'s retained config and publish it back,
    retained, QoS 1, each acknowledged. Other keys stay as they were. Returns the topics."""
    from hof.mqtt import Link

    topics = [str(Topic(home, device, Channel.CONFIG)) for home, device in devices]
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=len(topics) + 16)
    link = Link(
        settings,
        name="firmware-announcer",
        client_id=f"hof-firmware-{secrets.token_hex(4)}",
        queue=queue,
        subscriptions=[(t, 1) for t in topics],
        manual_ack=False,
    )
    task = asyncio.create_task(link.run())
    try:
        await within(link.subscribed.wait(), timeout_s)
        current: dict[str, dict[str, Any]] = {}
        # A retained config follows the SUBACK at once; wait a moment for all of them.
        loop = asyncio.get_running_loop()
        until = loop.time() + settle_s
        while (left := until - loop.time()) > 0 and len(current) < len(topics):
            try:
                delivery = await within(link.get(), left)
            except TimeoutError:
                break
            try:
                doc = json.loads(delivery.payload)
            except ValueError:
                doc = None
            current[delivery.topic] = doc if isinstance(doc, dict) else {}
        for topic in topics:
            merged = {**current.get(topic, {}), "firmware": manifest.model_dump()}
            await link.publish(topic, json.dumps(merged).encode(), qos=1, retain=True)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return topics


def _read_manifest(path: Path) -> Manifest:
    try:
        doc = json.loads(path.read_text())
        return Manifest.model_validate(doc.get("firmware", doc))
    except (OSError, ValueError, AttributeError) as exc:
        raise FirmwareError(f"{path} is not a firmware manifest: {exc}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Typical release: hof firmware keygen --out keys/fw (once; keep keys/fw.key offline), "
        "hof firmware pack --out fw-1.4.0.tar, hof firmware sign fw-1.4.0.tar --key "
        "keys/fw.key --version 1.4.0 --url http://updates.example/fw-1.4.0.tar > "
        "announce.json, hof firmware announce announce.json --home H --device D."
    )
    sub = parser.add_subparsers(dest="firmware_command", required=True, metavar="ACTION")
    p = sub.add_parser(
        "keygen",
        help="make the estate's Ed25519 signing key (STEM.key owner-only, STEM.pub)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="STEM", help="e.g. keys/fw")
    p = sub.add_parser("pack", help="pack the firmware tree into an image (ustar)")
    p.add_argument("--src", type=Path, default=Path("firmware"), help="default: firmware")
    p.add_argument("--out", type=Path, required=True, help="the image file to write")
    p = sub.add_parser(
        "sign",
        help="sign an image; print the config's `firmware` object that announces it",
    )
    p.add_argument("image", type=Path)
    p.add_argument("--key", type=Path, required=True, help="the private key (STEM.key)")
    p.add_argument("--version", required=True, help="dotted numbers, newer than the fleet's")
    p.add_argument("--url", required=True, help="where devices fetch it (http:// or https://)")
    p = sub.add_parser(
        "announce",
        help="publish a signed announcement to devices (merged into their retained config)",
    )
    p.add_argument("manifest", type=Path, help="what `sign` printed")
    p.add_argument("--home", required=True)
    p.add_argument("--device", required=True, action="append", help="repeat for several")
    p = sub.add_parser("verify", help="check an image against its announcement, as a device")
    p.add_argument("image", type=Path)
    p.add_argument("--pub", type=Path, required=True, help="the public key (STEM.pub)")
    p.add_argument("--manifest", type=Path, required=True, help="what `sign` printed")


def run(args: argparse.Namespace, settings: Settings) -> int:
    action = args.firmware_command
    if action == "keygen":
        key, pub = keygen(args.out)
        print(f"private key {key} (owner-only: keep it off the servers); public key {pub}")
    elif action == "pack":
        size = pack(args.src, args.out)
        print(f"{args.out}: {size} bytes")
    elif action == "sign":
        if not re.fullmatch(r"[0-9]+(\.[0-9]+){0,7}", args.version):
            raise FirmwareError("version must be dotted numbers, e.g. 1.4.0")
        manifest = sign(args.image, args.key, args.version, args.url)
        json.dump({"firmware": manifest.model_dump()}, sys.stdout)
        print()
    elif action == "announce":
        manifest = _read_manifest(args.manifest)
        targets = [(args.home, device) for device in args.device]
        for topic in asyncio.run(announce(settings.mqtt, manifest, targets)):
            print(f"announced {manifest.version} on {topic} (retained)")
    else:
        verify(args.image, args.pub.read_text().strip(), _read_manifest(args.manifest))
        print(f"{args.image}: signature, size and sha256 check out")
    return 0
