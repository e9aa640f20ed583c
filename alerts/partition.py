"""Which rules-engine worker owns which home: rendezvous (highest random weight) hashing.

Every worker of a pool computes the same owner for a home from the same member list, with no
coordination beyond agreeing on that list (alerts/membership.py). When a member joins or
leaves, only the homes whose highest weight it had (or now has) move: about 1/N of them.
The weight is a keyed hash, not Python's `hash()`, so it is the same in every process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Partition", "owner", "weight"]

_CACHE = 200_000  # owners remembered per view: a large estate's homes, about 20 MB at most


def weight(member: str, home: str) -> int:
    """The member's weight for the home: 64 bits of BLAKE2b over both ids."""
    digest = hashlib.blake2b(f"{member}\x00{home}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(members: Iterable[str], home: str) -> str:
    """The member with the highest weight for the home (ties, which need a 64-bit collision,
    go to the greater id); ValueError for no members."""
    return max(members, key=lambda m: (weight(m, home), m))


@dataclass(frozen=True)
class Partition:
    """One worker's view of its pool: `me` among `members`, and the homes that are its own."""

    me: str
    members: frozenset[str]
    _owns: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.me not in self.members:
            raise ValueError(f"{self.me!r} is not among the members {sorted(self.members)}")

    @classmethod
    def alone(cls, me: str) -> Partition:
        return cls(me, frozenset({me}))

    def owns(self, home: str) -> bool:
        if len(self.members) == 1:
            return True
        found = self._owns.get(home)
        if found is None:
            if len(self._owns) >= _CACHE:
                self._owns.clear()
            found = self._owns[home] = owner(self.members, home) == self.me
        return found
