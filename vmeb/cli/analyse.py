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
    vmeb analyse csro/snapshots/*.extxyz --model model/model.pt --sites 200 -o csro_spectra
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vmeb.errors import VmebError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``vmeb analyse`` arguments."""
    parser.add_argument("structures", nargs="+", type=Path, help="structure files")
    parser.add_argument("-o", "--out", required=True, type=Path, help="output directory (new)")
    parser.add_argument("--shells", type=int, default=2, help="BCC neighbour shells (default 2)")
    parser.add_argument(
        "--lattice-constant", type=float, default=None,
        help="BCC lattice constant in Å (default: from the volume per atom)",
    )  # fmt: skip
    parser.add_argument("--rmax", type=float, default=8.0, help="g(r) range (Å)")
    parser.add_argument("--bin", type=float, default=0.02, help="g(r) bin width (Å)")
    parser.add_argument(
        "--random-samples", type=int, default=100,
        help="random permutations for the sampling spread of delta and alpha",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of permutations and site draws")
    parser.add_argument("--model", type=Path, default=None, help="trained model (model.pt)")
    parser.add_argument(
        "--sites", type=int, default=None, help="with --model: N random vacancy sites per structure"
    )
    parser.add_argument(
        "--species", default=None,
        help="species order of the tables, comma separated (and LAMMPS atom type order)",
    )  # fmt: skip


def _name(path: Path) -> str:
    return path.name.split(".")[0]


def _state_column(structures) -> str:
    for column in ("md_step", "mc_sweep"):
        if all(column in atoms.info for atoms in structures.values()):
            return column
    return "structure"


def run(args: argparse.Namespace) -> int:
    """Analyse the structures and write tables and figures."""
    import numpy as np  # noqa: PLC0415

    from vmeb.files import staged_output  # noqa: PLC0415
    from vmeb.species import SpeciesTable  # noqa: PLC0415
    from vmeb.structure.io import read_structure  # noqa: PLC0415

    if args.out.exists():
        raise VmebError(f"{args.out}: already exists (choose another output or remove it)")
    if args.shells < 1 or args.random_samples < 2:
        raise VmebError("--shells must be >= 1 and --random-samples >= 2")
    if args.sites is not None and args.sites < 1:
        raise VmebError(f"--sites must be positive, got {args.sites}")
    species = args.species.split(",") if args.species else None
    structures = {}
    for path in args.structures:
        if _name(path) in structures:
            raise VmebError(f"{path}: structure name {_name(path)!r} used by two files")
        structures[_name(path)] = read_structure(path, species=species)
    present = [s for atoms in structures.values() for s in atoms.get_chemical_symbols()]
    order = list(SpeciesTable.for_symbols(present, species or None))
    if args.model is not None:
        from vmeb.learn.training import load_checkpoint  # noqa: PLC0415

        trained = load_checkpoint(args.model)
        order = list(trained.species)
    with staged_output(args.out) as tmp:
        state = _state_column(structures)
        table = _order_tables(structures, order, state, args, tmp)
        if args.model is not None:
            _barrier_tables(structures, trained, state, args, np.random.default_rng(args.seed), tmp)
    for name, rows in table.groupby("structure", sort=False):
        worst = rows.loc[rows["significance"].idxmax()]
        print(
            f"{name}: most significant order alpha_{worst['shell']}({worst['pair']}) = "
            f"{worst['alpha']:+.3f}, {worst['significance']:.1f} sigma of random"
        )
    print(f"wrote {args.out}")
    return 0


def _order_tables(structures, species, state, args, out: Path):
    """sro.csv, gr.csv and their figures; returns the sro table."""
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    from vmeb.csro.order_parameters import (  # noqa: PLC0415
        pair_counts,
        pair_labels,
        radial_distribution,
        random_reference,
        shells_within,
    )
    from vmeb.plots.csro import (  # noqa: PLC0415
        plot_energy_and_delta,
        plot_radial_distribution,
        plot_warren_cowley,
    )
    from vmeb.structure.lattice import bcc_lattice_constant  # noqa: PLC0415

    rows, gr, trajectory = [], {}, []
    for name, atoms in structures.items():
        a = args.lattice_constant or bcc_lattice_constant(atoms)
        counts = pair_counts(atoms, args.shells, a, species)
        reference = random_reference(atoms, args.shells, args.random_samples, args.seed, a, species)
        delta, alpha, n0 = counts.delta(), counts.warren_cowley(), counts.random_counts()
        step = atoms.info.get(state, name)
        record = {state: step}
        if "potential_energy" in atoms.info:
            record["inherent_energy_per_atom"] = float(atoms.info["potential_energy"]) / len(atoms)
        for k in range(args.shells):
            for ia, sa in enumerate(species):
                for ib, sb in enumerate(species):
                    std = reference.alpha_std[k, ia, ib]
                    rows.append(
                        {
                            "structure": name,
                            "group": atoms.info.get("group", name),
                            state: step,
                            "shell": k + 1,
                            "distance": counts.shell_distances[k],
                            "centre": sa,
                            "neighbour": sb,
                            "pair": f"{sa}-{sb}",
                            "count": int(counts.counts[k, ia, ib]),
                            "random_count": n0[k, ia, ib],
                            "delta": delta[k, ia, ib],
                            "alpha": alpha[k, ia, ib],
                            "delta_random_std": reference.delta_std[k, ia, ib],
                            "alpha_random_std": std,
                            "significance": abs(alpha[k, ia, ib]) / std if std > 0 else np.nan,
                        }
                    )
            for ia, ib, label in pair_labels(species):
                record[f"delta_{k + 1}_{label}"] = delta[k, ia, ib]
        trajectory.append(record)
        r, g = radial_distribution(atoms, args.rmax, args.bin)
        gr.setdefault("r", r)
        if len(r) != len(gr["r"]):
            raise VmebError(f"{name}: g(r) bins differ between structures")
        gr[f"g_{name}"] = g
        fig = plot_radial_distribution(
            r, g, shells_within(a, args.rmax), title=name, path=out / "figures" / f"gr_{name}.png"
        )
        plt.close(fig)
    table = pd.DataFrame(rows)
    table.to_csv(out / "sro.csv", index=False)
    pd.DataFrame(gr).to_csv(out / "gr.csv", index=False)
    rank = {s: i for i, s in enumerate(species)}
    unique = table[table["centre"].map(rank) <= table["neighbour"].map(rank)]
    plt.close(plot_warren_cowley(unique, 1, out / "figures" / "warren_cowley.png"))
    if state != "structure" and len(structures) > 1:
        frame = pd.DataFrame(trajectory).sort_values(state)
        plt.close(plot_energy_and_delta(frame, state, 1, out / "figures" / "order_vs_step.png"))
    return table


def _barrier_tables(structures, trained, state, args, rng, out: Path) -> None:
    """barriers.csv, barrier_statistics.csv and the Supp. Figs. 5-6 figures."""
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    from vmeb.plots.csro import (  # noqa: PLC0415
        plot_barrier_distributions,
        plot_barrier_statistics,
    )
    from vmeb.spectra.predict import predict_barriers  # noqa: PLC0415

    frames = []
    for name, atoms in structures.items():
        sites = None
        if args.sites is not None and args.sites < len(atoms):
            sites = sorted(rng.choice(len(atoms), size=args.sites, replace=False).tolist())
        hops = predict_barriers(trained, atoms, sites, progress=False)
        hops.insert(0, state, atoms.info.get(state, name))
        hops.insert(0, "structure", name)
        frames.append(hops)
    barriers = pd.concat(frames, ignore_index=True)
    barriers.to_csv(out / "barriers.csv", index=False)
    stats = (
        barriers.groupby(["structure", state, "moving_species"], sort=False)["barrier"]
        .agg(["mean", "std", "count"])
        .reset_index()
    )
    stats.to_csv(out / "barrier_statistics.csv", index=False)
    species = [s for s in trained.species if s in set(barriers["moving_species"])]
    figures = out / "figures"
    plt.close(plot_barrier_statistics(barriers, state, species, figures / "barrier_statistics.png"))
    plt.close(
        plot_barrier_distributions(
            barriers, state, species, path=figures / "barrier_distributions.png"
        )
    )
