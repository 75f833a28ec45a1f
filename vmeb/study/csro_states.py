"""Paper Fig. 4: one model, trained on random solid solutions, tested on CSRO states.

The test set is a ``vmeb neb`` dataset of ``vmeb order`` snapshots, whose groups are the CSRO
states (``<label>_md<step>``; step 0 is the random start). `state_errors` turns a
`vmeb.learn.evaluate.EvaluationReport` of that dataset into the MAE per state and its ratio to the
random state's MAE; `state_errors_figure` plots it with the true and predicted distributions.
"""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vmeb.errors import VmebError  # noqa: E402
from vmeb.learn.evaluate import EvaluationReport  # noqa: E402

_STEP = re.compile(r"_md(\d+)$")


def md_step(group: str) -> int | None:
    """The MD step of a CSRO state group ``<label>_md<step>``, or None."""
    match = _STEP.search(str(group))
    return int(match.group(1)) if match else None


def state_errors(report: EvaluationReport, random_state: str | None = None) -> pd.DataFrame:
    """MAE per CSRO state and its ratio to the random state's MAE.

    Args:
        report: Evaluation of a model on a CSRO dataset (groups = states).
        random_state: Group of the random reference; default the state of MD step 0.

    Returns:
        Rows per state, ordered by MD step: ``group``, ``md_step``, ``hops``, ``mae``, ``rmse``,
        ``mean_true``, ``mean_predicted`` (eV) and ``ratio`` (MAE / random-state MAE).

    Raises:
        VmebError: No random state found.
    """
    hops = report.hops.dropna(subset=["predicted"])
    rows = []
    for group, part in hops.groupby("group"):
        error = part["predicted"] - part["barrier"]
        rows.append({
            "group": str(group), "md_step": md_step(group), "hops": len(part),
            "mae": float(error.abs().mean()), "rmse": float(np.sqrt((error**2).mean())),
            "mean_true": float(part["barrier"].mean()),
            "mean_predicted": float(part["predicted"].mean()),
        })  # fmt: skip
    table = pd.DataFrame(rows).sort_values("md_step", na_position="last", kind="stable")
    if random_state is None:
        zero = table[table["md_step"] == 0]
        if zero.empty:
            raise VmebError("no CSRO state of MD step 0 (random start); name the random state")
        random_state = str(zero["group"].iloc[0])
    if random_state not in set(table["group"]):
        raise VmebError(f"random state {random_state!r} is not a group of the evaluated hops")
    reference = float(table.loc[table["group"] == random_state, "mae"].iloc[0])
    table["ratio"] = table["mae"] / reference
    return table.reset_index(drop=True)


def state_errors_figure(
    report: EvaluationReport, table: pd.DataFrame, tolerance: float = 0.3
) -> Figure:
    """MAE per CSRO state (band: random-state MAE +- ``tolerance``) and the distributions.

    Args:
        report: The evaluation (per-hop rows).
        table: Its `state_errors`.
        tolerance: Relative band drawn around the random-state MAE.
    """
    states = list(table["group"])
    fig, axes = plt.subplots(
        1, 1 + len(states), figsize=(3.4 * (1 + len(states)), 3.2), squeeze=False
    )
    ax = axes[0, 0]
    reference = float((table["mae"] / table["ratio"]).iloc[0])
    x = np.arange(len(states))
    ax.bar(x, table["mae"], color="C0")
    ax.axhspan(reference * (1 - tolerance), reference * (1 + tolerance), color="0.85", zorder=0)
    ax.set_xticks(x, [f"MD {s}" if s is not None else g for s, g in zip(
        table["md_step"], states, strict=True)], rotation=30)  # fmt: skip
    ax.set_ylabel("MAE (eV)")
    ax.set_title(f"error per CSRO state (band: random +-{tolerance:.0%})", fontsize=9)
    hops = report.hops.dropna(subset=["predicted"])
    edges = np.linspace(hops["barrier"].min() - 0.05, hops["barrier"].max() + 0.05, 41)
    for k, state in enumerate(states, start=1):
        part = hops[hops["group"] == state]
        ax = axes[0, k]
        ax.hist(part["barrier"], bins=edges, density=True, color="0.7", label="NEB")
        hist, _ = np.histogram(part["predicted"], bins=edges, density=True)
        ax.plot(0.5 * (edges[1:] + edges[:-1]), hist, color="C3", label="predicted")
        mae = float(table.loc[table["group"] == state, "mae"].iloc[0])
        ax.set_title(f"{state}: MAE {mae:.4f} eV (N = {len(part)})", fontsize=9)
        ax.set_xlabel("barrier (eV)")
    axes[0, 1].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
