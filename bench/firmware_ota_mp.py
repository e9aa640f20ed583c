"""Run on MicroPython (bench/firmware_ota.py starts it): time the firmware's Ed25519 verify,
its SHA-512, and unpacking + hashing an update image from a file.

micropython bench/firmware_ota_mp.py FIRMWARE_DIR CASE_JSON IMAGE RUNS
"""

import gc
import json
import os
import sys
import time

sys.path.insert(0, sys.argv[1])

from binascii import unhexlify

from lib import ed25519, ota

with open(sys.argv[2]) as f:
    case = json.load(f)
pk, msg, sig = unhexlify(case["pk"]), unhexlify(case["msg"]), unhexlify(case["sig"])
runs = int(sys.argv[4])
times = []
for _ in range(runs):
    gc.collect()
    t0 = time.ticks_us()
    ok = ed25519.verify(pk, msg, sig)
    times.append(time.ticks_diff(time.ticks_us(), t0))
    assert ok
times.sort()
print("verify_us", times[len(times) // 2], times[0], times[-1])
t0 = time.ticks_us()
for _ in range(10):
    ed25519.sha512(msg)
print("sha512_us", time.ticks_diff(time.ticks_us(), t0) // 10, len(msg))
gc.collect()
free0 = gc.mem_free()
ed25519.verify(pk, msg, sig)
print("verify_garbage_bytes", free0 - gc.mem_free())  # made and dropped: gc reclaims it


size = os.stat(sys.argv[3])[6]
dest = sys.argv[3] + ".d"
ota._makedirs(dest)
with open(sys.argv[3], "rb") as f:  # a file reads into a buffer as the socket does
    t0 = time.ticks_us()
    reader = ota._Reader(f, size)
    files = ota.unpack(reader, dest)
    reader.sha.digest()
    print("unpack_us", time.ticks_diff(time.ticks_us(), t0), size, files)
