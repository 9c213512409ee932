"""Every touch of pip's internals (and of the urllib3 and http.client internals pip's HTTP stack
exposes) lives in this package, one module per group, each with probes that check the touch
still behaves (not only that a name exists):

- :mod:`.version`: pip's version and the supported range;
- :mod:`.entry`: pip's CLI entry (light: the start-up hook uses it while pip loads);
- :mod:`.options`, :mod:`.commands`: pip's options and the session a command builds; the hooks
  around a command (its end, wheelhouse files, the self check);
- :mod:`.transport`: pip's session, vendored requests and urllib3, retries;
- :mod:`.body`: the raw body stream urllib3 reads, where pip-ff taps it;
- :mod:`.links`, :mod:`.finder`: pip's links, file URLs and redaction; its finder and memo;
- :mod:`.cache`: pip's HTTP and wheel caches; :mod:`.agent`, :mod:`.deferred`: a serve's start.

pip's internals are not an API. :func:`problems` runs every probe once per process and says
which touches this pip breaks; pip-ff then warns once and runs plain pip.

Names are loaded on first use (``compat.NAME``), so that importing this package (the start-up
hook does, once pip's CLI loads) imports nothing of pip.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pip._vendor import requests as requests
    from pip._vendor.cachecontrol.controller import CacheController as CacheController
    from pip._vendor.cachecontrol.serialize import Serializer as Serializer
    from pip._vendor.requests.adapters import HTTPAdapter as HTTPAdapter
    from pip._vendor.urllib3.exceptions import ConnectTimeoutError as ConnectTimeoutError
    from pip._vendor.urllib3.exceptions import ReadTimeoutError as ReadTimeoutError
    from pip._vendor.urllib3.response import HTTPResponse as HTTPResponse
    from pip._vendor.urllib3.util.retry import Retry as Retry

    from pip_offline_fallback.compat.body import READ_METHODS as READ_METHODS
    from pip_offline_fallback.compat.body import IncompleteRead as IncompleteRead
    from pip_offline_fallback.compat.body import body_stream as body_stream
    from pip_offline_fallback.compat.body import replace_body_stream as replace_body_stream
    from pip_offline_fallback.compat.body import safe_read as safe_read
    from pip_offline_fallback.compat.cache import HTTP_CACHE_LAYOUTS as HTTP_CACHE_LAYOUTS
    from pip_offline_fallback.compat.cache import BuiltWheels as BuiltWheels
    from pip_offline_fallback.compat.cache import http_cache_path as http_cache_path
    from pip_offline_fallback.compat.cache import load_http_cache_entry as load_http_cache_entry
    from pip_offline_fallback.compat.commands import SELF_CHECK_LOOKUP as SELF_CHECK_LOOKUP
    from pip_offline_fallback.compat.commands import prepare as prepare
    from pip_offline_fallback.compat.commands import self_outdated_check as self_outdated_check
    from pip_offline_fallback.compat.entry import CLI_MAIN as CLI_MAIN
    from pip_offline_fallback.compat.entry import PARSE_COMMAND as PARSE_COMMAND
    from pip_offline_fallback.compat.entry import RERUN_MARKER as RERUN_MARKER
    from pip_offline_fallback.compat.entry import RUNNABLE_PIP as RUNNABLE_PIP
    from pip_offline_fallback.compat.entry import create_command_owners as create_command_owners
    from pip_offline_fallback.compat.entry import imported_cli_modules as imported_cli_modules
    from pip_offline_fallback.compat.entry import loaded_cli_modules as loaded_cli_modules
    from pip_offline_fallback.compat.entry import parse_command_owners as parse_command_owners
    from pip_offline_fallback.compat.entry import pip_main as pip_main
    from pip_offline_fallback.compat.entry import runnable_pip_owners as runnable_pip_owners
    from pip_offline_fallback.compat.entry import zipped_pip as zipped_pip
    from pip_offline_fallback.compat.finder import METADATA_CHECK as METADATA_CHECK
    from pip_offline_fallback.compat.finder import CandidateFromLink as CandidateFromLink
    from pip_offline_fallback.compat.finder import PackageFinder as PackageFinder
    from pip_offline_fallback.compat.finder import candidate_url as candidate_url
    from pip_offline_fallback.compat.finder import forget_candidates as forget_candidates
    from pip_offline_fallback.compat.finder import format_option as format_option
    from pip_offline_fallback.compat.finder import supported_tags as supported_tags
    from pip_offline_fallback.compat.finder import watch_platform_skips as watch_platform_skips
    from pip_offline_fallback.compat.finder import (
        without_format_control as without_format_control,
    )
    from pip_offline_fallback.compat.links import Link as Link
    from pip_offline_fallback.compat.links import link_sha256 as link_sha256
    from pip_offline_fallback.compat.links import path_to_url as path_to_url
    from pip_offline_fallback.compat.links import redact as redact
    from pip_offline_fallback.compat.links import redact_auth_from_url as redact_auth_from_url
    from pip_offline_fallback.compat.links import url_to_path as url_to_path
    from pip_offline_fallback.compat.options import PIP_DEFAULT_TIMEOUT as PIP_DEFAULT_TIMEOUT
    from pip_offline_fallback.compat.options import USER_CACHE_DIR as USER_CACHE_DIR
    from pip_offline_fallback.compat.options import Command as Command
    from pip_offline_fallback.compat.options import SessionCommandMixin as SessionCommandMixin
    from pip_offline_fallback.compat.options import build_session as build_session
    from pip_offline_fallback.compat.options import configured_cache_dir as configured_cache_dir
    from pip_offline_fallback.compat.options import create_command as create_command
    from pip_offline_fallback.compat.options import session_command as session_command
    from pip_offline_fallback.compat.transport import CONNECTION_CLASSES as CONNECTION_CLASSES
    from pip_offline_fallback.compat.transport import RESPONSE_OWNER as RESPONSE_OWNER
    from pip_offline_fallback.compat.transport import FirstByteTimeout as FirstByteTimeout
    from pip_offline_fallback.compat.transport import NoConnectionError as NoConnectionError
    from pip_offline_fallback.compat.transport import PipSession as PipSession
    from pip_offline_fallback.compat.transport import (
        RequestsConnectionError as RequestsConnectionError,
    )
    from pip_offline_fallback.compat.transport import RequestsRequest as RequestsRequest
    from pip_offline_fallback.compat.transport import RequestsRetryError as RequestsRetryError
    from pip_offline_fallback.compat.transport import RequestsTimeout as RequestsTimeout
    from pip_offline_fallback.compat.transport import build_response as build_response
    from pip_offline_fallback.compat.transport import connect_timed_out as connect_timed_out
    from pip_offline_fallback.compat.transport import credential_scope as credential_scope
    from pip_offline_fallback.compat.transport import fast_retries as fast_retries
    from pip_offline_fallback.compat.transport import get_netrc_auth as get_netrc_auth
    from pip_offline_fallback.compat.transport import (
        keyring_without_prompts as keyring_without_prompts,
    )
    from pip_offline_fallback.compat.transport import make_raw_response as make_raw_response
    from pip_offline_fallback.compat.transport import (
        remember_credentials as remember_credentials,
    )
    from pip_offline_fallback.compat.transport import select_proxy as select_proxy
    from pip_offline_fallback.compat.version import LOWEST_PIP as LOWEST_PIP
    from pip_offline_fallback.compat.version import NEXT_UNSUPPORTED_PIP as NEXT_UNSUPPORTED_PIP
    from pip_offline_fallback.compat.version import PIP_VERSION as PIP_VERSION
    from pip_offline_fallback.compat.version import PIP_VERSION_TEXT as PIP_VERSION_TEXT

logger = logging.getLogger(__name__)

# What a serve uses (pip's session and what the engine reads of pip): not pip's commands, finder
# or resolver, whose imports slow a new serve's start (see inject.inject_session).
SESSION_MODULES = ("version", "options", "transport", "body", "links", "cache")
# The probes run in this order: the version first (its message is the clearest), then a
# serve's, then the rest of a pip command's.
MODULES = (*SESSION_MODULES, "entry", "commands", "finder")

# Where each name lives; mirrors the imports above (a test keeps the two equal).
_HOMES = {
    "version": ("LOWEST_PIP", "NEXT_UNSUPPORTED_PIP", "PIP_VERSION", "PIP_VERSION_TEXT"),
    "entry": (
        "CLI_MAIN",
        "PARSE_COMMAND",
        "RERUN_MARKER",
        "create_command_owners",
        "imported_cli_modules",
        "loaded_cli_modules",
        "parse_command_owners",
        "pip_main",
        "RUNNABLE_PIP",
        "runnable_pip_owners",
        "zipped_pip",
    ),
    "options": (
        "Command",
        "PIP_DEFAULT_TIMEOUT",
        "SessionCommandMixin",
        "USER_CACHE_DIR",
        "build_session",
        "configured_cache_dir",
        "create_command",
        "session_command",
    ),
    "commands": ("SELF_CHECK_LOOKUP", "prepare", "self_outdated_check"),
    "transport": (
        "CONNECTION_CLASSES",
        "ConnectTimeoutError",
        "FirstByteTimeout",
        "HTTPAdapter",
        "HTTPResponse",
        "NoConnectionError",
        "PipSession",
        "RESPONSE_OWNER",
        "ReadTimeoutError",
        "RequestsConnectionError",
        "RequestsRequest",
        "RequestsRetryError",
        "RequestsTimeout",
        "Retry",
        "build_response",
        "connect_timed_out",
        "credential_scope",
        "fast_retries",
        "get_netrc_auth",
        "keyring_without_prompts",
        "make_raw_response",
        "remember_credentials",
        "requests",
        "select_proxy",
    ),
    "body": ("IncompleteRead", "READ_METHODS", "body_stream", "replace_body_stream", "safe_read"),
    "links": (
        "Link",
        "link_sha256",
        "path_to_url",
        "redact",
        "redact_auth_from_url",
        "url_to_path",
    ),
    "finder": (
        "METADATA_CHECK",
        "CandidateFromLink",
        "PackageFinder",
        "forget_candidates",
        "format_option",
        "candidate_url",
        "supported_tags",
        "watch_platform_skips",
        "without_format_control",
    ),
    "cache": (
        "BuiltWheels",
        "CacheController",
        "HTTP_CACHE_LAYOUTS",
        "Serializer",
        "http_cache_path",
        "load_http_cache_entry",
    ),
}
HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once: later lookups don't come here
    return value


_found: dict[str, list[str]] = {}  # module -> its probes' failures


def problems(modules: tuple[str, ...] = MODULES) -> list[str]:
    """Why pip-ff can't hook this pip (empty when it can): every probe's failure, in order.
    The probes of each module run once per process, before pip-ff patches anything; a pip
    command imports every module (nothing of pip-ff's is imported late: pip 26.3 blocks it)."""
    version = "?"
    found: list[str] = []
    for name in modules:
        if name not in _found:
            _found[name] = _probe(name, version)
        found += _found[name]
        version = getattr(sys.modules.get(f"{__name__}.{name}"), "PIP_VERSION_TEXT", version)
    return found


def _probe(name: str, version: str) -> list[str]:
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except Exception as exc:
        return [f"pip {version} can't be hooked ({type(exc).__name__}: {exc})"]
    version = getattr(module, "PIP_VERSION_TEXT", version)
    found: list[str] = []
    for what, probe in module.PROBES.items():
        try:
            probe()
        except Exception as exc:
            logger.debug("pip-ff: probe of %s failed", what, exc_info=True)
            text = str(exc) or type(exc).__name__
            found.append(text if text.startswith("pip ") else f"pip {version}: {what}: {text}")
    return found
