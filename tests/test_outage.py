"""What counts as an outage, decided in-process from real failures (fast, no pip subprocess).

Every exception here is a real one: pip's own vendored requests and urllib3 meet a real outage
on loopback (a closed port, a black hole, a server that never answers, a 503 storm, a reset, a
certificate nobody trusts, a proxy that answers 502), and the chain they raise goes through
:func:`pip_offline_fallback.outage.classify`. The table is what the rest of pip-ff builds on:
a route that can't be reached is down for the run, while an index that answered (badly, after
pip's retries) costs that one URL only, and under the strict setting is pip's to report.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pip_offline_fallback import causes, deadline, outage
from pip_offline_fallback.outage import ANSWERED, PIPS, ROUTE
from testbed import (
    UNRESOLVABLE_INDEX_URL,
    BlackHoleServer,
    CertificateAuthority,
    FailingProxy,
    IndexServer,
    ProjectSet,
    StallServer,
    closed_port_url,
)

requests = pytest.importorskip("pip._vendor.requests")
Retry = pytest.importorskip("pip._vendor.urllib3.util.retry").Retry


def _session(retries: int = 0, **retry: object) -> object:
    """A session of pip's own requests with a retry policy like pip's (no back-off)."""
    session = requests.Session()
    policy = Retry(total=retries, backoff_factor=0, **retry)  # type: ignore[arg-type]
    adapter = requests.adapters.HTTPAdapter(max_retries=policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False  # this machine's proxy variables are not the test's
    return session


def classify(exc: BaseException, strict: bool = False) -> tuple[str, str]:
    """The outage rule's verdict on ``exc``, with its cause in words (what messages say)."""
    verdict, cause = outage.classify(exc, strict)
    return verdict, str(cause)


def _raised(get: Callable[[], object]) -> BaseException:
    with pytest.raises(Exception) as info:
        get()
    return info.value


@pytest.fixture
def plain_index(dists: ProjectSet, tmp_path: Path) -> Iterator[IndexServer]:
    with IndexServer(dists.dist_dir) as server:
        yield server


def _refused() -> BaseException:
    url = closed_port_url()
    return _raised(lambda: _session().get(url, timeout=5))


def _dns() -> BaseException:
    return _raised(lambda: _session().get(UNRESOLVABLE_INDEX_URL, timeout=5))


def _connect_timeout() -> BaseException:
    with BlackHoleServer() as hole:
        return _raised(lambda: _session().get(hole.url, timeout=(0.5, 5)))


def _read_timeout() -> BaseException:
    with StallServer() as stall:
        return _raised(lambda: _session().get(stall.url, timeout=(5, 0.5)))


def _proxy_502() -> BaseException:
    with FailingProxy(502) as proxy:
        proxies = {"https": proxy.url}
        url = "https://index.pipff.invalid/simple/"
        return _raised(lambda: _session().get(url, proxies=proxies, timeout=5))


def test_a_route_that_cant_be_reached_is_down_for_the_run() -> None:
    table = {
        "refused": (_refused(), "connection refused"),
        "dns": (_dns(), "DNS lookup failed"),
        "connect timeout": (_connect_timeout(), "connection timed out"),
        "proxy 502": (_proxy_502(), "proxy answered 502"),
    }
    for name, (exc, cause) in table.items():
        assert classify(exc) == (ROUTE, cause), (name, repr(exc))
        # The strict setting keeps these: they are what an outage is.
        assert classify(exc, strict=True)[0] == (PIPS if name == "proxy 502" else ROUTE), name


def test_a_read_timeout_is_a_route_but_not_under_the_strict_setting() -> None:
    """A server that accepts and never says a word, after pip's read retries: down (a hung
    process); under the strict setting an answer that never came is pip's to report."""
    exc = _read_timeout()
    assert classify(exc) == (ROUTE, "read timed out"), repr(exc)
    assert classify(exc, strict=True) == (PIPS, "read timed out")


def test_an_index_that_answered_costs_one_url(plain_index: IndexServer) -> None:
    """A 503 that outlived pip's retries and a reset are the index answering (badly): that URL
    alone. Making every error left after pip's retries take the host down fails here."""
    page = "/simple/pipff-alpha/"
    plain_index.fail_next[page] = [503, 503, 503]
    storm = _raised(
        lambda: _session(2, status_forcelist=[503], raise_on_status=True).get(
            plain_index.project_url("pipff-alpha"), timeout=5
        )
    )
    plain_index.reset_next[page] = 1
    reset = _raised(lambda: _session().get(plain_index.project_url("pipff-alpha"), timeout=5))
    assert classify(storm) == (ANSWERED, "server answered 503"), repr(storm)
    assert classify(reset) == (ANSWERED, "connection reset"), repr(reset)
    assert classify(storm, strict=True) == (PIPS, "server answered 503")
    assert classify(reset, strict=True) == (PIPS, "connection reset")


def test_tls_that_fails_is_a_route_but_not_under_the_strict_setting(
    dists: ProjectSet, ca: CertificateAuthority
) -> None:
    """A certificate nobody trusts (or no TLS at all on the https port): pip-ff counts the
    route as down; under the strict setting a failed verification fails as in pip."""
    with IndexServer(dists.dist_dir, https=ca) as server:
        untrusted = _raised(lambda: _session().get(server.url, timeout=5))
    with IndexServer(dists.dist_dir) as plain:
        not_tls = _raised(
            lambda: _session().get(plain.url.replace("http://", "https://"), timeout=5)
        )
    for exc in (untrusted, not_tls):
        assert classify(exc) == (ROUTE, "TLS handshake failed"), repr(exc)
        assert classify(exc, strict=True) == (PIPS, "TLS handshake failed"), repr(exc)


def test_a_reset_while_connecting_is_a_route() -> None:
    """A connection never made is a route that can't be reached, whatever the socket said."""
    from pip_offline_fallback import compat

    inner = ConnectionResetError(104, "Connection reset by peer")
    try:
        raise compat.RequestsConnectionError(compat.NoConnectionError(None, "connect failed"))
    except compat.RequestsConnectionError as error:
        error.__context__ = inner
        exc: BaseException = error
    assert classify(exc)[0] == ROUTE
    assert classify(exc, strict=True)[0] == ROUTE


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (socket.gaierror(-2, "Name or service not known"), "DNS lookup failed"),
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (OSError(101, "Network is unreachable"), "network unreachable"),
        (ConnectionResetError(104, "Connection reset by peer"), "connection reset"),
        (OSError("something else"), "connection failed"),
    ],
)
def test_describe_names_the_cause(exc: BaseException, cause: str) -> None:
    assert causes.describe(exc) == cause


def test_describe_never_repeats_credentials() -> None:
    exc = ConnectionRefusedError(111, "http://alice:s3cret@index.example/simple/ refused")
    assert "s3cret" not in causes.describe(exc)


def _failures() -> dict[str, BaseException]:
    """One failure of each kind, as pip's requests and urllib3 raise it (built in-process)."""
    from pip_offline_fallback import compat

    def wrapped(inner: BaseException, outer: type[BaseException]) -> BaseException:
        try:
            raise outer(inner)
        except outer as error:
            return error

    never = compat.NoConnectionError(None, "connect failed")
    never.__context__ = ConnectionResetError(104, "Connection reset by peer")
    return {
        "dns": socket.gaierror(-2, "Name or service not known"),
        "refused": ConnectionRefusedError(111, "Connection refused"),
        "no route": OSError(101, "Network is unreachable"),
        "connect timeout": wrapped(OSError("Connect timeout"), compat.RequestsTimeout),
        "read timeout": wrapped(OSError("Read timed out."), compat.RequestsTimeout),
        "tls": ssl.SSLError(1, "certificate verify failed"),
        "proxy 502": OSError("Tunnel connection failed: 502 Bad Gateway"),
        "proxy 407": OSError("Tunnel connection failed: 407 Proxy Authentication Required"),
        "server 503": wrapped(OSError("too many 503 error responses"), compat.RequestsRetryError),
        "reset": ConnectionResetError(104, "Connection reset by peer"),
        "reset while connecting": wrapped(never, compat.RequestsConnectionError),
        "dropped": OSError("RemoteDisconnected"),
        "other": OSError("something else"),
    }


def _rules() -> dict[tuple[str, bool, bool], tuple[str, str | None, bool]]:
    """What the rule makes of each failure: (verdict, the route marked down, whether a wait is
    said), plain and strict, straight and through a proxy on a plain-http request."""
    table = {}
    for name, exc in _failures().items():
        for strict in (False, True):
            for proxied in (False, True):
                failed = outage.judge(
                    exc,
                    strict=strict,
                    host="index.test:80",
                    via="proxy http://proxy.test:3128" if proxied else None,
                    plain_http=True,
                    waited=2.0,
                )
                table[name, strict, proxied] = (
                    failed.verdict,
                    failed.down,
                    failed.cause.waited is not None,
                )
    return table


def test_rewording_a_cause_never_changes_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule branches on the cause's value: give every kind words that hold every phrase an
    older rule matched ("timed out", "TLS handshake failed", "server answered 502", "proxy
    error"), and every failure is still judged, and routed, as before."""
    before = _rules()
    words: dict[causes.Kind, str] = {}
    said_before = {name: causes.describe(exc) for name, exc in _failures().items()}
    for index, kind in enumerate(causes.Kind):
        words[kind] = f"TLS handshake failed, server answered 502, proxy error, timed out #{index}"
    monkeypatch.setattr(causes, "WORDS", words)
    assert _rules() == before
    said_after = {name: causes.describe(exc) for name, exc in _failures().items()}
    assert all(said_after[name] != said_before[name] for name in said_before)
    # What the rule decides, spot-checked: a proxy's gateway answer takes the proxy down; a TLS
    # failure through a tunnel is the host's own; a reset while connecting is a route.
    assert before["server 503", False, True] == ("route", "proxy http://proxy.test:3128", False)
    assert before["server 503", False, False] == ("answered", None, False)
    assert before["tls", False, True] == ("route", "index.test:80", False)
    assert before["connect timeout", False, False] == ("route", "index.test:80", True)
    assert before["reset while connecting", True, False][0] == "route"
    assert before["proxy 407", False, False] == ("answered", None, False)


def test_serve_forgets_outages_on_the_engines_own_outage() -> None:
    """serve asks routes again after a while: the engine clears its outage in place, under the
    outage's lock (serve replaced the object from outside: a route another thread marked down
    at that moment landed on the discarded one, and was never asked again nor said)."""
    from pip_offline_fallback import engine

    fallback = engine.Engine.__new__(engine.Engine)
    fallback.outage = outage.Outage({"index.test:80": "connection refused"})
    kept = fallback.outage
    fallback.forget_outages()
    assert fallback.outage is kept and not kept.hosts
    assert kept.mark_down("index.test:80", causes.cause_of(ConnectionRefusedError(111, "")))
    assert kept.hosts == {"index.test:80": "connection refused"}


def test_the_connect_deadline_only_shortens_the_connect() -> None:
    assert outage.connect_deadline(15, 2.0) == (2.0, 15)
    assert outage.connect_deadline((1.0, 30), 2.0) == (1.0, 30)
    assert outage.connect_deadline((None, 30), 2.0) == (2.0, 30)
    assert outage.connect_deadline(None, 2.0) == (2.0, None)


def test_pips_own_timeout_caps_the_connect_deadline() -> None:
    """pip passes its timeout as a plain number: a deadline that a slow route's connect times
    lengthened (9 s) never goes beyond it, as a tuple's connect part never does."""
    assert outage.connect_deadline(1, 9.0) == (1, 1)
    assert outage.connect_deadline(1.5, 9.0) == (1.5, 1.5)
    assert outage.connect_deadline((1.0, 30), 9.0) == (1.0, 30)


# -- the connect deadline (deadline.py) -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "given"),
    [
        (["install", "--timeout", "30", "x"], True),
        (["--timeout=30", "install", "x"], True),
        (["install", "--default-timeout", "30", "x"], True),
        (["install", "--time", "30", "x"], True),  # optparse takes an unambiguous prefix
        (["install", "x"], False),
        (["install", "--trusted-host", "h", "x"], False),
        (["install", "--", "--timeout"], False),
    ],
)
def test_a_timeout_on_the_command_line_is_seen(args: list[str], given: bool) -> None:
    assert deadline.timeout_on_command_line(args) is given


def test_the_deadline_follows_the_routes_usual_connect_time(tmp_path: Path) -> None:
    times = deadline.ConnectTimes(str(tmp_path))
    times.seen("fast", 0.01)
    for seconds in (1.6, 3.0, 2.2):
        times.seen("satellite", seconds)
    times.save()
    again = deadline.ConnectTimes(str(tmp_path))
    # A host that connects fast keeps the short deadline: a black hole is decided in 2 s.
    assert deadline.deadline_for(2.0, again.slowest("fast")) == 2.0
    assert deadline.deadline_for(2.0, again.slowest("never seen")) == 2.0
    # A link whose connects take 1.5-3 s gets three times its slowest.
    assert deadline.deadline_for(2.0, again.slowest("satellite")) == pytest.approx(9.0)
    # Fast again for a while: forgotten.
    for _ in range(deadline.SAMPLES):
        again.seen("satellite", 0.02)
    assert again.slowest("satellite") == 0.0


def test_a_run_on_a_fast_network_writes_nothing(tmp_path: Path) -> None:
    times = deadline.ConnectTimes(str(tmp_path))
    times.seen("fast", 0.01)
    times.save()
    assert not (tmp_path / deadline.FILE_NAME).exists()


@pytest.mark.parametrize("content", ["", "not json", "[1]", '{"r": "x"}', '{"r": [-1, "a"]}'])
def test_a_damaged_connect_times_file_is_ignored(tmp_path: Path, content: str) -> None:
    (tmp_path / deadline.FILE_NAME).write_text(content, encoding="utf-8")
    assert deadline.ConnectTimes(str(tmp_path)).slowest("r") == 0.0


def test_a_wait_given_up_on_goes_on_and_is_learnt(tmp_path: Path) -> None:
    """late.py: the request is told at the deadline; the work goes on, and once done its time
    is learnt and its result tidied away."""
    import threading
    import time

    from pip_offline_fallback.late import Late

    late = Late()
    learnt: list[float] = []
    tidied: list[object] = []
    release = threading.Event()

    def slow() -> str:
        release.wait(5)
        return "made"

    with pytest.raises(TimeoutError):
        late.within(
            slow, 0.05, learn=learnt.append, tidy=tidied.append, missed=lambda: TimeoutError()
        )
    assert learnt == [] and tidied == []
    time.sleep(0.1)
    release.set()
    late.settle(5)
    assert len(learnt) == 1 and learnt[0] >= 0.15, learnt
    assert tidied == ["made"]
    # In time: the result itself, nothing learnt here (the caller times it), nothing tidied.
    assert late.within(lambda: 1, 5, learn=learnt.append, tidy=tidied.append, missed=Exception) == 1
    assert len(learnt) == 1 and tidied == ["made"]


def test_the_first_byte_deadline_follows_the_same_rule() -> None:
    """The longer of 5 s and three times the slowest first byte seen, capped by pip's read
    timeout; --timeout on the command line as it is."""
    first = deadline.first_byte_deadline
    assert first(15, 0.0, False) == deadline.FIRST_BYTE == 5.0
    assert first((2.0, 30), 8.0, False) == pytest.approx(24.0)  # an index that takes 8 s
    assert first(15, 8.0, False) == 15  # pip's own timeout caps it
    assert first(3, 0.0, False) == 3
    assert first(20, 0.0, True) == 20  # the user's word: not shortened
    assert first(None, 0.0, False) == 5.0
    assert first(object(), 0.0, False) is None  # an urllib3 Timeout: pip's own wait
