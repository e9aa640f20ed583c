"""Consent from a landlord's homes CSV (`hof dashboard homes import`), recorded and published."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hof.alertstore import make_engine, store_url
from hof.cli import main
from hof.consent import Stream
from hof.registry.consent import current_consents
from hof.settings import Settings, endpoints_path

HEADER = (
    "id,reference,address,patch,consent_environment,consent_activity,consent_telecare,consent_basis"
)


@pytest.fixture
def state(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "var"
    endpoints_path(state).parent.mkdir(parents=True)
    shutil.copy(endpoints_path(settings.state_dir), endpoints_path(state))
    monkeypatch.setenv("HOF_STATE_DIR", str(state))
    monkeypatch.setenv("HOF_ENVIRONMENT", "test")
    return state


def test_the_homes_csv_records_each_streams_consent_once(
    state: Path,
    settings: Settings,
    tmp_path: Path,
    home_id: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = f"{home_id}-a", f"{home_id}-b"
    homes = tmp_path / "homes.csv"
    homes.write_text(
        f"{HEADER}\n{a},R-{a},1 Row,North,yes,yes,no,consent\n{b},R-{b},2 Row,North,,,,\n"
    )
    assert main(["dashboard", "homes", "import", str(homes), "--by", "lettings@example.org"]) == 0
    assert "recorded consent changes for 1 homes" in capsys.readouterr().out
    engine = make_engine(store_url(settings.model_copy(update={"state_dir": state})))
    try:
        current = current_consents(engine, [a, b])
        assert {s: c.granted for s, c in current[a].items()} == {
            Stream.ENVIRONMENT: True,
            Stream.ACTIVITY: True,
            Stream.TELECARE: False,
        }
        assert current[a][Stream.ACTIVITY].recorded_by == "lettings@example.org"
        assert b not in current  # blank: nothing recorded, the default applies
        # The same file again records nothing new.
        assert main(["dashboard", "homes", "import", str(homes)]) == 0
        assert "recorded consent changes for 0 homes" in capsys.readouterr().out
    finally:
        engine.dispose()


def test_a_consent_cell_that_is_not_yes_or_no_stops_the_import_with_its_line(
    state: Path, tmp_path: Path, home_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    homes = tmp_path / "homes.csv"
    homes.write_text(f"{HEADER}\n{home_id},R-{home_id},1 Row,North,yes,maybe,,\n")
    assert main(["dashboard", "homes", "import", str(homes)]) == 2
    assert "line 2: consent_activity: say yes or no" in capsys.readouterr().err
