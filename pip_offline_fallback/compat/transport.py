"""pip's HTTP stack: its session, its vendored requests and urllib3, and its retry policy.

pip-ff hooks pip's own session, so it uses pip's own copies of requests and urllib3.
"""

from __future__ import annotations

import copy
import io
import socket
import urllib.parse
from typing import Any

from pip._vendor import requests
from pip._vendor.requests.adapters import HTTPAdapter
from pip._vendor.urllib3.connection import HTTPConnection, HTTPSConnection
from pip._vendor.urllib3.connectionpool import HTTPConnectionPool
from pip._vendor.urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ReadTimeoutError,
)
from pip._vendor.urllib3.response import HTTPResponse
from pip._vendor.urllib3.util.retry import Retry

from pip_offline_fallback.compat.probing import Probe, expect, first, names_used

PipSession: Any = first(("pip._internal.network.session", "PipSession"))
_MultiDomainBasicAuth: Any = first(("pip._internal.network.auth", "MultiDomainBasicAuth"))
_split_auth_netloc_from_url: Any = first(("pip._internal.utils.misc", "split_auth_netloc_from_url"))

RequestsRequest = requests.Request
RequestsConnectionError = requests.exceptions.ConnectionError
RequestsTimeout = requests.exceptions.Timeout
RequestsRetryError = requests.exceptions.RetryError
# urllib3's errors of a connection that was never made (its NewConnectionError, behind DNS
# failures, refused and reset connects, is one too), in urllib3 1.26 and 2 alike.
NoConnectionError = ConnectTimeoutError
# urllib3's connections: their connect() (TCP, a proxy's tunnel, the TLS handshake) is what
# the connect timeout bounds, and what pip-ff times (see deadline.py).
CONNECTION_CLASSES = (HTTPConnection, HTTPSConnection)
# The connection class whose getresponse() waits for an answer's first byte (HTTPS inherits it).
RESPONSE_OWNER = HTTPConnection
# requests' own rules: which proxy a URL goes through, and netrc credentials for a URL.
select_proxy: Any = requests.utils.select_proxy
get_netrc_auth: Any = requests.utils.get_netrc_auth


class FirstByteTimeout(socket.timeout):
    """No first byte of an answer within pip-ff's deadline (see late.py). urllib3 reports it as
    a read timeout; the fast retry policy does not retry it (a server that accepts and never
    says a word would otherwise cost pip's whole read-retry policy first)."""


def connect_timed_out(connection: Any, seconds: float) -> Exception:
    """The error urllib3 raises for a connect not made within ``seconds``."""
    host = getattr(connection, "host", "?")
    return ConnectTimeoutError(
        connection, f"Connection to {host} timed out. (connect timeout={seconds})"
    )


def remember_credentials(session: Any, url: str, auth: tuple[str, str]) -> None:
    """Tell pip's MultiDomainBasicAuth the credentials of a host it was not configured with."""
    passwords = getattr(getattr(session, "auth", None), "passwords", None)
    if isinstance(passwords, dict):
        passwords.setdefault(urllib.parse.urlsplit(url).netloc, auth)


def credential_scope(session: Any, url: str) -> tuple[object, ...] | None:
    """What decides the Authorization header ``session`` (pip's) puts on a request for ``url``:
    two URLs with the same scope get the same header while the netrc file is unchanged. pip's
    MultiDomainBasicAuth reads, for the URL requests prepared: its credentials, those of the
    index URL it matches (the longest common path on its host; in pip 23.0 a prefix), netrc's
    by host, those it keeps per host (``passwords``); keyring only after a 401. None: another
    auth. Raises requests' errors for a URL requests can't prepare (as preparing would)."""
    auth = getattr(session, "auth", None)
    if type(auth) is not _MultiDomainBasicAuth:
        return None
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, getattr(session, "params", None))  # as prepare_request does
    seen = str(prepared.url)
    bare, netloc, _ = _split_auth_netloc_from_url(seen)
    parts = urllib.parse.urlsplit(seen)
    return (parts.scheme, parts.netloc, auth._get_index_url(bare), auth.passwords.get(netloc))


def keyring_without_prompts(session: Any) -> str | None:
    """Have ``session`` ask keyring without a terminal where pip, given one, would ask it.

    pip's default keyring provider ("auto") asks keyring only when pip may prompt, and a
    server may not (``--no-input``); a provider the user chose (``--keyring-provider import``
    or ``subprocess``, ``PIP_KEYRING_PROVIDER``, pip.conf) is asked without prompts already.
    So "auto" becomes the provider it would pick (keyring importable: "import", else a
    ``keyring`` command: "subprocess"); none there, "disabled": nothing changes. pip older
    than 23.1 (no providers) asks keyring only when it may prompt: None. Returns the provider
    now asked, or None."""
    auth = getattr(session, "auth", None)
    if auth is None or getattr(auth, "_keyring_provider", None) != "auto":
        return None
    try:
        from pip._internal.network import auth as pip_auth

        found = pip_auth.get_keyring_provider("auto")
        chosen = (
            "import"
            if isinstance(found, pip_auth.KeyRingPythonProvider)
            else "subprocess"
            if isinstance(found, pip_auth.KeyRingCliProvider)
            else None
        )
    except Exception:  # keyring's own failure: as pip, no keyring
        return None
    if chosen is not None:
        auth.keyring_provider = chosen
    return chosen


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
        if isinstance(err, ReadTimeoutError) and isinstance(
            err.__cause__ or err.__context__, FirstByteTimeout
        ):
            return True  # no answer began within the deadline: not retried as a read
        if isinstance(err, ReadTimeoutError):
            # vars(): other errors have a deprecated ``pool`` property that warns when read.
            proxy = getattr(vars(err).get("pool"), "proxy", None)
            if proxy is not None and getattr(err, "url", None) == getattr(proxy, "url", None):
                return True
        return bool(super()._is_connection_error(err))


def _session_mounts() -> None:
    # inject wraps PipSession.mount: every adapter PipSession.__init__ mounts must pass there.
    expect(callable(getattr(PipSession, "mount", None)), "PipSession has no mount()")
    expect("mount" in names_used(PipSession.__init__), "PipSession() no longer mounts adapters")
    expect(
        "passwords" in names_used(_MultiDomainBasicAuth.__init__),
        "MultiDomainBasicAuth keeps no passwords dict",
    )


def _credential_scope() -> None:
    lookup = _MultiDomainBasicAuth._get_new_credentials
    expect("_get_index_url" in names_used(lookup), "pip's auth no longer matches index URLs")
    expect("get_netrc_auth" in names_used(lookup), "pip's auth no longer reads netrc")
    kept = names_used(_MultiDomainBasicAuth._get_url_and_credentials)
    expect("passwords" in kept, "pip's auth no longer keeps credentials per host")
    auth = _MultiDomainBasicAuth(prompting=False, index_urls=["http://u:p@pip-ff.invalid/i/"])
    matched = auth._get_index_url(_split_auth_netloc_from_url("http://pip-ff.invalid/i/x/")[0])
    expect(matched == "http://u:p@pip-ff.invalid/i/", "pip's auth matches index URLs otherwise")


def _local_response() -> None:
    # Built by hand: preparing a request parses its URL, ten times the cost of the rest.
    request = requests.PreparedRequest()
    request.method, request.url = "GET", "https://index.invalid/simple/pip-ff/"
    raw = make_raw_response(io.BytesIO(b"pip-ff"), {"content-length": "6"}, request)
    adapter = HTTPAdapter.__new__(HTTPAdapter)  # no connection pool: build_response needs none
    response = build_response(adapter, request, raw)
    expect(response.raw is raw, "requests' build_response no longer keeps the raw response")
    expect(
        response.status_code == 200 and response.content == b"pip-ff",
        "a locally built response doesn't read back",
    )


def _retries() -> None:
    expect(
        issubclass(NewConnectionError, NoConnectionError),
        "urllib3's NewConnectionError is no longer a ConnectTimeoutError",
    )
    expect(
        "_is_connection_error" in names_used(Retry.increment),
        "urllib3's Retry.increment no longer asks _is_connection_error",
    )
    fast = fast_retries(Retry(total=5, connect=5, read=5, status=5))
    expect(
        type(fast) is _TunnelAwareRetry and fast.connect == 0 and fast.read == 5,
        "urllib3's Retry.new no longer keeps the retry class and counts",
    )
    expect(type(fast.new()) is _TunnelAwareRetry, "urllib3's Retry.new no longer keeps its class")


def _connections() -> None:
    for cls in CONNECTION_CLASSES:
        expect("connect" in vars(cls), f"urllib3's {cls.__name__} has no connect() of its own")
    expect(
        all(cls.getresponse is RESPONSE_OWNER.getresponse for cls in CONNECTION_CLASSES),
        "urllib3's connections no longer share one getresponse()",
    )
    expect(
        "getresponse" in names_used(HTTPConnectionPool._make_request),
        "urllib3 no longer waits for an answer with getresponse()",
    )


PROBES: dict[str, Probe] = {
    "urllib3's connections": _connections,
    "pip's session": _session_mounts,
    "pip's credentials for a URL": _credential_scope,
    "a local response": _local_response,
    "pip's retries": _retries,
}
