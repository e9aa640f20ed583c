"""Fixtures of the rules engine's end-to-end tests (a module's own fixture of the same name
takes precedence)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rules_publisher import Publisher

from hof.alertstore.api import AlertStore
from hof.settings import Settings


@pytest.fixture
def publisher(settings: Settings) -> Iterator[Publisher]:
    """Devices' messages, published with the platform's credential."""
    made = Publisher(settings)
    yield made
    made.close()


@pytest.fixture
def store(settings: Settings) -> Iterator[AlertStore]:
    """The session stack's alert store."""
    opened = AlertStore.from_settings(settings)
    yield opened
    opened.close()
