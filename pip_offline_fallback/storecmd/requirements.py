"""A reader of requirements files, for ``pip-ff store check``: which requirement can't be had."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name


@dataclass
class _Req:
    text: str  # as written (shown)
    line: str  # for a requirements file given to pip (per-line options dropped)
    name: str | None  # canonical project name, when it has one


def _strip_comment(line: str) -> str:
    for i, char in enumerate(line):
        if char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip()
    return line.strip()


def _logical_lines(text: str) -> Iterator[str]:
    """pip's reading of a requirements file: backslash continuations joined, comments gone."""
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\") and not raw.lstrip().startswith("#"):
            pending += raw[:-1] + " "
            continue
        line = _strip_comment(pending + raw)
        pending = ""
        if line:
            yield line
    if pending.strip():
        yield _strip_comment(pending)


def _local_path(value: str, base: str) -> str:
    """A relative path as the requirements file meant it (relative to the file)."""
    if "://" in value or os.path.isabs(value):
        return value
    candidate = os.path.join(base, value)
    if value.startswith(".") or os.path.exists(candidate):
        return os.path.abspath(candidate)
    return value


def _option(tokens: list[str]) -> tuple[str, str | None]:
    name, eq, value = tokens[0].partition("=")
    if eq:
        return name, value
    if name.startswith("-") and not name.startswith("--") and len(name) > 2:
        return name[:2], name[2:]  # -rfile
    return name, tokens[1] if len(tokens) > 1 else None


def read_requirements(path: str, seen: set[str] | None = None) -> tuple[list[str], list[_Req]]:
    """The option lines and the requirements of a requirements file (``-r`` files included).

    Only for telling which requirement can't be had: the verdict on the whole file is pip's own
    reading of it. Hash options are dropped (alone, a line would not satisfy hash-checking mode).
    """
    seen = set() if seen is None else seen
    real = os.path.realpath(path)
    if real in seen:
        return [], []
    seen.add(real)
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as f:
        text = f.read()
    global_lines: list[str] = []
    found: list[_Req] = []
    for line in _logical_lines(text):
        try:
            tokens = shlex.split(line)
        except ValueError:
            tokens = line.split()
        if not tokens:
            continue
        if tokens[0].startswith("-"):
            name, value = _option(tokens)
            if name in ("-r", "--requirement") and value:
                more_lines, more = read_requirements(_local_path(value, base), seen)
                global_lines.extend(more_lines)
                found.extend(more)
            elif name in ("-e", "--editable") and value:
                found.append(_Req(line, f"-e {_local_path(value, base)}", None))
            elif name in ("-c", "--constraint", "-f", "--find-links") and value:
                global_lines.append(f"{name} {_local_path(value, base)}")
            elif name not in ("--require-hashes", "--hash"):
                global_lines.append(line)
            continue
        words = line.split()
        requirement = " ".join(w for w in _until_option(words))
        found.append(_Req(requirement, _local_path(requirement, base), _name_of(requirement)))
    return global_lines, found


def _until_option(words: list[str]) -> Iterator[str]:
    for word in words:
        if word.startswith("-"):
            return
        yield word


def _name_of(requirement: str) -> str | None:
    try:
        return str(canonicalize_name(Requirement(requirement).name))
    except InvalidRequirement:
        return None
