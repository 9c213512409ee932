"""What pip-ff's store holds, as the admin commands (``pip-ff store``) see it: a scan of every
file in it (:func:`scan`; :mod:`.prune` removes what it finds).

Reading and writing the store is :mod:`.reading` and :mod:`.writing`; this module only reads it
through a :class:`~.writing.Store`.
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
from pip_offline_fallback.store.layout import (
    ENTRY_TEMP_PREFIX,
    Entry,
    filed_under,
    is_sha256,
    open_regular,
    sha256_of_file,
)
from pip_offline_fallback.store.writing import Store
from pip_offline_fallback.urls import parse_dist_filename

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
class Stray:
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
    temps: list[Stray] = field(default_factory=list)
    strays: list[Stray] = field(default_factory=list)  # files that are neither entry nor blob
    links: list[Stray] = field(default_factory=list)
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


# -- scan and prune -------------------------------------------------------------------------


def scan(store: Store, *, verify: bool = False, now: float | None = None) -> Inventory:
    """Everything the store holds, read without the lock (a snapshot; commits may go on).

    ``verify`` hashes every blob; without it only sizes are compared.
    """
    inventory = Inventory(root=store.root, now=time.time() if now is None else now)
    if os.path.islink(store.base):
        inventory.links.append(Stray(store.base, 0, 0.0, "symbolic link"))
        return inventory
    if not os.path.isdir(store.base):
        return inventory
    inventory.exists = True
    for path, st in _walk(store, "blobs", inventory):
        name = os.path.basename(path)
        if is_sha256(name) and os.path.basename(os.path.dirname(path)) == name[:2]:
            inventory.blobs[name] = BlobInfo(path=path, size=st.st_size)
        else:
            inventory.strays.append(Stray(path, st.st_size, st.st_mtime, "not a blob"))
    for path, _st in _walk(store, "hosts", inventory):
        inventory.hosts[os.path.basename(path)] = path
    for path, st in _walk(store, "tmp", inventory):
        inventory.temps.append(Stray(path, st.st_size, st.st_mtime, "temporary file"))
    for path, st in _walk(store, "entries", inventory):
        name = os.path.basename(path)
        if name.startswith(ENTRY_TEMP_PREFIX):
            inventory.temps.append(Stray(path, st.st_size, st.st_mtime, "temporary file"))
            continue
        try:
            entry = store.read_entry(path)
            if not filed_under(name, entry):
                raise ValueError("filed under another URL's name")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            inventory.strays.append(
                Stray(path, st.st_size, st.st_mtime, f"unreadable entry ({exc})")
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
            with os.fdopen(open_regular(blob.path), "rb") as f:
                body = f.read(_MAX_PAGE)
        except OSError:
            continue
        for url, sha256 in plausible.listed_sha256s(info.url, body).items():
            listed[url].add(sha256)
    return listed


def _walk(store: Store, top: str, inventory: Inventory) -> Iterator[tuple[str, os.stat_result]]:
    """Regular files under ``v1/<top>`` (two levels at most); links are noted, not followed."""
    stack = [os.path.join(store.base, top)]
    depth = {stack[0]: 0}
    if os.path.islink(stack[0]):
        inventory.links.append(Stray(stack[0], 0, 0.0, "symbolic link"))
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
                inventory.links.append(Stray(item.path, 0, st.st_mtime, "symbolic link"))
            elif stat.S_ISDIR(st.st_mode):
                if depth[directory] < 1:
                    depth[item.path] = depth[directory] + 1
                    stack.append(item.path)
            elif stat.S_ISREG(st.st_mode):
                yield item.path, st


def _hash_matches(path: str) -> bool:
    try:
        return sha256_of_file(path) == os.path.basename(path)
    except OSError:
        return False
