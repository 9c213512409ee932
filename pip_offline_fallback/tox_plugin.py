"""tox 4 plugin: every tox environment installs through pip-ff while ``PIPFF`` is set.

Registered under the entry point group ``tox`` (name ``pip-offline-fallback``), so it is active
whenever pip-ff is installed next to tox; the user's tox.ini needs no edits, and
``TOX_DISABLED_EXTERNAL_PLUGINS=pip-offline-fallback`` turns it off. It does two things:

- ``PIPFF*`` passes into every environment (run and packaging envs alike). tox's default
  ``pass_env`` has ``PIP_*`` only, so today ``PIPFF`` never reaches an env's pip.
- Before the first install into an environment while ``PIPFF`` is on (a mode other than off),
  pip-ff is installed into that environment, offline: its own wheel, packed from the copy
  installed next to tox (:mod:`.selfwheel`; pip-ff requires nothing but pip, which the env
  has), installed without byte-compiling (the step's main cost). tox's
  unchanged install command, ``python -I -m pip install ...``, then loads pip-ff's start-up
  hook, so deps, the package's dependencies, and the ``.pkg`` env's build requirements all go
  through pip-ff, and pip's build-isolation subprocesses inside the env too.
- While ``PIPFF`` is on, the env's pips write pip-ff's JSON report into a directory of the
  plugin's (one file per pip run); when an env is ready, one line says if it was built from
  local sources, with the counts by source (:mod:`.envreport`).

Why this way, and not the others that tox allows:

- Rewriting ``install_command`` into ``<tox's python> -m pip_offline_fallback --python <env
  python> install ...`` would leave the env untouched, but pip re-runs itself there without
  pip-ff (``--python`` carrying pip-ff into the target interpreter is not in this tree yet), and
  pip's build-isolation children in the env would run plain pip anyway.
- A virtualenv seeder would need ``VIRTUALENV_SEEDER`` set for tox's envs (overriding a user's
  own choice) and the same offline wheels; installing at tox's own install step needs neither.
- Both ways need pip-ff's wheel offline, at the moment the index is down: packing the installed
  copy is the one source that is always there (no build, no download).

So ``tox -r`` works offline: each recreated env gets pip-ff from local files, then pip-ff serves
the env's installs from its record (kept, as pip's cache, where ``PIP_CACHE_DIR`` / pip's
configuration says: tox passes ``PIP_*``).

Limits: with ``PIPFF`` unset or off, nothing is installed into the envs (the plugin only passes
``PIPFF*`` through). An env whose Python is older than pip-ff's (3.9) gets no pip-ff; the
plugin warns, and that env's pip runs plain. Envs whose installer is not pip (tox-uv) or whose
``install_command`` is not ``python ... -m pip ...`` are left alone. pip-ff is visible in the
env (``pip list``), as with any installed package.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tox.execute.request import StdinSource
from tox.plugin import impl

from pip_offline_fallback import selfwheel
from pip_offline_fallback.config import MODE_VARIABLE, REPORT_VARIABLE, Mode, parse_mode
from pip_offline_fallback.envreport import EnvReports

logger = logging.getLogger(__name__)

PASS_ENV = "PIPFF*"
_RUN_ID = "install_pip_ff"
# Each env's installs so far (by env name), and the directory its pips write their reports in
# (pip-ff writes a new file there for each run; a user's own PIPFF_REPORT, a file or a
# directory, instead, read before each install and left in place).
_reports: dict[str, EnvReports] = {}
_report_dirs: dict[str, Path] = {}
_user_reports: dict[str, Path] = {}


@impl
def tox_add_env_config(env_conf: Any, state: Any) -> None:
    """``PIPFF*`` joins the env's ``pass_env`` (tox caches the loaded list, so the edit holds)."""
    try:
        pass_env = env_conf["pass_env"]
    except KeyError:  # an env type without pass_env: nothing to pass through
        return
    if PASS_ENV not in pass_env:
        pass_env.append(PASS_ENV)


def _enabled(tox_env: Any) -> bool:
    value = tox_env.environment_variables.get(MODE_VARIABLE, "")
    mode = parse_mode(value)
    # An unknown value: pip-ff itself warns once and runs plain pip, so there is nothing to serve.
    return mode is not None and mode is not Mode.OFF


def _uses_pip(tox_env: Any) -> bool:
    """Whether the env installs with ``python ... -m pip ...`` (tox's own default)."""
    try:
        args = [str(a) for a in tox_env.conf["install_command"].args]
    except (KeyError, AttributeError):
        return False
    return any(args[i : i + 2] == ["-m", "pip"] for i in range(len(args) - 1))


def _wheels(tox_env: Any) -> list[Path] | None:
    """pip-ff's and its requirements' wheels for this env, or None (with a warning) if unfit."""
    info = tox_env.base_python.version_info
    dest = Path(tox_env.core["work_dir"]) / ".pip-ff" / "wheels"
    try:
        return selfwheel.wheels_for((info.major, info.minor, info.micro), dest)
    except selfwheel.NotPackable as exc:
        logger.warning(
            "pip-ff: %s: %s; this env's pip runs without the fallback", tox_env.name, exc
        )
        return None


def _has_pip_ff(tox_env: Any) -> bool:
    site = Path(tox_env.env_site_package_dir())
    dist_info = f"pip_offline_fallback-{selfwheel.version(selfwheel.PROJECT)}.dist-info"
    return (site / dist_info).is_dir() and (site / "pip_offline_fallback.pth").is_file()


def _collect(name: str) -> EnvReports:
    """Add what the env's installs so far reported."""
    reports = _reports.setdefault(name, EnvReports())
    if name in _report_dirs:
        for path in sorted(_report_dirs[name].glob("pip-ff-report-*.json")):
            reports.read(path, remove=True)
    if name in _user_reports:
        reports.read_all(_user_reports[name], remove=False)
    return reports


def _ask_for_reports(tox_env: Any) -> None:
    """Have the env's pips write pip-ff's reports where :func:`_collect` reads them: a directory
    of ours (set through set_env), unless the user set ``PIPFF_REPORT``."""
    name = tox_env.name
    if name in _user_reports:
        _collect(name)  # the previous install's, before the next one overwrites it
        return
    if name in _report_dirs:
        return
    own = tox_env.environment_variables.get(REPORT_VARIABLE)
    if own:
        # A file, or a directory (a new report there for each run): read, never removed, and
        # what it held before this env's first install is another run's.
        _user_reports[name] = Path(own)
        _reports.setdefault(name, EnvReports()).skip_existing(Path(own))
        return
    directory = Path(tox_env.core["work_dir"]) / ".pip-ff" / "reports" / name
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("pip-ff-report-*.json"):  # left by a run that was stopped
            stale.unlink()
        tox_env.conf["set_env"].update({REPORT_VARIABLE: str(directory)})
    except (OSError, KeyError, AttributeError) as exc:  # an older tox: no line, nothing else
        logger.debug("pip-ff: %s: no install reports (%s)", name, exc)
        return
    _report_dirs[name] = directory


def _tell() -> None:
    """One line for each env built from local sources since the last time (the ``.pkg`` env's
    comes with the first env that runs commands after it was built)."""
    for name in [*_report_dirs, *_user_reports]:
        reports = _collect(name)
        line = reports.line(name)
        if line is not None:
            reports.told = True
            logger.warning("%s", line)


@impl
def tox_before_run_commands(tox_env: Any) -> None:
    """The env is ready: say if its installs (or its package's) came from local sources."""
    _tell()


@impl
def tox_env_teardown(tox_env: Any) -> None:
    """Envs that run no commands: said when tox is done with them."""
    _tell()


@impl
def tox_on_install(tox_env: Any, arguments: Any, section: str, of_type: str) -> None:
    """Before tox's first install into an env: put pip-ff there (once; offline). Before each,
    read what the previous one reported."""
    if not _enabled(tox_env) or not _uses_pip(tox_env):
        return
    try:
        if _has_pip_ff(tox_env):
            _ask_for_reports(tox_env)
            return
    except (AttributeError, NotImplementedError):  # not a Python virtual environment
        return
    wheels = _wheels(tox_env)
    if wheels is None:
        return
    command = selfwheel.install_command(str(tox_env.env_python()), wheels)
    outcome = tox_env.execute(command, stdin=StdinSource.OFF, run_id=_RUN_ID)
    if outcome.exit_code != 0:
        logger.warning(
            "pip-ff: %s: installing pip-ff into the env failed (exit code %s); this env's pip "
            "runs without the fallback",
            tox_env.name,
            outcome.exit_code,
        )
        return
    _ask_for_reports(tox_env)


__all__ = [
    "tox_add_env_config",
    "tox_before_run_commands",
    "tox_env_teardown",
    "tox_on_install",
]
