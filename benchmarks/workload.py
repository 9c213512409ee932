"""The distributions the benchmarks install: about twenty real-shaped projects on the test index.

Real-shaped means: several releases per project (the index pages list them all and pip picks the
newest that fits), packages of a few modules with real Python in them (pip compiles them on
install), sizes from a few kB to one 2 MB wheel, a five-deep dependency chain, pinned, ranged and
unpinned requirements, PEP 658 metadata next to every wheel (the index serves it), and one
project that exists only as an sdist built by the test bed's tiny PEP 517 backend
(``pipff-tinybackend``, itself a wheel on the index) - so every install runs pip's build
isolation once unless pip's wheel cache already holds the built wheel.

Everything is deterministic: the same run builds byte-identical files.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from pathlib import Path

from testbed import build_sdist, build_tinybackend_wheel, build_wheel, escaped_name

_WORDS = (  # noqa: SIM905 - one string reads better than fifty
    "request response session adapter cache entry record index page link version marker "
    "resolve candidate wheel sdist build backend header stream chunk digest token parser "
    "lexer node tree visitor config option value default handler route view template "
    "engine query column table row cursor driver pool timeout retry backoff schema field "
    "model"
).split()


@dataclass(frozen=True)
class Project:
    name: str
    versions: tuple[str, ...]  # oldest first; the last one is what an unpinned install gets
    requires: tuple[str, ...] = ()
    modules: int = 4  # modules in the package
    functions: int = 40  # functions per module
    sdist_only: bool = False
    blob_kib: int = 0  # an extra incompressible data file (a "native-ish" wheel)


PROJECTS: tuple[Project, ...] = (
    Project(
        "bench-webframework",
        ("2.0.0", "3.0.0", "3.1.0", "3.2.1", "3.3.0"),
        ("bench-routing>=2", "bench-templating>=1.4,<2", "bench-httpcore>=1.0"),
        modules=12,
        functions=60,
    ),
    Project("bench-routing", ("1.0", "2.0", "2.1")),
    Project("bench-templating", ("1.3", "1.4", "1.5", "2.0"), modules=8),
    Project("bench-httpcore", ("0.9", "1.0.2", "1.0.5"), modules=6),
    Project(
        "bench-orm",
        ("0.8", "1.0", "1.2", "1.4"),
        ("bench-sqlparse>=0.4", "bench-dbdriver"),
        modules=10,
        functions=50,
    ),
    Project("bench-sqlparse", ("0.3", "0.4.1", "0.4.4"), modules=5),
    Project("bench-dbdriver", ("2.8", "2.9.1", "2.9.9"), modules=3),
    Project("bench-cli", ("7.0", "8.0", "8.1.3"), ("bench-colors", "bench-termsize>=0.2")),
    Project("bench-colors", ("0.3", "0.4.6")),
    Project("bench-termsize", ("0.1", "0.2.2"), modules=1),
    Project("bench-yaml", ("5.4", "6.0", "6.0.1", "6.1"), modules=6),
    Project("bench-dateutil", ("2.8.1", "2.8.2", "2.9.0"), ("bench-six>=1.5",), modules=5),
    Project("bench-six", ("1.15.0", "1.16.0", "1.17.0"), modules=1, functions=80),
    Project("bench-chain-a", ("1.0", "1.1"), ("bench-chain-b>=1",), modules=2),
    Project("bench-chain-b", ("1.0", "1.1"), ("bench-chain-c>=1",), modules=2),
    Project("bench-chain-c", ("1.0", "1.1"), ("bench-chain-d>=1",), modules=2),
    Project("bench-chain-d", ("1.0", "1.1"), ("bench-chain-e>=1",), modules=2),
    Project("bench-chain-e", ("1.0", "1.1"), modules=2),
    Project("bench-bigdata", ("1.25.0", "1.26.4", "2.0.0"), modules=6, blob_kib=2048),
    Project("bench-legacy", ("0.9", "1.0"), ("bench-six",), modules=2, sdist_only=True),
)

# What a person types: pinned, ranged and unpinned top-level requirements.
REQUIREMENTS: tuple[str, ...] = (
    "bench-webframework==3.2.1",
    "bench-orm>=1.0",
    "bench-cli",
    "bench-yaml==6.0.1",
    "bench-dateutil",
    "bench-chain-a",
    "bench-bigdata==1.26.4",
    "bench-legacy",
)

# Where the newest release is not what the requirements allow.
_NOT_NEWEST = {
    "bench-webframework": "3.2.1",  # pinned
    "bench-yaml": "6.0.1",  # pinned
    "bench-bigdata": "1.26.4",  # pinned
    "bench-templating": "1.5",  # >=1.4,<2 (from bench-webframework)
}


def expected() -> dict[str, str]:
    """Canonical name -> version that an install of REQUIREMENTS ends with (20 distributions)."""
    return {p.name: _NOT_NEWEST.get(p.name, p.versions[-1]) for p in PROJECTS}


def pinned_requirements() -> tuple[str, ...]:
    """Every distribution of the install pinned with ``==`` (a lock file)."""
    return tuple(f"{name}=={version}" for name, version in sorted(expected().items()))


def _module_source(rng: random.Random, project: str, version: str, index: int, count: int) -> str:
    lines = [f'"""{project} {version}, module {index}: generated for pip-ff\'s benchmarks."""', ""]
    lines.append("from __future__ import annotations")
    lines.append("")
    for n in range(count):
        a, b, c = rng.sample(_WORDS, 3)
        k = rng.randint(2, 97)
        lines += [
            "",
            f"def {a}_{b}_{n}(value: int, factor: int = {k}) -> int:",
            f'    """Return the {c} of ``value`` scaled by ``factor`` (a {a} {b})."""',
            f"    result = value * factor + {rng.randint(0, 999)}",
            f"    if result > {rng.randint(100, 10_000)}:",
            f"        return result - {rng.randint(1, 99)}",
            "    return result",
            "",
            "",
            f"class {a.capitalize()}{b.capitalize()}{n}:",
            f'    """A {c}."""',
            "",
            "    def __init__(self, name: str) -> None:",
            "        self.name = name",
            f"        self.{c} = {{'{a}': {rng.randint(0, 9)}, '{b}': None}}",
            "",
            "    def __repr__(self) -> str:",
            f'        return f"{a.capitalize()}{b.capitalize()}{n}({{self.name!r}})"',
        ]
    return "\n".join(lines) + "\n"


def _modules(project: Project, version: str) -> dict[str, str]:
    rng = random.Random(f"{project.name}-{version}")
    package = escaped_name(project.name)
    modules = {f"{package}/__init__.py": f'__version__ = "{version}"\n'}
    for i in range(project.modules):
        modules[f"{package}/mod{i}.py"] = _module_source(
            rng, project.name, version, i, project.functions
        )
    if project.blob_kib:
        raw = rng.randbytes(project.blob_kib * 1024)
        text = base64.encodebytes(raw).decode("ascii")  # text: build_wheel takes str modules
        modules[f"{package}/_data.txt"] = text
    return modules


def build(dist_dir: Path) -> list[Path]:
    """Write every release of every project (and the tiny build backend) into ``dist_dir``."""
    dist_dir.mkdir(parents=True, exist_ok=True)
    files = [build_tinybackend_wheel(dist_dir)]
    for project in PROJECTS:
        for version in project.versions:
            modules = _modules(project, version)
            if project.sdist_only:
                files.append(
                    build_sdist(
                        dist_dir, project.name, version, requires=project.requires, modules=modules
                    )
                )
            else:
                files.append(
                    build_wheel(
                        dist_dir, project.name, version, requires=project.requires, modules=modules
                    )
                )
    return files
