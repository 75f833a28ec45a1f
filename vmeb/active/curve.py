"""The learning curve of a campaign: one row per finished round, a CSV and a figure.

Rows are made from the rounds' state files (`vmeb.active.loop`), so the table is rewritten
whole (atomically) after every round and a resumed campaign never duplicates a row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vmeb.files import atomic_write_text, save_figure

CURVE_FILE = "learning_curve.csv"
FIGURE_FILE = "learning_curve.png"
#: Columns of ``learning_curve.csv``: cumulative counts and costs (s), errors and spreads (eV).
CURVE_COLUMNS = (
    "round",
    "hops",
    "sites",
    "cpu_seconds",
    "wall_seconds",
    "test_mae",
    "test_mae_worst",
    "test_spread",
    "pool_spread",
    "mode",
    "seed",
)


def curve_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The rows as a table with `CURVE_COLUMNS`."""
    return pd.DataFrame([{c: row.get(c) for c in CURVE_COLUMNS} for row in rows],
                        columns=list(CURVE_COLUMNS))  # fmt: skip


def write_curve(output: Path, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Write ``learning_curve.csv`` and ``learning_curve.png`` under ``output``."""
    table = curve_table(rows)
    atomic_write_text(output / CURVE_FILE, table.to_csv(index=False))
    save_figure(curve_figure(table), output / FIGURE_FILE)
    return table


def curve_figure(table: pd.DataFrame):
    """Test MAE (worst composition dashed) and mean spreads against labelled hops, log-log."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(9, 3.6))
    left, right = fig.subplots(1, 2)
    hops = table["hops"].astype(float)
    label = f"{table['mode'].iloc[0]} (seed {table['seed'].iloc[0]})" if len(table) else ""
    left.plot(hops, table["test_mae"], "o-", label=f"{label} test MAE")
    left.plot(hops, table["test_mae_worst"], "s--", label="worst composition")
    left.set(xlabel="labelled hops", ylabel="test MAE (eV)", title="(a) test error")
    right.plot(hops, table["pool_spread"], "o-", label="pool")
    right.plot(hops, table["test_spread"], "s--", label="test set")
    right.set(xlabel="labelled hops", ylabel="mean ensemble spread (eV)", title="(b) spread")
    for ax in (left, right):
        if len(table) > 1 and (hops > 0).all():
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
