"""Merging queued records into contract packs: one pack per device topic, 500 records, 16 KiB."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hof.senml import DEFAULT_LIMITS, Record, encode_pack
from hof.topic import Channel, Topic

__all__ = ["Pack", "build_packs"]


@dataclass(frozen=True, slots=True)
class Pack:
    """One message for the uplink and the queue rows it carries."""

    topic: str
    payload: bytes
    ids: list[int]
    records: list[Record]


def build_packs(
    channel: str,
    ids: Sequence[int],
    records: Sequence[Record],
    *,
    max_records: int = DEFAULT_LIMITS.max_records,
    max_bytes: int = DEFAULT_LIMITS.max_bytes,
) -> list[Pack]:
    """Group records by device (order kept) and cut each group to the contract's limits.

    A record already in a pack under the same (name, time) is the same record (its identity):
    it rides along as a row id, but is not sent twice (the platform refuses duplicate records).
    """
    groups: dict[str, tuple[list[int], list[Record], list[int], set[tuple[str, int]]]] = {}
    for row_id, record in zip(ids, records, strict=True):
        kept_ids, kept, spare_ids, seen = groups.setdefault(record.device, ([], [], [], set()))
        if (record.name, record.time_ms) in seen:
            spare_ids.append(row_id)
            continue
        seen.add((record.name, record.time_ms))
        kept_ids.append(row_id)
        kept.append(record)
    packs: list[Pack] = []
    for device, (kept_ids, kept, spare_ids, _seen) in groups.items():
        topic = str(Topic(kept[0].home, device, Channel(channel)))
        device_packs: list[Pack] = []
        # As few packs as the limits allow, of even size (no small leftover pack).
        size = len(encode_pack(device, kept))
        parts = max(-(-len(kept) // max_records), -(-size // int(max_bytes * 0.97)))
        step = -(-len(kept) // parts)
        for start in range(0, len(kept), step):
            _cut(
                topic,
                kept_ids[start : start + step],
                kept[start : start + step],
                max_bytes,
                device_packs,
            )
        if spare_ids:
            last = device_packs[-1]
            device_packs[-1] = Pack(last.topic, last.payload, last.ids + spare_ids, last.records)
        packs += device_packs
    return packs


def _cut(
    topic: str, ids: list[int], records: list[Record], max_bytes: int, out: list[Pack]
) -> None:
    """Cut records into packs of at most `max_bytes`, as full as the size allows."""
    while records:
        count = len(records)
        payload = encode_pack(records[0].device, records)
        while len(payload) > max_bytes and count > 1:
            # Scale by the overshoot (records are of much the same size), then trim.
            count = max(1, min(count - 1, int(count * max_bytes / len(payload) * 0.98)))
            payload = encode_pack(records[0].device, records[:count])
        out.append(Pack(topic, payload, ids[:count], records[:count]))
        ids, records = ids[count:], records[count:]
