"""The JSON report (``--fallback-report FILE``): the run's findings as a file, written once at
the end of the command. Its schema is documented in README.md and versioned by
``SCHEMA_VERSION``.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import tempfile
import time
from typing import Any

from pip_offline_fallback import __version__, compat
from pip_offline_fallback.compat.vendored import canonicalize_name
from pip_offline_fallback.findings import Findings

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat()


def as_json(findings: Findings) -> dict[str, Any]:
    now = time.time()
    distributions = []
    for dist in sorted(findings.distributions.values(), key=lambda d: (d.name, d.version)):
        page = findings.pages.get(str(canonicalize_name(dist.name)))
        index_data = None
        if page is not None:
            index_data = {
                "source": page.source,
                "fetched": _iso(page.fetched),
                "age_seconds": round(now - page.fetched, 3),
                "versions_listed": page.versions_listed,
                "newest_listed": page.versions_listed[-1] if page.versions_listed else None,
            }
        distributions.append(
            {
                "name": dist.name,
                "version": dist.version,
                "filename": dist.filename,
                "source": dist.source,
                "wheelhouse_path": dist.path,
                "url": dist.url,
                "sha256": dist.sha256,
                "stale_index_data": page is not None,
                "index_data": index_data,
            }
        )
    return {
        "version": SCHEMA_VERSION,
        "pip_ff_version": __version__,
        "pip_version": compat.PIP_VERSION_TEXT,
        "mode": findings.mode,
        "fallback_engaged": findings.engaged,
        "failed_requests": [{"url": u, "cause": c} for u, c in findings.failed.items()],
        "unreachable": [
            {"host": compat.redact(h), "cause": c} for h, c in findings.unreachable.items()
        ],
        "fallback_indexes": [
            {"url": compat.redact(u), "state": findings.mirror_state(u)}
            for u in findings.fallback_indexes
        ],
        "distributions": distributions,
        # What build isolation's pips received (an sdist's build backend), by source.
        "build_distributions": findings.built,
        # Every project whose index data came from local sources, chosen or not (a listing
        # command chooses none): the summary names only those to act on.
        "index_data": [
            {
                "project": page.project,
                "source": page.source,
                "fetched": _iso(page.fetched),
                "age_seconds": round(now - page.fetched, 3),
                "newest_listed": page.versions_listed[-1] if page.versions_listed else None,
            }
            for page in sorted(findings.pages.values(), key=lambda p: p.project)
        ],
        "missing": [
            {
                "requirement": f"{m.project}{m.specifier}",
                "local_versions": m.local_versions,
                "excluded_versions": m.excluded,
            }
            for m in findings.missing.values()
        ],
        "too_old": [
            {"project": t.project, "age_seconds": round(t.age, 3), "max_stale_seconds": t.limit}
            for t in findings.too_old.values()
        ],
    }


def write_json(findings: Findings, path: str) -> None:
    """Write the report atomically; a failure to write is logged, never raised. ``path`` a
    directory: a new file there for each run (tox's plugin counts one env's pips so)."""
    if os.path.isdir(path):
        path = os.path.join(path, f"pip-ff-report-{os.getpid()}-{time.time_ns()}.json")
    try:
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".pipff-report-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(as_json(findings), f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("pip-ff: could not write the report %s: %s", path, exc)
