"""nox: put pip-ff into a session's environment, offline, from a noxfile.

nox has no plugin mechanism (no entry points, no hooks), but its noxfile runs in nox's own
process, where pip-ff is installed next to nox. So one call at the top of a session does what
pip-ff's tox plugin does before tox's first install::

    from pip_offline_fallback.noxhelper import install_pip_ff

    @nox.session
    def tests(session):
        install_pip_ff(session)   # nothing happens unless PIPFF is on
        session.install(...)      # `python -m pip install` now runs with the fallback

nox already passes ``PIPFF*`` to the session's commands (it keeps the caller's environment).
pip-ff's wheel and its requirements' wheels are packed from the copies next to nox
(:mod:`.selfwheel`) and installed with the session's pip from local files only, so it works with
the index down. Sessions whose backend has no pip (``uv``, ``none``) are left alone.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from pip_offline_fallback import selfwheel
from pip_offline_fallback.config import MODE_VARIABLE, Mode, parse_mode

logger = logging.getLogger(__name__)

_VERSION_CODE = "import sys; print('%d.%d.%d' % sys.version_info[:3])"


def _enabled(session: Any) -> bool:
    env = getattr(session, "env", None) or {}
    mode = parse_mode(env.get(MODE_VARIABLE, os.environ.get(MODE_VARIABLE, "")))
    return mode is not None and mode is not Mode.OFF


def install_pip_ff(session: Any) -> bool:
    """Install pip-ff into the session's env while ``PIPFF`` is on; True when it is there."""
    if not _enabled(session):
        return False
    backend = getattr(getattr(session, "virtualenv", None), "venv_backend", "virtualenv")
    if backend in ("uv", "none"):
        logger.warning("pip-ff: nox backend %s installs without pip; nothing to do", backend)
        return False
    output = session.run("python", "-c", _VERSION_CODE, silent=True)
    try:
        major, minor, micro = (int(part) for part in str(output).strip().split("."))
        cache = getattr(session, "cache_dir", None)
        dest = Path(cache) if cache else Path(tempfile.gettempdir())
        wheels = selfwheel.wheels_for((major, minor, micro), dest / "pip-ff-wheels")
    except (ValueError, selfwheel.NotPackable) as exc:
        logger.warning("pip-ff: %s; this session's pip runs without the fallback", exc)
        return False
    command = selfwheel.install_command("python", wheels)
    session.run(*command, silent=True)
    return True
