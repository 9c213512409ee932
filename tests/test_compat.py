"""pip's internals, all in ``pip_offline_fallback.compat``: every probe passes on the installed
pip, each one notices the break it exists for, and a pip that breaks one gets one warning and
plain pip's result."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pip_offline_fallback import compat, startup, tee
from pip_offline_fallback.compat import (
    agent,
    body,
    cache,
    entry,
    finder,
    links,
    options,
    probing,
    transport,
)
from testbed import IndexServer

COMPAT = Path(compat.__file__).parent


def _failures(module: Any) -> list[str]:
    found = []
    for what, probe in module.PROBES.items():
        try:
            probe()
        except Exception as exc:
            found.append(f"{what}: {exc}")
    return found


def test_every_probe_passes_on_the_installed_pip() -> None:
    for name in compat.MODULES:
        assert _failures(importlib.import_module(f"pip_offline_fallback.compat.{name}")) == []
    assert compat.problems() == []


def test_probes_are_cheap() -> None:
    """They run on every hooked pip command: time them in a fresh interpreter, pip's command
    modules already imported (as when pip-ff hooks), best of three."""
    code = (
        "import importlib, time\n"
        "from pip._internal.commands import create_command; create_command('install')\n"
        "from pip_offline_fallback import compat\n"
        "modules = [importlib.import_module('pip_offline_fallback.compat.' + n)"
        " for n in compat.MODULES]\n"
        "start = time.perf_counter()\n"
        "for m in modules:\n"
        "    for probe in m.PROBES.values(): probe()\n"
        "print((time.perf_counter() - start) * 1000)\n"
    )
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(3)
    ]
    # About 2 ms here on an idle machine, and up to 18 ms with the cores busy: the bound is
    # generous on purpose, it only catches a probe that waits on disk or the network.
    assert min(runs) < 100, runs


def test_every_name_resolves_from_its_home_and_is_typed() -> None:
    tree = ast.parse((COMPAT / "__init__.py").read_text())
    typed = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and ("compat." in node.module or node.module.startswith("pip."))
        for alias in node.names
    }
    assert typed == set(compat.HOME_OF)
    for name, home in compat.HOME_OF.items():
        module = importlib.import_module(f"pip_offline_fallback.compat.{home}")
        assert hasattr(module, name), (home, name)
        assert hasattr(compat, name), name


def test_compat_modules_stay_small_and_touch_nothing_else() -> None:
    for path in COMPAT.glob("*.py"):
        assert len(path.read_text().splitlines()) < 250, path.name
    package = COMPAT.parent
    for path in [*package.glob("*.py"), *package.glob("storecmd/*.py")]:
        tree = ast.parse(path.read_text())
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue  # pip's own types, for type hints only: never imported at run time
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [alias.name for alias in node.names]
                )
                for module in modules:
                    assert not module.startswith(("pip.", "http.client")), (path.name, module)
            if isinstance(node, ast.Attribute):
                assert node.attr not in {"_fp", "_all_candidates", "_best_candidates"}, (
                    path.name,
                    node.attr,
                )


def test_the_start_up_hook_watches_pip_s_cli_module() -> None:
    # startup.py can't import compat at start-up, so it names the module itself.
    assert startup._CLI_MAIN == entry.CLI_MAIN


def test_the_body_tap_implements_every_read_urllib3_uses() -> None:
    for method in body.READ_METHODS:
        assert method in vars(tee.BodyTee), method


def _broken(module: Any, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, value: Any) -> str:
    monkeypatch.setattr(owner, name, value)
    found = _failures(module)
    assert len(found) == 1, found
    return found[0]


def test_probes_notice_a_break(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        text = _broken(cache, m, cache.SafeFileCache, "_get_cache_path", lambda self, key: key)
        assert "files a URL elsewhere" in text
    with monkeypatch.context() as m:
        text = _broken(links, m, links, "redact_auth_from_url", lambda url: url)
        assert "no longer hides a password" in text
    with monkeypatch.context() as m:
        # a finder that stopped memoising where pip-ff clears it
        unmemoised = finder.PackageFinder.find_all_candidates
        while hasattr(unmemoised, "__wrapped__"):
            unmemoised = unmemoised.__wrapped__
        m.setattr(finder, "_ALL_CANDIDATES", "_renamed")
        m.setattr(finder.PackageFinder, "find_all_candidates", lambda self, name: [])
        assert any("memoises candidates" in f for f in _failures(finder))
    with monkeypatch.context() as m:
        # urllib3 reading its body from somewhere else than _fp
        m.setattr(body, "replace_body_stream", lambda raw, stream: None)
        assert any("past its _fp" in f for f in _failures(body))
    with monkeypatch.context() as m:
        m.setattr(transport.Retry, "new", lambda self, **kw: transport.Retry(**kw))
        assert any("Retry.new" in f for f in _failures(transport))
    assert all(
        not _failures(importlib.import_module(f"{compat.__name__}.{n}")) for n in compat.MODULES
    )


def test_problems_names_a_broken_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise probing.Broken("pip's something changed")

    monkeypatch.setattr(compat, "_found", {})
    monkeypatch.setitem(entry.PROBES, "something", broken)
    assert compat.problems() == [
        f"pip {compat.PIP_VERSION_TEXT}: something: pip's something changed"
    ]
    assert compat.problems(compat.SESSION_MODULES) == []  # serve's touches don't include it
    monkeypatch.setattr(compat, "_found", {})


_INDEX = "https://index.invalid/simple/"


@pytest.mark.parametrize(
    ("args", "exact"),
    [
        ([], True),
        (
            "-i ? --extra-index-url https://extra.invalid/ --timeout 3 --retries 1 --cert /ca.pem"
            " --client-cert /me.pem --no-input --proxy http://proxy.invalid:3128 -v"
            " --trusted-host index.invalid --cache-dir /cache project".replace("?", _INDEX).split(),
            True,
        ),
        (["--no-cache-dir", "--index-url=" + _INDEX], True),
        (["--no-deps", "-i", _INDEX], False),  # pip download's own option
        (["--index", _INDEX], False),  # an abbreviation
    ],
)
def test_serve_s_session_options_are_pip_download_s(
    args: list[str], exact: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve parses pip's options without importing pip download (compat/options.py): every
    option it reads has pip download's value, pip.conf's [download] section included."""
    for name in [n for n in os.environ if n.startswith("PIP_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nretries = 2\n[download]\ntimeout = 11\n[install]\nproxy = x\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    monkeypatch.setenv("PIP_TRUSTED_HOST", "from-env.invalid")
    command, parsed = compat.session_command(args)
    assert (type(command) is options._SessionCommand) is exact
    expected, _ = compat.create_command("download").parse_args(args)
    assert vars(parsed) == {name: getattr(expected, name) for name in vars(parsed)}
    if not args:
        assert (parsed.timeout, parsed.retries) == (11, 2)
        assert parsed.trusted_hosts == ["from-env.invalid"]


def test_a_kept_user_agent_is_pip_s_own_and_follows_what_pip_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-user serve keeps pip's User-Agent between starts (compat/agent.py): the session
    sends pip's own, worked out again when anything pip reads for it changes; a change nothing
    kept saw is set right by the check after the start."""
    if not agent.usable():
        pytest.skip("pip's User-Agent is kept on Linux only")
    session = importlib.import_module("pip._internal.network.session")
    rustc = tmp_path / "bin" / "rustc"
    rustc.parent.mkdir()
    rustc.write_text("#!/bin/sh\necho 'rustc 1.2.3 (pip-ff)'\n")
    rustc.chmod(0o755)
    monkeypatch.setenv("PATH", f"{rustc.parent}{os.pathsep}{os.environ['PATH']}")
    for name in ("PIP_USER_AGENT_USER_DATA", "BUILD_BUILDID", "BUILD_ID", "CI", "PIP_IS_CI"):
        monkeypatch.delenv(name, raising=False)
    path = str(tmp_path / "user-agent")

    def started() -> tuple[str, Any]:
        with agent.kept_user_agent(path) as kept:
            built = session.PipSession()
        built.close()
        assert session.user_agent is agent.pip_user_agent  # pip's own again after the build
        return built.headers["User-Agent"], kept

    sent, kept = started()
    assert kept.checked and sent == agent._own() and '"rustc_version":"1.2.3"' in sent
    # Answered from the file: rustc now says another version, its stamp kept as it was.
    stamp = rustc.stat()
    rustc.write_text("#!/bin/sh\necho 'rustc 1.2.4 (pip-ff)'\n")
    os.utime(rustc, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    again, kept = started()
    assert again == sent and not kept.checked
    checked = session.PipSession()
    checked.headers["User-Agent"] = again
    assert kept.check(checked) and checked.headers["User-Agent"] == agent._own()
    assert '"rustc_version":"1.2.4"' in checked.headers["User-Agent"]
    assert started()[0] == checked.headers["User-Agent"]  # kept for the next start
    # What pip reads changes: worked out again.
    rustc.write_text("#!/bin/sh\necho 'rustc 1.2.5 (pip-ff)'\n")
    sent, kept = started()
    assert kept.checked and '"rustc_version":"1.2.5"' in sent and sent == agent._own()
    monkeypatch.setenv("PIP_USER_AGENT_USER_DATA", "pip-ff's test")
    monkeypatch.setenv("CI", "1")
    sent, kept = started()
    assert kept.checked and sent == agent._own()
    assert '"user_data":"pip-ff\'s test"' in sent and '"ci":true' in sent


def test_serve_s_session_leaves_pip_s_traceback_renderer_unloaded_until_it_is_read() -> None:
    """compat/deferred.py: pip's command base (serve imports it to build pip's session) no
    longer loads rich's traceback renderer (with pygments, 20 to 45 ms of a new serve's
    start); the first read of the module loads it whole."""
    code = (
        "import sys\n"
        "from pip_offline_fallback.compat import deferred\n"
        "assert deferred.defer() == ['pip._vendor.rich.traceback']\n"
        "import pip._internal.cli.base_command\n"
        "lazy = type(sys.modules['pip._vendor.rich.traceback'])\n"
        "from pip._vendor.rich.traceback import install\n"
        "loaded = type(sys.modules['pip._vendor.rich.traceback'])\n"
        "assert callable(install) and loaded is type(sys)\n"
        "# Unless rich's logging reads it when imported (pip 23's rich does; newer ones don't).\n"
        "read = 'Traceback' in vars(sys.modules['pip._vendor.rich.logging'])\n"
        "assert lazy.__name__ == '_LazyModule' or read, lazy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# pip still works with each of these changes; pip-ff's probes must notice and step aside.
_BREAKS = {
    "cache-layout": (
        "import os, pip._internal.network.cache as c\n"
        "c.SafeFileCache._get_cache_path = lambda self, name: os.path.join("
        "self.directory, 'flat', name.replace('/', '_'))\n",
        "pip's HTTP cache files a URL elsewhere than pip-ff looks",
    ),
    "redact": (
        "import pip._internal.utils.misc as m\nm.redact_auth_from_url = lambda url: url\n",
        "pip's redact_auth_from_url no longer hides a password",
    ),
}


@pytest.mark.parametrize("entry_point", ["pip-ff", "PIPFF=1 pip"])
@pytest.mark.parametrize("break_", sorted(_BREAKS))
def test_a_pip_that_breaks_a_touch_warns_once_and_runs_plain_pip(
    break_: str, entry_point: str, venv: Any, env: dict[str, str], index: IndexServer
) -> None:
    patch, message = _BREAKS[break_]
    if entry_point == "pip-ff":
        run = "from pip_offline_fallback.cli import main\n"
        run_env = env
    else:
        run = "from pip._internal.cli.main import main\n"
        run_env = dict(env, PIPFF="1")
    code = f"import sys\n{patch}{run}sys.exit(main(sys.argv[1:]))\n"
    result = venv.run("-c", code, "install", "-i", index.url, "pipff-gamma", env=run_env)
    assert result.returncode == 0, result.output
    assert venv.installed()["pipff-gamma"] == "1.0"
    lines = [line for line in result.output.splitlines() if "pip-ff" in line]
    assert len(lines) == 1, result.output
    assert message in lines[0] and "running plain pip" in lines[0], lines[0]
    assert "Traceback" not in result.output
