"""The per-user serve's pieces, unit by unit (issue 32's review): what makes two serves the
same (the fingerprint), who may read a serve's state, the size of its log."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from pip import __version__ as pip_version

from pip_offline_fallback.serve import state
from testbed import IndexServer, SlowAcceptServer
from tests.serving import serving

JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    "name",
    [
        "HTTPS_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "NO_PROXY",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ],
)
def test_proxies_and_certificate_authorities_make_another_serve(home: Path, name: str) -> None:
    base = {"PIP_CONFIG_FILE": "/dev/null", "HOME": str(home)}
    secret = "http://user:pa55word@proxy.invalid:3128"
    changed = state.fingerprint(["run"], dict(base, **{name: secret}))
    assert changed != state.fingerprint(["run"], base)
    assert "pa55word" not in changed  # a hash only: the values may hold credentials


def test_the_netrc_file_and_a_bundle_replaced_in_place_make_another_serve(home: Path) -> None:
    environ = {"PIP_CONFIG_FILE": "/dev/null", "HOME": str(home)}
    none = state.fingerprint(["run"], environ)
    (home / ".netrc").write_text("machine index.invalid login a password b\n")
    first = state.fingerprint(["run"], environ)
    (home / ".netrc").write_text("machine index.invalid login a password c\n")
    second = state.fingerprint(["run"], environ)
    assert len({none, first, second}) == 3
    named = home / "other-netrc"
    named.write_text("machine index.invalid login a password d\n")
    with_netrc = dict(environ, NETRC=str(named))
    before = state.fingerprint(["run"], with_netrc)
    named.write_text("machine index.invalid login a password e\n")
    assert state.fingerprint(["run"], with_netrc) != before
    bundle = home / "ca.pem"
    bundle.write_text("one\n")
    with_bundle = dict(environ, SSL_CERT_FILE=str(bundle))
    before = state.fingerprint(["run"], with_bundle)
    bundle.write_text("another, longer\n")
    assert state.fingerprint(["run"], with_bundle) != before
    # The idle timeout is no reason to replace a serve.
    assert state.fingerprint(["run"], dict(environ, PIPFF_SERVE_IDLE="5")) == second


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SlowAcceptServer: Linux")
def test_serve_keeps_what_connects_teach_and_honours_a_timeout_given_to_it(
    index: IndexServer, env: dict[str, str]
) -> None:
    """As ``pip-ff install``: the connect times serve learns are kept in the store (they used
    to be dropped), and ``--timeout`` given to serve (``pip-ff run --timeout``) is the user's
    word, never shortened by the 2 s connect deadline (it used to be: a link that connects in
    3 s was taken for an outage)."""
    times = Path(env["PIP_CACHE_DIR"]) / "pip-ff" / "connect-times.json"
    with SlowAcceptServer(index.port, delay=3.0) as slow:
        with serving(env, "-i", slow.url) as served:
            assert served.request("pipff-alpha/", accept=JSON).status == 200  # recorded
            assert times.is_file()  # kept while serve runs (it runs for days)
        times.unlink()  # as if recorded while the link was fast
        with serving(env, "-i", slow.url, "--timeout", "20") as served:
            answer = served.request("pipff-alpha/", accept=JSON)
        assert min(slow.connect_times) > 2.0, slow.connect_times
    assert answer.status == 200, answer
    assert "x-pipff-source" not in answer.headers, answer.headers  # the index's own answer


def test_the_serves_log_is_capped_while_it_runs(tmp_path: Path) -> None:
    """A serve running with -v logs a line per request for days: its log is capped as it
    writes (it used to be trimmed only when a serve started), one earlier file kept, and
    each file readable by this user only."""
    import logging

    from pip_offline_fallback.serve.peruser import CappedLog

    path = tmp_path / "serve.log"
    handler = CappedLog(str(path), 10_000, follow=())
    log = logging.getLogger("pip_offline_fallback.tests.capped")
    log.addHandler(handler)
    log.propagate = False
    try:
        for i in range(2_000):
            log.warning("GET /simple/project-%d/ 200", i)
    finally:
        log.removeHandler(handler)
        handler.close()
    assert path.stat().st_size <= 10_000 and (tmp_path / "serve.log.1").stat().st_size <= 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["serve.log", "serve.log.1"]
    if sys.platform != "win32":
        assert all(p.stat().st_mode & 0o077 == 0 for p in tmp_path.iterdir())
    assert "project-1999/" in path.read_text()


def test_the_serves_state_is_told_only_to_this_user(tmp_path: Path) -> None:
    """The proof route (asked without the token) says nothing but the proof; the state (pid,
    fingerprint, counts, hosts down) is told only to a question signed with this user's
    secret: a serve of a public index has no token, and used to tell anyone."""
    from pip_offline_fallback.serve.control import Control

    key = b"k" * 32
    control = Control(lambda environ, start: [], key=key, fingerprint="f" * 32, idle=0, down=dict)
    control.counts["file:pip-ff-record"] = 3
    nonce = "n" * 32
    proof = control.route(["proof", nonce])
    assert proof.status == 200
    assert b"".join(proof.body) == f"proof {state.proof(key, nonce, '')}\n".encode()
    for asked in (["state", nonce], ["state", nonce, "0" * 64], ["state", nonce, "x"]):
        refused = control.route(asked)
        assert refused.status == 404 and b"count" not in b"".join(refused.body), asked
    told = control.route(["state", nonce, state.asker(key, nonce)])
    assert told.status == 200 and b"count.file:pip-ff-record 3" in b"".join(told.body)


def test_serve_asks_keyring_without_prompts_where_pip_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pip's default keyring provider ("auto") asks keyring only when pip may prompt, and
    serve's session may not (--no-input): a keyring index got no credentials through
    ``pip-ff run``. Serve now asks the provider "auto" would pick, without prompts."""
    import types

    from pip._internal.commands import create_command
    from pip._internal.network import auth as pip_auth

    from pip_offline_fallback import compat

    fake = types.ModuleType("keyring")

    def get_credential(service: str, username: str | None) -> object:
        if "index.invalid" not in service:
            return None
        return types.SimpleNamespace(username="k-user", password="k-pass")

    fake.get_credential = get_credential  # type: ignore[attr-defined]
    fake.get_password = lambda service, username: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", fake)
    for name in list(os.environ):
        if name.startswith("PIP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    command = create_command("download")
    index = "https://index.invalid/simple/"
    options, _ = command.parse_args(["-i", index, "--no-input"])
    session = command._build_session(options)
    if not hasattr(session.auth, "_keyring_provider"):  # pip < 23.1: no --keyring-provider
        assert compat.keyring_without_prompts(session) is None
        return
    pip_auth.get_keyring_provider.cache_clear()
    try:
        assert compat.keyring_without_prompts(session) == "import"
        assert session.auth.use_keyring is True
        found = session.auth._get_new_credentials(
            index + "pipff-alpha/", allow_netrc=False, allow_keyring=session.auth.use_keyring
        )
        assert found == ("k-user", "k-pass")
        # A provider the user chose is theirs: left as it is.
        options, _ = command.parse_args(
            ["-i", index, "--no-input", "--keyring-provider", "disabled"]
        )
        assert compat.keyring_without_prompts(command._build_session(options)) is None
    finally:
        pip_auth.get_keyring_provider.cache_clear()


@pytest.mark.skipif(
    tuple(int(p) for p in pip_version.split(".")[:2]) < (23, 1), reason="pip 23.1's providers"
)
def test_a_keyring_index_gets_its_credentials_through_serve(
    index: IndexServer, env: dict[str, str], tmp_path: Path
) -> None:
    """The index answers 401 without credentials; keyring (importable beside pip-ff) has
    them. serve asks it without prompts and answers 200 (it used to pass the 401 on), under
    a token since it asks with credentials."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "keyring.py").write_text(
        "import types\n"
        "def get_credential(service, username):\n"
        "    return types.SimpleNamespace(username='k-user', password='k-pa55')\n"
        "def get_password(service, username):\n"
        "    return 'k-pa55' if username == 'k-user' else None\n"
    )
    index.credentials = ("k-user", "k-pa55")
    with serving(dict(env, PYTHONPATH=str(shim)), "-i", index.url) as served:
        answer = served.request("pipff-alpha/", accept=JSON)
    assert answer.status == 200, answer
    assert served.prefix, served.url  # a token: serve asks with credentials
    assert b"k-pa55" not in answer.body and "k-pa55" not in served.stderr


# -- replacing a serve while other runs start: the steps interleaved by hand --------------------

OLD, NEW = "f" * 32, "e" * 32  # two fingerprints: the old serve's options, and new ones


class _Serves:
    """daemon.py's world with its processes faked: which serve runs for each state directory
    (the state files are real), started and ended by the fakes of ``_start`` and ``_end``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
        from pip_offline_fallback.serve import daemon

        self.where = where
        self.running: dict[str, daemon.Proven] = {}
        self.started: list[str] = []
        self.ended: list[int] = []
        self.on_current: list[Callable[[], None]] = []  # run once, at the next current()
        monkeypatch.setattr(daemon, "current", self.current)
        monkeypatch.setattr(daemon, "_start", self.start)
        monkeypatch.setattr(daemon, "_end", self.end)
        monkeypatch.setattr(daemon, "challenge", lambda *a, **k: (daemon.ABSENT, None))

    def current(self, where: str) -> tuple[str, Any, dict[str, str] | None]:
        from pip_offline_fallback.serve import daemon

        proven = self.running.get(where)  # proven first; then what happens meanwhile
        while self.on_current:
            self.on_current.pop(0)()
        if proven is None:
            return daemon.ABSENT, None, None
        return daemon.OURS, proven, state.read_state(where)

    def start(self, where: str, environ: object, args: object, fingerprint: str, port: int) -> Any:
        from pip_offline_fallback.serve import daemon

        pid = 1000 + len(self.started) + len(self.ended)
        fields = {"pid": str(pid), "fingerprint": fingerprint, "version": state.__version__}
        proven = daemon.Proven(port or 4000 + pid, "", fields)
        proven.where = where
        state.write_state(where, {"pid": pid, "port": proven.port, "fingerprint": fingerprint})
        self.running[where] = proven
        self.started.append(where)
        return proven

    def end(self, proven: Any, where: str) -> bool:
        self.ended.append(proven.pid)
        del self.running[where]
        state.clear_state(where, proven.pid)
        return True


def _holds(where: str, fingerprint: str, pid: int | None = None) -> None:
    """A run's hold, as run.py writes it: this process's, else another run's (a live process:
    this one's parent)."""
    holders = Path(where, state.HOLDERS)
    holders.mkdir(mode=0o700, exist_ok=True)
    state.write_private(str(holders / str(pid or os.getppid())), fingerprint)


@pytest.fixture
def serves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> _Serves:
    where = state.directory({"PIPFF_STORE": str(tmp_path)}, create=True)
    world = _Serves(monkeypatch, where)
    world.start(where, {}, [], OLD, 0)  # the old serve, pid 1000
    world.started.clear()
    return world


def test_two_runs_of_new_options_started_at_once_replace_the_old_serve_once(
    serves: _Serves, tmp_path: Path
) -> None:
    """Each run holds the serve before it looks: the first to take the lock sees the other's
    hold, which wants the same new serve, and replaces the old one; the other finds it."""
    from pip_offline_fallback.serve import daemon

    environ = {"PIPFF_STORE": str(tmp_path)}
    _holds(serves.where, NEW)  # the other run, waiting for the lock
    _holds(serves.where, NEW, os.getpid())
    notes: list[str] = []
    first = daemon.ensure(environ, [], NEW, notes)
    assert serves.ended == [1000] and serves.started == [serves.where], notes
    assert any("replacing your serve" in n for n in notes), notes
    second = daemon.ensure(environ, [], NEW, [])  # the other run, once the lock is free
    assert second.pid == first.pid and serves.started == [serves.where]


@pytest.mark.parametrize("replacer", ["done", "under way"])
def test_a_serve_proven_while_a_run_replaces_it_is_never_used(
    serves: _Serves, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replacer: str
) -> None:
    """A run whose options match the old serve proves it without the lock, while a run of
    new options, which took the lock before this run held the serve, replaces it: this run
    never uses the serve ended under it; it waits for the lock and looks again (the new serve
    is then held by the other run's command: it gets one of its own beside it)."""
    from pip_offline_fallback import oslock
    from pip_offline_fallback.serve import daemon

    environ = {"PIPFF_STORE": str(tmp_path)}
    lock = os.path.join(serves.where, "lock")
    replacing = contextlib.ExitStack()

    def replace() -> None:  # the other run, with the lock, between this run's proof and use
        if replacer == "under way":
            replacing.enter_context(oslock.exclusive(lock, 0))
        _holds(serves.where, NEW)
        serves.end(serves.running[serves.where], serves.where)
        serves.start(serves.where, environ, [], NEW, 0)

    exclusive = oslock.exclusive

    def waiting(path: str, timeout: float) -> Any:
        if timeout != 0:
            replacing.close()  # the other run is done: the lock is free again
        return exclusive(path, timeout)

    monkeypatch.setattr(oslock, "exclusive", waiting)
    _holds(serves.where, OLD, os.getpid())
    serves.on_current.append(replace)
    notes: list[str] = []
    got = daemon.ensure(environ, [], OLD, notes)
    replacing.close()
    assert got.pid not in serves.ended and got.fingerprint == OLD, notes
    assert got.where == os.path.join(serves.where, daemon.OTHERS, OLD)


def test_an_ending_serve_leaves_its_state_to_a_run_that_holds_the_lock(tmp_path: Path) -> None:
    """A serve that ends while a run holds the lock (replacing or stopping it) leaves its state
    file to that run: the successor's, written any moment, must not be the one removed."""
    from pip_offline_fallback import oslock

    where = state.directory({"PIPFF_STORE": str(tmp_path)}, create=True)
    side = os.path.join(where, state.OTHERS, OLD)
    os.makedirs(side, mode=0o700)
    for each in (where, side):
        state.write_state(each, {"pid": 1000, "port": 4000})
        with oslock.exclusive(os.path.join(where, "lock"), 0):  # a run, replacing it
            state.forget(each, 1000)
            assert state.read_state(each) is not None
        state.forget(each, 1000)  # no run: it goes
        assert state.read_state(each) is None
