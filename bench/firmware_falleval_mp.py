# ruff: noqa: E402  (MicroPython script: %-formatting and path set-up before imports)
"""Run on MicroPython: play every trace in a manifest through the firmware's FallDetector.

    micropython bench/firmware_falleval_mp.py MANIFEST.json [THRESHOLDS_JSON]

Prints one line per trace (name, label, detections) and a final JSON summary line. The
sampling step (decode + detector) is run under micropython.heap_lock(), which raises on any
allocation: this is the proof that the 50 Hz loop allocates nothing.
"""

import array
import json
import sys

_here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
sys.path.insert(0, _here + "/../firmware")

import micropython
from fall import FallDetector


def run_trace(det, data) -> int:  # type: ignore[no-untyped-def]
    found = 0
    n = len(data) // 3
    micropython.heap_lock()
    try:
        for i in range(n):
            j = 3 * i
            if det.update(data[j], data[j + 1], data[j + 2]):
                found += 1
    finally:
        micropython.heap_unlock()
    return found


def main() -> None:
    with open(sys.argv[1]) as f:
        manifest = json.load(f)
    thresholds = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    falls = detected = adl_alarms = 0
    adl_seconds = 0.0
    for item in manifest:
        with open(item["path"], "rb") as f:
            data = array.array("h", f.read())
        det = FallDetector(thresholds)
        found = run_trace(det, data)
        print(item["name"], item["label"], found)
        if item["label"] == "fall":
            falls += 1
            detected += 1 if found else 0
        else:
            adl_alarms += found
            adl_seconds += item["seconds"]
    print(
        json.dumps(
            {
                "falls": falls,
                "detected": detected,
                "sensitivity": detected / falls if falls else 0,
                "adl_hours": adl_seconds / 3600,
                "false_alarms": adl_alarms,
                "false_alarms_per_hour": adl_alarms / (adl_seconds / 3600) if adl_seconds else 0,
            }
        )
    )


main()
