"""Paper Supp. Fig. 3: the predicted spectrum of a large sample against NEB barriers of a small one.

`compare_spectra` sets the per-species statistics (mean, std, count) of predicted barriers of a
large sample (``vmeb predict``'s hop table) beside those of NEB barriers (a dataset's hops), and
`spectra_figure` overlays their distributions per moving species.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vmeb.errors import VmebError  # noqa: E402


def compare_spectra(
    predicted: pd.DataFrame, neb: pd.DataFrame, species: Sequence[str]
) -> pd.DataFrame:
    """Per-species barrier statistics of a predicted spectrum and of NEB barriers.

    Args:
        predicted: Hop table with ``moving_species`` and ``barrier`` (eV), e.g. of
            `vmeb.spectra.predict.predict_barriers`.
        neb: NEB hops with ``moving_species`` and ``barrier`` (eV).
        species: Species to report, in order.

    Returns:
        Rows per species and ``all``: ``n_predicted``, ``mean_predicted``, ``std_predicted``,
        ``n_neb``, ``mean_neb``, ``std_neb`` and ``mean_difference`` (predicted - NEB, eV).
    """
    for name, table in (("predicted", predicted), ("NEB", neb)):
        missing = {"moving_species", "barrier"} - set(table.columns)
        if missing:
            raise VmebError(f"{name} hop table lacks columns {sorted(missing)}")
    rows = []
    for symbol in [*species, "all"]:
        p = predicted if symbol == "all" else predicted[predicted["moving_species"] == symbol]
        n = neb if symbol == "all" else neb[neb["moving_species"] == symbol]
        rows.append({
            "species": symbol,
            "n_predicted": len(p), "mean_predicted": p["barrier"].mean(),
            "std_predicted": p["barrier"].std(),
            "n_neb": len(n), "mean_neb": n["barrier"].mean(), "std_neb": n["barrier"].std(),
            "mean_difference": p["barrier"].mean() - n["barrier"].mean(),
        })  # fmt: skip
    return pd.DataFrame(rows)


def spectra_figure(
    predicted: pd.DataFrame,
    neb: pd.DataFrame,
    species: Sequence[str],
    predicted_label: str = "predicted",
    neb_label: str = "NEB",
) -> Figure:
    """Barrier distributions per moving species: the predicted spectrum (line) over NEB (bars)."""
    fig, axes = plt.subplots(1, len(species), figsize=(3.6 * len(species), 3.2), squeeze=False)
    for ax, symbol in zip(axes[0], species, strict=True):
        p = predicted.loc[predicted["moving_species"] == symbol, "barrier"].to_numpy()
        n = neb.loc[neb["moving_species"] == symbol, "barrier"].to_numpy()
        both = np.concatenate([p, n])
        if not len(both):
            ax.set_visible(False)
            continue
        edges = np.linspace(both.min() - 0.02, both.max() + 0.02, 41)
        ax.hist(n, bins=edges, density=True, color="0.7", label=f"{neb_label} (N = {len(n):,})")
        hist, _ = np.histogram(p, bins=edges, density=True)
        ax.plot(0.5 * (edges[1:] + edges[:-1]), hist, color="C3",
                label=f"{predicted_label} (N = {len(p):,})")  # fmt: skip
        ax.set_title(f"moving {symbol}", fontsize=10)
        ax.set_xlabel("barrier (eV)")
        ax.legend(fontsize=7, frameon=False)
    axes[0, 0].set_ylabel("density (1/eV)")
    fig.tight_layout()
    return fig
