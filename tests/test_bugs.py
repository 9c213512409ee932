"""An error pip-ff's code doesn't expect is a bug: said (never at debug level only), re-raised
under PIPFF_RAISE_BUGS=1, and never a reason to fail open. In-process."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from pip_offline_fallback import answers, bugs, checks, late
from pip_offline_fallback.outcomes import Source
from pip_offline_fallback.sources import Found, LocalSources

URL = "http://index.invalid/files/pipff_alpha-1.0-py3-none-any.whl"


def _request(url: str = URL) -> Any:
    from pip._vendor.requests import Request

    return Request("GET", url).prepare()


def _failing(exc: Exception) -> Any:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return fail


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bugs.RAISE_VARIABLE, raising=False)


@pytest.fixture
def raising(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bugs.RAISE_VARIABLE, "1")


def _internal_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "internal error" in r.getMessage()]


@pytest.mark.parametrize("method", ["lookup", "body"])
def test_a_bug_in_a_local_lookup_is_said(
    method: str,
    quiet: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sources = LocalSources((), ())
    monkeypatch.setattr(sources.wheelhouses, method, _failing(RuntimeError("a bug")))
    with caplog.at_level("WARNING", logger="pip_offline_fallback"):
        if method == "lookup":
            assert sources.lookup(_request(), None) is None
        else:
            assert sources.body(URL) is None
    said = _internal_errors(caplog)
    assert len(said) == 1 and "a bug" in said[0], caplog.records


@pytest.mark.parametrize("method", ["lookup", "body"])
def test_a_bug_in_a_local_lookup_is_raised_under_the_switch(
    method: str, raising: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = LocalSources((), ())
    monkeypatch.setattr(sources.wheelhouses, method, _failing(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        if method == "lookup":
            sources.lookup(_request(), None)
        else:
            sources.body(URL)


@pytest.mark.parametrize("method", ["lookup", "body"])
def test_an_unreadable_local_file_is_no_bug(
    method: str,
    raising: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sources = LocalSources((), ())
    monkeypatch.setattr(sources.wheelhouses, method, _failing(PermissionError(13, "denied")))
    with caplog.at_level("WARNING", logger="pip_offline_fallback"):
        if method == "lookup":
            assert sources.lookup(_request(), None) is None
        else:
            assert sources.body(URL) is None
    assert not _internal_errors(caplog)


class _Raw:
    """A local answer whose body can't be read."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc
        self.headers = {"content-type": "text/html"}

    def read(self, **kwargs: Any) -> bytes:
        raise self.exc

    def release_conn(self) -> None:
        pass


class _Sources:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def lookup(self, request: Any, max_age: float | None) -> Found:
        return Found(_Raw(self.exc), Source.RECORD, 0.0)  # type: ignore[arg-type]


def _mirror_clashes(exc: Exception) -> bool:
    """The mirror check, with a local copy of the page that raises ``exc`` when read."""
    local = answers.LocalAnswers(_Sources(exc), None, answers.Context(), None)  # type: ignore[arg-type]
    page = _request("http://index.invalid/simple/pipff-alpha/")
    mirror = "http://mirror.invalid/simple/pipff-alpha/"
    return checks.mirror_clashes(None, local, page, "index.invalid", None, mirror)  # type: ignore[arg-type]


@pytest.mark.parametrize("exc", [OSError(5, "I/O error"), RuntimeError("a bug")])
def test_an_unreadable_local_page_is_never_taken_for_none(
    exc: Exception, quiet: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The mirror check compares a mirror's page with the local one: a local page that exists
    and can't be read must not look like no local page (that skipped the check, and the
    mirror's page was used unchecked)."""
    with caplog.at_level("WARNING", logger="pip_offline_fallback"):
        assert _mirror_clashes(exc)  # local data answers instead of the unchecked mirror
    assert "can't read the local copy" in caplog.text
    assert bool(_internal_errors(caplog)) is isinstance(exc, RuntimeError)


def test_an_unreadable_local_page_bug_is_raised_under_the_switch(raising: None) -> None:
    with pytest.raises(RuntimeError, match="a bug"):
        _mirror_clashes(RuntimeError("a bug"))


def _late_wait_that_fails_to(step: str) -> tuple[late.Late, threading.Event]:
    """A wait given up on at its deadline that then finishes in the background, where its
    ``step`` ("learn" or "tidy") raises a bug; the event is set once the background is done."""
    waits = late.Late()
    release = threading.Event()
    finished = threading.Event()

    def learn(took: float) -> None:
        if step == "learn":
            raise RuntimeError("a bug in learning")

    def tidy(result: object) -> None:
        finished.set()  # before raising: tidy is the last step the late wait takes
        if step == "tidy":
            raise RuntimeError("a bug in tidying")

    with pytest.raises(TimeoutError):
        waits.within(
            lambda: release.wait(10),
            0.01,
            learn=learn,
            tidy=tidy,
            missed=lambda: TimeoutError("missed"),
        )
    release.set()
    assert finished.wait(10)
    waits.settle(10)  # the late wait is counted off, bug or not
    assert waits.room()
    return waits, finished


@pytest.mark.parametrize("step", ["learn", "tidy"])
def test_a_bug_in_a_late_wait_is_said(
    step: str, quiet: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="pip_offline_fallback"):
        _late_wait_that_fails_to(step)
    said = _internal_errors(caplog)
    assert len(said) == 1 and f"a bug in {step}ing" in said[0], caplog.records


@pytest.mark.parametrize("step", ["learn", "tidy"])
def test_a_bug_in_a_late_wait_is_raised_under_raise_bugs(
    step: str, raising: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    raised: list[BaseException | None] = []
    hooked = threading.Event()

    def hook(args: threading.ExceptHookArgs) -> None:
        raised.append(args.exc_value)
        hooked.set()

    monkeypatch.setattr(threading, "excepthook", hook)
    _late_wait_that_fails_to(step)
    assert hooked.wait(10), "the background thread raised nothing"
    assert [str(e) for e in raised] == [f"a bug in {step}ing"]
