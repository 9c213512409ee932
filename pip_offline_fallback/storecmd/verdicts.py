"""The verdicts of ``pip-ff store check``: one row per requirement, from the one dry run.

When the run succeeded, each requirement's row says what it resolved to. When it failed, each
is judged by the finder pip built for the run, asked in this process with the run's fallback
engine still in place (offline, it offers only local candidates): no second pip run. What the
run said that no requirement's row says gets a row of its own, ``(all together)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pip_offline_fallback.compat.vendored import canonicalize_name

if TYPE_CHECKING:
    from pip_offline_fallback.compat.reqfile import InstallCommandLine, Requirement
    from pip_offline_fallback.engine import Engine


@dataclass(frozen=True)
class Reason:
    """Why the run failed, in one line."""

    text: str
    project: str | None = None  # the project no local copy satisfies
    generic: bool = False  # only pip's last error line: nothing more precise was known


@dataclass
class DryRun:
    status: int
    install: list[dict[str, Any]]
    reasons: list[Reason]
    output: str
    hooked: bool = True


@dataclass
class Row:
    requirement: str
    ok: bool
    detail: list[str]


def redacted(args: Sequence[str]) -> list[str]:
    """The arguments with credentials taken out of every URL (an index's password, say)."""
    return [redact_text(arg) for arg in args]


# A URL inside free text (a requirement, a line of pip's output), up to a space or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_text(text: str) -> str:
    """``text`` with credentials taken out of each URL in it (``name @ https://u:p@host/x``)."""
    if "://" not in text:
        return text
    from pip_offline_fallback import compat

    return _URL_IN_TEXT.sub(lambda match: compat.redact(match.group(0)), text)


def filename(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def resolved(install: list[dict[str, Any]], name: str | None) -> str:
    for item in install:
        metadata = item.get("metadata", {})
        if name is not None and canonicalize_name(str(metadata.get("name", ""))) == name:
            return f"{metadata.get('name')} {metadata.get('version')}"
    return ""


TOGETHER = "(all together)"  # the row for what the run said that no requirement's row says
_NOT_HERE = "markers don't match this environment"  # pip ignores such a requirement


def installed_row(requirement: Requirement, install: list[dict[str, Any]]) -> Row:
    """A requirement of a run that succeeded: what it resolved to."""
    detail = resolved(install, requirement.name) if requirement.applies else _NOT_HERE
    return Row(redact_text(requirement.text), True, [detail])


def failed_rows(plan: InstallCommandLine, together: DryRun, damaged: set[str]) -> list[Row]:
    """A run that failed: each requirement judged by the finder pip built for the run, in this
    process, with the run's fallback engine still in place (offline: it offers only local
    candidates). No second pip run: a requirement whose own candidate is local counts as one
    that can be had, and what the run said besides goes in a row of its own."""
    from pip_offline_fallback.running import active_engine

    engine = active_engine()
    rows = []
    if engine is not None:
        # The finder hooks count a version whose metadata alone is local as available when no
        # pip command runs (pip-compile needs no more); an install needs the file.
        engine.commands_running += 1
    try:
        for requirement in plan.requirements:
            rows.append(judge(plan, requirement, engine, damaged))
    finally:
        if engine is not None:
            engine.commands_running -= 1
    named = {r.name for r in plan.requirements if r.name}
    said = {detail for row in rows for detail in row.detail}
    if all(row.ok for row in rows):
        leftover = [reason.text for reason in together.reasons]
    else:
        leftover = [
            reason.text
            for reason in together.reasons
            if not reason.generic and reason.project not in named and reason.text not in said
        ]
    if leftover:
        rows.append(Row(TOGETHER, False, leftover))
    return rows


def judge(
    plan: InstallCommandLine, requirement: Requirement, engine: Engine | None, damaged: set[str]
) -> Row:
    from pip_offline_fallback import compat

    text = redact_text(requirement.text)
    if not requirement.applies:
        return Row(text, True, [_NOT_HERE])
    if requirement.link is not None:  # a URL, a path, an editable: no finder involved
        link = requirement.link
        if engine is not None and engine.available(plan.finder, link, requirement.name or ""):
            return Row(text, True, [""])
        return Row(text, False, [f"no local copy of {compat.redact(str(link.url))}"])
    candidate = plan.best(requirement)
    if candidate.version is None:
        from pip_offline_fallback.finder import excluded_versions

        excluded = excluded_versions(plan.finder, requirement.name or "")
        local = ", ".join([*candidate.versions, *excluded]) or "none"
        wanted = f"{requirement.name}{requirement.specifier}"
        return Row(text, False, [f"no local copy satisfies {wanted} (local versions: {local})"])
    if candidate.url in damaged:
        return Row(text, False, [f"the recorded copy of {filename(candidate.url)} is damaged"])
    return Row(text, True, [f"{requirement.name} {candidate.version}"])
