"""What a result was measured on: date, Python, pip, machine, and which pip-ff."""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def _git(repo: Path, *args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            check=True,
            stdin=subprocess.DEVNULL,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 0


def memory_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError):
        pass
    return float("nan")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def describe(
    repo: Path, pip_version: str, project_wheel: Path, ref: str | None, source: str | None
) -> dict[str, Any]:
    head = _git(repo, "rev-parse", "--short=12", "HEAD")
    if source:
        source_head = _git(Path(source), "rev-parse", "--short=12", "HEAD")
        source = f"source tree {source}" + (f" (git {source_head})" if source_head else "")
    elif ref:
        source = f"git {ref} ({_git(repo, 'rev-parse', '--short=12', ref) or '?'})"
    else:
        changed = _git(repo, "status", "--porcelain", "--", "pip_offline_fallback", "setup.py")
        source = f"working tree at {head}" + (
            " with uncommitted changes to pip_offline_fallback/" if changed else " (clean)"
        )
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": sys.executable,
        "pip": pip_version,
        "pipff_source": source,
        "pipff_wheel_sha256": sha256_of(project_wheel)[:16],
        "nproc": nproc(),
        "cpu_model": cpu_model(),
        "memory_gib": round(memory_gib(), 1),
        "kernel": platform.release(),
        "loadavg_start": os.getloadavg(),
    }
