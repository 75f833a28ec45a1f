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
    common.add_sample_arguments(parser, cells=10)
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


def run(args: argparse.Namespace) -> int:
    """Run ``vmeb map``."""
    from vmeb.errors import file_error
    from vmeb.learn.predictors import load_predictor
    from vmeb.spectra.maps import run_map_job

    if args.output.exists():
        raise file_error(args.output, "already exists (choose another output or remove it)")
    elements, compositions, line_element = common.compositions_of(args)
    config = common.map_config_of(args, args.random_sites, args.chunk_sites)
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
