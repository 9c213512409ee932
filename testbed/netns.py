"""A fresh network namespace (``unshare -n``) for a command: no network at all, or loopback only."""

from __future__ import annotations

import functools
import shutil
import subprocess

__all__ = ["netns_prefix", "unshare_available"]


@functools.cache
def unshare_available() -> bool:
    """Whether ``unshare -n`` may create a network namespace here (root or user namespaces)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        result = subprocess.run(
            [unshare, "-n", "--", "true"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def netns_prefix(*, loopback: bool = False) -> list[str]:
    """Argv prefix that runs a command in a fresh network namespace.

    By default the namespace has no network at all: even its loopback interface is down, so
    connecting to 127.0.0.1 fails at once with ENETUNREACH and no name resolves. With
    ``loopback=True`` the namespace's own ``lo`` is brought up first (needs ``ip``), so servers
    started *inside* the command are reachable, and still nothing outside is.
    """
    prefix = ["unshare", "-n", "--"]
    if loopback:
        prefix += ["sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    return prefix
