"""Run the fault-injection matrix (tests/test_faults.py) and the "must not fall back" cases
(tests/test_trust.py), and write docs/fault-matrix.md from them.

    python -m tests.fault_matrix [--python PY]... [--slow] [--output FILE] [--junit XML]...

For each interpreter given (default: this one, each with the pip it has) the matrix runs as
``PY -m pytest tests/test_faults.py -k test_matrix -n 2`` with a JUnit XML report; every cell
records what it observed (``record_property("pipff_cell", ...)``), and the report says whether it
passed, failed or is a known bug (a strict xfail). ``--slow`` adds the slow cells
(``PIPFF_SLOW=1``); ``--junit`` reads reports of earlier runs instead of running pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.test_faults import OUTAGE_TEXT, Cell, matrix_cells

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "docs" / "fault-matrix.md"
NOT_RUN = "not run"
# Flaky-but-up indexes where plain pip succeeds: pip-ff must install exactly what plain pip
# installs, and say nothing (tests/test_trust.py; test id -> row).
MUST_NOT_FALL_BACK = {
    "test_a_glitch_online_gives_plain_pips_result[reset]": "one reset on a project page",
    "test_a_glitch_online_gives_plain_pips_result[503]": "one 503 on a project page",
    "test_a_glitch_online_gives_plain_pips_result[slow-first-byte]": (
        "first byte after 3 s (connect deadline 1 s)"
    ),
    "test_an_explicit_timeout_is_never_shortened": (
        "proxy CONNECT takes 3 s, --timeout 20 (connect deadline 1 s)"
    ),
    "test_a_slow_link_that_works_is_not_an_outage": (
        "every connect takes ~3 s, as seen before (slow link; connect deadline 2 s)"
    ),
    "test_under_the_strict_setting_a_storm_fails_as_in_pip[503-option]": (
        "every request of a project page answers 503, --strict-outage: pip fails, so must pip-ff"
    ),
    "test_under_the_strict_setting_a_storm_fails_as_in_pip[429-variable]": (
        "every request of a project page answers 429, PIPFF_STRICT_OUTAGE=1: pip fails, so must"
        " pip-ff"
    ),
    "test_under_the_strict_setting_a_failed_certificate_fails_as_in_pip": (
        "the certificate fails verification, --strict-outage: pip fails, so must pip-ff"
    ),
}


@dataclass(frozen=True)
class Outcome:
    pip: str
    outcome: str  # passed, failed, xfail, skipped
    observed: str
    seconds: float
    reason: str


def run_pytest(python: str, slow: bool, junit: Path) -> None:
    # PIPFF_FAULT_MATRIX: the 503 cell with pip's default retries (CI runs it with fewer).
    env = dict(os.environ, PIPFF_SLOW="1" if slow else "0", PIPFF_FAULT_MATRIX="1")
    command = [
        python, "-m", "pytest", "tests/test_faults.py", "tests/test_trust.py",
        "tests/test_outage_rule.py", "-k",
        "test_matrix or glitch or explicit_timeout or slow_link or strict_setting_a_",
        "-n", "2", "-q",
        "-p", "no:cacheprovider", f"--junitxml={junit}", "-o", "junit_family=xunit1",
    ]  # fmt: skip
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=REPO, env=env, check=False)


def read_junit(path: Path) -> dict[str, Outcome]:
    """Test id (``refused-pins-auto-local``) -> what that cell did."""
    found: dict[str, Outcome] = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        if name in MUST_NOT_FALL_BACK:
            found[name] = _plain(case)
            continue
        if not name.startswith("test_matrix["):
            continue
        test_id = name[len("test_matrix[") : -1]
        cell = {}
        for prop in case.iter("property"):
            if prop.get("name") == "pipff_cell":
                cell = json.loads(prop.get("value", "{}"))
        outcome, reason = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, reason = "failed", child.get("message", "")
            elif child.tag == "skipped":
                xfail = child.get("type") == "pytest.xfail"
                outcome = "xfail" if xfail else "skipped"
                reason = child.get("message", "")
        if outcome == "skipped" and not cell:
            continue
        found[test_id] = Outcome(
            pip=str(cell.get("pip", "?")),
            outcome=outcome,
            observed=str(cell.get("observed", "")),
            seconds=float(cell.get("seconds", 0.0)),
            reason=reason,
        )
    return found


def _plain(case: ElementTree.Element) -> Outcome:
    failed = any(child.tag in ("failure", "error") for child in case)
    skipped = any(child.tag == "skipped" for child in case)
    outcome = "failed" if failed else "skipped" if skipped else "passed"
    return Outcome("?", outcome, "", float(case.get("time", 0.0)), "")


def _text(outcome: Outcome | None, local: bool, bugs: list[str]) -> str:
    if outcome is None or outcome.outcome == "skipped":
        return NOT_RUN
    seconds = f"{outcome.seconds:.1f} s"
    if outcome.outcome == "passed":
        return f"✅ {'same versions' if local else 'clear error'}, {seconds}"
    if outcome.outcome == "xfail":
        reason = outcome.reason.removeprefix("reason: ")
        if reason not in bugs:
            bugs.append(reason)
        return f"❌ known bug [{bugs.index(reason) + 1}]: {_short(outcome.observed)}"
    return f"❌ FAILED: {_short(outcome.observed)}"


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render(runs: list[dict[str, Outcome]]) -> str:
    pips = [next((o.pip for o in run.values() if o.pip != "?"), "?") for run in runs]
    header = ["Outage", "Workload", "Mode"]
    for pip in pips:
        header += [f"pip {pip}: files local", f"pip {pip}: nothing local"]
    lines = [
        "# Fault-injection matrix",
        "",
        "Generated by `python -m tests.fault_matrix` from the results of `tests/test_faults.py`"
        " (do not edit by hand). Each row is one way the index goes away, one workload and one"
        " mode. *Files local*: a warm online run of every workload came first; the cell must"
        " install the same versions as that online run. *Nothing local*: an empty cache; the"
        " cell must fail with pip-ff's clear error (`ERROR: pip-ff: ... no local copy ...`), a"
        " non-zero exit and an untouched environment (where the index itself answered, pip's own"
        " error about the download). Times are the pip-ff run alone. Cells with nothing local run"
        " with `--retries 0 --timeout 3`.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    bugs: list[str] = []
    seen: set[Cell] = set()
    for cell, _local in matrix_cells():
        if cell in seen:
            continue
        seen.add(cell)
        row = [OUTAGE_TEXT.get(cell.outage, cell.outage), cell.workload, cell.mode]
        texts = []
        for run in runs:
            for local in (True, False):
                test_id = f"{cell.id}-{'local' if local else 'nothing-local'}"
                texts.append(_text(run.get(test_id), local, bugs))
        if all(text == NOT_RUN for text in texts):
            continue  # not run (a slow cell without --slow)
        lines.append("| " + " | ".join(row + [t.replace("|", "\\|") for t in texts]) + " |")
    if bugs:
        lines += ["", "Known bugs (strict xfails until fixed):", ""]
        lines += [f"{n}. {reason}" for n, reason in enumerate(bugs, 1)]
    lines += _must_not_fall_back(runs, pips)
    return "\n".join(lines) + "\n"


def _must_not_fall_back(runs: list[dict[str, Outcome]], pips: list[str]) -> list[str]:
    header = ["Flaky but up", *(f"pip {pip}" for pip in pips)]
    lines = [
        "",
        "## Must not fall back",
        "",
        "The index answers, badly once, on a host pip-ff has recorded from (alpha 1.0 recorded,"
        " 2.0 published since). Plain pip retries and installs 2.0; each cell passes when pip-ff"
        " installs exactly what plain pip installs and prints no pip-ff line"
        " (`tests/test_trust.py`). The slow link and the strict setting"
        " (`tests/test_outage_rule.py`): the index's route connects only after ~3 s, as it did"
        " before, and pip-ff must install what plain pip installs; under the strict setting an"
        " index that answers badly for good (or a certificate that fails verification) must fail"
        " as plain pip fails, not fall back. Times are the whole test (pip and pip-ff runs).",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for test_id, row in MUST_NOT_FALL_BACK.items():
        texts = []
        for run in runs:
            outcome = run.get(test_id)
            if outcome is None or outcome.outcome == "skipped":
                texts.append(NOT_RUN)
            elif outcome.outcome == "passed":
                texts.append(f"✅ same as plain pip, {outcome.seconds:.1f} s")
            else:
                texts.append("❌ FAILED")
        lines.append("| " + " | ".join([row, *texts]) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--python", action="append", default=[], help="interpreter (repeatable)")
    parser.add_argument("--slow", action="store_true", help="include the slow cells")
    parser.add_argument("--junit", action="append", default=[], type=Path, help="reuse a report")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    reports: list[Path] = list(args.junit)
    with tempfile.TemporaryDirectory(prefix="pipff-matrix-") as tmp:
        if not reports:
            for n, python in enumerate(args.python or [sys.executable]):
                junit = Path(tmp) / f"matrix-{n}.xml"
                run_pytest(python, args.slow, junit)
                reports.append(junit)
        runs = [read_junit(path) for path in reports if path.is_file()]
    if not runs:
        print("no results", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(runs), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
