"""``pip-ff store check``: can these requirements be installed offline?

One pip run answers for all of them together: ``pip-ff --offline install --dry-run
--ignore-installed --report``, in this process. The requirements are read by pip's own parser
(:mod:`pip_offline_fallback.compat.reqfile`); when the run fails, the finder pip built for them
is asked, with pip-ff's fallback still in place, which of them have a local candidate, and one
more run of those (one each, if together they fail) says whether their dependencies are local
too: pip stopped at the first failure, before it reached them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pip_offline_fallback import config
from pip_offline_fallback.errors import EXIT_INTERRUPTED, UsageError
from pip_offline_fallback.storecmd.common import EXIT_FAILED, EXIT_OK, Location, write, write_table
from pip_offline_fallback.storecmd.verdicts import (
    TOGETHER,
    DryRun,
    Reason,
    Row,
    failed_rows,
    filename,
    installed_row,
    redact_text,
    redacted,
)

if TYPE_CHECKING:
    from pip_offline_fallback.compat.reqfile import InstallCommandLine
    from pip_offline_fallback.engine import Engine

# pip install accepts these only with --target (it can't install for another interpreter).
_TARGET_OPTIONS = ("--platform", "--python-version", "--implementation", "--abi")


@contextlib.contextmanager
def _offline_environment(settings: config.Settings) -> Iterator[config.Settings]:
    """One in-process offline pip-ff run: its children (build isolation) inherit the same
    settings (never a report: a fallback report describes a user's run), not what a parent run
    learnt; afterwards the environment is as it was."""
    from pip_offline_fallback import childenv

    with childenv.applied(settings, inherit_learnt=False):
        yield settings


class _Checker:
    def __init__(
        self,
        location: Location,
        pip_options: list[str],
        verbose: bool,
        run_pip: Callable[[list[str]], int],
    ) -> None:
        self.location = location
        self.pip_options = pip_options
        self.verbose = verbose
        self.run_pip = run_pip
        self.damaged: set[str] = set()

    def settings(self) -> config.Settings:
        environ = {
            k: v
            for k, v in os.environ.items()
            if k not in (config.UNREACHABLE_VARIABLE, config.PIP_CACHES_VARIABLE)
        }
        environ[config.MODE_VARIABLE] = config.Mode.OFFLINE.value
        settings = config.settings_from_environ(environ, default=config.Mode.OFFLINE)
        if settings is None:  # pragma: no cover - the mode is set just above
            settings = config.Settings(mode=config.Mode.OFFLINE)
        return dataclasses.replace(settings, store=self.location.store)

    def install_args(
        self, tmp: str, requirement_args: list[str], pip_options: list[str] | None = None
    ) -> list[str]:
        """The dry run's command line (after ``install``); its report goes into ``tmp``."""
        if pip_options is None:
            pip_options = self.pip_options
        args = [
            "--dry-run",
            "--ignore-installed",
            "--report",
            os.path.join(tmp, "report.json"),
            "--disable-pip-version-check",
            "--no-input",
            *(["--cache-dir", self.location.cache_dir] if self.location.cache_dir else []),
            *pip_options,
        ]
        if any(o in _TARGET_OPTIONS for o in pip_options):
            args += ["--target", os.path.join(tmp, "target")]
        return args + requirement_args

    def read(self, requirement_args: list[str]) -> InstallCommandLine | None:
        """The requirements as pip reads them (None: pip-ff can't hook this pip).

        Read with pip-ff's fallback in offline mode, like the run: a ``-r URL`` is answered
        from local data or not at all. Raises ``UsageError`` when pip can't read them.
        """
        from pip_offline_fallback import inject
        from pip_offline_fallback.compat import reqfile
        from pip_offline_fallback.running import active_engine

        buffer = io.StringIO()
        with tempfile.TemporaryDirectory(prefix="pipff-check-") as tmp:
            args = self.install_args(tmp, requirement_args)
            with _offline_environment(self.settings()) as settings:
                if not inject.inject(settings) or active_engine() is None:
                    return None
                try:
                    # pip's parser logs (a file decoded by the locale's encoding, say).
                    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                        return reqfile.InstallCommandLine(args)
                except reqfile.ReadError as exc:
                    raise UsageError(
                        f"can't read the requirements: {redact_text(str(exc))}"
                    ) from None
                finally:
                    if self.verbose and buffer.getvalue():
                        sys.stderr.write(redact_text(buffer.getvalue()))

    def run(self, requirement_args: list[str], pip_options: list[str] | None = None) -> DryRun:
        """``pip-ff --offline install --dry-run --ignore-installed --report``, in this process."""
        from pip_offline_fallback import inject
        from pip_offline_fallback.running import active_engine

        with tempfile.TemporaryDirectory(prefix="pipff-check-") as tmp:
            report_path = os.path.join(tmp, "report.json")
            args = ["install", *self.install_args(tmp, requirement_args, pip_options)]
            buffer = io.StringIO()
            with _offline_environment(self.settings()) as settings:
                # Hooked first, and checked: a pip that can't be hooked would run plain, online.
                if not inject.inject(settings) or active_engine() is None:
                    return DryRun(1, [], [], "", hooked=False)
                with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                    status = self.run_pip(args)
                if status == EXIT_INTERRUPTED:
                    raise KeyboardInterrupt
            # pip's own lines may carry credentials too (pip 23.0 did, for a direct URL).
            output = redact_text(buffer.getvalue())
            if self.verbose:
                shown = shlex.join(redacted(args))
                sys.stderr.write(f"$ pip-ff --offline {shown}\n{output}")
            engine = active_engine()
            install: list[dict[str, Any]] = []
            if status == 0:
                try:
                    with open(report_path, encoding="utf-8") as f:
                        install = list(json.load(f).get("install", []))
                except (OSError, ValueError) as exc:
                    return DryRun(1, [], [Reason(f"pip wrote no report ({exc})")], output)
        reasons: list[Reason] = []
        if engine is None:
            return DryRun(1, [], [Reason("pip-ff could not hook this pip (see -v)")], output)
        if status == 0:
            reasons.extend(self._unusable(engine, install))
            return DryRun(1 if reasons else 0, install, reasons, output)
        for item in getattr(engine.report, "missing", {}).values():
            reasons.append(
                Reason(
                    f"no local copy satisfies {item.project}{item.specifier} "
                    f"(local versions: {item.local_text})",
                    item.project,
                )
            )
        if engine.store is not None:
            for url in dict.fromkeys(engine.store.damaged):
                self.damaged.add(url)
                reasons.append(Reason(f"the recorded copy of {filename(url)} is damaged"))
        if not reasons:
            errors = [
                line[len("ERROR: ") :]
                for line in output.splitlines()
                if line.startswith("ERROR: ") and not line.startswith("ERROR: pip-ff: run ")
            ]
            error = errors[-1] if errors else f"pip exited with status {status}"
            reasons.append(Reason(error, generic=True))
        return DryRun(status, install, reasons, output)

    def _unusable(self, engine: Engine, install: list[dict[str, Any]]) -> list[Reason]:
        """Files the resolver chose but whose recorded copy can't be served.

        pip may resolve from PEP 658 metadata alone and not fetch the file in a dry run, so
        each chosen file that comes from pip-ff's record is verified here.
        """
        reasons = []
        store = engine.store
        for item in install:
            url = str(item.get("download_info", {}).get("url", ""))
            if store is None or not url.startswith(("http://", "https://")):
                continue
            if engine.sources.pip_caches.has(url):
                continue
            entry = store.lookup(url)
            if entry is None:
                continue
            body = store.open_verified(entry)
            if body is None:
                self.damaged.add(url)
                reasons.append(Reason(f"the recorded copy of {filename(url)} is damaged"))
            else:
                body.close()
        return reasons


# The check's own search options: a confirming run searches where the finder did instead.
_SEARCH_OPTIONS = ("-i", "--index-url", "--extra-index-url", "-f", "--find-links")


def _confirmed(checker: _Checker, plan: InstallCommandLine, rows: list[Row]) -> list[Row]:
    """The rows of a run that failed, with each "yes" confirmed by a run of its own.

    pip stops at the first requirement it can't satisfy, so a requirement whose own file is
    local was never resolved down to its dependencies: a second run of those alone (one each,
    when together they fail) says whether each can really be installed offline.
    """
    mine = rows[: len(plan.requirements)]
    applicable = [i for i, r in enumerate(plan.requirements) if r.applies]
    provisional = [i for i in applicable if mine[i].ok]
    if not provisional or len(provisional) == len(applicable):
        return rows  # none to confirm, or the run itself already said why they fail together
    options: list[str] = []
    forwarded = iter(checker.pip_options)
    for option in forwarded:
        if option in _SEARCH_OPTIONS:
            next(forwarded, None)  # and its value
        elif option != "--no-index":
            options.append(option)
    with tempfile.TemporaryDirectory(prefix="pipff-check-") as tmp:
        search = plan.search_args()
        if plan.constraints:
            constraints = os.path.join(tmp, "constraints.txt")
            with open(constraints, "w", encoding="utf-8") as f:
                f.write("".join(f"{c}\n" for c in plan.constraints))
            search += ["-c", constraints]

        def run(indexes: list[int]) -> DryRun:
            args = [a for i in indexes for a in _as_args(plan.requirements[i].text)]
            return checker.run(search + args, options)

        together = run(provisional)
        if together.status == 0:
            return rows
        failed = 0
        for i in provisional:
            alone = together if len(provisional) == 1 else run([i])
            if alone.status != 0:
                failed += 1
                rows[i] = Row(mine[i].requirement, False, [r.text for r in alone.reasons])
    if not failed:  # each alone can: together they can't
        said = [r.text for r in together.reasons]
        if rows[-1].requirement == TOGETHER:
            rows[-1].detail += [text for text in said if text not in rows[-1].detail]
        else:
            rows.append(Row(TOGETHER, False, said))
    return rows


def _as_args(text: str) -> list[str]:
    """A requirement as the command line gives it."""
    return ["-e", text[len("-e ") :]] if text.startswith("-e ") else [text]


def run_check(
    location: Location, options: argparse.Namespace, run_pip: Callable[[list[str]], int]
) -> int:
    from pip_offline_fallback import compat, inject

    problems = compat.problems()
    if problems:
        sys.stderr.write(f"ERROR: pip-ff: can't check offline: {problems[0]}\n")
        return EXIT_FAILED
    if not options.files and not options.requirements:
        raise UsageError("give requirements to check (REQ ... or -r FILE)")
    pip_options: list[str] = list(getattr(options, "pip_options", None) or [])
    checker = _Checker(location, pip_options, options.verbose, run_pip)
    requirement_args = [a for path in options.files for a in ("-r", path)] + options.requirements
    started = time.monotonic()
    plan: InstallCommandLine | None = None
    try:
        plan = checker.read(requirement_args)
        if plan is None:
            sys.stderr.write("ERROR: pip-ff: can't hook this pip, so it can't check offline\n")
            return EXIT_FAILED
        if not plan.requirements:
            raise UsageError("give requirements to check (REQ ... or -r FILE)")
        together = checker.run(requirement_args)
        if not together.hooked:
            sys.stderr.write("ERROR: pip-ff: can't hook this pip, so it can't check offline\n")
            return EXIT_FAILED
        if together.status == 0:
            rows = [installed_row(r, together.install) for r in plan.requirements]
        else:
            rows = _confirmed(checker, plan, failed_rows(plan, together, checker.damaged))
    finally:
        if plan is not None:
            plan.close()
        inject.extract()
    elapsed = time.monotonic() - started
    ok = together.status == 0
    if options.json:
        data = {
            "store": location.store,
            "ok": ok,
            "python": ".".join(str(n) for n in sys.version_info[:3]),
            "requirements": [
                {"requirement": r.requirement, "ok": r.ok, "detail": [d for d in r.detail if d]}
                for r in rows
            ],
            "install": [
                {
                    "name": item.get("metadata", {}).get("name"),
                    "version": item.get("metadata", {}).get("version"),
                    "url": item.get("download_info", {}).get("url"),
                }
                for item in together.install
            ],
            "damaged": sorted(checker.damaged),
        }
        write(json.dumps(data, indent=2, sort_keys=True))
        return EXIT_OK if ok else EXIT_FAILED
    table = [["requirement", "offline", "detail"]]
    for row in rows:
        details = [d for d in row.detail if d] or [""]
        table.append([row.requirement, "yes" if row.ok else "NO", details[0]])
        table.extend(["", "", more] for more in details[1:])
    write_table(table)
    can = sum(1 for r in rows if r.ok and r.requirement != TOGETHER)
    cannot = sum(1 for r in rows if not r.ok and r.requirement != TOGETHER)
    write()
    if ok:
        names = ", ".join(
            f"{i.get('metadata', {}).get('name')} {i.get('metadata', {}).get('version')}"
            for i in together.install
        )
        write(f"All {can} can be installed offline (would install: {names or 'nothing'}).")
    elif cannot:
        write(f"{can} can be installed offline; {cannot} can't.")
    else:
        write("Each has a local copy, but together they can't be installed offline.")
    if checker.damaged:
        write(
            f"Damaged records: {len(checker.damaged)} (`pip-ff store prune --damaged` removes "
            "them)."
        )
    write(f"Checked against {location.store} in {elapsed:.1f} s.")
    return EXIT_OK if ok else EXIT_FAILED


# -- one row per requirement -----------------------------------------------------------------
