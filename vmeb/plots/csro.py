"""Figures of chemical short-range order and of barrier spectra versus CSRO state.

One function per figure (Agg backend selected on import, as in `vmeb.plots.figures`); each returns
the
matplotlib ``Figure`` and, given ``path``, also saves it (PNG at 150 dpi, written through a
temporary file). Callers close the figures they get.

- `plot_energy_and_delta`: inherent potential energy (left axis) and delta_ab^k (right axis)
  versus MC/MD step (paper Supp. Fig. 4).
- `plot_radial_distribution`: g(r) with the peaks of the neighbour shells filled in colours
  (paper Fig. 2b).
- `plot_warren_cowley`: alpha_ab^k per species pair for several structures, with the random
  sampling band.
- `plot_barrier_statistics`: mean and standard deviation of barriers per moving species versus
  CSRO state (Supp. Fig. 5).
- `plot_barrier_distributions`: barrier distributions per moving species, one curve per CSRO
  state (Supp. Fig. 6).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vmeb.files import save_figure  # noqa: E402
from vmeb.species import default_order  # noqa: E402

logger = logging.getLogger(__name__)


def _finish(fig: plt.Figure, path: str | os.PathLike | None) -> plt.Figure:
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_energy_and_delta(
    trajectory: pd.DataFrame,
    step_column: str = "md_step",
    shell: int = 1,
    path: str | os.PathLike | None = None,
) -> plt.Figure:
    """Inherent energy per atom and delta_ab^k versus step (paper Supp. Fig. 4).

    Args:
        trajectory: `vmeb.csro.montecarlo.OrderResult.trajectory` (or its CSV); the energy curve is
            drawn where an ``inherent_energy_per_atom`` column exists.
        step_column: ``md_step`` or ``mc_sweep``.
        shell: Shell k (1-based) whose ``delta_<k>_<A>-<B>`` columns are drawn.
        path: Optional output file.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    steps = trajectory[step_column]
    if "inherent_energy_per_atom" in trajectory:
        ax.plot(steps, trajectory["inherent_energy_per_atom"], "k-o", ms=3, label="inherent PE")
    ax.set_xlabel("MC/MD step" if step_column == "md_step" else "MC sweep")
    ax.set_ylabel("inherent potential energy (eV/atom)")
    right = ax.twinx()
    columns = [c for c in trajectory.columns if c.startswith(f"delta_{shell}_")]
    for column in columns:
        right.plot(steps, trajectory[column], "-", lw=1.2, label=column.split("_", 2)[2])
    right.axhline(0.0, color="0.6", lw=0.8, ls=":")
    right.set_ylabel(f"$\\delta_{{\\alpha\\beta}}^{{{shell}}}$ (pairs)")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    right.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="best")
    return _finish(fig, path)


def plot_radial_distribution(
    r: np.ndarray,
    g: np.ndarray,
    shell_edges: np.ndarray | None = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> plt.Figure:
    """g(r) with each neighbour shell's peak filled in its own colour (paper Fig. 2b).

    Args:
        r: [B] bin centres (Å).
        g: [B] g(r).
        shell_edges: [K + 1] window edges (Å) of the K shells coloured, shell ``k`` holding
            ``edges[k] <= r < edges[k + 1]`` (e.g. `vmeb.csro.order_parameters.Shells.edges`);
            none coloured if None.
        title: Optional title.
        path: Optional output file.
    """
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ax.plot(r, g, "k-", lw=1.0)
    if shell_edges is not None:
        colours = plt.get_cmap("tab10")
        for k in range(len(shell_edges) - 1):
            window = (r >= shell_edges[k]) & (r < shell_edges[k + 1])
            ax.fill_between(
                r[window], 0, g[window], color=colours(k % 10), alpha=0.6, label=f"shell {k + 1}"
            )
        ax.legend(fontsize=7, ncol=2)
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    ax.set_xlim(0, float(r[-1]))
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def plot_warren_cowley(
    table: pd.DataFrame, shell: int = 1, path: str | os.PathLike | None = None
) -> plt.Figure:
    """Warren-Cowley alpha per species pair and structure, with the random-sample band.

    Args:
        table: Rows of `vmeb.cli.analyse` ``sro.csv``: columns ``structure``, ``shell``,
            ``pair``, ``alpha`` and optionally ``alpha_random_std``.
        shell: Shell (1-based) to draw.
        path: Optional output file.
    """
    rows = table[(table["shell"] == shell)]
    pairs = list(dict.fromkeys(rows["pair"]))
    structures = list(dict.fromkeys(rows["structure"]))
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(pairs) + 2), 3.6))
    width = 0.8 / max(1, len(structures))
    x = np.arange(len(pairs))
    for s, name in enumerate(structures):
        sub = rows[rows["structure"] == name].set_index("pair").reindex(pairs)
        ax.bar(x + (s - (len(structures) - 1) / 2) * width, sub["alpha"], width, label=name)
        if "alpha_random_std" in sub:
            ax.errorbar(
                x + (s - (len(structures) - 1) / 2) * width, np.zeros(len(pairs)),
                yerr=3 * sub["alpha_random_std"], fmt="none", ecolor="0.4", capsize=2, lw=0.8,
            )  # fmt: skip
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(x, pairs)
    ax.set_ylabel(f"Warren-Cowley $\\alpha^{{{shell}}}$ (bars: 3σ random)")
    ax.legend(fontsize=7)
    return _finish(fig, path)


def _state_axis(frame: pd.DataFrame, state_column: str) -> tuple[list, bool]:
    states = list(dict.fromkeys(frame[state_column]))
    numeric = pd.api.types.is_numeric_dtype(frame[state_column])
    return (sorted(states) if numeric else states), numeric


def plot_barrier_statistics(
    barriers: pd.DataFrame,
    state_column: str = "md_step",
    species: Sequence[str] | None = None,
    path: str | os.PathLike | None = None,
) -> plt.Figure:
    """Mean (a) and standard deviation (b) of barriers per moving species vs CSRO state.

    Args:
        barriers: One row per hop: ``moving_species``, ``barrier`` (eV) and ``state_column``
            (an MD step, a sweep or a state label).
        state_column: Column holding the CSRO state.
        species: Species order of the curves (default: `vmeb.species.default_order`).
        path: Optional output file (paper Supp. Fig. 5).
    """
    species = list(species or default_order(barriers["moving_species"]))
    states, numeric = _state_axis(barriers, state_column)
    stats = barriers.groupby([state_column, "moving_species"])["barrier"].agg(["mean", "std"])
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6))
    for s in species:
        sub = stats.xs(s, level="moving_species").reindex(states)
        x = states if numeric else np.arange(len(states))
        axes[0].plot(x, sub["mean"], "-o", ms=4, label=s)
        axes[1].plot(x, sub["std"], "-o", ms=4, label=s)
    for ax, name in zip(axes, ("mean", "standard deviation"), strict=True):
        ax.set_xlabel(state_column.replace("_", " "))
        ax.set_ylabel(f"{name} of barrier (eV)")
        if not numeric:
            ax.set_xticks(np.arange(len(states)), states, rotation=30, ha="right")
        ax.legend(title="moving", fontsize=7)
    return _finish(fig, path)


def plot_barrier_distributions(
    barriers: pd.DataFrame,
    state_column: str = "md_step",
    species: Sequence[str] | None = None,
    bins: int = 40,
    path: str | os.PathLike | None = None,
) -> plt.Figure:
    """Barrier distributions per moving species, one curve per CSRO state (Supp. Fig. 6).

    Args:
        barriers: One row per hop: ``moving_species``, ``barrier`` (eV), ``state_column``.
        state_column: Column holding the CSRO state.
        species: Species order of the panels (default: `vmeb.species.default_order`).
        bins: Histogram bins over the common barrier range.
        path: Optional output file.
    """
    species = list(species or default_order(barriers["moving_species"]))
    states, _ = _state_axis(barriers, state_column)
    edges = np.linspace(barriers["barrier"].min(), barriers["barrier"].max(), bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    colours = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, len(species), figsize=(3.6 * len(species), 3.4), squeeze=False)
    for ax, s in zip(axes[0], species, strict=True):
        for n, state in enumerate(states):
            values = barriers.loc[
                (barriers["moving_species"] == s) & (barriers[state_column] == state), "barrier"
            ]
            if len(values) == 0:
                continue
            density, _ = np.histogram(values, bins=edges, density=True)
            ax.plot(centres, density, color=colours(n / max(1, len(states) - 1)), label=str(state))
        ax.set_title(f"moving {s}")
        ax.set_xlabel("barrier (eV)")
        ax.set_ylabel("density (1/eV)")
    axes[0][-1].legend(title=state_column.replace("_", " "), fontsize=7)
    return _finish(fig, path)
