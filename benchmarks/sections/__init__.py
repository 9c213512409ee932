"""The sections of the benchmarks, one module each, in the order the driver runs them.

Each module's ``run(bench)`` measures and stores its results in ``bench.results["sections"]``.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.bench import Bench
from benchmarks.sections import (
    chain,
    fallback,
    online,
    pip_floor,
    prefer_offline,
    profile,
    scale,
    serve,
    serve_run,
    startup,
)

# (rows it covers, its name, what runs it); row 6 (memory) comes with row 1; 9r runs with
# 9, or alone with --only r.
SECTIONS: tuple[tuple[str, str, Callable[[Bench], None]], ...] = (
    ("16", "1. online", online.run),
    ("3", "3. prefer-offline", prefer_offline.run),
    ("4", "4. start-up", startup.run),
    ("2", "2. outages", fallback.run),
    ("2", "2f. pip's own index path", pip_floor.run),
    ("5", "5. scale", scale.run),
    ("7", "7. dead fallback index", chain.run),
    ("8", "8. where the time goes", profile.run),
    ("9", "9. serve", serve.run),
    ("9r", "9r. pip-ff run", serve_run.run),
)
