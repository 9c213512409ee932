"""What pip-ff's store holds, as the admin commands (``pip-ff store``) see it: a scan of every
file in it, and prune.

Reading and writing the store is :mod:`pip_offline_fallback.store`; this module only reads it
through a :class:`~pip_offline_fallback.store.Store`, and removes files under its lock.
"""

from __future__ import annotations

import logging
import os
import stat
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from pip_offline_fallback import plausible
from pip_offline_fallback.compat.vendored import (
    Version,
    canonicalize_name,
)
from pip_offline_fallback.store import (
    _ENTRY_TEMP_PREFIX,
    STALE_TEMP_SECONDS,
    Entry,
    Store,
    _digest,
    _is_sha256,
    _open_regular,
    filed_under,
    sha256_of_file,
)
from pip_offline_fallback.urls import host_of, parse_dist_filename

logger = logging.getLogger(__name__)


# A project page bigger than this is not read for the hashes it lists (PyPI's largest are a
# few MB).
_MAX_PAGE = 64 * 1024 * 1024


# What an entry holds, for the admin commands.
PAGE = "page"
FILE = "file"
METADATA = "metadata"
OTHER = "other"
_PAGE_TYPES = ("text/html", "application/vnd.pypi.simple")


# -- what the admin commands see -------------------------------------------------------------


def describe_url(url: str, content_type: str = "") -> tuple[str, str, Version | None, str]:
    """``(kind, project, version, file name)`` of a recorded URL.

    Distribution files and their PEP 658 metadata are recognised by their file name (packaging's
    own parsers); index pages by their content type, then by being neither.
    """
    path = urllib.parse.urlsplit(url).path
    filename = urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])
    kind = FILE
    name = filename
    if name.endswith(".metadata"):
        kind, name = METADATA, name[: -len(".metadata")]
    parsed = parse_dist_filename(name)
    if parsed is not None and not content_type.lower().startswith(_PAGE_TYPES):
        return kind, parsed[0], parsed[1], filename
    if content_type.lower().startswith(_PAGE_TYPES) or path.endswith("/"):
        return PAGE, str(canonicalize_name(filename)) if filename else "", None, filename
    return OTHER, "", None, filename


@dataclass
class EntryInfo:
    path: str
    url: str
    fetched: float
    sha256: str
    size: int  # of the body
    entry_size: int  # of the entry file
    kind: str
    project: str
    version: Version | None
    filename: str
    problem: str | None = None

    @classmethod
    def of(cls, entry: Entry, path: str, entry_size: int) -> EntryInfo:
        kind, project, version, filename = describe_url(
            entry.url, entry.headers.get("content-type", "")
        )
        return cls(
            path=path,
            url=entry.url,
            fetched=entry.fetched,
            sha256=entry.sha256,
            size=entry.size,
            entry_size=entry_size,
            kind=kind,
            project=project,
            version=version,
            filename=filename,
        )


@dataclass
class BlobInfo:
    path: str
    size: int
    referenced: int = 0
    damaged: bool = False


@dataclass
class _Stray:
    path: str
    size: int
    mtime: float
    reason: str


@dataclass
class Inventory:
    root: str
    now: float
    exists: bool = False
    verified: bool = False
    entries: list[EntryInfo] = field(default_factory=list)
    blobs: dict[str, BlobInfo] = field(default_factory=dict)
    temps: list[_Stray] = field(default_factory=list)
    strays: list[_Stray] = field(default_factory=list)  # files that are neither entry nor blob
    links: list[_Stray] = field(default_factory=list)
    hosts: dict[str, str] = field(default_factory=dict)  # marker name -> path

    @property
    def damaged(self) -> list[EntryInfo]:
        return [i for i in self.entries if i.problem is not None]

    @property
    def orphans(self) -> list[BlobInfo]:
        return [b for b in self.blobs.values() if not b.referenced]

    @property
    def total_size(self) -> int:
        """Bytes of every file the store holds (entries, blobs, temporary and stray files)."""
        return (
            sum(i.entry_size for i in self.entries)
            + sum(b.size for b in self.blobs.values())
            + sum(t.size for t in self.temps)
            + sum(s.size for s in self.strays)
        )


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


# -- scan and prune -------------------------------------------------------------------------


def scan(store: Store, *, verify: bool = False, now: float | None = None) -> Inventory:
    """Everything the store holds, read without the lock (a snapshot; commits may go on).

    ``verify`` hashes every blob; without it only sizes are compared.
    """
    inventory = Inventory(root=store.root, now=time.time() if now is None else now)
    if os.path.islink(store._base):
        inventory.links.append(_Stray(store._base, 0, 0.0, "symbolic link"))
        return inventory
    if not os.path.isdir(store._base):
        return inventory
    inventory.exists = True
    for path, st in _walk(store, "blobs", inventory):
        name = os.path.basename(path)
        if _is_sha256(name) and os.path.basename(os.path.dirname(path)) == name[:2]:
            inventory.blobs[name] = BlobInfo(path=path, size=st.st_size)
        else:
            inventory.strays.append(_Stray(path, st.st_size, st.st_mtime, "not a blob"))
    for path, _st in _walk(store, "hosts", inventory):
        inventory.hosts[os.path.basename(path)] = path
    for path, st in _walk(store, "tmp", inventory):
        inventory.temps.append(_Stray(path, st.st_size, st.st_mtime, "temporary file"))
    for path, st in _walk(store, "entries", inventory):
        name = os.path.basename(path)
        if name.startswith(_ENTRY_TEMP_PREFIX):
            inventory.temps.append(_Stray(path, st.st_size, st.st_mtime, "temporary file"))
            continue
        try:
            entry = store._read_entry(path)
            if not filed_under(name, entry):
                raise ValueError("filed under another URL's name")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            inventory.strays.append(
                _Stray(path, st.st_size, st.st_mtime, f"unreadable entry ({exc})")
            )
            continue
        info = EntryInfo.of(entry, path, st.st_size)
        blob = inventory.blobs.get(entry.sha256)
        if blob is None:
            info.problem = "body missing"
        else:
            blob.referenced += 1
            if blob.size != entry.size:
                info.problem = "damaged (size mismatch)"
                blob.damaged = True
        inventory.entries.append(info)
    if verify:
        for blob in inventory.blobs.values():
            if not blob.damaged and blob.referenced:
                blob.damaged = not _hash_matches(blob.path)
        for info in inventory.entries:
            blob = inventory.blobs.get(info.sha256)
            if info.problem is None and blob is not None and blob.damaged:
                info.problem = "damaged (hash mismatch)"
        listed = _listed_by_pages(inventory)
        for info in inventory.entries:
            wanted = listed.get(info.url)
            if info.problem is None and info.kind == FILE and wanted and info.sha256 not in wanted:
                # A portal's or an attacker's answer recorded before pip-ff checked the page's
                # hash: never served (pip would refuse it anyway), and in the way of the file.
                info.problem = "contradicts the hash its index page lists"
        inventory.verified = True
    return inventory


def _listed_by_pages(inventory: Inventory) -> dict[str, set[str]]:
    """URL -> the sha256s the recorded index pages list for it (pages that verified)."""
    listed: dict[str, set[str]] = defaultdict(set)
    for info in inventory.entries:
        blob = inventory.blobs.get(info.sha256)
        if info.kind != PAGE or info.problem is not None or blob is None or blob.damaged:
            continue
        try:
            with os.fdopen(_open_regular(blob.path), "rb") as f:
                body = f.read(_MAX_PAGE)
        except OSError:
            continue
        for url, sha256 in plausible.listed_sha256s(info.url, body).items():
            listed[url].add(sha256)
    return listed


def _walk(store: Store, top: str, inventory: Inventory) -> Iterator[tuple[str, os.stat_result]]:
    """Regular files under ``v1/<top>`` (two levels at most); links are noted, not followed."""
    stack = [os.path.join(store._base, top)]
    depth = {stack[0]: 0}
    if os.path.islink(stack[0]):
        inventory.links.append(_Stray(stack[0], 0, 0.0, "symbolic link"))
        return
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                items = list(it)
        except OSError:
            continue
        for item in items:
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                inventory.links.append(_Stray(item.path, 0, st.st_mtime, "symbolic link"))
            elif stat.S_ISDIR(st.st_mode):
                if depth[directory] < 1:
                    depth[item.path] = depth[directory] + 1
                    stack.append(item.path)
            elif stat.S_ISREG(st.st_mode):
                yield item.path, st


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
    if not os.path.lexists(store._base):
        return PruneResult(dry_run=dry_run)
    if os.path.islink(store._base):
        # ``v1`` itself a link: never followed (installs neither record into it nor answer
        # from it); the link goes, never its target. No lock: it would live behind the link.
        result = PruneResult(dry_run=dry_run)
        result.add(store._base, "link", "symbolic link (never followed)", 0)
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
    hosts_kept = {_digest(host_of(i.url)) for i in inventory.entries if i.path not in removed}
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


def _hash_matches(path: str) -> bool:
    try:
        return sha256_of_file(path) == os.path.basename(path)
    except OSError:
        return False
