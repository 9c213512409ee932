"""The relative paths a ``pip-ff run`` hands its serve, made absolute in the caller's directory.

The per-user serve runs in its state directory, never in the directory of the run that started
it (daemon.py): ``python -m`` puts the working directory first on ``sys.path``, so a
``pip_offline_fallback`` directory there would be what the serve imports, and a serve that
outlives its run must not keep that directory busy. So whatever names a file relative to the
caller's directory is made absolute here, before the serve's options are fingerprinted (two
projects' ``--wheelhouse ./wh`` are two directories, so two serves) and before it starts: run's
options, the variables pip and pip-ff read, and relative paths in pip's configuration files
(which pip reads relative to the working directory: they are handed to the serve as the
``PIP_*`` variables that override them, with the same values made absolute).

Imported on every ``pip-ff run``: only ``os``; configparser only when pip has a configuration
file (state.py does the same).
"""

from __future__ import annotations

import os

from pip_offline_fallback.serve import state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# Options whose value is a path (pip-ff's own, then pip's that serve's session reads or that
# pip parses before it: a URL given to --find-links is left alone).
_PATH_OPTIONS = ("--wheelhouse", "--fallback-report", "--cert", "--client-cert", "--cache-dir",
                 "--find-links", "-f", "--log", "--log-file", "--local-log")  # fmt: skip
# Variables whose value is a path, or paths separated by os.pathsep (PIPFF_WHEELHOUSE) or by
# spaces (PIP_FIND_LINKS, as pip splits it).
_PATH_VARIABLES = ("PIPFF_STORE", "PIPFF_REPORT", "PIP_CERT", "PIP_CLIENT_CERT", "PIP_CACHE_DIR",
                   "PIP_CONFIG_FILE", "PIP_LOG", "PIP_LOG_FILE", "PIP_LOCAL_LOG", "NETRC",
                   "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE",
                   "SSL_CERT_DIR")  # fmt: skip
_PATHSEP_VARIABLES = ("PIPFF_WHEELHOUSE", "_PIPFF_PIP_CACHES")
_SPACED_VARIABLES = ("PIP_FIND_LINKS",)
# Keys of pip's configuration files that name files, in the sections serve's pip reads (its
# options are parsed as ``pip download`` parses them: compat/options.py).
_CONFIG_KEYS = ("cert", "client-cert", "cache-dir", "find-links", "log")
_CONFIG_SECTIONS = ("global", "download")


def absolute(value: str, here: str) -> str:
    """``value`` as a path from ``here``; a URL and ``~`` or ``$VAR`` paths as they are
    (expanded where they are read, never relative to a directory)."""
    if not value or "://" in value or value.startswith(("~", "$")) or os.path.isabs(value):
        return value
    if value == os.devnull:  # "nul" on Windows: PIP_CONFIG_FILE's "no configuration files"
        return value
    return os.path.normpath(os.path.join(here, value))


def arguments(args: Sequence[str], here: str) -> list[str]:
    """``args`` with the value of every path option absolute (``--opt V``, ``--opt=V``, ``-fV``)."""
    out: list[str] = []
    taking = False
    for arg in args:
        if taking:
            out.append(absolute(arg, here))
            taking = False
        elif arg == "--":
            taking = False
            out.append(arg)
        elif arg in _PATH_OPTIONS:
            out.append(arg)
            taking = True
        elif arg.startswith("--") and arg.partition("=")[0] in _PATH_OPTIONS and "=" in arg:
            name, _, value = arg.partition("=")
            out.append(f"{name}={absolute(value, here)}")
        elif arg.startswith("-f") and not arg.startswith("--") and len(arg) > 2:
            out.append("-f" + absolute(arg[2:], here))
        else:
            out.append(arg)
    return out


def environment(environ: Mapping[str, str], here: str) -> dict[str, str]:
    """``environ`` with every path variable absolute, and a relative path of pip's
    configuration files handed on as the variable that overrides it (unless one is set)."""
    env = dict(environ)
    for name in _PATH_VARIABLES:
        if env.get(name):
            env[name] = absolute(env[name], here)
    for name in _PATHSEP_VARIABLES:
        if env.get(name):
            env[name] = os.pathsep.join(absolute(p, here) for p in env[name].split(os.pathsep))
    for name in _SPACED_VARIABLES:
        if env.get(name):
            env[name] = " ".join(absolute(p, here) for p in env[name].split())
    for key, value in _relative_config(env).items():
        name = "PIP_" + key.upper().replace("-", "_")
        if not env.get(name):
            env[name] = " ".join(absolute(p, here) for p in value.split())
    return env


def _relative_config(environ: Mapping[str, str]) -> dict[str, str]:
    """The values of :data:`_CONFIG_KEYS` in pip's configuration files that hold a relative
    path, as pip would take them (the last file wins; ``[download]`` over ``[global]``)."""
    files = state.pip_config_files(environ)
    if not files:
        return {}
    import configparser

    found: dict[str, str] = {}
    for path in files:
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        for section in _CONFIG_SECTIONS:
            for key in _CONFIG_KEYS:
                value = parser.get(section, key, fallback=None)
                if value:
                    found[key] = value
    return {
        key: value
        for key, value in found.items()
        if any(absolute(p, os.sep) != p for p in value.split())
    }
