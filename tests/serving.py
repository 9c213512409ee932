"""A ``pip-ff serve`` process for the tests, and a raw HTTP client for it (issue 25).

The server is the real command, ``python -m pip_offline_fallback serve``, in a subprocess of
the test's isolated environment, on a port the OS picks (``--port 0``); the URL it prints on
start is where the tests find it. The client is ``http.client``: request paths and headers go
out exactly as written (no normalisation of ``..``, any Host header).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT = 120.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str  # the index URL it printed (.../simple/)
    stderr_lines: list[str] = field(default_factory=list)
    drained: threading.Thread | None = None  # reads stderr_lines until the process ends

    @property
    def origin(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def prefix(self) -> str:
        """The path before ``/simple/`` (the token segment, when there is one)."""
        return urllib.parse.urlsplit(self.url).path[: -len("/simple/")]

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        accept: str | None = None,
        headers: Mapping[str, str] | None = None,
        host: str | None = None,
    ) -> Answer:
        """``path``: absolute (``/simple/x/``) or relative to the index URL (``x/``)."""
        if not path.startswith("/"):
            path = urllib.parse.urlsplit(self.url).path + path
        parts = urllib.parse.urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=120)
        try:
            sent = dict(headers or {})
            if accept is not None:
                sent["Accept"] = accept
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", host if host is not None else parts.netloc)
            for name, value in sent.items():
                connection.putheader(name, value)
            connection.endheaders()
            response = connection.getresponse()
            body = response.read()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        finally:
            connection.close()

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            status = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait(timeout=60)
        if self.drained is not None:
            self.drained.join(timeout=60)  # every line it wrote is in stderr_lines
        return status


@contextlib.contextmanager
def serving(
    env: Mapping[str, str], *args: str, main: Sequence[str] = ("-m", "pip_offline_fallback")
) -> Iterator[Served]:
    """``pip-ff serve --port 0 -v ARGS`` running for the block (``main``: how the interpreter
    runs pip-ff)."""
    process = subprocess.Popen(
        [sys.executable, *main, "serve", "--port", "0", "-v", *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)

    drained = threading.Thread(target=drain, daemon=True)
    drained.start()
    assert process.stdout is not None
    first = process.stdout.readline()  # waits until it listens (or exits)
    if "index URL " not in first:
        process.kill()
        process.wait(timeout=60)
        raise AssertionError(f"pip-ff serve did not start: {first!r}\n{''.join(lines)}")
    served = Served(process, first.split("index URL ", 1)[1].split()[0], lines, drained)
    try:
        yield served
    finally:
        served.stop()


def stop_per_user_serve(env: Mapping[str, str]) -> None:
    """End the per-user serve that ``pip-ff run`` started with ``env`` (its store): ``pip-ff
    serve stop``, then its pid killed as a last resort. Every test that runs ``pip-ff run``
    calls this at teardown."""
    pids = []
    where = per_user_state_dir(env)
    others = sorted((where / "others").glob("*")) if (where / "others").is_dir() else []
    for each in [where, *others]:  # and the serves started beside a busy one
        with contextlib.suppress(OSError, ValueError):
            for line in (each / "state").read_text().splitlines():
                if line.startswith("pid "):
                    pids.append(int(line[4:]))
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(
            [sys.executable, "-m", "pip_offline_fallback", "serve", "stop"],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)


def per_user_state_dir(env: Mapping[str, str]) -> Path:
    """Where the per-user serve of ``env`` keeps its state (the tests set PIPFF_STORE or
    PIP_CACHE_DIR)."""
    if env.get("PIPFF_STORE"):
        return Path(env["PIPFF_STORE"]) / "serve"
    return Path(env["PIP_CACHE_DIR"]) / "pip-ff" / "serve"
