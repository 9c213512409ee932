"""pip-ff's settings: the mode and the ``PIPFF_*`` variables, resolved once per process.

Flags given to ``pip-ff`` win over variables; :func:`child_variables` says what the processes pip
starts (build isolation) must inherit to run the same way (:mod:`.childenv` hands it to them).
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pip_offline_fallback.errors import UsageError

logger = logging.getLogger(__name__)

MODE_VARIABLE = "PIPFF"
WHEELHOUSE_VARIABLE = "PIPFF_WHEELHOUSE"
CONNECT_TIMEOUT_VARIABLE = "PIPFF_CONNECT_TIMEOUT"
STORE_VARIABLE = "PIPFF_STORE"
REPORT_VARIABLE = "PIPFF_REPORT"
FALLBACK_INDEX_VARIABLE = "PIPFF_FALLBACK_INDEX_URL"
MAX_STALE_VARIABLE = "PIPFF_MAX_STALE"
STRICT_VARIABLE = "PIPFF_STRICT_OUTAGE"
# Internal: what a parent pip-ff run learnt, handed to the pip it starts for build isolation.
UNREACHABLE_VARIABLE = "_PIPFF_UNREACHABLE"
PIP_CACHES_VARIABLE = "_PIPFF_PIP_CACHES"

DEFAULT_CONNECT_TIMEOUT = 2.0


class Mode(str, enum.Enum):
    """How pip-ff treats the network."""

    AUTO = "auto"  # online as pip; local sources only when the index can't be reached
    PREFER_OFFLINE = "prefer-offline"  # local index data first; the network for what is missing
    OFFLINE = "offline"  # never open a connection
    OFF = "off"  # exactly plain pip


_MODE_WORDS: dict[str, Mode] = {
    "1": Mode.AUTO,
    "true": Mode.AUTO,
    "yes": Mode.AUTO,
    "on": Mode.AUTO,
    "auto": Mode.AUTO,
    "prefer-offline": Mode.PREFER_OFFLINE,
    "offline": Mode.OFFLINE,
    "0": Mode.OFF,
    "false": Mode.OFF,
    "no": Mode.OFF,
    "off": Mode.OFF,
}


def parse_mode(value: str) -> Mode | None:
    """The mode a ``PIPFF`` value names, or None when it names none."""
    return _MODE_WORDS.get(value.strip().lower())


@dataclass(frozen=True)
class Settings:
    mode: Mode = Mode.AUTO
    wheelhouses: tuple[str, ...] = ()
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    store: str | None = None  # None: "pip-ff" inside pip's cache directory
    report: str | None = None  # where to write the JSON report
    max_stale: float | None = None  # seconds; older local index data is refused
    # Only a route that can't be reached is an outage (DNS, refused, no route, connect
    # timeout); 5xx, 429, read timeouts and failed TLS verification fail as in pip.
    strict: bool = False
    # Mirrors asked, in order, while the primary index is unreachable, before local sources.
    fallback_index_urls: tuple[str, ...] = ()
    # Hosts a parent run already found unreachable, with the cause ("host:port" -> cause).
    unreachable: Mapping[str, str] = field(default_factory=dict)
    # pip HTTP cache directories of a parent run, read as extra fallback sources.
    pip_caches: tuple[str, ...] = ()


def expand_path(value: str) -> str:
    """A path from a variable or an option, as a shell would have expanded it: ``~`` and
    ``$VARS`` (a value set in a tox or CI configuration file reaches pip-ff unexpanded)."""
    return os.path.abspath(os.path.expanduser(os.path.expandvars(value)))


def _split_paths(value: str) -> tuple[str, ...]:
    return tuple(expand_path(p) for p in value.split(os.pathsep) if p.strip())


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration_seconds(value: str, what: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``12h``, ``7d`` or ``2w``."""
    text = value.strip().lower()
    factor = 1
    if text and text[-1] in _UNITS:
        factor = _UNITS[text[-1]]
        text = text[:-1]
    try:
        seconds = float(text) * factor
    except ValueError:
        raise UsageError(
            f"{what} must be a duration such as 30, 90s, 15m, 12h or 7d, not {value!r}"
        ) from None
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise UsageError(f"{what} must be more than 0 seconds, not {value!r}")
    return seconds


def _warn(message: str, *args: object) -> None:
    """A warning about the variables, in pip's form (``WARNING: ...``) even when it comes before
    pip has set up its logging: plain pip's start-up hook reads them while pip creates its
    command, and Python's last-resort handler would print the bare message."""
    if logger.hasHandlers():
        logger.warning(message, *args)
        return
    handler = logging.StreamHandler()  # stderr, as pip's warnings
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(handler)
    try:
        logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)


def _wheelhouses(value: str) -> tuple[str, ...]:
    """The directories ``PIPFF_WHEELHOUSE`` names. It is set once for many runs and may name a
    mount that is away: that one is left out, in one line (``--wheelhouse`` is an error
    instead), and a child pip, which inherits only the ones kept, does not say it again."""
    kept = []
    for path in _split_paths(value):
        if os.path.isdir(path):
            kept.append(path)
        else:
            _warn("pip-ff: %s names %s, which is no directory; not used", WHEELHOUSE_VARIABLE, path)
    return tuple(kept)


def settings_from_environ(environ: Mapping[str, str], *, default: Mode | None) -> Settings | None:
    """Read the settings from ``PIPFF`` and ``PIPFF_*``.

    Returns None when pip-ff must stay out of the way: the variable is unset and there is no
    default (plain pip), or it is the kill switch, or its value is not a mode (one warning).
    Raises UsageError for a ``PIPFF_MAX_STALE`` that is no duration.
    """
    raw = environ.get(MODE_VARIABLE)
    if raw is None or not raw.strip():
        if default is None:
            return None
        mode = default
    else:
        parsed = parse_mode(raw)
        if parsed is None:
            _warn(
                "pip-ff: ignoring %s=%r (expected auto, prefer-offline, offline or off); "
                "running plain pip",
                MODE_VARIABLE,
                raw,
            )
            return None
        mode = parsed
    if mode is Mode.OFF:
        return None
    connect_timeout = DEFAULT_CONNECT_TIMEOUT
    if environ.get(CONNECT_TIMEOUT_VARIABLE):
        try:
            connect_timeout = parse_duration_seconds(
                environ[CONNECT_TIMEOUT_VARIABLE], CONNECT_TIMEOUT_VARIABLE
            )
        except UsageError as exc:
            _warn("pip-ff: %s; using %s s", exc, DEFAULT_CONNECT_TIMEOUT)
    max_stale = None
    if environ.get(MAX_STALE_VARIABLE):
        # An error, as --max-stale's is: a freshness limit that can't be read must not fail
        # open (no limit at all).
        max_stale = parse_duration_seconds(environ[MAX_STALE_VARIABLE], MAX_STALE_VARIABLE)
    strict = parse_switch(environ.get(STRICT_VARIABLE, ""), STRICT_VARIABLE)
    unreachable: dict[str, str] = {}
    for item in environ.get(UNREACHABLE_VARIABLE, "").split("\n"):
        host, _, cause = item.partition(" ")
        if host:
            unreachable[host] = cause or "unreachable"
    return Settings(
        mode=mode,
        wheelhouses=_wheelhouses(environ.get(WHEELHOUSE_VARIABLE, "")),
        connect_timeout=connect_timeout,
        store=expand_path(environ[STORE_VARIABLE]) if environ.get(STORE_VARIABLE) else None,
        report=expand_path(environ[REPORT_VARIABLE]) if environ.get(REPORT_VARIABLE) else None,
        max_stale=max_stale,
        strict=strict,
        fallback_index_urls=tuple(environ.get(FALLBACK_INDEX_VARIABLE, "").split()),
        unreachable=unreachable,
        pip_caches=_split_paths(environ.get(PIP_CACHES_VARIABLE, "")),
    )


_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"", "0", "false", "no", "off"})


def parse_switch(value: str, variable: str) -> bool:
    """An on/off variable. A value that is neither turns the setting on: the strict setting
    is a security one, so a typo must not switch it off (said once)."""
    text = value.strip().lower()
    if text in _ON:
        return True
    if text not in _OFF:
        logger.warning("pip-ff: %s=%r is not 1 or 0; taking it as 1", variable, value)
        return True
    return False


def without_credentials(value: str) -> str:
    """A URL (or ``PRIMARY=MIRROR``, or whatever a user typed) without any ``user:password@``:
    :func:`.urls.without_credentials` on each side of every ``=``."""
    # Imported here: urls loads pip's vendored packaging, which the tox and nox plugins that
    # import this module never need.
    from pip_offline_fallback.urls import without_credentials as strip

    return "=".join(strip(part) for part in value.split("="))


def child_variables(settings: Settings) -> dict[str, str | None]:
    """The variables that make a child pip run the same way (None: unset in the child).

    Written by :mod:`.childenv`, the one module that changes the environment.
    """
    variables: dict[str, str | None] = {
        MODE_VARIABLE: settings.mode.value,
        CONNECT_TIMEOUT_VARIABLE: repr(settings.connect_timeout),
        # Not the report: it describes this run; a child pip (build isolation) must not
        # overwrite it.
        REPORT_VARIABLE: None,
        # The directories kept (None: none): not one the parent already said is away.
        WHEELHOUSE_VARIABLE: os.pathsep.join(settings.wheelhouses) or None,
    }
    if settings.store:
        variables[STORE_VARIABLE] = settings.store
    if settings.strict:
        variables[STRICT_VARIABLE] = "1"
    if settings.max_stale is not None:
        variables[MAX_STALE_VARIABLE] = repr(settings.max_stale)
    if settings.fallback_index_urls:
        # Without their credentials: every process the child pip starts (a build backend, say)
        # would read them. A child asks a mirror that needs them with netrc's, or not at all.
        variables[FALLBACK_INDEX_VARIABLE] = " ".join(
            without_credentials(u) for u in settings.fallback_index_urls
        )
    return variables
