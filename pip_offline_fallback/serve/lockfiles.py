"""Lock files in the working directory that name another index than the one ``run`` serves.

uv.lock and poetry.lock record each package's index URL. Locked through serve they name serve's
URL; locked against the index they name the index, and a ``uv lock``/``uv sync`` through
``pip-ff run`` would rewrite every URL in them. run says so in one line before the command
(docs/serve.md, "Lock files", says what to do); it never rewrites a lock file itself.
"""

from __future__ import annotations

import os

DOC = "docs/serve.md, 'Lock files'"
WRITTEN = ("uv.lock", "poetry.lock", "pdm.lock")


def stamps(directory: str) -> dict[str, tuple[int, int]]:
    """Each lock file's (mtime, size) in ``directory``, to tell which the command wrote."""
    found = {}
    for name in WRITTEN:
        try:
            st = os.stat(os.path.join(directory, name))
        except OSError:
            continue
        found[name] = (st.st_mtime_ns, st.st_size)
    return found


def written_offline(directory: str, before: dict[str, tuple[int, int]]) -> list[str]:
    """A line for each lock file the command wrote while serve answered from local sources:
    such a lock lists only the files that were local (no other platforms, often no sdists)."""
    after = stamps(directory)
    return [
        f"pip-ff: {name} was written while the index was unreachable: it holds only the files "
        f"available locally; lock again once the index answers ({DOC})"
        for name, stamp in sorted(after.items())
        if before.get(name) != stamp
    ]


def _registries_uv(text: str) -> set[str]:
    found = set()
    for line in text.splitlines():
        start = line.find('registry = "')
        if line.lstrip().startswith("source = {") and start >= 0:
            rest = line[start + len('registry = "') :]
            found.add(rest.split('"', 1)[0])
    return found


def _registries_poetry(text: str) -> set[str]:
    """The legacy sources' URLs; a package without a source came from PyPI itself."""
    found = set()
    packages = sourced = 0
    in_source = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            in_source = line == "[package.source]"
            packages += line == "[[package]]"
            sourced += in_source
        elif in_source and line.startswith('url = "'):
            found.add(line[len('url = "') :].split('"', 1)[0])
    if packages > sourced:
        found.add("PyPI (poetry's own repository)")
    return found


def _shown(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    return f"{scheme}{sep}{netloc.rpartition('@')[2]}{slash}{path}" if sep else url


def _without_token(served: str) -> str:
    """serve's URL as a line may show it: a token (the path's first segment, before
    ``simple``) is a credential, and this line goes to a terminal or a CI log."""
    scheme, sep, rest = served.partition("://")
    netloc, _, path = rest.partition("/")
    first, _, after = path.partition("/")
    if sep and first and first != "simple" and after:
        return f"{scheme}{sep}{netloc}/<token>/{after}"
    return served


def _same(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def mismatches(directory: str, served: str) -> list[str]:
    """One line per lock file in ``directory`` that names another index than ``served``."""
    lines = []
    for name, registries in (("uv.lock", _registries_uv), ("poetry.lock", _registries_poetry)):
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        others = sorted(r for r in registries(text) if not _same(r, served))
        if others:
            named = ", ".join(_shown(r) for r in others[:2]) + (", ..." if len(others) > 2 else "")
            lines.append(
                f"pip-ff: {name} names {named}, not serve's {_without_token(served)}: "
                "locking through "
                f"run rewrites its URLs; to keep them, see {DOC}"
            )
    return lines
