"""Rewrite requirements/lint.txt from what the bump-lint env installed (`tox -e bump-lint`)."""

import pathlib
import subprocess
import sys

PINS = pathlib.Path(__file__).with_name("lint.txt")

header = [line for line in PINS.read_text().splitlines(keepends=True) if line.startswith("#")]
frozen = subprocess.run(
    [
        sys.executable,
        "-m",
        "pip",
        "freeze",
        "--all",
        "--exclude",
        "setuptools",
        "--exclude",
        "wheel",
    ],
    capture_output=True,
    text=True,
    check=True,
).stdout
PINS.write_text("".join(header) + frozen)
print(f"{PINS}: {len(frozen.splitlines())} pins; now run `tox -e lint`")
