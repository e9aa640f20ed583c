"""`hof rights` as an admin runs it: consent, export, erase, expire, and `hof status` after."""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from hof.alertstore import make_engine, migrate, store_url
from hof.cli import main
from hof.registry import HomeIn, upsert_homes
from hof.settings import Settings, endpoints_path


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def test_an_admin_records_consent_exports_erases_and_runs_retention(
    settings: Settings,
    tmp_path: Path,
    home_id: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "var"
    monkeypatch.setenv("HOF_STATE_DIR", str(state))
    monkeypatch.setenv("HOF_ENVIRONMENT", "test")

    def hof(_state: Path, *args: str) -> Ran:
        """The `hof` command's entry point, in this process (each start costs seconds here)."""
        code = main(list(args))
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    # The session's stack, found as every command finds it: its recorded endpoints.
    endpoints_path(state).parent.mkdir(parents=True)
    shutil.copy(endpoints_path(settings.state_dir), endpoints_path(state))
    local = settings.model_copy(update={"state_dir": state})
    migrate(store_url(local))
    engine = make_engine(store_url(local))
    upsert_homes(engine, [HomeIn(id=home_id, reference=f"R-{home_id}", address="2 Lane")])
    engine.dispose()

    unknown = hof(state, "rights", "consent", "NO-SUCH-HOME", "--stream", "activity", "--grant")
    assert unknown.returncode == 2
    assert "not in the registry: NO-SUCH-HOME" in unknown.stderr

    by = ("rights", "--by", "officer@example.org")
    granted = hof(state, *by, "consent", home_id, "--stream", "activity", "--grant")
    assert granted.returncode == 0, granted.stderr
    withdrawn = hof(state, *by, "consent", home_id, "--stream", "activity", "--withdraw")
    assert f"{home_id}: activity withdrawn" in withdrawn.stdout
    listed = hof(state, "rights", "consents", home_id).stdout.splitlines()
    assert [line.split()[2:4] for line in listed] == [
        ["activity", "granted"],
        ["activity", "withdrawn"],
    ]
    assert all("by officer@example.org" in line for line in listed)

    out = tmp_path / "bundle.zip"
    exported = hof(state, *by, "export", home_id, "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    assert out.stat().st_mode & 0o077 == 0  # owner-only: it is a tenant's data
    with zipfile.ZipFile(out) as z:
        consent = z.read("consent.csv").decode()
        audit = z.read("audit.csv").decode()
    assert consent.count("officer@example.org") == 2
    assert "subject_access_export" in audit
    assert ",consent," in audit

    expired = hof(state, "rights", "expire")
    assert expired.returncode == 0, expired.stderr
    assert json.loads(expired.stdout)["purged"] == {f"{home_id}/activity": 0}
    status = hof(state, "status")
    assert "retention        last run 0 min ago" in status.stdout, status.stdout

    first = hof(state, *by, "erase", home_id, "--reason", "tenant's request of 1 Dec")
    assert json.loads(first.stdout)["rows"]["home"] == 1
    second = hof(state, *by, "erase", home_id, "--reason", "again")
    assert json.loads(second.stdout)["nothing_left"] is True
    assert f"nothing was held about {home_id}" in second.stderr
