"""What children inherit is built in one place, and only while a command runs (issue 16).

``pip-ff`` hands its settings and what a run learnt (the hosts found down) to the pips it starts
through the environment; afterwards the process's environment must be as it was, so that a
second in-process run starts afresh, as a second process would.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from testbed import IndexServer

_TWO_RUNS = """
import json, os, sys
from pip_offline_fallback import cli
before = dict(os.environ)
args = ["install", "--dry-run", "--no-deps", "-i", sys.argv[1], "pipff-alpha"]
def run(n):
    status = cli.main(args)
    same = dict(os.environ) == before
    print(json.dumps({"run": n, "status": status, "env_as_before": same}), flush=True)
run(1)
sys.stdin.readline()
run(2)
"""


def _verdicts(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"run"')]


def test_two_in_process_runs_behave_like_two_processes(
    venv: Any, index: IndexServer, env: dict[str, str]
) -> None:
    index.stop()  # the first run finds the index down (refused): nothing local, it fails
    child = subprocess.Popen(
        [str(venv.python), "-c", _TWO_RUNS, index.url],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    lines = []
    for line in child.stdout:
        lines.append(line)
        if line.startswith('{"run": 1'):
            break
    index.start()  # the same port answers again
    child.stdin.write("go\n")
    child.stdin.flush()
    rest, _ = child.communicate(timeout=120)
    output = "".join(lines) + rest
    first, second = _verdicts(output)
    assert first["status"] != 0, output
    assert "is unreachable" in output, output
    # The host found down stays this run's: the second run asks the index, and succeeds.
    assert second["status"] == 0, output
    assert first["env_as_before"] and second["env_as_before"], output
