"""A careless installer's per-home settings: a misspelt home id or room name applied to
nothing, a vulnerable tenant's warmer cold bands with it, and nothing said so. The worker
now names each at start, in its log and a gauge."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hofsupport import AlertsProcess, wait_until
from rules_publisher import Publisher

from hof.stack import Stack

pytestmark = pytest.mark.e2e


def test_settings_for_a_home_or_room_no_device_is_in_are_named_at_start(
    stack: Stack, publisher: Publisher, tmp_path: Path, ingest_process: Any
) -> None:
    home = f"typo-{uuid.uuid4().hex[:8]}"
    publisher.room(home, "env-1", "bedroom")
    publisher.room(home, "env-2", "living_room")
    path = tmp_path / "homes.toml"
    path.write_text(
        f'[homes."{home}"]\nvulnerable = true\n\n'
        f'[homes."{home}".rooms.bedrom]\nf_rsi = 0.55\n\n'
        f'[homes."{home}".rooms.living_room]\nf_rsi = 0.6\n\n'
        f'[homes."{home}-x"]\nvulnerable = true\n'
    )
    worker = AlertsProcess(
        stack.settings.state_dir,
        f"typo-{uuid.uuid4().hex[:8]}",
        HOF_ALERTS__OVERRIDES_FILE=str(path),
    )
    worker.start(60.0)
    try:
        assert wait_until(lambda: worker.metrics().get("hof_alerts_settings_unmatched") == 2, 10)
        said = [
            json.loads(line)
            for line in worker.log_path.read_text().splitlines()
            if '"alerts_settings_unmatched"' in line
        ]
        assert sorted(e["what"] for e in said) == [
            f"home '{home}' room 'bedrom': no device is in that room (its rooms: bedroom, "
            "living_room)",
            f"home '{home}-x': no device of that home is in a room (a misspelt home id, or "
            "sensors not installed yet)",
        ]
        assert all(e["file"] == str(path) and e["level"] == "warning" for e in said)
    finally:
        worker.stop()
