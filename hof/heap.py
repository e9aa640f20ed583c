"""A long-running service's heap, once it has started."""

from __future__ import annotations

import gc

__all__ = ["settle_heap"]


def settle_heap() -> None:
    """Collect, then move every object alive into the collector's permanent generation, so
    that a full collection later walks only what came after.

    What is loaded by start-up (the modules, SQLAlchemy's and pydantic's structures, rebuilt
    state: ~150,000 objects) lives as long as the process. A full collection of it held the
    GIL for 30-140 ms, and a fall's raise, claim or POST waited for all of it
    (bench/notify/fall_path.py counts them; docs/notify.md, Leaner fall path); a worker's
    allocation rate (a few objects a record) would otherwise run one every second or so.
    """
    gc.collect()
    gc.freeze()
