"""Command-line front end: ``phasemix <command> ...``.

Each subcommand lives in ``phasemix/commands/<name>.py`` and exposes ``register(subparsers)``; heavy imports
happen inside the command's run function, so ``phasemix --help`` stays instant. Errors print one line to stderr
(no traceback) and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from phasemix import __version__

# name -> module under phasemix.commands that registers it
COMMANDS: dict[str, str] = {
    "predict": "predict",
    "phase-diagram": "phase_diagram",
    "fit": "fit",
    "calibrate": "calibrate",
    "three-phase": "three_phase",
    "simulate": "simulate",
    "validate": "validate",
}


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="phasemix",
        description="Predict, simulate and check knowledge acquisition from data mixtures.",
    )
    parser.add_argument("--version", action="version", version=f"phasemix {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(f"phasemix.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"phasemix.commands.{module_name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``phasemix`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("phasemix: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, RuntimeError, OSError, ImportError) as exc:
        print(f"phasemix {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
