"""Paper Supp. Note 2: choosing training hops by k-means instead of at random.

The paper suggests partitioning all candidate local configurations into clusters (k-means) and
training on the configurations nearest the cluster centroids, so that a smaller NEB budget spans
more distinct environments. `kmeans_choice` does that on the point-group averaged one-hot site
descriptors of the hops (the LR's input: hops that are images of each other coincide);
`selection_study` trains one recipe on k-means and random subsets of the training hops at equal
sizes and tests every run on the unseen compositions (learning curves).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402

from vmeb.data.dataset import BarrierDataset  # noqa: E402
from vmeb.errors import VmebError  # noqa: E402
from vmeb.learn.batches import prepare_inputs  # noqa: E402
from vmeb.learn.descriptors import site_template  # noqa: E402
from vmeb.learn.hops import HopData  # noqa: E402
from vmeb.learn.settings import TrainConfig  # noqa: E402
from vmeb.learn.training import train_model  # noqa: E402
from vmeb.study.grid import GridSplit  # noqa: E402

STRATEGIES = ("random", "kmeans")


def hop_features(data: HopData, r_c: float, a: float) -> np.ndarray:
    """[H, S * C] point-group averaged one-hot site descriptors of every hop (float32)."""
    template = site_template(r_c / a)
    config = TrainConfig(kind="lr", r_c=r_c, template_cutoff=r_c / a)
    inputs = prepare_inputs(data.environments, config, len(data.species), template)
    return np.asarray(inputs.descriptors, dtype=np.float32)


def kmeans_choice(features: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of ``size`` hops: for every k-means centroid, the nearest hop not yet chosen.

    Args:
        features: [N, F] hop descriptors.
        size: Number of clusters = hops chosen (<= N).
        seed: Seed of the k-means initialisation.

    Returns:
        [size] distinct indices into ``features``, sorted.
    """
    if not 1 <= size <= len(features):
        raise VmebError(f"cannot choose {size} of {len(features)} hops")
    kmeans = KMeans(n_clusters=size, n_init=1, random_state=seed).fit(features)
    distance = kmeans.transform(features)  # [N, size] distance of every hop to every centroid
    chosen: list[int] = []
    taken = np.zeros(len(features), bool)
    for k in range(size):
        best = int(np.argmin(np.where(taken, np.inf, distance[:, k])))
        taken[best] = True
        chosen.append(best)
    return np.sort(np.array(chosen))


def random_choice(n: int, size: int, seed: int) -> np.ndarray:
    """[size] distinct random indices of 0..n-1, sorted."""
    if not 1 <= size <= n:
        raise VmebError(f"cannot choose {size} of {n} hops")
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def selection_study(
    datasets: Sequence[BarrierDataset],
    data: HopData,
    split: GridSplit,
    recipe: TrainConfig,
    a: float,
    sizes: Sequence[int],
    seeds: Sequence[int],
    out_dir: str | os.PathLike,
    progress: bool = False,
) -> pd.DataFrame:
    """Learning curves of one recipe on random and k-means chosen training hops.

    The candidates are all hops of the training compositions; each run trains on ``size`` of
    them (its validation share taken from those) and is tested on every hop of the test
    compositions.

    Returns:
        Rows ``strategy``, ``size``, ``seed``, ``test_mae`` (eV), ``val_mae`` (eV).
    """
    pool = np.nonzero(np.isin(data.groups, split.train_groups) & data.forward)[0]
    test = np.nonzero(np.isin(data.groups, split.test_groups) & data.forward)[0]
    features = hop_features(data.take(pool), recipe.r_c, a)
    rows = []
    for size in sizes:
        for seed in seeds:
            for strategy in STRATEGIES:
                out = Path(out_dir) / strategy / f"n{size}" / f"seed{seed}"
                done = out / "selection_result.csv"
                if done.is_file():
                    rows.append(pd.read_csv(done).iloc[0].to_dict())
                    continue
                if strategy == "kmeans":
                    chosen = pool[kmeans_choice(features, size, seed)]
                else:
                    chosen = pool[random_choice(len(pool), size, seed)]
                subset = data.take(np.concatenate([chosen, test]))
                config = replace(recipe, seed=int(seed), test_groups=split.test_groups)
                result = train_model(datasets, config, out, data=subset, progress=progress)
                row = {
                    "strategy": strategy, "size": int(size), "seed": int(seed),
                    "test_mae": float(result.test["mae"]), "val_mae": result.val_mae,
                }  # fmt: skip
                pd.DataFrame([row]).to_csv(done, index=False)
                rows.append(row)
    return pd.DataFrame(rows)


def selection_figure(table: pd.DataFrame, name: str) -> Figure:
    """Test MAE on unseen compositions against training hops, random against k-means."""
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    for k, (strategy, part) in enumerate(table.groupby("strategy", sort=False)):
        stats = part.groupby("size")["test_mae"].agg(["mean", "std"]).fillna(0.0)
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="os"[k % 2],
                    capsize=2, label=f"{strategy} choice", color=f"C{k}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("training hops (NEB barriers)")
    ax.set_ylabel("test MAE, unseen compositions (eV)")
    ax.set_title(f"{name}: which training hops to compute", fontsize=10)
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig
