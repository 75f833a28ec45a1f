"""CSRO order parameters (delta, Warren-Cowley alpha) and g(r) of structures.

For each STRUCTURE: ordered pair counts N_ab^k per BCC shell, the paper's delta_ab^k = N_ab^k -
N0_ab^k (N0 = N c_a z_k c_b), Warren-Cowley alpha_ab^k, and their spread over random
permutations of the same sample (so |alpha| > 3 sigma reads as significant order), plus g(r).
With --model, the trained model's barriers of the structures' vacancy sites, their mean,
standard deviation and distributions per moving species versus CSRO state (paper Supp. Figs.
5-6); the state is the ``md_step`` (or ``mc_sweep``) that ``vmeb order`` stored in snapshots.

Output DIR: sro.csv, gr.csv, figures/ (gr_<name>.png, warren_cowley.png, order_vs_step.png);
with --model also barriers.csv, barrier_statistics.csv, figures/barrier_statistics.png and
figures/barrier_distributions.png.

Examples:
    vmeb analyse csro/snapshots/*.extxyz -o csro_analysis
    vmeb analyse csro/snapshots/*.extxyz --model model/model.pt --random-sites 200 -o csro_spectra
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vmeb.cli import common
from vmeb.errors import VmebError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``vmeb analyse`` arguments."""
    parser.add_argument("structures", nargs="+", type=common.existing_file, help="structure files")
    common.add_output(parser)
    parser.add_argument(
        "--shells", type=common.positive_int, default=2, help="BCC neighbour shells (default 2)"
    )
    parser.add_argument(
        "--lattice-constant", type=common.positive_float, default=None,
        help="BCC lattice constant in Å (default: from the volume per atom)",
    )  # fmt: skip
    parser.add_argument("--rmax", type=common.positive_float, default=8.0, help="g(r) range (Å)")
    parser.add_argument("--bin", type=common.positive_float, default=0.02, help="g(r) bin (Å)")
    parser.add_argument(
        "--random-samples", type=common.int_at_least(2), default=100,
        help="random permutations for the sampling spread of delta and alpha (>= 2)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=common.nonnegative_int, default=0, help="seed of permutations and site draws"
    )
    parser.add_argument("--model", type=Path, default=None, help="trained model (model.pt)")
    common.add_sites(parser, random=True, legacy_count=True)
    common.add_species(parser)
    common.add_model_work(parser)


def _name(path: Path) -> str:
    return path.name.split(".")[0]


def _check_sites(args: argparse.Namespace, sites, structures: dict) -> None:
    """Refuse vacancy sites that would be ignored or cannot be drawn, before any work: sites
    without --model (only the model's barriers use them), more random sites than the smallest
    structure has atoms, an index beyond the smallest structure."""
    given = next(
        (f for f in ("sites", "sites_file", "random_sites") if getattr(args, f, None) is not None),
        None,
    )
    if given is None:
        return
    flag = "--" + given.replace("_", "-")
    if args.model is None:
        raise VmebError(f"{flag} chooses the sites of the model's barriers: it needs --model")
    name, atoms = min(structures.items(), key=lambda item: len(item[1]))
    if isinstance(sites, int) and sites > len(atoms):
        raise VmebError(
            f"--random-sites {sites}: more than the {len(atoms)} sites of structure {name!r}"
        )
    if not isinstance(sites, int) and sites and max(sites) >= len(atoms):
        raise VmebError(
            f"{flag}: site index {max(sites)} out of range 0..{len(atoms) - 1} of structure "
            f"{name!r} ({len(atoms)} atoms)"
        )
    if not isinstance(sites, int) and not sites:
        raise VmebError(f"{flag}: no site indices given")


def run(args: argparse.Namespace) -> int:
    """Analyse the structures and write tables and figures."""
    import numpy as np  # noqa: PLC0415

    from vmeb.csro.report import (  # noqa: PLC0415
        OrderReportConfig,
        most_significant_order,
        state_column,
        write_order_report,
    )
    from vmeb.files import staged_output  # noqa: PLC0415
    from vmeb.species import SpeciesTable  # noqa: PLC0415
    from vmeb.structure.io import read_structure  # noqa: PLC0415

    if args.output.exists():
        raise VmebError(f"{args.output}: already exists (choose another output or remove it)")
    config = OrderReportConfig(
        shells=args.shells,
        lattice_constant=args.lattice_constant,
        rmax=args.rmax,
        bin_width=args.bin,
        random_samples=args.random_samples,
        seed=args.seed,
    )
    species = list(args.species) if args.species else None
    structures = {}
    for path in args.structures:
        if _name(path) in structures:
            raise VmebError(f"{path}: structure name {_name(path)!r} used by two files")
        structures[_name(path)] = read_structure(path, species=species)
    present = [s for atoms in structures.values() for s in atoms.get_chemical_symbols()]
    order = list(SpeciesTable.for_symbols(present, species or None))
    sites = common.sites_argument(args)
    _check_sites(args, sites, structures)
    if args.model is not None:
        from vmeb.learn.predictors import load_model  # noqa: PLC0415

        trained = load_model(args.model, args.device, args.precision)
        order = list(trained.species)
    with staged_output(args.output) as tmp:
        table = write_order_report(structures, order, tmp, config)
        if args.model is not None:
            from vmeb.spectra.csro import write_barrier_report  # noqa: PLC0415

            write_barrier_report(
                structures,
                trained,
                state_column(structures),
                tmp,
                sites=sites,
                rng=np.random.default_rng(args.seed),
                batch_size=args.batch_size,
                device=args.device,
                progress=not args.no_progress,
            )
    measured = table[np.isfinite(table["significance"].to_numpy(dtype=float))]
    for name in sorted(set(table["structure"]) - set(measured["structure"])):
        print(f"{name}: no order measurable (the random permutations all give the same counts)")
    for _, worst in most_significant_order(measured).iterrows():
        print(
            f"{worst['structure']}: most significant order alpha_{worst['shell']}({worst['pair']})"
            f" = {worst['alpha']:+.3f}, {worst['significance']:.1f} sigma of random"
        )
    print(f"wrote {args.output}")
    return 0
