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

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``vmeb map``."""
    parser.add_argument("model", type=Path, help="model checkpoint or ensemble directory")
    parser.add_argument("--elements", required=True, help="elements, e.g. Ta,Nb,Mo")
    grid = parser.add_mutually_exclusive_group(required=True)
    grid.add_argument("--divisions", type=int, help="simplex grid steps per unit (10: 10 at.%%)")
    grid.add_argument(
        "--line", help="line scan ELEMENT:START..STOP[:STEP] in at.%%, e.g. Mo:34..99"
    )
    parser.add_argument(
        "--balance", default=None, help="ratio of the other elements on a line, e.g. Ta:1,Nb:1"
    )
    parser.add_argument("--cells", type=int, default=10, help="smallest sample edge (cells)")
    parser.add_argument(
        "--min-per-species", type=int, default=0, help="atoms of every element present (5000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of placements and sites")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    parser.add_argument(
        "--lattice",
        choices=("vegard", "relax"),
        default="vegard",
        help="Vegard's law from relaxed pure elements, or a relaxation per composition",
    )
    parser.add_argument("--lattice-constant", type=float, default=None, help="fixed a (Å)")
    parser.add_argument(
        "--pure-lattice", default=None, help="pure-element a for Vegard, e.g. Ta:3.303,Nb:3.307"
    )
    parser.add_argument(
        "--potential", default=None, help="potential spec for relaxations (built-in EAM)"
    )
    parser.add_argument("--max-sites", type=int, default=None, help="random sites per sample")
    parser.add_argument("--write-hops", action="store_true", help="keep hop tables in hops/")
    parser.add_argument("--chunk-sites", type=int, default=2048, help="sites per chunk")
    parser.add_argument("--batch-size", type=int, default=256, help="hops per model batch")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda ...)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def parse_pure_lattice(text: str) -> tuple[tuple[str, float], ...]:
    """``"Ta:3.303,Nb:3.307"`` -> ((element, a), ...); raises `VmebError` on bad input."""
    from vmeb.errors import VmebError

    pairs = []
    for part in text.replace(" ", "").split(","):
        symbol, _, value = part.partition(":")
        try:
            pairs.append((symbol, float(value)))
        except ValueError:
            raise VmebError(f"--pure-lattice {text!r}: use 'Ta:3.303,Nb:3.307' (Å)") from None
    return tuple(pairs)


def work_dir(output: Path) -> Path:
    """The resume directory of a map written to ``output`` (hidden, beside it)."""
    return output.parent / f".{output.name}.work"


def model_identity(path: Path) -> dict:
    """What identifies the model of a map job for resuming: path, size and modification time."""
    from vmeb.learn.pretrained import resolve_checkpoint

    path = resolve_checkpoint(path)  # a shipped model's name (vmeb models) -> its checkpoint
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {
        "path": str(path.resolve()),
        "files": [[str(p.relative_to(path)) if path.is_dir() else p.name, p.stat().st_size,
                   p.stat().st_mtime_ns] for p in files],
    }  # fmt: skip


def load_predictor(path: Path, device: str):
    """A checkpoint file, or an ensemble directory (holding ensemble.json)."""
    from vmeb.errors import file_error
    from vmeb.learn.pretrained import resolve_checkpoint

    path = resolve_checkpoint(path)  # a shipped model's name (vmeb models) -> its checkpoint

    if path.is_dir():
        from vmeb.learn.ensembles import load_ensemble

        return load_ensemble(path, device=device)
    if not path.exists():
        raise file_error(path, "no such checkpoint file or ensemble directory")
    from vmeb.cli.predict import load_model

    return load_model(path, device)


def run(args: argparse.Namespace) -> int:
    """Run ``vmeb map``."""
    import shutil

    from vmeb.errors import file_error
    from vmeb.spectra.maps import (
        MapConfig,
        composition_map,
        line_compositions,
        parse_line,
        write_map,
    )
    from vmeb.structure.build import parse_elements, simplex_grid

    if args.output.exists():
        raise file_error(args.output, "already exists (choose another output or remove it)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    elements = parse_elements(args.elements)
    line_element = None
    if args.line is not None:
        element, start, stop, step = parse_line(args.line)
        compositions = line_compositions(elements, element, start, stop, step, args.balance)
        line_element = element
    else:
        compositions = simplex_grid(elements, args.divisions)
    config = MapConfig(
        cells=args.cells,
        min_per_species=args.min_per_species,
        seed=args.seed,
        lattice=args.lattice,
        lattice_constant=args.lattice_constant,
        pure_lattice=parse_pure_lattice(args.pure_lattice) if args.pure_lattice else (),
        potential=args.potential,
        max_sites=args.max_sites,
        chunk_sites=args.chunk_sites,
        batch_size=args.batch_size,
        device=args.device,
    )
    predictor = load_predictor(args.model, args.device)
    unknown = [e for e in elements if e not in predictor.species]
    if unknown:
        raise file_error(
            args.model, f"does not know element(s) {unknown} (it knows {list(predictor.species)})"
        )
    work = work_dir(args.output)
    hops_dir = work / "hops" if args.write_hops else None

    def keep(index: int, label: str, table) -> None:
        hops_dir.mkdir(parents=True, exist_ok=True)
        table.to_csv(hops_dir / f"{index:04d}_{label}.csv.gz", index=False)

    try:
        result = composition_map(
            predictor,
            compositions,
            config,
            line_element=line_element,
            on_hops=keep if hops_dir else None,
            progress=not args.no_progress,
            work_dir=work,
            job_info={"model": model_identity(args.model), "write_hops": args.write_hops},
        )
    except BaseException:
        if (work / "parts").is_dir() and any((work / "parts").iterdir()):
            logger.warning("map interrupted: finished compositions are kept in %s; run the "
                           "same command again to resume", work)  # fmt: skip
        raise
    result.meta.update(model=str(args.model), elements=elements, line=args.line)
    write_map(result, args.output, hops_dir)
    shutil.rmtree(work, ignore_errors=True)
    sys.stdout.write(
        f"{len(result.compositions)} compositions, {int(result.compositions['n_hops'].sum())} "
        f"barriers -> {args.output}\n"
    )
    return 0
