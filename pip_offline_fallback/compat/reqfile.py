"""pip's own reading of an install command line: its requirements (requirements files through
pip's parser) and the PackageFinder pip builds for it.

``pip-ff store check`` asks, per requirement, whether it can be had offline. Reading the files
the way pip does is pip's job: encodings (a PEP 263 line, the locale), ``-r`` and ``-c`` by a
path relative to the including file or by URL (fetched through a session pip built, so pip-ff's
fallback answers it), options lines (``--index-url``, ``--find-links``) that change what the
finder searches, markers and hashes. So this module hands the command line to pip's install
command and keeps what it made: the requirements, the session and the finder. The finder is then
asked for each requirement's best candidate, with no further pip run.

Used by pip 23.0 to 26.x alike: ``create_command``, ``Command.parse_args``, the session
mixin's ``_build_session``, ``RequirementCommand._build_package_finder`` and
``get_requirements``, ``cmdoptions.make_target_python`` and ``PackageFinder.find_best_candidate``
and ``find_all_candidates`` have kept their signatures over that range.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

# pip's own packaging: its requirements carry pip's SpecifierSet, and its finder wants one.
from pip._vendor.packaging.specifiers import SpecifierSet
from pip._vendor.packaging.utils import canonicalize_name

from pip_offline_fallback import compat

if TYPE_CHECKING:
    from pip._internal.index.package_finder import PackageFinder
    from pip._internal.network.session import PipSession
    from pip._internal.req.req_install import InstallRequirement

logger = logging.getLogger(__name__)


class ReadError(Exception):
    """pip could not read the requirements (one line: why)."""


@dataclass(frozen=True)
class Requirement:
    """One requirement the user gave (on the command line or in a requirements file)."""

    text: str  # as pip shows it: ``name[extras]specifier; markers``, or the link
    name: str | None  # canonical project name; None for an unnamed link (``-e ./path``)
    specifier: str  # the requirement's own specifier, with its constraints' added
    link: Any = field(default=None, compare=False)  # pip's Link, for a direct reference
    applies: bool = True  # False: its markers don't match this environment; pip ignores it


@dataclass(frozen=True)
class Candidate:
    """What the finder offers for a requirement: the best version, and every version it saw."""

    version: str | None  # None: nothing satisfies the requirement
    url: str | None
    versions: list[str]


class InstallCommandLine:
    """``pip install ARGS`` as pip reads it, without resolving or installing anything.

    The session it builds goes through pip's own ``_build_session``, so pip-ff's hooks (when
    injected) see it as they see an install's: its requests are answered by the fallback.
    Call :meth:`close` when done with it.
    """

    def __init__(self, args: list[str]) -> None:
        command: Any = compat.create_command("install")
        try:
            options, positional = command.parse_args(list(args))
        except SystemExit as exc:  # optparse's exit on a bad option (already said why)
            raise ReadError(f"pip refused the options (status {exc.code})") from None
        self._session: PipSession = command._build_session(options)
        try:
            from pip._internal.cli.cmdoptions import make_target_python

            self.finder: PackageFinder = command._build_package_finder(
                options=options,
                session=self._session,
                target_python=make_target_python(options),
                ignore_requires_python=options.ignore_requires_python,
            )
            parsed: list[InstallRequirement] = command.get_requirements(
                positional, options, self.finder, self._session
            )
        except Exception as exc:
            self._session.close()
            raise ReadError(_one_line(exc)) from None
        self.requirements = _top_level(parsed)
        self.constraints = [str(i.req) for i in parsed if i.constraint and i.req is not None]

    def search_args(self) -> list[str]:
        """Where the finder searches (the command line's options and the files' options lines,
        applied), as install options: a later run of some of the requirements searches the same."""
        scope = self.finder.search_scope
        args: list[str] = []
        index_urls = list(scope.index_urls)
        if getattr(scope, "no_index", False) or not index_urls:
            args.append("--no-index")
        else:
            args += ["--index-url", index_urls[0]]
            for url in index_urls[1:]:
                args += ["--extra-index-url", url]
        for location in scope.find_links:
            args += ["--find-links", location]
        # pip < 26 keeps --pre here (a file's "--pre" line too); pip 26's release control has
        # no such flag, and the check's own --pre is passed on as given.
        if getattr(self.finder, "allow_all_prereleases", False) is True:
            args.append("--pre")
        return args

    def best(self, requirement: Requirement) -> Candidate:
        """The finder's best candidate for a named requirement (pip-ff's finder hooks, when
        injected, keep only candidates that are local)."""
        name = requirement.name or ""
        result: Any = self.finder.find_best_candidate(
            name, specifier=SpecifierSet(requirement.specifier)
        )
        versions = sorted({c.version for c in self.finder.find_all_candidates(name)})
        best = result.best_candidate
        if best is None:
            return Candidate(None, None, [str(v) for v in versions])
        url = str(best.link.url_without_fragment)
        return Candidate(str(best.version), url, [str(v) for v in versions])

    def close(self) -> None:
        self._session.close()


def _top_level(parsed: list[InstallRequirement]) -> list[Requirement]:
    """The user's requirements, in order, each with its constraints' specifiers added."""
    constraints: dict[str, SpecifierSet] = {}
    for item in parsed:
        if item.constraint and item.name:
            key = str(canonicalize_name(item.name))
            constraints[key] = constraints.get(key, SpecifierSet()) & item.specifier
    found = []
    for item in parsed:
        if item.constraint:
            continue
        name = str(canonicalize_name(item.name)) if item.name else None
        specifier = item.specifier if item.req is not None else SpecifierSet()
        if name in constraints:
            specifier &= constraints[name]
        if item.req is not None:
            # pip keeps the markers apart from the requirement; the row shows both.
            text = f"{item.req}; {item.markers}" if item.markers else str(item.req)
        elif item.link is not None:
            text = str(item.link.url)
        else:  # pragma: no cover - pip makes every requirement from a name or a link
            text = str(item)
        if item.editable:
            text = f"-e {text}"
        link = item.link if item.req is None or item.req.url else None
        found.append(Requirement(text, name, str(specifier), link, item.match_markers()))
    return found


def _one_line(exc: BaseException) -> str:
    """pip's error as one line.

    pip 26 wraps a connection error in a diagnostic error whose ``str()`` is only its
    reference (``<ConnectionFailedError: connection-failed>``): the cause pip-ff's fallback gave
    (no local copy of a URL, offline) is then found down the chain, else pip's own message.
    """
    cause: BaseException | None = exc
    while cause is not None:
        text = " ".join(str(cause).split())
        if text.startswith("pip-ff: "):  # pip-ff's own error; shown after "pip-ff: " already
            return text[len("pip-ff: ") :]
        cause = cause.__cause__ or cause.__context__
    message = getattr(exc, "message", None)  # pip's DiagnosticPipError
    text = " ".join(str(exc).split())
    if message is not None and text.startswith("<"):
        text = " ".join(str(message).split())
    return text or type(exc).__name__
