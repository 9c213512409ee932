"""pip-ff's main job, end to end, on this machine only: ``python -m tests.demo`` from the repo root.

1. builds a few distributions and serves them from an index on 127.0.0.1;
2. installs them with pip-ff into a fresh virtual environment (pip-ff records what it receives);
3. stops the index;
4. shows plain pip failing to install the same thing into a second fresh environment;
5. shows pip-ff installing it into a third, from local sources, with the same versions.

Set-up (once): wheels of pip, packaging, filelock and of this repository are prepared under
``.pytest_cache/pipff-wheels`` (this step may use the network to fetch pip's wheels).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.testbed import (
    IndexServer,
    ToolWheels,
    clone_venv,
    isolated_env,
    make_template,
    standard_projects,
)

REQUIREMENTS = ["pipff-alpha", "pipff-beta[fast]", "pipff-sdistonly"]


def _show(title: str, output: str, last: int = 12) -> None:
    print(f"\n--- {title}")
    lines = output.strip().splitlines()
    if len(lines) > last:
        print(f"    [... {len(lines) - last} lines]")
    for line in lines[-last:]:
        print(f"    {line}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pipff-demo-") as tmp:
        root = Path(tmp)
        print("Preparing: wheels of pip, packaging, filelock and pip-ff; a template venv ...")
        template = make_template(root / "template", ToolWheels.locate())
        projects = standard_projects(root / "dists")
        env = isolated_env(root / "cache")
        index = IndexServer(projects.dist_dir, yanked=projects.yanked).start()
        print(f"Index on {index.url}; requirements: {' '.join(REQUIREMENTS)}")

        online = clone_venv(template, root / "online")
        result = online.pipff("install", "-i", index.url, *REQUIREMENTS, env=env)
        _show("1. pip-ff install, index up", result.output)
        if result.returncode != 0:
            return 1

        index.stop()
        print("\n--- 2. the index is stopped: connections to it are refused now")

        plain = clone_venv(template, root / "plain")
        result = plain.pip("install", "-i", index.url, *REQUIREMENTS, env=env)
        _show(
            f"3. plain pip install, index down: exit status {result.returncode}", result.output, 4
        )

        offline = clone_venv(template, root / "offline")
        result = offline.pipff("install", "-i", index.url, *REQUIREMENTS, env=env)
        _show(f"4. pip-ff install, index down: exit status {result.returncode}", result.output)

        same = offline.installed() == online.installed()
        print(f"\nSame distributions installed online and offline: {same}")
        return 0 if result.returncode == 0 and same else 1


if __name__ == "__main__":
    sys.exit(main())
