"""Chemical short-range order by hybrid MC/MD (paper Methods) or lattice swap Monte Carlo.

Hybrid MC/MD: NVT Nose-Hoover MD at 300 K (2 fs steps, Tdamp 100 steps) with 30 Metropolis swap
trials per species pair every 100 MD steps. Lattice MC: swaps only, atoms fixed on their sites;
--steps then counts sweeps (N trials each). Snapshots (quenched structures, group label
``<label>_md<step>``) are samples for ``vmeb neb``; trajectory.csv holds the inherent energy and
the order parameters delta and alpha per record.

Output DIR: snapshots/*.extxyz, final.extxyz, trajectory.csv, swaps.csv, order.json,
figures/energy_delta.png.

Examples:
    vmeb order TaNbMo.extxyz --steps 20000 --snapshots 0,5000,20000 -o csro
    vmeb order TaNbMo.extxyz --method lattice --steps 200 --snapshots 50,200 -o csro_lattice
"""

from __future__ import annotations

import argparse

from vmeb.cli import common
from vmeb.errors import VmebError


def _steps_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"comma-separated integers expected, not {text!r}"
        ) from exc
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"steps must be >= 0, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``vmeb order`` arguments."""
    parser.add_argument(
        "sample", type=common.existing_file, help="starting sample (extxyz, LAMMPS data, POSCAR)"
    )
    common.add_output(parser)
    parser.add_argument(
        "--potential", default="default", help=common.POTENTIAL_HELP + " (LAMMPS potentials only)"
    )
    parser.add_argument(
        "--method", choices=("hybrid", "lattice"), default="hybrid",
        help="hybrid MC/MD (paper, default) or rigid-lattice swap MC",
    )  # fmt: skip
    parser.add_argument(
        "--steps", type=common.nonnegative_int, default=10000,
        help="MD steps (hybrid) or MC sweeps (lattice)",
    )  # fmt: skip
    parser.add_argument(
        "--snapshots", type=_steps_list, default=(), help="steps kept as samples, e.g. 0,5000"
    )
    parser.add_argument(
        "--temperature", type=common.positive_float, default=300.0, help="temperature (K)"
    )
    parser.add_argument(
        "--timestep", type=common.positive_float, default=0.002, help="MD timestep (ps)"
    )
    parser.add_argument(
        "--record-every", type=common.positive_int, default=None,
        help="steps between trajectory records (default 500 MD steps / 10 sweeps)",
    )  # fmt: skip
    parser.add_argument(
        "--shells", type=common.positive_int, default=2, help="shells of the order parameters"
    )
    parser.add_argument(
        "--seed", type=common.nonnegative_int, default=0,
        help="seed of velocities and swap trials",
    )  # fmt: skip
    parser.add_argument("--label", default=None, help="snapshot label prefix (default: species)")
    common.add_species(parser)


def run(args: argparse.Namespace) -> int:
    """Run the CSRO simulation and write its outputs."""
    from vmeb.csro.montecarlo import (  # noqa: PLC0415
        HybridMCMDConfig,
        LatticeMCConfig,
        hybrid_mcmd,
        lattice_swap_mc,
        write_order_result,
    )
    from vmeb.lammps.loading import require_lammps  # noqa: PLC0415
    from vmeb.lammps.potentials import load_potential  # noqa: PLC0415
    from vmeb.structure.io import read_structure  # noqa: PLC0415

    require_lammps("vmeb order")
    if args.output.exists():
        raise VmebError(f"{args.output}: already exists (choose another output or remove it)")
    late = [s for s in args.snapshots if s > args.steps]
    if late:
        raise VmebError(f"--snapshots {list(late)} lie beyond --steps {args.steps}")
    species = list(args.species) if args.species else None
    atoms = read_structure(args.sample, species=species)
    potential = load_potential(args.potential)
    if args.method == "hybrid":
        config = HybridMCMDConfig(
            steps=args.steps,
            temperature=args.temperature,
            timestep=args.timestep,
            snapshot_steps=args.snapshots,
            record_interval=args.record_every or 500,
            n_shells=args.shells,
            label=args.label,
        )
        result = hybrid_mcmd(atoms, potential, config, seed=args.seed)
    else:
        config = LatticeMCConfig(
            sweeps=args.steps,
            temperature=args.temperature,
            snapshot_sweeps=args.snapshots,
            record_interval=args.record_every or 10,
            n_shells=args.shells,
            label=args.label,
        )
        result = lattice_swap_mc(atoms, potential, seed=args.seed, config=config)
    write_order_result(result, args.output, figures=True)
    last = result.trajectory.iloc[-1]
    print(
        f"{args.output}: {len(result.snapshots)} snapshots, inherent energy "
        f"{result.trajectory['inherent_energy_per_atom'].iloc[0]:.5f} -> "
        f"{last['inherent_energy_per_atom']:.5f} eV/atom, swaps accepted "
        + ", ".join(
            f"{p} {a}/{n}" for p, a, n in result.swaps[["pair", "accepted", "attempted"]].values
        )
    )
    return 0
