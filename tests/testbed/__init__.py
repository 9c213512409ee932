"""pip-ff's test bed: distributions, a PyPI-like index, real outages and fresh venvs.

Everything stays on this machine: servers listen on loopback only, venvs are filled offline from
a directory of wheels prepared once (tests/testbed/prepare.py), and every pip subprocess runs in
an isolated environment (no pip configuration, no proxies, its own cache).
"""

from __future__ import annotations

from tests.testbed.dists import (
    TINYBACKEND_NAME,
    ProjectSet,
    build_sdist,
    build_tinybackend_wheel,
    build_wheel,
    canonical_name,
    escaped_name,
    parse_filename,
    standard_projects,
)
from tests.testbed.index import CertificateAuthority, IndexServer, make_ca, negotiate
from tests.testbed.outages import (
    UNRESOLVABLE_HOST,
    UNRESOLVABLE_INDEX_URL,
    BlackHoleServer,
    FailingProxy,
    StallServer,
    closed_port_url,
    netns_prefix,
    unshare_available,
    wait_for_port_closed,
)
from tests.testbed.prepare import prepare
from tests.testbed.venvs import (
    CommandFailed,
    CommandTimeout,
    Result,
    ToolWheels,
    Venv,
    clone_venv,
    isolated_env,
    make_template,
    wheel_metadata,
)

__all__ = [
    "TINYBACKEND_NAME",
    "UNRESOLVABLE_HOST",
    "UNRESOLVABLE_INDEX_URL",
    "BlackHoleServer",
    "CertificateAuthority",
    "CommandFailed",
    "CommandTimeout",
    "FailingProxy",
    "IndexServer",
    "ProjectSet",
    "Result",
    "StallServer",
    "ToolWheels",
    "Venv",
    "build_sdist",
    "build_tinybackend_wheel",
    "build_wheel",
    "canonical_name",
    "clone_venv",
    "closed_port_url",
    "escaped_name",
    "isolated_env",
    "make_ca",
    "make_template",
    "negotiate",
    "netns_prefix",
    "parse_filename",
    "prepare",
    "standard_projects",
    "unshare_available",
    "wait_for_port_closed",
    "wheel_metadata",
]
