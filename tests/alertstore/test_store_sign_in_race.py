"""Wrong passwords sent at once are each counted, on SQLite and PostgreSQL: the account locks.

The dashboard's sign-in (dashboard/accounts.py) reads the failure count and writes it back in one
transaction; without a row lock, guesses sent in parallel on PostgreSQL would each read the same
count and a burst of them would never reach the limit.
"""

from __future__ import annotations

import threading

import pytest
from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)

from dashboard.access import Role
from dashboard.accounts import SignInRefused, authenticate, create_user
from hof.alertstore import make_engine
from hof.settings import DashboardSettings

PASSWORD = "correct horse battery staple"


def test_parallel_wrong_passwords_all_count(db_url: str) -> None:
    engine = make_engine(db_url)
    policy = DashboardSettings(login_attempts=6, login_lock_s=600)
    email = "racer@example.org"
    create_user(engine, email=email, name="Racer", role=Role.RESPONDER, password=PASSWORD)
    start = threading.Barrier(6)
    refusals: list[str] = []

    def guess(n: int) -> None:
        start.wait(timeout=30)
        try:
            authenticate(engine, email, f"wrong password number {n}", policy)
        except SignInRefused as exc:
            refusals.append(str(exc))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(refusals) == 6
    # Six wrong passwords, however they interleaved, reached the limit of six: locked.
    with pytest.raises(SignInRefused, match="locked"):
        authenticate(engine, email, PASSWORD, policy)
    engine.dispose()
