"""The transport adapter: pip's own HTTP(S) adapters, given a fallback-aware ``send``.

pip builds its adapters with its TLS context (truststore), its cache and its retry policy, and
its download code checks ``isinstance(adapter, CacheControlAdapter)``. So pip-ff does not build
adapters of its own: when pip mounts one, pip-ff swaps its class for a subclass that adds this
mixin. With pip-ff extracted, the mixin passes every call straight through.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pip_offline_fallback import compat
from pip_offline_fallback.running import active_engine

if TYPE_CHECKING:
    from pip._vendor.requests import PreparedRequest, Response, Session
    from pip._vendor.requests.adapters import BaseAdapter
    from pip._vendor.urllib3.util.retry import Retry

# pip's adapter class -> its fallback subclass; filled under a lock (serve mounts adapters on
# many threads' sessions).
_classes: dict[type, type] = {}
_classes_lock = threading.Lock()
# This thread's retry policy while one request has a local answer to fall back on.
_override = threading.local()


@contextlib.contextmanager
def _fast_retries(adapter: FallbackAdapterMixin, fast: bool) -> Iterator[None]:
    """Within the block, this thread's requests use pip's retries minus retries of connections
    that could not be made (see compat.fast_retries)."""
    if not fast:
        yield
        return
    previous = getattr(_override, "retries", None)
    _override.retries = compat.fast_retries(adapter.__dict__.get("max_retries", 0))
    try:
        yield
    finally:
        _override.retries = previous


class FallbackAdapterMixin:
    # urllib3 reads the adapter's retry policy on each request; a per-thread override lets one
    # request skip connection retries without touching pip's policy.
    @property
    def max_retries(self) -> Retry | None:
        override = getattr(_override, "retries", None)
        return override if override is not None else self.__dict__.get("max_retries")

    @max_retries.setter
    def max_retries(self, value: Retry) -> None:
        self.__dict__["max_retries"] = value

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:
        base = super().send  # type: ignore[misc]
        engine = active_engine()
        if engine is None:
            return base(request, **kwargs)

        def send_once(request: PreparedRequest, kwargs: dict[str, Any], fast: bool) -> Response:
            with _fast_retries(self, fast):
                return base(request, **kwargs)

        return engine.send(self, send_once, request, kwargs)  # type: ignore[arg-type]


def wrap(adapter: BaseAdapter, session: Session | None = None) -> BaseAdapter:
    """Give one of pip's HTTP adapters the fallback (idempotent); other adapters are left alone.

    The adapter keeps a weak reference to its session: a request for a fallback index goes
    through whichever of the session's adapters serves that URL.
    """
    if session is not None:
        with contextlib.suppress(TypeError, AttributeError):
            adapter.__dict__["_pipff_session"] = weakref.ref(session)
    cls = type(adapter)
    if isinstance(adapter, FallbackAdapterMixin) or not isinstance(adapter, compat.HTTPAdapter):
        return adapter
    with _classes_lock:
        sub = _classes.get(cls)
        if sub is None:
            sub = type(f"Fallback{cls.__name__}", (FallbackAdapterMixin, cls), {})
            _classes[cls] = sub
    adapter.__class__ = sub
    return adapter
