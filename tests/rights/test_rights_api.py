"""The admin API's rights routes on a running dashboard: consent (published to the services),
subject access export, erasure, and one home's audit as CSV; admins only."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dash_support import Estate, http_page, make_estate
from hofsupport import Watcher, wait_until

from hof.alertstore import make_engine, store_url
from hof.registry import HomeIn, upsert_homes
from hof.stack import Stack


@pytest.fixture(scope="module")
def estate(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    yield from make_estate(stack, tmp_path_factory.mktemp("rights-api"))


def test_an_admin_records_consent_exports_and_erases_a_home(
    estate: Estate, home_id: str, watcher: Callable[[str], Watcher], tmp_path: Path
) -> None:
    engine = make_engine(store_url(estate.settings))
    upsert_homes(engine, [HomeIn(id=home_id, reference=f"R-{home_id}", address="3 Close")])
    engine.dispose()
    published = watcher(f"hof/consent/{home_id}")
    path = f"/api/v1/admin/homes/{home_id}"

    with estate.api("responder") as responder:
        refused = responder.post(f"{path}/consent", json={"stream": "activity", "granted": True})
        assert refused.status_code == 403
        assert responder.get(f"{path}/export").status_code == 403

    with estate.api("admin") as admin:
        body = {"stream": "activity", "granted": True, "basis": "consent", "note": "form 12"}
        answer = admin.post(f"{path}/consent", json=body)
        assert answer.status_code == 200, answer.text
        state = answer.json()
        assert state["current"] == {"activity": True}
        assert state["published"] is True
        assert "environment" in state["unrecorded_default"]  # the setting, as configured
        assert state["history"][0]["recorded_by"] == "admin@example.org"
        # The running services hear of it on the retained platform-only topic.
        assert wait_until(lambda: bool(published.messages), 10)
        message = json.loads(published.messages[-1][1])
        assert message["streams"] == {"activity": True}

        unknown = admin.post(
            "/api/v1/admin/homes/NO-SUCH-HOME/consent", json={"stream": "activity", "granted": True}
        )
        assert unknown.status_code == 404

        bundle = admin.get(f"{path}/export")
        assert bundle.status_code == 200
        assert bundle.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(bundle.content)) as z:
            assert "form 12" in z.read("consent.csv").decode()

        first = admin.post(f"{path}/erase", json={"reason": "tenant's request"}).json()
        assert first["rows"]["home"] == 1
        assert first["services_told"] is True
        second = admin.post(f"{path}/erase", json={"reason": "tenant's request"}).json()
        assert second["nothing_left"] is True

        trail = admin.get(f"{path}/audit.csv")
        assert trail.status_code == 200
        actions = [row["action"] for row in csv.DictReader(io.StringIO(trail.text))]
        assert actions == ["export_audit", "erase", "erase", "subject_access_export", "consent"]
    assert wait_until(lambda: json.loads(published.messages[-1][1])["erased"] is True, 10)


def test_the_admin_pages_homes_upload_records_consent(estate: Estate, home_id: str) -> None:
    rows = (
        "id,reference,address,patch,consent_activity,consent_telecare\n"
        f"{home_id},R-{home_id},4 Mews,North,yes,no\n"
    )
    with http_page(estate, "admin") as page:
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.get("/admin").text)
        assert csrf is not None
        bad = rows.replace("yes,no", "perhaps,no")
        refused = page.post(
            "/admin/homes",
            data={"csrf": csrf.group(1)},
            files={"file": ("homes.csv", bad.encode(), "text/csv")},
        )
        assert refused.status_code == 400
        assert "consent_activity: say yes or no" in refused.text
        done = page.post(
            "/admin/homes",
            data={"csrf": csrf.group(1)},
            files={"file": ("homes.csv", rows.encode(), "text/csv")},
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/admin?done=Imported+1+homes"
    with estate.api("admin") as admin:
        state = admin.get(f"/api/v1/admin/homes/{home_id}/consent").json()
    assert state["current"] == {"activity": True, "telecare": False}
    assert {h["recorded_by"] for h in state["history"]} == {"admin@example.org"}
