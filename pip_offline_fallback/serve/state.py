"""What the per-user serve keeps in the store's directory (``<store>/serve/``, mode 0700).

    state        the running serve: pid, port, URL prefix, fingerprint (``name value`` lines, 0600)
    port         the port chosen once; kept when the serve ends, so the URL stays the same (0600)
    secret       32 random bytes (hex) that the serve proves it knows (0600); see proving.py
    lock         held while a serve is found, started or stopped (oslock), so two runs that
                 start at the same moment end up with one serve
    answered     ``<pid>:<n>``: how many answers the running serve has given from local sources
                 (control.py); run reads it after its command, and asks again only when it changed
    serve.log    the detached serve's log and stderr (capped: peruser.CappedLog)
    holders/     a file per run whose command is running, naming the options it wants (hold)
    others/      a directory like this one for each set of options whose run found the serve
                 busy with another run's command (daemon.py: a busy serve is never replaced)

``pip-ff run`` reads these on every command, so this module imports only what Python has loaded
at start-up anyway (no pip, no re, no logging, no contextlib, no hashlib: serve/digest.py): the
store's directory is found from the environment and pip's configuration files without pip.
"""

from __future__ import annotations

import os
import sys

from pip_offline_fallback import __version__
from pip_offline_fallback.serve import digest

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc would import collections, which run needs not
    from collections.abc import Mapping, Sequence

SUBDIRECTORY = "serve"
STATE_FILE = "state"
ANSWERED = "answered"
USER_AGENT = "user-agent"  # pip's User-Agent, kept between starts (compat/agent.py)
IDLE_VARIABLE = "PIPFF_SERVE_IDLE"
DEFAULT_IDLE = 3 * 3600.0  # seconds; Gradle's daemon stops after three idle hours too
_FINGERPRINT_PREFIXES = ("PIP_", "PIPFF", "NETRC")
# What else decides how the serve asks the index (requests reads them, and pip's session): the
# proxies (any ``*_PROXY``, either case) and the certificate authorities.
_FINGERPRINT_SUFFIXES = ("_PROXY",)
_FINGERPRINT_NAMES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def pip_config_files(environ: Mapping[str, str]) -> list[str]:
    """The files pip reads its configuration from, lowest priority first (pip's own order)."""
    named = environ.get("PIP_CONFIG_FILE")
    if named == os.devnull:
        return []
    home = os.path.expanduser("~")
    files: list[str] = []
    if sys.platform == "win32":
        program_data = environ.get("PROGRAMDATA", r"C:\ProgramData")
        appdata = environ.get("APPDATA", os.path.join(home, "AppData", "Roaming"))
        files += [os.path.join(program_data, "pip", "pip.ini")]
        user = [os.path.join(home, "pip", "pip.ini"), os.path.join(appdata, "pip", "pip.ini")]
        site = os.path.join(sys.prefix, "pip.ini")
    else:
        dirs = environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
        files += [os.path.join(d, "pip", "pip.conf") for d in dirs.split(os.pathsep) if d]
        files.append("/etc/pip.conf")
        config_home = environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        user = [
            os.path.join(home, ".pip", "pip.conf"),
            os.path.join(config_home, "pip", "pip.conf"),
        ]
        if sys.platform == "darwin":
            user.append(os.path.join(home, "Library", "Application Support", "pip", "pip.conf"))
        site = os.path.join(sys.prefix, "pip.conf")
    if not (named and os.path.exists(named)):
        files += user
    files.append(site)
    if named:
        files.append(named)
    return [f for f in files if os.path.isfile(f)]


def _default_pip_cache(environ: Mapping[str, str]) -> str:
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(base, "pip", "Cache")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", "pip")
    return os.path.join(environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"), "pip")


def _configured_cache(files: Sequence[str]) -> str | None:
    """``cache-dir`` from pip's configuration files' ``[global]`` section (the last one wins)."""
    import configparser  # only when there is a file: most runs have none

    found = None
    for path in files:
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
            value = parser.get("global", "cache-dir", fallback=None)
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        if value:
            found = value
    return found


def store_root(environ: Mapping[str, str]) -> str:
    """The record's directory, as ``pip-ff install`` finds it: ``PIPFF_STORE``, else
    ``pip-ff`` in pip's cache directory (``PIP_CACHE_DIR``, pip's configuration, its default)."""
    if environ.get("PIPFF_STORE"):
        return os.path.abspath(os.path.expanduser(environ["PIPFF_STORE"]))
    cache = environ.get("PIP_CACHE_DIR") or None
    if cache is None:
        files = pip_config_files(environ)
        cache = _configured_cache(files) if files else None
    cache = os.path.expanduser(os.path.expandvars(cache)) if cache else None
    return os.path.join(os.path.abspath(cache or _default_pip_cache(environ)), "pip-ff")


def directory(environ: Mapping[str, str], *, create: bool = False) -> str:
    """``<store>/serve``, made (0700, readable by this user only) when ``create``."""
    path = os.path.join(store_root(environ), SUBDIRECTORY)
    if create:
        os.makedirs(path, mode=0o700, exist_ok=True)
        if sys.platform != "win32" and os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o700)
    return path


def _fingerprinted(name: str) -> bool:
    upper = name.upper()
    return (
        upper.startswith(_FINGERPRINT_PREFIXES)
        or upper.endswith(_FINGERPRINT_SUFFIXES)
        or upper in _FINGERPRINT_NAMES
    ) and name != IDLE_VARIABLE


def _netrc_file(environ: Mapping[str, str]) -> str:
    """The netrc file requests reads for pip's session: ``$NETRC``, else ``~/.netrc`` (or
    ``~/_netrc``, requests' other name)."""
    if environ.get("NETRC"):
        return os.path.expanduser(environ["NETRC"])
    home = os.path.expanduser("~")
    dotted = os.path.join(home, ".netrc")
    underscored = os.path.join(home, "_netrc")
    return underscored if not os.path.exists(dotted) and os.path.exists(underscored) else dotted


def fingerprint(options: Sequence[str], environ: Mapping[str, str]) -> str:
    """What makes two serves the same: pip-ff's version, run's options, the variables and
    files pip and pip-ff read (pip's configuration, netrc, proxies, certificate authorities).
    A serve with another fingerprint is replaced. Only a hash of them is kept: they may hold
    credentials."""
    # Not the interpreter: pip-ff of one version in two venvs (pipx's, a project's) serves
    # alike, and one port per user can't hold a serve for each.
    hashed = digest.sha256(f"pip-ff {__version__}\0".encode())
    for option in options:
        hashed.update(b"o" + option.encode("utf-8", "surrogateescape") + b"\0")
    for name in sorted(environ):
        if _fingerprinted(name):
            hashed.update(f"e{name}={environ[name]}\0".encode("utf-8", "surrogateescape"))
    # pip reads netrc for each request, but the serve decides once, at its start, whether its
    # URL needs a token (serve/credentials.py): a netrc that changed needs a new serve.
    for path in [*pip_config_files(environ), _netrc_file(environ)]:
        try:
            with open(path, "rb") as f:
                hashed.update(b"f" + path.encode("utf-8", "surrogateescape") + b"\0" + f.read())
        except OSError:
            hashed.update(b"n" + path.encode("utf-8", "surrogateescape") + b"\0")
    for name in _FINGERPRINT_NAMES[:3]:  # a bundle file replaced in place (its name unchanged)
        try:
            st = os.stat(environ.get(name) or "")
        except (OSError, ValueError):
            continue
        hashed.update(f"s{name}={st.st_size},{st.st_mtime_ns}\0".encode())
    return hashed.hexdigest()[:32]


def write_private(path: str, text: str) -> None:
    """Replace ``path`` with ``text``, readable and writable by this user only."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def read_private(path: str) -> str | None:
    """The text of ``path`` if it is a regular file only this user can read, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "r", encoding="utf-8") as f:
        st = os.fstat(f.fileno())
        if sys.platform != "win32" and (st.st_mode & 0o077 or st.st_uid != os.getuid()):
            return None
        try:
            return f.read()
        except (OSError, UnicodeDecodeError):
            return None


def encode(fields: Mapping[str, object]) -> str:
    """``name value`` lines: what the state file and the serve's proof say (no json: run reads
    them on every command, and json costs it the ``re`` module)."""
    return "".join(f"{name} {str(value).replace(chr(10), ' ')}\n" for name, value in fields.items())


def decode(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name:
            fields[name] = value
    return fields


def number(fields: Mapping[str, str], name: str) -> int:
    """An integer field; 0 when it is missing or no integer."""
    try:
        return int(fields.get(name, ""))
    except ValueError:
        return 0


def read_state(where: str) -> dict[str, str] | None:
    text = read_private(os.path.join(where, STATE_FILE))
    return decode(text) if text else None


def write_state(where: str, fields: Mapping[str, object]) -> None:
    write_private(os.path.join(where, STATE_FILE), encode(fields))


def clear_state(where: str, pid: int) -> None:
    """Remove the state file if it still describes process ``pid`` (a serve ending)."""
    recorded = read_state(where)
    if recorded is not None and number(recorded, "pid") == pid:
        import contextlib  # a serve ending: not on run's way

        with contextlib.suppress(OSError):
            os.unlink(os.path.join(where, STATE_FILE))


def lock_path(where: str) -> str:
    """The lock a serve of ``where`` is found, started and stopped under (oslock): a serve
    beside a busy one (``others/<fingerprint>``) is started under its main directory's."""
    parent = os.path.dirname(where)
    main = os.path.dirname(parent) if os.path.basename(parent) == OTHERS else where
    return os.path.join(main, "lock")


def forget(where: str, pid: int) -> None:
    """A serve (``pid``) ending: its state file removed, unless a run holds the lock. That run
    is replacing or stopping it and clears the state itself, then its successor writes its
    own, which a removal now could hit. A state file naming a serve that ended is harmless:
    every run proves a serve before it uses it."""
    from pip_offline_fallback import oslock

    try:
        with oslock.exclusive(lock_path(where), 0):
            clear_state(where, pid)
    except oslock.LockTimeout:
        pass


HOLDERS = "holders"  # <state>/holders/<pid>: a run whose command is running
OTHERS = "others"  # <state>/others/<fingerprint>: a serve beside a busy one (daemon.py)


def hold(where: str, fingerprint: str = "") -> str | None:
    """Say that this process's command uses the serve (an idle timer must not end it while a
    long command, a shell say, makes no request); the path to remove afterwards.
    ``fingerprint``: the options of the serve this run wants (see :func:`held`)."""
    path = os.path.join(where, HOLDERS, str(os.getpid()))
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        write_private(path, fingerprint)  # renamed into place: never seen without it
    except OSError:
        return None
    return path


def held(where: str, but: int | None = None, wanting: str | None = None) -> bool:
    """Whether a running command holds the serve (POSIX: a holder's pid is alive; elsewhere
    never, since a signal 0 there ends the process); ``but``: a pid not counted (the run that
    asks). ``wanting``: a holder that wants a serve of these options is not counted either: a
    run replacing the serve for them never replaces it under such a run (it uses no serve of
    other options), so two runs of new options that start at once replace it, one after the
    other finding the new one, instead of each seeing the other and starting one beside it."""
    if sys.platform == "win32":
        return False
    directory = os.path.join(where, HOLDERS)
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    for name in names:
        if name == str(but):
            continue
        if wanting and read_private(os.path.join(directory, name)) == wanting:
            continue
        try:
            os.kill(int(name), 0)
        except ValueError:
            continue
        except ProcessLookupError:
            try:  # noqa: SIM105 (contextlib would cost run its import)
                os.unlink(os.path.join(directory, name))  # its run was killed
            except OSError:
                pass
            continue
        except OSError:
            pass  # alive, another user's pid now: still counted, at worst an idle timer late
        return True
    return False


def kept_port(where: str) -> int:
    """The port chosen once for this user (0: none yet, let the OS choose)."""
    text = read_private(os.path.join(where, "port"))
    try:
        port = int(text or "0")
    except ValueError:
        return 0
    return port if 1024 <= port <= 65535 else 0


def keep_port(where: str, port: int) -> None:
    write_private(os.path.join(where, "port"), f"{port}\n")


def secret(where: str) -> bytes:
    """This user's serve secret, made on first use (only this user can read it)."""
    path = os.path.join(where, "secret")
    text = read_private(path)
    if text is not None and len(text.strip()) == 64:
        try:
            return bytes.fromhex(text.strip())
        except ValueError:
            pass
    value = os.urandom(32)
    write_private(path, value.hex() + "\n")
    return value


def idle_timeout(value: str | None, environ: Mapping[str, str]) -> float:
    """``--idle-timeout`` (seconds), else ``PIPFF_SERVE_IDLE``, else the default; 0: never."""
    raw = value if value is not None else environ.get(IDLE_VARIABLE, "")
    if not raw.strip():
        return DEFAULT_IDLE
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"idle timeout {raw!r} is not a number of seconds") from None
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"idle timeout {raw!r} must be 0 (never) or more seconds")
    return seconds
