"""Made-up but plausible registry entries for a simulated estate: address, reference, estate,
ward and patch, the same for the same seed, so the dashboard has homes to show in a demo.

The postcodes use the fictional "ZZ" area, so no simulated home is mistaken for a real one.
"""

from __future__ import annotations

import hashlib

from hof.registry import HomeIn
from simulator.estate import Estate

__all__ = ["PATCHES", "registry_rows"]

# (estate, ward, patch): an officer's patch holds a few estates.
ESTATES = (
    ("Oak Hill", "Northfield", "North"),
    ("Beacon Court", "Northfield", "North"),
    ("Riverside", "Harbour", "South"),
    ("Mill Lane", "Harbour", "South"),
    ("Greenway", "Eastgate", "East"),
    ("Foundry Row", "Westbrook", "West"),
)
PATCHES = tuple(sorted({patch for _, _, patch in ESTATES}))
STREETS = (
    "Oak Road",
    "Elm Close",
    "Station Street",
    "Canal Walk",
    "Victoria Terrace",
    "Chapel Lane",
    "Albert Road",
    "Park View",
    "Hawthorn Way",
    "Cedar Court",
)


def registry_rows(estate: Estate) -> list[HomeIn]:
    """One registry entry per simulated home (telecare where it has a telecare sensor)."""
    rows = []
    for home in estate.homes:
        digest = hashlib.blake2b(f"{estate.seed}/{home.id}".encode(), digest_size=4).digest()
        name, ward, patch = ESTATES[digest[0] % len(ESTATES)]
        street = STREETS[digest[1] % len(STREETS)]
        number = 1 + (home.index * 7 + digest[2]) % 180
        flat = f"Flat {1 + digest[3] % 24}, " if digest[3] % 3 == 0 else ""
        rows.append(
            HomeIn(
                id=home.id,
                reference=f"PR{estate.seed:02d}{home.index + 1:06d}",
                address=f"{flat}{number} {street}, {name}",
                postcode=f"ZZ{1 + digest[0] % 9} {digest[1] % 10}{chr(65 + digest[2] % 26)}"
                f"{chr(65 + digest[3] % 26)}",
                estate=name,
                ward=ward,
                patch=patch,
                telecare=any(device.telecare for device in home.devices),
            )
        )
    return rows
