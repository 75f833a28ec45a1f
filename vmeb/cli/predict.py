"""Predict the vacancy migration barrier spectra of a structure with a trained model.

The 8 barriers of every vacancy site (or of the sites given) of a BCC structure file (extxyz,
LAMMPS data or dump, POSCAR). Writes into OUTPUT (created; it must not exist): hops.csv (site,
moving_index, moving_species, barrier in eV; --hops NAME.parquet for Parquet), spectrum.csv and
spectrum.json (count, mean, std and quantiles per moving species), histograms.csv (counts per
moving species on common bins), with --per-site NAME the structure with per-site barriers
(.extxyz or LAMMPS .dump) and spectrum.png (paper Supp. Fig. 3 style; with --reference, the
true barriers of a dataset are drawn under the predicted curves). The directory appears complete
or not at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vmeb.cli import common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``vmeb predict``."""
    from vmeb.structure.io import FORMATS

    parser.add_argument("model", type=Path, help="trained model checkpoint (vmeb train)")
    parser.add_argument("structure", type=common.existing_file, help="perfect BCC structure file")
    common.add_output(parser)
    common.add_sites(parser, legacy_spaces=True)
    parser.add_argument("--format", choices=FORMATS, default=None, help="structure file format")
    common.add_species(parser, legacy_spaces=True)
    parser.add_argument(
        "--reference", type=common.existing_dir, default=None,
        help="dataset whose true barriers to overlay",
    )  # fmt: skip
    parser.add_argument(
        "--chunk-sites", type=common.positive_int, default=2048, help="sites per chunk"
    )
    common.add_model_work(parser)
    parser.add_argument(
        "--hops",
        default="hops.csv",
        metavar="NAME",
        help="hop table file in OUTPUT: .csv (default hops.csv) or .parquet (large samples)",
    )
    parser.add_argument(
        "--per-site",
        default=None,
        metavar="NAME",
        help="also write the structure with per-site barriers into OUTPUT/NAME "
        "(.extxyz or .dump, for OVITO)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``vmeb predict``."""
    from vmeb.data.dataset import open_dataset
    from vmeb.errors import SiteIndexError, VmebError, file_error
    from vmeb.learn.predictors import load_model
    from vmeb.spectra.output import check_output_names, write_spectrum
    from vmeb.spectra.predict import predict_barriers
    from vmeb.structure.io import read_structure

    if args.output.exists():
        raise file_error(args.output, "already exists (choose another output or remove it)")
    check_output_names(args.hops, args.per_site)
    trained = load_model(args.model, args.device, args.precision)
    atoms = read_structure(args.structure, args.format, args.species)
    sites = common.sites_argument(args)
    reference = open_dataset(args.reference).valid_hops() if args.reference else None
    try:
        table = predict_barriers(
            trained,
            atoms,
            sites,
            chunk_sites=args.chunk_sites,
            batch_size=args.batch_size,
            device=args.device,
            progress=not args.no_progress,
        )
    except SiteIndexError as exc:
        raise file_error(args.sites_file or args.structure, str(exc)) from None
    except VmebError as exc:
        raise file_error(args.structure, str(exc)) from None
    written = write_spectrum(
        args.output,
        table,
        atoms,
        trained.species,
        meta={"model": str(args.model), "structure": str(args.structure)},
        hops=args.hops,
        per_site=args.per_site,
        reference=reference,
        title=args.structure.name,
    )
    overall = written.statistics.iloc[-1]
    sys.stdout.write(
        f"{len(table)} barriers at {written.summary['n_sites']} sites: mean "
        f"{overall['mean']:.4f} eV, std {overall['std']:.4f} eV -> {args.output}\n"
    )
    if "interval_std" in table.attrs:
        sys.stdout.write(
            f"calibrated error sigma {table.attrs['interval_std']:.3f} eV per barrier (composition "
            f"{table.attrs['composition_distance']:.2f} from the nearest training composition)\n"
        )
    return 0
