"""The rules' room code compiled by mypyc, for `bench/cases`: the same source, built once.

A year of 1,000 homes is about 70 million room evaluations through
`alerts.rules.environment.on_readings`; in pure Python that is well over an hour on two
cores, and 92 % of it is the rules' own room code, spread over many small functions (no
hotspot worth more than about 5 %). mypyc compiles those modules from the source as
committed, type-checked as `mypy --strict` checks them, so the findings are the same to the
last figure (tests/bench/test_cases_compiled.py) in less than half the CPU time.

The build is a copy of `alerts/` and the source it is checked against, compiled in a cache
directory named for a hash of every file it is built from, and of mypy's and Python's
versions: a changed rule is a new build, never a stale one. `bench/cases` then runs again
with that directory first on its path, so `alerts` is the build's and the rest the tree's.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# The rules' room code: what a room's readings go through at every step. The others are
# left as they are: `alerts/overheating.py` and `alerts/mould.py` do not compile (mypyc has
# no `__dict__` or `object.__new__`), and `hof/climate.py` compiled was slower (numpy).
COMPILED = (
    "alerts/rules/banded.py",
    "alerts/rules/environment.py",
    "alerts/occupancy.py",
    "alerts/outdoor.py",
)
# What the build is type-checked against, and so what its hash covers.
_SOURCES = ("alerts", "hof")
_CONFIG = "pyproject.toml"
# Set in the run that uses a build: the build it was started with.
ENV = "HOF_CASES_COMPILED"
_KEEP = 3  # builds kept in the cache: others are removed, newest kept


class BuildError(RuntimeError):
    """mypyc could not build the rules (no compiler, no Python headers, a type error)."""


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "house-of-the-future" / "bench-cases"


def _files(root: Path) -> list[Path]:
    found = [root / _CONFIG]
    for top in _SOURCES:
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".so":
                found.append(path)
    return found


def build_key(root: Path) -> str:
    """A hash of every file the build copies, and of what compiles it."""
    import mypy.version

    digest = hashlib.sha256()
    stamp = f"{mypy.version.__version__}|{sys.version}|{sysconfig.get_config_var('EXT_SUFFIX')}"
    digest.update(stamp.encode())
    for path in _files(root):
        digest.update(b"\0" + path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def build(root: Path, cache: Path, say: Callable[[str], None] = print) -> Path:
    """The directory of the build of `root`'s rules: built now if the cache has none."""
    key = build_key(root)
    done = cache / key
    if (done / "BUILT").is_file():
        os.utime(done)  # recently used: kept by `_prune`
        say(f"rules: compiled by mypyc, build {key} (cached in {cache})")
        return done
    try:
        cache.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache))
    except OSError as e:
        raise BuildError(f"cannot build in {cache} ({e}); give a writable --cache DIR") from e
    say(
        f"rules: compiling {', '.join(Path(p).stem for p in COMPILED)} with mypyc into "
        f"{done} (about a minute of CPU, once for this source)"
    )
    began = time.monotonic()
    try:
        for path in _files(root):
            target = stage / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        log = stage / "mypyc.log"
        with log.open("wb") as out:
            result = subprocess.run(
                [sys.executable, "-m", "mypyc", *COMPILED],
                cwd=stage,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "MYPY_CACHE_DIR": str(stage / ".mypy_cache")},
                timeout=900,
                check=False,
            )
        if result.returncode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-15:]
            raise BuildError(
                f"mypyc failed (exit {result.returncode}); the end of its log:\n  "
                + "\n  ".join(tail)
                + "\nscripts/setup installs gcc and the Python headers it needs; or run "
                "bench/cases with --rules pure"
            )
        # Only `alerts` is the build's: the tree's `hof` (and its data files) stay in use.
        for spare in ("hof", "build", ".mypy_cache"):
            shutil.rmtree(stage / spare, ignore_errors=True)
        (stage / "BUILT").write_text(f"{key}\n")
        try:
            stage.rename(done)
        except OSError:
            if not (done / "BUILT").is_file():
                raise
            # Another run built the same source meanwhile: its build is the same.
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    say(f"rules: compiled in {time.monotonic() - began:.0f} s")
    _prune(cache)
    return done


def _prune(cache: Path) -> None:
    builds = sorted(
        (p for p in cache.iterdir() if (p / "BUILT").is_file()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in builds[_KEEP:]:
        shutil.rmtree(old, ignore_errors=True)


def modules() -> dict[str, bool]:
    """Each compiled module's name, and whether the one imported is the compiled one."""
    out: dict[str, bool] = {}
    for path in COMPILED:
        name = path.removesuffix(".py").replace("/", ".")
        module = importlib.import_module(name)
        out[name] = str(getattr(module, "__file__", "")).endswith(".so")
    return out


def run_with(build_dir: Path, argv: list[str]) -> None:
    """Start this run again, its `alerts` the build's (never returns)."""
    env = dict(os.environ)
    env[ENV] = str(build_dir)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(build_dir), env.get("PYTHONPATH", "")) if p)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *argv], env)


def check_in_use() -> str:
    """In the run started by `run_with`: what it runs, or a BuildError if the build's modules
    are not the ones imported (the run would time pure Python and call it compiled)."""
    which = modules()
    pure = [name for name, compiled in which.items() if not compiled]
    if pure:
        raise BuildError(
            f"the build in {os.environ.get(ENV)} was not imported for {', '.join(pure)}"
        )
    return f"rules: compiled by mypyc ({', '.join(which)})"
