"""Paper Fig. 3 and Supp. Fig. 7: train on the training compositions, test each unseen one.

`composition_study` trains every recipe (e.g. the paper's LR and NN and a CNN) at several seeds on
the hops of the training compositions, predicts every hop of the test compositions, and returns
the per-composition MAE table (mean over seeds and its spread). `error_bars_figure` plots that
table; `heldout_distributions_figure` is the paper's panel per test composition (true against
predicted barrier distributions, MAE in each panel).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vmeb.data.dataset import BarrierDataset  # noqa: E402
from vmeb.learn.hops import HopData  # noqa: E402
from vmeb.learn.settings import TrainConfig  # noqa: E402
from vmeb.plots.figures import distribution_panels  # noqa: E402
from vmeb.study.grid import (  # noqa: E402
    GridSplit,
    group_composition_label,
    group_errors,
    run_columns,
    run_recipes,
)


@dataclass(frozen=True)
class CompositionStudy:
    """Result of `composition_study`.

    Attributes:
        predictions: One row per test hop: ``hop``, ``group``, ``label``, ``barrier`` (eV) and a
            column ``<recipe>/seed<s>`` of predictions (eV) per run.
        errors: Per test composition (and ``all``): hops, MAE per recipe (mean over seeds, eV)
            and ``<recipe>_std`` (spread over seeds).
        recipes: Recipe names in the order given.
    """

    predictions: pd.DataFrame
    errors: pd.DataFrame
    recipes: tuple[str, ...]

    def mean_prediction(self, name: str) -> np.ndarray:
        """[H] seed-averaged prediction (eV) of one recipe."""
        return self.predictions[run_columns(self.predictions, name)].mean(axis=1).to_numpy()


def composition_study(
    datasets: Sequence[BarrierDataset],
    data: HopData,
    split: GridSplit,
    recipes: Mapping[str, TrainConfig],
    seeds: Sequence[int],
    out_dir: str | os.PathLike,
    progress: bool = False,
) -> CompositionStudy:
    """Train on the training compositions, test on the unseen ones (paper Fig. 3).

    Only hops of ``split.train_groups`` train and validate (each recipe's ``val_per_group``
    random hops per training composition steer the schedule and early stopping); the hops of
    ``split.test_groups`` are predicted once per run.

    Args:
        datasets: The grid datasets.
        data: Their hops (`vmeb.learn.hops.load_hops`).
        split: Train and test compositions (`vmeb.study.grid.grid_split`).
        recipes: Name -> training config (its seed and test groups are set here).
        seeds: Seeds per recipe.
        out_dir: Run directories ``OUT/<name>/seed<s>/`` (resumable).
        progress: Show training progress bars.

    Returns:
        Predictions and the per-composition error table.
    """
    keep = np.isin(data.groups, split.train_groups + split.test_groups)
    if not keep.all():  # compositions outside the index: neither train nor test
        data = data.take(np.nonzero(keep)[0])
    table = run_recipes(datasets, data, recipes, split.test_groups, seeds, out_dir, progress)
    table.insert(2, "label", [group_composition_label(g, data.species) for g in table["group"]])
    errors = group_errors(table, list(recipes))
    labels = {g: group_composition_label(g, data.species) for g in split.test_groups}
    errors.insert(1, "label", [labels.get(g, g) for g in errors["group"]])
    return CompositionStudy(table, errors, tuple(recipes))


def error_bars_figure(study: CompositionStudy, paper: Mapping[str, float] | None = None) -> Figure:
    """Test MAE per unseen composition and recipe (bars: mean over seeds; whiskers: spread).

    Args:
        study: A `composition_study` result.
        paper: Optional reference lines, e.g. ``{"paper CNN (small data)": 0.0312}`` (eV).
    """
    errors = study.errors
    per = errors[errors["group"] != "all"]
    overall = errors[errors["group"] == "all"].iloc[0]
    n = len(study.recipes)
    x = np.arange(len(per))
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(per), 3.8))
    for k, name in enumerate(study.recipes):
        ax.bar(
            x + (k - (n - 1) / 2) * width, per[name], width, yerr=per[f"{name}_std"],
            capsize=2, label=f"{name} (all: {overall[name]:.4f} eV)", color=f"C{k}",
        )  # fmt: skip
    for k, (name, value) in enumerate((paper or {}).items()):
        ax.axhline(value, color="k", ls=("--", ":", "-.")[k % 3], lw=1, label=name)
    ax.set_xticks(x, per["label"], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("test MAE (eV)")
    ax.set_title("Unseen compositions: error per composition")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def heldout_distributions_figure(study: CompositionStudy, name: str) -> Figure:
    """True against predicted barrier distributions per unseen composition (paper Fig. 3)."""
    hops = study.predictions[["label", "barrier"]].copy()
    hops["predicted"] = study.mean_prediction(name)
    fig = distribution_panels(hops, group_column="label")
    fig.suptitle(f"{name}: true (grey) and predicted (red) barrier distributions", fontsize=10)
    fig.tight_layout()
    return fig


def write_study(study: CompositionStudy, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``predictions.csv`` and ``errors.csv`` to ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"predictions": out / "predictions.csv", "errors": out / "errors.csv"}
    study.predictions.to_csv(paths["predictions"], index=False, float_format="%.6f")
    study.errors.to_csv(paths["errors"], index=False, float_format="%.6f")
    return paths
