"""Whether an answer can be what was asked for.

A captive portal (hotel or train Wi-Fi) answers every URL with 200 and its login page; a mirror
whose upstream is gone answers 200 with an empty project page. Recorded, either would replace a
good record; served, it would hide one. pip-ff checks the two kinds of answer that can be
checked before pip reads them: a distribution file must not be an HTML page, and a project
page must list at least one file of its project. What a page lists also says what a file must
be: its sha256 (:func:`listed_sha256s`, for the record's admin commands). A fallback index's page
that lists a file under the name of one recorded from the primary, with another hash, is a red
flag too (see :func:`clashing_file`). Every page is read by :mod:`pip_offline_fallback.pages`,
the way pip reads it: a page pip can use is never taken for a login page.
"""

from __future__ import annotations

from pip_offline_fallback import pages
from pip_offline_fallback.compat.vendored import canonicalize_name
from pip_offline_fallback.urls import filename_of, project_of, url_key

# Asked of this module by the engine, which says what can be checked before pip reads it.
from pip_offline_fallback.urls import is_distribution_url as is_distribution_url


def doubt_about_file(content_type: str) -> str | None:
    """Why a distribution file's answer can't be that file, or None."""
    if content_type.split(";", 1)[0].strip().lower() == "text/html":
        return "answered a file with an HTML page (a login page?)"
    return None


def doubt_about_page(project: str, content_type: str, body: bytes) -> str | None:
    """Why a project page's answer can't be that project's page, or None."""
    if _lists_files_of(canonicalize_name(project), content_type, body):
        return None
    return f"answered with a page that lists no file of {project} (a login page?)"


def _lists_files_of(project: str, content_type: str, body: bytes) -> bool:
    try:
        page = pages.parse(body, content_type, "", project)
    except pages.PageError:
        return False
    return any(project_of(filename_of(link.url)) == project for link in page.files)


def listed_sha256s(page_url: str, body: bytes) -> dict[str, str]:
    """URL key -> sha256 of each file an index page (HTML or PEP 691 JSON) lists with one."""
    try:
        page = pages.parse_any(body, page_url)
    except pages.PageError:
        return {}
    return {url_key(link.url): link.sha256 for link in page.files if link.sha256}


def listed_hashes(body: bytes) -> dict[str, str]:
    """File name -> sha256 of every file a project page (HTML or PEP 691 JSON) lists with one."""
    return {filename_of(url): sha256 for url, sha256 in listed_sha256s("", body).items()}


def clashing_file(mirror: dict[str, str], recorded: dict[str, str]) -> tuple[str, str, str] | None:
    """(file name, the mirror's sha256, the recorded sha256) of the first file both pages list
    with different hashes: the same file name with other bytes."""
    for filename in sorted(mirror):
        theirs, ours = mirror[filename], recorded.get(filename)
        if ours is not None and ours != theirs:
            return filename, theirs, ours
    return None
