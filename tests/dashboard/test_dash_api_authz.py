"""Every route of the dashboard, walked: refused without credentials unless it is on the public
list, and open to exactly the roles docs/dashboard.md gives it. A route in neither table fails
the test, so a new one cannot be forgotten. Then schemathesis throws generated requests at the
running API (as an admin) and no answer may be a 500.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dash_support import *  # noqa: F403
from dash_support import Estate, make_estate

from dashboard.access import Role
from dashboard.app import create_app
from hof.stack import Stack

OFFICER, RESPONDER, ADMIN = Role.HOUSING_OFFICER, Role.RESPONDER, Role.ADMIN
EVERYONE = frozenset(Role)

# Open without an account (docs/dashboard.md): signing in, health, the API's description, and
# /metrics, which answers loopback clients (or its own token) only.
PUBLIC = {
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
}

# Who may use each route: docs/dashboard.md's "Who sees what" (patches and health data are
# narrowed inside the routes; the API tests of each page prove those).
ROLES: dict[tuple[str, str], frozenset[Role]] = {
    # pages
    ("GET", "/"): EVERYONE,
    ("POST", "/sign-out"): EVERYONE,
    ("GET", "/estate"): frozenset({OFFICER, ADMIN}),
    ("GET", "/homes/{home_id}"): EVERYONE,
    ("GET", "/devices"): EVERYONE,
    ("GET", "/queue"): frozenset({RESPONDER, ADMIN}),
    ("GET", "/queue/rows"): frozenset({RESPONDER, ADMIN}),
    ("POST", "/alerts/{alert_id}/do"): EVERYONE,
    ("GET", "/cases"): frozenset({OFFICER, ADMIN}),
    ("GET", "/cases/{alert_id}"): frozenset({OFFICER, ADMIN}),
    ("GET", "/cases/{alert_id}/print"): frozenset({OFFICER, ADMIN}),
    ("GET", "/admin"): frozenset({ADMIN}),
    ("POST", "/admin/users"): frozenset({ADMIN}),
    ("POST", "/admin/users/active"): frozenset({ADMIN}),
    ("POST", "/admin/tokens"): frozenset({ADMIN}),
    ("POST", "/admin/tokens/revoke"): frozenset({ADMIN}),
    ("POST", "/admin/homes"): frozenset({ADMIN}),
    ("GET", "/admin/home"): frozenset({ADMIN}),
    ("GET", "/admin/homes/{home_id}"): frozenset({ADMIN}),
    ("POST", "/admin/homes/{home_id}/consent"): frozenset({ADMIN}),
    ("POST", "/admin/homes/{home_id}/carers"): frozenset({ADMIN}),
    ("POST", "/admin/homes/{home_id}/carers/end"): frozenset({ADMIN}),
    # the API
    ("GET", "/api/v1/me"): EVERYONE,
    ("GET", "/api/v1/homes"): EVERYONE,
    ("GET", "/api/v1/homes/{home_id}"): EVERYONE,
    ("GET", "/api/v1/homes/{home_id}/rooms"): EVERYONE,
    ("GET", "/api/v1/homes/{home_id}/series"): EVERYONE,
    ("GET", "/api/v1/homes/{home_id}/alerts"): EVERYONE,
    ("GET", "/api/v1/homes/{home_id}/devices"): EVERYONE,
    ("GET", "/api/v1/devices"): EVERYONE,
    ("GET", "/api/v1/alerts"): EVERYONE,
    ("GET", "/api/v1/alerts/stream"): EVERYONE,
    ("GET", "/api/v1/alerts/{alert_id}"): EVERYONE,
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): EVERYONE,
    ("POST", "/api/v1/alerts/{alert_id}/assign"): EVERYONE,
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): EVERYONE,
    ("POST", "/api/v1/alerts/{alert_id}/notes"): EVERYONE,
    ("POST", "/api/v1/alerts/{alert_id}/duties"): EVERYONE,
    ("GET", "/api/v1/admin/users"): frozenset({ADMIN}),
    ("POST", "/api/v1/admin/users"): frozenset({ADMIN}),
    ("POST", "/api/v1/admin/homes"): frozenset({ADMIN}),
    ("GET", "/api/v1/admin/audit"): frozenset({ADMIN}),
    ("GET", "/api/v1/admin/homes/{home_id}/consent"): frozenset({ADMIN}),
    ("POST", "/api/v1/admin/homes/{home_id}/consent"): frozenset({ADMIN}),
    ("GET", "/api/v1/admin/homes/{home_id}/export"): frozenset({ADMIN}),
    ("POST", "/api/v1/admin/homes/{home_id}/erase"): frozenset({ADMIN}),
    ("GET", "/api/v1/admin/homes/{home_id}/audit.csv"): frozenset({ADMIN}),
    ("GET", "/api/v1/admin/homes/{home_id}/carers"): frozenset({ADMIN}),
    ("POST", "/api/v1/admin/homes/{home_id}/carers"): frozenset({ADMIN}),
    ("POST", "/api/v1/admin/homes/{home_id}/carers/end"): frozenset({ADMIN}),
}

ACCOUNT_OF = {OFFICER: "officer", RESPONDER: "responder", ADMIN: "admin"}
PARAMS = {"{alert_id}": "987654321", "{home_id}": "NO-SUCH-HOME"}


def _routes(routes: list[Any]) -> Iterator[tuple[str, str]]:
    """(method, path) of every endpoint, looking inside included routers; not the mounts."""
    for route in routes:
        if hasattr(route, "effective_candidates"):  # FastAPI's included router
            yield from _routes(route.effective_candidates())
        elif getattr(route, "methods", None) and hasattr(route, "path"):
            for method in route.methods - {"HEAD"}:
                yield method, route.path


@pytest.fixture(scope="module")
def app_routes(estate: Estate) -> set[tuple[str, str]]:
    return set(_routes(create_app(estate.settings, background=False).routes))


def test_every_route_is_public_or_has_its_roles(app_routes: set[tuple[str, str]]) -> None:
    assert not PUBLIC & ROLES.keys()
    forgotten = app_routes - PUBLIC - ROLES.keys()
    assert not forgotten, f"routes in neither the public list nor the role table: {forgotten}"
    gone = (PUBLIC | ROLES.keys()) - app_routes
    assert not gone, f"the tables name routes that no longer exist: {gone}"


def test_the_openapi_schema_lists_only_routes_with_roles(estate: Estate) -> None:
    schema = httpx.get(estate.url + "/api/openapi.json").json()
    listed = {(m.upper(), path) for path, ops in schema["paths"].items() for m in ops}
    assert listed
    assert listed <= ROLES.keys(), listed - ROLES.keys()


def _call(client: httpx.Client, method: str, path: str) -> tuple[int, str]:
    """The status (and where a redirect goes) of `method path` with placeholder ids."""
    for name, value in PARAMS.items():
        path = path.replace(name, value)
    body: dict[str, Any] = {}
    if method == "POST":
        body = {"json": {}} if path.startswith("/api/") else {"data": {}}
    with client.stream(method, path, **body) as response:  # the event stream never ends
        return response.status_code, response.headers.get("location", "")


def test_without_credentials_every_private_route_is_refused(estate: Estate) -> None:
    with httpx.Client(base_url=estate.url, headers={"accept": "text/html"}) as client:
        for method, path in sorted(ROLES):
            status, location = _call(client, method, path)
            if path.startswith("/api/"):
                assert status == 401, (method, path, status)
            else:
                assert (status, location.startswith("/sign-in")) == (303, True), (method, path)


def test_each_role_gets_only_what_its_table_row_allows(estate: Estate) -> None:
    wrong: list[str] = []
    for role, who in ACCOUNT_OF.items():
        bearer = {"Authorization": f"Bearer {estate.accounts[who].token}"}
        with httpx.Client(base_url=estate.url, headers=bearer, timeout=30.0) as client:
            for (method, path), allowed in sorted(ROLES.items()):
                status, _ = _call(client, method, path)
                if role in allowed and (status in {401, 403} or status >= 500):
                    wrong.append(f"{role} refused or failed on {method} {path}: {status}")
                if role not in allowed and status != 403:
                    wrong.append(f"{role} not refused on {method} {path}: {status}")
    assert not wrong, "\n".join(wrong)


def test_public_routes_answer_without_credentials(estate: Estate) -> None:
    with httpx.Client(base_url=estate.url) as client:
        for method, path in sorted(PUBLIC):
            status, _ = _call(client, method, path)
            assert status in {200, 400}, (method, path, status)  # 400: a sign-in with no form


# --- schemathesis ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzzed(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    """A dashboard of its own: generated requests add accounts and homes."""
    yield from make_estate(stack, tmp_path_factory.mktemp("fuzzed"))


def test_schemathesis_finds_no_server_error(fuzzed: Estate, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("st")
    token = fuzzed.accounts["admin"].token
    argv = [
        str(st),
        "run",
        fuzzed.url + "/api/openapi.json",
        "--checks=not_a_server_error",
        "--phases=examples,coverage,fuzzing",
        "--max-examples=3",
        "--seed=11",
        "--workers=1",
        "--request-timeout=10",
        "--exclude-path=/api/v1/alerts/stream",  # an event stream never ends
        f"--header=Authorization: Bearer {token}",
        "--suppress-health-check=all",
        "--no-color",
    ]
    done = subprocess.run(
        argv,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


# What schemathesis found (each was a 500).


def test_an_id_past_64_bits_is_refused_not_a_crash(estate: Estate) -> None:
    huge = str(2**64)
    with estate.api("admin") as api:
        assert api.get(f"/api/v1/alerts/{huge}").status_code == 422
        assert api.post(f"/api/v1/alerts/{huge}/acknowledge").status_code == 422
        assert api.get(f"/cases/{huge}").status_code == 422
        assert api.get("/api/v1/alerts", params={"offset": huge}).status_code == 422
        assert api.get("/api/v1/homes", params={"offset": huge}).status_code == 422
        assert api.get("/api/v1/admin/audit", params={"before": huge}).status_code == 422
        # The largest id that fits is merely not there.
        assert api.get(f"/api/v1/alerts/{2**63 - 1}").status_code == 404


def test_a_reference_held_by_another_home_is_a_conflict(estate: Estate) -> None:
    home = {"id": "REF-A", "reference": "SHARED-REF", "address": "1 Here", "patch": "North"}
    with estate.api("admin") as api:
        assert api.post("/api/v1/admin/homes", json=[home]).json() == {"written": 1}
        clash = api.post("/api/v1/admin/homes", json=[{**home, "id": "REF-B"}])
        assert clash.status_code == 409
        assert "already belongs to another home" in clash.json()["detail"]
        csv = "id,reference,address,postcode,estate,ward,patch,telecare\n"
        csv += "REF-C,SHARED-REF,3 Here,,,,North,false\n"
        page = api.post(
            "/admin/homes",
            data={"csrf": "api tokens need none"},
            files={"file": ("homes.csv", csv.encode(), "text/csv")},
        )
        assert page.status_code == 409
        assert "already belongs to another home" in page.text
