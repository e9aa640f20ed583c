"""docs/threat-model.md names a test for each threat: each one it names must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def _cited() -> list[tuple[str, str | None]]:
    """(test file, test name or None) for each backticked citation in the doc's tables."""
    text = (ROOT / "docs" / "threat-model.md").read_text()
    cited: list[tuple[str, str | None]] = []
    for row in (line for line in text.splitlines() if line.startswith("|")):
        current: str | None = None
        for ref in re.findall(r"`([^`]+)`", row):
            path, _, name = ref.partition("::")
            if Path(path).name.startswith("test_") and path.endswith(".py"):
                current = path
                cited.append((path, name or None))
            elif ref.startswith("::") and current is not None:
                cited.append((current, ref[2:]))
    return cited


def test_every_cited_test_exists() -> None:
    cited = _cited()
    assert len(cited) > 50
    missing = []
    for path, name in cited:
        source = TESTS / path
        if not source.is_file():
            missing.append(path)
            continue
        defined = rf"^(async )?def {re.escape(name or '')}\("
        if name and not re.search(defined, source.read_text(), re.MULTILINE):
            missing.append(f"{path}::{name}")
    assert not missing, missing
