"""Paper Fig. 2: how many neighbour shells matter (validation MAE against r_c) and g(r).

The paper counts shells as the peaks of g(r) of the alloy: BCC shells closer than a tenth of a
lattice constant merge into one peak (1.658a with 1.732a, 2.179a with 2.236a), so "six shells"
are the 112 sites within r_c = 7.6 Å at a = 3.24 Å, the cutoff of its CNN. `peak_shells` gives
those peaks and the cutoff between consecutive ones; `shells_study` trains every recipe on one
dataset (one composition in the paper: equiatomic TaNbMo, random and CSRO samples, 4:1 random
split) once per number of shells, with the environment radius and the site template cut there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from ase import Atoms  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vmeb.csro.order_parameters import Shells, bcc_shells, radial_distribution  # noqa: E402
from vmeb.data.dataset import BarrierDataset  # noqa: E402
from vmeb.errors import VmebError  # noqa: E402
from vmeb.learn.hops import load_hops  # noqa: E402
from vmeb.learn.settings import TrainConfig  # noqa: E402
from vmeb.learn.training import train_model  # noqa: E402
from vmeb.plots.csro import plot_radial_distribution  # noqa: E402
from vmeb.structure.lattice import bcc_lattice_constant_from_volume  # noqa: E402

#: Geometric BCC shells closer than this (units of a) form one g(r) peak.
MERGE = 0.1
#: A validation share so large that `TrainConfig.val_per_group` caps it at a fifth (4:1 split).
FIFTH = 10**9


def peak_shells(a: float, n_peaks: int, merge: float = MERGE) -> Shells:
    """The first ``n_peaks`` g(r) peaks of a BCC lattice, as shells with windows.

    Args:
        a: Lattice constant (Å).
        n_peaks: Number of peaks (1..10).
        merge: Geometric shells closer than ``merge * a`` form one peak.

    Returns:
        Shells: ``distances`` the mean radius of each peak's geometric shells (Å),
        ``coordination`` its sites, ``edges`` the cutoffs midway between consecutive peaks (Å):
        ``edges[n]`` is the r_c that includes exactly n peaks.
    """
    if not 1 <= n_peaks <= 10:
        raise VmebError(f"number of shells must be 1..10, got {n_peaks}")
    geometric = bcc_shells(a, 16)
    groups: list[list[int]] = [[0]]
    for k in range(1, geometric.n_shells):
        gap = geometric.distances[k] - geometric.distances[groups[-1][-1]]
        if gap < merge * a:
            groups[-1].append(k)
        else:
            groups.append([k])
    groups = groups[: n_peaks + 1]
    inner = np.array([geometric.distances[g[0]] for g in groups])
    outer = np.array([geometric.distances[g[-1]] for g in groups])
    edges = np.concatenate([[0.0], 0.5 * (outer[:-1] + inner[1:])])
    return Shells(
        a=float(a),
        distances=np.array([geometric.distances[g].mean() for g in groups[:n_peaks]]),
        coordination=np.array([geometric.coordination[g].sum() for g in groups[:n_peaks]]),
        edges=edges,
    )


def shells_study(
    datasets: Sequence[BarrierDataset],
    recipes: Mapping[str, TrainConfig],
    a: float,
    shells: Sequence[int],
    seeds: Sequence[int],
    out_dir: str | os.PathLike,
    progress: bool = False,
) -> pd.DataFrame:
    """Validation MAE of every recipe against the number of neighbour shells (paper Fig. 2a).

    For n shells the hop environments are cut at r_c = `peak_shells` edge n (Å) and the site
    template at r_c / a; the SDM of an SDM CNN gets the smallest l_c >= r_c + 0.4 Å whose grid
    is a multiple of 8 voxels. Validation: a random fifth
    of every group (seeded, the same hops for every shell count).

    Args:
        datasets: The study's datasets (one composition).
        recipes: Name -> training config.
        a: Lattice constant of the samples (Å).
        shells: Numbers of shells to try.
        seeds: Seeds per recipe and shell count.
        out_dir: Runs ``OUT/<name>/shells<n>/seed<s>/`` (finished runs are read back).
        progress: Show training progress bars.

    Returns:
        Rows ``shells``, ``r_c`` (Å), ``sites`` (template sites), ``model``, ``seed``,
        ``val_mae``, ``train_mae`` (eV, best epoch), ``epochs``.
    """
    peaks = peak_shells(a, max(shells))
    rows = []
    for n in shells:
        r_c = float(peaks.edges[n])
        data = load_hops(datasets, r_c, progress=progress)
        for name, recipe in recipes.items():
            for seed in seeds:
                step = 4 * recipe.delta  # SDM grid a multiple of 8 voxels
                config = replace(
                    recipe, r_c=r_c, l_c=float(step * np.ceil((r_c + 0.4) / step)),
                    template_cutoff=r_c / a,
                    val_per_group=FIFTH, val_groups=(), test_groups=(), seed=int(seed),
                )  # fmt: skip
                out = Path(out_dir) / name / f"shells{n}" / f"seed{seed}"
                rows.append(_shell_row(datasets, data, config, out, progress) | {
                    "shells": n, "r_c": r_c, "sites": int(peaks.coordination[:n].sum()),
                    "model": name, "seed": int(seed),
                })  # fmt: skip
    return pd.DataFrame(rows)


def _shell_row(datasets, data, config: TrainConfig, out: Path, progress: bool) -> dict:
    """One run's validation and training MAE (resumed from its summary when finished)."""
    done = out / "shell_result.csv"
    if done.is_file():
        return pd.read_csv(done).iloc[0].to_dict()
    result = train_model(datasets, config, out, data=data, progress=progress)
    best = [h for h in result.history if h.get("epoch") == result.best_epoch]
    train_mae = best[0].get("train_mae") if best else result.history[-1].get("train_mae")
    row = {"val_mae": result.val_mae, "train_mae": train_mae, "epochs": len(result.history)}
    pd.DataFrame([row]).to_csv(done, index=False)
    return row


def shells_figure(table: pd.DataFrame, paper_cnn: float | None = None) -> Figure:
    """Validation MAE against the number of shells, one curve per model (mean and seed spread)."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for k, (name, part) in enumerate(table.groupby("model", sort=False)):
        stats = part.groupby("shells")["val_mae"].agg(["mean", "std"]).fillna(0.0)
        ax.errorbar(
            stats.index, stats["mean"], yerr=stats["std"], marker="os^D"[k % 4], capsize=2,
            label=name, color=f"C{k}",
        )  # fmt: skip
    if paper_cnn is not None:
        ax.axhline(paper_cnn, color="k", ls=":", lw=1, label=f"paper CNN, 6 shells ({paper_cnn})")
    ax.set_xlabel("neighbour shells (g(r) peaks) in the environment")
    ax.set_ylabel("validation MAE (eV)")
    ax.set_xticks(sorted(table["shells"].unique()))
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def radial_figure(atoms: Atoms, n_peaks: int = 8, title: str | None = None) -> Figure:
    """g(r) of a sample with its first ``n_peaks`` peaks filled (paper Fig. 2b)."""
    a = bcc_lattice_constant_from_volume(atoms.get_volume(), len(atoms))
    peaks = peak_shells(a, n_peaks)
    r, g = radial_distribution(atoms, r_max=float(peaks.edges[-1]) + 0.6, bin_width=0.03)
    return plot_radial_distribution(r, g, peaks.edges, title=title)
