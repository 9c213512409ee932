"""Which URLs serve may fetch a file from: a page must not decide what serve reads.

Serve reads with its owner's rights and hands what it reads to any local user. A page (from
a private index, a mirror, or anyone on the path of a plain-http index) could name
``file:///<a file only serve's owner can read>`` or another service of this machine
(``http://127.0.0.1:<port>/``) as a file's URL. So serve fetches files over http(s) only, and
from a host of this machine only when that is the index's own origin (or a fallback mirror's):
an index that lives on this machine may link its own files, nothing else local is reached.

The test is on the URL as written, without a DNS lookup: loopback and unspecified addresses in
any spelling ``getaddrinfo`` accepts (``127.1``, ``0x7f000001``, ``::ffff:127.0.0.1``), and
``localhost`` and its subdomains.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Iterable

_DEFAULT_PORTS = {"http": 80, "https": 443}
_IPV4_SPELLING = re.compile(r"[0-9a-fA-Fx.]+")


def origin(url: str) -> str | None:
    """``scheme://host:port`` of an http(s) URL, lower case, with the port always given;
    None for any other URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port or _DEFAULT_PORTS[scheme]}"


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _IPV4_SPELLING.fullmatch(host):
        try:  # the C library's spellings of an IPv4 address: 127.1, 2130706433, 0x7f.1
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_this_machine(host: str) -> bool:
    """Whether ``host`` (a URL's host name, without brackets) names this machine."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _address(name.split("%", 1)[0])
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


class FilePolicy:
    """Where files may come from: http(s) anywhere but this machine, plus the origins of the
    index and its mirrors (which may live on this machine)."""

    def __init__(self, trusted: Iterable[str]) -> None:
        self.trusted = {o for o in (origin(u) for u in trusted) if o is not None}

    def refusal(self, url: str) -> str | None:
        """Why serve won't fetch ``url`` (one line, naming no local path), or None."""
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        where = origin(url)
        if where is None:
            return f"a {scheme or 'relative'}: URL (serve fetches files over http(s) only)"
        if where in self.trusted:
            return None
        host = urllib.parse.urlsplit(url).hostname or ""
        if is_this_machine(host):
            return (
                f"a URL on this machine ({where}) that is not the index's own "
                "(serve never reads another local service)"
            )
        return None
