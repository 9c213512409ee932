"""Distributions built at test time: no network, no setuptools, only the standard library.

Wheels are written with :mod:`zipfile` (``WHEEL``, ``METADATA`` 2.1, ``RECORD`` with sha256
entries); sdists are ``.tar.gz`` files whose ``pyproject.toml`` names a PEP 517 backend that is
itself a wheel on the test index (``pipff-tinybackend``), so building one offline proves that
pip's build-isolation subprocess got its backend from local sources.

Every archive is deterministic (fixed timestamps, sorted entries): building the same project twice
gives byte-identical files, hence identical hashes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "TINYBACKEND_NAME",
    "TINYBACKEND_SOURCE",
    "ProjectSet",
    "build_sdist",
    "build_tinybackend_wheel",
    "build_wheel",
    "canonical_name",
    "escaped_name",
    "metadata_text",
    "parse_filename",
    "standard_projects",
]

TINYBACKEND_NAME = "pipff-tinybackend"
TINYBACKEND_VERSION = "1.0"

_ZIP_DATE = (2020, 1, 1, 0, 0, 0)
_TAR_MTIME = 1577836800  # 2020-01-01T00:00:00Z
_NAME_RE = re.compile(r"[-_.]+")


def canonical_name(name: str) -> str:
    """PEP 503 normalised project name (``Foo_Bar.baz`` -> ``foo-bar-baz``)."""
    return _NAME_RE.sub("-", name).lower()


def escaped_name(name: str) -> str:
    """The project name as it appears in wheel and sdist file names (``foo-bar`` -> ``foo_bar``)."""
    return _NAME_RE.sub("_", name).lower()


def parse_filename(filename: str) -> tuple[str, str, str] | None:
    """``(canonical name, version, kind)`` of a distribution file name, kind ``wheel``/``sdist``.

    ``None`` for anything that is not a distribution (the index skips those).
    """
    if filename.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        if len(parts) not in (5, 6):
            return None
        return canonical_name(parts[0]), parts[1], "wheel"
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            if "-" not in stem:
                return None
            name, version = stem.rsplit("-", 1)
            return canonical_name(name), version, "sdist"
    return None


def _with_extra(requirement: str, extra: str) -> str:
    """``req`` -> ``req; extra == "x"``, keeping (and parenthesising) an existing marker."""
    if ";" in requirement:
        req, marker = requirement.split(";", 1)
        return f'{req.strip()}; ({marker.strip()}) and extra == "{extra}"'
    return f'{requirement.strip()}; extra == "{extra}"'


def metadata_text(
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    extras: Mapping[str, Sequence[str]] | None = None,
    requires_python: str | None = None,
) -> str:
    """Core metadata 2.1 (the body of a wheel's ``METADATA`` and of an sdist's ``PKG-INFO``)."""
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: pip-ff test distribution {name} {version}",
    ]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Requires-Dist: {req.strip()}" for req in requires)
    for extra, extra_requires in (extras or {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines.extend(f"Requires-Dist: {_with_extra(req, extra)}" for req in extra_requires)
    return "\n".join(lines) + "\n\n"


def _default_modules(name: str, version: str) -> dict[str, str]:
    return {f"{escaped_name(name)}/__init__.py": f'__version__ = "{version}"\n'}


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a hidden temporary name and rename, so a running index never lists half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _wheel_bytes(name: str, version: str, files: Mapping[str, bytes], metadata: str) -> bytes:
    dist_info = f"{escaped_name(name)}-{version}.dist-info"
    entries: dict[str, bytes] = dict(sorted(files.items()))
    entries[f"{dist_info}/METADATA"] = metadata.encode("utf-8")
    entries[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: pipff-testbed\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    ).encode("ascii")
    record_path = f"{dist_info}/RECORD"
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in entries.items())
    entries[record_path] = (record + f"{record_path},,\n").encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in entries.items():
            info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def build_wheel(
    dest: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    extras: Mapping[str, Sequence[str]] = {},
    requires_python: str | None = None,
    modules: Mapping[str, str] | None = None,
) -> Path:
    """Write a pure-Python ``py3-none-any`` wheel of ``name`` ``version`` into ``dest``.

    ``modules`` maps archive paths to source text; by default the wheel holds
    ``<import_name>/__init__.py`` with ``__version__ = "<version>"``.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    sources = _default_modules(name, version) if modules is None else dict(modules)
    files = {path: text.encode("utf-8") for path, text in sources.items()}
    metadata = metadata_text(
        name, version, requires=requires, extras=extras, requires_python=requires_python
    )
    path = dest / f"{escaped_name(name)}-{version}-py3-none-any.whl"
    _write_atomically(path, _wheel_bytes(name, version, files, metadata))
    return path


def build_sdist(
    dest: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    build_requires: Sequence[str] = (TINYBACKEND_NAME,),
    build_backend: str = "pipff_tinybackend",
    requires_python: str | None = None,
    modules: Mapping[str, str] | None = None,
) -> Path:
    """Write ``<escaped name>-<version>.tar.gz`` into ``dest``.

    The sdist holds ``pyproject.toml`` (``[build-system]`` with ``build_requires`` and
    ``build_backend``), ``PKG-INFO`` (the static metadata the tiny backend copies into the wheel)
    and the modules (by default ``<import_name>/__init__.py`` with ``__version__``).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    base = f"{escaped_name(name)}-{version}"
    requires_toml = ", ".join(f'"{req}"' for req in build_requires)
    pyproject = f'[build-system]\nrequires = [{requires_toml}]\nbuild-backend = "{build_backend}"\n'
    sources = _default_modules(name, version) if modules is None else dict(modules)
    members: dict[str, bytes] = {
        "PKG-INFO": metadata_text(
            name, version, requires=requires, requires_python=requires_python
        ).encode("utf-8"),
        "pyproject.toml": pyproject.encode("utf-8"),
    }
    members.update((path, text.encode("utf-8")) for path, text in sorted(sources.items()))
    buffer = io.BytesIO()
    # mtime=0 in the gzip header keeps the archive byte-for-byte reproducible.
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        directories: set[str] = set()
        for member_path, data in members.items():
            parts = f"{base}/{member_path}".split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in directories:
                    directories.add(directory)
                    dir_info = tarfile.TarInfo(directory)
                    dir_info.type = tarfile.DIRTYPE
                    dir_info.mode = 0o755
                    dir_info.mtime = _TAR_MTIME
                    archive.addfile(dir_info)
            info = tarfile.TarInfo(f"{base}/{member_path}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = _TAR_MTIME
            archive.addfile(info, io.BytesIO(data))
    path = dest / f"{base}.tar.gz"
    _write_atomically(path, _gzip_reproducible(buffer.getvalue()))
    return path


def _gzip_reproducible(data: bytes) -> bytes:
    """Zero the gzip header's mtime (bytes 4-8), which tarfile fills with the current time."""
    if len(data) > 8 and data[:2] == b"\x1f\x8b":
        return data[:4] + b"\x00\x00\x00\x00" + data[8:]
    return data


# The tiny PEP 517 backend. It runs inside pip's build environment, in whatever Python the venv
# has (3.9+), so it uses only the standard library. It reads name, version and dependencies from
# the sdist's PKG-INFO (copied verbatim into the wheel's METADATA) and packs every top-level
# package (a directory with __init__.py) and top-level module.
TINYBACKEND_SOURCE = '''\
"""pipff_tinybackend: a minimal PEP 517 build backend for pip-ff's tests (standard library only).

The project's static metadata is its PKG-INFO (core metadata 2.1), copied verbatim into the
wheel's METADATA. Every top-level package (a directory holding __init__.py) and every top-level
*.py module is packed into a py3-none-any wheel.
"""

import base64
import email.parser
import hashlib
import io
import os
import re
import tarfile
import zipfile

__version__ = "1.0"

_ZIP_DATE = (2020, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__", "build", "dist"}
_SKIP_FILES = {"setup.py"}


def _escape(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def _metadata():
    with open("PKG-INFO", encoding="utf-8") as f:
        text = f.read()
    message = email.parser.Parser().parsestr(text)
    name, version = message["Name"], message["Version"]
    if not name or not version:
        raise RuntimeError("pipff_tinybackend: PKG-INFO lacks Name or Version")
    return text, name, version


def _wheel_info():
    return (
        "Wheel-Version: 1.0\\n"
        "Generator: pipff_tinybackend 1.0\\n"
        "Root-Is-Purelib: true\\n"
        "Tag: py3-none-any\\n"
    )


def _source_files():
    """(archive path, file path) of every file to pack, sorted."""
    found = []
    for entry in sorted(os.listdir(".")):
        if entry.startswith(".") or entry in _SKIP_DIRS:
            continue
        if os.path.isfile(entry) and entry.endswith(".py") and entry not in _SKIP_FILES:
            found.append((entry, entry))
        elif os.path.isdir(entry) and os.path.isfile(os.path.join(entry, "__init__.py")):
            for root, dirs, files in os.walk(entry):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
                for filename in sorted(files):
                    if filename.endswith((".pyc", ".pyo")):
                        continue
                    path = os.path.join(root, filename)
                    found.append((path.replace(os.sep, "/"), path))
    return found


def _record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    text, name, version = _metadata()
    dist_info = "%s-%s.dist-info" % (_escape(name), version)
    target = os.path.join(metadata_directory, dist_info)
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, "METADATA"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(target, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(_wheel_info())
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def _build(wheel_directory, extra_files, sources=True):
    text, name, version = _metadata()
    dist_info = "%s-%s.dist-info" % (_escape(name), version)
    entries = []
    for archive_path, path in _source_files() if sources else []:
        with open(path, "rb") as f:
            entries.append((archive_path, f.read()))
    entries.extend(extra_files)
    entries.append((dist_info + "/METADATA", text.encode("utf-8")))
    entries.append((dist_info + "/WHEEL", _wheel_info().encode("ascii")))
    record_path = dist_info + "/RECORD"
    record = "".join(
        "%s,%s,%d\\n" % (path, _record_hash(data), len(data)) for path, data in entries
    )
    entries.append((record_path, (record + record_path + ",,\\n").encode("utf-8")))
    filename = "%s-%s-py3-none-any.whl" % (_escape(name), version)
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in entries:
            info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return filename


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _build(wheel_directory, [])


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """PEP 660: a wheel holding only a .pth file that puts the source tree on sys.path."""
    _text, name, _version = _metadata()
    pth = (os.path.abspath(".") + "\\n").encode("utf-8")
    return _build(wheel_directory, [("__editable__.%s.pth" % _escape(name), pth)], sources=False)


def build_sdist(sdist_directory, config_settings=None):
    text, name, version = _metadata()
    base = "%s-%s" % (_escape(name), version)
    filename = base + ".tar.gz"
    members = [("PKG-INFO", "PKG-INFO"), ("pyproject.toml", "pyproject.toml")]
    members.extend(_source_files())
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as archive:
        for archive_path, path in members:
            if os.path.isfile(path):
                archive.add(path, arcname=base + "/" + archive_path)
    return filename
'''


def build_tinybackend_wheel(dest: Path) -> Path:
    """Wheel of ``pipff-tinybackend`` 1.0: module ``pipff_tinybackend`` is a PEP 517 backend."""
    return build_wheel(
        dest,
        TINYBACKEND_NAME,
        TINYBACKEND_VERSION,
        modules={"pipff_tinybackend.py": TINYBACKEND_SOURCE},
    )


@dataclass
class ProjectSet:
    """The standard projects: where their files are, and which file names are yanked."""

    dist_dir: Path
    yanked: set[str] = field(default_factory=set)

    @property
    def filenames(self) -> list[str]:
        """Every distribution file name in ``dist_dir``, sorted."""
        return sorted(p.name for p in self.dist_dir.iterdir() if parse_filename(p.name))


def standard_projects(dest: Path) -> ProjectSet:
    """Build the standard set of projects the whole suite relies on into ``dest``.

    - pipff-alpha 1.0, 1.1, 2.0; 2.0 requires ``pipff-beta>=1.0`` and
      ``pipff-never; python_version < "3"`` (a marker that is never true)
    - pipff-beta 1.0, 1.5; extra ``fast`` requires ``pipff-gamma``
    - pipff-gamma 1.0
    - pipff-epsilon 1.0, 2.0; 2.0 has ``Requires-Python: >=4``
    - pipff-zeta 1.0, 1.1; 1.1 is yanked (listed in ``ProjectSet.yanked``)
    - pipff-sdistonly 1.0, sdist only: built by pipff-tinybackend, requires pipff-gamma
    - pipff-tinybackend 1.0
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    build_wheel(dest, "pipff-alpha", "1.0")
    build_wheel(dest, "pipff-alpha", "1.1")
    build_wheel(
        dest,
        "pipff-alpha",
        "2.0",
        requires=["pipff-beta>=1.0", 'pipff-never; python_version < "3"'],
    )
    for version in ("1.0", "1.5"):
        build_wheel(dest, "pipff-beta", version, extras={"fast": ["pipff-gamma"]})
    build_wheel(dest, "pipff-gamma", "1.0")
    build_wheel(dest, "pipff-epsilon", "1.0")
    build_wheel(dest, "pipff-epsilon", "2.0", requires_python=">=4")
    build_wheel(dest, "pipff-zeta", "1.0")
    yanked = build_wheel(dest, "pipff-zeta", "1.1")
    build_sdist(dest, "pipff-sdistonly", "1.0", requires=["pipff-gamma"])
    build_tinybackend_wheel(dest)
    return ProjectSet(dist_dir=dest, yanked={yanked.name})
