"""bench/cases with the rules' room code compiled by mypyc: built from the tree's own source,
a new build whenever that source changes, and the same report as pure Python to the last
figure (a year of 1,000 homes in about 35 minutes rather than 85)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hofsupport import load_file

_ROOT = Path(__file__).resolve().parents[2]
_BENCH = _ROOT / "bench" / "cases"


def _module() -> ModuleType:
    return load_file("bench_cases_rules_compiled", _BENCH / "rules_compiled.py")


def _tree(root: Path) -> None:
    (root / "alerts" / "rules").mkdir(parents=True)
    (root / "hof").mkdir()
    (root / "pyproject.toml").write_text("[tool.mypy]\nstrict = true\n")
    (root / "alerts" / "__init__.py").write_text("")
    (root / "alerts" / "rules" / "__init__.py").write_text("")
    for path in ("alerts/rules/environment.py", "alerts/occupancy.py", "alerts/outdoor.py"):
        (root / path).write_text("X = 1\n")
    (root / "alerts" / "rules" / "banded.py").write_text("def f(x: int) -> int:\n    return x\n")
    (root / "hof" / "__init__.py").write_text("")
    (root / "hof" / "climate.py").write_text("Y = 2\n")


def test_a_build_is_named_for_every_file_it_is_built_from(tmp_path: Path) -> None:
    """A changed rule, a changed module of `hof` it is checked against, or a changed mypy
    setting is a new build: never a stale one. Bytecode caches are not the source."""
    rc = _module()
    _tree(tmp_path)
    first = rc.build_key(tmp_path)
    assert rc.build_key(tmp_path) == first
    (tmp_path / "alerts" / "__pycache__").mkdir()
    (tmp_path / "alerts" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert rc.build_key(tmp_path) == first
    keys = {first}
    for path, text in (
        ("alerts/rules/banded.py", "def f(x: int) -> int:\n    return x + 1\n"),
        ("hof/climate.py", "Y = 3\n"),
        ("pyproject.toml", "[tool.mypy]\n"),
        ("alerts/thresholds.py", "Z = 1\n"),  # a new module
    ):
        (tmp_path / path).write_text(text)
        keys.add(rc.build_key(tmp_path))
    assert len(keys) == 5


def test_a_build_that_fails_says_why_and_what_to_do(tmp_path: Path) -> None:
    """A type error (or no compiler) is a clear error with mypyc's own words, not a run that
    quietly times pure Python; nothing half-built is left in the cache."""
    rc = _module()
    root, cache = tmp_path / "tree", tmp_path / "cache"
    _tree(root)
    (root / "alerts" / "rules" / "banded.py").write_text('def f(x: int) -> int:\n    return "x"\n')
    with pytest.raises(rc.BuildError) as failed:
        rc.build(root, cache, say=lambda _: None)
    said = str(failed.value)
    assert "banded.py:2: error: Incompatible return value type" in said
    assert "--rules pure" in said
    assert list(cache.iterdir()) == []


def test_a_cache_it_cannot_write_is_a_clear_error(tmp_path: Path) -> None:
    rc = _module()
    _tree(tmp_path / "tree")
    (tmp_path / "cache").write_text("a file where the cache should be")
    with pytest.raises(rc.BuildError, match="give a writable --cache DIR"):
        rc.build(tmp_path / "tree", tmp_path / "cache", say=lambda _: None)


def test_a_run_that_did_not_import_its_build_stops() -> None:
    """Started to use a build whose modules are not the ones imported, the run stops rather
    than print pure Python's speed as the compiled one's."""
    env = {**os.environ, "HOF_CASES_COMPILED": "/nonexistent/build"}
    done = subprocess.run(
        [sys.executable, str(_BENCH), "--homes", "2", "--days", "1", "--workers", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "was not imported for alerts.rules.banded" in done.stderr
    assert "walls:" not in done.stdout  # nothing was run


def _report(args: list[str], cache: Path) -> tuple[list[str], str]:
    done = subprocess.run(
        [sys.executable, str(_BENCH), *args, "--cache", str(cache)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=_ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    kept = []
    for line in done.stdout.splitlines():
        if line.startswith(("rules:", "CPU:", "  worker ")):
            continue
        kept.append(re.sub(r"in \d+ s \([\d,]+/s\)", "in T", line))
    return kept, done.stdout


@pytest.mark.skipif(shutil.which("gcc") is None, reason="scripts/setup installs gcc")
# The build is a minute of gcc on a quiet machine (131 s in all in CI's suite): the suite's
# 300 s a test would fail it on a loaded one.
@pytest.mark.timeout(900)
def test_compiled_rules_print_the_same_report_as_pure_python(tmp_path: Path) -> None:
    """Winter (damp and cold cases) and summer (overheating, TM59 and TM52): every table and
    line the same, compiled or not; the compiled run says so, and a second run reuses the
    build."""
    cache = tmp_path / "cache"
    winter = ["--homes", "12", "--days", "8", "--workers", "1", "--explain", "1"]
    summer = [*winter, "--start", "2026-07-10T00:00:00+00:00"]
    for args in (winter, summer):
        compiled, said = _report(args, cache)
        assert "rules: compiled by mypyc (alerts.rules.banded, alerts.rules.environment" in said
        pure, said_pure = _report([*args, "--rules", "pure"], cache)
        assert "rules: pure Python" in said_pure
        assert compiled == pure
        (counted,) = [line for line in pure if line.startswith("cases by rule, room")]
        assert "'acted-on'" in counted  # cases to compare, not an empty report
    assert "cached in" in said  # the second compiled run did not build again
    (build,) = [p for p in cache.iterdir() if p.is_dir()]
    for path in _module().COMPILED:
        stem = Path(path)
        assert list((build / stem.parent).glob(f"{stem.stem}.*.so")), path
    assert not (build / "hof").exists()  # the tree's hof, with its data files, is used
