"""``pip-ff store``: inspect, check and prune pip-ff's local store (not a pip command).

    pip-ff store info  [--json] [--no-verify]
    pip-ff store check [-r FILE]... [REQ]... [--json] [-i URL] [--platform ...] [-v]
    pip-ff store prune [--older-than DURATION] [--max-size SIZE] [--keep N] [--damaged]
                       [--dry-run] [--wait SECONDS] [--json]

Each also takes ``--store DIR`` and ``--cache-dir DIR``. The store is found as pip-ff's install
finds it: ``--store``, else ``PIPFF_STORE``, else ``pip-ff`` inside pip's cache directory as
configured (``PIP_CACHE_DIR``, pip's configuration files, pip's default). ``--cache-dir`` is
pip's option, with pip's meaning (where pip's own caches are, read by ``check``): as for an
install, it doesn't move the record.

This is the command module: it writes its tables and JSON to stdout, errors to stderr. Here is
the command line; each command has its module (``info``, ``prune``, ``check``, whose table
rows come from ``verdicts``); ``common`` holds what they share.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from pip_offline_fallback.errors import UsageError
from pip_offline_fallback.storecmd.check import run_check
from pip_offline_fallback.storecmd.common import EXIT_FAILED, EXIT_USAGE, locate
from pip_offline_fallback.storecmd.info import run_info
from pip_offline_fallback.storecmd.prune import DEFAULT_PRUNE_WAIT, run_prune

# -- the command line ------------------------------------------------------------------------


class _Forward(argparse.Action):
    """Keeps a pip option, in order, for the dry run of ``check``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        forwarded: list[str] | None = getattr(namespace, "pip_options", None)
        if forwarded is None:
            forwarded = []
            namespace.pip_options = forwarded
        forwarded.append(self.option_strings[-1])
        if self.nargs != 0:
            forwarded.append(str(values))


# pip's options that change what an install resolves to; ``check`` hands them to pip.
_PIP_VALUE_OPTIONS = (
    ("-i", "--index-url"),
    ("--extra-index-url",),
    ("-f", "--find-links"),
    ("--trusted-host",),
    ("-c", "--constraint"),
    ("--only-binary",),
    ("--no-binary",),
    ("--platform",),
    ("--python-version",),
    ("--implementation",),
    ("--abi",),
)
_PIP_FLAGS = (("--no-index",), ("--pre",), ("--prefer-binary",))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's exits, with pip-ff's voice
        # main() says "pip-ff: " once: the rest of the program name ("store prune") follows.
        raise UsageError(f"{self.prog.removeprefix('pip-ff ')}: {message}")


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--store",
        metavar="DIR",
        help="the store (default: $PIPFF_STORE, else pip-ff in pip's cache)",
    )
    common.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="pip's cache directory, as for pip install (it doesn't move the store)",
    )
    common.add_argument("--json", action="store_true", help="write JSON instead of a table")
    common.add_argument("-v", "--verbose", action="store_true", help="say more")

    parser = _Parser(
        prog="pip-ff store",
        description="Inspect, check and prune pip-ff's local store.",
        epilog=(
            "The store is --store DIR, else $PIPFF_STORE, else pip-ff inside pip's cache "
            "directory as configured ($PIP_CACHE_DIR, pip's configuration, pip's default): the "
            "record an install uses, whatever --cache-dir it is given."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    info = commands.add_parser(
        "info", parents=[common], help="what the store holds", description="What the store holds."
    )
    info.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="don't hash every body (damage is then found by size only)",
    )

    check = commands.add_parser(
        "check",
        parents=[common],
        help="can these requirements be installed offline?",
        description=(
            "Can these requirements be installed offline, for this interpreter and platform? "
            "Runs pip's own resolver offline (pip-ff --offline install --dry-run "
            "--ignore-installed): exit status 0 only when all of them can. pip's index and "
            "platform options are passed on; give the index options the installs used."
        ),
    )
    check.add_argument(
        "-r", "--requirement", dest="files", action="append", default=[], metavar="FILE"
    )
    check.add_argument("requirements", nargs="*", metavar="REQ")
    for flags in _PIP_VALUE_OPTIONS:
        check.add_argument(*flags, action=_Forward, metavar="VALUE", help="as for pip install")
    for flags in _PIP_FLAGS:
        check.add_argument(*flags, action=_Forward, nargs=0, help="as for pip install")

    prune = commands.add_parser(
        "prune",
        parents=[common],
        help="remove old, surplus or damaged records",
        description=(
            "Remove entries by age, by count or by total size, and always what no one can use: "
            "bodies no entry names, entries whose body is gone, links, temporary files older "
            "than an hour. Holds the store lock while it runs; waits --wait seconds for it."
        ),
    )
    prune.add_argument("--older-than", metavar="DURATION", help="e.g. 90d, 12h, 30m, 3600")
    prune.add_argument("--max-size", metavar="SIZE", help="e.g. 500M, 2G, 1GiB (oldest go first)")
    prune.add_argument(
        "--keep", type=int, metavar="N", help="keep the newest N versions of each project's files"
    )
    prune.add_argument("--damaged", action="store_true", help="hash every body; remove bad ones")
    prune.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    prune.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_PRUNE_WAIT,
        metavar="SECONDS",
        help=f"how long to wait for the store lock (default {DEFAULT_PRUNE_WAIT:g})",
    )
    return parser


def main(args: list[str], *, run_pip: Callable[[list[str]], int]) -> int:
    """``pip-ff store ARGS``; returns the exit status.

    ``run_pip`` is pip-ff's own command line (``cli.main``), run in this process by ``check``.
    """
    parser = _parser()
    package_logger = logging.getLogger("pip_offline_fallback")
    handler: logging.Handler | None = None
    level = package_logger.level
    try:
        try:
            options = parser.parse_args(args)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        if options.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if options.verbose and options.command != "check":  # check shows pip's own output
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            package_logger.addHandler(handler)
            level = package_logger.level
            package_logger.setLevel(logging.DEBUG)
        location = locate(options.store, options.cache_dir)
        if options.command in ("info", "check"):
            from pip_offline_fallback.store import Store

            unreadable = Store(location.store).unreadable()
            if unreadable is not None:  # it must not look empty
                sys.stderr.write(
                    f"ERROR: pip-ff: can't read the store {location.store}: {unreadable}\n"
                )
                return EXIT_FAILED
        if options.command == "info":
            return run_info(location, options)
        if options.command == "check":
            return run_check(location, options, run_pip)
        return run_prune(location, options)
    except UsageError as exc:
        sys.stderr.write(f"ERROR: pip-ff: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    finally:
        if handler is not None:
            package_logger.removeHandler(handler)
            package_logger.setLevel(level)
        sys.stdout.flush()
