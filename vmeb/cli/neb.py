"""NEB barrier campaign over vacancy sites of samples, written to a barrier dataset.

Each sample file (extxyz, LAMMPS data, POSCAR) becomes a sample of the dataset, its id the file
name without extension. One task per vacancy site computes its 8 first-neighbour hops by
climbing-image NEB; each task's rows are appended as soon as it finishes. Run the same command
again on the same dataset to resume a stopped campaign: finished sites are skipped.

Examples:
    vmeb neb samples/*.extxyz -o data/eam --sites 20 --seed 1
    vmeb neb big.extxyz -o data/big --scheduler tcp://10.0.0.5:8786
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vmeb.errors import VmebError


def _sites(text: str) -> int | None:
    if text == "all":
        return None
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--sites: 'all' or a positive integer, not {text!r}"
        ) from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"--sites: must be positive, got {value}")
    return value


def _config_file(path: Path | None, allowed: set[str]) -> dict:
    """Settings from a YAML/JSON mapping file whose keys are in ``allowed``."""
    if path is None:
        return {}
    from vmeb.config import check_keys, read_config  # noqa: PLC0415

    data = read_config(path, "NEB settings")
    check_keys(data, allowed, path, "NEB settings")
    return data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``vmeb neb`` arguments."""
    parser.add_argument("samples", nargs="+", type=Path, help="perfect sample structure files")
    parser.add_argument("-o", "--out", required=True, type=Path, help="output (or resumed) dataset")
    parser.add_argument(
        "--potential", default="default", help="'default', 'eam/alloy:FILE' or 'snap:COEFF,PARAM'"
    )
    parser.add_argument(
        "--sites", type=_sites, default=None, help="'all' (default) or N random sites per sample"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random site draw")
    parser.add_argument("--replicas", type=int, default=None, help="NEB replicas (default 7)")
    parser.add_argument(
        "--engine",
        choices=("lammps", "pool", "ase"),
        default=None,
        help="NEB engine (default lammps; pool: faster for SNAP and large cells on few cores)",
    )
    parser.add_argument(
        "--neb-config",
        type=Path,
        default=None,
        help="YAML/JSON file of NEB settings (keys: vmeb.neb.site.NEBConfig fields)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="local worker processes (default: cores / ranks)"
    )
    parser.add_argument(
        "--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786"
    )
    parser.add_argument(
        "--retries", type=int, default=0, help="extra attempts for a task that raises"
    )
    parser.add_argument(
        "--species", default=None, help="element of each LAMMPS atom type, comma separated"
    )
    parser.add_argument(
        "--max-sites", type=int, default=None, help="stop after N sites (resume later)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run the campaign and print its summary line."""
    import json  # noqa: PLC0415

    from vmeb.lammps.potentials import load_potential  # noqa: PLC0415
    from vmeb.neb.campaign import run_neb_campaign  # noqa: PLC0415
    from vmeb.neb.site import NEBConfig  # noqa: PLC0415
    from vmeb.structure.io import read_structure  # noqa: PLC0415

    if args.workers is not None and args.workers < 1:
        raise VmebError(f"--workers must be at least 1, got {args.workers}")
    species = args.species.split(",") if args.species else None
    samples = {}
    for path in args.samples:
        sample_id = path.name.split(".")[0]
        if sample_id in samples:
            raise VmebError(f"{path}: sample id {sample_id!r} used by two files; rename one")
        samples[sample_id] = read_structure(path, species=species)
    potential = load_potential(args.potential)
    options = _config_file(args.neb_config, set(NEBConfig.__dataclass_fields__))
    if args.replicas is not None:
        options["n_replicas"] = args.replicas
    if args.engine is not None:
        options["engine"] = args.engine
    if "retry_replicas" in options:
        options["retry_replicas"] = tuple(options["retry_replicas"])
    try:
        config = NEBConfig(**options)
    except (TypeError, ValueError) as exc:
        raise VmebError(f"{args.neb_config or 'command line'}: bad NEB settings ({exc})") from exc
    report = run_neb_campaign(
        samples,
        args.out,
        potential,
        config,
        sites=args.sites,
        seed=args.seed,
        workers=args.workers,
        scheduler=args.scheduler,
        retries=args.retries,
        progress=not args.no_progress,
        max_sites=args.max_sites,
    )
    print(json.dumps(report.to_json()))
    return 0
