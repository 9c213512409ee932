"""The per-user serve's pieces, unit by unit (issue 32's review): what makes two serves the
same (the fingerprint), who may read a serve's state, the size of its log."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pip import __version__ as pip_version

from pip_offline_fallback.serve import proving, state
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
    secret: a serve of a public index has no token, and used to tell anyone. run's one
    question goes out before the serve is proven, so it is good only for the address it was
    sent to and for two minutes: a program that took a port can't replay it elsewhere."""
    import time

    from pip_offline_fallback.serve.control import Control

    key = b"k" * 32
    control = Control(lambda environ, start: [], key=key, fingerprint="f" * 32, idle=0, down=dict)
    control.counts["file:pip-ff-record"] = 3
    nonce = "n" * 32
    proof = control.route(["proof", nonce])
    assert proof.status == 200
    assert b"".join(proof.body) == f"proof {proving.proof(key, nonce, '')}\n".encode()
    for asked in (["state", nonce], ["state", nonce, "0" * 64], ["state", nonce, "x"]):
        refused = control.route(asked)
        assert refused.status == 404 and b"count" not in b"".join(refused.body), asked
    told = control.route(["state", nonce, proving.asker(key, nonce)])
    assert told.status == 200 and b"count.file:pip-ff-record 3" in b"".join(told.body)

    here, elsewhere = "127.0.0.1:4001", "127.0.0.1:4002"
    fresh = proving.nonce()
    stale = f"{int(time.time()) - 600:08x}" + fresh[8:]
    for segments, host in (
        (["ask", fresh, proving.question(key, fresh, elsewhere)], here),  # replayed elsewhere
        (["ask", stale, proving.question(key, stale, here)], here),  # too old
        (["ask", fresh, proving.asker(key, fresh)], here),  # the older run's, not this question
        (["ask", fresh, "0" * 64], here),
    ):
        refused = control.route(segments, host)
        assert refused.status == 404 and b"count" not in b"".join(refused.body), segments
    told = control.route(["ask", fresh, proving.question(key, fresh, here)], here)
    assert told.status == 200 and b"count.file:pip-ff-record 3" in b"".join(told.body)


@contextlib.contextmanager
def _loopback_wsgi() -> Iterator[tuple[int, list[str], list[Callable[..., Any]]]]:
    """A plain WSGI server on loopback for serve's real routing: (its port, the paths it was
    asked, a list whose first item is the app to answer with, set by the caller)."""
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    asked: list[str] = []
    routed: list[Callable[..., Any]] = []

    def app(environ: dict[str, object], start_response: Callable[..., object]) -> object:
        asked.append(str(environ["PATH_INFO"]))
        return routed[0](environ, start_response)

    server = make_server("127.0.0.1", 0, app, handler_class=Quiet)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, asked, routed
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_tally_moves_once_after_each_question_not_on_every_local_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run asks again after its command only when ``<state>/answered`` differs from the mark
    its question was told: serve writes that file when a question is answered (if stale) and on
    the first local answer after it, not on every local answer (a file write each, #32)."""
    from pip_offline_fallback.serve.control import Control

    def local(environ: dict[str, object], start: Callable[..., object]) -> list[bytes]:
        start("200 OK", [("X-PipFF-Source", "pip-ff-record; age=1")])
        return [b"a page"]

    tally = str(tmp_path / state.ANSWERED)
    key, here = b"k" * 32, "127.0.0.1:3141"
    control = Control(local, key=key, fingerprint="f" * 32, idle=0, down=dict, tally=tally)  # type: ignore[arg-type]
    writes: list[str] = []
    write_private = state.write_private

    def counted(path: str, text: str) -> None:
        writes.append(text.strip())
        write_private(path, text)

    monkeypatch.setattr(state, "write_private", counted)

    def answer(times: int) -> None:
        for _ in range(times):
            list(control({"PATH_INFO": "/simple/x/"}, lambda *a: None))

    def ask() -> str:
        nonce = proving.nonce()
        told = control.route(["ask", nonce, proving.question(key, nonce, here)], here)
        return state.decode(b"".join(told.body).decode().split("\n", 1)[1])["answered"]

    answer(3)  # nobody asked yet: no run to tell
    assert writes == []
    told = ask()  # the file is brought up to the mark it tells
    assert writes == [told] and state.read_private(tally) == told + "\n"
    answer(5)  # one write moves it off that mark; the other four write nothing
    assert len(writes) == 2 and state.read_private(tally) != told + "\n"
    told = ask()
    assert len(writes) == 3 and state.read_private(tally) == told + "\n"
    assert ask() == told and len(writes) == 3  # nothing answered since: nothing written


def test_run_proves_and_asks_its_serve_in_one_request_without_the_token() -> None:
    """``pip-ff run`` asks its serve once before its command and once after (it asked twice
    each time: the proof, then the state), and never with the token: the question is good
    without it. The real routing (ServeApp) and control, on a plain WSGI server."""
    from pip_offline_fallback.serve.app import ServeApp
    from pip_offline_fallback.serve.control import Control

    key, token = os.urandom(32), "t" * 32
    with _loopback_wsgi() as (port, asked, routed):
        serve_app = ServeApp(None, hosts=[f"127.0.0.1:{port}"], token=token)  # type: ignore[arg-type]
        control = Control(serve_app, key=key, fingerprint="f" * 32, idle=0, down=dict)
        serve_app.control = control.route
        control.counts["page:pip-ff-record"] = 2
        routed.append(control)
        verdict, proven = proving.challenge(port, f"/{token}", key)
        assert verdict == proving.OURS and proven is not None
        assert proven.pid == os.getpid() and proven.counts == {"page:pip-ff-record": 2}
        assert len(asked) == 1 and token not in asked[0], asked
        verdict, _ = proving.challenge(port, f"/{token}", b"x" * 32)  # another user's secret
        assert verdict == proving.FOREIGN


def test_run_asks_its_serve_after_the_command_only_when_it_answered_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pip-ff run`` (in this process) against a serve's real routing and control on a plain
    WSGI server: one question before its command; after it, none when the serve's tally says
    nothing was answered from local sources (it asked twice before and twice after), and one,
    with the closing line, when something was."""
    import time

    from pip_offline_fallback.serve import run
    from pip_offline_fallback.serve.app import ServeApp
    from pip_offline_fallback.serve.control import Control

    for name in list(os.environ):
        if name.upper().startswith(("PIP_", "PIPFF", "UV_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIPFF_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.chdir(tmp_path)
    where = state.directory(os.environ, create=True)
    key = state.secret(where)
    with _loopback_wsgi() as (port, asked, routed):

        def local_page(environ: dict[str, object], start_response: Callable[..., object]) -> object:
            if environ["PATH_INFO"] == "/simple/x/":  # as serve answers a page from its record
                start_response("200 OK", [("X-PipFF-Source", "pip-ff-record; age=1")])
                return [b"a page"]
            return serve_app(environ, start_response)  # type: ignore[arg-type]

        serve_app = ServeApp(None, hosts=[f"127.0.0.1:{port}"], token=None)  # type: ignore[arg-type]
        fingerprint = state.fingerprint(["run"], os.environ)
        control = Control(
            local_page,  # type: ignore[arg-type]
            key=key,
            fingerprint=fingerprint,
            idle=0,
            down=dict,
            tally=os.path.join(where, state.ANSWERED),
        )
        serve_app.control = control.route
        routed.append(control)
        fields = {"pid": os.getpid(), "port": port, "prefix": "", "fingerprint": fingerprint}
        state.write_state(where, {**fields, "started": int(time.time())})
        fetch = (
            "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open("
            "os.environ['PIP_INDEX_URL'] + 'x/').read()"
        )
        assert run.main(["run", "--", sys.executable, "-c", "pass"], 0) == 0
        assert [p.split("/")[2] for p in asked] == ["ask"], asked
        assert "pip-ff:" not in capsys.readouterr().err
        asked.clear()
        assert run.main(["run", "--", sys.executable, "-c", fetch], 0) == 0
        assert [p.split("/")[2] for p in asked] == ["ask", "x", "ask"], asked
        closing = capsys.readouterr().err
        assert "pip-ff: finished from local sources (local index data); pages: 1 from " in closing


def test_runs_sha256_and_hmac_are_hashlibs_and_hmacs() -> None:
    """run computes them without importing hashlib and hmac (serve/digest.py): the same
    values, for keys shorter than, as long as and longer than SHA-256's block."""
    import hashlib
    import hmac

    from pip_offline_fallback.serve import digest

    for key in (b"", b"k", os.urandom(32), os.urandom(64), os.urandom(65), os.urandom(200)):
        for message in (b"", b"pip-ff ask\0127.0.0.1:3149\0nonce", os.urandom(1000)):
            assert digest.hmac_sha256(key, message) == hmac.new(key, message, "sha256").hexdigest()
    assert digest.sha256(b"abc").hexdigest() == hashlib.sha256(b"abc").hexdigest()
    assert digest.same("ab" * 32, "ab" * 32) and not digest.same("ab" * 32, "ba" * 32)


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
        self.running: dict[str, proving.Proven] = {}
        self.started: list[str] = []
        self.ended: list[int] = []
        self.on_current: list[Callable[[], None]] = []  # run once, at the next current()
        monkeypatch.setattr(daemon, "current", self.current)
        monkeypatch.setattr(daemon, "_start", self.start)
        monkeypatch.setattr(daemon, "_end", self.end)
        monkeypatch.setattr(proving, "challenge", lambda *a, **k: (proving.ABSENT, None))

    def current(self, where: str) -> tuple[str, Any, dict[str, str] | None]:

        proven = self.running.get(where)  # proven first; then what happens meanwhile
        while self.on_current:
            self.on_current.pop(0)()
        if proven is None:
            return proving.ABSENT, None, None
        return proving.OURS, proven, state.read_state(where)

    def start(self, where: str, environ: object, args: object, fingerprint: str, port: int) -> Any:

        pid = 1000 + len(self.started) + len(self.ended)
        fields = {"pid": str(pid), "fingerprint": fingerprint, "version": state.__version__}
        proven = proving.Proven(port or 4000 + pid, "", fields)
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


@pytest.mark.skipif(sys.platform == "win32", reason="holders count on POSIX only")
def test_a_serve_beside_a_busy_one_is_held_before_it_is_proven(
    serves: _Serves, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The serve of this run's options beside the one another run's command holds (its own
    state directory under ``others/``) is held by this run before it is proven, with its lock
    taken: its idle stop, which looks at the holders under that lock (idlestop.py), can't end
    it between the proof and the command."""
    from pip_offline_fallback import oslock
    from pip_offline_fallback.serve import daemon

    environ = {"PIPFF_STORE": str(tmp_path)}
    side = os.path.join(serves.where, daemon.OTHERS, NEW)
    os.makedirs(side, mode=0o700)
    serves.start(side, environ, [], NEW, 0)  # the serve beside, up from an earlier run
    _holds(serves.where, OLD)  # another run's command uses the old serve
    _holds(serves.where, NEW, os.getpid())
    seen: list[tuple[bool, bool]] = []

    def proving(where: str) -> tuple[str, Any, dict[str, str] | None]:
        if where == side:  # what the serve beside would see, were it deciding to stop now
            try:
                with oslock.exclusive(state.lock_path(side), 0):
                    taken = False
            except oslock.LockTimeout:
                taken = True
            seen.append((state.held(side), taken))
        return serves.current(where)

    monkeypatch.setattr(daemon, "current", proving)
    got = daemon.ensure(environ, [], NEW, [])
    assert got.where == side and serves.started == [side], serves.started
    assert seen == [(True, True)], seen


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


def test_run_hands_its_serve_absolute_paths(tmp_path: Path) -> None:
    # The serve runs in its own directory (serve/callerpaths.py): what names a file relative
    # to the caller's directory reaches it absolute, URLs and ~ paths as they were.
    from pip_offline_fallback.serve import callerpaths

    here = str(tmp_path)
    args = ["--wheelhouse", "wh", "--cert=ca.pem", "-f", "https://h/x", "-flinks", "-i", "u",
            "--find-links", "/abs", "--client-cert", "~/c.pem"]  # fmt: skip
    assert callerpaths.arguments(args, here) == [
        "--wheelhouse", f"{here}/wh", f"--cert={here}/ca.pem", "-f", "https://h/x",
        f"-f{here}/links", "-i", "u", "--find-links", "/abs", "--client-cert", "~/c.pem",
    ]  # fmt: skip
    config = tmp_path / "pip.conf"
    config.write_text("[global]\ncert = certs/ca.pem\ntimeout = 5\n[download]\nfind-links = a /b\n")
    environ = {"PIP_CONFIG_FILE": "pip.conf", "PIPFF_WHEELHOUSE": f"w1{os.pathsep}/w2",
               "PIP_FIND_LINKS": "x https://h/y", "PIPFF_STORE": "store", "HOME": here}  # fmt: skip
    got = callerpaths.environment(environ, here)
    assert got == {
        "PIP_CONFIG_FILE": str(config), "PIPFF_WHEELHOUSE": f"{here}/w1{os.pathsep}/w2",
        "PIP_FIND_LINKS": f"{here}/x https://h/y", "PIPFF_STORE": f"{here}/store",
        "HOME": here, "PIP_CERT": f"{here}/certs/ca.pem",
    }  # fmt: skip


@pytest.mark.skipif(sys.platform == "win32", reason="holders count on POSIX only")
def test_an_idle_serve_never_stops_under_a_run_that_proved_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # serve/idlestop.py: the idle serve removes its state under the lock, then looks at the
    # holders again; a run holds before it proves the serve, and checks after that the state
    # still names it with the lock free (daemon._still). Each interleaving, step by step.
    from pip_offline_fallback.serve import daemon
    from pip_offline_fallback.serve.idlestop import IdleStop

    where = str(tmp_path)
    fields = {"pid": os.getpid(), "port": 4001, "prefix": "", "fingerprint": "f", "started": 1}
    state.write_state(where, fields)
    serve = IdleStop(where)
    serve.fields = fields
    proven = proving.Proven(4001, "", {"pid": str(os.getpid())})

    # The run holds and proves it first: the serve sees the holder and keeps serving.
    holding = state.hold(where, "f")
    assert holding is not None and not serve.agree()
    assert state.read_state(where) == state.decode(state.encode(fields))
    assert daemon._still(where, proven)
    os.unlink(holding)

    # The run holds and proves it while the serve decides (its state just removed): the run's
    # check fails (the lock is taken: it waits and looks again), and the serve sees the holder,
    # puts its state back and keeps serving; the run then finds it as it was.
    clear_state = state.clear_state
    holds: list[str | None] = []

    def a_run_comes(at: str, pid: int) -> None:
        clear_state(at, pid)
        holds.append(state.hold(where, "f"))
        assert not daemon._still(where, proven)

    monkeypatch.setattr(state, "clear_state", a_run_comes)
    assert not serve.agree() and holds
    monkeypatch.setattr(state, "clear_state", clear_state)
    assert daemon._still(where, proven)
    os.unlink(str(holds[0]))

    # No run holds it: it stops, its state gone, and it keeps the lock until it no longer
    # listens: a run that holds and proves it meanwhile never uses it.
    assert serve.agree()
    assert state.read_state(where) is None
    holding = state.hold(where, "f")
    assert not daemon._still(where, proven)
    serve.release()
    assert not daemon._still(where, proven)
    os.unlink(str(holding))


def test_run_says_nothing_of_record_files_served_while_the_index_answered() -> None:
    """A file serve hands from pip-ff's record while the index answers was checked against the
    index's own page: the command got what going direct gives, so run says nothing (as
    ``pip-ff install`` online). A page from local data (``--prefer-offline``) or an index
    that was down is said, as before."""
    from pip_offline_fallback.serve import run

    words = {"word.pip-ff-record": "pip-ff's record"}
    before = proving.Proven(1, "", {"count.file:pip-ff-record": "2", **words})
    files_only = proving.Proven(1, "", {"count.file:pip-ff-record": "5", **words})
    assert run.closing(before, files_only, 0) == []
    with_page = proving.Proven(
        1, "", {"count.file:pip-ff-record": "5", "count.page:pip-ff-record": "1", **words}
    )
    assert run.closing(before, with_page, 0) == [
        "pip-ff: finished from local sources (local index data); files: 3 from pip-ff's "
        "record; pages: 1 from pip-ff's record"
    ]
    down = proving.Proven(
        1, "", {"count.file:pip-ff-record": "5", "down.127.0.0.1:1": "connection refused", **words}
    )
    assert run.closing(before, down, 1) == [
        "pip-ff: answered from local sources (unreachable: 127.0.0.1:1 (connection refused)); "
        "files: 3 from pip-ff's record"
    ]
