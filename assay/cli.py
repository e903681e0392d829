"""`assay`: one entry point, one sub-command module per idea.

Each module listed in COMMANDS provides `register(subparsers)`, which adds its sub-command(s)
and sets `func` on the parser to a callable taking the parsed args and returning an exit code.
Sub-command modules are imported lazily by name so that `assay classify` never pays for
importing the simulator or the serial stack.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module, sub-command names it registers) — add one line per new command module.
COMMANDS: list[tuple[str, tuple[str, ...]]] = [
    ("firmware.cli_classify", ("classify",)),
    ("sim.gse.cli", ("decode",)),
    ("sim.cli", ("run", "scenarios")),
    ("hil.cli", ("hil",)),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assay",
        description="Onboard asteroid-prospecting firmware, simulated.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name, _names in COMMANDS:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
