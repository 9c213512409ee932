"""pip-ff's benchmarks: online overhead, outage handling, prefer-offline, start-up, scale, memory,
a dead fallback index, serve and ``pip-ff run``.

One command, from the repository root, with the Python whose pip is to be measured (the venvs
get that Python's pip)::

    python -m benchmarks.run [--quick] [--out benchmarks/RESULTS.md]

It builds pip-ff's wheel (from the working tree; ``--ref REV`` for a commit, ``--source DIR`` for
another tree), makes a template venv with the test bed (testbed), builds about twenty
real-shaped distributions (benchmarks/workload.py), serves them on loopback, and measures real
pip and pip-ff in fresh venvs. Row 2 (the outages) also runs on a real workload: real wheels
(Django, celery, requests and their dependencies) that ``pip download`` fetches once into the
benchmarks' own cache directory, outside the repository (benchmarks/realworld.py; skipped, with
the reason, when they can't be downloaded). It writes Markdown, the raw samples as JSON beside
it, and a PNG chart when matplotlib is importable (``--chart-python PY`` names another Python
that has it; ``python -m benchmarks.chart RESULTS.json RESULTS.png`` and ``python -m
benchmarks.report RESULTS.json RESULTS.md`` redraw from the JSON).

``--quick`` runs everything once (a smoke test: about four minutes, results in
benchmarks/RESULTS-quick.*, ignored by git); the full run took 13 minutes on the 2-core
development machine. ``--only 125`` picks rows (``r``: row 9r, ``pip-ff run``, which
also comes with 9), ``--modes refused,dns`` picks outages,
``--pairs N`` sets the repetitions, ``--real-modes refused,dns`` picks the outages of the real
workload (``''`` for none), ``--download-cache DIR`` says where its wheels are kept (default
``$PIPFF_BENCH_CACHE``, else ~/.cache/pipff-bench), ``--keep`` keeps the temporary directory.

Layout: run.py is the driver (arguments, the sections in order, the results); prepare.py the
set-up; bench.py the state of a run; sections/ one module per row of the results; outages.py and
dns.py the outages, built on the test bed's; realworld.py the real workload's download;
harness.py measuring and pairing; report.py and chart.py the Markdown and the chart.

Nothing else leaves the machine: the real workload's one download and rows 9 and 9r's install of uv
at its pin (both with pip's own configuration) are the only steps that may use the network; every
measured command is isolated (no pip configuration, its own cache) and local. The indexes, proxies
and outages are on loopback, and the DNS outage's commands run in a private mount namespace whose
resolver is a loopback NXDOMAIN server (benchmarks/dns.py; it needs root and ``unshare``, and is
skipped with a note otherwise).
"""
