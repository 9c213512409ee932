"""Helpers for the product tests only (the test bed itself, outages included, is ``testbed``)."""

from __future__ import annotations

import email.utils
import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from testbed import IndexServer, ProjectSet, Venv, clone_venv


def age_pip_cache(cache_dir: Path, seconds: float) -> int:
    """Make every entry of pip's HTTP cache look ``seconds`` older (its Date header).

    pip 26.2+ answers index pages from its cache without asking the index while they are fresh
    (PyPI says max-age=600); an aged cache makes it revalidate, so the outage is really met.
    Returns how many entries were changed.
    """
    from pip._vendor import msgpack

    changed = 0
    for layout in ("http-v2", "http"):
        for path in (cache_dir / layout).rglob("*"):
            if not path.is_file() or path.suffix == ".body":
                continue
            data = path.read_bytes()
            if not data.startswith(b"cc=4,"):
                continue
            entry = msgpack.loads(data[5:], raw=False)
            headers = entry["response"]["headers"]
            for name in [k for k in headers if k.lower() == "date"]:
                then = email.utils.parsedate_to_datetime(headers[name]).timestamp() - seconds
                headers[name] = email.utils.formatdate(then, usegmt=True)
                changed += 1
            path.write_bytes(b"cc=4," + msgpack.dumps(entry, use_bin_type=True))
    return changed


def age_record(cache_dir: Path, seconds: float) -> int:
    """Make every entry of pip-ff's record (``<cache_dir>/pip-ff``) look ``seconds`` older: its
    fetch time, rewritten in place (the test's clock instead of a sleep). Returns how many."""
    changed = 0
    for path in (cache_dir / "pip-ff" / "v1" / "entries").glob("*/*.json"):
        entry = json.loads(path.read_text(encoding="utf-8"))
        entry["fetched"] = float(entry["fetched"]) - seconds
        path.write_text(json.dumps(entry), encoding="utf-8")
        changed += 1
    return changed


def warm(template: Path, dest: Path, index: IndexServer, env: dict[str, str], *reqs: str) -> Venv:
    """Install ``reqs`` with pip-ff while the index answers (pip-ff records what it receives)."""
    venv = clone_venv(template, dest)
    venv.pipff("install", "-i", index.url, *reqs, env=env).check()
    return venv


def wheelhouse_of(dist_dir: Path, dest: Path, pattern: str) -> Path:
    """A wheelhouse directory holding copies of the distributions matching ``pattern``."""
    dest.mkdir()
    for wheel in Path(dist_dir).glob(pattern):
        (dest / wheel.name).write_bytes(wheel.read_bytes())
    return dest


@pytest.fixture(autouse=True)
def drop_venvs_after_success(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """A venv is ~20 MB: the ones a test made are removed once it passed (kept for a look after
    a failure)."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed == failed:
        for marker in tmp_path.glob("*/pyvenv.cfg"):
            shutil.rmtree(marker.parent, ignore_errors=True)


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def run_checked(
    args: list[str], env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a set-up command (installing a tool, say); RuntimeError with the output's tail when it
    fails or cannot run, so that the caller can skip with the reason."""
    try:
        done = subprocess.run(
            args,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{' '.join(args)}: {exc!r}") from exc
    if done.returncode != 0:
        output = tail(done.stdout + done.stderr)
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}:\n{output}")
    return done


def warnings_about_unreachable(output: str) -> list[str]:
    return [line for line in output.splitlines() if "is unreachable (" in line and "pip-ff" in line]


# Each third-party tool the tests install comes at the versions its pins file names
# (requirements/tools/, written by `python requirements/bump.py`): a new release of a tool never
# changes what the suite runs.
TOOL_PINS = Path(__file__).resolve().parents[1] / "requirements" / "tools"


def pinned(tool: str) -> list[str]:
    """The pip arguments that install ``tool`` at its pinned versions."""
    return ["-r", str(TOOL_PINS / f"{tool}.txt")]


def pipff_versions(venv: Venv) -> dict[str, str]:
    """The test projects installed in ``venv``: name -> version."""
    return {k: v for k, v in venv.installed().items() if k.startswith("pipff-")}


def record_alpha_1_then_publish_2(
    venv: Venv, dists: ProjectSet, index: IndexServer, env: dict[str, str], url: str = ""
) -> None:
    """The warm run: pip-ff installs (and so records) pipff-alpha 1.0 into ``venv`` from
    ``url`` (``index``'s own by default: a growing_index); then alpha 1.1 and 2.0 are published
    there, and the record is stale."""
    venv.pipff("install", "-i", url or index.url, "pipff-alpha", env=env).check()
    assert pipff_versions(venv)["pipff-alpha"] == "1.0"
    publish_alpha_2(dists, index)


def publish_alpha_2(dists: ProjectSet, index: IndexServer) -> None:
    """A release since the warm run: pipff-alpha 1.1 and 2.0 appear on ``index``."""
    for source in dists.dist_dir.glob("pipff_alpha-*"):
        target = index.dist_dir / source.name
        if not target.exists():
            target.symlink_to(source)
