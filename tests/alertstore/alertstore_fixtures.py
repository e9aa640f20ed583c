"""Alert store fixtures: a real PostgreSQL cluster of our own, and a store on each backend.

Not a conftest.py: without __init__.py files every conftest is imported as the module
`conftest`, and a second one would shadow tests/conftest.py for the tests that import from it.
Test modules take these with `from alertstore_fixtures import *`.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from hof.alertstore import AlertStore, make_engine, migrate
from hof.stack.ports import free_port
from hof.stack.process import ManagedProcess

__all__ = [
    "BACKENDS",
    "FakeClock",
    "PostgresCluster",
    "backend",
    "clock",
    "db_url",
    "empty_url",
    "make_store",
    "pg_template",
    "postgres",
    "raw",
    "store",
]

BACKENDS = ["sqlite", "postgresql"]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(
            f"PostgreSQL's {name} is not installed: run scripts/setup "
            "(apt-get install -y postgresql); the production path must be tested"
        )
    return found[-1]


class PostgresCluster:
    """A throwaway PostgreSQL cluster: initdb into a temp dir, postgres on a free loopback port."""

    def __init__(self) -> None:
        # Not under pytest's tmp dir: that is private to root, and postgres refuses to run as
        # root, so the cluster's directory must belong to the user it runs as.
        self.root = Path(tempfile.mkdtemp(prefix="hof-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [
                *self.as_user,
                _pg_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
        )
        self.process = ManagedProcess(
            "postgres",
            [
                *self.as_user,
                _pg_bin("postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.root),
                "-c",
                "fsync=off",  # a test cluster: speed over crash safety
                "-c",
                "max_connections=200",
            ],
            self.root / "postgres.log",
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _ready(self) -> bool:
        try:
            with psycopg.connect(
                host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
            ):
                return True
        except psycopg.OperationalError:
            return False

    def start(self) -> None:
        self.process.start()
        self.process.wait_ready(self._ready, 60.0)

    def create_database(self, name: str, template: str | None = None) -> str:
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            suffix = f" TEMPLATE {template}" if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{suffix}')  # type: ignore[arg-type]
        return self.url(name)

    def stop(self) -> None:
        # Fast shutdown (disconnect clients) through pg_ctl, rather than a signal to runuser.
        subprocess.run(
            [*self.as_user, _pg_bin("pg_ctl"), "stop", "-D", str(self.data), "-m", "fast"],
            check=False,
            capture_output=True,
        )
        self.process.stop()
        shutil.rmtree(self.root, ignore_errors=True)


_CLUSTER = pytest.StashKey[PostgresCluster]()
_TEMPLATE = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest) -> PostgresCluster:
    """One cluster for the whole session (kept in the config's stash: each test module that
    imports this fixture gets its own session-scoped copy of it)."""
    stash = request.config.stash
    if _CLUSTER not in stash:
        cluster = PostgresCluster()
        request.config.add_cleanup(cluster.stop)
        cluster.start()
        stash[_CLUSTER] = cluster
    return stash[_CLUSTER]


@pytest.fixture(scope="session")
def pg_template(postgres: PostgresCluster, request: pytest.FixtureRequest) -> str:
    """A database migrated to head once; each test copies it (CREATE DATABASE ... TEMPLATE)."""
    stash = request.config.stash
    if _TEMPLATE not in stash:
        migrate(postgres.create_database("hof_template"))
        stash[_TEMPLATE] = "hof_template"
    return stash[_TEMPLATE]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL of an empty database on this test's backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL of a database migrated to head on this test's backend."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
        migrate(url)
        return url
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    template: str = request.getfixturevalue("pg_template")
    return cluster.create_database(f"t_{uuid.uuid4().hex[:16]}", template=template)


class FakeClock:
    """Time that moves only when a test moves it."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> dt.datetime:
        self.now += dt.timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC))  # a Monday


@pytest.fixture
def make_store(db_url: str, clock: FakeClock) -> Iterator[Callable[..., AlertStore]]:
    """Stores on this test's database (one per worker in a race), closed afterwards."""
    made: list[AlertStore] = []

    def make(**kwargs: object) -> AlertStore:
        kwargs.setdefault("clock", clock)
        made.append(AlertStore(make_engine(db_url), **kwargs))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., AlertStore]) -> AlertStore:
    return make_store()


@pytest.fixture
def raw(db_url: str) -> Iterator[sa.Engine]:
    """A plain engine on the same database, for what the API must not allow."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()
