"""pip-ff's main job, end to end, on this machine only: ``python -m tests.demo`` from the repo root.

1. builds a few distributions and serves them from an index on 127.0.0.1;
2. installs them with pip-ff into a fresh virtual environment (pip-ff records what it receives);
3. stops the index;
4. shows plain pip failing to install the same thing into a second fresh environment;
5. shows pip-ff installing it into a third, from local sources, with the same versions.

Set-up (once): wheels of pip and of this repository are prepared under
``.pytest_cache/pipff-wheels`` (this step may use the network to fetch pip's wheels).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from testbed import (
    IndexServer,
    ToolWheels,
    Venv,
    clone_venv,
    isolated_env,
    make_template,
    standard_projects,
)

REQUIREMENTS = ["pipff-alpha", "pipff-beta[fast]", "pipff-sdistonly"]


def _install(venv: Venv, module: str, index_url: str, env: dict[str, str]) -> tuple[int, str]:
    """``python -m MODULE install ...`` with stderr merged in, as a terminal would show it."""
    argv = [str(venv.python), "-m", module, "install", "-i", index_url, *REQUIREMENTS]
    done = subprocess.run(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=venv.path.parent,  # not the repo root: its pip_offline_fallback/ would shadow the wheel
    )  # fmt: skip
    return done.returncode, done.stdout


def _show(title: str, output: str, last: int) -> None:
    """The last ``last`` lines of ``output``, and every pip-ff line before them (its warning)."""
    print(f"\n--- {title}")
    lines = output.strip().splitlines()
    cut = max(0, len(lines) - last)
    kept = [line for line in lines[:cut] if "pip-ff:" in line]
    if cut > len(kept):
        print(f"    [... {cut - len(kept)} lines of pip's output]")
    for line in kept + lines[cut:]:
        print(f"    {line}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pipff-demo-") as tmp:
        root = Path(tmp)
        print("Preparing: wheels of pip and pip-ff; a template venv ...")
        template = make_template(root / "template", ToolWheels.locate())
        projects = standard_projects(root / "dists")
        env = isolated_env(root / "cache")
        index = IndexServer(projects.dist_dir, yanked=projects.yanked).start()
        print(f"Index on {index.url}; requirements: {' '.join(REQUIREMENTS)}")

        online = clone_venv(template, root / "online")
        status, output = _install(online, "pip_offline_fallback", index.url, env)
        _show(f"1. pip-ff install, index up: exit status {status}", output, 6)
        if status != 0:
            return 1

        index.stop()
        print("\n--- 2. the index is stopped: connections to it are refused now")

        plain = clone_venv(template, root / "plain")
        status, output = _install(plain, "pip", index.url, env)
        _show(f"3. plain pip install, index down: exit status {status}", output, 3)

        offline = clone_venv(template, root / "offline")
        status, output = _install(offline, "pip_offline_fallback", index.url, env)
        _show(f"4. pip-ff install, index down: exit status {status}", output, 8)

        same = offline.installed() == online.installed()
        print(f"\nSame distributions installed online and offline: {same}")
        return 0 if status == 0 and same else 1


if __name__ == "__main__":
    sys.exit(main())
