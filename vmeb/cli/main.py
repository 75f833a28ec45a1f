"""Entry point of the ``vmeb`` command.

Each subcommand is a module ``vmeb.cli.<module>`` with ``add_arguments(parser)`` and
``run(args) -> int | None``; heavy imports live inside ``run`` so ``vmeb --help`` starts fast.
Shared flags and validated argument types come from `vmeb.cli.common`. A bad argument is
argparse's one-line usage error and a `VmebError` one line ``vmeb: error: ...``, both on stderr
with exit status 2; ``vmeb --traceback COMMAND ...`` (or ``VMEB_TRACEBACK=1`` in the environment)
prints the full traceback above that line, for bug reports. Deprecated flag spellings still work
and log a warning.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
import traceback

from vmeb import __version__
from vmeb.cli import common
from vmeb.errors import VmebError

logger = logging.getLogger(__name__)

#: Environment variable that switches on `--traceback` (any value but empty or 0).
TRACEBACK_ENV = "VMEB_TRACEBACK"

#: (subcommand, module under vmeb.cli, one-line help)
COMMANDS: list[tuple[str, str, str]] = [
    ("run", "pipeline", "run the whole pipeline on the built-in default (or a config)"),
    ("build", "build", "build BCC alloy samples (random solid solutions)"),
    ("neb", "neb", "NEB barrier campaign over vacancy sites of samples -> dataset"),
    ("campaign", "campaign", "active-learning campaign: ensemble picks the next NEBs"),
    ("import", "importer", "import external barrier data into a vmeb dataset"),
    ("sdm", "sdm", "write one hop's spatial density map and render it"),
    ("train", "train", "train a barrier model (SDM CNN, NN, LR, MLP, type-map CNN, ...)"),
    ("evaluate", "evaluate", "evaluate a trained model on a dataset"),
    ("predict", "predict", "predict barrier spectra of a structure"),
    ("order", "order", "chemical short-range order by hybrid MC/MD or lattice swap MC"),
    ("analyse", "analyse", "CSRO order parameters and g(r) of structures"),
    ("properties", "properties", "pure-element reference properties of a potential"),
    ("kmc", "kmc", "kinetic Monte Carlo of vacancy diffusion with predicted barriers"),
    ("map", "compmap", "barrier spectra across composition space (ternary maps, line scans)"),
    ("diffusion-map", "diffmap", "tracer diffusivities across composition space by KMC"),
    ("ensemble", "ensemble", "train a deep ensemble and predict with uncertainty"),
    ("models", "models", "list the shipped pretrained models and their cards"),
]


def _available_commands() -> list[tuple[str, str, str]]:
    """Subcommands whose module exists in this installation."""
    found = []
    for name, module, help_text in COMMANDS:
        if importlib.util.find_spec(f"vmeb.cli.{module}") is not None:
            found.append((name, module, help_text))
    return found


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with all subcommands."""
    parser = common.ArgumentParser(
        prog="vmeb",
        description="Vacancy migration energy barrier spectra in multi-principal element alloys.",
        formatter_class=common.HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vmeb {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument(
        "--traceback",
        action="store_true",
        help=f"print the full traceback of an error (for bug reports; also {TRACEBACK_ENV}=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_text in _available_commands():
        mod = importlib.import_module(f"vmeb.cli.{module}")
        sub_parser = sub.add_parser(
            name, help=help_text, description=mod.__doc__, formatter_class=common.HelpFormatter
        )
        mod.add_arguments(sub_parser)
        sub_parser.set_defaults(_module=mod)
    common.set_formatter(parser)
    return parser


def _show_traceback(args: argparse.Namespace) -> None:
    """Print the traceback of the exception being handled if `--traceback` or the variable asks."""
    if args.traceback or os.environ.get(TRACEBACK_ENV, "").strip() not in ("", "0"):
        traceback.print_exc(file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the ``vmeb`` command; returns the exit status (2 for bad arguments)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2, one line printed)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if args.command is None:
        parser.print_help()
        return 1
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(
        level=min(level, logging.INFO), format="%(levelname)s %(name)s: %(message)s"
    )
    for note in getattr(args, "_deprecations", None) or ():
        logger.warning("%s (the old form goes away in the next release)", note)
    try:
        if getattr(args, "threads", None):
            import torch  # noqa: PLC0415

            torch.set_num_threads(args.threads)
        status = args._module.run(args)
    except VmebError as exc:
        _show_traceback(args)
        print(f"vmeb: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file system refusal during the work: one line
        _show_traceback(args)
        where = exc.filename if exc.filename is not None else "file system"
        print(f"vmeb: error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vmeb: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
