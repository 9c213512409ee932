"""Wheelhouse directories: any wheel or sdist dropped there is a candidate during a fallback."""

from __future__ import annotations

import logging
import os
from collections import defaultdict

from pip_offline_fallback.compat.vendored import canonicalize_name
from pip_offline_fallback.urls import project_of

logger = logging.getLogger(__name__)


class Wheelhouse:
    """The files of one or more directories, indexed by project on first use (one scan a run)."""

    def __init__(self, directories: tuple[str, ...]) -> None:
        self.directories = directories
        self._index: dict[str, list[str]] | None = None

    def files_for(self, project: str) -> list[str]:
        if self._index is None:
            self._index = self._scan()
        return self._index.get(canonicalize_name(project), [])

    def file_named(self, filename: str) -> str | None:
        """The wheelhouse file with exactly this name, if any."""
        project = project_of(filename)
        if project is None:
            return None
        for path in self.files_for(project):
            if os.path.basename(path) == filename:
                return path
        return None

    def _scan(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = defaultdict(list)
        for directory in self.directories:
            try:
                real_dir = os.path.realpath(directory)
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in sorted(entries, key=lambda e: e.name):
                name = project_of(entry.name)
                if name is None:
                    continue
                # A link that leads out of the wheelhouse is refused: a shared directory must not
                # be able to point pip at an arbitrary file.
                real = os.path.realpath(entry.path)
                if os.path.dirname(real) != real_dir or not os.path.isfile(real):
                    logger.warning(
                        "pip-ff: ignoring %s: it leads out of the wheelhouse", entry.path
                    )
                    continue
                index[name].append(entry.path)
        return dict(index)
