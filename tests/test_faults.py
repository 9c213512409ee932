"""Reliability: a fault-injection matrix, networks that change mid-run, corruption, resources.

The matrix crosses the ways an index goes away with workloads and modes. Every cell runs twice:
with the files local (a warm online run of every workload filled the pip cache and pip-ff's
record first) it must install the same versions as the online run; with nothing local it must
fail with pip-ff's clear error, a non-zero exit and an untouched environment. The fast set is:
every outage x one representative workload, every workload x a refused connection, every mode x
two outages. The rest of the cross product is marked ``slow`` and runs only with
``PIPFF_SLOW=1`` (about 2 minutes on 2 cores; by hand, not in CI, which must stay under 30 minutes).
``python -m tests.fault_matrix`` runs the matrix and writes ``docs/fault-matrix.md`` from the
results.

Cells without a local copy run with ``--retries 0 --timeout 3``: with nothing to fall back to,
pip-ff leaves pip's retry policy alone, and pip's own cost (8 s for a refused connection, minutes
for a black hole) would only slow the suite down. Likewise the 503 cell with the files local runs
with ``--retries 2`` in CI: pip retries a 503 with back-off on every URL (about 8 s each with
pip's 5 retries, a minute and more for the cell) before pip-ff answers locally, and two retries
are still retries; ``python -m tests.fault_matrix`` (which writes docs/fault-matrix.md) and
``PIPFF_SLOW=1`` keep pip's default.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from testbed import (
    OUTAGES,
    CertificateAuthority,
    IndexServer,
    ProjectSet,
    Result,
    Venv,
    build_wheel,
    clone_venv,
    isolated_env,
    outage,
)
from testbed.prepare import pip_version
from tests.helpers import (
    age_pip_cache,
    drop_venvs_after_success,  # noqa: F401 - autouse fixture
    warnings_about_unreachable,
)

SLOW = os.environ.get("PIPFF_SLOW", "") not in ("", "0")
slow = [
    pytest.mark.slow,
    pytest.mark.skipif(not SLOW, reason="slow matrix cell: set PIPFF_SLOW=1 to run it"),
]

# -- workloads and outages -----------------------------------------------------------------------

REPRESENTATIVE = "extras-markers"
WORKLOADS = (
    "pins",
    "range",
    REPRESENTATIVE,
    "sdist",
    "require-hashes",
    "constraints",
    "two-indexes",
)
# Outages of the primary index (tests/helpers.py OUTAGES, then this file's own).
OUTAGE_KINDS = (
    *OUTAGES,
    "http-503",
    "tls-untrusted",
    "tls-plaintext",
    "drop-mid-file",
    "fails-mid-run",
    "extra-index-down",
)
MODES = ("auto", "prefer-offline", "offline")
MODE_FLAGS = {"auto": [], "prefer-offline": ["--prefer-offline"], "offline": ["--offline"]}
COLD_ARGS = ["--retries", "0", "--timeout", "3"]
# The 503 cell with the files local in CI (see the module's docstring).
FEWER_503_RETRIES = (
    [] if SLOW or os.environ.get("PIPFF_FAULT_MATRIX", "") not in ("", "0") else ["--retries", "2"]
)
OUTAGE_TEXT = {
    "refused": "connection refused",
    "stall": "accepts, never answers",
    "blackhole": "SYN never answered",
    "proxy-502": "proxy answers 502",
    "proxy-503": "proxy answers 503",
    "proxy-504": "proxy answers 504",
    "http-503": "index answers 503 (after pip's retries)",
    "tls-untrusted": "https, CA not trusted",
    "tls-plaintext": "plain TCP on the https port",
    "drop-mid-file": "connection dropped mid-file",
    "fails-mid-run": "index dies after 3 requests",
    "extra-index-down": "--extra-index-url down, primary up",
}


def _workload_for(kind: str) -> str:
    return "two-indexes" if kind == "extra-index-down" else REPRESENTATIVE


@dataclass(frozen=True)
class Cell:
    outage: str
    workload: str
    mode: str

    @property
    def id(self) -> str:
        return f"{self.outage}-{self.workload}-{self.mode}"


def _fast_cells() -> list[Cell]:
    cells = [Cell(kind, _workload_for(kind), "auto") for kind in OUTAGE_KINDS]
    cells += [Cell("refused", w, "auto") for w in WORKLOADS if w != REPRESENTATIVE]
    cells += [
        Cell(kind, REPRESENTATIVE, mode)
        for mode in ("prefer-offline", "offline")
        for kind in ("refused", "blackhole")
    ]
    return cells


def _slow_cells() -> list[Cell]:
    fast = set(_fast_cells())
    every_outage = [
        Cell(kind, _workload_for(kind), mode) for mode in MODES[1:] for kind in OUTAGE_KINDS
    ]
    every_workload = [Cell("refused", w, mode) for mode in MODES[1:] for w in WORKLOADS]
    cells: list[Cell] = []
    for cell in every_outage + every_workload:
        if cell not in fast and cell not in cells:
            cells.append(cell)
    return cells


def _matrix_params() -> list[Any]:
    params = []
    for cell in _fast_cells():
        for local in (True, False):
            params.append(pytest.param(cell, local, id=f"{cell.id}-{_local_id(local)}"))
    for cell in _slow_cells():
        for local in (True, False):
            params.append(pytest.param(cell, local, id=f"{cell.id}-{_local_id(local)}", marks=slow))
    return params


def _local_id(local: bool) -> str:
    return "local" if local else "nothing-local"


# -- servers that fail in ways helpers.outage() does not cover -----------------------------------


class FlakyIndex(IndexServer):
    """An IndexServer that, once armed, answers ``n`` more requests, then drops the next
    connection without a word and stops listening (later connections are refused)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._flaky_lock = threading.Lock()
        self._budget: int | None = None
        self._stopper: threading.Thread | None = None

    def fail_after(self, n: int | None) -> None:
        with self._flaky_lock:
            self._budget = n

    def settle(self) -> None:
        """Wait for a stop that a dropped request started, and disarm."""
        self.fail_after(None)
        stopper, self._stopper = self._stopper, None
        if stopper is not None:
            stopper.join(timeout=10)

    def handle(self, handler: Any, *, head: bool) -> None:
        with self._flaky_lock:
            cut = self._budget is not None and self._budget <= 0
            if self._budget is not None:
                self._budget -= 1
            if cut and self._stopper is None:
                self._stopper = threading.Thread(target=self.stop, daemon=True)
                self._stopper.start()
        if cut:
            handler.close_connection = True  # no status line: the client sees the drop
            return
        super().handle(handler, head=head)


class TrickleIndex(IndexServer):
    """An IndexServer that sends large bodies slowly (16 kB every 50 ms); ``sending`` is set
    once the first chunk of one went out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sending = threading.Event()

    def _send(
        self,
        handler: Any,
        status: Any,
        body: bytes,
        content_type: str,
        *,
        head: bool,
        headers: Any = None,
        truncate_to: int | None = None,
    ) -> None:
        if head or len(body) < 100_000:
            super()._send(
                handler,
                status,
                body,
                content_type,
                head=head,
                headers=headers,
                truncate_to=truncate_to,
            )
            return
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        for start in range(0, len(body), 16384):
            handler.wfile.write(body[start : start + 16384])
            handler.wfile.flush()
            self.sending.set()
            if self._stopping.wait(0.05):
                return


class StatusServer:
    """Plain HTTP on ``port`` that answers every request with ``status`` (a 5xx, say).

    A TLS client that connects gets a plain-text answer to its handshake: a TLS failure.
    """

    def __init__(self, port: int, status: int = 503) -> None:
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests += 1
                body = f"pip-ff test server: {status}\n".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StatusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the bed: indexes, requirement files and a warm cache, once per xdist worker ----------------
#
# Session scoped, not module scoped: a worker that runs tests of other modules between two of
# this module's would otherwise build the bed (seven warm installs) again.


@dataclass
class Bed:
    root: Path
    template: Path
    index: FlakyIndex
    extra: IndexServer
    workloads: dict[str, list[str]]
    warm: Path  # a pip cache directory after the online run of every workload
    online: dict[str, dict[str, str]] = field(default_factory=dict)
    pristine: Venv | None = None
    baseline: dict[str, str] = field(default_factory=dict)

    def index_args(self, workload: str) -> list[str]:
        args = ["--index-url", self.index.url]
        if workload == "two-indexes":
            args += ["--extra-index-url", self.extra.url]
        return args


@dataclass
class TlsBed:
    index: IndexServer
    warm: Path
    online: dict[str, str]


def pipff_versions(installed: dict[str, str]) -> dict[str, str]:
    return {name: version for name, version in installed.items() if name.startswith("pipff-")}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copy_dists(dists: ProjectSet, dest: Path) -> Path:
    """Real copies (the session's files stay untouched whatever a test does to its copy)."""
    dest.mkdir(parents=True)
    for source in dists.dist_dir.iterdir():
        shutil.copyfile(source, dest / source.name)
    return dest


def _workloads(root: Path, dist_dir: Path) -> dict[str, list[str]]:
    hashes = root / "hashes.txt"
    hashes.write_text(
        "".join(
            f"{name}=={version} --hash=sha256:{_sha256(dist_dir / wheel)}\n"
            for name, version, wheel in (
                ("pipff-alpha", "1.1", "pipff_alpha-1.1-py3-none-any.whl"),
                ("pipff-gamma", "1.0", "pipff_gamma-1.0-py3-none-any.whl"),
            )
        )
    )
    constraints = root / "constraints.txt"
    constraints.write_text("pipff-alpha<2\npipff-beta==1.0\n")
    return {
        "pins": ["pipff-alpha==1.0", "pipff-gamma==1.0"],
        "range": ["pipff-beta>=1.0,<1.5", "pipff-alpha>1.0,<2"],
        REPRESENTATIVE: [
            "pipff-alpha==2.0",
            "pipff-beta[fast]",
            'pipff-epsilon; python_version >= "3"',
            'pipff-zeta; python_version < "3"',
        ],
        "sdist": ["pipff-sdistonly"],
        "require-hashes": ["--require-hashes", "-r", str(hashes)],
        "constraints": ["-c", str(constraints), "pipff-alpha", "pipff-beta[fast]"],
        "two-indexes": ["pipff-omega", "pipff-alpha==2.0"],
    }


@pytest.fixture(scope="session")
def bed(
    dists: ProjectSet, template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bed]:
    root = tmp_path_factory.mktemp("faults")
    dist_dir = _copy_dists(dists, root / "index-dists")
    extra_dir = root / "extra-dists"
    build_wheel(extra_dir, "pipff-omega", "1.0", requires=["pipff-gamma"])
    index = FlakyIndex(dist_dir, yanked=dists.yanked).start()
    extra = IndexServer(extra_dir).start()
    warm = root / "warm-cache"
    the_bed = Bed(root, template, index, extra, _workloads(root, dist_dir), warm)
    try:
        env = isolated_env(warm)
        for name, args in the_bed.workloads.items():
            venv = clone_venv(template, root / f"online-{name}")
            venv.pipff("install", *the_bed.index_args(name), *args, env=env).check()
            the_bed.online[name] = pipff_versions(venv.installed(env))
            shutil.rmtree(venv.path)
        the_bed.pristine = clone_venv(template, root / "pristine", env)
        the_bed.baseline = the_bed.pristine.installed()
        yield the_bed
    finally:
        index.stop()
        extra.stop()


@pytest.fixture(scope="session")
def tls_bed(bed: Bed, ca: CertificateAuthority) -> Iterator[TlsBed]:
    """An https index (PyPI's cache headers) and a warm cache of the representative workload."""
    view = _copy_dists_from(bed.index.dist_dir, bed.root / "tls-dists")
    index = IndexServer(view, cache_headers="pypi", https=ca, yanked=bed.index.yanked).start()
    warm = bed.root / "tls-warm-cache"
    try:
        env = dict(isolated_env(warm), PIP_CERT=str(index.ca_bundle))
        venv = clone_venv(bed.template, bed.root / "tls-online")
        venv.pipff(
            "install", "--index-url", index.url, *bed.workloads[REPRESENTATIVE], env=env
        ).check()
        online = pipff_versions(venv.installed(env))
        shutil.rmtree(venv.path)
        yield TlsBed(index, warm, online)
    finally:
        index.stop()


def _copy_dists_from(source: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    for path in source.iterdir():
        if not path.name.startswith("."):
            shutil.copyfile(path, dest / path.name)
    return dest


# -- outages -------------------------------------------------------------------------------------


@contextlib.contextmanager
def take_away(kind: str, bed: Bed, tls: TlsBed | None) -> Iterator[list[str]]:
    """Apply one outage to the bed's servers for the block; everything is back up after it."""
    if kind in OUTAGES:
        try:
            with outage(kind, bed.index) as extra:
                yield extra
        finally:
            bed.index.start()
    elif kind == "http-503":
        bed.index.stop()
        try:
            with StatusServer(bed.index.port, 503):
                yield []
        finally:
            bed.index.start()
    elif kind == "tls-untrusted":
        yield []  # the https index is up; the run just doesn't trust its CA
    elif kind == "tls-plaintext":
        assert tls is not None
        tls.index.stop()
        try:
            with StatusServer(tls.index.port, 400):
                yield []
        finally:
            tls.index.start()
    elif kind == "drop-mid-file":
        bed.index.drop_files_after = 64
        try:
            yield []
        finally:
            bed.index.drop_files_after = None
    elif kind == "fails-mid-run":
        bed.index.fail_after(3)
        try:
            yield []
        finally:
            bed.index.settle()
            bed.index.start()
    elif kind == "extra-index-down":
        bed.extra.stop()
        try:
            yield []
        finally:
            bed.extra.start()
    else:
        raise ValueError(kind)


# -- checks ------------------------------------------------------------------------------------


def clear_error(output: str, kind: str = "") -> str | None:
    """pip-ff's (or, where the index did answer, pip's) error line, or None when there is none."""
    for line in output.splitlines():
        # pip < 25 says "ERROR: ...", newer pips put an exception's text under "╰─>"
        if line.startswith(("ERROR:", "╰─>")) and "pip-ff" in line and "no local copy" in line:
            return line
    if kind == "drop-mid-file":  # the index answered: the error is pip's, about the download
        for marker in ("DO NOT MATCH THE HASHES", "incomplete-download", "IncompleteRead"):
            if marker in output:
                return marker
    return None


def store_problems(cache: Path) -> list[str]:
    """Anything in pip-ff's record that would be corruption: a blob whose bytes don't match its
    name, an entry that can't be read or names a blob that isn't there or doesn't match."""
    root = cache / "pip-ff" / "v1"
    problems = []
    for blob in root.glob("blobs/*/*"):
        if blob.is_file() and _sha256(blob) != blob.name:
            problems.append(f"blob {blob.name} does not match its hash")
    for path in root.glob("entries/*/*.json"):
        try:
            entry = json.loads(path.read_text())
            blob = root / "blobs" / entry["sha256"][:2] / entry["sha256"]
            if not blob.is_file() or blob.stat().st_size != entry["size"]:
                problems.append(f"entry {entry['url']} names a missing or short blob")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"entry {path.name} is unreadable: {exc!r}")
    return problems


def store_entries(cache: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """URL -> (entry file, entry) of every entry of pip-ff's record in ``cache``."""
    found = {}
    for path in (cache / "pip-ff" / "v1").glob("entries/*/*.json"):
        entry = json.loads(path.read_text())
        found[entry["url"]] = (path, entry)
    return found


def replace_body(cache: Path, url: str, body: bytes, content_type: str | None = None) -> None:
    """Make the record of ``url`` say ``body``: a new blob, and the entry's sha256 and size fixed
    to match (so only the content is bad, never the bookkeeping)."""
    path, entry = store_entries(cache)[url]
    sha256 = hashlib.sha256(body).hexdigest()
    blob = cache / "pip-ff" / "v1" / "blobs" / sha256[:2] / sha256
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(body)
    entry.update(sha256=sha256, size=len(body))
    if content_type is not None:
        entry["headers"]["content-type"] = content_type
    path.write_text(json.dumps(entry))


def _one_warning(output: str) -> bool:
    """An outage is said once, in one line, however many hosts are down."""
    return len([w for w in warnings_about_unreachable(output) if "WARNING:" in w]) <= 1


def _summary(result: Result, versions: dict[str, str], online: dict[str, str], kind: str) -> str:
    if "Traceback" in result.output:
        return "traceback"
    if result.returncode == 0:
        same = "same versions as online" if versions == online else f"DIFFERENT: {versions}"
        return f"installed, {same}"
    error = clear_error(result.output, kind)
    if error is None:
        errors = [
            line.strip()
            for line in result.output.splitlines()
            if line.startswith(("ERROR", "error:", "╰─>"))
        ]
        return f"exit {result.returncode}, unclear error: {' '.join(errors)[:200]}"
    return f"exit {result.returncode}: {error[:200]}"


# -- 1. the matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize(("cell", "local"), _matrix_params())
def test_matrix(
    cell: Cell,
    local: bool,
    bed: Bed,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    record_property: Any,
) -> None:
    tls: TlsBed | None = None
    if cell.outage.startswith("tls-"):
        tls = request.getfixturevalue("tls_bed")
    cache = tmp_path / "cache"
    if local:
        shutil.copytree(tls.warm if tls else bed.warm, cache)
        if tls:
            age_pip_cache(cache, 3600)  # pip must ask the index (and meet the outage)
    else:
        cache.mkdir()
    env = isolated_env(cache)
    if tls and cell.outage != "tls-untrusted":
        env["PIP_CERT"] = str(tls.index.ca_bundle)
    index_args = ["--index-url", tls.index.url] if tls else bed.index_args(cell.workload)
    online = tls.online if tls else bed.online[cell.workload]
    assert bed.pristine is not None
    venv = clone_venv(bed.template, tmp_path / "venv") if local else bed.pristine
    args = [*MODE_FLAGS[cell.mode], *index_args, *bed.workloads[cell.workload]]
    with take_away(cell.outage, bed, tls) as extra:
        retries = COLD_ARGS if not local else FEWER_503_RETRIES if cell.outage == "http-503" else []
        result = venv.pipff("install", *args, *extra, *retries, env=env)
    installed = venv.installed()
    versions = pipff_versions(installed)
    record_property(
        "pipff_cell",
        json.dumps(
            {
                "outage": cell.outage,
                "workload": cell.workload,
                "mode": cell.mode,
                "local": local,
                "pip": pip_version(),
                "observed": _summary(result, versions, online, cell.outage),
                "seconds": round(result.elapsed, 1),
            }
        ),
    )
    assert "Traceback" not in result.output, result.describe()
    assert _one_warning(result.output), result.describe()
    if local:
        assert result.returncode == 0, result.describe()
        assert versions == online
    else:
        if installed != bed.baseline:  # keep the shared venv clean for the next cell
            shutil.rmtree(venv.path)
            bed.pristine = clone_venv(bed.template, venv.path, venv.env)
        assert result.returncode != 0, result.describe()
        assert installed == bed.baseline  # nothing installed, nothing removed
        assert clear_error(result.output, cell.outage), result.describe()
    if cell.mode == "offline":  # nothing was asked, so nothing was found unreachable
        assert not [w for w in warnings_about_unreachable(result.output) if "WARNING:" in w]
    assert not store_problems(cache)


# -- 2. the network changes mid-run --------------------------------------------------------------
# (an index that dies halfway through a resolution is the matrix's "fails-mid-run" row)


def test_download_cut_short_leaves_no_partial_file(bed: Bed, tmp_path: Path) -> None:
    """Nothing local, every file download cut after 64 bytes: a clean error, and no partial
    file in pip-ff's record or in the download directory."""
    cache = tmp_path / "cache"
    env = isolated_env(cache)
    dest = tmp_path / "downloads"
    assert bed.pristine is not None
    with take_away("drop-mid-file", bed, None):
        result = bed.pristine.pipff(
            "download", "-d", dest, "--index-url", bed.index.url, "pipff-gamma==1.0",
            *COLD_ARGS, env=env,
        )  # fmt: skip
    assert result.returncode != 0, result.describe()
    assert "Traceback" not in result.output, result.describe()
    assert clear_error(result.output, "drop-mid-file"), result.describe()
    assert not (dest.exists() and [p for p in dest.rglob("*") if p.is_file()])
    assert not store_problems(cache)
    file_url = bed.index.file_url("pipff_gamma-1.0-py3-none-any.whl")
    assert file_url not in store_entries(cache)  # the short body was never recorded
    assert not list((cache / "pip-ff" / "v1" / "tmp").glob("*"))


# -- 3. corruption -------------------------------------------------------------------------------


def _offline_run(bed: Bed, tmp_path: Path, cache: Path, *args: str) -> tuple[Result, Venv]:
    venv = clone_venv(bed.template, tmp_path / "venv")
    with take_away("refused", bed, None):
        result = venv.pipff("install", "--index-url", bed.index.url, *args, env=isolated_env(cache))
    return result, venv


def _assert_refused_cleanly(result: Result, venv: Venv, bed: Bed) -> None:
    assert result.returncode != 0, result.describe()
    assert "Traceback" not in result.output, result.describe()
    assert venv.installed() == bed.baseline


def _pip_cache_files(cache: Path) -> list[Path]:
    return [p for layout in ("http-v2", "http") for p in (cache / layout).rglob("*") if p.is_file()]


def _pip_cache_entries(cache: Path, url: str) -> list[Path]:
    """The entry files pip's HTTP cache keeps for ``url``, in either layout."""
    from pip._vendor.cachecontrol.controller import CacheController

    hashed = hashlib.sha224(CacheController.cache_url(url).encode()).hexdigest()
    paths = [cache.joinpath(layout, *hashed[:5], hashed) for layout in ("http-v2", "http")]
    return [path for path in paths if path.is_file()]


def _garble_body(entry: Path) -> None:
    """Same-size garbage for the cached body: the ``.body`` file (http-v2), or the body inside
    the entry (older ``http`` layout, re-serialised so that the entry itself stays readable)."""
    from pip._vendor import msgpack

    body_file = entry.with_name(entry.name + ".body")
    if body_file.is_file():
        body_file.write_bytes(os.urandom(body_file.stat().st_size))
        return
    data = entry.read_bytes()
    assert data.startswith(b"cc=4,"), entry
    cached = msgpack.loads(data[5:], raw=False)
    cached["response"]["body"] = os.urandom(len(cached["response"]["body"]))
    entry.write_bytes(b"cc=4," + msgpack.dumps(cached, use_bin_type=True))


PIP_CACHE_DAMAGE = (
    "truncated",
    "garbage",
    "garbled-pages",
    "garbled-wheels",
    "one-wheel-truncated",
    "store-kept",
    "garbled-wheels-store-kept",
)


@pytest.mark.parametrize("damage", PIP_CACHE_DAMAGE)
def test_damaged_pip_http_cache(damage: str, bed: Bed, tls_bed: TlsBed, tmp_path: Path) -> None:
    """pip's HTTP cache (https, PyPI's cache headers) damaged under the offline run.

    Alone (pip-ff's record removed): truncated or garbage entries are skipped, and pages whose
    body is garbage too (a clean error); wheels whose body is garbage of the same size are
    refused by pip's hash check; one truncated wheel among good pages is never installed (a
    clean error). With pip-ff's record kept, truncated pip cache entries are skipped and the
    record serves the install; so it does when the wheels in pip's cache are garbage of the
    right size (the record, verified, comes first for distribution files).
    """
    cache = tmp_path / "cache"
    shutil.copytree(tls_bed.warm, cache)
    age_pip_cache(cache, 3600)
    store_kept = damage.endswith("store-kept")
    if not store_kept:
        shutil.rmtree(cache / "pip-ff")
    files = _pip_cache_files(cache)
    index = tls_bed.index
    pages = [index.project_url(name) for name in tls_bed.online]
    wheels = [
        index.file_url(f"{name.replace('-', '_')}-{version}-py3-none-any.whl")
        for name, version in tls_bed.online.items()
    ]
    if damage in ("truncated", "store-kept"):
        for path in files:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        for path in files:
            path.write_bytes(os.urandom(max(path.stat().st_size, 16)))
    elif damage == "one-wheel-truncated":
        gamma = [url for url in wheels if "pipff_gamma-" in url]
        entries = [entry for url in gamma for entry in _pip_cache_entries(cache, url)]
        assert len(entries) == 1, (gamma, files)
        for path in (entries[0], entries[0].with_name(entries[0].name + ".body")):
            if path.is_file():
                path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        urls = pages if damage == "garbled-pages" else wheels  # garbled-wheels(-store-kept)
        entries = [entry for url in urls for entry in _pip_cache_entries(cache, url)]
        assert len(entries) == len(urls), (urls, files)
        for entry in entries:
            _garble_body(entry)
    venv = clone_venv(bed.template, tmp_path / "venv")
    index.stop()
    try:
        result = venv.pipff(
            "install", "--index-url", index.url, *bed.workloads[REPRESENTATIVE],
            env=dict(isolated_env(cache), PIP_CERT=str(index.ca_bundle)),
        )  # fmt: skip
    finally:
        index.start()
    assert "Traceback" not in result.output, result.describe()
    if store_kept:
        assert result.returncode == 0, result.describe()
        assert pipff_versions(venv.installed()) == tls_bed.online
        return
    _assert_refused_cleanly(result, venv, bed)
    if damage == "garbled-wheels":
        assert "DO NOT MATCH THE HASHES" in result.output, result.describe()
    elif damage == "one-wheel-truncated":
        assert "no local copy" in result.output, result.describe()
    else:
        assert clear_error(result.output), result.describe()


@pytest.mark.parametrize("store", ["record", "no-record"])
def test_truncated_wheel_in_wheelhouse(store: str, bed: Bed, tmp_path: Path) -> None:
    """A truncated wheel in the wheelhouse is discarded: the record's good copy is used, or,
    when there is none, the command fails cleanly."""
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    wheel = "pipff_gamma-1.0-py3-none-any.whl"
    (wheelhouse / wheel).write_bytes((bed.index.dist_dir / wheel).read_bytes()[:300])
    cache = tmp_path / "cache"
    if store == "record":
        shutil.copytree(bed.warm, cache)
    else:
        cache.mkdir()
    result, venv = _offline_run(
        bed, tmp_path, cache, "--wheelhouse", str(wheelhouse), "pipff-gamma", *COLD_ARGS
    )
    assert "Traceback" not in result.output, result.describe()
    if store == "record":
        assert result.returncode == 0, result.describe()
        assert pipff_versions(venv.installed()) == {"pipff-gamma": "1.0"}
    else:
        _assert_refused_cleanly(result, venv, bed)


@pytest.mark.parametrize("what", ["file", "page"])
def test_damaged_store_blob_is_never_served(what: str, bed: Bed, tmp_path: Path) -> None:
    """A blob of pip-ff's record that no longer matches its hash: a warning, a clean error."""
    cache = tmp_path / "cache"
    shutil.copytree(bed.warm, cache)
    if what == "file":
        url = bed.index.file_url("pipff_gamma-1.0-py3-none-any.whl")
    else:
        url = bed.index.project_url("pipff-gamma")
    _path, entry = store_entries(cache)[url]
    blob = cache / "pip-ff" / "v1" / "blobs" / entry["sha256"][:2] / entry["sha256"]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    os.replace(_write_tmp(blob, bytes(data)), blob)
    result, venv = _offline_run(bed, tmp_path, cache, *bed.workloads[REPRESENTATIVE])
    _assert_refused_cleanly(result, venv, bed)
    assert "damaged" in result.output, result.describe()
    assert "no local copy" in result.output, result.describe()


def _write_tmp(near: Path, data: bytes) -> Path:
    tmp = near.with_name(near.name + ".tmp")
    tmp.write_bytes(data)
    return tmp


MALFORMED_PAGES = {
    # (body, content type the entry replays); the entry's sha256 and size are fixed to match
    "json-syntax": (b'{"meta": {"api-version": "1.0"}, "files": [{"filename": 3}', None),
    "json-not-utf8": (b'{"files": [\xff\xfe]}', None),
    "json-wrong-shape": (b'{"meta": {"api-version": "1.0"}, "files": "nope"}', None),
    "html-junk": (b"<html><a href=<<<>>>\n</a junk \xc3\xa9", "text/html"),
    "html-not-utf8": (b"<html><a href=\xff\xfe>x</a>", "text/html; charset=utf-8"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED_PAGES))
def test_malformed_index_page_in_the_store(kind: str, bed: Bed, tmp_path: Path) -> None:
    """A recorded page whose bookkeeping is intact but whose content is junk: skipped (the
    project has no local versions), never a traceback, nothing installed."""
    cache = tmp_path / "cache"
    shutil.copytree(bed.warm, cache)
    body, content_type = MALFORMED_PAGES[kind]
    replace_body(cache, bed.index.project_url("pipff-gamma"), body, content_type)
    result, venv = _offline_run(bed, tmp_path, cache, *bed.workloads[REPRESENTATIVE])
    _assert_refused_cleanly(result, venv, bed)
    assert "no local copy satisfies pipff-gamma" in result.output, result.describe()


# -- 4. resources --------------------------------------------------------------------------------


def _mount(*args: str) -> bool:
    done = subprocess.run(
        ["mount", *args], stdin=subprocess.DEVNULL, capture_output=True, check=False
    )
    return done.returncode == 0


def _umount(path: Path) -> None:
    for _ in range(20):
        done = subprocess.run(["umount", str(path)], capture_output=True, check=False)
        if done.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"could not unmount {path}: {done.stderr!r}")


@contextlib.contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Each path bind-mounted read-only over itself (root alone ignores chmod); skip if this
    machine doesn't let us mount."""
    mounted: list[Path] = []
    try:
        for path in paths:
            if not _mount("--bind", str(path), str(path)):
                pytest.skip("bind mounts are not permitted here (needs root / CAP_SYS_ADMIN)")
            mounted.append(path)
            if not _mount("-o", "remount,bind,ro", str(path)):
                pytest.skip("read-only remounts are not permitted here")
        probe = paths[0] / ".pipff-probe"
        with pytest.raises(OSError):
            probe.write_text("x")
        yield
    finally:
        for path in reversed(mounted):
            _umount(path)


def test_read_only_cache_and_wheelhouse(bed: Bed, dists: ProjectSet, tmp_path: Path) -> None:
    """A cache and a wheelhouse that can't be written (a shared, pre-filled volume): the fallback
    reads them as usual, recording quietly steps aside."""
    cache = tmp_path / "cache"
    shutil.copytree(bed.warm, cache)
    wheelhouse = tmp_path / "wheelhouse"
    build_wheel(wheelhouse, "pipff-kappa", "1.0")
    before = sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))
    venv = clone_venv(bed.template, tmp_path / "venv")
    with read_only(cache, wheelhouse), take_away("refused", bed, None):
        result = venv.pipff(
            "install", "--index-url", bed.index.url, "--wheelhouse", str(wheelhouse),
            *bed.workloads[REPRESENTATIVE], "pipff-kappa", env=isolated_env(cache),
        )  # fmt: skip
    assert result.returncode == 0, result.describe()
    assert "Traceback" not in result.output
    assert pipff_versions(venv.installed()) == {**bed.online[REPRESENTATIVE], "pipff-kappa": "1.0"}
    assert sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) == before


@pytest.fixture(scope="session")
def big_dists(dists: ProjectSet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The standard projects plus pipff-big 1.0, a ~600 kB wheel (random, so incompressible)."""
    dest = _copy_dists(dists, tmp_path_factory.mktemp("big") / "dists")
    noise = base64.b85encode(random.Random(8).randbytes(600_000)).decode()
    build_wheel(dest, "pipff-big", "1.0", modules={"pipff_big/__init__.py": f"DATA = {noise!r}\n"})
    return dest


@contextlib.contextmanager
def tiny_disk(path: Path, size: str) -> Iterator[None]:
    path.mkdir(parents=True, exist_ok=True)
    if not _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)):
        pytest.skip("tmpfs mounts are not permitted here (needs root / CAP_SYS_ADMIN)")
    try:
        yield
    finally:
        _umount(path)


def test_full_disk_while_recording(bed: Bed, big_dists: Path, tmp_path: Path) -> None:
    """The cache sits on a 300 kB disk; a 600 kB wheel can't be recorded: the install succeeds
    anyway, the record stays consistent and later serves what it did keep."""
    cache = tmp_path / "cache"
    env = isolated_env(cache)
    with tiny_disk(cache, "300k"), IndexServer(big_dists) as index:
        venv = clone_venv(bed.template, tmp_path / "online")
        online = venv.pipff(
            "install", "--index-url", index.url, "pipff-big", "pipff-gamma", env=env
        )
        assert online.returncode == 0, online.describe()
        assert "Traceback" not in online.output
        assert "No space left on device" in online.output  # said once, as a warning
        assert not store_problems(cache)
        assert not list((cache / "pip-ff" / "v1" / "tmp").glob("*"))
        index.stop()
        offline = clone_venv(bed.template, tmp_path / "offline")
        kept = offline.pipff("install", "--index-url", index.url, "pipff-gamma", env=env)
        missing = offline.pipff("install", "--index-url", index.url, "pipff-big", env=env)
    assert kept.returncode == 0, kept.describe()
    assert missing.returncode != 0 and "Traceback" not in missing.output, missing.describe()
    assert clear_error(missing.output), missing.describe()
    assert pipff_versions(offline.installed()) == {"pipff-gamma": "1.0"}


def _interrupt_download(venv: Venv, index: TrickleIndex, env: dict[str, str]) -> Result:
    argv = [str(venv.python), "-m", "pip_offline_fallback", "install", "--index-url", index.url]
    started = time.monotonic()
    process = subprocess.Popen(
        [*argv, "pipff-big", "pipff-gamma"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert index.sending.wait(120), "the download never started"
        time.sleep(0.3)  # well inside the ~2 s transfer
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return Result(argv, process.returncode, stdout, stderr, time.monotonic() - started)


def test_interrupt_mid_download_keeps_the_store_sound(
    bed: Bed, big_dists: Path, tmp_path: Path
) -> None:
    """Ctrl-C while a file is coming in: pip-ff exits 130, the record holds no partial body (not
    even a temporary file) and serves nothing from it; the next online run records it."""
    cache = tmp_path / "cache"
    env = isolated_env(cache)
    venv = clone_venv(bed.template, tmp_path / "venv")
    with TrickleIndex(big_dists) as index:
        interrupted = _interrupt_download(venv, index, env)
        assert interrupted.returncode == 130, interrupted.describe()
        assert "Traceback" not in interrupted.output, interrupted.describe()
        assert not store_problems(cache)
        assert not list((cache / "pip-ff" / "v1" / "tmp").glob("*"))  # nor a half-received body
        big_url = index.file_url("pipff_big-1.0-py3-none-any.whl")
        assert big_url not in store_entries(cache)
        index.stop()
        offline = venv.pipff("install", "--index-url", index.url, "pipff-big", env=env)
        assert offline.returncode != 0 and clear_error(offline.output), offline.describe()
        index.start()
        venv.pipff("install", "--index-url", index.url, "pipff-big", env=env).check()
    assert pipff_versions(venv.installed())["pipff-big"] == "1.0"
    assert big_url in store_entries(cache)
    assert not store_problems(cache)


# -- helpers used by the script that writes docs/fault-matrix.md ------------------------------


def matrix_cells() -> list[tuple[Cell, bool]]:
    """Every (cell, local) of the matrix, fast ones first, in table order."""
    return [(c, local) for c in [*_fast_cells(), *_slow_cells()] for local in (True, False)]
