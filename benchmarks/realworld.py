"""The real workload: real wheels from PyPI, downloaded once, then served on loopback.

``pip download --only-binary :all:`` of :data:`REQUIREMENTS` (Django, celery, requests and
their dependencies: about two dozen distributions, Django alone is 8 MB) into the benchmarks'
own cache directory, outside the repository: ``--download-cache DIR``, else
``$PIPFF_BENCH_CACHE``, else ``$XDG_CACHE_HOME/pipff-bench`` (``~/.cache/pipff-bench``). The
download is the only step of a benchmark run that may reach the network, and it runs once per
Python version and platform: it uses the Python that runs the benchmarks and *its* pip
configuration (the index URL, certificates, proxies are whatever ``pip download`` would use on
this machine); a complete download is marked by a ``workload.json`` manifest, and later runs
use the files without asking any index. When the download fails (no network, no index), the
real workload is skipped with the reason, and the synthetic workload (benchmarks/workload.py)
still runs. Every measured command of a run is local and isolated (testbed.isolated_env).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from testbed import parse_filename

REQUIREMENTS: tuple[str, ...] = ("Django==4.2.16", "celery==5.4.0", "requests==2.32.3")
CACHE_ENV = "PIPFF_BENCH_CACHE"
DOWNLOAD_TIMEOUT = 900  # seconds, the whole download


def cache_root(option: str | None = None) -> Path:
    """Where downloaded workloads live (created on demand)."""
    if option:
        return Path(option).expanduser().resolve()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().resolve() / "pipff-bench"


def _key(python: str) -> str:
    """One download per requirement set, Python version and platform."""
    version = subprocess.run(
        [python, "-c", "import sys, sysconfig; print(sys.implementation.cache_tag, "
         "sysconfig.get_platform())"],
        capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL,
    ).stdout.split()  # fmt: skip
    digest = hashlib.sha256("\n".join(REQUIREMENTS).encode()).hexdigest()[:12]
    return "-".join(["real", *version, digest]).replace("/", "_")


def _manifest(directory: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((directory / "workload.json").read_text())
    except (OSError, ValueError):
        return None
    files = data.get("files", {})
    for name, size in files.items():
        try:
            if (directory / name).stat().st_size != size:
                return None
        except OSError:
            return None
    return data if files and data.get("requirements") == list(REQUIREMENTS) else None


def locate(root: Path, python: str = sys.executable) -> tuple[Path | None, str]:
    """The downloaded workload (downloading it first if needed), or None and the reason."""
    directory = root / _key(python)
    if _manifest(directory) is not None:
        return directory, f"cached in {directory}"
    root.mkdir(parents=True, exist_ok=True)
    partial = root / f"{directory.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    argv = [
        python, "-m", "pip", "download", "--only-binary", ":all:", "--dest", str(partial),
        "--timeout", "15", "--retries", "1", "--disable-pip-version-check", "--no-input",
        *REQUIREMENTS,
    ]  # fmt: skip
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=DOWNLOAD_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        shutil.rmtree(partial, ignore_errors=True)
        return None, f"`pip download` did not finish in {DOWNLOAD_TIMEOUT} s"
    files = sorted(p for p in partial.glob("*") if p.is_file()) if partial.is_dir() else []
    if done.returncode != 0 or not files:
        shutil.rmtree(partial, ignore_errors=True)
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"`pip download` failed (exit {done.returncode}): {tail[0][:300]}"
    manifest = {
        "requirements": list(REQUIREMENTS),
        "files": {p.name: p.stat().st_size for p in files},
    }
    (partial / "workload.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)
    return directory, f"downloaded into {directory}"


def expected(directory: Path, already: Collection[str] = ()) -> dict[str, str]:
    """Canonical name -> version of every downloaded distribution, but those in ``already``
    (the template venv's own: pip leaves them as they are)."""
    found: dict[str, str] = {}
    for path in sorted(directory.iterdir()):
        parsed = parse_filename(path.name)
        if parsed is not None and parsed[0] not in already:
            found[parsed[0]] = parsed[1]
    return found


def closure(directory: Path, requirements: Collection[str]) -> set[str]:
    """Canonical names of ``requirements`` and what they need, from the downloaded wheels'
    metadata (markers evaluated for this interpreter, extras not followed), so that a subset
    of the download follows whatever versions it holds."""
    requires: dict[str, list[Requirement]] = {}
    for path in directory.glob("*.whl"):
        with zipfile.ZipFile(path) as wheel:
            name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            lines = wheel.read(name).decode().partition("\n\n")[0].splitlines()
        parsed = parse_filename(path.name)
        if parsed is not None:
            requires[parsed[0]] = [
                Requirement(line.split(":", 1)[1])
                for line in lines
                if line.startswith("Requires-Dist:")
            ]
    wanted = [canonicalize_name(Requirement(r).name) for r in requirements]
    found: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in found:
            continue
        found.add(name)
        for req in requires.get(name, []):
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                wanted.append(canonicalize_name(req.name))
    return found


def describe(directory: Path) -> dict[str, Any]:
    sizes = [p.stat().st_size for p in directory.iterdir() if parse_filename(p.name)]
    return {
        "requirements": list(REQUIREMENTS),
        "files": len(sizes),
        "mib": round(sum(sizes) / 2**20, 1),
        "largest_mib": round(max(sizes) / 2**20, 1) if sizes else 0,
        "platform": platform.machine(),
    }
