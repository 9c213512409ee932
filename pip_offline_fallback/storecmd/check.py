"""``pip-ff store check``: can these requirements be installed offline?"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name

from pip_offline_fallback import config
from pip_offline_fallback.errors import EXIT_INTERRUPTED, UsageError
from pip_offline_fallback.storecmd.common import EXIT_FAILED, EXIT_OK, Location, _table, _write
from pip_offline_fallback.storecmd.requirements import _name_of, _Req, read_requirements

# pip install accepts these only with --target (it can't install for another interpreter).
_TARGET_OPTIONS = ("--platform", "--python-version", "--implementation", "--abi")


@dataclass
class _DryRun:
    status: int
    install: list[dict[str, Any]]
    reasons: list[str]
    output: str
    hooked: bool = True


@dataclass
class _Row:
    requirement: str
    ok: bool
    detail: list[str]


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

    def run(self, requirement_args: list[str]) -> _DryRun:
        """``pip-ff --offline install --dry-run --ignore-installed --report``, in this process."""
        from pip_offline_fallback import childenv, inject
        from pip_offline_fallback.engine import active_engine

        with tempfile.TemporaryDirectory(prefix="pipff-check-") as tmp:
            report_path = os.path.join(tmp, "report.json")
            args = [
                "install",
                "--dry-run",
                "--ignore-installed",
                "--report",
                report_path,
                "--disable-pip-version-check",
                "--no-input",
                *(["--cache-dir", self.location.cache_dir] if self.location.cache_dir else []),
                *self.pip_options,
            ]
            if any(o in _TARGET_OPTIONS for o in self.pip_options):
                args += ["--target", os.path.join(tmp, "target")]
            args += requirement_args
            buffer = io.StringIO()
            settings = self.settings()
            # The run is pip-ff's own install in offline mode; its children (build isolation)
            # inherit the same settings (never a report: a fallback report describes a user's
            # run), not what a parent run learnt.
            with childenv.applied(settings, inherit_learnt=False):
                # Hooked first, and checked: a pip that can't be hooked would run plain, online.
                if not inject.inject(settings) or active_engine() is None:
                    return _DryRun(1, [], [], "", hooked=False)
                with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                    status = self.run_pip(args)
                if status == EXIT_INTERRUPTED:
                    raise KeyboardInterrupt
            # pip's own lines may carry credentials too (pip 23.0 did, for a direct URL).
            output = _redact_text(buffer.getvalue())
            if self.verbose:
                shown = shlex.join(_redacted(args))
                sys.stderr.write(f"$ pip-ff --offline {shown}\n{output}")
            engine = active_engine()
            install: list[dict[str, Any]] = []
            if status == 0:
                try:
                    with open(report_path, encoding="utf-8") as f:
                        install = list(json.load(f).get("install", []))
                except (OSError, ValueError) as exc:
                    return _DryRun(1, [], [f"pip wrote no report ({exc})"], output)
        reasons: list[str] = []
        if engine is None:
            return _DryRun(1, [], ["pip-ff could not hook this pip (see -v)"], output)
        if status == 0:
            reasons.extend(self._unusable(engine, install))
            return _DryRun(1 if reasons else 0, install, reasons, output)
        for item in getattr(engine.report, "missing", {}).values():
            local = ", ".join(item.local_versions) or "none"
            reasons.append(
                f"no local copy satisfies {item.project}{item.specifier} (local versions: {local})"
            )
        if engine.store is not None:
            for url in dict.fromkeys(engine.store.damaged):
                self.damaged.add(url)
                reasons.append(f"the recorded copy of {_filename(url)} is damaged")
        if not reasons:
            errors = [
                line[len("ERROR: ") :]
                for line in output.splitlines()
                if line.startswith("ERROR: ") and not line.startswith("ERROR: pip-ff: run ")
            ]
            reasons.append(errors[-1] if errors else f"pip exited with status {status}")
        return _DryRun(status, install, reasons, output)

    def _unusable(self, engine: Any, install: list[dict[str, Any]]) -> list[str]:
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
                reasons.append(f"the recorded copy of {_filename(url)} is damaged")
            else:
                body.close()
        return reasons


def _redacted(args: Sequence[str]) -> list[str]:
    """The arguments with credentials taken out of every URL (an index's password, say)."""
    return [_redact_text(arg) for arg in args]


# A URL inside free text (a requirement, a line of pip's output), up to a space or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _redact_text(text: str) -> str:
    """``text`` with credentials taken out of each URL in it (``name @ https://u:p@host/x``)."""
    if "://" not in text:
        return text
    from pip_offline_fallback import compat

    return _URL_IN_TEXT.sub(lambda match: compat.redact(match.group(0)), text)


def _filename(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _resolved(install: list[dict[str, Any]], name: str | None) -> str:
    for item in install:
        metadata = item.get("metadata", {})
        if name is not None and canonicalize_name(str(metadata.get("name", ""))) == name:
            return f"{metadata.get('name')} {metadata.get('version')}"
    return ""


def _check(
    location: Location, options: argparse.Namespace, run_pip: Callable[[list[str]], int]
) -> int:
    from pip_offline_fallback import compat, inject

    problems = compat.problems()
    if problems:
        sys.stderr.write(f"ERROR: pip-ff: can't check offline: {problems[0]}\n")
        return EXIT_FAILED
    pip_options: list[str] = list(getattr(options, "pip_options", None) or [])
    reqs: list[_Req] = [_Req(r, r, _name_of(r)) for r in options.requirements]
    per_file: list[tuple[list[str], list[_Req]]] = []
    for path in options.files:
        try:
            per_file.append(read_requirements(path))
        except OSError as exc:
            raise UsageError(f"can't read {path}: {exc}") from None
    if not reqs and not any(found for _, found in per_file):
        raise UsageError("give requirements to check (REQ ... or -r FILE)")

    checker = _Checker(location, pip_options, options.verbose, run_pip)
    started = time.monotonic()
    try:
        together_args = [a for path in options.files for a in ("-r", path)] + options.requirements
        together = checker.run(together_args)
        if not together.hooked:
            sys.stderr.write("ERROR: pip-ff: can't hook this pip, so it can't check offline\n")
            return EXIT_FAILED
        rows: list[_Row] = []
        if together.status == 0:
            for req in [*reqs, *(r for _, found in per_file for r in found)]:
                resolved = _resolved(together.install, req.name)
                rows.append(_Row(_redact_text(req.text), True, [resolved]))
        else:
            with tempfile.TemporaryDirectory(prefix="pipff-check-") as tmp:
                single: list[tuple[_Req, list[str]]] = [(r, [r.line]) for r in reqs]
                for i, (global_lines, found) in enumerate(per_file):
                    for j, req in enumerate(found):
                        path = os.path.join(tmp, f"req-{i}-{j}.txt")
                        with open(path, "w", encoding="utf-8") as f:
                            f.write("\n".join([*global_lines, req.line]) + "\n")
                        single.append((req, ["-r", path]))
                for req, args in single:
                    alone = checker.run(args)
                    detail = (
                        [_resolved(alone.install, req.name)] if alone.status == 0 else alone.reasons
                    )
                    rows.append(_Row(_redact_text(req.text), alone.status == 0, detail))
            if all(row.ok for row in rows):
                rows.append(_Row("(all together)", False, together.reasons))
    finally:
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
        _write(json.dumps(data, indent=2, sort_keys=True))
        return EXIT_OK if ok else EXIT_FAILED
    table = [["requirement", "offline", "detail"]]
    for row in rows:
        details = [d for d in row.detail if d] or [""]
        table.append([row.requirement, "yes" if row.ok else "NO", details[0]])
        table.extend(["", "", more] for more in details[1:])
    _table(table)
    can = sum(1 for r in rows if r.ok and r.requirement != "(all together)")
    cannot = sum(1 for r in rows if not r.ok and r.requirement != "(all together)")
    _write()
    if ok:
        names = ", ".join(
            f"{i.get('metadata', {}).get('name')} {i.get('metadata', {}).get('version')}"
            for i in together.install
        )
        _write(f"All {can} can be installed offline (would install: {names or 'nothing'}).")
    elif cannot:
        _write(f"{can} can be installed offline; {cannot} can't.")
    else:
        _write("Each can be installed offline alone, but not all together.")
    if checker.damaged:
        _write(
            f"Damaged records: {len(checker.damaged)} (`pip-ff store prune --damaged` removes "
            "them)."
        )
    _write(f"Checked against {location.store} in {elapsed:.1f} s.")
    return EXIT_OK if ok else EXIT_FAILED
