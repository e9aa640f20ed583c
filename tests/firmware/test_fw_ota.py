"""Signed firmware updates on the MicroPython Unix port: the verifier against RFC 8032 and
`cryptography`, and a node taking (or refusing) an image announced on its retained config,
fetched from a local HTTP server, with a restart between boots as a reset would do."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fw_support import *  # noqa: F403  (pytest fixtures, by name)
from fw_support import FIRMWARE, MICROPYTHON, Firmware, Subscriber, until

from hof.firmware import FirmwareError, Manifest, announce, keygen, message, pack, sign, verify
from hof.settings import Settings

HERE = Path(__file__).parent
WORLD = {"sht4x": {"temp": [[0, 18.0]], "rh": [[0, 70.0]]}}
L = 2**252 + 27742317777372353535851937790883648493

# RFC 8032, 7.1: TEST 1, 2, 3 and SHA(abc): (secret key, public key, message, signature)
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
        "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
        "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290"
        "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        hashlib.sha512(b"abc").hexdigest(),
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ec"
        "fdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
]


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for sk_hex, pk_hex, msg_hex, sig_hex in RFC8032:
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sk_hex))
        # the vectors as typed here are the RFC's: cryptography derives and signs the same
        assert _raw_public(key).hex() == pk_hex
        assert key.sign(bytes.fromhex(msg_hex)).hex() == sig_hex
        cases.append({"pk": pk_hex, "msg": msg_hex, "sig": sig_hex, "ok": True})
    for n in (0, 1, 63, 64, 111, 112, 127, 128, 200, 1000):
        key = Ed25519PrivateKey.generate()
        msg = os.urandom(n)
        sig = key.sign(msg)
        pk = _raw_public(key)
        cases.append({"pk": pk.hex(), "msg": msg.hex(), "sig": sig.hex(), "ok": True})
        bad = bytearray(sig)
        bad[n % 64] ^= 0x10
        cases.append({"pk": pk.hex(), "msg": msg.hex(), "sig": bad.hex(), "ok": False})
        cases.append({"pk": pk.hex(), "msg": (msg + b"!").hex(), "sig": sig.hex(), "ok": False})
        other = _raw_public(Ed25519PrivateKey.generate())
        cases.append({"pk": other.hex(), "msg": msg.hex(), "sig": sig.hex(), "ok": False})
        # the same signature with s + L: equal modulo L, refused (RFC 8032's s < L check)
        s = int.from_bytes(sig[32:], "little") + L
        if s < 2**256:
            malleable = sig[:32] + s.to_bytes(32, "little")
            cases.append({"pk": pk.hex(), "msg": msg.hex(), "sig": malleable.hex(), "ok": False})
    return cases


def test_the_verifier_agrees_with_rfc8032_and_cryptography(tmp_path: Path) -> None:
    cases = _cases()
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    done = subprocess.run(
        [MICROPYTHON, str(HERE / "mp_ed25519.py"), str(FIRMWARE), str(tmp_path / "cases.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [ln.split()[1] for ln in lines if ln.startswith("sha512")] == [
        hashlib.sha512(m).hexdigest() for m in (b"abc", b"a" * 111, b"a" * 112, b"a" * 300)
    ]
    verdicts = [ln for ln in lines if ln.startswith("case")]
    assert len(verdicts) == len(cases)
    assert all(ln.endswith(" ok") for ln in verdicts), "\n".join(verdicts)
    assert lines[-1] == "DONE"


def test_hof_firmware_signs_and_verifies(tmp_path: Path) -> None:
    key, pub = keygen(tmp_path / "keys" / "fw")
    assert key.stat().st_mode & 0o777 == 0o600
    image = tmp_path / "fw.tar"
    pack(FIRMWARE, image)
    manifest = sign(image, key, "1.4.0", "http://127.0.0.1:1/fw.tar")
    verify(image, pub.read_text().strip(), manifest)
    assert manifest.size == image.stat().st_size
    with pytest.raises(FirmwareError, match="never overwritten"):
        keygen(tmp_path / "keys" / "fw")
    data = bytearray(image.read_bytes())
    data[600] ^= 1
    image.write_bytes(bytes(data))
    with pytest.raises(FirmwareError, match="sha256"):
        verify(image, pub.read_text().strip(), manifest)
    _, other = keygen(tmp_path / "keys" / "other")
    with pytest.raises(FirmwareError, match="bad signature"):
        verify(image, other.read_text().strip(), manifest)


# -- a node taking updates ----------------------------------------------------------------------


@dataclass
class Updates:
    """A local HTTP server for images, the estate's signing key, and the requests it saw."""

    root: Path
    port: int
    key: Path
    pub: str
    requests: list[str] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def image(self, name: str, edit: Callable[[Path], None] | None = None) -> Path:
        """An image of the firmware tree (edited in a copy first, if asked)."""
        src = FIRMWARE
        if edit is not None:
            src = self.root.parent / f"src-{name}"
            shutil.copytree(
                FIRMWARE, src, ignore=shutil.ignore_patterns(".mypy_cache", "__pycache__")
            )
            edit(src)
        path = self.root / name
        pack(src, path)
        return path

    def announce(self, image: Path, version: str, key: Path | None = None) -> dict[str, Any]:
        manifest = sign(image, key or self.key, version, self.url(image.name))
        return {"firmware": manifest.model_dump()}


@pytest.fixture
def updates(tmp_path: Path) -> Iterator[Updates]:
    root = tmp_path / "www"
    root.mkdir()
    key, pub = keygen(tmp_path / "keys" / "fw")
    seen: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            seen.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Updates(root, server.server_address[1], key, pub.read_text().strip(), seen)
    server.shutdown()
    server.server_close()
    thread.join(5)


def _status(sub: Subscriber) -> dict[str, Any]:
    found = sub.on("/status")
    return json.loads(found[-1][1]) if found else {}


def _exited(node: Firmware, timeout_s: float = 30) -> int:
    try:
        return node.exited(timeout_s)  # its last lines read too (CI: an assert on them raced)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the node did not restart:\n{node.output()}") from None


def _reboot(node: Firmware) -> None:
    """Start the node again, as the chip would after its reset (the old process has ended)."""
    node.stop()
    node.start()


def _ota_state(node: Firmware) -> dict[str, Any]:
    path = node.workdir / "ota.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _online(node: Firmware, sub: Subscriber, fw: str) -> bool:
    st = _status(sub)
    return st.get("state") == "online" and st.get("fw") == fw


def _mark_image(version: str) -> Callable[[Path], None]:
    def edit(src: Path) -> None:
        with (src / "app.py").open("a") as f:
            f.write(f'\nprint("image", "{version}")\n')

    return edit


def test_a_signed_update_is_fetched_checked_and_runs_after_the_restart(
    firmware: Callable[..., Firmware],
    subscriber: Callable[..., Subscriber],
    updates: Updates,
    settings: Settings,
) -> None:
    node = firmware("env", WORLD, interval_s=1, fw_key=updates.pub)
    sub = subscriber(node.topic("#"))
    sub.publish(node.topic("config"), json.dumps({"rooms": {node.device: "hall"}}), retain=True)
    node.start()
    assert until(lambda: _online(node, sub, "0.1.0")), node.output()
    image = updates.image("fw-1.4.0.tar", _mark_image("1.4.0"))
    manifest = Manifest.model_validate(updates.announce(image, "1.4.0")["firmware"])
    asyncio.run(announce(settings.mqtt, manifest, [(node.home, node.device)]))
    assert until(lambda: b"firmware" in sub.on("/config")[-1][1], 5)
    config = json.loads(sub.on("/config")[-1][1])
    assert config["rooms"] == {node.device: "hall"}  # merged into the retained config
    assert config["firmware"]["version"] == "1.4.0"
    assert _exited(node) == 75, node.output()  # the reset after the install
    assert updates.requests == ["/fw-1.4.0.tar"]
    assert until(lambda: _status(sub).get("fw_update") == "installed 1.4.0, restarting", 5)
    state = _ota_state(node)
    assert state["version"] == "1.4.0"
    assert state["pending"] is True
    assert (node.workdir / "fw_a" / "lib" / "link.py").exists()

    _reboot(node)
    node.wait_line("image 1.4.0")  # the new image's own code runs
    assert until(lambda: _online(node, sub, "1.4.0")), node.output()
    assert until(lambda: _ota_state(node).get("pending") is False), node.output()
    count = len(sub.on("/reading"))
    assert until(lambda: len(sub.on("/reading")) > count + 1), node.output()
    assert updates.requests == ["/fw-1.4.0.tar"]  # the retained announcement: not fetched again


def test_a_bad_signature_is_refused_and_nothing_changes(
    firmware: Callable[..., Firmware],
    subscriber: Callable[..., Subscriber],
    updates: Updates,
    tmp_path: Path,
) -> None:
    node = firmware("env", WORLD, interval_s=1, fw_key=updates.pub)
    sub = subscriber(node.topic("#"))
    node.start()
    assert until(lambda: _online(node, sub, "0.1.0")), node.output()
    image = updates.image("fw-1.4.0.tar")
    rogue, _ = keygen(tmp_path / "rogue")
    announcement = updates.announce(image, "1.4.0", key=rogue)
    sub.publish(node.topic("config"), json.dumps(announcement), retain=True)
    assert until(lambda: "fw_update" in _status(sub)), node.output()
    assert _status(sub)["fw_update"] == "refused 1.4.0: bad signature"
    assert _status(sub)["fw"] == "0.1.0"
    assert updates.requests == []  # refused before a byte was fetched
    assert not _ota_state(node)
    assert not (node.workdir / "fw_a").exists()
    assert node.proc is not None
    assert node.proc.poll() is None  # still running the old image
    node.wait_line("ota refused 1.4.0 bad signature")


def test_a_tampered_image_is_refused(
    firmware: Callable[..., Firmware], subscriber: Callable[..., Subscriber], updates: Updates
) -> None:
    node = firmware("env", WORLD, interval_s=1, fw_key=updates.pub)
    sub = subscriber(node.topic("#"))
    node.start()
    assert until(lambda: _online(node, sub, "0.1.0")), node.output()
    image = updates.image("fw-1.4.0.tar")
    announcement = updates.announce(image, "1.4.0")
    data = bytearray(image.read_bytes())
    at = data.find(b"def run(")
    data[at : at + 8] = b"def ruin"  # same size, one changed word
    image.write_bytes(bytes(data))
    sub.publish(node.topic("config"), json.dumps(announcement), retain=True)
    assert until(lambda: "fw_update" in _status(sub)), node.output()
    assert _status(sub)["fw_update"] == "refused 1.4.0: sha256 mismatch"
    assert updates.requests == ["/fw-1.4.0.tar"]
    assert not _ota_state(node)
    assert not (node.workdir / "fw_a").exists()  # the staged files are gone
    assert node.proc is not None
    assert node.proc.poll() is None


def test_an_image_that_never_boots_healthy_is_rolled_back(
    firmware: Callable[..., Firmware], subscriber: Callable[..., Subscriber], updates: Updates
) -> None:
    node = firmware("env", WORLD, interval_s=1, fw_key=updates.pub)
    sub = subscriber(node.topic("#"))
    node.start()
    assert until(lambda: _online(node, sub, "0.1.0")), node.output()

    def broken(src: Path) -> None:
        with (src / "app.py").open("a") as f:
            f.write('\nraise RuntimeError("this image cannot start")\n')

    image = updates.image("fw-1.4.1.tar", broken)
    sub.publish(node.topic("config"), json.dumps(updates.announce(image, "1.4.1")), retain=True)
    assert _exited(node) == 75, node.output()
    for boot in range(1, 4):  # each trial boot of the new image dies
        _reboot(node)
        assert _exited(node) not in (0, 75), node.output()
        assert _ota_state(node)["boots"] == boot
        assert "this image cannot start" in node.output()
    _reboot(node)  # past MAX_BOOTS: back to the image it replaced
    node.wait_line("ota rollback 1.4.1 -> 0.1.0")
    assert until(lambda: "rolled back" in _status(sub).get("fw_update", "")), node.output()
    st = _status(sub)
    assert st["fw"] == "0.1.0"
    assert st["state"] == "online"
    assert "1.4.1" in st["fw_update"]
    state = _ota_state(node)
    assert state["version"] == "0.1.0"
    assert state["bad"] == ["1.4.1"]
    assert not state.get("pending")
    time.sleep(1)
    assert updates.requests == ["/fw-1.4.1.tar"]  # the announcement still stands: not retaken
    assert node.proc is not None
    assert node.proc.poll() is None


def test_manifest_fields_are_checked() -> None:
    with pytest.raises(ValueError, match="version"):
        Manifest(version="1.4.0-rc1", url="http://x/y", size=1, sha256="0" * 64, sig="")
    assert message("1.4.0", 10, "ab") == b"hof-fw/1\n1.4.0\n10\nab\n"


def test_a_wake_from_deep_sleep_is_not_a_failed_boot(tmp_path: Path) -> None:
    """On a board a battery node's wake runs main.py again: reaching the link on a wake
    counts against MAX_WAKES, not MAX_BOOTS, so a broker outage does not roll a good image
    back; a crash before the link still counts as a boot."""
    (tmp_path / "ota.json").write_text(
        json.dumps({"slot": "a", "version": "1.4.0", "pending": True, "boots": 0, "prev_slot": ""})
    )
    script = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); import otaboot\n"
        "for i in range(10):\n"
        "    otaboot.select(); otaboot.started(True)\n"  # ten wakes that reach the link
        "otaboot.select()\n"  # a boot that crashes before it
        "print(json.dumps(otaboot.state))\n"
    )
    done = subprocess.run(
        [MICROPYTHON, "-c", script, str(FIRMWARE)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "HOF_FW_STATE": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout.splitlines()[-1])
    assert state["version"] == "1.4.0"
    assert state["pending"] is True
    assert state["wakes"] == 10
    assert state["boots"] == 1


def test_an_image_that_writes_outside_its_slot_is_refused(
    firmware: Callable[..., Firmware], subscriber: Callable[..., Subscriber], updates: Updates
) -> None:
    """Signed is not enough: a path that leaves the slot (`../`) is refused and none of the
    image is kept."""
    node = firmware("env", WORLD, interval_s=1, fw_key=updates.pub)
    sub = subscriber(node.topic("#"))
    node.start()
    assert until(lambda: _online(node, sub, "0.1.0")), node.output()
    image = updates.root / "fw-1.4.0.tar"
    with tarfile.open(image, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (("app.py", b"print('ok')\n"), ("../config.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    sub.publish(node.topic("config"), json.dumps(updates.announce(image, "1.4.0")), retain=True)
    assert until(lambda: "fw_update" in _status(sub)), node.output()
    assert _status(sub)["fw_update"] == "refused 1.4.0: image holds a bad path: ../config.json"
    assert json.loads(node.config_path.read_text())["device"] == node.device  # untouched
    assert not (node.workdir / "fw_a").exists()
    assert not _ota_state(node)


def test_a_device_without_a_key_takes_no_update(
    firmware: Callable[..., Firmware], subscriber: Callable[..., Subscriber], updates: Updates
) -> None:
    node = firmware("env", WORLD, interval_s=1)
    sub = subscriber(node.topic("#"))
    node.start()
    assert until(lambda: _online(node, sub, "0.1.0")), node.output()
    image = updates.image("fw-1.4.0.tar")
    sub.publish(node.topic("config"), json.dumps(updates.announce(image, "1.4.0")), retain=True)
    assert until(lambda: "fw_update" in _status(sub)), node.output()
    assert "no fw_key" in _status(sub)["fw_update"]
    assert updates.requests == []


def test_the_hof_firmware_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hof.cli import main

    stem = tmp_path / "keys" / "fw"
    assert main(["firmware", "keygen", "--out", str(stem)]) == 0
    assert stem.with_suffix(".key").stat().st_mode & 0o777 == 0o600
    image = tmp_path / "fw.tar"
    assert main(["firmware", "pack", "--src", str(FIRMWARE), "--out", str(image)]) == 0
    with tarfile.open(image) as tar:
        names = tar.getnames()
    assert "lib/ota.py" in names
    assert "main.py" not in names  # the boot loader is never replaced
    assert "otaboot.py" not in names
    capsys.readouterr()
    url = "http://127.0.0.1:8000/fw.tar"
    assert (
        main(["firmware", "sign", str(image), "--key", str(stem.with_suffix(".key")),
              "--version", "1.4.0", "--url", url])
        == 0
    )  # fmt: skip
    announce = json.loads(capsys.readouterr().out)
    assert announce["firmware"]["url"] == url
    (tmp_path / "announce.json").write_text(json.dumps(announce))
    verify_args = ["firmware", "verify", str(image), "--pub", str(stem.with_suffix(".pub"))]
    assert main([*verify_args, "--manifest", str(tmp_path / "announce.json")]) == 0
    image.write_bytes(image.read_bytes() + b"\0" * 512)
    assert main([*verify_args, "--manifest", str(tmp_path / "announce.json")]) == 2
    assert "differs from the signed" in capsys.readouterr().err
