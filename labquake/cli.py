"""The ``labquake`` command.

Sub-commands live in :mod:`labquake.commands`, one module each, and are imported lazily
so that ``labquake --help`` is fast. Each module defines::

    HELP: str                                   # one line for the sub-command list
    def add_arguments(parser) -> None           # argparse options
    def run(args) -> int                        # the work; returns the exit status

A :class:`labquake.errors.LabquakeError` (a user mistake) is printed as one line,
``labquake: error: ...``, without a traceback, and the exit status is 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from labquake.errors import LabquakeError

#: sub-command name -> module under labquake.commands
COMMANDS: dict[str, str] = {
    "simulate": "simulate",
    "analyze": "analyze",
    "render": "render",
    "import-pfc": "import_pfc",
    "export-pfc": "export_pfc",
    "campaign": "campaign",
    "calibrate": "calibrate",
    "forecast": "forecast",
}


def _load(name: str):
    return importlib.import_module(f"labquake.commands.{COMMANDS[name]}")


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every available sub-command.

    Only the ``selected`` sub-command (all of them when ``None``) gets its full options:
    some option lists import heavy numerical modules, and ``labquake render`` should not
    pay for ``labquake analyze``'s imports.
    """
    from labquake import __version__

    parser = argparse.ArgumentParser(prog="labquake", description="Laboratory-earthquake workbench.")
    parser.add_argument("--version", action="version", version=f"labquake {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = _load(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("labquake.commands"):
                continue  # not built yet
            raise
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        if selected is None or selected == name:
            mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``labquake`` console script."""
    tokens = sys.argv[1:] if argv is None else list(argv)
    selected = next((t for t in tokens if not t.startswith("-")), None)
    parser = build_parser(selected if selected in COMMANDS else None)
    args = parser.parse_args(tokens)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except LabquakeError as exc:
        print(f"labquake: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labquake: interrupted; completed results are kept, rerun with --resume to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
