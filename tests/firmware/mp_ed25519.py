"""Run on MicroPython: the firmware's Ed25519 verifier and SHA-512 against known answers.

micropython mp_ed25519.py FIRMWARE_DIR CASES_JSON
CASES_JSON: [{"pk": hex, "msg": hex, "sig": hex, "ok": bool}, ...]; prints one line a case.
"""

import json
import sys

sys.path.insert(0, sys.argv[1])

from binascii import hexlify, unhexlify

from lib import ed25519

with open(sys.argv[2]) as f:
    cases = json.load(f)
# FIPS 180-2 / RFC 6234 SHA-512 answers: one block, two blocks, the 111/112-byte padding edge
print("sha512", hexlify(ed25519.sha512(b"abc")).decode())
print("sha512", hexlify(ed25519.sha512(b"a" * 111)).decode())
print("sha512", hexlify(ed25519.sha512(b"a" * 112)).decode())
print("sha512", hexlify(ed25519.sha512(b"a" * 300)).decode())
for i, case in enumerate(cases):
    got = ed25519.verify(unhexlify(case["pk"]), unhexlify(case["msg"]), unhexlify(case["sig"]))
    print("case", i, "ok" if got == case["ok"] else "WRONG")
print("DONE")
