"""Predict the vacancy migration barrier spectra of a structure with a trained model.

The 8 barriers of every vacancy site (or of the sites given) of a BCC structure file (extxyz,
LAMMPS data or dump, POSCAR). Writes into OUTPUT (created; it must not exist): hops.csv (site,
moving_index, moving_species, barrier in eV), spectrum.csv and spectrum.json (count, mean, std and
quantiles per moving species) and spectrum.png (paper Supp. Fig. 3 style; with --reference, the
true barriers of a dataset are drawn under the predicted curves). The directory appears complete
or not at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``vmeb predict``."""
    from vmeb.structure.io import FORMATS

    parser.add_argument("model", type=Path, help="trained model checkpoint (vmeb train)")
    parser.add_argument("structure", type=Path, help="perfect BCC structure file")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    sites = parser.add_mutually_exclusive_group()
    sites.add_argument(
        "--sites", type=int, nargs="+", metavar="INDEX", help="vacancy sites (0-based atom indices)"
    )
    sites.add_argument(
        "--sites-file", type=Path, help="text file of vacancy sites (0-based, '#' comments)"
    )
    parser.add_argument("--format", choices=FORMATS, default=None, help="structure file format")
    parser.add_argument(
        "--species", nargs="+", default=None, help="element of each LAMMPS atom type, type 1 first"
    )
    parser.add_argument(
        "--reference", type=Path, default=None, help="dataset whose true barriers to overlay"
    )
    parser.add_argument("--chunk-sites", type=int, default=2048, help="sites per chunk")
    parser.add_argument("--batch-size", type=int, default=256, help="hops per model batch")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1 ...)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def load_model(path: Path, device: str = "cpu") -> Any:
    """Load a checkpoint, turning any failure into one `VmebError` line naming the file."""
    from vmeb.errors import VmebError, file_error
    from vmeb.learn.pretrained import resolve_checkpoint
    from vmeb.learn.training import load_checkpoint

    path = resolve_checkpoint(path)  # a shipped model's name (vmeb models) -> its checkpoint
    if not path.is_file():
        raise file_error(path, "no such checkpoint file")
    try:
        return load_checkpoint(path, device=device)
    except VmebError as exc:
        message = str(exc)
        raise (exc if str(path) in message else file_error(path, message)) from None
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds on a bad file
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise file_error(
            path, f"corrupted or incompatible checkpoint ({type(exc).__name__}: {detail})"
        ) from exc


def read_sites_file(path: Path) -> list[int]:
    """Integers of a sites file: whitespace or comma separated, ``#`` starts a comment."""
    from vmeb.errors import file_error

    if not path.is_file():
        raise file_error(path, "no such sites file")
    sites = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for token in line.split("#", 1)[0].replace(",", " ").split():
            try:
                sites.append(int(token))
            except ValueError:
                raise file_error(path, f"line {number}: {token!r} is not an integer") from None
    if not sites:
        raise file_error(path, "no site indices")
    return sites


def _reference_barriers(path: Path) -> dict[str, Any]:
    from vmeb.data.dataset import open_dataset

    hops = open_dataset(path).valid_hops()
    return {s: part["barrier"].to_numpy() for s, part in hops.groupby("moving_species")}


def run(args: argparse.Namespace) -> int:
    """Run ``vmeb predict``."""
    import json

    from vmeb.data.dataset import staged_output
    from vmeb.errors import VmebError, file_error
    from vmeb.plots.figures import save_figure, spectrum_plot
    from vmeb.spectra.predict import barriers_by_species, predict_barriers, spectrum_statistics
    from vmeb.structure.io import read_structure

    if args.output.exists():
        raise file_error(args.output, "already exists (choose another output or remove it)")
    if args.chunk_sites < 1 or args.batch_size < 1:
        raise VmebError("--chunk-sites and --batch-size must be positive")
    trained = load_model(args.model, args.device)
    atoms = read_structure(args.structure, args.format, args.species)
    sites = args.sites
    sites_source = args.structure
    if args.sites_file is not None:
        sites = read_sites_file(args.sites_file)
        sites_source = args.sites_file
    reference = _reference_barriers(args.reference) if args.reference else None
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
    except VmebError as exc:
        source = sites_source if "site index" in str(exc) else args.structure
        raise file_error(source, str(exc)) from None
    species = [s for s in trained.species if s in set(table["moving_species"])]
    stats = spectrum_statistics(table, species)
    with staged_output(args.output) as staging:
        table.to_csv(staging / "hops.csv", index=False)
        stats.to_csv(staging / "spectrum.csv", index=False)
        payload = {
            "model": str(args.model),
            "structure": str(args.structure),
            "n_atoms": len(atoms),
            "n_sites": int(table["site"].nunique()),
            "spectra": json.loads(stats.to_json(orient="records")),
        }
        (staging / "spectrum.json").write_text(json.dumps(payload, indent=2) + "\n")
        predicted = barriers_by_species(table, species)
        figure = spectrum_plot(predicted, reference, title=args.structure.name)
        save_figure(figure, staging / "spectrum.png")
    overall = stats.iloc[-1]
    sys.stdout.write(
        f"{len(table)} barriers at {payload['n_sites']} sites: mean {overall['mean']:.4f} eV, "
        f"std {overall['std']:.4f} eV -> {args.output}\n"
    )
    return 0
