"""``pip-ff store prune``: remove old, surplus or damaged records."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from pip_offline_fallback import config
from pip_offline_fallback.errors import UsageError
from pip_offline_fallback.store import Store, StoreBusy
from pip_offline_fallback.store.inventory import FILE, METADATA, PAGE
from pip_offline_fallback.store.prune import PrunePolicy, PruneResult, Removal, prune
from pip_offline_fallback.storecmd.common import (
    EXIT_FAILED,
    EXIT_OK,
    Location,
    write,
)
from pip_offline_fallback.storecmd.info import entry_json
from pip_offline_fallback.wording import age_text, size_text

DEFAULT_PRUNE_WAIT = 10.0


# -- units -----------------------------------------------------------------------------------

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
    "ti": 1024**4,
    "tib": 1024**4,
}


def parse_size(value: str) -> int:
    """Bytes from ``500000``, ``500k``, ``200MB``, ``1.5G`` (powers of 1000) or ``2GiB`` (1024)."""
    text = value.strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz").strip()
    unit = text[len(number) :].strip()
    try:
        size = float(number) * _SIZE_UNITS[unit]
    except (KeyError, ValueError):
        raise UsageError(
            f"--max-size must be a size such as 500M, 2G or 1GiB, not {value!r}"
        ) from None
    if not 0 <= size < float("inf"):
        raise UsageError(f"--max-size must be 0 or more, not {value!r}")
    return int(size)


# -- prune -----------------------------------------------------------------------------------


_KIND_WORDS = {
    "entry": ("entry", "entries"),
    "blob": ("body", "bodies"),
    "temp": ("temporary file", "temporary files"),
    "link": ("symbolic link", "symbolic links"),
    "file": ("stray file", "stray files"),
    "host": ("host marker", "host markers"),
}


def _count(n: int, kind: str) -> str:
    one, many = _KIND_WORDS[kind]
    return f"{n} {one if n == 1 else many}"


def _removal_label(removal: Removal, now: float) -> str:
    info = removal.entry
    if removal.kind == "blob":
        return f"body {os.path.basename(removal.path)[:16]}…"
    if info is None:
        return f"{_KIND_WORDS[removal.kind][0]} {removal.path}"
    if info.kind == PAGE:
        what = f"index page of {info.project}"
    elif info.kind in (FILE, METADATA):
        what = info.filename
    else:
        what = info.url
    return f"{what} (fetched {age_text(now - info.fetched)} ago)"


# Without a criterion, prune removes only what no one can use: said, or it looks like a no-op.
_NO_CRITERION = (
    "pip-ff store prune: no --older-than, --max-size, --keep or --damaged given, so only what "
    "no one can use goes; give one to free space (e.g. --older-than 90d)\n"
)


def _lines(removals: list[Removal]) -> list[tuple[Removal, int]]:
    """One line per removal, with what it frees: an entry whose body goes too frees the body
    (the entry file alone is a few hundred bytes, not the size of the wheel it names), and that
    body gets no line of its own."""
    bodies = {os.path.basename(r.path): r for r in removals if r.kind == "blob"}
    told: set[str] = set()
    lines = []
    for removal in removals:
        if removal.error is not None or (removal.kind == "blob" and removal.path in told):
            continue
        size = removal.size
        if removal.kind == "entry" and removal.entry is not None:
            body = bodies.pop(removal.entry.sha256, None)
            if body is not None and body.error is None:
                size += body.size
                told.add(body.path)
        lines.append((removal, size))
    return lines


def run_prune(location: Location, options: argparse.Namespace) -> int:
    older_than = (
        config.parse_duration_seconds(options.older_than, "--older-than")
        if options.older_than is not None
        else None
    )
    max_size = parse_size(options.max_size) if options.max_size is not None else None
    if options.keep is not None and options.keep < 1:
        raise UsageError(f"--keep must be 1 or more, not {options.keep}")
    if options.wait < 0:
        raise UsageError(f"--wait must be 0 or more seconds, not {options.wait:g}")
    policy = PrunePolicy(
        older_than=older_than, max_size=max_size, keep=options.keep, damaged=options.damaged
    )
    store = Store(location.store)
    now = time.time()
    try:
        result = prune(store, policy, dry_run=options.dry_run, lock_timeout=options.wait, now=now)
    except StoreBusy:
        sys.stderr.write(
            f"ERROR: pip-ff: the store is busy: another pip-ff process held its lock for "
            f"{options.wait:g} seconds ({store.lock_path}); try again, or wait longer with "
            "--wait SECONDS\n"
        )
        return EXIT_FAILED
    except OSError as exc:  # a read-only store (a restored CI cache, a shared one): no lock
        where = f" ({exc.filename})" if exc.filename else ""
        sys.stderr.write(
            f"ERROR: pip-ff: can't prune {location.store}: {exc.strerror or exc}{where}; prune "
            "needs write access to the store (--dry-run only reads)\n"
        )
        return EXIT_FAILED
    errors = [r for r in result.removals if r.error is not None]
    criterion = policy.older_than is not None or policy.max_size is not None
    criterion = criterion or policy.keep is not None or policy.damaged
    if options.json:
        write(json.dumps(_prune_json(location, result, now), indent=2, sort_keys=True))
        return EXIT_FAILED if errors else EXIT_OK
    verb = "would remove" if result.dry_run else "removed"
    if result.dry_run or options.verbose:
        for removal, size in _lines(result.removals):
            write(f"{verb} {_removal_label(removal, now)}, {size_text(size)}: {removal.reason}")
    for removal in errors:
        sys.stderr.write(f"ERROR: pip-ff: could not remove {removal.path}: {removal.error}\n")
    if not criterion:
        sys.stderr.write(_NO_CRITERION)
    parts = [_count(result.count(kind), kind) for kind in ("entry", "blob")]
    optional = ("temp", "link", "file", "host")
    parts += [_count(result.count(k), k) for k in optional if result.count(k)]
    freed = "would free" if result.dry_run else "freed"
    write(
        f"pip-ff store prune{' (dry run)' if result.dry_run else ''}: {verb} "
        f"{', '.join(parts)}; {freed} {size_text(result.freed)} ({location.store})"
    )
    return EXIT_FAILED if errors else EXIT_OK


def _prune_json(location: Location, result: PruneResult, now: float) -> dict[str, Any]:
    removed = []
    for removal in result.removals:
        item: dict[str, Any] = {
            "kind": removal.kind,
            "path": removal.path,
            "reason": removal.reason,
            "size": removal.size,
            "error": removal.error,
        }
        if removal.entry is not None:
            item["entry"] = entry_json(removal.entry, now)
        removed.append(item)
    return {
        "store": location.store,
        "dry_run": result.dry_run,
        "freed": result.freed,
        "counts": {
            "entries": result.count("entry"),
            "bodies": result.count("blob"),
            "temporary_files": result.count("temp"),
            "links": result.count("link"),
            "stray_files": result.count("file"),
        },
        "removed": removed,
    }
