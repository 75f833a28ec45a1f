"""Import external barrier data into a new vmeb dataset.

DFT data of the First-principle-NNK format (one folder per sample with POSCAR,
atomid_for_NN.txt, barrier_for_NN.txt; a parent folder imports all its sample folders):
    vmeb import fpnnk DIR... -o DATASET [--species Nb,Mo,Ta,W,V]

One structure file plus a CSV of (vacancy index, moving index, barrier in eV):
    vmeb import csv STRUCTURE CSV -o DATASET [--species Ta,Nb,Mo] [--one-based]

Barriers <= 0 or not finite are stored as failed hops (never trained on); the counts read, kept
and rejected are printed per composition. The dataset appears complete or not at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vmeb.cli import common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``vmeb import``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)

    fpnnk = sources.add_parser("fpnnk", help="First-principle-NNK DFT folders", description=__doc__)
    fpnnk.add_argument("folders", type=Path, nargs="+", metavar="DIR", help="sample folders")
    common.add_output(fpnnk)
    common.add_species(fpnnk, legacy_spaces=True)

    table = sources.add_parser(
        "csv",
        help="a structure file plus a CSV of barriers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    table.add_argument(
        "structure", type=common.existing_file, help="perfect (vacancy-free) structure file"
    )
    table.add_argument(
        "csv", type=common.existing_file, help="CSV: vacancy index, moving index, barrier (eV)"
    )
    common.add_output(table)
    common.add_species(table, legacy_spaces=True)
    table.add_argument("--one-based", action="store_true", help="CSV indices count from 1")
    table.add_argument("--format", default=None, help="structure format (default: from the name)")
    table.add_argument("--sample-id", default=None, help="sample id (default: file name stem)")
    table.add_argument("--group", default=None, help="metrics group label (default: formula)")


def run(args: argparse.Namespace) -> int:
    """Run ``vmeb import``."""
    from vmeb.data.importers import import_csv, import_fpnnk  # noqa: PLC0415

    species = list(args.species) if args.species else None
    if args.source == "fpnnk":
        report = import_fpnnk(args.folders, args.output, species=species)
    else:
        report = import_csv(
            args.structure,
            args.csv,
            args.output,
            species=species,
            one_based=args.one_based,
            sample_id=args.sample_id,
            group=args.group,
            fmt=args.format,
        )
    print(report.table())
    print(f"wrote {report.root} (species {', '.join(report.species)})")
    return 0
