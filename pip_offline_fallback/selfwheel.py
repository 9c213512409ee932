"""pip-ff's own wheel, rebuilt offline from the installed copy.

Tool integrations (the tox plugin) put pip-ff into environments that a tool creates, and must do
so offline: the index may be down at exactly that moment. The installed copy next to the tool is
always there, so its files are packed back into a wheel: the files its RECORD lists inside
site-packages (the start-up hook's ``.pth`` and ``.start`` included), a fresh RECORD, and none of
the install-time files (scripts, byte code, INSTALLER, REQUESTED, direct_url.json); pip writes
those again when it installs the wheel.

Only pure-Python distributions (``Root-Is-Purelib: true``) installed from a wheel can be packed;
an editable install cannot (its files live in the source tree).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import zipfile
from pathlib import Path, PurePosixPath

logger = logging.getLogger(__name__)

PROJECT = "pip-offline-fallback"
# pip-ff requires nothing but pip, which every environment it goes into has (its pip installs
# it): no copy of a requirement chosen for the tool's own Python has to suit the env's.

# Written by the installer, not part of the wheel; pip makes them again at install time.
_INSTALL_TIME_FILES = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed: the same installed copy always packs to the same bytes


class NotPackable(RuntimeError):
    """The installed distribution can't be packed back into a wheel (the message says why)."""


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _escaped(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def requires_python(name: str) -> str | None:
    """The installed distribution's ``Requires-Python``, or None when it states none."""
    value = importlib.metadata.distribution(name).metadata.get("Requires-Python")
    return str(value) if value else None


def version(name: str) -> str:
    return importlib.metadata.distribution(name).version


def pack_installed(name: str, dest: Path) -> Path:
    """Write a wheel of the installed distribution ``name`` into ``dest``; return its path.

    An existing wheel of the same name and version in ``dest`` is reused (the installed copy
    does not change under one version, except in a development checkout, which is editable and
    not packable anyway). Raises :class:`NotPackable` when the copy can't be packed.
    """
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError as exc:
        raise NotPackable(f"{name} is not installed") from exc
    wheel_info = dist.read_text("WHEEL") or ""
    if not re.search(r"^Root-Is-Purelib:\s*true\s*$", wheel_info, re.MULTILINE | re.IGNORECASE):
        raise NotPackable(f"{name} {dist.version} is not a pure-Python wheel install")
    tags = re.findall(r"^Tag:\s*(\S+)\s*$", wheel_info, re.MULTILINE)
    if not tags or any(not tag.endswith("-none-any") for tag in tags):
        raise NotPackable(f"{name} {dist.version} has platform tags {tags}")
    direct_url = dist.read_text("direct_url.json")
    if direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"):
        raise NotPackable(f"{name} {dist.version} is an editable install")
    files = dist.files
    if not files:
        raise NotPackable(f"{name} {dist.version} has no RECORD")

    dist_info = f"{_escaped(dist.metadata['Name'] or name)}-{dist.version}.dist-info"
    entries: dict[str, bytes] = {}
    for relative in files:
        path = PurePosixPath(str(relative).replace(os.sep, "/"))
        parts = path.parts
        if not parts or parts[0] == ".." or "__pycache__" in parts or path.suffix == ".pyc":
            continue  # scripts (outside site-packages) and byte code: pip makes them again
        if parts[0].endswith(".dist-info"):
            if parts[-1] in _INSTALL_TIME_FILES:
                continue
            path = PurePosixPath(dist_info, *parts[1:])
        located = Path(str(dist.locate_file(relative)))
        try:
            entries[str(path)] = located.read_bytes()
        except OSError as exc:
            raise NotPackable(f"{name} {dist.version}: {located} can't be read ({exc})") from exc
    if not any(p.startswith(dist_info + "/") for p in entries) or len(entries) < 3:
        raise NotPackable(f"{name} {dist.version}: the installed files are incomplete")

    tag = ".".join(sorted({t.split("-")[0] for t in tags})) + "-none-any"
    target = Path(dest) / f"{_escaped(name)}-{dist.version}-{tag}.whl"
    if target.is_file():
        return target
    record_path = f"{dist_info}/RECORD"
    record = "".join(
        f"{p},{_record_hash(data)},{len(data)}\n" for p, data in sorted(entries.items())
    )
    entries[record_path] = (record + f"{record_path},,\n").encode("utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name, then a rename: a concurrent tox run never installs half a wheel.
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in sorted(entries):
            info = zipfile.ZipInfo(member, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[member])
    os.replace(staging, target)
    logger.debug("packed the installed %s %s into %s", name, dist.version, target)
    return target


def _fits(requires: str | None, python: tuple[int, int, int]) -> bool:
    if not requires:
        return True
    from pip_offline_fallback.compat.vendored import InvalidSpecifier, SpecifierSet

    try:
        return SpecifierSet(requires).contains(".".join(map(str, python)))
    except InvalidSpecifier:
        return True  # pip decides; an unreadable Requires-Python is not ours to judge


def wheels_for(python: tuple[int, int, int], dest: Path) -> list[Path]:
    """pip-ff's wheel, packed into ``dest``, for an env of ``python``.

    Raises :class:`NotPackable` when the copy can't be packed or doesn't support that Python.
    """
    names = (PROJECT,)
    unfit = [
        f"{name} {version(name)} (Requires-Python {requires_python(name)})"
        for name in names
        if not _fits(requires_python(name), python)
    ]
    if unfit:
        shown = ".".join(map(str, python))
        raise NotPackable(f"Python {shown} can't use the installed {', '.join(unfit)}")
    return [pack_installed(name, dest) for name in names]


def install_command(python: str, wheels: list[Path]) -> list[str]:
    """``python -m pip install`` of ``wheels``: local files only, no dependencies, and no pip
    configuration or ``PIP_*`` variables (``--isolated``): the index may be down right now.

    ``--no-compile``: pip's byte-compiling was most of this step's time (3.3 to 3.9 s of it,
    1.4 to 1.7 s without, measured on the development machine), once per env (issue 23). The
    env loses next to nothing: Python compiles a module on its first import (all of pip-ff's
    modules take about 0.1 s of CPU) and writes the ``.pyc`` beside it then, and pip's uninstall
    removes those files as it removes compiled ones; under ``PYTHONDONTWRITEBYTECODE`` each run
    compiles the modules it imports again."""
    return [
        python,
        "-I",
        "-m",
        "pip",
        "--isolated",
        "--disable-pip-version-check",
        "--no-cache-dir",
        "install",
        "--no-index",
        "--no-deps",
        "--no-warn-script-location",
        "--no-compile",
        "--quiet",
        *map(str, wheels),
    ]
