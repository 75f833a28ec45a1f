"""Build BCC random solid-solution samples: one composition, or a grid over the simplex.

One sample:  vmeb build --composition TaNbMo --cells 10 --seed 1 -o sample.extxyz
             [--a 3.24 | --potential SPEC] [--lammps-data sample.data]
A grid:      vmeb build --grid Ta,Nb,Mo --divisions 9 --cells 10 --seed 1 -o samples/
             [--n-test 9]  (one extxyz per composition plus index.csv; sample i gets seed S+i)

The lattice constant is relaxed with the potential (default: the built-in Ta-Nb-Mo EAM) at
each composition and cached, unless --a is given.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vmeb.cli import common

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vmeb build``."""
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--composition", help="one composition: 'Ta:1,Nb:1,Mo:1', 'Ta33Nb33Mo34' or 'TaNbMo'"
    )
    what.add_argument("--grid", metavar="ELEMENTS", help="simplex grid over elements: 'Ta,Nb,Mo'")
    parser.add_argument(
        "--divisions", type=common.positive_int, default=9,
        help="grid steps per unit fraction (default 9)",
    )  # fmt: skip
    parser.add_argument(
        "--n-test", type=common.nonnegative_int, default=0,
        help="mark this many grid compositions as test (index)",
    )  # fmt: skip
    parser.add_argument(
        "--cells", type=common.positive_int, required=True,
        help="conventional BCC cells per edge (2*n^3 atoms)",
    )  # fmt: skip
    lattice = parser.add_mutually_exclusive_group()
    lattice.add_argument(
        "--a", type=common.positive_float, help="lattice constant in Å (skips the relaxation)"
    )
    lattice.add_argument(
        "--potential",
        default="default",
        help="potential spec for the lattice constant: " + common.POTENTIAL_HELP,
    )
    common.add_device(parser, default=None)
    parser.add_argument(
        "--seed", type=common.nonnegative_int, default=0, help="random placement seed (default 0)"
    )
    common.add_output(parser, new=False)
    parser.add_argument(
        "--lammps-data",
        type=common.output_path,
        help="also write a LAMMPS data file (one sample; types in composition order)",
    )
    common.add_no_progress(parser)


def _write_csv_atomic(path, frame) -> None:
    from vmeb.files import atomic_output  # noqa: PLC0415

    with atomic_output(path) as tmp:
        frame.to_csv(tmp, index=False)


def _check_extxyz_name(path: Path) -> None:
    """Refuse an output name that `vmeb.structure.io.guess_format` would not read as extxyz."""
    from vmeb.errors import VmebError  # noqa: PLC0415
    from vmeb.structure.io import EXTXYZ_SUFFIXES, guess_format  # noqa: PLC0415

    try:
        fmt = guess_format(path)
    except VmebError:
        fmt = None
    if fmt != "extxyz":
        raise VmebError(
            f"{path}: --composition writes extxyz, but this name would not be read back as "
            f"extxyz; name the -o file *{' or *'.join(EXTXYZ_SUFFIXES)}"
        )


def _check(args: argparse.Namespace) -> None:
    from vmeb.errors import VmebError  # noqa: PLC0415

    if args.cells < 1:
        raise VmebError(f"--cells must be >= 1, got {args.cells}")
    if args.a is not None and not args.a > 0:
        raise VmebError(f"--a must be a positive lattice constant in Å, got {args.a}")
    if args.grid is not None and args.lammps_data:
        raise VmebError("--lammps-data is for one sample (--composition), not --grid")
    if args.grid is None and args.n_test:
        raise VmebError("--n-test is for --grid")
    if args.grid is None:
        if args.output.is_dir():
            raise VmebError(
                f"{args.output}: is a directory; --composition writes one structure file"
            )
        _check_extxyz_name(args.output)
    elif args.output.exists() and not args.output.is_dir():
        raise VmebError(f"{args.output}: is a file; --grid writes a folder of samples")
    if args.lammps_data is not None and args.lammps_data.is_dir():
        raise VmebError(f"{args.lammps_data}: is a directory; --lammps-data names a file")


def _potential(args: argparse.Namespace):
    """The potential of the lattice constant (its spec when ``--a`` is given: not loaded)."""
    if args.a is not None:
        return args.potential
    from vmeb.lammps.potentials import load_potential  # noqa: PLC0415

    return load_potential(args.potential, device=args.device)


def _build_one(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    from vmeb.lammps.lattice import random_alloy_for_potential  # noqa: PLC0415
    from vmeb.structure.build import parse_composition  # noqa: PLC0415
    from vmeb.structure.io import write_structure_file  # noqa: PLC0415

    fractions = parse_composition(args.composition)
    atoms = random_alloy_for_potential(
        fractions, args.cells, a=args.a, potential=_potential(args), seed=args.seed
    )
    out = write_structure_file(Path(args.output), atoms, fmt="extxyz")
    logger.info("wrote %s (%d atoms, a = %.5f Å)", out, len(atoms), atoms.info["a"])
    if args.lammps_data:
        species = [s for s in fractions if s in set(atoms.get_chemical_symbols())]
        data = write_structure_file(
            Path(args.lammps_data), atoms, fmt="lammps-data", species=species
        )
        logger.info("wrote %s (types: %s)", data, " ".join(species))
    return 0


def _build_grid(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415
    from tqdm import tqdm  # noqa: PLC0415

    from vmeb.lammps.lattice import random_alloy_for_potential  # noqa: PLC0415
    from vmeb.lammps.potentials import load_potential  # noqa: PLC0415
    from vmeb.structure.build import (  # noqa: PLC0415
        composition_label,
        parse_elements,
        simplex_grid,
        split_compositions,
    )
    from vmeb.structure.io import write_structure_file  # noqa: PLC0415

    elements = parse_elements(args.grid)
    potential = _potential(args)
    if args.a is None:  # an element the potential lacks fails before any sample is written
        load_potential(potential).check_species(elements)
    grid = simplex_grid(elements, args.divisions)
    _, test = split_compositions(grid, args.n_test, seed=args.seed)
    test_labels = {composition_label(c) for c in test}
    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    bar = tqdm(grid, desc="samples", unit="sample", disable=args.no_progress)
    for i, fractions in enumerate(bar):
        label = composition_label(fractions)
        atoms = random_alloy_for_potential(
            fractions, args.cells, a=args.a, potential=potential, seed=args.seed + i
        )
        name = f"{i:03d}_{label}.extxyz"
        write_structure_file(folder / name, atoms, fmt="extxyz")
        symbols = atoms.get_chemical_symbols()
        row = {"file": name, "composition": atoms.info["composition"]}
        row.update({f"x_{s}": fractions[s] for s in elements})
        row.update({f"n_{s}": symbols.count(s) for s in elements})
        row.update(
            n_atoms=len(atoms),
            cells=args.cells,
            a=atoms.info["a"],
            seed=args.seed + i,
            potential=atoms.info["potential"],
            split="test" if label in test_labels else "train",
        )
        rows.append(row)
    _write_csv_atomic(folder / "index.csv", pd.DataFrame(rows))
    logger.info("wrote %d samples and index.csv to %s", len(rows), folder)
    return 0


def run(args: argparse.Namespace) -> int:
    """Build one sample or a composition grid."""
    _check(args)
    if args.a is None:  # the lattice constant is relaxed with the potential in LAMMPS
        from vmeb.lammps.loading import require_lammps  # noqa: PLC0415

        require_lammps("vmeb build without --a")
    if args.grid is not None:
        return _build_grid(args)
    return _build_one(args)
