"""What build isolation's pips received, counted by the pip-ff run that started them.

pip installs an sdist's build dependencies (setuptools, hatchling) with a child pip, in a
process of its own; pip-ff reaches that child through the environment (:mod:`.childenv`), so
the child's report is the child's. To count those distributions too, the parent names a file in
the environment, each child appends one JSON line per distribution it received, and the parent
reads them at the end of its command. A child's own children inherit the same file.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

# Internal, like childenv's other variables: set by the parent for the pips it starts.
VARIABLE = "_PIPFF_BUILD_OUTCOMES"


class BuildOutcomes:
    def __init__(self, environ: Mapping[str, str]) -> None:
        # A child: where to append (the parent's file). A parent: None, until it names its own.
        self.inherited = environ.get(VARIABLE) or None
        self.own: str | None = None

    def path_for_children(self) -> str | None:
        """The file children append to: the inherited one, else a new one of this run's."""
        if self.inherited:
            return self.inherited
        if self.own is None:
            fd, self.own = tempfile.mkstemp(prefix="pip-ff-build-", suffix=".jsonl")
            os.close(fd)
            atexit.register(_remove, self.own)
        return self.own

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """A child's distributions, for the parent (one write: children may run side by side)."""
        if not self.inherited:
            return
        text = "".join(json.dumps(dict(row)) + "\n" for row in rows)
        if not text:
            return
        try:
            fd = os.open(self.inherited, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, text.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            logger.debug("pip-ff: could not hand the build's count to the parent: %r", exc)

    def collect(self) -> list[dict[str, Any]]:
        """What this run's children appended so far (a parent only)."""
        if self.own is None:
            return []
        rows: list[dict[str, Any]] = []
        try:
            with open(self.own, encoding="utf-8") as handle:
                for line in handle:
                    with contextlib.suppress(ValueError):
                        row = json.loads(line)
                        if isinstance(row, dict):
                            rows.append(row)
        except OSError:
            return []
        return rows


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
