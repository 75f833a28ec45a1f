"""Barrier spectra across composition space: a simplex grid or a line scan, with the paper's maps.

For each composition a random BCC sample is built (at least --cells^3 conventional cells, enlarged
until every element present has --min-per-species atoms; paper: 5,000), every barrier is predicted
with MODEL (a checkpoint of vmeb train, or an ensemble directory of vmeb ensemble train, which adds
the ensemble spread), and the spectrum of each moving species is tabulated. Writes into OUTPUT
(created; it must not exist; it appears complete or not at all): compositions.csv, stats.csv
(count, mean, std, quantiles per composition and moving species, eV), histograms.npz, map.json,
and the figures: ternary_maps.png (paper Fig. 5; three elements and --divisions),
ternary_uncertainty.png (with an ensemble), line_scan.png and distributions.png (Supp. Figs. 8-9;
--line). --write-hops also keeps every hop table under hops/. Each finished composition is
saved at once in .OUTPUT.work beside OUTPUT: an interrupted map resumes when the same command
is run again (another model, settings or grid there is an error naming that directory).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vmeb.cli import common

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``vmeb map``."""
    parser.add_argument("model", type=Path, help="model checkpoint or ensemble directory")
    add_sample_arguments(parser, cells=10)
    common.add_output(parser)
    parser.add_argument(
        "--random-sites", type=common.positive_int, default=None,
        metavar=common.METAVARS["random_sites"], help=common.HELP["random_sites"],
    )  # fmt: skip
    parser.add_argument(
        "--max-sites", dest="random_sites", type=common.positive_int,
        action=common.DeprecatedAlias, new="--random-sites", help=common.SUPPRESS,
    )  # fmt: skip
    parser.add_argument("--write-hops", action="store_true", help="keep hop tables in hops/")
    parser.add_argument(
        "--chunk-sites", type=common.positive_int, default=2048, help="sites per chunk"
    )
    common.add_model_work(parser)


def add_sample_arguments(parser: argparse.ArgumentParser, cells: int) -> None:
    """The compositions and samples of a map (``vmeb map``, ``vmeb diffusion-map``)."""
    parser.add_argument("--elements", required=True, help="elements, e.g. Ta,Nb,Mo")
    grid = parser.add_mutually_exclusive_group(required=True)
    grid.add_argument(
        "--divisions", type=common.positive_int, help="simplex grid steps per unit (10: 10 at.%%)"
    )
    grid.add_argument(
        "--line", help="line scan ELEMENT:START..STOP[:STEP] in at.%%, e.g. Mo:34..99"
    )
    parser.add_argument(
        "--balance", default=None, help="ratio of the other elements on a line, e.g. Ta:1,Nb:1"
    )
    parser.add_argument(
        "--cells", type=common.positive_int, default=cells, help="smallest sample edge (cells)"
    )
    parser.add_argument(
        "--min-per-species", type=common.nonnegative_int, default=0,
        help="atoms of every element present (5000)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=common.nonnegative_int, default=0, help="seed of placements and sites"
    )
    parser.add_argument(
        "--lattice",
        choices=("vegard", "relax"),
        default="vegard",
        help="Vegard's law from relaxed pure elements, or a relaxation per composition",
    )
    parser.add_argument(
        "--lattice-constant", type=common.positive_float, default=None, help="fixed a (Å)"
    )
    parser.add_argument(
        "--pure-lattice", default=None, help="pure-element a for Vegard, e.g. Ta:3.303,Nb:3.307"
    )
    parser.add_argument(
        "--potential", default=None, help="potential spec for relaxations (built-in EAM)"
    )


def compositions_of(args: argparse.Namespace) -> tuple[list[str], list[dict], str | None]:
    """(elements, compositions, scanned element or None) of the sample arguments."""
    from vmeb.errors import VmebError
    from vmeb.spectra.maps import map_compositions
    from vmeb.structure.build import parse_elements

    if args.balance is not None and args.line is None:
        raise VmebError("--balance is for a line scan (--line), not --divisions")
    elements = parse_elements(args.elements)
    compositions, line_element = map_compositions(
        elements, divisions=args.divisions, line=args.line, balance=args.balance
    )
    return elements, compositions, line_element


def map_config_of(args: argparse.Namespace, max_sites: int | None = None, chunk_sites: int = 2048):
    """The `vmeb.spectra.maps.MapConfig` of the sample arguments (LAMMPS checked if needed)."""
    from vmeb.spectra.maps import MapConfig, needs_potential, parse_pure_lattice
    from vmeb.structure.build import parse_elements

    config = MapConfig(
        cells=args.cells,
        min_per_species=args.min_per_species,
        seed=args.seed,
        lattice=args.lattice,
        lattice_constant=args.lattice_constant,
        pure_lattice=parse_pure_lattice(args.pure_lattice) if args.pure_lattice else (),
        potential=args.potential,
        max_sites=max_sites,
        chunk_sites=chunk_sites,
        batch_size=args.batch_size,
        device=args.device,
    )
    if needs_potential(parse_elements(args.elements), config):
        from vmeb.lammps.loading import require_lammps

        require_lammps(f"vmeb {args.command} without --lattice-constant (or --pure-lattice for "
                       "every element)")  # fmt: skip
    return config


def run(args: argparse.Namespace) -> int:
    """Run ``vmeb map``."""
    from vmeb.errors import file_error
    from vmeb.learn.predictors import load_predictor
    from vmeb.spectra.maps import run_map_job

    if args.output.exists():
        raise file_error(args.output, "already exists (choose another output or remove it)")
    elements, compositions, line_element = compositions_of(args)
    config = map_config_of(args, args.random_sites, args.chunk_sites)
    predictor = load_predictor(args.model, args.device, args.precision)
    unknown = [e for e in elements if e not in predictor.species]
    if unknown:
        raise file_error(
            args.model, f"does not know element(s) {unknown} (it knows {list(predictor.species)})"
        )
    result = run_map_job(
        predictor,
        compositions,
        config,
        args.output,
        model_path=args.model,
        line_element=line_element,
        write_hops=args.write_hops,
        progress=not args.no_progress,
        meta={"model": str(args.model), "elements": elements, "line": args.line},
    )
    sys.stdout.write(
        f"{len(result.compositions)} compositions, {int(result.compositions['n_hops'].sum())} "
        f"barriers -> {args.output}\n"
    )
    return 0
