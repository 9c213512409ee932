"""What pip-ff's JSON reports say about one environment's installs, told in one line.

A tool that makes environments of its own (tox) runs several pips into each: tox's plugin has
each write its report (``PIPFF_REPORT``), reads it when the next install starts or the env is
ready, and says in one line when the env was built from local sources, with the counts by
source as pip-ff's own summary gives them. Nothing here imports pip until there is something
to tell.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class EnvReports:
    """The reports of one environment's installs so far."""

    engaged: bool = False
    offline_mode: bool = False
    sources: Counter[str] = field(default_factory=Counter)
    built: Counter[str] = field(default_factory=Counter)  # build isolation's pips, by source
    unreachable: dict[str, str] = field(default_factory=dict)
    told: bool = False
    _seen: set[tuple[int, int, int]] = field(default_factory=set)

    def skip_existing(self, path: Path) -> None:
        """What a user's own ``PIPFF_REPORT`` (a file, or a directory where pip-ff writes a file
        for each run) holds before the env's first install is not this env's: never added."""
        for each in _reports_at(path):
            with contextlib.suppress(OSError):
                stat = each.stat()
                self._seen.add((stat.st_ino, stat.st_mtime_ns, stat.st_size))

    def read_all(self, path: Path, *, remove: bool) -> None:
        """:meth:`read` for a report file, or for each report in a directory."""
        for each in _reports_at(path):
            self.read(each, remove=remove)

    def read(self, path: Path, *, remove: bool) -> None:
        """Add the report at ``path``, once (an install that wrote none leaves nothing to add).
        ``remove``: the file is ours to delete; a user's own report stays where it is."""
        try:
            stat = path.stat()
            signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if signature in self._seen:
                return
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        self._seen.add(signature)
        if remove:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if not isinstance(data, dict) or data.get("version") != 1:
            return
        if data.get("fallback_engaged"):
            self.engaged = True
            self.told = False
        self.offline_mode = self.offline_mode or data.get("mode") == "offline"
        for item in data.get("unreachable") or []:
            if isinstance(item, dict) and isinstance(item.get("host"), str):
                self.unreachable.setdefault(item["host"], str(item.get("cause", "")))
        for dist in data.get("distributions") or []:
            if isinstance(dist, dict) and isinstance(dist.get("source"), str):
                self.sources[dist["source"]] += 1
        for row in data.get("build_distributions") or []:
            if isinstance(row, dict) and isinstance(row.get("source"), str):
                self.built[row["source"]] += 1
                if row["source"] != "network":  # a build's backend came from local sources
                    self.engaged = True
                    self.told = False

    def line(self, env_name: str) -> str | None:
        """The line to tell, or None (the env came from the network alone, or was told)."""
        if not self.engaged or self.told:
            return None
        from pip_offline_fallback.findings import SOURCE_WORDS  # imports pip: only when telling

        words = {str(source.value): text for source, text in SOURCE_WORDS.items()}
        counts = ", ".join(
            f"{n} from {words.get(source, source)}" for source, n in sorted(self.sources.items())
        )
        if self.built:  # as install's summary says them
            in_builds = ", ".join(
                f"{n} from {words.get(source, source)}" for source, n in sorted(self.built.items())
            )
            counts = f"{counts or 'none needed'}; build environments: {in_builds}"
        if self.unreachable:
            causes = ", ".join(f"{host} ({cause})" for host, cause in self.unreachable.items())
            where = f"unreachable: {causes}"
        else:
            where = "offline mode" if self.offline_mode else "local index data"
        return (
            f"pip-ff: tox env {env_name} built from local sources ({where}); "
            f"distributions: {counts or 'none needed'}"
        )


def _reports_at(path: Path) -> list[Path]:
    """``path`` itself, or the reports pip-ff wrote in it when it is a directory."""
    try:
        return sorted(path.glob("pip-ff-report-*.json")) if path.is_dir() else [path]
    except OSError:
        return []
