"""``pip-ff store``: inspect, check and prune pip-ff's local store (not a pip command).

    pip-ff store info  [--json] [--no-verify]
    pip-ff store check [-r FILE]... [REQ]... [--json] [-i URL] [--platform ...] [-v]
    pip-ff store prune [--older-than DURATION] [--max-size SIZE] [--keep N] [--damaged]
                       [--dry-run] [--wait SECONDS] [--json]

Each also takes ``--store DIR`` and ``--cache-dir DIR``. The store is found as pip-ff's install
finds it: ``--store``, else ``PIPFF_STORE``, else ``pip-ff`` inside pip's cache directory
(``--cache-dir``, else what pip itself would use: ``PIP_CACHE_DIR``, pip's configuration files,
pip's default).

This is the command module: it writes its tables and JSON to stdout, errors to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import os
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pip_offline_fallback import config
from pip_offline_fallback.errors import EXIT_INTERRUPTED, UsageError
from pip_offline_fallback.store import (
    FILE,
    METADATA,
    PAGE,
    EntryInfo,
    Inventory,
    PrunePolicy,
    PruneResult,
    Removal,
    Store,
    StoreBusy,
)

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

DEFAULT_PRUNE_WAIT = 10.0


# -- finding the store -----------------------------------------------------------------------


def _pip_cache_dir() -> str | None:
    """The cache directory pip itself would use here; None when pip's cache is switched off."""
    # pip's own option parser applies PIP_CACHE_DIR, pip's configuration files and the default
    # exactly as an install run would.
    value: Any = os.environ.get("PIP_CACHE_DIR")
    if value and not os.environ.get("PIP_NO_CACHE_DIR"):
        # What pip's parser would answer (the variable beats pip's configuration files),
        # without the second it takes to import pip's commands.
        return os.path.abspath(os.path.expanduser(str(value)))
    from pip_offline_fallback import compat

    try:
        options, _ = compat.create_command("download").parse_args([])
        value = options.cache_dir
    except (Exception, SystemExit) as exc:  # pip's parser exits on a bad configuration
        logger.debug("pip-ff: pip's option parser failed (%r); using pip's default", exc)
        value = os.environ.get("PIP_CACHE_DIR") or compat.USER_CACHE_DIR
    if not value:
        return None
    return os.path.abspath(os.path.expanduser(str(value)))


@dataclass(frozen=True)
class Location:
    store: str
    cache_dir: str | None  # pip's cache directory, when known (the check reads it too)


def locate(store: str | None, cache_dir: str | None) -> Location:
    """Where the store is: the same place a ``pip-ff install`` with these options records to."""
    cache = os.path.abspath(os.path.expanduser(cache_dir)) if cache_dir else None
    if store:
        return Location(os.path.abspath(os.path.expanduser(store)), cache)
    if os.environ.get(config.STORE_VARIABLE):
        return Location(config.expand_path(os.environ[config.STORE_VARIABLE]), cache)
    if cache is None:
        cache = _pip_cache_dir()
    if cache is None:
        raise UsageError(
            "pip's cache is switched off (--no-cache-dir or PIP_NO_CACHE_DIR), so pip-ff keeps "
            "no store; name one with --store DIR"
        )
    return Location(os.path.join(cache, "pip-ff"), cache)


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


def size_text(size: float) -> str:
    """As pip shows sizes: ``812 bytes``, ``11.2 kB``, ``3.4 MB``."""
    if size < 1000:
        return f"{int(size)} bytes"
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} TB"


def _ago(seconds: float) -> str:
    # report.age_text says the same, but importing report imports pip: info and prune don't.
    seconds = max(0.0, seconds)
    units = (("day", 86400), ("hour", 3600), ("minute", 60))
    unit, size = next(((u, n) for u, n in units if seconds >= n), ("second", 1))
    count = int(seconds // size)
    return f"{count} {unit}{'' if count == 1 else 's'} ago"


# -- the command line ------------------------------------------------------------------------


class _Forward(argparse.Action):
    """Keeps a pip option, in order, for the dry run of ``check``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        forwarded: list[str] | None = getattr(namespace, "pip_options", None)
        if forwarded is None:
            forwarded = []
            namespace.pip_options = forwarded
        forwarded.append(self.option_strings[-1])
        if self.nargs != 0:
            forwarded.append(str(values))


# pip's options that change what an install resolves to; ``check`` hands them to pip.
_PIP_VALUE_OPTIONS = (
    ("-i", "--index-url"),
    ("--extra-index-url",),
    ("-f", "--find-links"),
    ("--trusted-host",),
    ("-c", "--constraint"),
    ("--only-binary",),
    ("--no-binary",),
    ("--platform",),
    ("--python-version",),
    ("--implementation",),
    ("--abi",),
)
_PIP_FLAGS = (("--no-index",), ("--pre",), ("--prefer-binary",))
# pip install accepts these only with --target (it can't install for another interpreter).
_TARGET_OPTIONS = ("--platform", "--python-version", "--implementation", "--abi")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's exits, with pip-ff's voice
        raise UsageError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--store",
        metavar="DIR",
        help="the store (default: $PIPFF_STORE, else pip-ff in pip's cache)",
    )
    common.add_argument(
        "--cache-dir", metavar="DIR", help="pip's cache directory (the store is DIR/pip-ff)"
    )
    common.add_argument("--json", action="store_true", help="write JSON instead of a table")
    common.add_argument("-v", "--verbose", action="store_true", help="say more")

    parser = _Parser(
        prog="pip-ff store",
        description="Inspect, check and prune pip-ff's local store.",
        epilog=(
            "The store is --store DIR, else $PIPFF_STORE, else pip-ff inside pip's cache "
            "directory (--cache-dir, $PIP_CACHE_DIR, pip's configuration, pip's default)."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    info = commands.add_parser(
        "info", parents=[common], help="what the store holds", description="What the store holds."
    )
    info.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="don't hash every body (damage is then found by size only)",
    )

    check = commands.add_parser(
        "check",
        parents=[common],
        help="can these requirements be installed offline?",
        description=(
            "Can these requirements be installed offline, for this interpreter and platform? "
            "Runs pip's own resolver offline (pip-ff --offline install --dry-run "
            "--ignore-installed): exit status 0 only when all of them can. pip's index and "
            "platform options are passed on; give the index options the installs used."
        ),
    )
    check.add_argument(
        "-r", "--requirement", dest="files", action="append", default=[], metavar="FILE"
    )
    check.add_argument("requirements", nargs="*", metavar="REQ")
    for flags in _PIP_VALUE_OPTIONS:
        check.add_argument(*flags, action=_Forward, metavar="VALUE", help="as for pip install")
    for flags in _PIP_FLAGS:
        check.add_argument(*flags, action=_Forward, nargs=0, help="as for pip install")

    prune = commands.add_parser(
        "prune",
        parents=[common],
        help="remove old, surplus or damaged records",
        description=(
            "Remove entries by age, by count or by total size, and always what no one can use: "
            "bodies no entry names, entries whose body is gone, links, temporary files older "
            "than an hour. Holds the store lock while it runs; waits --wait seconds for it."
        ),
    )
    prune.add_argument("--older-than", metavar="DURATION", help="e.g. 90d, 12h, 30m, 3600")
    prune.add_argument("--max-size", metavar="SIZE", help="e.g. 500M, 2G, 1GiB (oldest go first)")
    prune.add_argument(
        "--keep", type=int, metavar="N", help="keep the newest N versions of each project's files"
    )
    prune.add_argument("--damaged", action="store_true", help="hash every body; remove bad ones")
    prune.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    prune.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_PRUNE_WAIT,
        metavar="SECONDS",
        help=f"how long to wait for the store lock (default {DEFAULT_PRUNE_WAIT:g})",
    )
    return parser


def main(args: list[str], *, run_pip: Callable[[list[str]], int]) -> int:
    """``pip-ff store ARGS``; returns the exit status.

    ``run_pip`` is pip-ff's own command line (``cli.main``), run in this process by ``check``.
    """
    parser = _parser()
    package_logger = logging.getLogger("pip_offline_fallback")
    handler: logging.Handler | None = None
    level = package_logger.level
    try:
        try:
            options = parser.parse_args(args)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        if options.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if options.verbose and options.command != "check":  # check shows pip's own output
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            package_logger.addHandler(handler)
            level = package_logger.level
            package_logger.setLevel(logging.DEBUG)
        location = locate(options.store, options.cache_dir)
        if options.command == "info":
            return _info(location, options)
        if options.command == "check":
            return _check(location, options, run_pip)
        return _prune(location, options)
    except UsageError as exc:
        sys.stderr.write(f"ERROR: pip-ff: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    finally:
        if handler is not None:
            package_logger.removeHandler(handler)
            package_logger.setLevel(level)
        sys.stdout.flush()


def _write(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _table(rows: Sequence[Sequence[str]], indent: str = "") -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        _write((indent + "  ".join(cells)).rstrip())


# -- info ------------------------------------------------------------------------------------


@dataclass
class _Project:
    name: str
    versions: set[Any] = field(default_factory=set)
    pages: int = 0
    files: int = 0
    metadata: int = 0
    size: int = 0
    oldest: float = float("inf")
    newest: float = 0.0


def _projects(inventory: Inventory) -> list[_Project]:
    projects: dict[str, _Project] = {}
    for info in inventory.entries:
        name = info.project or "(other)"
        project = projects.setdefault(name, _Project(name))
        if info.kind == PAGE:
            project.pages += 1
        elif info.kind == FILE:
            project.files += 1
        elif info.kind == METADATA:
            project.metadata += 1
        if info.version is not None:
            project.versions.add(info.version)
        project.size += info.size
        project.oldest = min(project.oldest, info.fetched)
        project.newest = max(project.newest, info.fetched)
    return sorted(projects.values(), key=lambda p: p.name)


def _wheelhouses(location: Location) -> list[dict[str, Any]]:
    directories = [os.path.join(location.store, "wheelhouse")]
    settings = config.settings_from_environ(os.environ, default=config.Mode.AUTO)
    if settings is not None:
        directories = [*settings.wheelhouses, *directories]
    found = []
    for directory in directories:
        try:
            names = sorted(
                n for n in os.listdir(directory) if n.endswith((".whl", ".tar.gz", ".zip"))
            )
            exists = True
        except OSError:
            names, exists = [], False
        found.append({"path": directory, "exists": exists, "files": len(names)})
    return found


def _entry_json(info: EntryInfo, now: float) -> dict[str, Any]:
    return {
        "url": info.url,
        "kind": info.kind,
        "project": info.project or None,
        "version": str(info.version) if info.version is not None else None,
        "filename": info.filename,
        "fetched": info.fetched,
        "age_seconds": round(max(0.0, now - info.fetched), 3),
        "size": info.size,
        "sha256": info.sha256,
        "problem": info.problem,
    }


def _info(location: Location, options: argparse.Namespace) -> int:
    store = Store(location.store)
    inventory = store.scan(verify=options.verify)
    projects = _projects(inventory)
    now = inventory.now
    kinds = {
        kind: sum(1 for i in inventory.entries if i.kind == kind) for kind in (PAGE, FILE, METADATA)
    }
    fetched = [i.fetched for i in inventory.entries]
    if options.json:
        data = {
            "store": location.store,
            "pip_cache_dir": location.cache_dir,
            "exists": inventory.exists,
            "verified": inventory.verified,
            "total_size": inventory.total_size,
            "counts": {
                "entries": len(inventory.entries),
                "pages": kinds[PAGE],
                "files": kinds[FILE],
                "metadata": kinds[METADATA],
                "bodies": len(inventory.blobs),
                "damaged": len(inventory.damaged),
                "unreferenced_bodies": len(inventory.orphans),
                "temporary_files": len(inventory.temps),
                "links": len(inventory.links),
                "stray_files": len(inventory.strays),
            },
            "oldest_fetched": min(fetched) if fetched else None,
            "newest_fetched": max(fetched) if fetched else None,
            "projects": [
                {
                    "name": p.name,
                    "versions": [str(v) for v in sorted(p.versions)],
                    "pages": p.pages,
                    "files": p.files,
                    "metadata": p.metadata,
                    "size": p.size,
                    "oldest_fetched": p.oldest,
                    "newest_fetched": p.newest,
                }
                for p in projects
            ],
            "entries": [
                _entry_json(i, now) for i in sorted(inventory.entries, key=lambda i: i.url)
            ],
            "damaged": [{"url": i.url, "problem": i.problem} for i in inventory.damaged],
            "wheelhouses": _wheelhouses(location),
        }
        _write(json.dumps(data, indent=2, sort_keys=True))
        return EXIT_OK

    _write(f"pip-ff store: {location.store}")
    if not inventory.exists:
        _write("  empty (nothing recorded yet)")
        return EXIT_OK
    _write(
        f"  {len(inventory.entries)} entries ({kinds[PAGE]} index pages, {kinds[FILE]} "
        f"distribution files, {kinds[METADATA]} metadata files) in {len(inventory.blobs)} bodies; "
        f"{size_text(inventory.total_size)} on disk"
    )
    if fetched:
        oldest, newest = _ago(now - min(fetched)), _ago(now - max(fetched))
        _write(
            f"  fetched {oldest}" if oldest == newest else f"  fetched from {oldest} to {newest}"
        )
    if projects:
        _write()
        rows = [["project", "versions", "pages", "files", "size", "newest"]]
        for p in projects:
            rows.append(
                [
                    p.name,
                    ", ".join(str(v) for v in sorted(p.versions)) or "-",
                    str(p.pages),
                    str(p.files),
                    size_text(p.size),
                    _ago(now - p.newest),
                ]
            )
        _table(rows, "  ")
    _write()
    damaged = inventory.damaged
    if damaged:
        _write(
            f"  damaged: {len(damaged)} (pip-ff never serves them; "
            "`pip-ff store prune --damaged` removes them)"
        )
        for info in damaged:
            _write(f"    {info.url}: {info.problem}")
    elif inventory.verified:
        _write("  damaged: none (every body matches its sha256)")
    else:
        _write("  damaged: none found by size (not hashed: --no-verify)")
    orphans = inventory.orphans
    clutter = [
        (len(orphans), sum(b.size for b in orphans), "bodies no entry uses"),
        (len(inventory.temps), sum(t.size for t in inventory.temps), "temporary files"),
        (len(inventory.strays), sum(s.size for s in inventory.strays), "unreadable or stray files"),
        (len(inventory.links), 0, "symbolic links (never followed)"),
    ]
    for count, size, what in clutter:
        if count:
            _write(f"  {what}: {count} ({size_text(size)}); `pip-ff store prune` removes them")
    for wheelhouse in _wheelhouses(location):
        state = f"{wheelhouse['files']} files" if wheelhouse["exists"] else "absent"
        _write(f"  wheelhouse: {wheelhouse['path']} ({state})")
    return EXIT_OK


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
    return f"{what} (fetched {_ago(now - info.fetched)})"


def _prune(location: Location, options: argparse.Namespace) -> int:
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
        result = store.prune(policy, dry_run=options.dry_run, lock_timeout=options.wait, now=now)
    except StoreBusy:
        sys.stderr.write(
            f"ERROR: pip-ff: the store is busy: another pip-ff process held its lock for "
            f"{options.wait:g} seconds ({store.lock_path}); try again, or wait longer with "
            "--wait SECONDS\n"
        )
        return EXIT_FAILED
    errors = [r for r in result.removals if r.error is not None]
    if options.json:
        _write(json.dumps(_prune_json(location, result, now), indent=2, sort_keys=True))
        return EXIT_FAILED if errors else EXIT_OK
    verb = "would remove" if result.dry_run else "removed"
    if result.dry_run or options.verbose:
        for removal in result.removals:
            if removal.error is None:
                _write(
                    f"{verb} {_removal_label(removal, now)}, {size_text(removal.size)}: "
                    f"{removal.reason}"
                )
    for removal in errors:
        sys.stderr.write(f"ERROR: pip-ff: could not remove {removal.path}: {removal.error}\n")
    parts = [_count(result.count(kind), kind) for kind in ("entry", "blob")]
    optional = ("temp", "link", "file", "host")
    parts += [_count(result.count(k), k) for k in optional if result.count(k)]
    freed = "would free" if result.dry_run else "freed"
    _write(
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
            item["entry"] = _entry_json(removal.entry, now)
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


# -- check -----------------------------------------------------------------------------------


@dataclass
class _Req:
    text: str  # as written (shown)
    line: str  # for a requirements file given to pip (per-line options dropped)
    name: str | None  # canonical project name, when it has one


def _strip_comment(line: str) -> str:
    for i, char in enumerate(line):
        if char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip()
    return line.strip()


def _logical_lines(text: str) -> Iterator[str]:
    """pip's reading of a requirements file: backslash continuations joined, comments gone."""
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\") and not raw.lstrip().startswith("#"):
            pending += raw[:-1] + " "
            continue
        line = _strip_comment(pending + raw)
        pending = ""
        if line:
            yield line
    if pending.strip():
        yield _strip_comment(pending)


def _local_path(value: str, base: str) -> str:
    """A relative path as the requirements file meant it (relative to the file)."""
    if "://" in value or os.path.isabs(value):
        return value
    candidate = os.path.join(base, value)
    if value.startswith(".") or os.path.exists(candidate):
        return os.path.abspath(candidate)
    return value


def _option(tokens: list[str]) -> tuple[str, str | None]:
    name, eq, value = tokens[0].partition("=")
    if eq:
        return name, value
    if name.startswith("-") and not name.startswith("--") and len(name) > 2:
        return name[:2], name[2:]  # -rfile
    return name, tokens[1] if len(tokens) > 1 else None


def read_requirements(path: str, seen: set[str] | None = None) -> tuple[list[str], list[_Req]]:
    """The option lines and the requirements of a requirements file (``-r`` files included).

    Only for telling which requirement can't be had: the verdict on the whole file is pip's own
    reading of it. Hash options are dropped (alone, a line would not satisfy hash-checking mode).
    """
    seen = set() if seen is None else seen
    real = os.path.realpath(path)
    if real in seen:
        return [], []
    seen.add(real)
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as f:
        text = f.read()
    global_lines: list[str] = []
    found: list[_Req] = []
    for line in _logical_lines(text):
        try:
            tokens = shlex.split(line)
        except ValueError:
            tokens = line.split()
        if not tokens:
            continue
        if tokens[0].startswith("-"):
            name, value = _option(tokens)
            if name in ("-r", "--requirement") and value:
                more_lines, more = read_requirements(_local_path(value, base), seen)
                global_lines.extend(more_lines)
                found.extend(more)
            elif name in ("-e", "--editable") and value:
                found.append(_Req(line, f"-e {_local_path(value, base)}", None))
            elif name in ("-c", "--constraint", "-f", "--find-links") and value:
                global_lines.append(f"{name} {_local_path(value, base)}")
            elif name not in ("--require-hashes", "--hash"):
                global_lines.append(line)
            continue
        words = line.split()
        requirement = " ".join(w for w in _until_option(words))
        found.append(_Req(requirement, _local_path(requirement, base), _name_of(requirement)))
    return global_lines, found


def _until_option(words: list[str]) -> Iterator[str]:
    for word in words:
        if word.startswith("-"):
            return
        yield word


def _name_of(requirement: str) -> str | None:
    try:
        return str(canonicalize_name(Requirement(requirement).name))
    except InvalidRequirement:
        return None


@dataclass
class _DryRun:
    status: int
    install: list[dict[str, Any]]
    reasons: list[str]
    output: str
    hooked: bool = True


@dataclass
class _Row:
    requirement: str
    ok: bool
    detail: list[str]


class _Checker:
    def __init__(
        self,
        location: Location,
        pip_options: list[str],
        verbose: bool,
        run_pip: Callable[[list[str]], int],
    ) -> None:
        self.location = location
        self.pip_options = pip_options
        self.verbose = verbose
        self.run_pip = run_pip
        self.damaged: set[str] = set()

    def settings(self) -> config.Settings:
        environ = {
            k: v
            for k, v in os.environ.items()
            if k not in (config.UNREACHABLE_VARIABLE, config.PIP_CACHES_VARIABLE)
        }
        environ[config.MODE_VARIABLE] = config.Mode.OFFLINE.value
        settings = config.settings_from_environ(environ, default=config.Mode.OFFLINE)
        if settings is None:  # pragma: no cover - the mode is set just above
            settings = config.Settings(mode=config.Mode.OFFLINE)
        return dataclasses.replace(settings, store=self.location.store)

    def run(self, requirement_args: list[str]) -> _DryRun:
        """``pip-ff --offline install --dry-run --ignore-installed --report``, in this process."""
        from pip_offline_fallback import fallback, inject

        with tempfile.TemporaryDirectory(prefix="pipff-check-") as tmp:
            report_path = os.path.join(tmp, "report.json")
            args = [
                "install",
                "--dry-run",
                "--ignore-installed",
                "--report",
                report_path,
                "--disable-pip-version-check",
                "--no-input",
                *(["--cache-dir", self.location.cache_dir] if self.location.cache_dir else []),
                *self.pip_options,
            ]
            if any(o in _TARGET_OPTIONS for o in self.pip_options):
                args += ["--target", os.path.join(tmp, "target")]
            args += requirement_args
            buffer = io.StringIO()
            saved = dict(os.environ)
            settings = self.settings()
            try:
                # The run is pip-ff's own install in offline mode; its children (build
                # isolation) inherit the same settings through the environment.
                # A fallback report describes a user's run; this one is ours.
                os.environ.pop(getattr(config, "REPORT_VARIABLE", "PIPFF_REPORT"), None)
                for name in (config.UNREACHABLE_VARIABLE, config.PIP_CACHES_VARIABLE):
                    os.environ.pop(name, None)
                config.export(settings, os.environ)
                # Hooked first, and checked: a pip that can't be hooked would run plain, online.
                if not inject.inject(settings) or fallback.active is None:
                    return _DryRun(1, [], [], "", hooked=False)
                with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                    status = self.run_pip(args)
                if status == EXIT_INTERRUPTED:
                    raise KeyboardInterrupt
            finally:
                os.environ.clear()
                os.environ.update(saved)
            # pip's own lines may carry credentials too (pip 23.0 did, for a direct URL).
            output = _redact_text(buffer.getvalue())
            if self.verbose:
                shown = shlex.join(_redacted(args))
                sys.stderr.write(f"$ pip-ff --offline {shown}\n{output}")
            engine = fallback.active
            install: list[dict[str, Any]] = []
            if status == 0:
                try:
                    with open(report_path, encoding="utf-8") as f:
                        install = list(json.load(f).get("install", []))
                except (OSError, ValueError) as exc:
                    return _DryRun(1, [], [f"pip wrote no report ({exc})"], output)
        reasons: list[str] = []
        if engine is None:
            return _DryRun(1, [], ["pip-ff could not hook this pip (see -v)"], output)
        if status == 0:
            reasons.extend(self._unusable(engine, install))
            return _DryRun(1 if reasons else 0, install, reasons, output)
        for item in getattr(engine.report, "missing", {}).values():
            local = ", ".join(item.local_versions) or "none"
            reasons.append(
                f"no local copy satisfies {item.project}{item.specifier} (local versions: {local})"
            )
        if engine.store is not None:
            for url in dict.fromkeys(engine.store.damaged):
                self.damaged.add(url)
                reasons.append(f"the recorded copy of {_filename(url)} is damaged")
        if not reasons:
            errors = [
                line[len("ERROR: ") :]
                for line in output.splitlines()
                if line.startswith("ERROR: ") and not line.startswith("ERROR: pip-ff: run ")
            ]
            reasons.append(errors[-1] if errors else f"pip exited with status {status}")
        return _DryRun(status, install, reasons, output)

    def _unusable(self, engine: Any, install: list[dict[str, Any]]) -> list[str]:
        """Files the resolver chose but whose recorded copy can't be served.

        pip may resolve from PEP 658 metadata alone and not fetch the file in a dry run, so
        each chosen file that comes from pip-ff's record is verified here.
        """
        reasons = []
        store = engine.store
        for item in install:
            url = str(item.get("download_info", {}).get("url", ""))
            if store is None or not url.startswith(("http://", "https://")):
                continue
            if any(cache.has(url) for cache in engine.http_caches):
                continue
            entry = store.lookup(url)
            if entry is None:
                continue
            body = store.open_verified(entry)
            if body is None:
                self.damaged.add(url)
                reasons.append(f"the recorded copy of {_filename(url)} is damaged")
            else:
                body.close()
        return reasons


def _redacted(args: Sequence[str]) -> list[str]:
    """The arguments with credentials taken out of every URL (an index's password, say)."""
    return [_redact_text(arg) for arg in args]


# A URL inside free text (a requirement, a line of pip's output), up to a space or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _redact_text(text: str) -> str:
    """``text`` with credentials taken out of each URL in it (``name @ https://u:p@host/x``)."""
    if "://" not in text:
        return text
    from pip_offline_fallback import compat

    return _URL_IN_TEXT.sub(lambda match: compat.redact(match.group(0)), text)


def _filename(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _resolved(install: list[dict[str, Any]], name: str | None) -> str:
    for item in install:
        metadata = item.get("metadata", {})
        if name is not None and canonicalize_name(str(metadata.get("name", ""))) == name:
            return f"{metadata.get('name')} {metadata.get('version')}"
    return ""


def _check(
    location: Location, options: argparse.Namespace, run_pip: Callable[[list[str]], int]
) -> int:
    from pip_offline_fallback import compat, inject

    problems = compat.problems()
    if problems:
        sys.stderr.write(f"ERROR: pip-ff: can't check offline: {problems[0]}\n")
        return EXIT_FAILED
    pip_options: list[str] = list(getattr(options, "pip_options", None) or [])
    reqs: list[_Req] = [_Req(r, r, _name_of(r)) for r in options.requirements]
    per_file: list[tuple[list[str], list[_Req]]] = []
    for path in options.files:
        try:
            per_file.append(read_requirements(path))
        except OSError as exc:
            raise UsageError(f"can't read {path}: {exc}") from None
    if not reqs and not any(found for _, found in per_file):
        raise UsageError("give requirements to check (REQ ... or -r FILE)")

    checker = _Checker(location, pip_options, options.verbose, run_pip)
    started = time.monotonic()
    try:
        together_args = [a for path in options.files for a in ("-r", path)] + options.requirements
        together = checker.run(together_args)
        if not together.hooked:
            sys.stderr.write("ERROR: pip-ff: can't hook this pip, so it can't check offline\n")
            return EXIT_FAILED
        rows: list[_Row] = []
        if together.status == 0:
            for req in [*reqs, *(r for _, found in per_file for r in found)]:
                resolved = _resolved(together.install, req.name)
                rows.append(_Row(_redact_text(req.text), True, [resolved]))
        else:
            with tempfile.TemporaryDirectory(prefix="pipff-check-") as tmp:
                single: list[tuple[_Req, list[str]]] = [(r, [r.line]) for r in reqs]
                for i, (global_lines, found) in enumerate(per_file):
                    for j, req in enumerate(found):
                        path = os.path.join(tmp, f"req-{i}-{j}.txt")
                        with open(path, "w", encoding="utf-8") as f:
                            f.write("\n".join([*global_lines, req.line]) + "\n")
                        single.append((req, ["-r", path]))
                for req, args in single:
                    alone = checker.run(args)
                    detail = (
                        [_resolved(alone.install, req.name)] if alone.status == 0 else alone.reasons
                    )
                    rows.append(_Row(_redact_text(req.text), alone.status == 0, detail))
            if all(row.ok for row in rows):
                rows.append(_Row("(all together)", False, together.reasons))
    finally:
        inject.extract()
    elapsed = time.monotonic() - started
    ok = together.status == 0
    if options.json:
        data = {
            "store": location.store,
            "ok": ok,
            "python": ".".join(str(n) for n in sys.version_info[:3]),
            "requirements": [
                {"requirement": r.requirement, "ok": r.ok, "detail": [d for d in r.detail if d]}
                for r in rows
            ],
            "install": [
                {
                    "name": item.get("metadata", {}).get("name"),
                    "version": item.get("metadata", {}).get("version"),
                    "url": item.get("download_info", {}).get("url"),
                }
                for item in together.install
            ],
            "damaged": sorted(checker.damaged),
        }
        _write(json.dumps(data, indent=2, sort_keys=True))
        return EXIT_OK if ok else EXIT_FAILED
    table = [["requirement", "offline", "detail"]]
    for row in rows:
        details = [d for d in row.detail if d] or [""]
        table.append([row.requirement, "yes" if row.ok else "NO", details[0]])
        table.extend(["", "", more] for more in details[1:])
    _table(table)
    can = sum(1 for r in rows if r.ok and r.requirement != "(all together)")
    cannot = sum(1 for r in rows if not r.ok and r.requirement != "(all together)")
    _write()
    if ok:
        names = ", ".join(
            f"{i.get('metadata', {}).get('name')} {i.get('metadata', {}).get('version')}"
            for i in together.install
        )
        _write(f"All {can} can be installed offline (would install: {names or 'nothing'}).")
    elif cannot:
        _write(f"{can} can be installed offline; {cannot} can't.")
    else:
        _write("Each can be installed offline alone, but not all together.")
    if checker.damaged:
        _write(
            f"Damaged records: {len(checker.damaged)} (`pip-ff store prune --damaged` removes "
            "them)."
        )
    _write(f"Checked against {location.store} in {elapsed:.1f} s.")
    return EXIT_OK if ok else EXIT_FAILED
