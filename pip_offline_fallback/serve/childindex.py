"""What ``pip-ff run`` changes in its command's environment: every installer's index variables.

The command's installers ask serve and nothing else: each tool's variable for its default index
points at serve, and the variables that add other indexes are dropped or (pip's, which pip's
configuration files may also set) pointed at serve too, so that no request bypasses it.
Indexes named in a project's own files (``[[tool.uv.index]]``, pdm's and poetry's sources) are
the project's choice and are left alone (docs/serve.md says how to point them at serve).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc imports collections: pip-ff run needs it not
    from collections.abc import Mapping

# Each tool's variable for its default index.
INDEX_VARIABLES = (
    "PIP_INDEX_URL",  # pip, pipx, tox, nox, hatch and build (through pip)
    "UV_DEFAULT_INDEX",  # uv >= 0.4.23
    "UV_INDEX_URL",  # older uv (deprecated there, still read)
    "PDM_PYPI_URL",  # pdm
)
# Variables that add indexes beside the default one. pip's also come from its configuration
# files, which an environment variable overrides: set rather than removed. Set to a single
# space: pip ignores an empty value (the configuration file's would then stand), while a blank
# one splits into no URL at all, so pip asks serve only, and names it once under "Looking in
# indexes" (set to serve, it was named twice).
EXTRA_INDEX_OVERRIDDEN = {"PIP_EXTRA_INDEX_URL": " "}
EXTRA_INDEX_REMOVED = (
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "PIP_NO_INDEX",
    "UV_NO_INDEX",
    "PDM_PYPI_USERNAME",
    "PDM_PYPI_PASSWORD",
)


def child_environment(environ: Mapping[str, str], index_url: str) -> dict[str, str]:
    """``environ`` with every installer pointed at ``index_url`` (a new dict)."""
    env = {k: v for k, v in environ.items() if k not in EXTRA_INDEX_REMOVED}
    for name in INDEX_VARIABLES:
        env[name] = index_url
    env.update(EXTRA_INDEX_OVERRIDDEN)
    return env
