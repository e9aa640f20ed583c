"""Firmware update figures on the MicroPython Unix port: one Ed25519 verify (the firmware's
pure-MicroPython lib/ed25519.py), its SHA-512, and unpacking + hashing a whole image.

    .venv/bin/python bench/firmware_ota.py

The signature is made with `cryptography` over the real announcement message of an image
of today's firmware tree (`hof firmware pack`), as a device would check it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hof.firmware import keygen, message, pack, sign  # noqa: E402

MICROPYTHON = str(Path(sys.executable).parent / "micropython")
RUNS = 21


def main() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        image = tmp / "fw.tar"
        pack(REPO / "firmware", image)
        key_path, _ = keygen(tmp / "fw")
        manifest = sign(image, key_path, "1.4.0", "http://127.0.0.1/fw.tar")
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        msg = message(manifest.version, manifest.size, manifest.sha256)
        pk = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        case = {"pk": pk.hex(), "msg": msg.hex(), "sig": key.sign(msg).hex()}
        (tmp / "case.json").write_text(json.dumps(case))
        out = subprocess.run(
            [
                MICROPYTHON,
                str(REPO / "bench" / "firmware_ota_mp.py"),
                str(REPO / "firmware"),
                str(tmp / "case.json"),
                str(image),
                str(RUNS),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout
    figures = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    med, low, high = (int(x) / 1000 for x in figures["verify_us"])
    print(
        f"Ed25519 verify (pure MicroPython, Unix port): median {med:.1f} ms "
        f"(min {low:.1f}, max {high:.1f}) over {RUNS} runs"
    )
    sha_us, sha_len = figures["sha512_us"]
    print(f"SHA-512 of the {sha_len}-byte signed message: {int(sha_us) / 1000:.2f} ms")
    garbage = int(figures["verify_garbage_bytes"][0])
    print(f"garbage made by one verify (short-lived big integers): {garbage / 1024:.0f} KiB")
    unpack_us, size, files = figures["unpack_us"]
    print(
        f"unpack + SHA-256 of a {int(size) // 1024} KiB image ({files} files): "
        f"{int(unpack_us) / 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
