"""What build isolation's pips received, counted by the pip-ff run that started them.

pip installs an sdist's build dependencies (setuptools, hatchling) with a child pip, in a
process of its own; pip-ff reaches that child through the environment (:mod:`.childenv`), so
the child's report is the child's. To count those distributions too, the parent names a file in
the environment, each child appends one JSON line per distribution it received, and the parent
reads them at the end of its command. A child's own children inherit the same file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
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
        """The file children append to: the inherited one, else a new name of this run's. The
        first child that counts something creates it (most runs build nothing: no file), under
        a name nobody can guess."""
        if self.inherited:
            return self.inherited
        if self.own is None:
            name = f"pip-ff-build-{secrets.token_hex(16)}.jsonl"
            self.own = os.path.join(tempfile.gettempdir(), name)
        return self.own

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """A child's distributions, for the parent (one write: children may run side by side)."""
        if not self.inherited:
            return
        text = "".join(json.dumps(dict(row)) + "\n" for row in rows)
        if not text:
            return
        try:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(self.inherited, flags, 0o600)
            try:
                os.write(fd, text.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            logger.debug("pip-ff: could not hand the build's count to the parent: %r", exc)

    def collect(self) -> list[dict[str, Any]]:
        """What this run's children appended (a parent only); the file is removed."""
        if self.own is None:
            return []
        rows: list[dict[str, Any]] = []
        try:
            with open(self.own, encoding="utf-8") as handle:
                lines = handle.readlines()
            os.unlink(self.own)
        except OSError:  # no child counted anything
            return []
        for line in lines:
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if isinstance(row, dict):
                    rows.append(row)
        return rows
