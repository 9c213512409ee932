"""``pip-ff store prune``: what no one can use, and what a policy says, removed from the store
under its lock (what is there is :func:`.inventory.scan`'s)."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field

from pip_offline_fallback.compat.vendored import Version
from pip_offline_fallback.store.inventory import FILE, METADATA, EntryInfo, scan
from pip_offline_fallback.store.layout import STALE_TEMP_SECONDS, digest
from pip_offline_fallback.store.writing import Store
from pip_offline_fallback.urls import host_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrunePolicy:
    """What ``prune`` removes besides what no one can use (which it always removes: symbolic
    links, blobs no entry names, entries whose body is missing or of the wrong size, unreadable
    entries, and temporary files older than an hour).

    - ``older_than``: entries fetched more than this many seconds ago;
    - ``keep``: distribution files (and their metadata) of all but the newest N versions of each
      project; index pages are kept;
    - ``max_size``: then the oldest entries until the store holds at most this many bytes;
    - ``damaged``: hash every blob; remove those that don't match, with their entries, and
      the entries of files whose sha256 contradicts what their recorded index page lists.
    """

    older_than: float | None = None
    max_size: int | None = None
    keep: int | None = None
    damaged: bool = False


@dataclass
class Removal:
    path: str
    kind: str  # entry, blob, temp, link, file
    reason: str
    size: int
    entry: EntryInfo | None = None
    error: str | None = None


@dataclass
class PruneResult:
    dry_run: bool
    removals: list[Removal] = field(default_factory=list)

    def add(
        self, path: str, kind: str, reason: str, size: int, entry: EntryInfo | None = None
    ) -> None:
        self.removals.append(Removal(path, kind, reason, size, entry))

    @property
    def freed(self) -> int:
        return sum(r.size for r in self.removals if r.error is None)

    def count(self, kind: str) -> int:
        return sum(1 for r in self.removals if r.kind == kind and r.error is None)


def prune(
    store: Store,
    policy: PrunePolicy,
    *,
    dry_run: bool = False,
    lock_timeout: float = 10.0,
    now: float | None = None,
) -> PruneResult:
    """Remove what ``policy`` says, plus what no one can use; see :class:`PrunePolicy`.

    Holds the store lock for the whole run (raises :class:`StoreBusy` after
    ``lock_timeout``), except for a dry run, which only reads.
    """
    if not os.path.lexists(store.base):
        return PruneResult(dry_run=dry_run)
    if os.path.islink(store.base):
        # ``v1`` itself a link: never followed (installs neither record into it nor answer
        # from it); the link goes, never its target. No lock: it would live behind the link.
        result = PruneResult(dry_run=dry_run)
        result.add(store.base, "link", "symbolic link (never followed)", 0)
        if not dry_run:
            _remove(result)
        return result
    if dry_run:
        return _prune(store, policy, dry_run=True, now=now)
    with store.lock(lock_timeout):
        return _prune(store, policy, dry_run=False, now=now)


def _prune(store: Store, policy: PrunePolicy, *, dry_run: bool, now: float | None) -> PruneResult:
    inventory = scan(store, verify=policy.damaged, now=now)
    now = inventory.now
    result = PruneResult(dry_run=dry_run)
    for stray in inventory.links:
        result.add(stray.path, "link", stray.reason, 0)
    for stray in inventory.strays:
        result.add(stray.path, "file", stray.reason, stray.size)
    for stray in inventory.temps:
        if now - stray.mtime > STALE_TEMP_SECONDS:
            result.add(stray.path, "temp", "stale temporary file", stray.size)

    # Entries that can never be served (no body, or a body of the wrong size; with
    # ``damaged``, also a body that fails its hash) go whatever the policy.
    removed: dict[str, str] = {i.path: i.problem for i in inventory.entries if i.problem}
    if policy.older_than is not None:
        for info in inventory.entries:
            if info.path not in removed and now - info.fetched > policy.older_than:
                removed[info.path] = "older than the limit"
    if policy.keep is not None:
        versions: dict[str, set[Version]] = defaultdict(set)
        for info in inventory.entries:
            if info.kind in (FILE, METADATA) and info.version is not None:
                versions[info.project].add(info.version)
        kept = {
            project: set(sorted(found, reverse=True)[: policy.keep])
            for project, found in versions.items()
        }
        for info in inventory.entries:
            if (
                info.path not in removed
                and info.kind in (FILE, METADATA)
                and info.version is not None
                and info.version not in kept[info.project]
            ):
                removed[info.path] = f"not among the newest {policy.keep} versions"
    if policy.max_size is not None:
        remaining = [i for i in inventory.entries if i.path not in removed]
        refs: dict[str, int] = defaultdict(int)
        for info in remaining:
            refs[info.sha256] += 1
        total = sum(i.entry_size for i in remaining) + sum(
            b.size for s, b in inventory.blobs.items() if refs.get(s)
        )
        for info in sorted(remaining, key=lambda i: i.fetched):
            if total <= policy.max_size:
                break
            removed[info.path] = "over the size limit (oldest first)"
            total -= info.entry_size
            refs[info.sha256] -= 1
            blob = inventory.blobs.get(info.sha256)
            if refs[info.sha256] == 0 and blob is not None:
                total -= blob.size

    referenced: set[str] = set()
    for info in inventory.entries:
        if info.path in removed:
            result.add(info.path, "entry", removed[info.path], info.entry_size, info)
        else:
            referenced.add(info.sha256)
    for sha256, blob in inventory.blobs.items():
        if sha256 not in referenced:
            why = "damaged" if blob.damaged else "no entry uses it"
            result.add(blob.path, "blob", why, blob.size)
    hosts_kept = {digest(host_of(i.url)) for i in inventory.entries if i.path not in removed}
    for name, path in inventory.hosts.items():
        if name not in hosts_kept:
            result.add(path, "host", "nothing left from this host", 0)

    if not dry_run:
        _remove(result)
    return result


def _remove(result: PruneResult) -> None:
    # Entries before blobs, so no reader is ever handed an entry whose blob is gone
    # because of us (a reader that already has the entry just finds no body).
    order = {"link": 0, "entry": 1, "host": 2, "file": 3, "blob": 4, "temp": 5}
    for removal in sorted(result.removals, key=lambda r: order[r.kind]):
        try:
            os.unlink(removal.path)  # on a link: the link, never its target
        except FileNotFoundError:
            removal.size = 0
        except OSError as exc:
            removal.error = str(exc)
            removal.size = 0
            logger.warning("pip-ff: could not remove %s: %s", removal.path, exc)
