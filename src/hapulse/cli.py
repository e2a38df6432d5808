"""The `hapulse` command line.

Each subcommand lives in its own module under :mod:`hapulse.commands` and
exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their subcommand runs (parsers are built from
the small ``add_arguments`` functions), so ``hapulse --help`` stays fast.
Errors the user can cause are printed without a traceback: :class:`UserError`,
:class:`hapulse.runtime.RuntimeErrorWithHint` (its ``exit_code``) and a
``PermissionError`` (exit 4: this command needs root).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand name -> module under hapulse.commands
COMMANDS: dict[str, str] = {
    "check": "check",
    "decode": "decode",
    "start": "daemonctl",
    "stop": "daemonctl",
    "restart": "daemonctl",
    "reload": "daemonctl",
    "status": "status",
    "events": "events",
    "cl_status": "cl_status",
    "standby": "standby",
    "takeover": "standby",
    "cleanup": "cleanup",
    "demo": "demo",
    "export": "export",
}


EXIT_NO_RIGHTS = 4  # LSB: "user had insufficient privilege" (= hapulse.runtime.EXIT_NO_RIGHTS)


class UserError(Exception):
    """An error the user caused; printed as ``hapulse: message`` with exit code 1 (or ``code``)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hapulse",
        description="High-availability cluster daemon, compatible with Heartbeat 3.0.6.",
    )
    from hapulse import __version__

    parser.add_argument("--version", action="version", version=f"hapulse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, modname in COMMANDS.items():
        try:
            mod = importlib.import_module(f"hapulse.commands.{modname}")
        except ModuleNotFoundError as exc:
            if exc.name != f"hapulse.commands.{modname}":
                raise
            continue
        p = sub.add_parser(name, help=getattr(mod, "HELP", None))
        adder = getattr(mod, f"add_arguments_{name}", None) or mod.add_arguments
        adder(p)
        p.set_defaults(_module=mod, _name=name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    mod = args._module
    runner = getattr(mod, f"run_{args._name}", None) or mod.run
    try:
        return int(runner(args) or 0)
    except UserError as exc:
        print(f"hapulse: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except PermissionError as exc:  # a root-only file or directory, reached as another user
        print(f"hapulse: {exc.filename or ''}: permission denied; this command needs root "
              f"(sudo hapulse {args._name})", file=sys.stderr)
        return EXIT_NO_RIGHTS
    except Exception as exc:
        from hapulse.runtime import RuntimeErrorWithHint

        if not isinstance(exc, RuntimeErrorWithHint):
            raise
        print(f"hapulse: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
