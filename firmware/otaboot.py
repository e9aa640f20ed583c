"""Which firmware image a boot runs, and the roll-back of an update that never proved healthy.

Flash holds the base image (this tree) and two update slots, `fw_a` and `fw_b`. `ota.json`
says which one runs; lib/ota.py writes a verified image into the slot not running and then
points `ota.json` at it (that one small write is the switch), marked `pending`. Every boot of a
pending image is counted here, before anything else is imported; the image's link calls
`healthy()` once it has connected and the broker has answered its subscription. An image that
has not by its `MAX_BOOTS`th boot is rolled back to the image it replaced, and its version is
never installed again. A battery node's wake from deep sleep is a boot on the board too; one
that reaches the link (`started(woke=True)`) is counted as a wake instead, with a budget of
`MAX_WAKES`, so a good image is not rolled back because the broker was away for three wakes. This module and main.py are the boot loader: updates never replace them.
"""

import json
import os
import sys

BASE_VERSION = "0.1.0"  # the image flashed with the board
MAX_BOOTS = 3  # boots a new image gets to prove healthy
MAX_WAKES = 48  # deep-sleep wakes it gets (4 h at 300 s) when it starts but cannot connect

state: dict = {}
_counted = False  # this process's boot was counted and not yet classified by started()


def root() -> str:
    """Flash: the board's filesystem root; on the Unix port HOF_FW_STATE stands in for it."""
    getenv = getattr(os, "getenv", None)
    return (getenv("HOF_FW_STATE") if getenv else None) or ("" if sys.platform == "esp32" else ".")


def slot_dir(slot: str) -> str:
    return root() + "/fw_" + slot


def _path() -> str:
    return root() + "/ota.json"


def load() -> dict:
    try:
        with open(_path()) as f:
            st = json.load(f)
        if isinstance(st, dict):
            return st
    except (OSError, ValueError):
        pass
    return {}


def save(st: dict) -> None:
    """Write whole, then rename over the old file: a power cut leaves one or the other."""
    tmp = _path() + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.rename(tmp, _path())


def version() -> str:
    return state.get("version") or BASE_VERSION


def select() -> dict:
    """Count this boot of a pending image (rolling back past MAX_BOOTS); put the image to run
    first on sys.path. Called by main.py before it imports anything else."""
    global state, _counted
    st = load()
    if st.get("pending"):
        boots = int(st.get("boots", 0)) + 1
        if boots > MAX_BOOTS or int(st.get("wakes", 0)) > MAX_WAKES:
            bad = st.get("version", "?")
            print("ota", "rollback", bad, "->", st.get("prev_version") or BASE_VERSION)
            st = {
                "slot": st.get("prev_slot", ""),
                "version": st.get("prev_version") or BASE_VERSION,
                "bad": (st.get("bad") or []) + [bad],
                "rolled_back": bad,
            }
        else:
            st["boots"] = boots
            _counted = True
            print("ota", "trial", st.get("version"), "boot=%d/%d" % (boots, MAX_BOOTS))
        save(st)
    slot = st.get("slot")
    if slot:
        sys.path.insert(0, slot_dir(slot))
    state = st
    return st


def install(slot: str, new_version: str) -> None:
    """Make the image just written to `slot` the one the next boot runs, on trial."""
    st = load()
    save(
        {
            "slot": slot,
            "version": new_version,
            "pending": True,
            "boots": 0,
            "prev_slot": st.get("slot", ""),
            "prev_version": st.get("version") or BASE_VERSION,
            "bad": st.get("bad") or [],
        }
    )


def crashed(exc: Exception) -> None:
    """The image failed outside the node's own handling. On the board an exception out of
    main.py would stop at the REPL, before any watchdog runs: reset instead, so the boot is
    counted and an image on trial is rolled back. The Unix port re-raises: the process ends
    with the trace, and its runner (a test) starts it again."""
    if sys.platform != "esp32":
        raise exc
    sys.print_exception(exc)  # type: ignore[attr-defined]
    import time

    import machine  # the boot loader's own reset: the image's HAL may be what failed

    time.sleep(10)  # not a tight loop of resets; time to read the trace on the console
    machine.reset()


def started(woke: bool) -> None:
    """The image got as far as its link. On a wake from deep sleep, this boot was not a reset:
    it counts as a wake, not against MAX_BOOTS. Only the first call after select() counts."""
    global _counted
    if _counted and woke and state.get("pending"):
        state["boots"] = max(0, int(state.get("boots", 1)) - 1)
        state["wakes"] = int(state.get("wakes", 0)) + 1
        save(state)
    _counted = False


def healthy() -> bool:
    """The running image has proved itself: keep it. True when this changed anything."""
    if not state.get("pending"):
        return False
    state["pending"] = False
    state["boots"] = 0
    state["wakes"] = 0
    state.pop("rolled_back", None)
    save(state)
    print("ota", "healthy", version())
    return True
