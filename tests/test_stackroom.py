"""A pip command runs on a frame-stack chunk of its own (stackroom.py, issue 36): pip-ff's own
frames must not put pip's imports and loops on a chunk's end, where CPython 3.11+ maps and
unmaps 16 KiB on every call that crosses it (thousands of times in one install, measured)."""

from __future__ import annotations

import sys
from types import FrameType

import pytest

from pip_offline_fallback import cli, stackroom


def test_call_passes_arguments_and_result() -> None:
    assert stackroom.call(lambda a, b: (a, b), 1, "x") == (1, "x")


def test_a_command_runs_in_the_roomy_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    callers: list[FrameType] = []

    def run_command(settings: object, pip_args: list[str]) -> int:
        callers.append(sys._getframe(1))
        return 0

    monkeypatch.setattr(cli, "_run_command", run_command)
    assert cli.main(["--no-fallback", "list"]) == 0
    assert [c.f_code.co_name for c in callers] == ["_room"]
    if sys.version_info >= (3, 11) and sys.implementation.name == "cpython":
        # Larger than a first chunk (16 KiB): CPython maps a chunk of its own for the frame.
        assert callers[0].f_code.co_stacksize * 8 > 16 * 1024
