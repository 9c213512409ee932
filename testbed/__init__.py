"""pip-ff's test bed: distributions, a PyPI-like index, real outages and fresh venvs.

The tests (tests/) and the benchmarks (benchmarks/) both use it; it is not part of the wheel.
Everything stays on this machine: servers listen on loopback only, venvs are filled offline from
a directory of wheels prepared once (testbed/prepare.py), and every pip subprocess runs in
an isolated environment (no pip configuration, no proxies, its own cache).

- dists.py: wheels and sdists built at test time; index.py: the PyPI-like index server (its
  pages rendered by simple.py, its sockets and life cycle in loopback.py);
- outages.py: every way the index goes away, for real; proxies.py: proxies that work;
- netns.py: a command with no network at all; venvs.py and prepare.py: the venvs and their wheels.
"""

from __future__ import annotations

from testbed.dists import (
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
from testbed.index import IndexServer
from testbed.loopback import CertificateAuthority, make_ca
from testbed.netns import netns_prefix, unshare_available
from testbed.outages import (
    OUTAGES,
    UNRESOLVABLE_HOST,
    UNRESOLVABLE_INDEX_URL,
    BlackHoleServer,
    FailingProxy,
    SlowAcceptServer,
    StallServer,
    closed_port_url,
    hold_port,
    outage,
    wait_for_port_closed,
)
from testbed.prepare import prepare
from testbed.proxies import ForwardingProxy, TunnelProxy
from testbed.simple import negotiate
from testbed.venvs import (
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
    "OUTAGES",
    "TINYBACKEND_NAME",
    "UNRESOLVABLE_HOST",
    "UNRESOLVABLE_INDEX_URL",
    "BlackHoleServer",
    "CertificateAuthority",
    "CommandFailed",
    "CommandTimeout",
    "FailingProxy",
    "ForwardingProxy",
    "IndexServer",
    "ProjectSet",
    "Result",
    "SlowAcceptServer",
    "StallServer",
    "ToolWheels",
    "TunnelProxy",
    "Venv",
    "build_sdist",
    "build_tinybackend_wheel",
    "build_wheel",
    "canonical_name",
    "clone_venv",
    "closed_port_url",
    "escaped_name",
    "hold_port",
    "isolated_env",
    "make_ca",
    "make_template",
    "negotiate",
    "netns_prefix",
    "outage",
    "parse_filename",
    "prepare",
    "standard_projects",
    "unshare_available",
    "wait_for_port_closed",
    "wheel_metadata",
]
