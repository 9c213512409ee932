"""Install pip-ff into the running pip, and take it out again (every patch is undoable).

Each patch says why pip needs it. Nothing here runs at import time; :func:`inject` imports
every module pip-ff will need before pip starts installing, since pip 26.3 blocks imports once
installation has started. :func:`inject_session` hooks only pip's session (serve's needs).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from pip_offline_fallback import (
    adapter,
    cachenote,
    childenv,
    compat,
    finder,
    interpreter,
    logroute,
    programend,
    reach,
)
from pip_offline_fallback.config import Settings, settings_from_environ
from pip_offline_fallback.deadline import timeout_on_command_line
from pip_offline_fallback.engine import Engine
from pip_offline_fallback.errors import UsageError
from pip_offline_fallback.late import connect_within, first_byte, settle
from pip_offline_fallback.running import activate, active_engine, deactivate

if TYPE_CHECKING:
    from http.client import HTTPConnection, HTTPResponse
    from optparse import Values

    from pip._internal.cli.base_command import Command
    from pip._internal.models.link import Link
    from pip._internal.network.session import PipSession
    from pip._internal.operations.prepare import File
    from pip._internal.resolution.resolvelib.candidates import LinkCandidate
    from pip._vendor.requests.adapters import BaseAdapter

logger = logging.getLogger(__name__)

_MISSING = object()
# pip commands that only report what the index data lists; they install nothing.
LISTING_COMMANDS = frozenset({"list", "index"})
_patches: list[tuple[object, str, object]] = []
# What is hooked: "session" (pip's session, all serve needs), "commands" (the rest).
_hooked: set[str] = set()
_warned = False
# Set by the PIPFF hook (not pip-ff's own commands): a session built outside any pip command is
# then a program driving pip's internals itself (pip-compile), and the summary waits for its end.
_hooked_from_environ = False


def _patch(owner: object, name: str, make: Callable[[Any], Callable[..., Any]]) -> None:
    own = owner.__dict__.get(name, _MISSING)  # PipSession inherits mount() from requests
    original = getattr(owner, name)
    replacement = make(original)
    functools.update_wrapper(replacement, original)
    setattr(owner, name, replacement)
    _patches.append((owner, name, own))


_Mount = Callable[["PipSession", str, "BaseAdapter"], None]


def _wrap_mount(original: _Mount) -> _Mount:
    # Every adapter pip mounts (https, http, trusted hosts) passes here, including the ones
    # PipSession.__init__ mounts: swapping the class keeps pip's TLS, cache and retry settings.
    def mount(self: PipSession, prefix: str, transport: BaseAdapter) -> None:
        return original(self, prefix, adapter.wrap(transport, self))

    return mount


_BuildSession = Callable[..., "PipSession"]


def _wrap_build_session(original: _BuildSession) -> _BuildSession:
    # The command's options say where pip's cache is; the session is built right after.
    def _build_session(self: Command, options: Values, *args: Any, **kwargs: Any) -> PipSession:
        engine = active_engine()
        if engine is not None:
            try:
                index_urls: list[str] = []
                if not getattr(options, "no_index", False):
                    primary = getattr(options, "index_url", None)
                    index_urls = [primary] if primary else []
                    index_urls += list(getattr(options, "extra_index_urls", None) or [])
                cache_dir = getattr(options, "cache_dir", None) or None
                engine.configure(
                    cache_dir,
                    index_urls,
                    # The record is the user's, whatever --cache-dir a tool passes;
                    # --no-cache-dir (cache_dir None) still means no record.
                    record_cache_dir=cache_dir and compat.configured_cache_dir(self),
                )
            except Exception as exc:
                logger.warning("pip-ff: could not read pip's options (%r); no record this run", exc)
            if _hooked_from_environ and not engine.commands_running:
                programend.finish_when_the_program_ends()
        return original(self, options, *args, **kwargs)

    return _build_session


_CommandMain = Callable[["Command", "list[str]"], int]


def _wrap_command_main(original: _CommandMain) -> _CommandMain:
    # The end of the command, with pip's logging still set up: the place for the summary.
    def _main(self: Command, args: list[str]) -> int:
        engine = active_engine()
        if engine is not None:
            engine.listing_only = getattr(self, "name", "") in LISTING_COMMANDS
            engine.timeout_chosen = timeout_on_command_line(args)
            engine.commands_running += 1
        try:
            status: int = original(self, args)
        finally:
            if engine is not None:
                engine.commands_running -= 1
        engine = active_engine()
        if engine is not None:
            try:
                engine.share_recorded()
            except Exception as exc:
                logger.warning("pip-ff: sharing files with pip's cache failed: %r", exc)
            settle()  # what a connect given up on taught is kept too
            engine.connect_times.save()
            try:
                engine.report.finish(status)
            except Exception as exc:
                logger.warning("pip-ff: report failed: %r", exc)
            if getattr(self, "name", "") == "cache" and cachenote.asks_about_the_cache(args):
                try:
                    cachenote.tell(_record_root(self, engine))
                except OSError as exc:  # a line of information: never the command's failure
                    logger.debug("pip-ff: could not size the record: %r", exc)
        return status

    return _main


def _record_root(command: Command, engine: Engine) -> str | None:
    """Where this command's record is (or would be): as an install's _build_session places it."""
    if engine.store is not None:
        return engine.store.root
    configured = compat.configured_cache_dir(command)
    return os.path.join(configured, "pip-ff") if configured else None


_connecting = threading.local()


def _wrap_connect(original: Callable[..., object]) -> Callable[..., object]:
    # The connect deadline follows each route's usual connect time (see deadline.py): time
    # every connection urllib3 makes (TCP, a proxy's tunnel, the TLS handshake: what its
    # connect timeout bounds).
    def connect(self: HTTPConnection, *args: Any, **kwargs: Any) -> object:
        engine = active_engine()
        if engine is None or getattr(_connecting, "active", False):
            return original(self, *args, **kwargs)
        _connecting.active = True
        started = time.monotonic()
        patience = engine.context.patience  # this thread's request's connect deadline
        try:
            if patience is None:
                result = original(self, *args, **kwargs)
            else:
                # A connect that misses its deadline is learnt from all the same (late.py).
                hop, bound = patience
                times = engine.connect_times
                result = connect_within(
                    self,
                    functools.partial(original, self, *args, **kwargs),
                    bound,
                    learn=lambda seconds: times.seen(hop, seconds),
                    missed=functools.partial(compat.connect_timed_out, self),
                )
        finally:
            _connecting.active = False
        engine.connected(time.monotonic() - started)
        return result

    return connect


def _wrap_getresponse(original: Callable[..., HTTPResponse]) -> Callable[..., HTTPResponse]:
    # The first byte of an answer gets a deadline as the connect does (see late.py): a server
    # or a proxy that accepts and never says a word costs seconds, not pip's read retries.
    # Every answer's first byte is timed, so a route that always answers slowly is learnt.
    def getresponse(self: HTTPConnection, *args: Any, **kwargs: Any) -> HTTPResponse:
        engine = active_engine()
        wait = engine.context.answer if engine is not None else None  # its first byte's
        if engine is None or wait is None or args or kwargs:  # pip 23's urllib3 tries buffering=
            return original(self, *args, **kwargs)
        route, deadline = wait
        times = engine.connect_times
        started = time.monotonic()
        if deadline is None:
            response = original(self)
        else:
            response = first_byte(
                functools.partial(original, self),
                deadline,
                learn=lambda seconds: times.seen(route, seconds),
                missed=lambda: compat.FirstByteTimeout(f"no answer within {deadline:.1f} s"),
                sock=getattr(self, "sock", None),
            )
        times.seen(route, time.monotonic() - started)
        return response

    return getresponse


def _wrap_metadata_check(original: Callable[..., None]) -> Callable[..., None]:
    # pip discards a file whose metadata contradicts its name (a wheelhouse file named for
    # another version): it was received, but it is not what gets installed, so the report
    # must not count it.
    def check(self: LinkCandidate, *args: Any, **kwargs: Any) -> None:
        try:
            return original(self, *args, **kwargs)
        except Exception:
            engine = active_engine()
            url = compat.candidate_url(self)
            if engine is not None and url:
                engine.report.file_discarded(url)
            raise

    return check


def _wrap_get_file_url(original: Callable[..., File]) -> Callable[..., File]:
    # pip copies file:// links itself, past the session: the one place to see a wheelhouse
    # file being used, for the report.
    def get_file_url(link: Link, *args: Any, **kwargs: Any) -> File:
        result = original(link, *args, **kwargs)
        engine = active_engine()
        if engine is not None:
            try:
                engine.local_file_served(link.url)
            except Exception as exc:
                logger.warning("pip-ff: report failed: %r", exc)
        return result

    return get_file_url


def _wrap_remote_pip_version(original: Callable[..., str | None]) -> Callable[..., str | None]:
    # pip's self version check looks pip itself up on the index: not the command's lookup, so
    # the report leaves it out (no "pip: index data ..." line, no "missing": pip).
    def lookup(*args: Any, **kwargs: Any) -> str | None:
        engine = active_engine()
        if engine is None:
            return original(*args, **kwargs)
        with engine.report.ignoring():
            return original(*args, **kwargs)

    return lookup


def inject(settings: Settings) -> bool:
    """Hook pip; False (after one warning) when this pip can't be hooked: plain pip runs."""
    return _inject(settings, compat.MODULES, commands=True)


def inject_session(settings: Settings) -> bool:
    """Hook pip's session only (its adapters and connections, and the session a command
    builds): what serve uses. pip's commands, finder and resolver are neither hooked nor
    imported (a tenth of a new serve's start, docs/benchmarks.md); :func:`inject` adds them."""
    return _inject(settings, compat.SESSION_MODULES, commands=False)


def _inject(settings: Settings, modules: tuple[str, ...], *, commands: bool) -> bool:
    global _warned
    wanted = {"session", "commands"} if commands else {"session"}
    if wanted <= _hooked:
        activate(settings)
        return True
    found = compat.problems(modules)
    if found:
        if not _warned:
            _warned = True
            logger.warning("pip-ff: %s; running plain pip without fallback", found[0])
        return False
    activate(settings)
    if not _hooked:
        logroute.attach()
    try:
        if "session" not in _hooked:
            _hook_session()
            _hooked.add("session")
        if commands and "commands" not in _hooked:
            _hook_commands()
            _hooked.add("commands")
    except Exception as exc:
        extract()
        logger.warning("pip-ff: could not hook pip (%r); running plain pip", exc)
        return False
    return True


def _hook_session() -> None:
    _patch(compat.PipSession, "mount", _wrap_mount)
    _patch(compat.SessionCommandMixin, "_build_session", _wrap_build_session)
    for connection_class in compat.CONNECTION_CLASSES:
        _patch(connection_class, "connect", _wrap_connect)
    _patch(compat.RESPONSE_OWNER, "getresponse", _wrap_getresponse)


def _hook_commands() -> None:
    _patch(compat.Command, "_main", _wrap_command_main)
    _patch(compat.prepare, "get_file_url", _wrap_get_file_url)
    _patch(compat.CandidateFromLink, compat.METADATA_CHECK, _wrap_metadata_check)
    # Imported here, with the engine already active: with PIPFF set, the start-up hook
    # waits for this import too, and must find pip-ff in place.
    interpreter.guard_cli()
    _patch(compat.PackageFinder, "process_project_url", finder.wrap_process_project_url)
    _patch(compat.PackageFinder, "find_all_candidates", finder.wrap_find_all_candidates)
    _patch(compat.PackageFinder, "find_best_candidate", finder.wrap_find_best_candidate)
    if compat.self_outdated_check is not None:
        _patch(compat.self_outdated_check, compat.SELF_CHECK_LOOKUP, _wrap_remote_pip_version)
    if reach.carried:
        # This interpreter has no pip-ff of its own (pip-ff came with pip's --python): the
        # pip that build isolation starts here must be carried too.
        reach.carry()


def extract() -> None:
    """Undo every patch, newest first; adapters already swapped then pass straight through."""
    reach.uncarry()
    interpreter.unguard_cli()
    _hooked.clear()
    while _patches:
        owner, name, original = _patches.pop()
        if original is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    deactivate()
    logroute.detach()
    childenv.restore()


def inject_from_environ() -> bool:
    """The ``PIPFF`` hook for plain pip: settings from the environment only.

    When pip-ff's own command line already injected (with its flags), that stays.
    """
    global _hooked_from_environ
    if active_engine() is not None:
        return True
    try:
        settings = settings_from_environ(os.environ, default=None)
    except UsageError as exc:  # no fallback rather than one without the limit asked for
        logger.warning("pip-ff: %s; running plain pip without fallback", exc)
        return False
    if settings is None:
        return False
    _hooked_from_environ = inject(settings)
    return _hooked_from_environ
