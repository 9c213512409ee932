"""Every import of pip's internals lives here, checked by feature rather than by version.

pip's internals are not an API. pip-ff touches as few of them as it can; :func:`problems` says
which ones a given pip lacks, and pip-ff then steps aside and runs plain pip.
"""

from __future__ import annotations

import copy
import importlib
import logging
import urllib.parse
from typing import Any

from packaging.version import InvalidVersion, Version

logger = logging.getLogger(__name__)

LOWEST_PIP = Version("23.0")
NEXT_UNSUPPORTED_PIP = Version("27")

import pip  # noqa: E402 - after the constants, so a broken pip still leaves them defined

PIP_VERSION_TEXT: str = pip.__version__
try:
    PIP_VERSION: Version | None = Version(PIP_VERSION_TEXT)
except InvalidVersion:
    PIP_VERSION = None

# pip's vendored HTTP stack: pip-ff hooks pip's own session, so it uses pip's own copies.
from pip._vendor import requests  # noqa: E402
from pip._vendor.cachecontrol.controller import CacheController  # noqa: E402
from pip._vendor.cachecontrol.serialize import Serializer  # noqa: E402
from pip._vendor.requests.adapters import HTTPAdapter  # noqa: E402
from pip._vendor.urllib3.exceptions import ConnectTimeoutError, ReadTimeoutError  # noqa: E402
from pip._vendor.urllib3.response import HTTPResponse  # noqa: E402
from pip._vendor.urllib3.util.retry import Retry  # noqa: E402

RequestsRequest = requests.Request
RequestsConnectionError = requests.exceptions.ConnectionError
RequestsTimeout = requests.exceptions.Timeout
RequestsRetryError = requests.exceptions.RetryError
# urllib3's errors of a connection that was never made (its NewConnectionError, behind DNS
# failures, refused and reset connects, is one too), in urllib3 1.26 and 2 alike.
NoConnectionError = ConnectTimeoutError


def _first(*candidates: tuple[str, str]) -> Any:
    """The first of (module, attribute) that exists: feature detection across pip releases."""
    for module_name, attribute in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        value = getattr(module, attribute, None)
        if value is not None:
            return value
    return None


PipSession: Any = _first(("pip._internal.network.session", "PipSession"))
PackageFinder: Any = _first(("pip._internal.index.package_finder", "PackageFinder"))
Command: Any = _first(("pip._internal.cli.base_command", "Command"))
# pip 24.1 moved the session mixin from req_command to index_command.
SessionCommandMixin: Any = _first(
    ("pip._internal.cli.index_command", "SessionCommandMixin"),
    ("pip._internal.cli.req_command", "SessionCommandMixin"),
)
WheelCache: Any = _first(("pip._internal.cache", "WheelCache"))
create_command: Any = _first(("pip._internal.commands", "create_command"))
USER_CACHE_DIR: Any = _first(("pip._internal.locations", "USER_CACHE_DIR"))
Link: Any = _first(("pip._internal.models.link", "Link"))
path_to_url: Any = _first(("pip._internal.utils.urls", "path_to_url"))
url_to_path: Any = _first(("pip._internal.utils.urls", "url_to_path"))
# pip copies file:// links (wheelhouse files) itself, without the session.
prepare: Any = importlib.import_module("pip._internal.operations.prepare")
redact_auth_from_url: Any = _first(("pip._internal.utils.misc", "redact_auth_from_url"))
# requests' own rules: which proxy a URL goes through, and netrc credentials for a URL.
select_proxy: Any = requests.utils.select_proxy
get_netrc_auth: Any = requests.utils.get_netrc_auth


def _pip_default_timeout() -> float:
    """pip's built-in ``--timeout`` (15 s): any other value was chosen by the user (a flag, an
    environment variable or a configuration file), and pip-ff never shortens it."""
    option = _first(("pip._internal.cli.cmdoptions", "timeout"))
    default = getattr(option, "keywords", {}).get("default", 15)
    return float(default)


PIP_DEFAULT_TIMEOUT = _pip_default_timeout()


def _module_with(module_name: str, attribute: str) -> Any:
    """The module, if it can be imported and has ``attribute``; else None."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return module if callable(getattr(module, attribute, None)) else None


# pip's self version check looks pip itself up on the index through this function (pip 23.0 to
# 26.3 at least; looked up by name when the check runs); pip-ff's report leaves those lookups out.
# Optional: on a pip without it, the report simply includes them.
SELF_CHECK_LOOKUP = "_get_current_remote_pip_version"
self_outdated_check: Any = _module_with("pip._internal.self_outdated_check", SELF_CHECK_LOOKUP)

# pip re-runs itself (under --python; build isolation too) as [python, get_runnable_pip(), ...].
# The function lives in build_env (22.3 to 26.1) or utils.misc (26.2+), and main_parser (and on
# 26.2+ build_env.installer) imported it by name: pip-ff wraps every copy it finds.
RUNNABLE_PIP = "get_runnable_pip"
_RUNNABLE_PIP_MODULES = (
    "pip._internal.utils.misc",
    "pip._internal.build_env",
    "pip._internal.build_env.installer",
    "pip._internal.cli.main_parser",
)


def runnable_pip_owners() -> list[Any]:
    """The modules that hold a copy of pip's ``get_runnable_pip``."""
    owners: list[Any] = []
    for name in _RUNNABLE_PIP_MODULES:
        module = _module_with(name, RUNNABLE_PIP)
        if module is not None and module not in owners:
            owners.append(module)
    return owners


_REQUIRED = {
    "PipSession.mount": lambda: PipSession.mount,
    "PackageFinder.find_all_candidates": lambda: PackageFinder.find_all_candidates,
    "PackageFinder.find_best_candidate": lambda: PackageFinder.find_best_candidate,
    "PackageFinder.process_project_url": lambda: PackageFinder.process_project_url,
    "PackageFinder.make_link_evaluator": lambda: PackageFinder.make_link_evaluator,
    "PackageFinder.evaluate_links": lambda: PackageFinder.evaluate_links,
    "SessionCommandMixin._build_session": lambda: SessionCommandMixin._build_session,
    "Command._main": lambda: Command._main,
    "prepare.get_file_url": lambda: prepare.get_file_url,
    "Link": lambda: Link.url_without_fragment,
    "path_to_url": lambda: path_to_url.__call__,
    "redact_auth_from_url": lambda: redact_auth_from_url.__call__,
    "Serializer.loads": lambda: Serializer.loads,
    "CacheController.cache_url": lambda: CacheController.cache_url,
}


def configured_cache_dir(command: Any) -> str | None:
    """pip's cache directory as the user set it, without the command line: ``PIP_CACHE_DIR``,
    pip's configuration files, else pip's default (None: switched off there).

    A tool may pass its own ``--cache-dir`` (pip-compile: ``~/.cache/pip-tools``); pip-ff's
    record stays the user's. The command's parser, asked for its defaults, applies the
    environment and the configuration files exactly as pip's own parsing did.
    """
    try:
        value = command.parser.get_default_values().cache_dir
    except (Exception, SystemExit) as exc:  # pip's parser exits on a bad configuration
        logger.debug("pip-ff: pip's defaults unavailable (%r); using pip's default cache", exc)
        value = USER_CACHE_DIR
    return str(value) if value else None


def problems() -> list[str]:
    """Why pip-ff can't hook this pip (empty when it can)."""
    found = []
    if PIP_VERSION is None or not (LOWEST_PIP <= PIP_VERSION < NEXT_UNSUPPORTED_PIP):
        found.append(f"pip {PIP_VERSION_TEXT} is outside the supported range (23.0 to 26.x)")
    for name, probe in _REQUIRED.items():
        try:
            probe()
        except AttributeError:
            found.append(f"pip {PIP_VERSION_TEXT} has no {name}")
    return found


def wheel_cache_has(cache_dir: str, link: Any, name: str, tags: Any) -> bool:
    """Whether pip's wheel cache holds a wheel built from this (sdist) link for these tags."""
    if WheelCache is None:
        return False
    try:
        cache = WheelCache(cache_dir)
    except TypeError:  # pip < 23.1 also wanted a FormatControl
        cache = WheelCache(cache_dir, None)
    get_cache_entry = getattr(cache, "get_cache_entry", None)
    if get_cache_entry is None:
        return False
    return get_cache_entry(link, name, tags) is not None


def supported_tags(finder: Any) -> Any:
    target = finder.target_python
    getter = getattr(target, "get_sorted_tags", None) or target.get_tags
    return getter()


def remember_credentials(session: Any, url: str, auth: tuple[str, str]) -> None:
    """Tell pip's MultiDomainBasicAuth the credentials of a host it was not configured with."""
    passwords = getattr(getattr(session, "auth", None), "passwords", None)
    if isinstance(passwords, dict):
        passwords.setdefault(urllib.parse.urlsplit(url).netloc, auth)


def redact(url: str) -> str:
    try:
        return str(redact_auth_from_url(url))
    except Exception:
        return "<url>"


def build_response(adapter: Any, request: Any, raw: Any) -> Any:
    """Turn a locally built urllib3 response into the ``requests.Response`` pip expects.

    It bypasses CacheControlAdapter.build_response on purpose: a local answer must not be written
    back into pip's cache as if the index had sent it.
    """
    response = HTTPAdapter.build_response(adapter, request, raw)
    # pip then logs "Using cached ..." as it does for its own cache hits.
    response.from_cache = True  # type: ignore[attr-defined]
    return response


def make_raw_response(body: Any, headers: dict[str, str], request: Any, status: int = 200) -> Any:
    return HTTPResponse(
        body=body,
        headers=headers,
        status=status,
        reason="OK" if status == 200 else None,
        preload_content=False,
        decode_content=False,
        request_method=request.method,
    )


def fast_retries(retries: Any) -> Any:
    """pip's retry policy minus retries of connections that could not be made.

    Used while a local answer exists: a refused, unresolvable or black-holed index, or a proxy
    that can't open a tunnel (urllib3 counts those as "other" errors), then costs one attempt
    instead of pip's six with back-off (7.5 s per page, minutes in a black hole). Everything
    that means the index answered keeps pip's retries: a reset or a read error (``read``) and
    a 5xx (``status``), so a flaky index gives exactly plain pip's result.
    """
    if not isinstance(retries, Retry):
        retries = Retry.from_int(retries)
    retries = copy.copy(retries)
    retries.__class__ = _TunnelAwareRetry  # new() keeps the class: every retry state has it
    return retries.new(connect=0, other=0)


class _TunnelAwareRetry(Retry):
    """pip's Retry, where a proxy that never answers CONNECT counts as a connection that could
    not be made (which it is), not as a read error: urllib3 2 (pip 26's) reports it as a read
    timeout on the proxy's own URL, and would retry it as a read, once per attempt."""

    def _is_connection_error(self, err: Exception) -> bool:
        if isinstance(err, ReadTimeoutError):
            # vars(): other errors have a deprecated ``pool`` property that warns when read.
            proxy = getattr(vars(err).get("pool"), "proxy", None)
            if proxy is not None and getattr(err, "url", None) == getattr(proxy, "url", None):
                return True
        return bool(super()._is_connection_error(err))
