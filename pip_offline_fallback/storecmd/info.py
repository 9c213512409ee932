"""``pip-ff store info``: what the store holds."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from typing import Any

from pip_offline_fallback import config
from pip_offline_fallback.store import LAYOUT, STALE_TEMP_SECONDS, Store
from pip_offline_fallback.store.inventory import FILE, METADATA, PAGE, EntryInfo, Inventory, scan
from pip_offline_fallback.storecmd.common import EXIT_OK, Location, write, write_table
from pip_offline_fallback.wording import age_text, size_text


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


def entry_json(info: EntryInfo, now: float) -> dict[str, Any]:
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


def run_info(location: Location, options: argparse.Namespace) -> int:
    store = Store(location.store)
    inventory = scan(store, verify=options.verify)
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
            "entries": [entry_json(i, now) for i in sorted(inventory.entries, key=lambda i: i.url)],
            "damaged": [{"url": i.url, "problem": i.problem} for i in inventory.damaged],
            "wheelhouses": _wheelhouses(location),
        }
        write(json.dumps(data, indent=2, sort_keys=True))
        return EXIT_OK

    write(f"pip-ff store: {location.store}")
    if os.path.islink(os.path.join(location.store, LAYOUT)):
        write(
            f"  {LAYOUT} is a symbolic link (never followed): pip-ff neither records into it nor "
            "answers from it; `pip-ff store prune` removes the link (never its target), or "
            "point --store or PIPFF_STORE at the directory it leads to"
        )
        return EXIT_OK
    if not inventory.exists:
        write("  empty (nothing recorded yet)")
        return EXIT_OK
    write(
        f"  {len(inventory.entries)} entries ({kinds[PAGE]} index pages, {kinds[FILE]} "
        f"distribution files, {kinds[METADATA]} metadata files) in {len(inventory.blobs)} bodies; "
        f"{size_text(inventory.total_size)} on disk"
    )
    if fetched:
        oldest = f"{age_text(now - min(fetched))} ago"
        newest = f"{age_text(now - max(fetched))} ago"
        write(f"  fetched {oldest}" if oldest == newest else f"  fetched from {oldest} to {newest}")
    if projects:
        write()
        rows = [["project", "versions", "pages", "files", "size", "newest"]]
        for p in projects:
            rows.append(
                [
                    p.name,
                    ", ".join(str(v) for v in sorted(p.versions)) or "-",
                    str(p.pages),
                    str(p.files),
                    size_text(p.size),
                    f"{age_text(now - p.newest)} ago",
                ]
            )
        write_table(rows, "  ")
    write()
    damaged = inventory.damaged
    if damaged:
        write(
            f"  damaged: {len(damaged)} (pip-ff never serves them; "
            "`pip-ff store prune --damaged` removes them)"
        )
        for info in damaged:
            write(f"    {info.url}: {info.problem}")
    elif inventory.verified:
        write("  damaged: none (every body matches its sha256)")
    else:
        write("  damaged: none found by size (not hashed: --no-verify)")
    orphans = inventory.orphans
    # prune removes a temporary file only once no writer can still be filling it.
    stale = [t for t in inventory.temps if now - t.mtime > STALE_TEMP_SECONDS]
    recent = [t for t in inventory.temps if t not in stale]
    clutter = [
        (len(orphans), sum(b.size for b in orphans), "bodies no entry uses"),
        (len(stale), sum(t.size for t in stale), "stale temporary files"),
        (len(inventory.strays), sum(s.size for s in inventory.strays), "unreadable or stray files"),
        (len(inventory.links), 0, "symbolic links (never followed)"),
    ]
    for count, size, what in clutter:
        if count:
            write(f"  {what}: {count} ({size_text(size)}); `pip-ff store prune` removes them")
    if recent:
        write(
            f"  temporary files: {len(recent)} ({size_text(sum(t.size for t in recent))}), "
            "being written or left by a run stopped less than an hour ago; `pip-ff store "
            "prune` removes them once they are an hour old"
        )
    for wheelhouse in _wheelhouses(location):
        state = f"{wheelhouse['files']} files" if wheelhouse["exists"] else "absent"
        write(f"  wheelhouse: {wheelhouse['path']} ({state})")
    return EXIT_OK
