"""CSRO report of a set of structures: order-parameter and g(r) tables with their figures.

`write_order_report` writes ``sro.csv`` (per structure, shell and ordered pair: counts N_ab^k,
random reference N0_ab^k, delta_ab^k, Warren-Cowley alpha_ab^k and their spread over random
permutations of the same sample, and |alpha| / sigma as ``significance``), ``gr.csv`` (g(r) of
every structure on common bins) and the figures ``figures/gr_<name>.png``,
``figures/warren_cowley.png`` and, for a trajectory of several CSRO states,
``figures/order_vs_step.png``. This is ``vmeb analyse`` without a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from ase import Atoms

from vmeb.errors import VmebError

#: ``atoms.info`` keys that order the CSRO states of a trajectory, preferred first.
STATE_COLUMNS = ("md_step", "mc_sweep")


#: Largest relative difference between a given lattice constant and a structure's own.
LATTICE_TOLERANCE = 0.05


@dataclass(frozen=True)
class OrderReportConfig:
    """Settings of the order-parameter report.

    Attributes:
        shells: BCC neighbour shells.
        lattice_constant: BCC lattice constant (Å); None: from each structure's volume per atom.
        rmax: g(r) range (Å).
        bin_width: g(r) bin width (Å).
        random_samples: Random permutations for the sampling spread of delta and alpha (>= 2).
        seed: Seed of the permutations.
    """

    shells: int = 2
    lattice_constant: float | None = None
    rmax: float = 8.0
    bin_width: float = 0.02
    random_samples: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        if self.shells < 1 or self.random_samples < 2:
            raise VmebError("shells must be >= 1 and random_samples >= 2")
        if not (self.rmax > 0 and self.bin_width > 0):
            raise VmebError("the g(r) range and bin width must be > 0 Å")


def state_column(structures: Mapping[str, Atoms]) -> str:
    """The info key that orders the structures' CSRO states, or ``"structure"`` if none."""
    for column in STATE_COLUMNS:
        if all(column in atoms.info for atoms in structures.values()):
            return column
    return "structure"


def _pair_rows(name, atoms, step, state, counts, reference, species, shells) -> list[dict]:
    """The sro.csv rows of one structure."""
    delta, alpha, n0 = counts.delta(), counts.warren_cowley(), counts.random_counts()
    rows = []
    for k in range(shells):
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
    return rows


def _trajectory_record(atoms, step, state, counts, species, shells) -> dict:
    """One row of the order-vs-step figure: inherent energy and delta per shell and pair."""
    from vmeb.csro.order_parameters import pair_labels  # noqa: PLC0415

    record = {state: step}
    if "potential_energy" in atoms.info:
        record["inherent_energy_per_atom"] = float(atoms.info["potential_energy"]) / len(atoms)
    delta = counts.delta()
    for k in range(shells):
        for ia, ib, label in pair_labels(species):
            record[f"delta_{k + 1}_{label}"] = delta[k, ia, ib]
    return record


def write_order_report(
    structures: Mapping[str, Atoms],
    species: Sequence[str],
    out: str | Path,
    config: OrderReportConfig = OrderReportConfig(),  # noqa: B008 - frozen, immutable default
) -> pd.DataFrame:
    """Write sro.csv, gr.csv and their figures into the directory ``out``.

    Args:
        structures: Structures by name (the name labels rows, columns and figures).
        species: Species order of the tables.
        out: Existing directory to write into.
        config: Shells, lattice constant, g(r) bins, permutations.

    Returns:
        The sro.csv table.

    Raises:
        VmebError: if the structures' g(r) bins differ.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from vmeb.csro.order_parameters import (  # noqa: PLC0415
        pair_counts,
        radial_distribution,
        random_reference,
        shells_within,
    )
    from vmeb.plots.csro import (  # noqa: PLC0415
        plot_energy_and_delta,
        plot_radial_distribution,
        plot_warren_cowley,
    )
    from vmeb.structure.lattice import sample_lattice_constant  # noqa: PLC0415

    out = Path(out)
    state = state_column(structures)
    species = list(species)
    rows, gr, trajectory = [], {}, []
    for name, atoms in structures.items():
        a = sample_lattice_constant(atoms)
        if config.lattice_constant is not None:
            if abs(config.lattice_constant - a) > LATTICE_TOLERANCE * a:
                raise VmebError(
                    f"{name}: lattice constant {config.lattice_constant:g} Å given, but its volume "
                    f"per atom gives {a:.4f} Å (more than {LATTICE_TOLERANCE:.0%} apart: the "
                    f"neighbour shells would be misassigned)"
                )
            a = config.lattice_constant
        counts = pair_counts(atoms, config.shells, a, species)
        reference = random_reference(
            atoms, config.shells, config.random_samples, config.seed, a, species
        )
        step = atoms.info.get(state, name)
        rows += _pair_rows(name, atoms, step, state, counts, reference, species, config.shells)
        trajectory.append(_trajectory_record(atoms, step, state, counts, species, config.shells))
        r, g = radial_distribution(atoms, config.rmax, config.bin_width)
        gr.setdefault("r", r)
        if len(r) != len(gr["r"]):
            raise VmebError(f"{name}: g(r) bins differ between structures")
        gr[f"g_{name}"] = g
        figure = out / "figures" / f"gr_{name}.png"
        shells = shells_within(a, config.rmax)
        plt.close(plot_radial_distribution(r, g, shells.edges, title=name, path=figure))
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


def most_significant_order(table: pd.DataFrame) -> pd.DataFrame:
    """Per structure, the sro.csv row of the largest ``significance`` (in structure order)."""
    groups = table.groupby("structure", sort=False)
    rows = [part.loc[part["significance"].idxmax()] for _, part in groups]
    return pd.DataFrame(rows)
