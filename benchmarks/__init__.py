"""pip-ff's benchmarks: online overhead, outage handling, prefer-offline, start-up, scale, memory,
a dead fallback index.

One command, from the repository root, with the Python whose pip is to be measured (the venvs
get that Python's pip)::

    python -m benchmarks.run [--quick] [--out benchmarks/RESULTS.md]

It builds pip-ff's wheel (from the working tree; ``--ref REV`` for a commit, ``--source DIR`` for
another tree), makes a template venv with the test bed (testbed), builds about twenty
real-shaped distributions (benchmarks/workload.py), serves them on loopback, and measures real
pip and pip-ff in fresh venvs. It writes Markdown, the raw samples as JSON beside it, and a PNG
chart when matplotlib is importable (``--chart-python PY`` names another Python that has it;
``python -m benchmarks.chart RESULTS.json RESULTS.png`` and ``python -m benchmarks.report
RESULTS.json RESULTS.md`` redraw from the JSON).

``--quick`` runs everything once (a smoke test: about four minutes, results in
benchmarks/RESULTS-quick.*, ignored by git); the full run took 13 minutes on the 2-core
development machine. ``--only 125`` picks rows, ``--modes refused,dns`` picks outages,
``--pairs N`` sets the repetitions, ``--keep`` keeps the temporary directory.

Layout: run.py is the driver (arguments, the sections in order, the results); prepare.py the
set-up; bench.py the state of a run; sections/ one module per row of the results; outages.py and
dns.py the outages, built on the test bed's; harness.py measuring and pairing; report.py and
chart.py the Markdown and the chart.

Nothing leaves the machine: the indexes, proxies and outages are on loopback, and the DNS
outage's commands run in a private mount namespace whose resolver is a loopback NXDOMAIN server
(benchmarks/outages.py; it needs root and ``unshare``, and is skipped with a note otherwise).
"""
